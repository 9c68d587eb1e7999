//! The simulated system: the router, its shared state and the server loop.
//!
//! See [`router`] for the routes and the order of the layers, and [`run`] for graceful
//! shutdown. One file per endpoint family.

pub(crate) mod admin;
pub(crate) mod alerts;
pub(crate) mod config;
pub(crate) mod error;
pub(crate) mod feedback;
pub(crate) mod health;
pub(crate) mod inject;
pub(crate) mod lab;
pub(crate) mod login;
pub(crate) mod peers;
pub(crate) mod predict;
pub(crate) mod random;
pub(crate) mod shed;

use crate::api::routes;
use crate::incident::{Faults, Incident};
use crate::telemetry::access_log::AccessLog;
use crate::telemetry::http::{GoldenSignals, GoldenSignalsLayer, HttpTelemetry};
use crate::telemetry::{exposition, Metrics};
use axum::routing::get;
use axum::Router;
pub use config::{LabConfig, ModelConfig, RandomConfig, ServeConfig};
use std::future::{Future, IntoFuture};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Shared state of the handlers, behind one reference count: every layer and extractor
/// clones the state for each request, and with ten reference counts bouncing between two
/// cores those clones cost more than the golden-signal metrics (measured in
/// docs/benchmarks.md). Fields are reached through `Deref`.
#[derive(Debug, Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct SharedState {
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
    /// What is broken now.
    pub faults: Arc<Faults>,
    /// The model and its fallback.
    pub predictor: Arc<predict::Predictor>,
    /// Recent predictions, drift and quality windows of the model.
    pub monitor: Arc<predict::ModelMonitor>,
    /// Received alert notifications.
    pub alert_log: Arc<alerts::AlertLog>,
    /// Admin API token; `None` turns the admin API off.
    pub admin_token: Option<Arc<str>>,
    /// The other replicas, which incident changes are passed on to.
    pub peers: Arc<peers::Peers>,
    /// The time warp: durations of the system (incidents, windows) are divided by it.
    pub speed: crate::warp::Speed,
    /// The lab page's upstreams and last scoreboard.
    pub lab: Arc<lab::Lab>,
}

impl AppState {
    /// Builds the state from a validated config.
    pub fn new(cfg: &ServeConfig) -> Self {
        let faults = Arc::new(Faults::default());
        let metrics = Arc::new(Metrics::new(&cfg.metrics(), &faults));
        // Shed counters exist from the start, so "no shedding" reads 0, not "no data".
        for route in routes::WORK {
            let _ = metrics
                .http
                .shed
                .get_or_create(&crate::telemetry::labels::RouteLabels { route });
        }
        let model = crate::ml::model::Model::shipped();
        metrics.ml.set_model_info(&model.version, &model.trained_at);
        Self(Arc::new(SharedState {
            faults,
            monitor: Arc::new(predict::ModelMonitor::new(
                crate::ml::reference::Reference::shipped().clone(),
                cfg.speed,
            )),
            predictor: Arc::new(predict::Predictor::new(
                model,
                cfg.model.latency.sampler(),
                cfg.model.timeout,
                cfg.model.holdout_share,
            )),
            alert_log: Arc::default(),
            admin_token: cfg.admin_token.as_deref().map(Arc::from),
            peers: Arc::new(peers::Peers::new(&cfg.peers)),
            speed: cfg.speed,
            lab: Arc::new(lab::Lab::new(&cfg.lab)),
            limiter: Arc::new(shed::Limiter::new(
                cfg.concurrency_limit,
                metrics.http.concurrency_in_use.clone(),
            )),
            metrics,
            random: Arc::new(random::RandomSource::new(&cfg.random)),
            health: Arc::default(),
            record_metrics: cfg.metrics,
        }))
    }
}

