//! `monlab report`: a performance review of a period, read back from Prometheus (or
//! VictoriaMetrics for spans longer than Prometheus keeps), written as Markdown and HTML with
//! plots.
//!
//! What it reviews, from the metrics alone:
//! - availability (work requests not answered 5xx) and latency (work requests within 0.25 s)
//!   against their objectives, and the error budget left;
//! - incidents, from the start and end times and severity the service recorded
//!   (`monlab_incident_started_timestamp_seconds`, `monlab_incident_ended_timestamp_seconds`),
//!   each scored by the one rule in [`crate::incident::score`] against the firing spans of Prometheus's
//!   `ALERTS` (raw samples, so without Alertmanager's grouping delay): the alert that caught
//!   it, detection and resolve times, louder alerts; plus alerts that fired outside any
//!   incident;
//! - traffic and p99 latency by route over the period, with the 5-minute warm-up of the rates
//!   after the service started marked;
//! - ML quality: accuracy from feedback (the holdout's and the approved-only labels') and the
//!   fallback share.
//!
//! See [`run`]; rendering is in [`render`].

pub(crate) mod render;

use crate::api::alerts::AlertKey;
use crate::api::incident::Params;
use crate::api::Severity;
use crate::incident::score::{self, AlertSpan, Window, GRACE};
use crate::incident::Incident;
use crate::promapi::{self, Sample, Series};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Availability objective: share of work requests not answered with a 5xx.
pub(crate) const AVAILABILITY_OBJECTIVE: f64 = 0.995;
/// Latency objective: share of work requests within [`LATENCY_THRESHOLD`] (docs/slo.md).
pub(crate) const LATENCY_OBJECTIVE: f64 = 0.99;
/// Latency threshold of the SLO, in seconds (a bucket boundary of the duration histogram).
pub(crate) const LATENCY_THRESHOLD: &str = "0.25";
/// Work routes, the ones the SLOs cover.
const WORK: &str = "/random|/login|/predict";
/// How far before the period incidents and alerts are read, so that those already under way
/// at its start keep their real start times.
const LOOKBACK: f64 = 600.0;
/// The window of the rates the traffic chart shows: they are partial this long after a start.
pub(crate) const RATE_WINDOW: f64 = 300.0;

/// A validated report request.
#[derive(Debug, Clone)]
pub(crate) struct ReportConfig {
    /// Prometheus-compatible store (Prometheus or VictoriaMetrics).
    pub store: String,
    /// Period start, Unix seconds.
    pub from: f64,
    /// Period end, Unix seconds.
    pub to: f64,
    /// Folder for report.md, report.html and the plots.
    pub out: PathBuf,
    /// The scrape job of the service.
    pub job: String,
}

impl Default for ReportConfig {
    /// The last hour of the local Prometheus's `monlab` job, into `report/`.
    fn default() -> Self {
        let to = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Self {
            store: "http://127.0.0.1:9090".into(),
            from: to - 3600.0,
            to,
            out: PathBuf::from("report"),
            job: "monlab".into(),
        }
    }
}

/// Why no report could be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The store failed or could not be reached; the hint names `report`'s flag.
    #[error("{0}{hint}", hint = .0.hint("--store"))]
    Store(promapi::Error),
    /// The store holds nothing for the period.
    #[error("{store} holds no requests of job {job} between {from} and {to}: check --from/--to and --store")]
    NoData {
        /// Store URL.
        store: String,
        /// Job.
        job: String,
        /// Start, RFC 3339.
        from: String,
        /// End, RFC 3339.
        to: String,
    },
    /// The output could not be written.
    #[error("cannot write the report to {path}: {reason}")]
    Write {
        /// Where.
        path: String,
        /// Why.
        reason: String,
    },
}

// By hand rather than `#[from]`: the message already holds the cause's text, so it is not
// also a `source()` (a chain printer would say it twice).
impl From<promapi::Error> for Error {
    fn from(e: promapi::Error) -> Self {
        Self::Store(e)
    }
}

