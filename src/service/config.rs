//! Everything `monlab serve` needs, validated: the service's own config type.
//!
//! The command layer (`cmd::serve`) fills it from flags, `MONLAB_*` and the config file; its
//! [`Default`] is what runs when nothing is set, and what `--help` shows.

use crate::distribution::Distribution;
use std::net::SocketAddr;
use std::time::Duration;

/// Default value distribution: a bell curve around 100, easy to recognise on a dashboard.
pub(crate) const DEFAULT_VALUE: &str = "normal(mean=100, std_dev=15)";
/// Default delay: log-normal with median 41 ms, mean 46 ms and p99 130 ms, like a real backend.
pub(crate) const DEFAULT_DELAY: &str = "lognormal(mu=-3.2, sigma=0.5)";

/// Default model latency: median 4 ms, p99.9 14 ms, well inside the 50 ms budget.
pub(crate) const DEFAULT_MODEL_LATENCY: &str = "lognormal(mu=-5.5, sigma=0.4)";

/// Default holdout: 2% of applicants approved whatever the model says. Small enough to cost
/// little (most of them the model would approve anyway), large enough for a label count that
/// measures accuracy over an hour.
pub(crate) const DEFAULT_HOLDOUT_SHARE: f64 = 0.02;

/// Everything `monlab serve` needs, validated.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to bind.
    pub listen: SocketAddr,
    /// Requests served at once before load shedding starts.
    pub concurrency_limit: usize,
    /// Time in-flight requests get after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Time the service keeps accepting, reporting unready, before it stops accepting.
    pub drain_delay: Duration,
    /// Whether the golden-signal middleware runs.
    pub metrics: bool,
    /// Whether the latency and delay histograms and the error counter carry exemplars
    /// (request and user id).
    pub exemplars: bool,
    /// Where the golden-signal middleware writes a JSON line per request; `None`: nowhere.
    pub access_log: Option<crate::telemetry::access_log::AccessLogTarget>,
    /// The time warp: the service's windows and incident durations are divided by it.
    pub speed: crate::warp::Speed,
    /// What `/random` draws.
    pub random: RandomConfig,
    /// Bearer token of the admin API; `None` turns the admin API off.
    pub admin_token: Option<String>,
    /// Base URLs of the other replicas of this system: an incident started or stopped through
    /// this one's admin API is started or stopped on them too.
    pub peers: Vec<String>,
    /// The prediction path.
    pub model: ModelConfig,
    /// The lab page's upstreams.
    pub lab: LabConfig,
}

/// What the lab page (`/lab`) reads through monlab: both optional, the page says when one is
/// missing instead of drawing empty charts.
#[derive(Debug, Clone, Default)]
pub struct LabConfig {
    /// Base URL of the Prometheus whose API `/lab/api/prometheus/` proxies.
    pub prometheus_url: Option<String>,
    /// Base URL of the Alertmanager whose alert list `/lab/api/alertmanager/` proxies.
    pub alertmanager_url: Option<String>,
}

/// The model behind `/predict`.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// Time budget of one model call; past it the fallback answers.
    pub timeout: Duration,
    /// Simulated inference latency in seconds.
    pub latency: Distribution,
    /// Share of requests in the holdout (0 to 1): scored, then approved whatever the
    /// decision, so their outcomes are an unbiased sample of the whole population.
    pub holdout_share: f64,
}

/// The distributions behind `/random`.
#[derive(Debug, Clone)]
pub struct RandomConfig {
    /// Seed for a reproducible run; `None` draws one from the OS.
    pub seed: Option<u64>,
    /// Distribution of the returned value.
    pub value: Distribution,
    /// Distribution of the delay in seconds (never negative).
    pub delay: Distribution,
    /// Cap on a single delay.
    pub max_delay: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            concurrency_limit: 1024,
            shutdown_grace: Duration::from_secs(10),
            drain_delay: Duration::ZERO,
            metrics: true,
            exemplars: true,
            access_log: None,
            speed: crate::warp::Speed::ONE,
            random: RandomConfig {
                seed: None,
                value: DEFAULT_VALUE.parse().expect("default value spec is valid"),
                delay: DEFAULT_DELAY.parse().expect("default delay spec is valid"),
                max_delay: Duration::from_secs(30),
            },
            admin_token: None,
            peers: Vec::new(),
            model: ModelConfig {
                timeout: Duration::from_millis(50),
                latency: DEFAULT_MODEL_LATENCY
                    .parse()
                    .expect("default model latency spec is valid"),
                holdout_share: DEFAULT_HOLDOUT_SHARE,
            },
            lab: LabConfig::default(),
        }
    }
}

impl ServeConfig {
    /// What the service's metrics are shaped by.
    pub fn metrics(&self) -> crate::telemetry::MetricsConfig {
        crate::telemetry::MetricsConfig {
            value: self.random.value.clone(),
            delay: self.random.delay.clone(),
            concurrency_limit: self.concurrency_limit,
            speed: self.speed,
            exemplars: self.exemplars,
        }
    }
}
