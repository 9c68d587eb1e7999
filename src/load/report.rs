//! What a run measured: counts by route and status, and latency histograms, summarised into
//! a [`Report`] that prints as a table or serialises to JSON.
//!
//! Two latencies are kept per request. *Latency* runs from the intended send time (the
//! schedule's) to the end of the response, so time spent waiting behind a stalled server or
//! the concurrency cap counts, as it would for a real user; *service time* runs from the
//! actual send. Only responses are measured; requests without one are counted by failure.

use super::request::Route;
use super::schedule::Arrivals;
use crate::api::routes;
use hdrhistogram::{CreationError, Histogram};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Why a request got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No connection could be made.
    Connect,
    /// No complete response within the timeout.
    Timeout,
    /// The connection broke or the response was not valid HTTP.
    Http,
}

impl Failure {
    const ALL: [Self; 3] = [Self::Connect, Self::Timeout, Self::Http];

    /// The name in reports.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Http => "http",
        }
    }
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A complete response with this status code.
    Response(u16),
    /// No response.
    Failed(Failure),
    /// Still in flight when the run was stopped.
    Cancelled,
}

/// Client-side latencies in microseconds, from 1 µs to an hour at 3 significant digits
/// (0.1% error; about 0.4 MB per histogram).
fn histogram() -> Result<Histogram<u64>, CreationError> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
}

#[derive(Debug, Clone)]
struct Stats {
    completed: u64,
    cancelled: u64,
    status: BTreeMap<u16, u64>,
    failures: [u64; 3],
    latency: Histogram<u64>,
    service: Histogram<u64>,
    // Made on the first answer that reports its delay (`/random` only).
    added: Option<Histogram<u64>>,
}

impl Stats {
    fn new() -> Result<Self, CreationError> {
        Ok(Self {
            completed: 0,
            cancelled: 0,
            status: BTreeMap::new(),
            failures: [0; 3],
            latency: histogram()?,
            service: histogram()?,
            added: None,
        })
    }

    fn record_added(&mut self, added: Duration) {
        if self.added.is_none() {
            self.added = histogram().ok();
        }
        if let Some(h) = &mut self.added {
            h.saturating_record(micros(added));
        }
    }

    fn record(&mut self, outcome: Outcome, latency: Duration, service: Duration) {
        match outcome {
            Outcome::Response(code) => {
                self.completed += 1;
                *self.status.entry(code).or_default() += 1;
                self.latency.saturating_record(micros(latency));
                self.service.saturating_record(micros(service));
            }
            Outcome::Failed(f) => self.failures[f as usize] += 1,
            Outcome::Cancelled => self.cancelled += 1,
        }
    }