/// Attainment of one SLO over the period.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Slo {
    /// Which SLO.
    pub name: String,
    /// What counts as good.
    pub objective_text: String,
    /// The objective, e.g. 0.995.
    pub objective: f64,
    /// Work requests in the period.
    pub total: f64,
    /// Requests that missed.
    pub bad: f64,
    /// Share of good requests.
    pub attainment: f64,
    /// Share of the period's error budget left (negative when overspent).
    pub budget_left: f64,
}

/// One incident of the period and how monitoring caught it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IncidentRow {
    /// Incident name.
    pub incident: String,
    /// When it started, Unix seconds, as the service recorded it.
    pub start: f64,
    /// When it ended; the end of the period if it was still running.
    pub end: f64,
    /// Still running at the end of the period.
    pub ongoing: bool,
    /// Severity it must be caught at.
    pub expected_severity: Severity,
    /// The alert of that severity that fired, if any.
    pub alert: Option<AlertKey>,
    /// Seconds from start to the alert firing.
    pub detection_seconds: Option<f64>,
    /// Seconds from end to the alert resolving.
    pub resolve_seconds: Option<f64>,
    /// Alerts of a higher severity that fired meanwhile.
    pub over_severity: Vec<AlertKey>,
}

/// An alert that fired outside every incident.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StrayAlert {
    /// Which alert.
    pub alert: AlertKey,
    /// When it fired.
    pub start: f64,
    /// How long it fired.
    pub seconds: f64,
}

/// Traffic and latency of one route.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RouteRow {
    /// Route template.
    pub route: String,
    /// Requests in the period.
    pub requests: f64,
    /// Mean and peak request rate.
    pub mean_rate: f64,
    /// Peak request rate (of the 5m rate).
    pub peak_rate: f64,
    /// Median and worst p99 latency over the period.
    pub median_p99: Option<f64>,
    /// Worst p99.
    pub worst_p99: Option<f64>,
}

/// A time series for a plot.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Line {
    /// Legend.
    pub name: String,
    /// (Unix seconds, value).
    pub points: Vec<(f64, f64)>,
}

/// ML quality over the period.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MlQuality {
    /// Mean accuracy of the model on the holdout's labels over 1 hour (unbiased).
    pub mean_accuracy: Option<f64>,
    /// Lowest of those.
    pub worst_accuracy: Option<f64>,
    /// Mean accuracy on the approved-only labels over 1 hour (biased: declined applicants
    /// never get an outcome).
    pub mean_approved_only_accuracy: Option<f64>,
    /// Mean share of predictions from the fallback.
    pub mean_fallback_share: Option<f64>,
    /// Accuracy over time, one line per cohort.
    pub accuracy: Vec<Line>,
    /// Fallback share over time.
    pub fallback: Vec<Line>,
}

/// The whole review.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Review {
    /// Store read.
    pub store: String,
    /// Job reviewed.
    pub job: String,
    /// Period start.
    pub from: f64,
    /// Period end.
    pub to: f64,
    /// Step of the range queries, seconds.
    pub step: f64,
    /// The time warp K the service ran at; incident and alert durations are system seconds.
    pub speed: u32,
    /// When the service started, if during the period or less than [`RATE_WINDOW`] before it
    /// (5-minute rates are partial until `RATE_WINDOW` after it).
    pub service_start: Option<f64>,
    /// SLO attainment.
    pub slos: Vec<Slo>,
    /// Incidents.
    pub incidents: Vec<IncidentRow>,
    /// Alerts outside incidents.
    pub stray_alerts: Vec<StrayAlert>,
    /// Routes.
    pub routes: Vec<RouteRow>,
    /// Request rate by route over time.
    pub traffic: Vec<Line>,
    /// p99 by route over time.
    pub p99: Vec<Line>,
    /// ML quality.
    pub ml: MlQuality,
}

fn floats(s: &Series) -> Vec<(f64, f64)> {
    s.points
        .iter()
        .filter_map(|(t, v)| match v {
            Sample::Float(x) if x.is_finite() => Some((*t, *x)),
            _ => None,
        })
        .collect()
}

