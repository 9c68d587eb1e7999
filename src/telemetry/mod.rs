//! Everything measured about the service: the golden-signal metrics, the `/random`
//! distributions, process and build facts, and their exposition on `/metrics`.
//!
//! See [`Metrics`] for the families and [`http::record`] for the middleware that feeds the
//! golden signals. Handlers never touch the golden-signal families themselves.

pub mod access_log;
pub mod buckets;
pub mod exemplars;
pub mod exposition;
pub mod http;
pub(crate) mod labels;
pub(crate) mod ml;
pub(crate) mod process;
pub(crate) mod summary;

use exemplars::RequestContext;
use labels::{BuildLabels, ErrorLabels, RequestLabels, RouteLabels, RouteMethodLabels};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::{CounterWithExemplar, HistogramWithExemplars};
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, NativeHistogramConfig};
use prometheus_client::registry::{Registry, Unit};
use std::sync::Arc;
use std::time::Duration;
use summary::WindowedSummary;

/// Native-histogram resolution: schema 5, neighbouring boundaries 2^(1/32) ≈ 2.2% apart,
/// fine enough for `recover` to reach a KS distance under 0.01.
const NATIVE_SCHEMA: i8 = 5;

/// Builds histograms with a fixed bucket layout for a [`Family`].
#[derive(Debug, Clone)]
pub struct Buckets(Arc<[f64]>);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

impl MetricConstructor<HistogramWithExemplars<RequestContext>> for Buckets {
    fn new_metric(&self) -> HistogramWithExemplars<RequestContext> {
        HistogramWithExemplars::new(self.0.iter().copied())
    }
}

/// The golden signals, per route.
#[derive(Debug)]
pub struct HttpMetrics {
    /// Traffic and errors: requests by method, route and code.
    pub requests: Family<RequestLabels, Counter>,
    /// Latency: request duration by method and route, with the request and user id of the
    /// last request per bucket as exemplars.
    pub duration: Family<RouteMethodLabels, HistogramWithExemplars<RequestContext>, Buckets>,
    /// Errors by route and kind (client and server), the last failed request as exemplar.
    pub errors: Family<ErrorLabels, CounterWithExemplar<RequestContext>>,
    /// Whether observations carry exemplars.
    pub exemplars: bool,
    /// Saturation: requests being served now.
    pub in_flight: Family<RouteLabels, Gauge>,
    /// Saturation: requests rejected by load shedding.
    pub shed: Family<RouteLabels, Counter>,
    /// Saturation: the configured concurrency limit.
    pub concurrency_limit: Gauge,
    /// Saturation: work requests holding a slot of the limit now.
    pub concurrency_in_use: Gauge,
    /// Access log lines dropped because its writer fell behind (0 without an access log).
    pub access_log_dropped: Counter,
}

/// The distributions of `/random`'s value and delay.
#[derive(Debug)]
pub struct RandomMetrics {
    value: Histogram,
    delay: HistogramWithExemplars<RequestContext>,
    exemplars: bool,
    value_native: Histogram,
    delay_native: Histogram,
    recent_delay: Arc<WindowedSummary>,
}

impl RandomMetrics {
    /// Records one answer of `/random`, with `request`'s ids as the delay's exemplar.
    pub fn observe(&self, value: f64, delay_seconds: f64, request: Option<RequestContext>) {
        self.value.observe(value);
        self.value_native.observe(value);
        match request.filter(|_| self.exemplars) {
            Some(r) => {
                self.delay
                    .observe(delay_seconds, Some(r), Some(std::time::SystemTime::now()))
            }
            None => self.delay.observe(delay_seconds, None, None),
        }
        self.delay_native.observe(delay_seconds);
        self.recent_delay.observe(delay_seconds);
    }
}

/// What the metrics are shaped by: the distributions their buckets follow, the limit they
/// report, and the time warp their windows are scaled by.
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    /// What `/random` draws as its value.
    pub value: crate::distribution::Distribution,
    /// What `/random` draws as its delay, in seconds.
    pub delay: crate::distribution::Distribution,
    /// Requests served at once before load shedding.
    pub concurrency_limit: usize,
    /// The time warp.
    pub speed: crate::warp::Speed,
    /// Whether the latency and delay histograms and the error counter carry exemplars.
    pub exemplars: bool,
}