/// The application, without a socket (tests drive it with `oneshot`).
///
/// Layers, outermost first: load shedding and then fault injection (work routes only), then
/// the handler. [`run`] wraps the whole router in the golden-signal layer (see [`measured`]),
/// so shed, injected and unmatched requests are counted.
pub fn router(state: AppState) -> Router {
    use axum::routing::{delete, post};
    let work = Router::new()
        .route(routes::RANDOM, get(random::random))
        .route(routes::LOGIN, post(login::login))
        .route(routes::PREDICT, post(predict::predict))
        // route_layer: the last added runs first, so shedding decides before faults apply.
        .route_layer(inject::InjectLayer::new(state.clone()))
        .route_layer(shed::ShedLayer::new(state.limiter.clone()));
    let ops = Router::new()
        .route(routes::DISTRIBUTIONS, get(random::distributions))
        .route(routes::ALERTS_WEBHOOK, post(alerts::webhook))
        .route(routes::ALERTS_NOTIFICATIONS, get(alerts::list))
        .route(routes::ALERTS_HEARTBEAT, get(alerts::heartbeat))
        .route(routes::FEEDBACK, post(feedback::feedback))
        .route(routes::INCIDENTS, get(admin::public_list))
        .route(routes::ADMIN_INCIDENTS, get(admin::list))
        .route(
            routes::ADMIN_INCIDENT,
            post(admin::start).merge(delete(admin::stop)),
        )
        .route(routes::ADMIN_SCOREBOARD, post(admin::store_scoreboard))
        .route(routes::ADMIN_SLOW_USERS, get(admin::slow_users))
        .route(routes::HEALTHZ, get(health::healthz))
        .route(routes::READYZ, get(health::readyz))
        .route(
            routes::METRICS,
            get(exposition::handler).with_state(state.metrics.clone()),
        );
    work.merge(ops)
        .merge(lab::router())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}

/// The router inside the golden-signal layer: what `run` serves when metrics are on; each
/// answer also writes a line to `access_log`, if given.
pub fn measured(
    state: &AppState,
    router: Router,
    access_log: Option<AccessLog>,
) -> GoldenSignals<Router> {
    use tower::Layer;
    let telemetry = HttpTelemetry::with_access_log(state.metrics.clone(), routes::ALL, access_log);
    GoldenSignalsLayer::new(telemetry).layer(router)
}

/// Serves until `shutdown` resolves, then drains: reports unready, waits `drain_delay`,
/// stops accepting, and gives in-flight requests up to `shutdown_grace` to finish.
pub async fn run(
    cfg: &ServeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let access_log = cfg.access_log.as_ref().map(AccessLog::open).transpose()?;
    if access_log.is_some() && !cfg.metrics {
        tracing::warn!(
            "--metrics false removes the layer that writes the access log: none is written"
        );
    }
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
    let ticker = tokio::spawn(keep_faults_current(state.clone()));
    let ml_ticker = tokio::spawn(keep_model_monitoring_current(state.clone()));
    // A make-service that clones the app: serving the Router itself rebuilds its route maps
    // for every new connection (about 7 KB each with these routes).
    let server: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> =
        if state.record_metrics {
            let app = tower::make::Shared::new(measured(&state, app, access_log));
            Box::pin(
                axum::serve(listener, app)
                    .with_graceful_shutdown(signal)
                    .into_future(),
            )
        } else {
            Box::pin(
                axum::serve(listener, app.into_make_service())
                    .with_graceful_shutdown(signal)
                    .into_future(),
            )
        };
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
    ticker.abort();
    ml_ticker.abort();
    tracing::info!("Stopped.");
    Ok(())
}

/// How often drift and feedback quality are recomputed: often enough that a 1 s scrape sees
/// a window at most 5 s old, rarely enough that sorting the windows costs nothing.
pub const MODEL_MONITORING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Recomputes the drift and quality gauges from their windows.
pub fn refresh_model_monitoring(state: &AppState) {
    let now = std::time::Instant::now();
    state.metrics.ml.set_drift(&state.monitor.drift.report(now));
    state.metrics.ml.set_quality(
        &state.monitor.decided.quality(now),
        &state.monitor.holdout.quality(now),
        state.monitor.store.len(),
    );
}

async fn keep_model_monitoring_current(state: AppState) {
    // Under the time warp the windows are K times shorter, and so is their refresh.
    let mut tick = tokio::time::interval(state.speed.scale(MODEL_MONITORING_INTERVAL));
    loop {
        tick.tick().await;
        // Sorting the windows is CPU work: keep it off the request threads' hot path.
        let s = state.clone();
        let _ = tokio::task::spawn_blocking(move || refresh_model_monitoring(&s)).await;
    }
}

/// Ends incidents whose time is up and keeps the burst's phantom requests in the limiter.
async fn keep_faults_current(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
    loop {
        tick.tick().await;
        state.faults.expire();
        let phantom = state.faults.params(Incident::Burst).map_or(0, |p| {
            (p.share.unwrap_or(0.0) * state.limiter.limit() as f64).round() as usize
        });
        state.limiter.set_phantom(phantom);
    }
}