fn scalar(series: &[Series]) -> f64 {
    series
        .first()
        .map(floats)
        .and_then(|p| p.first().map(|x| x.1))
        .unwrap_or(0.0)
}

fn by_label(series: &[Series], label: &str) -> BTreeMap<String, f64> {
    series
        .iter()
        .map(|s| {
            (
                s.labels.get(label).cloned().unwrap_or_default(),
                floats(s).first().map_or(0.0, |p| p.1),
            )
        })
        .collect()
}

fn lines(series: &[Series], label: &str) -> Vec<Line> {
    series
        .iter()
        .map(|s| Line {
            name: s.labels.get(label).cloned().unwrap_or_default(),
            points: floats(s),
        })
        .filter(|l| !l.points.is_empty())
        .collect()
}

fn floats_all(series: &[Series]) -> Vec<(f64, f64)> {
    series.iter().flat_map(floats).collect()
}

/// The incidents the service recorded: one window per distinct start (replicas of one service
/// record the same start within a moment), ended by the first recorded end after it or by the
/// incident's next start; a run with neither is still going at `to` (`true`).
fn windows(started: &[Series], ended: &[Series], to: f64) -> Vec<(Window, bool)> {
    // Starts on several replicas differ by milliseconds; restarts by far more.
    const SAME: f64 = 2.0;
    let mut runs: Vec<(f64, Incident, Severity, Params)> = Vec::new();
    for s in started {
        let label = |k: &str| s.labels.get(k).cloned();
        let Some(incident) = label("incident").as_deref().and_then(Incident::from_name) else {
            continue;
        };
        let params = Params {
            route: label("route"),
            feature: label("feature"),
            ..Params::default()
        };
        let severity = label("severity")
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| incident.severity());
        for (_, t) in floats(s) {
            runs.push((t, incident, severity, params.clone()));
        }
    }
    runs.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.total_cmp(&b.0)));
    runs.dedup_by(|b, a| a.1 == b.1 && b.0 - a.0 < SAME);
    let ends: Vec<(Incident, f64)> = ended
        .iter()
        .filter_map(|s| {
            let i = s
                .labels
                .get("incident")
                .and_then(|n| Incident::from_name(n))?;
            Some(floats(s).into_iter().map(move |(_, t)| (i, t)))
        })
        .flatten()
        .collect();
    let mut out = Vec::new();
    for (k, (start, incident, severity, params)) in runs.iter().enumerate() {
        let next_start = runs.get(k + 1).filter(|r| r.1 == *incident).map(|r| r.0);
        let end = ends
            .iter()
            .filter(|(i, t)| i == incident && t >= start)
            .map(|(_, t)| *t)
            .chain(next_start)
            .reduce(f64::min);
        out.push((
            Window {
                incident: *incident,
                severity: *severity,
                signals: incident.signals(params),
                start: *start,
                end: end.unwrap_or(to),
            },
            end.is_none(),
        ));
    }
    out.sort_by(|a, b| a.0.start.total_cmp(&b.0.start));
    out
}

