//! `monlab report`: a performance review of a period, read back from Prometheus (or
//! VictoriaMetrics for spans longer than Prometheus keeps), written as Markdown and HTML with
//! plots.
//!
//! What it reviews, from the metrics alone:
//! - availability (work requests not answered 5xx) and latency (work requests within 0.25 s)
//!   against their objectives, and the error budget left;
//! - incidents (from `monlab_incident_active`) with the alert that caught each, its severity,
//!   and detection and resolve times (from Prometheus's `ALERTS`, so without Alertmanager's
//!   grouping delay), plus alerts that fired outside any incident;
//! - traffic and p99 latency by route over the period;
//! - ML quality: accuracy from feedback and the fallback share.
//!
//! See [`run`]; rendering is in [`render`].

pub mod render;

use crate::faults::Incident;
use crate::recover::source::{Prometheus, Sample, Series};
use crate::scenario::rank;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Availability objective: share of work requests not answered with a 5xx.
pub const AVAILABILITY_OBJECTIVE: f64 = 0.995;
/// Latency objective: share of work requests within [`LATENCY_THRESHOLD`] (docs/slo.md).
pub const LATENCY_OBJECTIVE: f64 = 0.99;
/// Latency threshold of the SLO, in seconds (a bucket boundary of the duration histogram).
pub const LATENCY_THRESHOLD: &str = "0.25";
/// Work routes, the ones the SLOs cover.
const WORK: &str = "/random|/login|/predict";
/// How long after an incident ends its alert may still start and count as catching it.
const DETECTION_GRACE: f64 = 600.0;