impl HttpMetrics {
    /// The families, with duration buckets from `cfg`'s delay distribution.
    fn new(cfg: &MetricsConfig) -> Self {
        let http = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(Buckets(
                buckets::duration_buckets(&cfg.delay).into(),
            )),
            errors: Family::default(),
            exemplars: cfg.exemplars,
            in_flight: Family::default(),
            shed: Family::default(),
            concurrency_limit: Gauge::default(),
            concurrency_in_use: Gauge::default(),
            access_log_dropped: Counter::default(),
        };
        http.concurrency_limit
            .set(i64::try_from(cfg.concurrency_limit).unwrap_or(i64::MAX));
        http
    }

    fn register(&self, m: &mut Registry) {
        m.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status code",
            self.requests.clone(),
        );
        m.register_with_unit(
            "http_request_duration",
            "Time from request to response, by method and route template",
            Unit::Seconds,
            self.duration.clone(),
        );
        m.register(
            "http_errors",
            "HTTP error responses (4xx and 5xx) by route template and error kind",
            self.errors.clone(),
        );
        m.register(
            "http_requests_in_flight",
            "HTTP requests being served now, by route template",
            self.in_flight.clone(),
        );
        m.register(
            "http_requests_shed",
            "HTTP requests rejected with 503 because the concurrency limit was reached",
            self.shed.clone(),
        );
        m.register(
            "http_concurrency_limit",
            "Requests served at once before load shedding starts",
            self.concurrency_limit.clone(),
        );
        m.register(
            "http_concurrency_in_use",
            "Work requests holding a slot of the concurrency limit now",
            self.concurrency_in_use.clone(),
        );
    }
}

impl RandomMetrics {
    /// Classic buckets from `cfg`'s distributions, native ones at [`NATIVE_SCHEMA`].
    fn new(cfg: &MetricsConfig) -> Self {
        let native_cfg = NativeHistogramConfig::with_schema(NATIVE_SCHEMA);
        Self {
            value: Histogram::new(buckets::value_buckets(&cfg.value)),
            delay: HistogramWithExemplars::new(buckets::delay_buckets(&cfg.delay).into_iter()),
            exemplars: cfg.exemplars,
            value_native: Histogram::new_native(native_cfg),
            delay_native: Histogram::new_native(native_cfg),
            recent_delay: Arc::new(WindowedSummary::new(
                "monlab_random_recent_delay_seconds",
                "Delay of /random answers: quantiles over the last 60 s (of system time), cumulative sum and count",
                &[0.5, 0.9, 0.99],
                cfg.speed.scale(Duration::from_secs(60)),
                6,
            )),
        }
    }

    /// Registers the classic histograms in `m`, the native ones in `native`.
    fn register(&self, m: &mut Registry, native: &mut Registry) {
        m.register(
            "random_value",
            "Values returned by /random (classic buckets)",
            self.value.clone(),
        );
        m.register_with_unit(
            "random_delay",
            "Delays of /random answers (classic buckets)",
            Unit::Seconds,
            self.delay.clone(),
        );
        native.register(
            "random_value_native",
            "Values returned by /random (native histogram, protobuf only)",
            self.value_native.clone(),
        );
        native.register_with_unit(
            "random_delay_native",
            "Delays of /random answers (native histogram, protobuf only)",
            Unit::Seconds,
            self.delay_native.clone(),
        );
    }
}

/// Registers the build facts and the time warp K, constant for the process's life.
fn register_build_and_speed(m: &mut Registry, k: crate::warp::Speed) {
    let build = Family::<BuildLabels, Gauge>::default();
    build
        .get_or_create(&BuildLabels {
            version: env!("CARGO_PKG_VERSION"),
            commit: option_env!("MONLAB_GIT_COMMIT").unwrap_or("unknown"),
        })
        .set(1);
    m.register(
        "build_info",
        "Build facts of the running binary in labels; the value is always 1",
        build,
    );
    // The time warp K, so that readers of the stored metrics (monlab report) can tell
    // wall seconds from system seconds.
    let speed = Gauge::<i64>::default();
    speed.set(i64::from(k.get()));
    m.register(
        "time_warp_speed",
        "Time warp K the service runs at: one wall second is K seconds of system time",
        speed,
    );
}

/// A result or status label from a fixed list.
#[derive(Debug, Clone, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct ResultLabels {
    /// The result.
    pub result: &'static str,
}