/// Firing spans from raw `ALERTS` samples: a gap of more than a few evaluation intervals ends a
/// span; a span whose last sample is near `to` is still firing.
fn alert_spans(series: &[Series], to: f64) -> Vec<AlertSpan> {
    let times: Vec<Vec<f64>> = series
        .iter()
        .map(|s| floats(s).into_iter().map(|p| p.0).collect())
        .collect();
    let gaps: Vec<f64> = times
        .iter()
        .flat_map(|t| t.windows(2).map(|w| w[1] - w[0]))
        .collect();
    let interval = median(gaps).unwrap_or(15.0);
    // VictoriaMetrics hides the last 30 s of samples; call those still firing too.
    let open_after = to - (2.5 * interval).max(45.0);
    let mut out = Vec::new();
    for (s, t) in series.iter().zip(&times) {
        let mut labels = s.labels.clone();
        labels.remove("__name__");
        labels.remove("alertstate");
        let mut first = 0;
        for k in 0..t.len() {
            let last = k + 1 == t.len();
            if last || t[k + 1] - t[k] > 2.5 * interval {
                out.push(AlertSpan::new(
                    labels.clone(),
                    t[first],
                    (!(last && t[k] >= open_after)).then_some(t[k] + interval),
                ));
                first = k + 1;
            }
        }
    }
    out.sort_by(|a, b| a.start.total_cmp(&b.start));
    out
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// The step of the range queries: about 300 points over the period, at least 5 s.
pub(crate) fn step_for(from: f64, to: f64) -> f64 {
    ((to - from) / 300.0).max(5.0).ceil()
}

/// Reads the period from the store and builds the review.
pub(crate) async fn run(cfg: &ReportConfig) -> Result<Review, Error> {
    let store = promapi::Client::new(&cfg.store)?;
    let p = Period {
        store: &store,
        from: cfg.from,
        to: cfg.to,
        job: &cfg.job,
        range: format!("{}s", (cfg.to - cfg.from).round() as u64),
        step: step_for(cfg.from, cfg.to),
    };
    let slos = slos(&p, &cfg.store).await?;
    let (windows, alerts) = incidents_and_alerts(&p).await?;
    let speed = speed(&p).await?;
    let (incidents, stray_alerts) = score(&p, speed, windows, alerts);
    let service_start = service_start(&p).await?;
    let (routes, traffic, p99) = routes(&p, service_start).await?;
    let ml = ml_quality(&p).await?;
    Ok(Review {
        store: cfg.store.clone(),
        job: cfg.job.clone(),
        from: p.from,
        to: p.to,
        step: p.step,
        speed,
        service_start,
        slos,
        incidents,
        stray_alerts,
        routes,
        traffic,
        p99,
        ml,
    })
}

/// The period under review and the store it is read from.
struct Period<'a> {
    store: &'a promapi::Client,
    from: f64,
    to: f64,
    job: &'a str,
    /// The whole period as a PromQL range, e.g. `3600s`.
    range: String,
    /// Step of the range queries, seconds.
    step: f64,
}

impl Period<'_> {
    /// `q` evaluated at the end of the period.
    async fn at_end(&self, q: String) -> Result<Vec<Series>, promapi::Error> {
        self.store.query(&q, self.to).await
    }

    /// `q` over the period, one point every step.
    async fn over(&self, q: String) -> Result<Vec<Series>, promapi::Error> {
        self.store
            .query_range(&q, self.from, self.to, self.step)
            .await
    }
}

/// Availability and latency attainment over the period; no work request at all is
/// [`Error::NoData`] (`store` is the URL it names).
async fn slos(p: &Period<'_>, store: &str) -> Result<Vec<Slo>, Error> {
    let (job, range) = (p.job, &p.range);
    let total = scalar(
        &p.at_end(format!(
            r#"sum(increase(monlab_http_requests_total{{job="{job}",route=~"{WORK}"}}[{range}]))"#
        ))
        .await?,
    );
    if total <= 0.0 {
        return Err(Error::NoData {
            store: store.to_string(),
            job: job.into(),
            from: crate::api::rfc3339(p.from),
            to: crate::api::rfc3339(p.to),
        });
    }
    let errors = scalar(&p.at_end(format!(
        r#"sum(increase(monlab_http_requests_total{{job="{job}",route=~"{WORK}",code=~"5.."}}[{range}]))"#
    ))
    .await?);
    // Prometheus 2.42 stores integer boundaries scraped over protobuf as "1.0"; 0.25 has one form.
    let fast = scalar(&p.at_end(format!(
        r#"sum(increase(monlab_http_request_duration_seconds_bucket{{job="{job}",route=~"{WORK}",le="{LATENCY_THRESHOLD}"}}[{range}]))"#
    ))
    .await?);
    let timed = scalar(&p.at_end(format!(
        r#"sum(increase(monlab_http_request_duration_seconds_count{{job="{job}",route=~"{WORK}"}}[{range}]))"#
    ))
    .await?);
    Ok(vec![
        slo(
            "availability",
            "work requests not answered with 5xx",
            AVAILABILITY_OBJECTIVE,
            total,
            errors,
        ),
        slo(
            "latency",
            "work requests answered within 0.25 s",
            LATENCY_OBJECTIVE,
            timed,
            (timed - fast).max(0.0),
        ),
    ])
}

