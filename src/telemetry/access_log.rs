//! The JSON access log: one line per answered request (time, request id, method, route,
//! status, latency, user id), written by the golden-signal layer when `--access-log` names a
//! file or `-` (stderr). Off by default: a line per request costs more than the metrics
//! (docs/benchmarks.md); `monlab up` turns it on into its data folder, where `monlab diagnose`
//! finds the lines of the requests it names.
//!
//! Lines go through a bounded queue to a writer thread (`tracing_appender::non_blocking`):
//! a request never waits on the disk. Written synchronously, one stalled `write` (the kernel
//! throttling a busy disk's writeback) held a runtime thread, and with it the answers and
//! the scrapes of `/metrics`, for up to seconds. When the queue is full the line is dropped
//! and counted in `monlab_access_log_dropped_lines_total`, never the request.

use super::exemplars::RequestContext;
use prometheus_client::metrics::counter::Counter;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;
use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};

/// Lines queued for the writer thread at most (about 200 bytes each): a few seconds of a
/// fast load on a stalled disk.
const QUEUED_LINES: usize = 100_000;

/// Where the access log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    /// The service's stderr, beside its other log lines (`-`).
    Stderr,
    /// This file, appended to.
    File(PathBuf),
}

impl std::str::FromStr for AccessLogTarget {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "" => Err("expected a file path, or - for stderr".into()),
            "-" => Ok(Self::Stderr),
            path => Ok(Self::File(PathBuf::from(path))),
        }
    }
}

impl std::fmt::Display for AccessLogTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stderr => f.write_str("-"),
            Self::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// An open access log: the queue to its writer thread, which writes until this is dropped
/// (then the lines still queued are written).
#[derive(Debug)]
pub struct AccessLog {
    writer: NonBlocking,
    dropped: ErrorCounter,
    /// Drops already added to `dropped_lines`.
    counted: AtomicUsize,
    dropped_lines: Counter,
    _guard: WorkerGuard,
}

/// One answered request, as the access log writes it.
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    pub(crate) at: SystemTime,
    pub(crate) ctx: &'a RequestContext,
    pub(crate) method: &'a str,
    pub(crate) route: &'a str,
    pub(crate) status: u16,
    pub(crate) latency: f64,
}

impl AccessLog {
    /// Opens `target` (a file is created, then appended to).
    pub fn open(target: &AccessLogTarget) -> std::io::Result<Self> {
        let builder = NonBlockingBuilder::default()
            .lossy(true)
            .buffered_lines_limit(QUEUED_LINES)
            .thread_name("monlab-access-log");
        let (writer, guard) = match target {
            AccessLogTarget::Stderr => builder.finish(std::io::stderr()),
            AccessLogTarget::File(path) => builder.finish(open_append(path).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot open the access log {}: {e}", path.display()),
                )
            })?),
        };
        Ok(Self {
            dropped: writer.error_counter(),
            writer,
            counted: AtomicUsize::new(0),
            dropped_lines: Counter::default(),
            _guard: guard,
        })
    }

    /// Counts the lines this log drops in `counter` (the registered metric).
    pub(crate) fn counting_drops_in(mut self, counter: Counter) -> Self {
        self.dropped_lines = counter;
        self
    }

    /// Writes one line. Written by hand: every value is a static template, a number or an id
    /// whose characters were checked, so nothing needs escaping. One `write` per line, so
    /// lines of concurrent requests never interleave.
    pub(crate) fn write(&self, e: &Entry<'_>) {
        let ts =
            e.at.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
        let mut line = String::with_capacity(200);
        let _ = writeln!(
            line,
            "{{\"ts\":{ts:.3},\"msg\":\"access\",\"request_id\":\"{}\",\"method\":\"{}\",\"route\":\"{}\",\"status\":{},\"latency_seconds\":{:.6},\"user_id\":\"{}\"}}",
            e.ctx.request_id,
            e.method,
            e.route,
            e.status,
            e.latency,
            e.ctx.user_id.as_ref().map_or("", |u| u.as_str()),
        );
        // Queued, never waited for: one `write` is one line for the writer thread.
        let _ = self.writer.clone().write_all(line.as_bytes());
        let dropped = self.dropped.dropped_lines();
        let before = self.counted.swap(dropped, Ordering::Relaxed);
        if dropped > before {
            self.dropped_lines.inc_by((dropped - before) as u64);
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}