/// Alert notifications received, by severity and status.
#[derive(Debug, Clone, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct AlertLabels {
    /// `critical`, `major`, `minor` or `other`.
    pub severity: &'static str,
    /// `firing` or `resolved`.
    pub status: &'static str,
}

/// Seconds since the last Watchdog heartbeat, computed at scrape time; absent before the
/// first heartbeat, so "never" is not mistaken for "just now".
#[derive(Debug)]
struct HeartbeatAge(Gauge<f64, std::sync::atomic::AtomicU64>);

impl prometheus_client::collector::Collector for HeartbeatAge {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        let last = self.0.get();
        if last <= 0.0 {
            return Ok(());
        }
        let age = prometheus_client::metrics::gauge::ConstGauge::new(
            (crate::api::now_seconds() - last).max(0.0),
        );
        age.encode(encoder.encode_descriptor(
            "watchdog_heartbeat_age",
            "Seconds since the last Watchdog heartbeat came through Alertmanager",
            Some(&Unit::Seconds),
            age.metric_type(),
        )?)
    }
}

/// Every metric family of the service, with the registries that expose them.
#[derive(Debug)]
pub struct Metrics {
    /// Golden signals.
    pub http: HttpMetrics,
    /// Value and delay distributions.
    pub random: RandomMetrics,
    /// The prediction path.
    pub ml: ml::MlMetrics,
    logins: Family<ResultLabels, Counter>,
    alerts: Family<AlertLabels, Counter>,
    alert_duplicates: Counter,
    heartbeat: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Families exposed in every format.
    registry: Registry,
    /// Native-only histograms: only the protobuf format can carry them.
    native: Registry,
    /// Summaries, encoded by hand (prometheus-client has no summary type).
    summaries: Vec<Arc<WindowedSummary>>,
}

impl Metrics {
    /// Counts one login by result (`success`, `bad_credentials`, `unavailable`).
    pub fn login(&self, result: &'static str) {
        self.logins.get_or_create(&ResultLabels { result }).inc();
    }

    /// Records a Watchdog heartbeat received at `at` (seconds since the Unix epoch).
    pub fn heartbeat(&self, at: f64) {
        self.heartbeat.set(at);
    }

    /// Counts alerts dropped by the webhook's deduplication.
    pub fn alert_duplicates(&self, n: u64) {
        if n > 0 {
            self.alert_duplicates.inc_by(n);
        }
    }

    /// Counts one alert of a received notification.
    pub fn alerts_received(&self, severity: &'static str, status: &'static str) {
        self.alerts
            .get_or_create(&AlertLabels { severity, status })
            .inc();
    }

    /// Creates and registers every family, with buckets derived from `cfg`'s distributions;
    /// `faults` registers its incident gauges alongside.
    pub fn new(cfg: &MetricsConfig, faults: &crate::incident::Faults) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(process::ProcessCollector));
        let mut native = Registry::default();
        let http = HttpMetrics::new(cfg);
        let random = RandomMetrics::new(cfg);
        let m = registry.sub_registry_with_prefix("monlab");
        http.register(m);
        random.register(m, native.sub_registry_with_prefix("monlab"));
        register_build_and_speed(m, cfg.speed);

        faults.register(m);
        let logins = Family::<ResultLabels, Counter>::default();
        for result in ["success", "bad_credentials", "unavailable"] {
            let _ = logins.get_or_create(&ResultLabels { result });
        }
        m.register(
            "logins",
            "Login attempts by result: success, bad_credentials or unavailable",
            logins.clone(),
        );
        let alerts = Family::<AlertLabels, Counter>::default();
        m.register(
            "alerts_received",
            "Alerts received from Alertmanager's webhook, by severity and status",
            alerts.clone(),
        );
        let alert_duplicates = Counter::default();
        m.register(
            "alert_duplicates",
            "Alerts in webhook notifications that repeated one already received (same group, fingerprint, start and status)",
            alert_duplicates.clone(),
        );
        let heartbeat = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        m.register(
            "watchdog_last_heartbeat_timestamp_seconds",
            "When the last Watchdog heartbeat came through Alertmanager (0: none yet)",
            heartbeat.clone(),
        );
        m.register_collector(Box::new(HeartbeatAge(heartbeat.clone())));
        let ml = ml::MlMetrics::new(m);

        let summaries = vec![random.recent_delay.clone()];
        Self {
            http,
            random,
            ml,
            logins,
            alerts,
            alert_duplicates,
            heartbeat,
            registry,
            native,
            summaries,
        }
    }
}
