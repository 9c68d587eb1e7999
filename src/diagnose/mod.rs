//! `monlab diagnose`: from an alert to the users and requests behind it, through exemplars.
//!
//! The latency histogram and the error counter keep, per bucket, the request id and user id
//! of a recent request (see [`crate::telemetry::exemplars`]); Prometheus stores them next to
//! the samples. [`run`] reads them back from `/api/v1/query_exemplars` for a window of system
//! time, keeps the slow (or failed) ones, groups them by user and adds each shown request's
//! access log line; [`render`] prints the [`Diagnosis`].

mod logs;

use crate::promapi::{Client, Exemplar};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

/// What to look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Kind {
    /// Requests slower than the threshold (the latency histogram's exemplars).
    SlowRequests,
    /// Requests answered with a server error (the error counter's exemplars).
    Errors,
}

/// Error kinds of 5xx answers (`monlab_http_errors_total{kind}`).
const SERVER_ERROR_KINDS: &str = "internal|injected|unavailable|timeout|overloaded";

impl Kind {
    /// The series whose exemplars tell about this kind.
    fn selector(self) -> String {
        match self {
            Self::SlowRequests => "monlab_http_request_duration_seconds_bucket".into(),
            Self::Errors => format!("monlab_http_errors_total{{kind=~\"{SERVER_ERROR_KINDS}\"}}"),
        }
    }
}

/// Everything `monlab diagnose` needs, validated.
#[derive(Debug, Clone)]
pub(crate) struct DiagnoseConfig {
    /// Prometheus's base URL.
    pub prometheus: String,
    /// What to look for.
    pub kind: Kind,
    /// How far back, in system time (divided by the service's time warp to ask Prometheus).
    pub window: Duration,
    /// Slow means longer than this (slow-requests only).
    pub threshold: Duration,
    /// Users listed at most.
    pub top: usize,
    /// Access logs (files, or folders of `*access.log` files) searched for the shown
    /// requests' lines.
    pub logs: Vec<PathBuf>,
}

impl Default for DiagnoseConfig {
    /// The Prometheus and log folder `monlab up` uses, the last 10 minutes, MonlabSlowRequests's
    /// 1 s threshold, ten users.
    fn default() -> Self {
        Self {
            prometheus: "http://127.0.0.1:9090".into(),
            kind: Kind::SlowRequests,
            window: Duration::from_secs(600),
            threshold: Duration::from_secs(1),
            top: 10,
            logs: vec![PathBuf::from(".monlab/logs")],
        }
    }
}

/// Longest window: Prometheus keeps exemplars in a ring buffer, not for days.
pub(crate) const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// One user behind the slow or failed requests.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UserFinding {
    /// The user id.
    pub user_id: String,
    /// Their requests among the exemplars.
    pub requests: usize,
    /// The first of them, Unix seconds.
    pub first_seen: f64,
    /// The last of them, Unix seconds.
    pub last_seen: f64,
    /// The longest latency among them, seconds (errors: the counter's increment, 1).
    pub max_value: f64,
    /// Their latest request ids, newest first (at most 5).
    pub request_ids: Vec<String>,
    /// The access log lines of those requests found in the given logs.
    pub log_lines: Vec<String>,
}

/// What `diagnose` found.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Diagnosis {
    /// What was looked for.
    pub kind: Kind,
    /// The window in system time, seconds.
    pub window_seconds: f64,
    /// The time warp of the service (1 without one).
    pub speed: f64,
    /// The threshold in seconds (slow-requests).
    pub threshold_seconds: Option<f64>,
    /// Matching exemplars (distinct requests).
    pub exemplars: usize,
    /// Matching exemplars of requests without a user id.
    pub without_user: usize,
    /// Users with matching requests, the most first.
    pub users: Vec<UserFinding>,
    /// Users with matching requests in all (the list may be cut at `--top`).
    pub users_total: usize,
}

