//! The admin API: start, stop and list incidents, and store the last scenario's scoreboard
//! for the lab page. Bearer-token protected; with no token configured it is off (403), so a
//! service started without one cannot be broken remotely.

use super::error::ApiError;
use super::peers::FORWARDED;
use super::{routes, AppState};
use crate::api::incident::{
    IncidentChange, IncidentList, IncidentState, Params, Reach, SlowUsers, DEFAULT_DURATION,
};
use crate::api::scoreboard::{ScoreboardPost, StoredScoreboard};
use crate::incident::Incident;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method};
use axum::Json;

/// An incident's state with its time left in system seconds (wall seconds times K).
fn in_system_time(mut s: IncidentState, speed: crate::warp::Speed) -> IncidentState {
    let k = f64::from(speed.get());
    s.remaining_seconds = s.remaining_seconds.map(|r| r * k);
    s
}

/// Every incident (or only those in progress), times in system seconds.
pub(crate) fn listed(state: &AppState, only_active: bool) -> IncidentList {
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
    let path = format!("{}/{name}", routes::ADMIN_INCIDENTS);
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
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<IncidentList>, ApiError> {
    authorize(&state, &headers)?;
    Ok(Json(listed(&state, false)))
}

/// `GET /incidents`: the incidents in progress with their parameters, without a token. It
/// only reads; starting and stopping stay behind the admin token. The load generator polls it
/// to play the incidents that happen in the world (drift, missing features, new outcomes).
pub(crate) async fn public_list(State(state): State<AppState>) -> Json<IncidentList> {
    Json(listed(&state, true))
}

/// `POST /admin/incidents/{name}`.
pub(crate) async fn start(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<IncidentChange>, ApiError> {
    authorize(&state, &headers)?;
    let incident = incident(&name)?;
    // The body is optional: an empty one starts the incident with its defaults.
    let req: Params = if body.iter().all(u8::is_ascii_whitespace) {
        Params::default()
    } else {
        json_body(&body)?
    };
    let params = incident
        .resolve(req, routes::WORK)
        .map_err(|e| ApiError::Unprocessable {
            field: e.field.into(),
            message: e.message,
        })?;
    let duration = params.duration.unwrap_or(DEFAULT_DURATION);
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
pub(crate) async fn stop(
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

/// Reads a JSON body as the `Json` extractor does (400 for malformed JSON, 422 naming the
/// field), for bodies read as bytes first: a start's may be empty, and the scoreboard's is read
/// only once the token was checked.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    Ok(Json::<T>::from_bytes(body)?.0)
}

/// `POST /admin/scoreboard`: stores a played scenario's scoreboard (`monlab incident play`
/// sends it) for the lab page. The token is checked before the body is read.
pub(crate) async fn store_scoreboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<StoredScoreboard>, ApiError> {
    authorize(&state, &headers)?;
    let post: ScoreboardPost = json_body(&body)?;
    state.lab.store_scoreboard(post).map(Json)
}

/// `GET /admin/slow-users`: the true set of users the slow-users incident slowed, so a test
/// can check what `monlab diagnose slow-requests` finds from the exemplars alone.
pub(crate) async fn slow_users(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<SlowUsers>, ApiError> {
    authorize(&state, &headers)?;
    Ok(Json(state.faults.slowed_users()))
}
