//! The JSON access log: one line per answered request (time, request id, method, route,
//! status, latency, user id), written by the golden-signal layer when `--access-log` names a
//! file or `-` (stderr). Off by default: a line per request costs more than the metrics
//! (docs/benchmarks.md); `monlab up` turns it on into its data folder, where `monlab diagnose`
//! finds the lines of the requests it names.

use super::exemplars::RequestContext;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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

/// An open access log.
#[derive(Debug)]
pub struct AccessLog {
    file: Option<std::fs::File>,
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
        let file = match target {
            AccessLogTarget::Stderr => None,
            AccessLogTarget::File(path) => Some(open_append(path).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot open the access log {}: {e}", path.display()),
                )
            })?),
        };
        Ok(Self { file })
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
        // A full disk or a closed stderr must not fail the request.
        let _ = match &self.file {
            Some(f) => (&*f).write_all(line.as_bytes()),
            None => std::io::stderr().lock().write_all(line.as_bytes()),
        };
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