    fn summary(&self, sent: u64) -> RouteReport {
        RouteReport {
            sent,
            completed: self.completed,
            cancelled: self.cancelled,
            status: self.status.clone(),
            transport_errors: Failure::ALL
                .iter()
                .filter(|f| self.failures[**f as usize] > 0)
                .map(|f| (f.as_str().to_string(), self.failures[*f as usize]))
                .collect(),
            latency: Latency::of(&self.latency),
            service_time: Latency::of(&self.service),
            added_latency: self.added.as_ref().map(Latency::of),
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Counts and histograms of a run in progress, per route and overall.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    routes: [Stats; 3],
    // Recorded alongside the routes so the total needs no histogram merge at the end.
    all: Stats,
    // Feedback is extra traffic, kept out of the routes and the total.
    feedback: Stats,
    feedback_planned: u64,
    feedback_declined: u64,
    feedback_skipped: u64,
    feedback_dropped: u64,
}

impl Recorder {
    /// An empty recorder.
    pub(crate) fn new() -> Result<Self, CreationError> {
        Ok(Self {
            routes: [Stats::new()?, Stats::new()?, Stats::new()?],
            all: Stats::new()?,
            feedback: Stats::new()?,
            feedback_planned: 0,
            feedback_declined: 0,
            feedback_skipped: 0,
            feedback_dropped: 0,
        })
    }

    /// Records how one request to `route` ended, with its latency from the intended send time
    /// and its service time from the actual send.
    pub(crate) fn record(
        &mut self,
        route: Route,
        outcome: Outcome,
        latency: Duration,
        service: Duration,
    ) {
        self.routes[route.index()].record(outcome, latency, service);
        self.all.record(outcome, latency, service);
    }

    /// Records, for an answer that says how long the service waited on purpose (`/random`'s
    /// `delay_seconds`), the time the service and the network added on top: its service time
    /// minus that delay.
    pub(crate) fn record_added(&mut self, route: Route, added: Duration) {
        self.routes[route.index()].record_added(added);
        self.all.record_added(added);
    }

    /// Records how one feedback request ended and how long it took from its send.
    pub(crate) fn record_feedback(&mut self, outcome: Outcome, took: Duration) {
        self.feedback.record(outcome, took, took);
    }

    /// Counts a prediction whose feedback is scheduled.
    pub(crate) fn feedback_planned(&mut self) {
        self.feedback_planned += 1;
    }

    /// Counts a prediction picked for feedback that was declined: no outcome ever exists.
    pub(crate) fn feedback_declined(&mut self) {
        self.feedback_declined += 1;
    }

    /// Counts a prediction picked for feedback that failed, so there is nothing to label.
    pub(crate) fn feedback_skipped(&mut self) {
        self.feedback_skipped += 1;
    }

    /// Counts a feedback not sent because too many were waiting.
    pub(crate) fn feedback_dropped(&mut self) {
        self.feedback_dropped += 1;
    }
}

/// Facts about the run that the recorder does not see.
#[derive(Debug, Clone)]
pub(crate) struct RunFacts {
    /// The target URL.
    pub target: String,
    /// The arrival process.
    pub arrivals: Arrivals,
    /// The route mix, as given.
    pub mix: String,
    /// Requests per second the schedule aimed at.
    pub target_rate: f64,
    /// Length of the sending window.
    pub elapsed: Duration,
    /// Whether the stop future ended the run early.
    pub stopped_early: bool,
    /// Requests sent per route, in [`Route::ALL`] order.
    pub sent: [u64; 3],
    /// Routes with a positive weight, reported even when nothing was sent to them.
    pub routes: Vec<Route>,
    /// Feedback requests sent.
    pub feedback_sent: u64,
    /// Share of predictions whose outcome is reported.
    pub feedback_share: f64,
    /// Mean delay of the outcomes.
    pub feedback_delay: Duration,
}

/// The feedback a run sent: true outcomes of a share of its approved predictions, after a
/// delay; declined applications never get one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedbackReport {
    /// Share of approved predictions whose outcome is reported.
    pub share: f64,
    /// Mean delay from an answer to its feedback, in seconds.
    pub mean_delay_seconds: f64,
    /// Approved predictions whose feedback was scheduled.
    pub planned: u64,
    /// Picked predictions that were declined, so never get an outcome.
    pub declined: u64,
    /// Picked predictions that failed, so had nothing to label.
    pub skipped: u64,
    /// Feedback not sent because too many were waiting.
    pub dropped: u64,
    /// The `/feedback` requests: sent, answered by status, cancelled (still waiting at the
    /// end of the run), latency from the send.
    pub requests: RouteReport,
}

/// Latency percentiles in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Measured responses.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// Largest.
    pub max: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let s = |us: u64| us as f64 / 1e6;
        Self {
            count: h.len(),
            mean: h.mean() / 1e6,
            p50: s(h.value_at_quantile(0.5)),
            p90: s(h.value_at_quantile(0.9)),
            p99: s(h.value_at_quantile(0.99)),
            p99_9: s(h.value_at_quantile(0.999)),
            max: s(h.max()),
        }
    }
}

/// The counts and latencies of one route (or of all of them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteReport {
    /// Requests sent.
    pub sent: u64,
    /// Requests answered with a complete response, whatever its status.
    pub completed: u64,
    /// Requests still in flight when the run was stopped early.
    pub cancelled: u64,
    /// Responses by status code.
    pub status: BTreeMap<u16, u64>,
    /// Requests without a response, by cause (`connect`, `timeout`, `http`).
    pub transport_errors: BTreeMap<String, u64>,
    /// From the intended send time to the end of the response.
    pub latency: Latency,
    /// From the actual send to the end of the response.
    pub service_time: Latency,
    /// Service time minus the delay the service reports it waited (`/random` answers only):
    /// what the server, the network and this client added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_latency: Option<Latency>,
}

impl RouteReport {
    /// Requests without a response.
    pub fn transport_error_count(&self) -> u64 {
        self.transport_errors.values().sum()
    }
}

/// The outcome of a load run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The target URL.
    pub target: String,
    /// The arrival process.
    pub arrivals: Arrivals,
    /// The route mix.
    pub mix: String,
    /// Requests per second the schedule aimed at.
    pub target_rate: f64,
    /// Requests sent per second of the sending window.
    pub achieved_rate: f64,
    /// Length of the sending window in seconds: until the schedule's end or the last send,
    /// whichever is later, or until the stop.
    pub elapsed_seconds: f64,
    /// Whether the run was stopped before its schedule ended.
    pub stopped_early: bool,
    /// All routes together.
    pub total: RouteReport,
    /// Per route template (`/random`, `/login`, `/predict`).
    pub routes: BTreeMap<String, RouteReport>,
    /// Feedback sent besides (not part of `total` or the mix).
    #[serde(default)]
    pub feedback: FeedbackReport,
}