/// One SLO's attainment and budget left from its request counts.
fn slo(name: &str, text: &str, objective: f64, total: f64, bad: f64) -> Slo {
    let attainment = if total > 0.0 {
        1.0 - bad / total
    } else {
        f64::NAN
    };
    Slo {
        name: name.into(),
        objective_text: text.into(),
        objective,
        total,
        bad,
        attainment,
        budget_left: 1.0 - (1.0 - attainment) / (1.0 - objective),
    }
}

/// The incidents that overlap the period (with whether each still runs at its end) and every
/// alert's firing spans, from raw samples, not a range query's steps: starts, ends and alert
/// spans to the second.
async fn incidents_and_alerts(
    p: &Period<'_>,
) -> Result<(Vec<(Window, bool)>, Vec<AlertSpan>), Error> {
    let (from, to, job) = (p.from, p.to, p.job);
    let lookback = format!("{}s", (to - from + LOOKBACK).round() as u64);
    let started = p
        .at_end(format!(
            r#"monlab_incident_started_timestamp_seconds{{job="{job}"}}[{lookback}]"#
        ))
        .await?;
    let ended = p
        .at_end(format!(
            r#"monlab_incident_ended_timestamp_seconds{{job="{job}"}}[{lookback}]"#
        ))
        .await?;
    let windows: Vec<(Window, bool)> = windows(&started, &ended, to)
        .into_iter()
        .filter(|(w, _)| w.start < to && w.end > from)
        .collect();
    let alerts = alert_spans(
        &p.at_end(format!(
            r#"ALERTS{{alertstate="firing", alertname!="Watchdog"}}[{lookback}]"#
        ))
        .await?,
        to,
    );
    Ok((windows, alerts))
}

/// The time warp the service ran at: scores and durations are in system seconds.
/// A store from before the warp has no such series: real time.
async fn speed(p: &Period<'_>) -> Result<u32, Error> {
    let (job, range) = (p.job, &p.range);
    Ok(scalar(
        &p.at_end(format!(
            r#"max(max_over_time(monlab_time_warp_speed{{job="{job}"}}[{range}]))"#
        ))
        .await?,
    )
    .clamp(1.0, 60.0)
    .round() as u32)
}

/// Scores each incident by the one rule (in system time at `speed`), and lists the alerts
/// that fired outside every incident within the period.
fn score(
    p: &Period<'_>,
    speed: u32,
    windows: Vec<(Window, bool)>,
    mut alerts: Vec<AlertSpan>,
) -> (Vec<IncidentRow>, Vec<StrayAlert>) {
    let (from, to) = (p.from, p.to);
    let mut plain: Vec<Window> = windows.iter().map(|(w, _)| w.clone()).collect();
    score::in_system_time(speed, &mut plain, &mut alerts);
    let k = f64::from(speed);
    let incidents: Vec<IncidentRow> = windows
        .iter()
        .zip(score::score_all(&plain, &alerts, GRACE))
        .map(|((w, ongoing), o)| IncidentRow {
            incident: w.incident.name().into(),
            start: w.start,
            end: w.end,
            ongoing: *ongoing,
            expected_severity: w.severity,
            alert: o.alert,
            detection_seconds: o.detection_seconds,
            resolve_seconds: o.resolve_seconds,
            over_severity: o.over_severity,
        })
        .collect();
    let stray_alerts = score::stray(&plain, &alerts, GRACE)
        .into_iter()
        // Spans are in system time (K times the wall clock): back to wall instants here.
        .filter(|a| a.start / k >= from && a.start / k <= to)
        .map(|a| StrayAlert {
            alert: a.key.clone(),
            start: a.start / k,
            seconds: a.end.unwrap_or(to * k) - a.start,
        })
        .collect();
    (incidents, stray_alerts)
}

