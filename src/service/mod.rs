//! The simulated system: the router, its shared state and the server loop.
//!
//! See [`router`] for the routes and the order of the layers, and [`run`] for graceful
//! shutdown. One file per endpoint family.

pub mod error;
pub mod health;
pub mod random;
pub mod shed;

use crate::config::ServeConfig;
use crate::telemetry::http::HttpTelemetry;
use crate::telemetry::{exposition, Metrics};
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Route templates; these are the only values the `route` label takes besides `unmatched`.
pub mod routes {
    /// Random value after a random delay.
    pub const RANDOM: &str = "/random";
    /// The configured distributions.
    pub const DISTRIBUTIONS: &str = "/distributions";
    /// Liveness.
    pub const HEALTHZ: &str = "/healthz";
    /// Readiness.
    pub const READYZ: &str = "/readyz";
    /// Prometheus exposition.
    pub const METRICS: &str = "/metrics";
    /// Every template above.
    pub const ALL: &[&str] = &[RANDOM, DISTRIBUTIONS, HEALTHZ, READYZ, METRICS];
}

/// Shared state of the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Every metric family.
    pub metrics: Arc<Metrics>,
    /// Draws for `/random`.
    pub random: Arc<random::RandomSource>,
    /// Readiness.
    pub health: Arc<health::Health>,
    /// Load shedding.
    pub limiter: Arc<shed::Limiter>,
    /// Whether the golden-signal middleware runs.
    pub record_metrics: bool,
}

impl AppState {
    /// Builds the state from a validated config.
    pub fn new(cfg: &ServeConfig) -> Self {
        let metrics = Arc::new(Metrics::new(cfg));
        Self {
            limiter: Arc::new(shed::Limiter::new(
                cfg.concurrency_limit,
                metrics.http.concurrency_in_use.clone(),
            )),
            metrics,
            random: Arc::new(random::RandomSource::new(&cfg.random)),
            health: Arc::default(),
            record_metrics: cfg.metrics,
        }
    }
}

/// The application, without a socket (tests drive it with `oneshot`).
///
/// Layers, outermost first: golden signals (every route and the fallback, so shed and
/// unmatched requests are counted), then load shedding (work routes only), then the handler.
pub fn router(state: AppState) -> Router {
    let work = Router::new()
        .route(routes::RANDOM, get(random::random))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            shed::shed,
        ));
    let ops = Router::new()
        .route(routes::DISTRIBUTIONS, get(random::distributions))
        .route(routes::HEALTHZ, get(health::healthz))
        .route(routes::READYZ, get(health::readyz))
        .route(
            routes::METRICS,
            get(exposition::handler).with_state(state.metrics.clone()),
        );
    let app = work
        .merge(ops)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state.clone());
    if state.record_metrics {
        app.layer(axum::middleware::from_fn_with_state(
            HttpTelemetry::new(state.metrics.clone(), routes::ALL),
            crate::telemetry::http::record,
        ))
    } else {
        app
    }
}

/// Serves until `shutdown` resolves, then drains: reports unready, waits `drain_delay`,
/// stops accepting, and gives in-flight requests up to `shutdown_grace` to finish.
pub async fn run(
    cfg: &ServeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = AppState::new(cfg);
    let app = router(state.clone());
    let health = state.health.clone();
    let (drain_delay, grace) = (cfg.drain_delay, cfg.shutdown_grace);
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        health.start_draining();
        tracing::info!(drain_delay = ?drain_delay, grace = ?grace, "Shutdown requested; draining.");
        tokio::time::sleep(drain_delay).await;
        let _ = closed_tx.send(());
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(signal);
    let grace_over = async move {
        match closed_rx.await {
            Ok(()) => tokio::time::sleep(grace).await,
            // The server ended on its own; let the other branch report it.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        result = server => result?,
        () = grace_over => {
            tracing::warn!(
                in_flight = state.limiter.in_flight(),
                "Grace period over; abandoning unfinished requests."
            );
        }
    }
    tracing::info!("Stopped.");
    Ok(())
}
