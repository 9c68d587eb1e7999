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

use super::access_log::{AccessLog, Entry};
use super::exemplars::{RequestContext, RequestId, RequestUser, UserId, REQUEST_ID_HEADER};
use super::labels::{
    method_index, ErrorKind, ErrorLabels, RequestLabels, RouteLabels, RouteMethodLabels, METHODS,
    UNMATCHED,
};
use super::Metrics;
use axum::extract::Request;
use axum::response::Response;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::gauge::Gauge;
use std::convert::Infallible;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::{Instant, SystemTime};

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
    /// Whether answers leave exemplars (a copy of [`super::HttpMetrics::exemplars`]).
    exemplars: bool,
    /// Where each answer writes a JSON line, if anywhere.
    access_log: Option<AccessLog>,
}

#[derive(Debug, Default)]
struct RouteSlot {
    in_flight: OnceLock<Gauge>,
    methods: [MethodSlot; METHODS.len()],
}

#[derive(Debug, Default)]
struct MethodSlot {
    duration: OnceLock<HistogramWithExemplars<RequestContext>>,
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
        Self::with_access_log(metrics, routes, None)
    }

    /// As [`HttpTelemetry::new`], and every answer also writes one line to `access_log`.
    pub fn with_access_log(
        metrics: Arc<Metrics>,
        routes: &[&'static str],
        access_log: Option<AccessLog>,
    ) -> Self {
        let mut matcher = matchit::Router::new();
        for (i, route) in routes.iter().enumerate() {
            if let Err(e) = matcher.insert(*route, i) {
                panic!("route template {route} conflicts with another: {e}");
            }
        }
        let access_log =
            access_log.map(|l| l.counting_drops_in(metrics.http.access_log_dropped.clone()));
        Self(Arc::new(Resolved {
            exemplars: metrics.http.exemplars,
            access_log,
            metrics,
            routes: routes.into(),
            matcher,
            slots: (0..=routes.len()).map(|_| RouteSlot::default()).collect(),
        }))
    }

    /// Names a request: its id from the client's `x-request-id` (or a new one), and the
    /// `user` of its query string when exemplars or the access log will show it.
    pub fn context(&self, id: Option<&http::HeaderValue>, query: Option<&str>) -> RequestContext {
        let wants_user = self.0.exemplars || self.0.access_log.is_some();
        RequestContext {
            request_id: RequestId::from_header(id),
            user_id: query.filter(|_| wants_user).and_then(UserId::from_query),
        }
    }

    /// Starts measuring a request: resolves its labels the way the middleware does (method
    /// by name, route template from the path) and counts it in flight; `ctx` names it for
    /// the exemplars and the access log. Public so the hot-path benchmark measures exactly
    /// what every request does.
    pub fn start(&self, method: &http::Method, path: &str, ctx: RequestContext) -> Measurement {
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
            ctx,
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
    ctx: RequestContext,
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
        let r = &*self.t.0;
        let http = &r.metrics.http;
        let (method, route) = (METHODS[self.method], self.route_label());
        let slot = &r.slots[self.route].methods[self.method];
        let latency = self.start.elapsed().as_secs_f64();
        // One clock read serves the exemplars (Prometheus keeps it as their time) and the log.
        let at = (r.exemplars || r.access_log.is_some()).then(SystemTime::now);
        let exemplar = r.exemplars.then_some(self.ctx);
        slot.duration
            .get_or_init(|| {
                http.duration
                    .get_or_create(&RouteMethodLabels { method, route })
                    .clone()
            })
            .observe(latency, exemplar, at);
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
                .inc_by(1, exemplar, at);
            if kind == ErrorKind::Overloaded {
                http.shed.get_or_create(&RouteLabels { route }).inc();
            }
        }
        self.in_flight().dec();
        if let (Some(log), Some(at)) = (&r.access_log, at) {
            log.write(&Entry {
                at,
                ctx: &self.ctx,
                method,
                route,
                status: code,
                latency,
            });
        }
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
        let given = req.headers().get(REQUEST_ID_HEADER);
        let ctx = self.telemetry.context(given, req.uri().query());
        // A client's id goes back as it came: a reference count, not a copy.
        let echo = match ctx.request_id {
            RequestId::Given(_) => given.cloned(),
            RequestId::Made(_) => None,
        };
        let measurement = self.telemetry.start(req.method(), req.uri().path(), ctx);
        Recording {
            inner: self.inner.call(req),
            measurement: Some(measurement),
            echo,
            scoped: self.telemetry.0.exemplars,
        }
    }
}

/// The response future of [`GoldenSignals`]: records the answer when it is ready, or 499
/// when dropped before (the client went away).
#[derive(Debug)]
pub struct Recording<F> {
    inner: F,
    measurement: Option<Measurement>,
    /// The client's `x-request-id`, returned as is.
    echo: Option<http::HeaderValue>,
    /// Whether handlers see the request's ids (exemplars on), for their own exemplars.
    scoped: bool,
}

impl<F> Future for Recording<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let inner = Pin::new(&mut this.inner);
        let polled = match &this.measurement {
            Some(m) if this.scoped => super::exemplars::scope(m.ctx, || inner.poll(cx)),
            _ => inner.poll(cx),
        };
        let Ok(mut response) = ready!(polled);
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
        if let Some(mut measurement) = this.measurement.take() {
            let id = this
                .echo
                .take()
                .unwrap_or_else(|| measurement.ctx.request_id.header_value());
            response.headers_mut().insert(REQUEST_ID_HEADER, id);
            if measurement.ctx.user_id.is_none() {
                let user = response.extensions().get::<RequestUser>();
                measurement.ctx.user_id = user.map(|u| u.0);
            }
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

    fn ctx() -> RequestContext {
        RequestContext {
            request_id: RequestId::fresh(),
            user_id: None,
        }
    }

    #[test]
    fn cached_handles_count_in_the_same_series_as_lookups() {
        let metrics = Arc::new(Metrics::new(
            &ServeConfig::default().metrics(),
            &Faults::default(),
        ));
        let t = HttpTelemetry::new(metrics.clone(), &["/random", "/login"]);
        let get = http::Method::GET;
        for _ in 0..3 {
            t.start(&get, "/random", ctx()).finish(200, None);
        }
        t.start(&http::Method::POST, "/login", ctx())
            .finish(401, Some(ErrorKind::Unauthorized));
        t.start(&get, "/nowhere", ctx()).finish(999, None);
        let open = t.start(&get, "/random", ctx());
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
        assert_eq!(errors.get().0, 1);
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