impl Recorder {
    /// The report of the run so far.
    pub(crate) fn report(&self, facts: RunFacts) -> Report {
        let elapsed = facts.elapsed.as_secs_f64();
        let sent: u64 = facts.sent.iter().sum();
        Report {
            target: facts.target,
            arrivals: facts.arrivals,
            mix: facts.mix,
            target_rate: facts.target_rate,
            achieved_rate: if elapsed > 0.0 {
                sent as f64 / elapsed
            } else {
                0.0
            },
            elapsed_seconds: elapsed,
            stopped_early: facts.stopped_early,
            total: self.all.summary(sent),
            routes: Route::ALL
                .iter()
                .filter(|r| facts.routes.contains(r) || facts.sent[r.index()] > 0)
                .map(|r| {
                    let s = self.routes[r.index()].summary(facts.sent[r.index()]);
                    (r.path().to_string(), s)
                })
                .collect(),
            feedback: FeedbackReport {
                share: facts.feedback_share,
                mean_delay_seconds: facts.feedback_delay.as_secs_f64(),
                planned: self.feedback_planned,
                declined: self.feedback_declined,
                skipped: self.feedback_skipped,
                dropped: self.feedback_dropped,
                requests: {
                    // Cancelled before sending counts as cancelled, not as sent.
                    let mut r = self.feedback.summary(facts.feedback_sent);
                    r.sent = facts.feedback_sent;
                    r
                },
            },
        }
    }
}

