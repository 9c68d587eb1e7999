//! The fault layer: route-wide incidents (extra latency, an error share) applied before the
//! handler. It sits inside the golden-signal layer, so injected faults are measured exactly
//! like real ones.

use super::error::ApiError;
use super::AppState;
use crate::faults::Incident;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use std::time::Duration;

/// The middleware; add it with `route_layer` to the work routes.
pub async fn inject(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str());
    let on_route = |p: &crate::faults::Params| p.route.as_deref() == route;
    if let Some(p) = state.faults.params(Incident::ExtraLatency).filter(on_route) {
        tokio::time::sleep(Duration::from_secs_f64(p.seconds.unwrap_or(0.5))).await;
    }
    if let Some(p) = state.faults.params(Incident::ErrorShare).filter(on_route) {
        if rand::rng().random::<f64>() < p.share.unwrap_or(0.0) {
            return ApiError::Injected.into_response();
        }
    }
    next.run(req).await
}