/// Why a diagnosis could not be made; each is one line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Prometheus did not answer or refused the query.
    #[error("{0}{hint}", hint = .0.hint("--prometheus"))]
    Prometheus(#[from] crate::promapi::Error),
    /// Prometheus runs without `--enable-feature=exemplar-storage`.
    #[error("Prometheus at {0} keeps no exemplars: start it with --enable-feature=exemplar-storage (`monlab up` does)")]
    NoExemplarStorage(String),
}

/// Reads the exemplars of the window from Prometheus and groups them by user.
pub(crate) async fn run(cfg: &DiagnoseConfig) -> Result<Diagnosis, Error> {
    let prom = Client::new(&cfg.prometheus)?;
    let flags = prom.flags().await?;
    let features = flags.get("enable-feature").map_or("", String::as_str);
    if !features.split(',').any(|f| f.trim() == "exemplar-storage") {
        return Err(Error::NoExemplarStorage(prom.url().to_string()));
    }
    let now = crate::api::now_seconds();
    // The window is system time; Prometheus counts wall time, K times less under a warp.
    let speed = prom
        .query("max(monlab_time_warp_speed)", now)
        .await?
        .first()
        .and_then(|s| s.points.last())
        .and_then(|(_, v)| match v {
            crate::promapi::Sample::Float(f) if *f >= 1.0 => Some(*f),
            _ => None,
        })
        .unwrap_or(1.0);
    let wall = cfg.window.as_secs_f64() / speed;
    let series = prom
        .query_exemplars(&cfg.kind.selector(), now - wall, now)
        .await?;
    let threshold = (cfg.kind == Kind::SlowRequests).then_some(cfg.threshold.as_secs_f64());
    let exemplars = series
        .into_iter()
        .flat_map(|s| s.exemplars)
        .filter(|e| threshold.is_none_or(|t| crate::promapi::value(&e.value) > t));
    let mut d = group(exemplars, cfg.top);
    d.kind = cfg.kind;
    d.window_seconds = cfg.window.as_secs_f64();
    d.speed = speed;
    d.threshold_seconds = threshold;
    logs::attach(&mut d.users, &cfg.logs);
    Ok(d)
}

/// Groups exemplars by user, one per request id, the users with most requests first.
fn group(exemplars: impl Iterator<Item = Exemplar>, top: usize) -> Diagnosis {
    let mut seen = HashSet::new();
    let mut by_user: BTreeMap<String, (UserFinding, Vec<(f64, String)>)> = BTreeMap::new();
    let (mut total, mut without_user) = (0, 0);
    for e in exemplars {
        let Some(id) = e.labels.get("request_id") else {
            continue;
        };
        // The same exemplar can come back from more than one scrape or replica.
        if !seen.insert(id.clone()) {
            continue;
        }
        total += 1;
        let Some(user) = e.labels.get("user_id") else {
            without_user += 1;
            continue;
        };
        let v = crate::promapi::value(&e.value);
        let (f, ids) = by_user.entry(user.clone()).or_insert_with(|| {
            let f = UserFinding {
                user_id: user.clone(),
                requests: 0,
                first_seen: e.timestamp,
                last_seen: e.timestamp,
                max_value: v,
                request_ids: Vec::new(),
                log_lines: Vec::new(),
            };
            (f, Vec::new())
        });
        f.requests += 1;
        f.first_seen = f.first_seen.min(e.timestamp);
        f.last_seen = f.last_seen.max(e.timestamp);
        f.max_value = f.max_value.max(v);
        ids.push((e.timestamp, id.clone()));
    }
    let mut users: Vec<UserFinding> = by_user
        .into_values()
        .map(|(mut f, mut ids)| {
            ids.sort_by(|a, b| b.0.total_cmp(&a.0));
            f.request_ids = ids.into_iter().take(5).map(|(_, id)| id).collect();
            f
        })
        .collect();
    users.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then(b.last_seen.total_cmp(&a.last_seen))
    });
    let users_total = users.len();
    users.truncate(top);
    Diagnosis {
        kind: Kind::SlowRequests,
        window_seconds: 0.0,
        speed: 1.0,
        threshold_seconds: None,
        exemplars: total,
        without_user,
        users,
        users_total,
    }
}