fn statuses(r: &RouteReport) -> String {
    if r.status.is_empty() {
        return "-".into();
    }
    r.status
        .iter()
        .map(|(code, n)| format!("{code}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn failures(r: &RouteReport) -> String {
    if r.transport_errors.is_empty() {
        return "-".into();
    }
    r.transport_errors
        .iter()
        .map(|(kind, n)| format!("{kind}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn latency_row(f: &mut fmt::Formatter<'_>, name: &str, l: &Latency) -> fmt::Result {
    if l.count == 0 {
        return writeln!(f, "  {name:<10} {:>9}", "-");
    }
    let ms = |s: f64| s * 1e3;
    writeln!(
        f,
        "  {name:<10} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.p99_9),
        ms(l.max)
    )
}

fn latency_table(
    f: &mut fmt::Formatter<'_>,
    title: &str,
    report: &Report,
    pick: impl Fn(&RouteReport) -> &Latency,
) -> fmt::Result {
    writeln!(f)?;
    writeln!(f, "  {title}")?;
    writeln!(
        f,
        "  {:<10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "route", "p50", "p90", "p99", "p99.9", "max"
    )?;
    for (name, r) in &report.routes {
        latency_row(f, name, pick(r))?;
    }
    latency_row(f, "all", pick(&report.total))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.total;
        writeln!(
            f,
            "target     {} ({} arrivals, mix {})",
            self.target, self.arrivals, self.mix
        )?;
        writeln!(
            f,
            "rate       {:.1}/s target, {:.1}/s achieved ({} sent in {:.2} s{})",
            self.target_rate,
            self.achieved_rate,
            t.sent,
            self.elapsed_seconds,
            if self.stopped_early {
                ", stopped early"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "requests   {} completed, {} transport errors, {} cancelled",
            t.completed,
            t.transport_error_count(),
            t.cancelled
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "  {:<10} {:>9} {:>9}  {:<28} transport errors",
            "route", "sent", "completed", "responses by status"
        )?;
        let rows = self.routes.iter().map(|(k, v)| (k.as_str(), v));
        for (name, r) in rows.chain([("all", t)]) {
            writeln!(
                f,
                "  {name:<10} {:>9} {:>9}  {:<28} {}",
                r.sent,
                r.completed,
                statuses(r),
                failures(r)
            )?;
        }
        let fb = &self.feedback;
        if fb.share > 0.0 {
            writeln!(
                f,
                "  {:<10} {:>9} {:>9}  {:<28} {}",
                "/feedback",
                fb.requests.sent,
                fb.requests.completed,
                statuses(&fb.requests),
                failures(&fb.requests)
            )?;
            writeln!(
                f,
                "  (feedback: share {:.2} of approvals, mean delay {:.1} s; {} planned, {} declined \
                 (no outcome), {} cancelled at the end (outcome due later, not sent), \
                 {} skipped for failed predictions, {} dropped; not in the totals)",
                fb.share,
                fb.mean_delay_seconds,
                fb.planned,
                fb.declined,
                fb.requests.cancelled,
                fb.skipped,
                fb.dropped
            )?;
        }
        latency_table(f, "latency from the intended send time (ms)", self, |r| {
            &r.latency
        })?;
        latency_table(f, "service time from the actual send (ms)", self, |r| {
            &r.service_time
        })?;
        if let Some(added) = &self.total.added_latency {
            writeln!(f)?;
            writeln!(f, "  added beyond the delay the service reports (ms)")?;
            latency_row(f, routes::RANDOM, added)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(sent: [u64; 3]) -> RunFacts {
        RunFacts {
            target: "http://127.0.0.1:8080".into(),
            arrivals: Arrivals::Constant,
            mix: "random=1,login=1".into(),
            target_rate: 100.0,
            elapsed: Duration::from_secs(2),
            stopped_early: false,
            sent,
            routes: vec![Route::Random, Route::Login],
            feedback_sent: 0,
            feedback_share: 0.0,
            feedback_delay: Duration::ZERO,
        }
    }

    #[test]
    fn counts_and_percentiles_add_up() {
        let mut r = Recorder::new().unwrap();
        for ms in 1..=1000u64 {
            r.record(
                Route::Random,
                Outcome::Response(200),
                Duration::from_millis(ms),
                Duration::from_millis(1),
            );
        }
        r.record(
            Route::Login,
            Outcome::Response(401),
            Duration::from_millis(5),
            Duration::from_millis(5),
        );
        r.record(
            Route::Login,
            Outcome::Failed(Failure::Timeout),
            Duration::ZERO,
            Duration::ZERO,
        );
        r.record(
            Route::Login,
            Outcome::Cancelled,
            Duration::ZERO,
            Duration::ZERO,
        );
        let rep = r.report(facts([1000, 3, 0]));
        assert_eq!(rep.achieved_rate, 501.5);
        assert_eq!(rep.total.sent, 1003);
        assert_eq!(rep.total.completed, 1001);
        assert_eq!(rep.total.cancelled, 1);
        assert_eq!(rep.total.status, BTreeMap::from([(200, 1000), (401, 1)]));
        let login = &rep.routes["/login"];
        assert_eq!(login.transport_errors["timeout"], 1);
        assert_eq!(login.transport_error_count(), 1);
        assert!(!rep.routes.contains_key("/predict"));
        let l = &rep.routes["/random"].latency;
        assert_eq!(l.count, 1000);
        // Within the histogram's 0.1% resolution.
        for (got, want) in [(l.p50, 0.5), (l.p99, 0.99), (l.p99_9, 0.999), (l.max, 1.0)] {
            assert!((got / want - 1.0).abs() < 0.002, "{got} vs {want}");
        }
        assert!((rep.routes["/random"].service_time.p99 - 0.001).abs() < 1e-5);
        // Nothing reported a delay, so nothing was added.
        assert_eq!(rep.total.added_latency, None);
    }

    #[test]
    fn added_latency_is_kept_for_the_answers_that_report_their_delay() {
        let mut r = Recorder::new().unwrap();
        for ms in 1..=100 {
            r.record_added(Route::Random, Duration::from_millis(ms));
        }
        let rep = r.report(facts([100, 0, 0]));
        let added = rep.routes["/random"].added_latency.as_ref().unwrap();
        assert_eq!(added.count, 100);
        assert!((added.p50 - 0.050).abs() < 1e-4, "{added:?}");
        assert_eq!(rep.total.added_latency.as_ref(), Some(added));
        assert!(rep.to_string().contains("added beyond the delay"));
        let json = serde_json::to_value(&rep).unwrap();
        assert!(json["routes"]["/login"].get("added_latency").is_none());
    }

    #[test]
    fn report_round_trips_through_json_and_renders() {
        let mut r = Recorder::new().unwrap();
        r.record(
            Route::Random,
            Outcome::Response(200),
            Duration::from_millis(3),
            Duration::from_millis(2),
        );
        let rep = r.report(facts([1, 0, 0]));
        let json = serde_json::to_string(&rep).unwrap();
        assert!(json.contains("\"status\":{\"200\":1}"), "{json}");
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), rep);
        let text = rep.to_string();
        assert!(text.contains("100.0/s target, 0.5/s achieved"), "{text}");
        assert!(text.contains("200: 1"), "{text}");
        assert!(text.contains("/login"), "{text}");
    }
}
