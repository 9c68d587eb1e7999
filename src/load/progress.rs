//! A live progress line on stderr while a run goes: elapsed, sent, rate, errors; then, once
//! the schedule is done, a countdown of the wait for feedback due later.
//!
//! It reads the run's atomic counters four times a second, so the request path never touches
//! the terminal. It draws only when stderr is a terminal, so logs and pipes stay clean.
//! See [`Progress`].

use super::Live;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

const TICK: Duration = Duration::from_millis(250);

/// The progress bar of one run; finish it to clear the line.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
    ticker: JoinHandle<()>,
}

impl Progress {
    /// Starts drawing when stderr is a terminal; `expected` is the number of requests the
    /// schedule will send at most, and `longest` bounds how long the ticker runs.
    pub(crate) fn start(live: Arc<Live>, expected: u64, longest: Duration) -> Option<Self> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(Some(expected), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:20}] {human_pos}/{human_len} sent  {msg}",
        )
        .map(|s| s.progress_chars("=> "))
        // The template is a constant; fall back to the default style rather than fail a run.
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        let shown = bar.clone();
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            let ticks = longest.as_millis() / TICK.as_millis() + 1;
            for _ in 0..ticks {
                tick.tick().await;
                let sent = live.sent();
                let secs = shown.elapsed().as_secs_f64();
                let rate = if secs > 0.0 { sent as f64 / secs } else { 0.0 };
                shown.set_position(sent);
                let message = match live.feedback_wait_until() {
                    // The schedule is done; only feedback due later keeps the run going.
                    Some(until) => {
                        let pending = live.feedback_pending();
                        format!(
                            "done; waiting {} s more for {pending} feedback {} due later (Ctrl-C ends the wait)",
                            until
                                .saturating_duration_since(tokio::time::Instant::now())
                                .as_secs_f64()
                                .ceil(),
                            if pending == 1 { "send" } else { "sends" }
                        )
                    }
                    None => format!(
                        "{rate:.0}/s  {} in flight  {} errors",
                        live.in_flight(),
                        live.errors.load(Ordering::Relaxed)
                    ),
                };
                shown.set_message(message);
            }
        });
        Some(Self { bar, ticker })
    }

    /// Stops the ticker and clears the line, so the report prints on a clean terminal.
    pub(crate) fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}