/// The earliest start of the service that the period sees, if the rates were still warming up.
async fn service_start(p: &Period<'_>) -> Result<Option<f64>, Error> {
    let (job, range) = (p.job, &p.range);
    Ok(floats_all(
        &p.at_end(format!(
            r#"min(min_over_time(process_start_time_seconds{{job="{job}"}}[{range}]))"#
        ))
        .await?,
    )
    .into_iter()
    .map(|(_, started)| started)
    .find(|t| *t > p.from - RATE_WINDOW && *t < p.to))
}

/// Requests, rates and p99 per work route, with the traffic and p99 lines the charts draw.
async fn routes(
    p: &Period<'_>,
    service_start: Option<f64>,
) -> Result<(Vec<RouteRow>, Vec<Line>, Vec<Line>), Error> {
    let (job, range) = (p.job, &p.range);
    let serving = p.to - service_start.map_or(p.from, |t| t.max(p.from));
    let per_route = by_label(
        &p.at_end(format!(
            r#"sum by (route) (increase(monlab_http_requests_total{{job="{job}",route=~"{WORK}"}}[{range}]))"#
        ))
        .await?,
        "route",
    );
    let traffic = lines(
        &p.over(format!(
            r#"sum by (route) (job_route:monlab_http_requests:rate5m{{job="{job}",route=~"{WORK}"}})"#
        ))
        .await?,
        "route",
    );
    let p99 = lines(
        &p.over(format!(
            r#"max by (route) (job_route_quantile:monlab_http_request_duration_seconds:histogram_quantile{{job="{job}",route=~"{WORK}",quantile="0.99"}})"#
        ))
        .await?,
        "route",
    );
    let values_of = |lines: &[Line], route: &str| -> Vec<f64> {
        lines
            .iter()
            .find(|l| l.name == route)
            .map(|l| l.points.iter().map(|pt| pt.1).collect())
            .unwrap_or_default()
    };
    let routes = per_route
        .iter()
        .map(|(route, requests)| {
            let rates = values_of(&traffic, route);
            let lat = values_of(&p99, route);
            RouteRow {
                route: route.clone(),
                requests: *requests,
                // Time before the service started carries no traffic to average over.
                mean_rate: requests / serving,
                peak_rate: rates.iter().copied().fold(0.0, f64::max),
                median_p99: median(lat.clone()),
                worst_p99: lat
                    .iter()
                    .copied()
                    .filter(|x| x.is_finite())
                    .reduce(f64::max),
            }
        })
        .collect();
    Ok((routes, traffic, p99))
}

/// The name on the charts of each feedback cohort.
const COHORTS: [(&str, &str); 2] = [
    ("holdout", "holdout (unbiased)"),
    ("decided", "approved only (biased)"),
];

