//! `monlab load`: open-loop traffic against a running service, and what it measured.
//!
//! One scheduler task walks the arrival [`schedule`] and sends every request whose intended
//! time has come; a semaphore caps the requests in flight. Waiting for a permit or for a
//! stalled server never moves a request's intended time, and latency is measured from that
//! time, so the report does not hide coordinated omission. Requests go over pooled keep-alive
//! connections (hyper's client). See [`run`] and [`Report`].

pub mod progress;
pub mod report;
pub mod request;
pub mod schedule;

pub use report::{Latency, Report, RouteReport};
pub use request::{Mix, Route};
pub use schedule::Arrivals;

use crate::config::LoadConfig;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use parking_lot::Mutex;
use rand::rngs::{SmallRng, StdRng};
use rand::{Rng, SeedableRng};
use report::{Failure, Outcome, Recorder, RunFacts};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Why a run could not go ahead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request could not be built (a bug: the config is validated).
    #[error("cannot build a request: {0}")]
    Request(#[from] http::Error),
    /// A request body could not be encoded (a bug: the bodies are plain structs).
    #[error("cannot encode a request body: {0}")]
    Body(#[from] serde_json::Error),
    /// The latency histograms could not be set up.
    #[error("cannot set up the latency histograms: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
}

/// Counters the progress bar reads while the run goes.
#[derive(Debug, Default)]
pub struct Live {
    sent: [AtomicU64; 3],
    finished: AtomicU64,
    /// Transport errors and 5xx responses so far.
    errors: AtomicU64,
}

impl Live {
    /// Requests sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }

    /// Requests sent and not yet ended.
    pub fn in_flight(&self) -> u64 {
        self.sent()
            .saturating_sub(self.finished.load(Ordering::Relaxed))
    }
}

/// What every request task shares.
struct Shared {
    client: Client<HttpConnector, Full<Bytes>>,
    recorder: Mutex<Recorder>,
    live: Arc<Live>,
    timeout: Duration,
}

/// Longest wait for cancelled requests to notice the stop and release their permits.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// Sends the configured load until its schedule ends or `stop` resolves, then waits for the
/// requests in flight (at most the request timeout; on `stop` they are cancelled) and returns
/// what was measured.
pub async fn run(cfg: &LoadConfig, stop: impl Future<Output = ()>) -> Result<Report, Error> {
    let mut seeds = match cfg.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_os_rng(),
    };
    // Separate streams, so changing the mix does not change the arrival times of a seed.
    let schedule_rng = SmallRng::seed_from_u64(seeds.random());
    let request_rng = SmallRng::seed_from_u64(seeds.random());

    let mut connector = HttpConnector::new();
    // Small requests and responses: Nagle's algorithm would only add delay.
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(cfg.timeout));
    let client = Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(cfg.concurrency)
        .build(connector);

    let live = Arc::new(Live::default());
    let shared = Arc::new(Shared {
        client,
        recorder: Mutex::new(Recorder::new()?),
        live: live.clone(),
        timeout: cfg.timeout,
    });
    let permits = Arc::new(Semaphore::new(cfg.concurrency));
    let (cancel, cancelled) = watch::channel(false);
    let progress = if cfg.progress {
        let expected = (cfg.rate * cfg.duration.as_secs_f64())
            .ceil()
            .min(cfg.requests as f64);
        progress::Progress::start(
            live.clone(),
            expected as u64,
            cfg.duration + cfg.timeout + CANCEL_GRACE,
        )
    } else {
        None
    };

    let start = Instant::now();
    let mut dispatch = Dispatch {
        schedule: schedule::Schedule::new(cfg.arrivals, cfg.rate, schedule_rng),
        requests: request::Requests::new(
            cfg.target.clone(),
            cfg.mix,
            cfg.users,
            cfg.bad_login_share,
        ),
        rng: request_rng,
        next: 0.0,
        sent: 0,
        last_send: start,
    };
    tokio::pin!(stop);
    let stopped_early = tokio::select! {
        // Stop first: at full speed the scheduler is always ready, and Ctrl-C must still win.
        biased;
        () = &mut stop => true,
        result = dispatch.run(cfg, start, &shared, &permits, &cancelled) => {
            result?;
            false
        }
    };
    let ended = Instant::now();
    let elapsed = if stopped_early {
        ended - start
    } else {
        // The schedule's own end: its length, or the time of the first arrival not sent.
        let planned = dispatch.next.min(cfg.duration.as_secs_f64());
        (dispatch.last_send - start).max(Duration::from_secs_f64(planned))
    };

    // Every request holds a permit until it has recorded its outcome, so holding all permits
    // means every request has ended.
    let all = u32::try_from(cfg.concurrency).unwrap_or(u32::MAX);
    let drained = async {
        let _ = permits.acquire_many(all).await;
    };
    if stopped_early {
        let _ = cancel.send(true);
        let _ = tokio::time::timeout(CANCEL_GRACE, drained).await;
    } else {
        // Requests end by their own timeout; a stop while waiting cancels them.
        let bound = cfg.timeout + CANCEL_GRACE;
        tokio::select! {
            biased;
            () = &mut stop => {
                let _ = cancel.send(true);
                let _ = tokio::time::timeout(CANCEL_GRACE, permits.acquire_many(all)).await;
            }
            _ = tokio::time::timeout(bound, drained) => {}
        }
    }
    if let Some(p) = progress {
        p.finish();
    }

    let facts = RunFacts {
        target: format!("http://{}", cfg.target),
        arrivals: cfg.arrivals,
        mix: cfg.mix.to_string(),
        target_rate: cfg.rate,
        elapsed,
        stopped_early,
        sent: [0, 1, 2].map(|i| live.sent[i].load(Ordering::Relaxed)),
        routes: Route::ALL
            .into_iter()
            .filter(|r| cfg.mix.weight(*r) > 0.0)
            .collect(),
    };
    let report = shared.recorder.lock().report(facts);
    Ok(report)
}

