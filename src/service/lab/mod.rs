//! The lab: a live page at `/lab` where a person breaks the system with a click and watches the
//! golden signals, the alerts and the model's signals react.
//!
//! See [`router`] for the routes. The page is plain JavaScript with uPlot, built from `lab/` by
//! esbuild into `src/service/lab/assets/` and embedded in the binary ([`assets`]), so it needs no
//! network at run time. It reads Prometheus and Alertmanager through monlab's read-only
//! proxies ([`proxy`]), so everything it loads comes from one origin; `recover` runs in process
//! ([`distributions`]); the last scenario's scoreboard is kept here ([`Lab`]), posted by
//! `monlab incident play` through the admin API.
//!
//! Lab traffic goes through the golden-signal middleware like any other route. The page asks
//! [`status`] (always 200: it reports on the upstreams, it does not depend on them) before it
//! queries, and sends no proxied query to an upstream that status calls unreachable; so a
//! stopped Prometheus does not turn the page's polling into a stream of 502s that would count
//! as server errors of the job.

pub(crate) mod assets;
pub(crate) mod distributions;
pub(crate) mod proxy;
pub(crate) mod runbooks;

use super::error::ApiError;
use super::{routes, AppState};
use crate::api::incident::IncidentList;
use crate::api::now_seconds;
use crate::api::scoreboard::{Row, ScoreboardAnswer, ScoreboardPost, StoredScoreboard};
use crate::service::LabConfig;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Most rows a posted scoreboard may have.
pub(crate) const MAX_SCOREBOARD_ROWS: usize = 500;
/// Longest text in a posted scoreboard (a name, an alert, a scenario title).
const MAX_TEXT: usize = 300;

/// The lab's state: its upstreams and the last scoreboard.
#[derive(Debug)]
pub struct Lab {
    /// The Prometheus the charts read, when configured.
    pub prometheus: Option<proxy::Upstream>,
    /// The Alertmanager whose alerts the page lists, when configured.
    pub alertmanager: Option<proxy::Upstream>,
    scoreboard: Mutex<Option<StoredScoreboard>>,
    // When this service started, so the page can tell a heartbeat not due yet from a missing one.
    started_at: f64,
    // One recovery at a time: each reads every bucket series of the window and fits five
    // families twice, which is worth doing on demand but not concurrently.
    recovering: tokio::sync::Semaphore,
}

impl Lab {
    /// The lab for a validated config.
    pub fn new(cfg: &LabConfig) -> Self {
        Self {
            prometheus: cfg
                .prometheus_url
                .as_deref()
                .map(proxy::Upstream::prometheus),
            alertmanager: cfg
                .alertmanager_url
                .as_deref()
                .map(proxy::Upstream::alertmanager),
            scoreboard: Mutex::new(None),
            started_at: now_seconds(),
            recovering: tokio::sync::Semaphore::new(1),
        }
    }

    /// The last stored scoreboard.
    pub fn scoreboard(&self) -> Option<StoredScoreboard> {
        self.scoreboard.lock().clone()
    }

    /// Validates and stores a scoreboard; it replaces the previous one.
    pub fn store_scoreboard(&self, post: ScoreboardPost) -> Result<StoredScoreboard, ApiError> {
        validate(&post)?;
        let stored = StoredScoreboard {
            passed: post.rows.iter().all(Row::passed),
            scenario: post.scenario,
            speed: post.speed,
            received_at: now_seconds(),
            rows: post.rows,
        };
        *self.scoreboard.lock() = Some(stored.clone());
        Ok(stored)
    }
}

/// Checks a posted scoreboard's bounds: the lab keeps it in memory and shows it.
fn validate(post: &ScoreboardPost) -> Result<(), ApiError> {
    let bad = |field: &str, message: String| ApiError::Unprocessable {
        field: field.into(),
        message,
    };
    if !crate::warp::SPEEDS.contains(&post.speed) {
        return Err(bad(
            "speed",
            format!("speed must be from 1 to 60, got {}", post.speed),
        ));
    }
    if post.rows.len() > MAX_SCOREBOARD_ROWS {
        return Err(bad(
            "rows",
            format!(
                "at most {MAX_SCOREBOARD_ROWS} rows, got {}",
                post.rows.len()
            ),
        ));
    }
    if post.scenario.as_ref().is_some_and(|s| s.len() > MAX_TEXT) {
        return Err(bad("scenario", format!("at most {MAX_TEXT} bytes")));
    }
    for (i, r) in post.rows.iter().enumerate() {
        let texts = [&r.incident]
            .into_iter()
            .chain(r.alert.iter().map(|a| &a.name))
            .chain(r.over_severity.iter().map(|a| &a.name))
            .chain(r.fired.iter().map(|a| &a.name));
        let lists = r.over_severity.len().max(r.fired.len());
        if lists > MAX_SCOREBOARD_ROWS || texts.into_iter().any(|t| t.len() > MAX_TEXT) {
            return Err(bad(
                &format!("rows[{i}]"),
                format!("texts must be at most {MAX_TEXT} bytes and lists at most {MAX_SCOREBOARD_ROWS} long"),
            ));
        }
        for (name, v) in [
            ("detection_seconds", r.detection_seconds),
            ("resolve_seconds", r.resolve_seconds),
        ] {
            if v.is_some_and(|s| !s.is_finite() || s < 0.0) {
                return Err(bad(
                    &format!("rows[{i}].{name}"),
                    format!("{name} must be a number of seconds >= 0"),
                ));
            }
        }
    }
    Ok(())
}