/// Model accuracy from feedback and the fallback share over the period. Accuracy is read per
/// cohort over 1 hour: the holdout's labels are the unbiased ones (issue 19), and an hour is
/// the shortest window in which there are enough of them.
async fn ml_quality(p: &Period<'_>) -> Result<MlQuality, Error> {
    let job = p.job;
    let mut accuracy = lines(
        &p.over(format!(
            r#"job_source_cohort:monlab_model_accuracy:ratio_rate1h{{job="{job}",source="model"}}"#
        ))
        .await?,
        "cohort",
    );
    accuracy.sort_by_key(|l| COHORTS.iter().position(|c| c.0 == l.name));
    let cohort = |name: &str| -> Vec<f64> {
        accuracy
            .iter()
            .filter(|l| l.name == name)
            .flat_map(|l| l.points.iter().map(|pt| pt.1))
            .collect()
    };
    let (holdout, approved_only) = (cohort("holdout"), cohort("decided"));
    for l in &mut accuracy {
        if let Some((_, shown)) = COHORTS.iter().find(|c| c.0 == l.name) {
            l.name = (*shown).to_string();
        }
    }
    let fallback = lines(
        &p.over(format!(
            r#"job:monlab_predictions_fallback:ratio_rate5m{{job="{job}"}}"#
        ))
        .await?,
        "job",
    );
    let values = |l: &[Line]| -> Vec<f64> {
        l.iter()
            .flat_map(|x| x.points.iter().map(|pt| pt.1))
            .collect()
    };
    let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    Ok(MlQuality {
        worst_accuracy: holdout.iter().copied().reduce(f64::min),
        mean_accuracy: mean(holdout),
        mean_approved_only_accuracy: mean(approved_only),
        mean_fallback_share: mean(values(&fallback)),
        accuracy,
        fallback,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(labels: &[(&str, &str)], points: &[(f64, f64)]) -> Series {
        Series {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            points: points
                .iter()
                .map(|(t, v)| (*t, Sample::Float(*v)))
                .collect(),
        }
    }

    #[test]
    fn alert_spans_break_at_gaps_and_stay_open_at_the_end() {
        let a = series(
            &[
                ("alertname", "MonlabLoginsFailing"),
                ("severity", "critical"),
            ],
            &[
                (100.0, 1.0),
                (101.0, 1.0),
                (102.0, 1.0),
                (200.0, 1.0),
                (201.0, 1.0),
            ],
        );
        let b = series(
            &[("alertname", "MonlabSlowRequests"), ("severity", "minor")],
            &[(960.0, 1.0), (961.0, 1.0), (962.0, 1.0)],
        );
        let spans = alert_spans(&[a, b], 1000.0);
        let got: Vec<(f64, Option<f64>)> = spans.iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(
            got,
            vec![(100.0, Some(103.0)), (200.0, Some(202.0)), (960.0, None)]
        );
        assert_eq!(spans[0].labels.get("alertstate"), None);
    }

    #[test]
    fn windows_take_the_recorded_start_severity_and_end() {
        // Two replicas recorded one large feature-drift; a scrape repeats the value.
        let drift = |inst: &str, t: f64| {
            series(
                &[
                    ("incident", "feature-drift"),
                    ("severity", "major"),
                    ("feature", "age"),
                    ("instance", inst),
                ],
                &[(t + 10.0, t), (t + 25.0, t)],
            )
        };
        let auth = series(
            &[("incident", "auth-down"), ("severity", "critical")],
            &[(1010.0, 1000.0), (1200.0, 1000.0), (1500.0, 1400.0)],
        );
        let ends = series(
            &[("incident", "auth-down")],
            &[(1020.0, 1015.0), (1200.0, 1015.0)],
        );
        let w = windows(
            &[drift("a", 500.0), drift("b", 500.2), auth],
            &[ends],
            2000.0,
        );
        let got: Vec<(&str, &str, f64, f64, bool)> = w
            .iter()
            .map(|(w, open)| {
                (
                    w.incident.name(),
                    w.severity.as_str(),
                    w.start,
                    w.end,
                    *open,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("feature-drift", "major", 500.0, 2000.0, true),
                ("auth-down", "critical", 1000.0, 1015.0, false),
                ("auth-down", "critical", 1400.0, 2000.0, true),
            ]
        );
        assert_eq!(
            w[0].0.signals[0].label,
            Some(("feature", "age".to_string()))
        );
    }

    #[test]
    fn store_errors_point_at_store_not_prometheus() {
        let e = Error::from(promapi::Error::NotPrometheus {
            url: "http://127.0.0.1:8080".into(),
            status: 404,
        })
        .to_string();
        assert_eq!(
            e,
            "http://127.0.0.1:8080 answered HTTP 404 without a Prometheus API response: \
             is --store the right URL?"
        );
    }

    #[test]
    fn step_keeps_about_300_points() {
        assert_eq!(step_for(0.0, 3600.0), 12.0);
        assert_eq!(step_for(0.0, 60.0), 5.0);
    }
}
