//! `GET /lab/api/recover`: `monlab recover` run in process against the lab's Prometheus, with
//! the curves the page draws.
//!
//! See [`recover`]. The answer is recover's own JSON report plus, per metric, the recovered
//! density per bucket and the fitted and true densities sampled on a grid, so the page draws
//! them without reimplementing each family's density in JavaScript.

use super::Lab;
use crate::distribution::Distribution;
use crate::recover::report::Report;
use crate::recover::RecoverConfig;
use crate::recover::{self, Metric};
use crate::service::error::{ApiError, Query};
use crate::service::AppState;
use crate::settings::parse;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// Window when none is asked for: the page's default range.
pub(crate) const DEFAULT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Longest window the lab recovers from; `monlab recover` itself takes longer ones.
pub(crate) const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Longest a recovery may take before the page is told so.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);
/// Points of each sampled curve.
const GRID: usize = 200;

/// Query of `GET /lab/api/recover`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecoverParams {
    /// Window ending now, e.g. `15m` (from 1m to 24h).
    pub window: Option<String>,
}

/// Answer of `GET /lab/api/recover`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Recovered {
    /// `monlab recover --json`'s report.
    pub report: Report,
    /// What the page draws, one per metric.
    pub curves: Vec<MetricCurves>,
}

/// The recovered, fitted and true densities of one metric.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MetricCurves {
    /// Which metric.
    pub metric: Metric,
    /// Unit of the observations (`s` or empty).
    pub unit: &'static str,
    /// Observations behind the recovery.
    pub samples: f64,
    /// `[lower, upper, density]` of every bucket with finite edges, in order.
    pub bins: Vec<[f64; 3]>,
    /// The family chosen by AIC, sampled.
    pub fitted: Option<Curve>,
    /// The true distribution, sampled, when known.
    pub truth: Option<Curve>,
}

/// A density sampled on a grid.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Curve {
    /// The distribution's spec.
    pub spec: String,
    /// Grid points.
    pub x: Vec<f64>,
    /// Density at each point.
    pub density: Vec<f64>,
}

impl Curve {
    fn sample(d: &Distribution, lo: f64, hi: f64) -> Self {
        let x: Vec<f64> = (0..GRID)
            .map(|i| lo + (hi - lo) * i as f64 / (GRID - 1) as f64)
            .collect();
        let density = x
            .iter()
            .map(|&v| d.pdf(v))
            .map(|p| if p.is_finite() { p } else { 0.0 })
            .collect();
        Self {
            spec: crate::recover::report::short_spec(d, 4),
            x,
            density,
        }
    }
}

/// The curves of every metric of a report: over the span of the buckets that hold
/// observations, where the recovered density is known.
pub(crate) fn curves(report: &Report) -> Vec<MetricCurves> {
    report
        .metrics
        .iter()
        .filter_map(|m| {
            let lead = m.recoveries.first()?;
            let bins: Vec<[f64; 3]> = lead
                .bins
                .iter()
                .filter(|b| b.lower.is_finite() && b.upper.is_finite())
                .filter_map(|b| Some([b.lower, b.upper, b.density?]))
                .collect();
            let used = || {
                lead.bins
                    .iter()
                    .filter(|b| b.count > 0.0 && b.lower.is_finite() && b.upper.is_finite())
            };
            let lo = used().map(|b| b.lower).fold(f64::INFINITY, f64::min);
            let hi = used().map(|b| b.upper).fold(f64::NEG_INFINITY, f64::max);
            let span = lo.is_finite() && hi.is_finite() && hi > lo;
            Some(MetricCurves {
                metric: m.metric,
                unit: m.unit,
                samples: lead.samples,
                bins,
                fitted: lead
                    .fits
                    .chosen()
                    .filter(|_| span)
                    .map(|f| Curve::sample(&f.dist, lo, hi)),
                truth: m
                    .truth
                    .as_ref()
                    .filter(|_| span)
                    .map(|t| Curve::sample(t, lo, hi)),
            })
        })
        .collect()
}

fn window(p: &RecoverParams) -> Result<Duration, ApiError> {
    let Some(raw) = p.window.as_deref() else {
        return Ok(DEFAULT_WINDOW);
    };
    let bad = |message: String| ApiError::Unprocessable {
        field: "window".into(),
        message,
    };
    match parse::duration(raw).map(|d| *d) {
        Ok(d) if d >= Duration::from_secs(60) && d <= MAX_WINDOW => Ok(d),
        Ok(_) => Err(bad("window must be from 1m to 24h".into())),
        Err(e) => Err(bad(format!("window: {e}"))),
    }
}

/// Maps recover's one-line errors: missing data is the window's state (404, the page says
/// what to wait for), anything from Prometheus itself a bad gateway.
fn to_api_error(e: recover::Error) -> ApiError {
    use recover::Error as E;
    match e {
        E::Absent { .. } | E::NoData { .. } | E::TooFewSamples { .. } => {
            ApiError::NotFound(e.to_string())
        }
        E::Prometheus(_) | E::Inconsistent(_) | E::Truth { .. } => {
            ApiError::BadGateway(e.to_string())
        }
        E::Plot { .. } => ApiError::Internal(e.to_string()),
    }
}

/// `GET /lab/api/recover?window=15m`: both distributions of `/random`, from the window ending
/// now. One at a time (409 while one runs), at most [`TIMEOUT`].
pub(crate) async fn recover(
    State(state): State<AppState>,
    Query(params): Query<RecoverParams>,
) -> Result<Json<Recovered>, ApiError> {
    let window = window(&params)?;
    let lab: &Lab = &state.lab;
    let prom = lab.prometheus.as_ref().ok_or_else(|| {
        ApiError::NotFound(
            "no Prometheus is configured: start monlab serve with --prometheus-url \
             (monlab up does)"
                .into(),
        )
    })?;
    let _one = lab.recovering.try_acquire().map_err(|_| {
        ApiError::Conflict("a recovery is already running; ask again when it has finished".into())
    })?;
    let end = SystemTime::now();
    // The scraped instances on this machine tell their own truth (`GET /distributions`), as
    // for `monlab recover`; they agree unless replicas run different settings.
    let cfg = RecoverConfig {
        prometheus: prom.base().to_string(),
        start: end - window,
        end,
        ..RecoverConfig::default()
    };
    // The fits are CPU work: keep them off the threads that serve requests.
    let handle = tokio::runtime::Handle::current();
    let work = tokio::task::spawn_blocking(move || {
        handle.block_on(async { tokio::time::timeout(TIMEOUT, recover::run(&cfg)).await })
    });
    let report = match work.await {
        Ok(Ok(result)) => result.map_err(to_api_error)?,
        Ok(Err(_)) => {
            return Err(ApiError::GatewayTimeout(format!(
                "recovering took longer than {} s",
                TIMEOUT.as_secs()
            )))
        }
        Err(e) => return Err(ApiError::Internal(format!("recover task failed: {e}"))),
    };
    Ok(Json(Recovered {
        curves: curves(&report),
        report,
    }))
}