/// A validated report request.
#[derive(Debug, Clone)]
pub struct ReportConfig {
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

/// Why no report could be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed or could not be reached.
    #[error(transparent)]
    Store(#[from] crate::recover::Error),
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

/// Attainment of one SLO over the period.
#[derive(Debug, Clone, Serialize)]
pub struct Slo {
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
pub struct IncidentRow {
    /// Incident name.
    pub incident: String,
    /// When it started and ended, Unix seconds.
    pub start: f64,
    /// End.
    pub end: f64,
    /// Severity it must be caught at.
    pub expected_severity: String,
    /// The alert of that severity that fired, if any.
    pub alert: Option<String>,
    /// Seconds from start to the alert firing.
    pub detection_seconds: Option<f64>,
    /// Seconds from end to the alert resolving.
    pub resolve_seconds: Option<f64>,
    /// Alerts of a higher severity that fired meanwhile.
    pub over_severity: Vec<String>,
}

/// An alert that fired outside every incident.
#[derive(Debug, Clone, Serialize)]
pub struct StrayAlert {
    /// `name (severity)`.
    pub alert: String,
    /// When it fired.
    pub start: f64,
    /// How long it fired.
    pub seconds: f64,
}

/// Traffic and latency of one route.
#[derive(Debug, Clone, Serialize)]
pub struct RouteRow {
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
pub struct Line {
    /// Legend.
    pub name: String,
    /// (Unix seconds, value).
    pub points: Vec<(f64, f64)>,
}

/// ML quality over the period.
#[derive(Debug, Clone, Serialize)]
pub struct MlQuality {
    /// Mean accuracy of the model from feedback.
    pub mean_accuracy: Option<f64>,
    /// Lowest accuracy.
    pub worst_accuracy: Option<f64>,
    /// Mean share of predictions from the fallback.
    pub mean_fallback_share: Option<f64>,
    /// Accuracy over time.
    pub accuracy: Vec<Line>,
    /// Fallback share over time.
    pub fallback: Vec<Line>,
}

/// The whole review.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
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

/// Intervals where a series is 1 (present and non-zero), given its sampling step.
fn intervals(points: &[(f64, f64)], step: f64) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for &(t, v) in points {
        if v < 0.5 {
            continue;
        }
        match out.last_mut() {
            Some((_, end)) if t - *end <= step * 1.5 => *end = t,
            _ => out.push((t, t)),
        }
    }
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
pub fn step_for(from: f64, to: f64) -> f64 {
    ((to - from) / 300.0).max(5.0).ceil()
}

/// Reads the period from the store and builds the review.
pub async fn run(cfg: &ReportConfig) -> Result<Review, Error> {
    let store = Prometheus::new(&cfg.store)?;
    let (from, to, job) = (cfg.from, cfg.to, cfg.job.as_str());
    let range = format!("{}s", (to - from).round() as u64);
    let step = step_for(from, to);
    let at = |q: String| {
        let store = &store;
        async move { store.query(&q, to).await }
    };

    let total = scalar(
        &at(format!(
            r#"sum(increase(monlab_http_requests_total{{job="{job}",route=~"{WORK}"}}[{range}]))"#
        ))
        .await?,
    );
    if total <= 0.0 {
        return Err(Error::NoData {
            store: cfg.store.clone(),
            job: job.into(),
            from: render::rfc3339(from),
            to: render::rfc3339(to),
        });
    }
    let errors = scalar(&at(format!(
        r#"sum(increase(monlab_http_requests_total{{job="{job}",route=~"{WORK}",code=~"5.."}}[{range}]))"#
    ))
    .await?);
    // Prometheus 2.42 stores integer boundaries scraped over protobuf as "1.0"; 0.25 has one form.
    let fast = scalar(&at(format!(
        r#"sum(increase(monlab_http_request_duration_seconds_bucket{{job="{job}",route=~"{WORK}",le="{LATENCY_THRESHOLD}"}}[{range}]))"#
    ))
    .await?);
    let timed = scalar(&at(format!(
        r#"sum(increase(monlab_http_request_duration_seconds_count{{job="{job}",route=~"{WORK}"}}[{range}]))"#
    ))
    .await?);
    let slo = |name: &str, text: &str, objective: f64, total: f64, bad: f64| {
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
    };
    let slos = vec![
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
    ];

    let range_q = |q: String| {
        let store = &store;
        async move { store.query_range(&q, from, to, step).await }
    };
    let incidents_raw = range_q(format!(
        r#"max by (incident) (monlab_incident_active{{job="{job}"}})"#
    ))
    .await?;
    let alerts_raw = range_q(
        r#"max by (alertname, severity) (ALERTS{alertstate="firing", alertname!="Watchdog"})"#
            .to_string(),
    )
    .await?;
    let alerts: Vec<(String, String, f64, f64)> = alerts_raw
        .iter()
        .flat_map(|s| {
            let name = s.labels.get("alertname").cloned().unwrap_or_default();
            let sev = s.labels.get("severity").cloned().unwrap_or_default();
            intervals(&floats(s), step)
                .into_iter()
                .map(move |(a, b)| (name.clone(), sev.clone(), a, b + step))
        })
        .collect();
    let mut incidents = Vec::new();
    for s in &incidents_raw {
        let name = s.labels.get("incident").cloned().unwrap_or_default();
        let expected = Incident::from_name(&name).map_or("minor", Incident::severity);
        for (start, last) in intervals(&floats(s), step) {
            let end = last + step;
            let caught = alerts
                .iter()
                .filter(|(_, sev, a, _)| {
                    sev == expected && *a >= start - step && *a <= end + DETECTION_GRACE
                })
                .min_by(|x, y| x.2.total_cmp(&y.2));
            let over: Vec<String> = alerts
                .iter()
                .filter(|(_, sev, a, _)| {
                    rank(sev) > rank(expected) && *a >= start - step && *a <= end
                })
                .map(|(n, sev, ..)| format!("{n} ({sev})"))
                .collect();
            incidents.push(IncidentRow {
                incident: name.clone(),
                start,
                end,
                expected_severity: expected.into(),
                alert: caught.map(|(n, sev, ..)| format!("{n} ({sev})")),
                detection_seconds: caught.map(|c| (c.2 - start).max(0.0)),
                resolve_seconds: caught.filter(|c| c.3 < to).map(|c| (c.3 - end).max(0.0)),
                over_severity: over,
            });
        }
    }
    incidents.sort_by(|a, b| a.start.total_cmp(&b.start));
    let stray_alerts = alerts
        .iter()
        .filter(|(_, _, a, _)| {
            !incidents
                .iter()
                .any(|i| *a >= i.start - step && *a <= i.end + DETECTION_GRACE)
        })
        .map(|(n, sev, a, b)| StrayAlert {
            alert: format!("{n} ({sev})"),
            start: *a,
            seconds: b - a,
        })
        .collect();

    let per_route = by_label(
        &at(format!(
            r#"sum by (route) (increase(monlab_http_requests_total{{job="{job}",route=~"{WORK}"}}[{range}]))"#
        ))
        .await?,
        "route",
    );
    let traffic = lines(
        &range_q(format!(
            r#"sum by (route) (job_route:monlab_http_requests:rate5m{{job="{job}",route=~"{WORK}"}})"#
        ))
        .await?,
        "route",
    );
    let p99 = lines(
        &range_q(format!(
            r#"max by (route) (job_route_quantile:monlab_http_request_duration_seconds:histogram_quantile{{job="{job}",route=~"{WORK}",quantile="0.99"}})"#
        ))
        .await?,
        "route",
    );
    let routes = per_route
        .iter()
        .map(|(route, requests)| {
            let rates: Vec<f64> = traffic
                .iter()
                .find(|l| &l.name == route)
                .map(|l| l.points.iter().map(|p| p.1).collect())
                .unwrap_or_default();
            let lat: Vec<f64> = p99
                .iter()
                .find(|l| &l.name == route)
                .map(|l| l.points.iter().map(|p| p.1).collect())
                .unwrap_or_default();
            RouteRow {
                route: route.clone(),
                requests: *requests,
                mean_rate: requests / (to - from),
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

    let accuracy = lines(
        &range_q(format!(
            r#"job_source:monlab_model_accuracy:ratio_rate5m{{job="{job}",source="model"}}"#
        ))
        .await?,
        "source",
    );
    let fallback = lines(
        &range_q(format!(
            r#"job:monlab_predictions_fallback:ratio_rate5m{{job="{job}"}}"#
        ))
        .await?,
        "job",
    );
    let values = |l: &[Line]| -> Vec<f64> {
        l.iter()
            .flat_map(|x| x.points.iter().map(|p| p.1))
            .collect()
    };
    let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let ml = MlQuality {
        mean_accuracy: mean(values(&accuracy)),
        worst_accuracy: values(&accuracy).into_iter().reduce(f64::min),
        mean_fallback_share: mean(values(&fallback)),
        accuracy,
        fallback,
    };

    Ok(Review {
        store: cfg.store.clone(),
        job: job.into(),
        from,
        to,
        step,
        slos,
        incidents,
        stray_alerts,
        routes,
        traffic,
        p99,
        ml,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_join_consecutive_steps() {
        let pts = [
            (0.0, 1.0),
            (10.0, 1.0),
            (20.0, 0.0),
            (30.0, 1.0),
            (40.0, 1.0),
            (70.0, 1.0),
        ];
        assert_eq!(
            intervals(&pts, 10.0),
            vec![(0.0, 10.0), (30.0, 40.0), (70.0, 70.0)]
        );
    }

    #[test]
    fn step_keeps_about_300_points() {
        assert_eq!(step_for(0.0, 3600.0), 12.0);
        assert_eq!(step_for(0.0, 60.0), 5.0);
    }
}