/// Writes `d` as the text `diagnose` prints, times relative to `now` in system time.
pub(crate) fn render(d: &Diagnosis, now: f64) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let what = match (d.kind, d.threshold_seconds) {
        (Kind::SlowRequests, Some(t)) => format!("requests slower than {t} s"),
        _ => "requests answered with a server error".into(),
    };
    let ago = |t: f64| fmt_secs(((now - t) * d.speed).max(0.0));
    let warp = if d.speed > 1.0 {
        format!(" (time warp {}x)", d.speed)
    } else {
        String::new()
    };
    let anonymous = if d.without_user > 0 {
        format!(", {} requests without a user id", d.without_user)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{what} in the last {} of system time{warp}: {} exemplars, {} users{anonymous}",
        fmt_secs(d.window_seconds),
        d.exemplars,
        d.users_total,
    );
    if d.users.is_empty() {
        let _ = writeln!(out, "no user has such requests in this window");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<12} {:>8} {:>11} {:>10} {:>9}  latest request ids",
        "user", "requests", "since", "last", "max"
    );
    for u in &d.users {
        let _ = writeln!(
            out,
            "{:<12} {:>8} {:>11} {:>10} {:>9}  {}",
            u.user_id,
            u.requests,
            format!("{} ago", ago(u.first_seen)),
            format!("{} ago", ago(u.last_seen)),
            // An error exemplar's value is the counter's increment, not a latency.
            match d.kind {
                Kind::SlowRequests => format!("{:.3}s", u.max_value),
                Kind::Errors => "-".into(),
            },
            u.request_ids.join(" ")
        );
        for l in &u.log_lines {
            let _ = writeln!(out, "    {l}");
        }
    }
    if d.users_total > d.users.len() {
        let _ = writeln!(
            out,
            "({} more users; --top N shows more)",
            d.users_total - d.users.len()
        );
    }
    out
}

/// `90s` → `1m30s`, in whole seconds.
fn fmt_secs(s: f64) -> String {
    let s = s.round() as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(id: &str, user: Option<&str>, v: f64, t: f64) -> Exemplar {
        let mut labels = BTreeMap::from([("request_id".to_string(), id.to_string())]);
        if let Some(u) = user {
            labels.insert("user_id".into(), u.into());
        }
        Exemplar {
            labels,
            value: v.to_string(),
            timestamp: t,
        }
    }

    #[test]
    fn groups_by_user_once_per_request_most_first() {
        let d = group(
            vec![
                ex("a", Some("u1"), 2.1, 10.0),
                ex("a", Some("u1"), 2.1, 10.0),
                ex("b", Some("u2"), 2.5, 11.0),
                ex("c", Some("u2"), 3.0, 12.0),
                ex("d", None, 2.0, 12.0),
            ]
            .into_iter(),
            10,
        );
        assert_eq!((d.exemplars, d.without_user, d.users_total), (4, 1, 2));
        assert_eq!(d.users[0].user_id, "u2");
        assert_eq!(d.users[0].requests, 2);
        assert_eq!(d.users[0].request_ids, ["c", "b"]);
        assert_eq!((d.users[0].first_seen, d.users[0].max_value), (11.0, 3.0));
        assert_eq!(d.users[1].request_ids, ["a"]);
        let text = render(&d, 20.0);
        assert!(text.contains("u2                  2"), "{text}");
        let cut = group(
            vec![ex("a", Some("u1"), 2.0, 1.0), ex("b", Some("u2"), 2.0, 1.0)].into_iter(),
            1,
        );
        assert!(render(&cut, 2.0).contains("(1 more users"));
    }

    #[test]
    fn durations_read_in_whole_units() {
        assert_eq!(fmt_secs(3725.0), "1h2m");
        assert_eq!(fmt_secs(90.0), "1m30s");
        assert_eq!(fmt_secs(600.0), "10m");
    }
}
