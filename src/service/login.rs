//! `POST /login`: stands in for an authorization microservice.
//!
//! A user's valid token is derived from the user id ([`valid_token`]), so the load generator
//! can log in correctly or, on purpose, wrongly. A wrong token is a 401, a client error; while
//! the `auth-down` incident runs every login is a 503, the critical outage of the design.

use super::error::{ApiError, JsonBody};
use super::random::validate_user;
use super::AppState;
use crate::api::login::{valid_token, LoginAnswer, LoginRequest};
use crate::incident::Incident;
use axum::extract::State;
use axum::Json;
use rand::Rng;
use std::time::Duration;

/// `POST /login`.
pub(crate) async fn login(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<LoginRequest>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    // Names the user for the exemplars and the access log, whatever the answer.
    let user = crate::telemetry::exemplars::RequestUser::of(&req.user);
    (user, authenticate(state, req).await).into_response()
}

async fn authenticate(state: AppState, req: LoginRequest) -> Result<Json<LoginAnswer>, ApiError> {
    validate_user(&req.user).map_err(|_| ApiError::Unprocessable {
        field: "user".into(),
        message: "user must be 1-64 characters of A-Z, a-z, 0-9, '_', '-', '.'".into(),
    })?;
    if req.token.is_empty() || req.token.len() > 256 {
        return Err(ApiError::Unprocessable {
            field: "token".into(),
            message: "token must be 1-256 characters".into(),
        });
    }
    if let Some(extra) = state.faults.slow_user_delay(&req.user) {
        tokio::time::sleep(extra).await;
    }
    // The call to the authorization service: a few milliseconds.
    let call = Duration::from_secs_f64(rand::rng().random_range(0.004..0.012));
    tokio::time::sleep(call).await;
    if state.faults.is_active(Incident::AuthDown) {
        state.metrics.login("unavailable");
        return Err(ApiError::Unavailable(
            "the authorization service is unavailable".into(),
        ));
    }
    if req.token != valid_token(&req.user) {
        state.metrics.login("bad_credentials");
        return Err(ApiError::Unauthorized("wrong user or token".into()));
    }
    state.metrics.login("success");
    Ok(Json(LoginAnswer {
        session: format!("{:032x}", rand::rng().random::<u128>()),
        user: req.user,
    }))
}
