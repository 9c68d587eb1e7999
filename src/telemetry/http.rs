//! The golden-signal middleware: traffic, latency, errors and in-flight for every request.
//!
//! It wraps every route and the fallback (added with `Router::layer`), so unmatched paths are
//! counted too, under the single route value `unmatched`. A request whose client goes away
//! before the answer is still counted, with code 499, when its future is dropped.

use super::labels::{
    method_label, ErrorKind, ErrorLabels, RequestLabels, RouteLabels, RouteMethodLabels, UNMATCHED,
};
use super::Metrics;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::Arc;
use std::time::Instant;

/// Status recorded for a request abandoned by its client (nginx's convention).
const CLIENT_CLOSED: u16 = 499;

/// What the middleware needs: the metrics and the route templates that may appear as labels.
#[derive(Debug, Clone)]
pub struct HttpTelemetry {
    metrics: Arc<Metrics>,
    routes: Arc<[&'static str]>,
}

impl HttpTelemetry {
    /// `routes` are the templates the router registers; anything else is `unmatched`.
    pub fn new(metrics: Arc<Metrics>, routes: &[&'static str]) -> Self {
        Self {
            metrics,
            routes: routes.into(),
        }
    }

    fn route_of(&self, req: &Request) -> &'static str {
        req.extensions()
            .get::<MatchedPath>()
            .and_then(|m| self.routes.iter().find(|r| **r == m.as_str()).copied())
            .unwrap_or(UNMATCHED)
    }
}

/// One request being measured; records on `finish`, or as 499 when dropped unfinished.
struct Measurement<'a> {
    metrics: &'a Metrics,
    method: &'static str,
    route: &'static str,
    start: Instant,
    in_flight: Gauge,
    done: bool,
}

impl<'a> Measurement<'a> {
    fn start(metrics: &'a Metrics, method: &'static str, route: &'static str) -> Self {
        let in_flight = metrics
            .http
            .in_flight
            .get_or_create(&RouteLabels { route })
            .clone();
        in_flight.inc();
        Self {
            metrics,
            method,
            route,
            start: Instant::now(),
            in_flight,
            done: false,
        }
    }

    fn finish(mut self, code: u16, kind: Option<ErrorKind>) {
        self.record(code, kind);
        self.done = true;
    }

    fn record(&self, code: u16, kind: Option<ErrorKind>) {
        let http = &self.metrics.http;
        let (method, route) = (self.method, self.route);
        http.duration
            .get_or_create(&RouteMethodLabels { method, route })
            .observe(self.start.elapsed().as_secs_f64());
        http.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                code,
            })
            .inc();
        if let Some(kind) = kind {
            http.errors
                .get_or_create(&ErrorLabels {
                    route,
                    kind: kind.as_str(),
                })
                .inc();
            if kind == ErrorKind::Overloaded {
                http.shed.get_or_create(&RouteLabels { route }).inc();
            }
        }
        self.in_flight.dec();
    }
}

impl Drop for Measurement<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.record(CLIENT_CLOSED, None);
        }
    }
}

/// The middleware function; add it with `axum::middleware::from_fn_with_state`.
pub async fn record(State(t): State<HttpTelemetry>, req: Request, next: Next) -> Response {
    let method = method_label(req.method());
    let route = t.route_of(&req);
    let measurement = Measurement::start(&t.metrics, method, route);
    let response = next.run(req).await;
    let status = response.status();
    let kind = if status.is_client_error() || status.is_server_error() {
        response
            .extensions()
            .get::<ErrorKind>()
            .copied()
            .or_else(|| ErrorKind::from_status(status))
    } else {
        None
    };
    measurement.finish(status.as_u16(), kind);
    response
}