/// The scheduler's state; it outlives the scheduler future so a stop can read how far it got.
struct Dispatch {
    schedule: schedule::Schedule,
    requests: request::Requests,
    rng: SmallRng,
    /// Intended time of the next arrival, in seconds from the start.
    next: f64,
    sent: u64,
    last_send: Instant,
}

/// How early a request may leave. Tokio's timer rounds every wake-up up to the next
/// millisecond, so sleeping until the intended time would send nearly every request late and
/// add that lag to its latency. Waking a tick early and sending what is due within it keeps
/// sends within a millisecond of the schedule either way, and latency then starts at the
/// earlier of the intended and actual send times.
const EARLY: Duration = Duration::from_millis(1);

/// Sends in a row before the scheduler yields, so request tasks and the stop get a turn while
/// it catches up on overdue arrivals.
const BATCH: u32 = 64;

impl Dispatch {
    async fn run(
        &mut self,
        cfg: &LoadConfig,
        start: Instant,
        shared: &Arc<Shared>,
        permits: &Arc<Semaphore>,
        cancelled: &watch::Receiver<bool>,
    ) -> Result<(), Error> {
        let end = cfg.duration.as_secs_f64();
        let mut burst = 0;
        self.next = self.schedule.next_offset();
        while self.sent < cfg.requests && self.next < end {
            let intended = start + Duration::from_secs_f64(self.next);
            if intended > Instant::now() + EARLY {
                tokio::time::sleep_until(intended - EARLY).await;
                burst = 0;
            } else if burst >= BATCH {
                tokio::task::yield_now().await;
                burst = 0;
            }
            // Waiting here delays the send, not the intended time: the wait shows in latency.
            let permit = match permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => match permits.clone().acquire_owned().await {
                    Ok(p) => p,
                    // The semaphore is never closed; if it were, no request could be sent.
                    Err(_) => break,
                },
            };
            let prepared = self.requests.next(&mut self.rng)?;
            shared.live.sent[prepared.route.index()].fetch_add(1, Ordering::Relaxed);
            tokio::spawn(send(
                shared.clone(),
                prepared,
                intended,
                permit,
                cancelled.clone(),
            ));
            self.sent += 1;
            self.last_send = Instant::now();
            burst += 1;
            self.next = self.schedule.next_offset();
        }
        Ok(())
    }
}

/// Sends one request, reads the whole response (so the connection goes back to the pool),
/// and records the outcome.
async fn send(
    shared: Arc<Shared>,
    prepared: request::Prepared,
    intended: Instant,
    permit: OwnedSemaphorePermit,
    mut cancelled: watch::Receiver<bool>,
) {
    let request::Prepared { route, request } = prepared;
    let sent_at = Instant::now();
    let exchange = async {
        let response = shared.client.request(request).await.map_err(|e| {
            if e.is_connect() {
                Failure::Connect
            } else {
                Failure::Http
            }
        })?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            frame.map_err(|_| Failure::Http)?;
        }
        Ok::<u16, Failure>(status)
    };
    let outcome = tokio::select! {
        biased;
        _ = cancelled.wait_for(|c| *c) => Outcome::Cancelled,
        r = tokio::time::timeout(shared.timeout, exchange) => match r {
            Ok(Ok(status)) => Outcome::Response(status),
            Ok(Err(failure)) => Outcome::Failed(failure),
            Err(_) => Outcome::Failed(Failure::Timeout),
        },
    };
    let done = Instant::now();
    // A request sent early (see EARLY) was late by nothing: it started when it left.
    let began = intended.min(sent_at);
    if matches!(outcome, Outcome::Failed(_) | Outcome::Response(500..)) {
        shared.live.errors.fetch_add(1, Ordering::Relaxed);
    }
    shared
        .recorder
        .lock()
        .record(route, outcome, done - began, done - sent_at);
    shared.live.finished.fetch_add(1, Ordering::Relaxed);
    // Released only now, so holding every permit means every outcome is recorded.
    drop(permit);
}
