//! The golden-signal middleware: traffic, latency, errors and in-flight for every request.
//!
//! It wraps the whole router, so unmatched paths are counted too, under the single route value
//! `unmatched`. A request whose client goes away before the answer is still counted, with
//! code 499, when its future is dropped.
//!
//! See [`GoldenSignalsLayer`]. It is a plain tower layer around the router rather than
//! `middleware::from_fn` or `Router::layer`: the first boxes and clones per request, and the
//! second wraps every route in one more boxed service, each costing more than the metrics
//! themselves (docs/benchmarks.md). Outside the router there is no `MatchedPath` yet, so the
//! layer finds the route template itself, with the same matcher axum uses.

use super::labels::{
    method_index, ErrorKind, ErrorLabels, RequestLabels, RouteLabels, RouteMethodLabels, METHODS,
    UNMATCHED,
};
use super::Metrics;
use axum::extract::Request;
use axum::response::Response;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use std::convert::Infallible;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::Instant;

/// Status recorded for a request abandoned by its client (nginx's convention).
const CLIENT_CLOSED: u16 = 499;

/// Codes whose counters are cached per route and method: every code HTTP defines. Anything
/// else (`http` allows up to 999) is looked up in the family each time.
const CACHED_CODES: Range<u16> = 100..600;

/// What the middleware needs: the metrics, the route templates that may appear as labels,
/// and the series handles resolved so far.
///
/// Looking a label set up in a [`Family`](prometheus_client::metrics::family::Family) takes
/// its lock and hashes the labels; doing that three times per request, on two cores at once,
/// was most of the middleware's cost. So each (route, method) and (route, method, code) keeps
/// the handle of its series once the first request has created it: later requests go straight
/// to the atomics. Series still appear only when first used, exactly as with the lookups.
#[derive(Debug, Clone)]
pub struct HttpTelemetry(Arc<Resolved>);

#[derive(Debug)]
struct Resolved {
    metrics: Arc<Metrics>,
    /// Route templates; the index `routes.len()` stands for [`UNMATCHED`].
    routes: Box<[&'static str]>,
    /// A path's template, found as the router finds it.
    matcher: matchit::Router<usize>,
    /// One per route, and one more for `unmatched`.
    slots: Box<[RouteSlot]>,
}

#[derive(Debug, Default)]
struct RouteSlot {
    in_flight: OnceLock<Gauge>,
    methods: [MethodSlot; METHODS.len()],
}

#[derive(Debug, Default)]
struct MethodSlot {
    duration: OnceLock<Histogram>,
    /// Indexed by code minus [`CACHED_CODES`]' start; made on the first answer.
    requests: OnceLock<Box<[OnceLock<Counter>]>>,
}

impl HttpTelemetry {
    /// `routes` are the templates the router registers (axum's syntax); any other path is
    /// `unmatched`.
    ///
    /// Panics if two templates conflict, as axum's router does on the same templates: a
    /// programming error, found at start-up.
    pub fn new(metrics: Arc<Metrics>, routes: &[&'static str]) -> Self {
        let mut matcher = matchit::Router::new();
        for (i, route) in routes.iter().enumerate() {
            if let Err(e) = matcher.insert(*route, i) {
                panic!("route template {route} conflicts with another: {e}");
            }
        }
        Self(Arc::new(Resolved {
            metrics,
            routes: routes.into(),
            matcher,
            slots: (0..=routes.len()).map(|_| RouteSlot::default()).collect(),
        }))
    }

    /// Starts measuring a request: resolves its labels the way the middleware does (method
    /// by name, route template from the path) and counts it in flight. Public so the
    /// hot-path benchmark measures exactly what every request does.
    pub fn start(&self, method: &http::Method, path: &str) -> Measurement {
        let route = self
            .0
            .matcher
            .at(path)
            .map_or(self.0.routes.len(), |m| *m.value);
        let measurement = Measurement {
            t: self.clone(),
            route,
            method: method_index(method),
            start: Instant::now(),
            done: false,
        };
        measurement.in_flight().inc();
        measurement
    }
}

/// One request being measured; records on `finish`, or as 499 when dropped unfinished.
#[derive(Debug)]
pub struct Measurement {
    t: HttpTelemetry,
    route: usize,
    method: usize,
    start: Instant,
    done: bool,
}

impl Measurement {
    /// Records the answer: status `code`, and the error `kind` of an error response.
    pub fn finish(mut self, code: u16, kind: Option<ErrorKind>) {
        self.record(code, kind);
        self.done = true;
    }

    fn route_label(&self) -> &'static str {
        self.t
            .0
            .routes
            .get(self.route)
            .copied()
            .unwrap_or(UNMATCHED)
    }

    fn in_flight(&self) -> &Gauge {
        self.t.0.slots[self.route].in_flight.get_or_init(|| {
            let route = self.route_label();
            self.t
                .0
                .metrics
                .http
                .in_flight
                .get_or_create(&RouteLabels { route })
                .clone()
        })
    }

