//! Everything `monlab up` needs, validated: the whole system's own config type.

use std::path::PathBuf;
use std::time::Duration;

/// The most requests/s `up` runs under the time warp: past it the 2-core machine's own
/// queueing starts to move the latencies the rules judge, and the warp would no longer be
/// the same system (docs/time-warp.md).
pub const MAX_WARPED_LOAD: f64 = 2000.0;

/// Everything `monlab up` needs, validated.
#[derive(Debug, Clone)]
pub struct UpConfig {
    /// The deploy folder (holds prometheus/prometheus.yml and alertmanager/alertmanager.yml).
    pub deploy: PathBuf,
    /// Data and logs.
    pub data_dir: PathBuf,
    /// Service port.
    pub port: u16,
    /// Prometheus port.
    pub prometheus_port: u16,
    /// Alertmanager port.
    pub alertmanager_port: u16,
    /// Scrape/evaluation interval override.
    pub interval: Option<Duration>,
    /// Background load in requests/s (0: none).
    pub load_rate: f64,
    /// The service's admin token.
    pub admin_token: String,
    /// Extra `monlab serve` flags.
    pub serve_args: Vec<String>,
    /// Service instances.
    pub replicas: usize,
    /// Two Prometheus replicas, an Alertmanager cluster and VictoriaMetrics.
    pub ha: bool,
    /// Remove what an earlier run left in the data folder before starting.
    pub fresh: bool,
    /// The time warp K: every duration of the system divided by K, the load K times faster.
    pub speed: crate::warp::Speed,
    /// VictoriaMetrics port (with `ha`).
    pub vm_port: u16,
    /// Pushgateway port.
    pub pushgateway_port: u16,
    /// A scenario to play once everything is up.
    pub scenario: Option<Vec<crate::scenario::PlannedStep>>,
    /// How the scenario waits for resolutions (`--resolve-wait`).
    pub play: crate::scenario::PlayOptions,
    /// How often the batch job runs; `None` for never.
    pub batch_every: Option<Duration>,
}

impl Default for UpConfig {
    /// What `monlab up` runs with no flags: one replica on the usual ports, 20 requests/s of
    /// background load, the batch job every 10 minutes, real time, and a fresh admin token.
    fn default() -> Self {
        Self {
            deploy: PathBuf::from("deploy"),
            data_dir: PathBuf::from(".monlab"),
            port: 8080,
            prometheus_port: 9090,
            alertmanager_port: 9093,
            interval: None,
            load_rate: 20.0,
            admin_token: format!("{:024x}", rand::random::<u128>() >> 32),
            serve_args: Vec::new(),
            replicas: 1,
            ha: false,
            fresh: false,
            speed: crate::warp::Speed::ONE,
            vm_port: 8428,
            pushgateway_port: 9091,
            scenario: None,
            play: crate::scenario::PlayOptions::default(),
            batch_every: Some(Duration::from_secs(600)),
        }
    }
}
