//! The admin API: start, stop and list incidents, and store the last scenario's scoreboard
//! for the lab page. Bearer-token protected; with no token configured it is off (403), so a
//! service started without one cannot be broken remotely.

use super::error::ApiError;
use super::peers::{Reach, FORWARDED};
use super::AppState;
use crate::faults::{Incident, IncidentState, Params, DEFAULT_DURATION, MAX_DURATION};
use crate::settings::parse;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method};
use axum::Json;
use serde::{Deserialize, Serialize};

/// Body of `POST /admin/incidents/{name}`; every field is optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// How long, e.g. `5m` (default 5m, at most 24h).
    #[serde(rename = "for")]
    pub duration: Option<String>,
    /// See [`Params::share`].
    pub share: Option<f64>,
    /// See [`Params::seconds`].
    pub seconds: Option<f64>,
    /// See [`Params::route`].
    pub route: Option<String>,
    /// See [`Params::feature`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
    /// See [`Params::shift`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<f64>,
}

/// Answer of a start or stop: the incident's state here, and how many replicas the change
/// reached (absent when the service has no peers, or the call was passed on by a peer).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncidentChange {
    /// The state on this replica.
    #[serde(flatten)]
    pub state: IncidentState,
    /// Whether it was in progress before this call (for a stop: whether anything was stopped).
    pub was_active: bool,
    /// Where the change took effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Reach>,
}

/// Answer of the list endpoint.
#[derive(Debug, Serialize, Deserialize)]
pub struct IncidentList {
    /// The service's time warp K: durations here are in system seconds, K per wall second.
    #[serde(default = "crate::warp::real_time")]
    pub speed: u32,
    /// Every incident.
    pub incidents: Vec<IncidentState>,
}

/// An incident's state with its time left in system seconds (wall seconds times K).
fn in_system_time(mut s: IncidentState, speed: crate::warp::Speed) -> IncidentState {
    let k = f64::from(speed.get());
    s.remaining_seconds = s.remaining_seconds.map(|r| r * k);
    s
}

/// Every incident (or only those in progress), times in system seconds.
pub fn listed(state: &AppState, only_active: bool) -> IncidentList {
    IncidentList {
        speed: state.speed.get(),
        incidents: state
            .faults
            .states()
            .into_iter()
            .filter(|s| s.active || !only_active)
            .map(|s| in_system_time(s, state.speed))
            .collect(),
    }
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Passes an authorized incident change on to the peers, unless it came from one.
async fn pass_on(
    state: &AppState,
    headers: &HeaderMap,
    method: Method,
    name: &str,
    body: Vec<u8>,
) -> Option<Reach> {
    let token = state.admin_token.as_deref()?;
    if headers.contains_key(FORWARDED) || state.peers.is_empty() {
        return None;
    }
    let path = format!("{}/{name}", super::routes::ADMIN_INCIDENTS);
    Some(state.peers.pass_on(method, &path, token, body).await)
}

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = state.admin_token.as_deref() else {
        return Err(ApiError::Forbidden(
            "the admin API is off: start monlab with --admin-token or MONLAB_ADMIN_TOKEN".into(),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if same(g.as_bytes(), token.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::Unauthorized("wrong admin token".into())),
        None => Err(ApiError::Unauthorized(
            "missing admin token: send Authorization: Bearer <token>".into(),
        )),
    }
}

fn incident(name: &str) -> Result<Incident, ApiError> {
    Incident::from_name(name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no incident {:?} (known: {})",
            name.chars().take(40).collect::<String>(),
            Incident::ALL.map(Incident::name).join(", ")
        ))
    })
}

/// `GET /admin/incidents`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<IncidentList>, ApiError> {
    authorize(&state, &headers)?;
    Ok(Json(listed(&state, false)))
}

/// `GET /incidents`: the incidents in progress with their parameters, without a token. It
/// only reads; starting and stopping stay behind the admin token. The load generator polls it
/// to play the incidents that happen in the world (drift, missing features, new outcomes).
pub async fn public_list(State(state): State<AppState>) -> Json<IncidentList> {
    Json(listed(&state, true))
}

/// `POST /admin/incidents/{name}`.
pub async fn start(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<IncidentChange>, ApiError> {
    authorize(&state, &headers)?;
    let incident = incident(&name)?;
    // The body is optional: an empty one starts the incident with its defaults.
    let req: StartRequest = if body.iter().all(u8::is_ascii_whitespace) {
        StartRequest::default()
    } else {
        json_body(&body)?
    };
    let duration = match req.duration.as_deref() {
        None => DEFAULT_DURATION,
        Some(text) => match parse::duration(text).map(|d| *d) {
            Ok(d) if !d.is_zero() && d <= MAX_DURATION => d,
            Ok(_) => {
                return Err(ApiError::Unprocessable {
                    field: "for".into(),
                    message: "for must be more than 0 and at most 24h".into(),
                })
            }
            Err(e) => {
                return Err(ApiError::Unprocessable {
                    field: "for".into(),
                    message: format!("for: {e}"),
                })
            }
        },
    };
    let params = Params {
        share: req.share,
        seconds: req.seconds,
        route: req.route,
        feature: req.feature,
        shift: req.shift,
    }
    .resolve(incident, super::routes::WORK)
    .map_err(|e| ApiError::Unprocessable {
        field: e.field.into(),
        message: e.message,
    })?;
    let was_active = state.faults.is_active(incident);
    // `for` is system time; under the time warp it lasts K times less on the wall clock.
    let started = in_system_time(
        state
            .faults
            .start(incident, params, state.speed.scale(duration)),
        state.speed,
    );
    // Validated here first, so a peer gets only a change this replica accepted.
    let replicas = pass_on(&state, &headers, Method::POST, &name, body.to_vec()).await;
    Ok(Json(IncidentChange {
        state: started,
        was_active,
        replicas,
    }))
}

/// `DELETE /admin/incidents/{name}`.
pub async fn stop(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<IncidentChange>, ApiError> {
    authorize(&state, &headers)?;
    let incident = incident(&name)?;
    let was_active = state.faults.stop(incident);
    let replicas = pass_on(&state, &headers, Method::DELETE, &name, Vec::new()).await;
    Ok(Json(IncidentChange {
        state: in_system_time(state.faults.state(incident), state.speed),
        was_active,
        replicas,
    }))
}

/// Reads a JSON body the way `start` does: 400 for malformed JSON, 422 naming the field.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let message = format!("invalid body: {e}");
        if e.is_data() {
            ApiError::Unprocessable {
                field: message.split('`').nth(1).unwrap_or("body").to_string(),
                message,
            }
        } else {
            ApiError::BadRequest(message)
        }
    })
}

/// `POST /admin/scoreboard`: stores a played scenario's scoreboard (`monlab incident play`
/// sends it) for the lab page. The token is checked before the body is read.
pub async fn store_scoreboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<crate::lab::StoredScoreboard>, ApiError> {
    authorize(&state, &headers)?;
    let post: crate::lab::ScoreboardPost = json_body(&body)?;
    state.lab.store_scoreboard(post).map(Json)
}