    fn record(&self, code: u16, kind: Option<ErrorKind>) {
        let http = &self.t.0.metrics.http;
        let (method, route) = (METHODS[self.method], self.route_label());
        let slot = &self.t.0.slots[self.route].methods[self.method];
        slot.duration
            .get_or_init(|| {
                http.duration
                    .get_or_create(&RouteMethodLabels { method, route })
                    .clone()
            })
            .observe(self.start.elapsed().as_secs_f64());
        let labels = || RequestLabels {
            method,
            route,
            code,
        };
        if CACHED_CODES.contains(&code) {
            let codes = slot
                .requests
                .get_or_init(|| CACHED_CODES.map(|_| OnceLock::new()).collect());
            codes[usize::from(code - CACHED_CODES.start)]
                .get_or_init(|| http.requests.get_or_create(&labels()).clone())
                .inc();
        } else {
            http.requests.get_or_create(&labels()).inc();
        }
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
        self.in_flight().dec();
    }
}

impl Drop for Measurement {
    fn drop(&mut self) {
        if !self.done {
            self.record(CLIENT_CLOSED, None);
        }
    }
}

/// The golden-signal layer; wrap the whole router with it (`layer.layer(router)`), so it sees
/// every request, matched or not.
#[derive(Debug, Clone)]
pub struct GoldenSignalsLayer(HttpTelemetry);

impl GoldenSignalsLayer {
    /// Measures every request with `telemetry`.
    pub fn new(telemetry: HttpTelemetry) -> Self {
        Self(telemetry)
    }
}

impl<S> tower::Layer<S> for GoldenSignalsLayer {
    type Service = GoldenSignals<S>;

    fn layer(&self, inner: S) -> GoldenSignals<S> {
        GoldenSignals {
            inner,
            telemetry: self.0.clone(),
        }
    }
}

/// A service (the router) wrapped by [`GoldenSignalsLayer`].
#[derive(Debug, Clone)]
pub struct GoldenSignals<S> {
    inner: S,
    telemetry: HttpTelemetry,
}

impl<S> tower::Service<Request> for GoldenSignals<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Recording<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let measurement = self.telemetry.start(req.method(), req.uri().path());
        Recording {
            inner: self.inner.call(req),
            measurement: Some(measurement),
        }
    }
}

/// The response future of [`GoldenSignals`]: records the answer when it is ready, or 499
/// when dropped before (the client went away).
#[derive(Debug)]
pub struct Recording<F> {
    inner: F,
    measurement: Option<Measurement>,
}

impl<F> Future for Recording<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Ok(response) = ready!(Pin::new(&mut this.inner).poll(cx));
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
        if let Some(measurement) = this.measurement.take() {
            measurement.finish(status.as_u16(), kind);
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::Faults;
    use crate::service::ServeConfig;

    #[test]
    fn cached_handles_count_in_the_same_series_as_lookups() {
        let metrics = Arc::new(Metrics::new(
            &ServeConfig::default().metrics(),
            &Faults::default(),
        ));
        let t = HttpTelemetry::new(metrics.clone(), &["/random", "/login"]);
        let get = http::Method::GET;
        for _ in 0..3 {
            t.start(&get, "/random").finish(200, None);
        }
        t.start(&http::Method::POST, "/login")
            .finish(401, Some(ErrorKind::Unauthorized));
        t.start(&get, "/nowhere").finish(999, None);
        let open = t.start(&get, "/random");
        let http = &metrics.http;
        let route = |route| RouteLabels { route };
        assert_eq!(http.in_flight.get_or_create(&route("/random")).get(), 1);
        drop(open);

        let requests = |method, route, code| {
            http.requests
                .get_or_create(&RequestLabels {
                    method,
                    route,
                    code,
                })
                .get()
        };
        assert_eq!(requests("GET", "/random", 200), 3);
        assert_eq!(requests("GET", "/random", CLIENT_CLOSED), 1);
        assert_eq!(requests("POST", "/login", 401), 1);
        assert_eq!(requests("GET", UNMATCHED, 999), 1);
        let errors = http.errors.get_or_create(&ErrorLabels {
            route: "/login",
            kind: "unauthorized",
        });
        assert_eq!(errors.get(), 1);
        for r in ["/random", "/login", UNMATCHED] {
            assert_eq!(http.in_flight.get_or_create(&route(r)).get(), 0, "{r}");
        }
        let text = String::from_utf8(
            metrics
                .encode(super::super::exposition::Format::Text)
                .unwrap(),
        )
        .unwrap();
        let count = |needle: &str| {
            text.lines()
                .find(|l| l.starts_with(needle))
                .unwrap_or_else(|| panic!("no {needle} in {text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            count(r#"monlab_http_request_duration_seconds_count{method="GET",route="/random"}"#),
            "4"
        );
    }

    #[tokio::test]
    async fn the_layer_labels_requests_with_the_template_the_router_matches() {
        use axum::routing::get;
        use tower::{Layer, ServiceExt};
        let metrics = Arc::new(Metrics::new(
            &ServeConfig::default().metrics(),
            &Faults::default(),
        ));
        let templates = ["/items/{id}", "/files/{*path}", "/"];
        let router = axum::Router::new()
            .route("/items/{id}", get(|| async { "item" }))
            .route("/files/{*path}", get(|| async { "file" }))
            .route("/", get(|| async { "root" }));
        let app =
            GoldenSignalsLayer::new(HttpTelemetry::new(metrics.clone(), &templates)).layer(router);
        for (method, path, code) in [
            ("GET", "/items/7", 200),
            ("GET", "/files/a/b.txt", 200),
            ("GET", "/", 200),
            ("GET", "/items", 404),
            ("POST", "/items/7", 405),
        ] {
            let req = Request::builder()
                .method(method)
                .uri(path)
                .body(axum::body::Body::empty())
                .unwrap();
            let res = app.clone().oneshot(req).await.unwrap();
            assert_eq!(res.status().as_u16(), code, "{method} {path}");
        }
        let requests = |method, route, code| {
            metrics
                .http
                .requests
                .get_or_create(&RequestLabels {
                    method,
                    route,
                    code,
                })
                .get()
        };
        assert_eq!(requests("GET", "/items/{id}", 200), 1);
        assert_eq!(requests("GET", "/files/{*path}", 200), 1);
        assert_eq!(requests("GET", "/", 200), 1);
        assert_eq!(requests("GET", UNMATCHED, 404), 1);
        assert_eq!(requests("POST", "/items/{id}", 405), 1);
    }
}