/// The lab's routes, each a template in [`routes`]; merged into the service's router.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            routes::ROOT,
            get(|| async { Redirect::temporary(routes::LAB) }),
        )
        .route(routes::LAB, get(page))
        .route(routes::LAB_ASSET, get(asset))
        .route(routes::LAB_RUNBOOK, get(runbook))
        .route(routes::LAB_STATUS, get(status))
        .route(routes::LAB_INCIDENTS, get(incidents))
        .route(routes::LAB_SCOREBOARD, get(scoreboard))
        .route(routes::LAB_RECOVER, get(distributions::recover))
        .route(routes::LAB_PROMETHEUS, get(prometheus))
        .route(routes::LAB_ALERTMANAGER, get(alertmanager))
        .layer(axum::middleware::map_response(secure))
}

/// The browser may load nothing from elsewhere (no CDN, no fonts, no beacons), and no other
/// site may frame the page or read it.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Live data and a page that may change with the binary: never serve either from a cache.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /lab`: the page.
pub(crate) async fn page() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        assets::INDEX_HTML,
    )
}

/// `GET /lab/assets/{file}`: the script and the style sheet.
pub(crate) async fn asset(Path(file): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let (body, ctype) = assets::get(&file).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no lab asset {:?} (known: {})",
            file.chars().take(60).collect::<String>(),
            assets::NAMES.join(", ")
        ))
    })?;
    Ok(([(header::CONTENT_TYPE, ctype)], body))
}

/// `GET /lab/runbooks/{name}`: a runbook from `docs/runbooks/`, as the alerts link to it.
pub(crate) async fn runbook(Path(name): Path<String>) -> Result<impl IntoResponse, ApiError> {
    let text = runbooks::get(&name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no runbook {:?}",
            name.chars().take(60).collect::<String>()
        ))
    })?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}

/// Answer of `GET /lab/api/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Status {
    /// The Prometheus the charts read.
    pub prometheus: proxy::Probe,
    /// The Alertmanager the alert list reads.
    pub alertmanager: proxy::Probe,
    /// Whether the admin API is on (a token is configured); the page's buttons need it.
    pub admin_api: bool,
    /// When this service started, seconds since the Unix epoch.
    pub started_at: f64,
    /// The time warp K this service runs at: under `up --speed K` the rules' windows and
    /// Prometheus's timers are K times shorter, and so are the page's warm-up and heartbeat waits.
    pub speed: u32,
}

/// `GET /lab/api/status`: whether each upstream is configured and answers now. Always 200:
/// an unreachable upstream is news to report, not a failure of this request.
pub(crate) async fn status(State(state): State<AppState>) -> Json<Status> {
    let probe = |u: &Option<proxy::Upstream>, name: &'static str, flag: &'static str| {
        let u = u.clone();
        async move {
            match u {
                Some(u) => u.probe().await,
                None => proxy::Probe::not_configured(name, flag),
            }
        }
    };
    let (prometheus, alertmanager) = tokio::join!(
        probe(&state.lab.prometheus, "Prometheus", "--prometheus-url"),
        probe(
            &state.lab.alertmanager,
            "Alertmanager",
            "--alertmanager-url"
        ),
    );
    Json(Status {
        prometheus,
        alertmanager,
        admin_api: state.admin_token.is_some(),
        started_at: state.lab.started_at,
        speed: state.speed.get(),
    })
}

/// `GET /lab/api/incidents`: every incident with its state, time left and parameters (the
/// defaults when inactive). Read-only and public like `GET /incidents`, which lists only the
/// active ones; starting and stopping stay behind the admin token.
pub(crate) async fn incidents(State(state): State<AppState>) -> Json<IncidentList> {
    Json(super::admin::listed(&state, false))
}

/// `GET /lab/api/scoreboard`: the last scenario's scoreboard.
pub(crate) async fn scoreboard(State(state): State<AppState>) -> Json<ScoreboardAnswer> {
    Json(ScoreboardAnswer {
        scoreboard: state.lab.scoreboard(),
    })
}

/// Passes a read request on to `upstream`, or says which flag configures it when none is.
async fn forward(
    upstream: Option<&proxy::Upstream>,
    name: &str,
    flag: &str,
    path: &str,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let up = upstream.ok_or_else(|| {
        ApiError::NotFound(format!(
            "no {name} is configured: start monlab serve with {flag} (monlab up does)"
        ))
    })?;
    up.forward(path, query).await
}

/// `GET /lab/api/prometheus/{*path}`: Prometheus's read-only query API.
pub(crate) async fn prometheus(
    State(state): State<AppState>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    forward(
        state.lab.prometheus.as_ref(),
        "Prometheus",
        "--prometheus-url",
        &path,
        query.as_deref(),
    )
    .await
}

/// `GET /lab/api/alertmanager/{*path}`: Alertmanager's alert list.
pub(crate) async fn alertmanager(
    State(state): State<AppState>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    forward(
        state.lab.alertmanager.as_ref(),
        "Alertmanager",
        "--alertmanager-url",
        &path,
        query.as_deref(),
    )
    .await
}

#[cfg(test)]
mod tests;
