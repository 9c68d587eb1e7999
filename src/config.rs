//! Typed configuration: flags, `MONLAB_*` environment and a TOML file, merged and validated once.
//!
//! Precedence is flag > environment > file > default. This is the only module that reads the
//! environment or the config file; everything below receives a validated [`ServeConfig`].
//! Every error names the setting and where its value came from, in one line.

use crate::cli::ServeArgs;
use crate::distribution::Distribution;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A bad setting; the message names it, its origin and what is allowed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// Default value distribution: a bell curve around 100, easy to recognise on a dashboard.
pub const DEFAULT_VALUE: &str = "normal(mean=100, std_dev=15)";
/// Default delay: log-normal with median 41 ms, mean 46 ms and p99 130 ms, like a real backend.
pub const DEFAULT_DELAY: &str = "lognormal(mu=-3.2, sigma=0.5)";

/// Default model latency: median 4 ms, p99.9 14 ms, well inside the 50 ms budget.
pub const DEFAULT_MODEL_LATENCY: &str = "lognormal(mu=-5.5, sigma=0.4)";

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
            },
            lab: LabConfig::default(),
        }
    }
}

/// Where a setting can come from: its key in the file, its variable, its flag.
struct Setting {
    key: &'static str,
    env: &'static str,
    flag: &'static str,
}

const LISTEN: Setting = Setting {
    key: "server.listen",
    env: "MONLAB_LISTEN",
    flag: "--listen",
};
const CONCURRENCY_LIMIT: Setting = Setting {
    key: "server.concurrency_limit",
    env: "MONLAB_CONCURRENCY_LIMIT",
    flag: "--concurrency-limit",
};
const SHUTDOWN_GRACE: Setting = Setting {
    key: "server.shutdown_grace",
    env: "MONLAB_SHUTDOWN_GRACE",
    flag: "--shutdown-grace",
};
const DRAIN_DELAY: Setting = Setting {
    key: "server.drain_delay",
    env: "MONLAB_DRAIN_DELAY",
    flag: "--drain-delay",
};
const METRICS: Setting = Setting {
    key: "server.metrics",
    env: "MONLAB_METRICS",
    flag: "--metrics",
};
const SEED: Setting = Setting {
    key: "random.seed",
    env: "MONLAB_SEED",
    flag: "--seed",
};
const VALUE: Setting = Setting {
    key: "random.value",
    env: "MONLAB_VALUE",
    flag: "--value",
};
const DELAY: Setting = Setting {
    key: "random.delay",
    env: "MONLAB_DELAY",
    flag: "--delay",
};
const MAX_DELAY: Setting = Setting {
    key: "random.max_delay",
    env: "MONLAB_MAX_DELAY",
    flag: "--max-delay",
};

const ADMIN_TOKEN: Setting = Setting {
    key: "admin.token",
    env: "MONLAB_ADMIN_TOKEN",
    flag: "--admin-token",
};
const MODEL_TIMEOUT: Setting = Setting {
    key: "model.timeout",
    env: "MONLAB_MODEL_TIMEOUT",
    flag: "--model-timeout",
};
const MODEL_LATENCY: Setting = Setting {
    key: "model.latency",
    env: "MONLAB_MODEL_LATENCY",
    flag: "--model-latency",
};

const PROMETHEUS_URL: Setting = Setting {
    key: "lab.prometheus_url",
    env: "MONLAB_PROMETHEUS_URL",
    flag: "--prometheus-url",
};
const ALERTMANAGER_URL: Setting = Setting {
    key: "lab.alertmanager_url",
    env: "MONLAB_ALERTMANAGER_URL",
    flag: "--alertmanager-url",
};
const PEERS: Setting = Setting {
    key: "admin.peers",
    env: "MONLAB_PEERS",
    flag: "--peers",
};

/// Every key a serve config file may hold.
const SERVE_KEYS: [&Setting; 15] = [
    &PEERS,
    &PROMETHEUS_URL,
    &ALERTMANAGER_URL,
    &ADMIN_TOKEN,
    &MODEL_TIMEOUT,
    &MODEL_LATENCY,
    &LISTEN,
    &CONCURRENCY_LIMIT,
    &SHUTDOWN_GRACE,
    &DRAIN_DELAY,
    &METRICS,
    &SEED,
    &VALUE,
    &DELAY,
    &MAX_DELAY,
];

/// Where a raw value came from, for error messages.
enum Origin<'a> {
    Flag(&'static str),
    Env(&'static str),
    File(&'static str, &'a Path),
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "{flag}"),
            Origin::Env(var) => write!(f, "{var}"),
            Origin::File(key, path) => write!(f, "{key} in {}", path.display()),
        }
    }
}

/// The raw layers under the flags: environment and config file.
pub struct Layers {
    env: BTreeMap<String, String>,
    file: BTreeMap<String, String>,
    file_path: PathBuf,
}

impl Layers {
    /// Reads `MONLAB_*` from the process environment and the config file if one is named.
    pub fn from_process(config_flag: Option<&Path>) -> Result<Self, ConfigError> {
        Self::new(std::env::vars(), config_flag)
    }

    /// Builds the layers from the given environment (tests pass their own).
    pub fn new(
        env: impl IntoIterator<Item = (String, String)>,
        config_flag: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("MONLAB_"))
            .collect();
        let file_path = match (config_flag, env.get("MONLAB_CONFIG")) {
            (Some(p), _) => Some(p.to_path_buf()),
            (None, Some(p)) => Some(PathBuf::from(p)),
            (None, None) => None,
        };
        let file = match &file_path {
            Some(path) => read_file(path)?,
            None => BTreeMap::new(),
        };
        Ok(Self {
            env,
            file,
            file_path: file_path.unwrap_or_default(),
        })
    }

    /// The service URL and admin token a client command talks to: flag, then `MONLAB_URL` /
    /// `MONLAB_ADMIN_TOKEN`, then the local default.
    pub fn client_target(
        &self,
        url: Option<&str>,
        token: Option<&str>,
    ) -> Result<(String, Option<String>), ConfigError> {
        let (raw, origin) = match (url, self.env.get("MONLAB_URL")) {
            (Some(u), _) => (u.to_string(), "--url"),
            (None, Some(u)) => (u.clone(), "MONLAB_URL"),
            (None, None) => ("http://127.0.0.1:8080".to_string(), "default"),
        };
        let ok = raw
            .strip_prefix("http://")
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
        if !ok {
            return Err(ConfigError(format!(
                "invalid {origin} '{raw}': expected http://host:port"
            )));
        }
        let token = token
            .map(str::to_string)
            .or_else(|| self.env.get("MONLAB_ADMIN_TOKEN").cloned());
        Ok((raw, token))
    }

    /// Rejects file keys that no setting of this command knows (typos must not pass silently).
    fn check_file_keys(&self, known: &[&Setting]) -> Result<(), ConfigError> {
        for key in self.file.keys() {
            if !known.iter().any(|s| s.key == key) {
                return Err(ConfigError(format!(
                    "unknown setting {key} in {} (known: {})",
                    self.file_path.display(),
                    known.iter().map(|s| s.key).collect::<Vec<_>>().join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The highest-precedence raw value of a setting and where it came from.
    fn raw<'a>(&'a self, s: &Setting, flag: Option<&'a str>) -> Option<(&'a str, Origin<'a>)> {
        if let Some(v) = flag {
            return Some((v, Origin::Flag(s.flag)));
        }
        if let Some(v) = self.env.get(s.env) {
            return Some((v.as_str(), Origin::Env(s.env)));
        }
        self.file
            .get(s.key)
            .map(|v| (v.as_str(), Origin::File(s.key, &self.file_path)))
    }

    /// Parses a setting with `parse`, or returns `default` when it is not set anywhere.
    fn get<T>(
        &self,
        s: &Setting,
        flag: Option<&str>,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.raw(s, flag) {
            None => Ok(default),
            Some((raw, origin)) => parse(raw.trim())
                .map_err(|why| ConfigError(format!("invalid {origin} '{raw}': {why}"))),
        }
    }
}

/// Reads a TOML file into `section.key → text` pairs.
fn read_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .map(|span| text[..span.start].lines().count().max(1))
            .unwrap_or(1);
        ConfigError(format!(
            "config file {} is not valid TOML at line {line}: {}",
            path.display(),
            e.message()
        ))
    })?;
    let mut out = BTreeMap::new();
    flatten("", &toml::Value::Table(table), &mut out, path)?;
    Ok(out)
}

fn flatten(
    prefix: &str,
    value: &toml::Value,
    out: &mut BTreeMap<String, String>,
    path: &Path,
) -> Result<(), ConfigError> {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out, path)?;
            }
        }
        toml::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        toml::Value::Integer(i) => {
            out.insert(prefix.to_string(), i.to_string());
        }
        toml::Value::Float(f) => {
            out.insert(prefix.to_string(), f.to_string());
        }
        toml::Value::Boolean(b) => {
            out.insert(prefix.to_string(), b.to_string());
        }
        _ => {
            return Err(ConfigError(format!(
                "invalid {prefix} in {}: must be a string, number or boolean",
                path.display()
            )))
        }
    }
    Ok(())
}

/// The log filter: `MONLAB_LOG` (tracing's env-filter syntax), `info` by default.
pub fn log_filter() -> String {
    std::env::var("MONLAB_LOG").unwrap_or_else(|_| "info".to_string())
}

/// Parses a duration such as `10s`, `250ms` or `5m`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw)
        .map_err(|e| format!("{e}; expected a duration such as 250ms, 10s or 5m"))
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn parse_count(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("expected a whole number >= 1".into()),
    }
}

impl ServeConfig {
    /// Merges flags over the layers and validates the result.
    pub fn load(args: &ServeArgs, layers: &Layers) -> Result<Self, ConfigError> {
        layers.check_file_keys(&SERVE_KEYS)?;
        let d = Self::default();
        let listen = layers.get(&LISTEN, args.listen.as_deref(), d.listen, |r| {
            r.parse::<SocketAddr>()
                .map_err(|_| "expected an address such as 127.0.0.1:8080".to_string())
        })?;
        let concurrency_limit = layers.get(
            &CONCURRENCY_LIMIT,
            args.concurrency_limit.as_deref(),
            d.concurrency_limit,
            parse_count,
        )?;
        let shutdown_grace = layers.get(
            &SHUTDOWN_GRACE,
            args.shutdown_grace.as_deref(),
            d.shutdown_grace,
            parse_duration,
        )?;
        let drain_delay = layers.get(
            &DRAIN_DELAY,
            args.drain_delay.as_deref(),
            d.drain_delay,
            parse_duration,
        )?;
        let metrics = layers.get(&METRICS, args.metrics.as_deref(), d.metrics, parse_bool)?;
        let seed = layers.get(&SEED, args.seed.as_deref(), None, |r| {
            r.parse::<u64>()
                .map(Some)
                .map_err(|_| "expected a whole number from 0 to 18446744073709551615".into())
        })?;
        let value = layers.get(&VALUE, args.value.as_deref(), d.random.value, |r| {
            Distribution::parse(r).map_err(|e| e.to_string())
        })?;
        let delay = layers.get(&DELAY, args.delay.as_deref(), d.random.delay, |r| {
            let dist = Distribution::parse(r).map_err(|e| e.to_string())?;
            dist.validate_non_negative().map_err(|e| e.to_string())?;
            Ok(dist)
        })?;
        let max_delay = layers.get(
            &MAX_DELAY,
            args.max_delay.as_deref(),
            d.random.max_delay,
            |r| match parse_duration(r)? {
                d if d.is_zero() => Err("must be greater than zero".into()),
                d => Ok(d),
            },
        )?;
        let admin_token = layers.get(&ADMIN_TOKEN, args.admin_token.as_deref(), None, |r| {
            if r.len() < 8 || r.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Err("must be at least 8 characters without spaces".into())
            } else {
                Ok(Some(r.to_string()))
            }
        })?;
        let timeout = layers.get(
            &MODEL_TIMEOUT,
            args.model_timeout.as_deref(),
            d.model.timeout,
            |r| match parse_duration(r)? {
                d if d.is_zero() => Err("must be greater than zero".into()),
                d => Ok(d),
            },
        )?;
        let model_latency = layers.get(
            &MODEL_LATENCY,
            args.model_latency.as_deref(),
            d.model.latency,
            |r| {
                let dist = Distribution::parse(r).map_err(|e| e.to_string())?;
                dist.validate_non_negative().map_err(|e| e.to_string())?;
                Ok(dist)
            },
        )?;
        let prometheus_url =
            layers.get(&PROMETHEUS_URL, args.prometheus_url.as_deref(), None, |r| {
                parse_http_base(r, "http://127.0.0.1:9090").map(Some)
            })?;
        let alertmanager_url = layers.get(
            &ALERTMANAGER_URL,
            args.alertmanager_url.as_deref(),
            None,
            |r| parse_http_base(r, "http://127.0.0.1:9093").map(Some),
        )?;
        let peers = layers.get(&PEERS, args.peers.as_deref(), Vec::new(), |r| {
            r.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| parse_http_base(p, "http://127.0.0.1:8081"))
                .collect()
        })?;
        Ok(Self {
            admin_token,
            peers,
            model: ModelConfig {
                timeout,
                latency: model_latency,
            },
            lab: LabConfig {
                prometheus_url,
                alertmanager_url,
            },
            listen,
            concurrency_limit,
            shutdown_grace,
            drain_delay,
            metrics,
            random: RandomConfig {
                seed,
                value,
                delay,
                max_delay,
            },
        })
    }
}

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
    /// VictoriaMetrics port (with `ha`).
    pub vm_port: u16,
    /// Pushgateway port.
    pub pushgateway_port: u16,
    /// A scenario to play once everything is up.
    pub scenario: Option<Vec<crate::scenario::PlannedStep>>,
    /// How often the batch job runs; `None` for never.
    pub batch_every: Option<Duration>,
}

fn parse_port(raw: &str) -> Result<u16, String> {
    match raw.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err("expected a port from 1 to 65535".into()),
    }
}

fn flag_error(flag: &str, raw: &str, why: impl fmt::Display) -> ConfigError {
    ConfigError(format!("invalid {flag} '{raw}': {why}"))
}

impl UpConfig {
    /// Validates `up`'s flags; the admin token may also come from MONLAB_ADMIN_TOKEN.
    pub fn load(args: &crate::cli::UpArgs, layers: &Layers) -> Result<Self, ConfigError> {
        let env_token = layers.env.get("MONLAB_ADMIN_TOKEN").cloned();
        let deploy = args
            .deploy
            .clone()
            .unwrap_or_else(|| PathBuf::from("deploy"));
        for needed in ["prometheus/prometheus.yml", "alertmanager/alertmanager.yml"] {
            if !deploy.join(needed).is_file() {
                return Err(ConfigError(format!(
                    "invalid --deploy '{}': {needed} is not in it (run from the monlab checkout or pass --deploy)",
                    deploy.display()
                )));
            }
        }
        let port = |flag: &str, v: &Option<String>, default: u16| match v {
            None => Ok(default),
            Some(raw) => parse_port(raw).map_err(|e| flag_error(flag, raw, e)),
        };
        let interval = match &args.interval {
            None => None,
            Some(raw) => match parse_duration(raw) {
                Ok(d) if d >= Duration::from_millis(100) && d <= Duration::from_secs(300) => {
                    Some(d)
                }
                Ok(_) => return Err(flag_error("--interval", raw, "must be from 100ms to 5m")),
                Err(e) => return Err(flag_error("--interval", raw, e)),
            },
        };
        let load_rate = match &args.load_rate {
            None => 20.0,
            Some(raw) => match raw.parse::<f64>() {
                Ok(r) if r.is_finite() && (0.0..=100_000.0).contains(&r) => r,
                _ => {
                    return Err(flag_error(
                        "--load-rate",
                        raw,
                        "expected a number of requests/s from 0 to 100000",
                    ))
                }
            },
        };
        let admin_token = match args.admin_token.clone().or(env_token) {
            Some(t) if t.len() >= 8 && !t.chars().any(char::is_whitespace) => t,
            Some(t) => {
                return Err(flag_error(
                    "--admin-token",
                    &t,
                    "must be at least 8 characters without spaces",
                ))
            }
            None => format!("{:024x}", rand::random::<u128>() >> 32),
        };
        Ok(Self {
            deploy,
            data_dir: args
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(".monlab")),
            port: port("--port", &args.port, 8080)?,
            prometheus_port: port("--prometheus-port", &args.prometheus_port, 9090)?,
            alertmanager_port: port("--alertmanager-port", &args.alertmanager_port, 9093)?,
            interval,
            load_rate,
            admin_token,
            serve_args: args.serve_args.clone(),
            replicas: match &args.replicas {
                None => 1,
                Some(raw) => match raw.parse::<usize>() {
                    Ok(n) if (1..=16).contains(&n) => n,
                    _ => {
                        return Err(flag_error(
                            "--replicas",
                            raw,
                            "expected a whole number from 1 to 16",
                        ))
                    }
                },
            },
            ha: args.ha,
            fresh: args.fresh,
            vm_port: port("--vm-port", &args.vm_port, 8428)?,
            pushgateway_port: port("--pushgateway-port", &args.pushgateway_port, 9091)?,
            scenario: match &args.scenario {
                None => None,
                Some(path) => Some(
                    crate::scenario::Scenario::load(path)
                        .map_err(|e| ConfigError(e.to_string()))?,
                ),
            },
            batch_every: match &args.batch_every {
                None => Some(Duration::from_secs(600)),
                Some(raw) => match parse_duration(raw) {
                    Ok(d) if d.is_zero() => None,
                    Ok(d) if d >= Duration::from_secs(10) => Some(d),
                    Ok(_) => {
                        return Err(flag_error(
                            "--batch-every",
                            raw,
                            "must be 0s (never) or at least 10s",
                        ))
                    }
                    Err(e) => return Err(flag_error("--batch-every", raw, e)),
                },
            },
        })
    }
}

/// Everything `monlab train` needs, validated.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Seed of the training rows.
    pub seed: u64,
    /// Training rows.
    pub rows: usize,
    /// Folder the two files go to.
    pub out: PathBuf,
    /// Training time written into the files (RFC 3339).
    pub trained_at: String,
}

impl TrainConfig {
    /// Validates `train`'s flags (it reads no environment: a training run is its flags).
    pub fn load(args: &crate::cli::TrainArgs) -> Result<Self, ConfigError> {
        let seed = match &args.seed {
            None => crate::ml::train::SHIPPED_SEED,
            Some(raw) => raw.trim().parse().map_err(|_| {
                flag_error(
                    "--seed",
                    raw,
                    "expected a whole number from 0 to 18446744073709551615",
                )
            })?,
        };
        let rows = match &args.rows {
            None => crate::ml::train::DEFAULT_ROWS,
            Some(raw) => match raw.trim().parse::<usize>() {
                Ok(n) if (1000..=10_000_000).contains(&n) => n,
                _ => {
                    return Err(flag_error(
                        "--rows",
                        raw,
                        "expected a whole number from 1000 to 10000000",
                    ))
                }
            },
        };
        let trained_at = match &args.trained_at {
            None => humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            Some(raw) => match humantime::parse_rfc3339(raw.trim()) {
                Ok(_) => raw.trim().to_string(),
                Err(_) => {
                    return Err(flag_error(
                        "--trained-at",
                        raw,
                        "expected an RFC 3339 time such as 2026-11-25T00:00:00Z",
                    ))
                }
            },
        };
        Ok(Self {
            seed,
            rows,
            out: args.out.clone().unwrap_or_else(|| PathBuf::from("models")),
            trained_at,
        })
    }
}

/// The longest run `monlab load` accepts.
pub const LOAD_MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// The most requests `monlab load` accepts in one run.
pub const LOAD_MAX_REQUESTS: u64 = 1_000_000_000;

/// Everything `monlab load` needs, validated. Both bounds are always set, so every run ends.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Host and port of the service (plain HTTP).
    pub target: http::uri::Authority,
    /// Requests per second the schedule aims at (> 0).
    pub rate: f64,
    /// How arrivals are spaced.
    pub arrivals: crate::load::Arrivals,
    /// Longest run; [`LOAD_MAX_DURATION`] when only a request count was given.
    pub duration: Duration,
    /// Most requests; [`LOAD_MAX_REQUESTS`] when only a duration was given.
    pub requests: u64,
    /// Route weights.
    pub mix: crate::load::Mix,
    /// Users `u0..u{users-1}` (at least 1).
    pub users: u64,
    /// Share of logins with a wrong token, from 0 to 1.
    pub bad_login_share: f64,
    /// Most requests in flight at once.
    pub concurrency: usize,
    /// Longest wait for one response, from its actual send.
    pub timeout: Duration,
    /// Seed for a reproducible run; `None` draws one from the OS.
    pub seed: Option<u64>,
    /// Whether to draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
    /// Share of predictions whose true outcome is sent to `/feedback`, from 0 to 1.
    pub feedback_share: f64,
    /// Mean delay before an outcome is sent (exponential, cut at 10 means).
    pub feedback_delay: Duration,
}

impl Default for LoadConfig {
    /// The `monlab load` defaults, bounded only by the maxima: what `monlab up` runs until stopped.
    fn default() -> Self {
        Self {
            target: http::uri::Authority::from_static("127.0.0.1:8080"),
            rate: 100.0,
            arrivals: crate::load::Arrivals::Poisson,
            duration: LOAD_MAX_DURATION,
            requests: LOAD_MAX_REQUESTS,
            mix: crate::load::Mix::default(),
            users: 1000,
            bad_login_share: 0.02,
            concurrency: 1024,
            timeout: Duration::from_secs(10),
            seed: None,
            progress: false,
            // Half the outcomes become known, a few seconds late: enough labels (about 1.5/s
            // at 3 predictions/s) for accuracy over 5 minutes to be within ±0.02.
            feedback_share: 0.5,
            feedback_delay: Duration::from_secs(5),
        }
    }
}

// `monlab load` reads flags, then `MONLAB_LOAD_*`; the `load.*` keys exist for error messages
// and the shared lookup, but the config file is `serve`'s, which refuses them.
const LOAD_TARGET: Setting = Setting {
    key: "load.target",
    env: "MONLAB_LOAD_TARGET",
    flag: "--target",
};
const LOAD_RATE: Setting = Setting {
    key: "load.rate",
    env: "MONLAB_LOAD_RATE",
    flag: "--rate",
};
const LOAD_ARRIVALS: Setting = Setting {
    key: "load.arrivals",
    env: "MONLAB_LOAD_ARRIVALS",
    flag: "--arrivals",
};
const LOAD_DURATION: Setting = Setting {
    key: "load.duration",
    env: "MONLAB_LOAD_DURATION",
    flag: "--duration",
};
const LOAD_REQUESTS: Setting = Setting {
    key: "load.requests",
    env: "MONLAB_LOAD_REQUESTS",
    flag: "--requests",
};
const LOAD_MIX: Setting = Setting {
    key: "load.mix",
    env: "MONLAB_LOAD_MIX",
    flag: "--mix",
};
const LOAD_USERS: Setting = Setting {
    key: "load.users",
    env: "MONLAB_LOAD_USERS",
    flag: "--users",
};
const LOAD_BAD_LOGIN_SHARE: Setting = Setting {
    key: "load.bad_login_share",
    env: "MONLAB_LOAD_BAD_LOGIN_SHARE",
    flag: "--bad-login-share",
};
const LOAD_CONCURRENCY: Setting = Setting {
    key: "load.concurrency",
    env: "MONLAB_LOAD_CONCURRENCY",
    flag: "--concurrency",
};
const LOAD_TIMEOUT: Setting = Setting {
    key: "load.timeout",
    env: "MONLAB_LOAD_TIMEOUT",
    flag: "--timeout",
};
const LOAD_SEED: Setting = Setting {
    key: "load.seed",
    env: "MONLAB_LOAD_SEED",
    flag: "--seed",
};
const LOAD_FEEDBACK_SHARE: Setting = Setting {
    key: "load.feedback_share",
    env: "MONLAB_LOAD_FEEDBACK_SHARE",
    flag: "--feedback-share",
};
const LOAD_FEEDBACK_DELAY: Setting = Setting {
    key: "load.feedback_delay",
    env: "MONLAB_LOAD_FEEDBACK_DELAY",
    flag: "--feedback-delay",
};

/// Parses the load target: a plain `http://host[:port]` URL without a path.
fn parse_target(raw: &str) -> Result<http::uri::Authority, String> {
    let hint = || "expected an http:// URL such as http://127.0.0.1:8080".to_string();
    let uri: http::Uri = raw.parse().map_err(|_| hint())?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err("https is not supported; use an http:// URL".into()),
        _ => return Err(hint()),
    }
    let authority = uri.authority().ok_or_else(hint)?;
    if authority.host().is_empty() || authority.as_str().contains('@') {
        return Err(hint());
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err("give the service's base URL without a path; the routes are added".into());
    }
    Ok(authority.clone())
}

fn parse_share(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err("expected a share from 0 to 1".into()),
    }
}

fn parse_bounded_count(raw: &str, max: u64) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from 1 to {max}")),
    }
}

impl LoadConfig {
    /// Merges `load`'s flags over `MONLAB_LOAD_*` and validates them; `--duration` or
    /// `--requests` must be given so the run ends.
    pub fn load(args: &crate::cli::LoadArgs, layers: &Layers) -> Result<Self, ConfigError> {
        let d = Self::default();
        let target = layers.get(&LOAD_TARGET, args.target.as_deref(), d.target, parse_target)?;
        let rate = layers.get(&LOAD_RATE, args.rate.as_deref(), d.rate, |r| {
            match r.parse::<f64>() {
                Ok(x) if x.is_finite() && x > 0.0 && x <= 1_000_000.0 => Ok(x),
                _ => {
                    Err("expected requests per second, a number above 0 and at most 1000000".into())
                }
            }
        })?;
        let arrivals = layers.get(&LOAD_ARRIVALS, args.arrivals.as_deref(), d.arrivals, |r| {
            r.parse()
        })?;
        let duration =
            layers.get(
                &LOAD_DURATION,
                args.duration.as_deref(),
                None,
                |r| match parse_duration(r)? {
                    x if x.is_zero() => Err("must be greater than zero".into()),
                    x if x > LOAD_MAX_DURATION => Err("must be at most 24h".into()),
                    x => Ok(Some(x)),
                },
            )?;
        let requests = layers.get(&LOAD_REQUESTS, args.requests.as_deref(), None, |r| {
            parse_bounded_count(r, LOAD_MAX_REQUESTS).map(Some)
        })?;
        if duration.is_none() && requests.is_none() {
            return Err(ConfigError(
                "monlab load needs --duration or --requests (or MONLAB_LOAD_DURATION or \
                 MONLAB_LOAD_REQUESTS), so the run ends"
                    .into(),
            ));
        }
        let mix = layers.get(
            &LOAD_MIX,
            args.mix.as_deref(),
            d.mix,
            crate::load::Mix::parse,
        )?;
        let users = layers.get(&LOAD_USERS, args.users.as_deref(), d.users, |r| {
            parse_bounded_count(r, 1_000_000_000)
        })?;
        let bad_login_share = layers.get(
            &LOAD_BAD_LOGIN_SHARE,
            args.bad_login_share.as_deref(),
            d.bad_login_share,
            parse_share,
        )?;
        let concurrency = layers.get(
            &LOAD_CONCURRENCY,
            args.concurrency.as_deref(),
            d.concurrency,
            |r| parse_bounded_count(r, 100_000).map(|n| n as usize),
        )?;
        let timeout =
            layers.get(
                &LOAD_TIMEOUT,
                args.timeout.as_deref(),
                d.timeout,
                |r| match parse_duration(r)? {
                    x if x.is_zero() => Err("must be greater than zero".into()),
                    x if x > Duration::from_secs(300) => Err("must be at most 5m".into()),
                    x => Ok(x),
                },
            )?;
        let seed = layers.get(&LOAD_SEED, args.seed.as_deref(), None, |r| {
            r.parse::<u64>()
                .map(Some)
                .map_err(|_| "expected a whole number from 0 to 18446744073709551615".into())
        })?;
        let feedback_share = layers.get(
            &LOAD_FEEDBACK_SHARE,
            args.feedback_share.as_deref(),
            d.feedback_share,
            parse_share,
        )?;
        let feedback_delay = layers.get(
            &LOAD_FEEDBACK_DELAY,
            args.feedback_delay.as_deref(),
            d.feedback_delay,
            |r| match parse_duration(r)? {
                x if x > Duration::from_secs(360) => Err("must be at most 6m".into()),
                x => Ok(x),
            },
        )?;
        Ok(Self {
            feedback_share,
            feedback_delay,
            target,
            rate,
            arrivals,
            duration: duration.unwrap_or(LOAD_MAX_DURATION),
            requests: requests.unwrap_or(LOAD_MAX_REQUESTS),
            mix,
            users,
            bad_login_share,
            concurrency,
            timeout,
            seed,
            // The report goes to stdout either way; --json keeps stderr quiet too, for scripts.
            progress: !args.quiet && !args.json,
        })
    }
}

/// Everything `monlab recover` needs, validated; the window is resolved to two instants.
#[derive(Debug, Clone)]
pub struct RecoverConfig {
    /// Base URL of the Prometheus HTTP API (no trailing slash).
    pub prometheus: String,
    /// Window start.
    pub start: SystemTime,
    /// Window end.
    pub end: SystemTime,
    /// The service's scrape job.
    pub job: String,
    /// One instance; `None` sums over every instance of the job.
    pub instance: Option<String>,
    /// The distributions to rebuild.
    pub metrics: Vec<crate::recover::Metric>,
    /// Which histogram to read.
    pub source: crate::recover::SourceChoice,
    /// The service whose `/distributions` is the truth; `None`: the scraped instance, if local.
    pub truth_url: Option<String>,
    /// The true value distribution, overriding the service's.
    pub truth_value: Option<Distribution>,
    /// The true delay distribution, overriding the service's.
    pub truth_delay: Option<Distribution>,
    /// Fewest observations to answer with.
    pub min_samples: u64,
    /// Where to draw the picture.
    pub plot: Option<PathBuf>,
    /// Whether the table lists every bucket.
    pub buckets: bool,
}

/// The longest window `recover` reads: a year, far beyond Prometheus's default retention.
pub const RECOVER_MAX_WINDOW: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses a plain-HTTP base URL; a path (a Prometheus `--web.route-prefix`) is kept.
fn parse_http_base(raw: &str, example: &str) -> Result<String, String> {
    let hint = || format!("expected an http:// URL such as {example}");
    let uri: http::Uri = raw.parse().map_err(|_| hint())?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err("https is not supported; use an http:// URL".into()),
        _ => return Err(hint()),
    }
    let authority = uri.authority().ok_or_else(hint)?;
    if authority.host().is_empty() || authority.as_str().contains('@') || uri.query().is_some() {
        return Err(hint());
    }
    Ok(raw.trim_end_matches('/').to_string())
}

/// Parses an instant: Unix seconds, or RFC 3339 in UTC.
fn parse_instant(raw: &str) -> Result<SystemTime, String> {
    if let Ok(secs) = raw.parse::<f64>() {
        return if secs.is_finite() && (0.0..1e11).contains(&secs) {
            Ok(std::time::UNIX_EPOCH + Duration::from_secs_f64(secs))
        } else {
            Err("Unix seconds must be from 0 to 1e11".into())
        };
    }
    humantime::parse_rfc3339_weak(raw).map_err(|_| {
        "expected RFC 3339 in UTC such as 2026-01-02T03:04:05Z, or Unix seconds".into()
    })
}

/// A label value: non-empty, printable, one line.
fn parse_label_value(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw.len() > 256 || raw.chars().any(char::is_control) {
        Err("expected 1-256 printable characters".into())
    } else {
        Ok(raw.to_string())
    }
}

impl RecoverConfig {
    /// Validates `recover`'s flags; `now` ends the window when neither --end nor --start
    /// with --window says otherwise.
    pub fn load(args: &crate::cli::RecoverArgs, now: SystemTime) -> Result<Self, ConfigError> {
        use crate::recover::{Metric, SourceChoice};
        fn flag<T>(name: &str, raw: &str, r: Result<T, String>) -> Result<T, ConfigError> {
            r.map_err(|e| flag_error(name, raw, e))
        }
        let prometheus = match &args.prometheus {
            None => "http://127.0.0.1:9090".to_string(),
            Some(raw) => flag(
                "--prometheus",
                raw,
                parse_http_base(raw, "http://127.0.0.1:9090"),
            )?,
        };
        let window = match &args.window {
            None => None,
            Some(raw) => Some(flag(
                "--window",
                raw,
                parse_duration(raw).and_then(|d| match d {
                    d if d.is_zero() => Err("must be greater than zero".into()),
                    d if d > RECOVER_MAX_WINDOW => Err("must be at most 366d".into()),
                    d => Ok(d),
                }),
            )?),
        };
        let start = match &args.start {
            None => None,
            Some(raw) => Some(flag("--start", raw, parse_instant(raw))?),
        };
        let end = match &args.end {
            None => None,
            Some(raw) => Some(flag("--end", raw, parse_instant(raw))?),
        };
        let default_window = Duration::from_secs(600);
        let (start, end) = match (start, end, window) {
            (Some(_), Some(_), Some(_)) => {
                return Err(ConfigError(
                    "--start, --end and --window together over-determine the window; give two \
                     of them"
                        .into(),
                ))
            }
            (Some(s), Some(e), None) => (s, e),
            (Some(s), None, Some(w)) => (s, s + w),
            (Some(s), None, None) => (s, now),
            (None, e, w) => {
                let e = e.unwrap_or(now);
                let w = w.unwrap_or(default_window);
                (e.checked_sub(w).unwrap_or(std::time::UNIX_EPOCH), e)
            }
        };
        if start >= end {
            return Err(ConfigError(format!(
                "the window starts at {} and ends at {}: the start must come first",
                humantime::format_rfc3339_seconds(start),
                humantime::format_rfc3339_seconds(end)
            )));
        }
        if end.duration_since(start).unwrap_or_default() > RECOVER_MAX_WINDOW {
            return Err(ConfigError("the window must be at most 366d long".into()));
        }
        let job = match &args.job {
            None => "monlab".to_string(),
            Some(raw) => flag("--job", raw, parse_label_value(raw))?,
        };
        let instance = match &args.instance {
            None => None,
            Some(raw) => Some(flag("--instance", raw, parse_label_value(raw))?),
        };
        let metrics = match args.metric.as_deref() {
            None | Some("both") => vec![Metric::Value, Metric::Delay],
            Some("value") => vec![Metric::Value],
            Some("delay") => vec![Metric::Delay],
            Some(raw) => return Err(flag_error("--metric", raw, "expected value, delay or both")),
        };
        let source = match args.source.as_deref() {
            None | Some("auto") => SourceChoice::Auto,
            Some("native") => SourceChoice::Native,
            Some("classic") => SourceChoice::Classic,
            Some(raw) => {
                return Err(flag_error(
                    "--source",
                    raw,
                    "expected auto, native or classic",
                ))
            }
        };
        let truth_url = match &args.truth_url {
            None => None,
            Some(raw) => Some(flag(
                "--truth-url",
                raw,
                parse_http_base(raw, "http://127.0.0.1:8080"),
            )?),
        };
        let truth_value = match &args.truth_value {
            None => None,
            Some(raw) => Some(flag(
                "--truth-value",
                raw,
                Distribution::parse(raw).map_err(|e| e.to_string()),
            )?),
        };
        let truth_delay = match &args.truth_delay {
            None => None,
            Some(raw) => Some(flag(
                "--truth-delay",
                raw,
                Distribution::parse(raw)
                    .map_err(|e| e.to_string())
                    .and_then(|d| {
                        d.validate_non_negative().map_err(|e| e.to_string())?;
                        Ok(d)
                    }),
            )?),
        };
        let min_samples = match &args.min_samples {
            None => 100,
            Some(raw) => flag(
                "--min-samples",
                raw,
                parse_bounded_count(raw, 1_000_000_000),
            )?,
        };
        let plot = match &args.plot {
            None => None,
            Some(path) => {
                let ext = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase);
                if !matches!(ext.as_deref(), Some("png" | "svg")) {
                    return Err(flag_error(
                        "--plot",
                        &path.display().to_string(),
                        "the file name must end in .png or .svg",
                    ));
                }
                Some(path.clone())
            }
        };
        Ok(Self {
            prometheus,
            start,
            end,
            job,
            instance,
            metrics,
            source,
            truth_url,
            truth_value,
            truth_delay,
            min_samples,
            plot,
            buckets: args.buckets,
        })
    }
}

#[cfg(test)]
mod recover_tests {
    use super::*;
    use crate::cli::RecoverArgs;

    fn now() -> SystemTime {
        std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn secs(t: SystemTime) -> u64 {
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn the_window_is_resolved_from_any_two_of_start_end_and_length() {
        let c = RecoverConfig::load(&RecoverArgs::default(), now()).unwrap();
        assert_eq!(
            (secs(c.start), secs(c.end)),
            (1_800_000_000 - 600, 1_800_000_000)
        );
        assert_eq!(c.prometheus, "http://127.0.0.1:9090");
        assert_eq!(c.metrics.len(), 2);
        let args = RecoverArgs {
            start: Some("2027-01-15T08:00:00Z".into()),
            window: Some("1h".into()),
            ..Default::default()
        };
        let c = RecoverConfig::load(&args, now()).unwrap();
        assert_eq!(secs(c.end) - secs(c.start), 3600);
        // 2027-01-15T08:00:00Z is 1.8e9 Unix seconds.
        assert_eq!(secs(c.start), 1_800_000_000);
        let args = RecoverArgs {
            start: Some("1700000000".into()),
            end: Some("1700000060.5".into()),
            ..Default::default()
        };
        let c = RecoverConfig::load(&args, now()).unwrap();
        assert_eq!((secs(c.start), secs(c.end)), (1_700_000_000, 1_700_000_060));
    }

    #[test]
    fn bad_recover_flags_name_the_flag_on_one_line() {
        let cases: Vec<(RecoverArgs, &str)> = vec![
            (
                RecoverArgs {
                    window: Some("soon".into()),
                    ..Default::default()
                },
                "invalid --window 'soon'",
            ),
            (
                RecoverArgs {
                    window: Some("0s".into()),
                    ..Default::default()
                },
                "greater than zero",
            ),
            (
                RecoverArgs {
                    start: Some("yesterday".into()),
                    ..Default::default()
                },
                "invalid --start 'yesterday': expected RFC 3339",
            ),
            (
                RecoverArgs {
                    start: Some("1700000100".into()),
                    end: Some("1700000000".into()),
                    ..Default::default()
                },
                "the start must come first",
            ),
            (
                RecoverArgs {
                    start: Some("1".into()),
                    end: Some("2".into()),
                    window: Some("1s".into()),
                    ..Default::default()
                },
                "give two of them",
            ),
            (
                RecoverArgs {
                    prometheus: Some("https://p:9090".into()),
                    ..Default::default()
                },
                "https is not supported",
            ),
            (
                RecoverArgs {
                    prometheus: Some("127.0.0.1:9090".into()),
                    ..Default::default()
                },
                "invalid --prometheus",
            ),
            (
                RecoverArgs {
                    metric: Some("latency".into()),
                    ..Default::default()
                },
                "expected value, delay or both",
            ),
            (
                RecoverArgs {
                    source: Some("summary".into()),
                    ..Default::default()
                },
                "expected auto, native or classic",
            ),
            (
                RecoverArgs {
                    truth_value: Some("weibull(k=1)".into()),
                    ..Default::default()
                },
                "unknown distribution 'weibull'",
            ),
            (
                RecoverArgs {
                    truth_delay: Some("normal(mean=0, std_dev=1)".into()),
                    ..Default::default()
                },
                "invalid --truth-delay",
            ),
            (
                RecoverArgs {
                    min_samples: Some("0".into()),
                    ..Default::default()
                },
                "invalid --min-samples '0'",
            ),
            (
                RecoverArgs {
                    plot: Some("out.jpg".into()),
                    ..Default::default()
                },
                "must end in .png or .svg",
            ),
            (
                RecoverArgs {
                    instance: Some(String::new()),
                    ..Default::default()
                },
                "invalid --instance",
            ),
        ];
        for (args, want) in cases {
            let err = RecoverConfig::load(&args, now()).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} lacks {want:?}");
            assert!(!err.contains('\n'), "{err:?} is not one line");
        }
    }
}

impl crate::batch::BatchConfig {
    /// Validates `monlab batch`'s flags; the Pushgateway may also come from MONLAB_PUSHGATEWAY.
    pub fn load(args: &crate::cli::BatchArgs, layers: &Layers) -> Result<Self, ConfigError> {
        let (raw, flag) = match (&args.pushgateway, layers.env.get("MONLAB_PUSHGATEWAY")) {
            (Some(u), _) => (u.clone(), "--pushgateway"),
            (None, Some(u)) => (u.clone(), "MONLAB_PUSHGATEWAY"),
            (None, None) => ("http://127.0.0.1:9091".to_string(), "--pushgateway"),
        };
        if !raw
            .strip_prefix("http://")
            .is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        {
            return Err(flag_error(flag, &raw, "expected http://host:port"));
        }
        let job = args.job.clone().unwrap_or_else(|| "monlab-backfill".into());
        if job.is_empty()
            || job.len() > 64
            || !job
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(flag_error(
                "--job",
                &job,
                "expected 1-64 characters of A-Z, a-z, 0-9, '-', '_'",
            ));
        }
        let rows = match &args.rows {
            None => 200_000,
            Some(r) => match r.parse::<u64>() {
                Ok(n) if (1..=100_000_000).contains(&n) => n,
                _ => {
                    return Err(flag_error(
                        "--rows",
                        r,
                        "expected a whole number from 1 to 100000000",
                    ))
                }
            },
        };
        let schedule = match &args.schedule {
            None => Duration::from_secs(600),
            Some(r) => match parse_duration(r) {
                Ok(d) if d >= Duration::from_secs(1) => d,
                Ok(_) => return Err(flag_error("--schedule", r, "must be at least 1s")),
                Err(e) => return Err(flag_error("--schedule", r, e)),
            },
        };
        let seed = match &args.seed {
            None => 1,
            Some(r) => r
                .parse::<u64>()
                .map_err(|_| flag_error("--seed", r, "expected a whole number"))?,
        };
        Ok(Self {
            pushgateway: raw.trim_end_matches('/').to_string(),
            job,
            rows,
            schedule,
            fail: args.fail,
            seed,
        })
    }
}

/// Parses a report time: `now`, a negative duration before now (`-2h`), Unix seconds or
/// RFC 3339.
pub fn parse_report_time(raw: &str, now: SystemTime) -> Result<f64, String> {
    let raw = raw.trim();
    let t = if raw == "now" {
        now
    } else if let Some(ago) = raw.strip_prefix('-') {
        now.checked_sub(parse_duration(ago)?)
            .ok_or_else(|| "too far in the past".to_string())?
    } else {
        parse_instant(raw)?
    };
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0))
}

impl crate::report::ReportConfig {
    /// Validates `monlab report`'s flags against `now`.
    pub fn load(
        args: &crate::cli::ReportArgs,
        layers: &Layers,
        now: SystemTime,
    ) -> Result<Self, ConfigError> {
        let from =
            parse_report_time(&args.from, now).map_err(|e| flag_error("--from", &args.from, e))?;
        let to_raw = args.to.clone().unwrap_or_else(|| "now".into());
        let to = parse_report_time(&to_raw, now).map_err(|e| flag_error("--to", &to_raw, e))?;
        let now_s = parse_report_time("now", now).unwrap_or(0.0);
        if to > now_s + 60.0 {
            return Err(flag_error("--to", &to_raw, "is in the future"));
        }
        if to - from < 60.0 {
            return Err(ConfigError(format!(
                "invalid period --from '{}' --to '{to_raw}': it must be at least one minute long, with --from before --to",
                args.from
            )));
        }
        if to - from > 400.0 * 86_400.0 {
            return Err(ConfigError("invalid period: at most 400 days".into()));
        }
        let (store, flag) = match (&args.store, layers.env.get("MONLAB_STORE")) {
            (Some(u), _) => (u.clone(), "--store"),
            (None, Some(u)) => (u.clone(), "MONLAB_STORE"),
            (None, None) => ("http://127.0.0.1:9090".to_string(), "--store"),
        };
        if !store
            .strip_prefix("http://")
            .is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        {
            return Err(flag_error(flag, &store, "expected http://host:port"));
        }
        let job = args.job.clone().unwrap_or_else(|| "monlab".into());
        parse_label_value(&job).map_err(|e| flag_error("--job", &job, e))?;
        Ok(Self {
            store: store.trim_end_matches('/').to_string(),
            from,
            to,
            out: args.out.clone().unwrap_or_else(|| PathBuf::from("report")),
            job,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load(
        args: ServeArgs,
        vars: &[(&str, &str)],
        file: Option<&str>,
    ) -> Result<ServeConfig, String> {
        let tmp = tempfile_with(file.unwrap_or(""));
        let layers =
            Layers::new(env(vars), file.map(|_| tmp.as_path())).map_err(|e| e.to_string())?;
        ServeConfig::load(&args, &layers).map_err(|e| e.to_string())
    }

    fn tempfile_with(text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "monlab-config-test-{}-{:?}.toml",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .unwrap();
        path
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = load(ServeArgs::default(), &[], None).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.concurrency_limit, 1024);
        assert_eq!(c.random.value.to_string(), DEFAULT_VALUE);
        assert_eq!(c.random.seed, None);
    }

    #[test]
    fn flag_beats_env_beats_file() {
        let file =
            "[server]\nlisten = \"127.0.0.1:1\"\nconcurrency_limit = 7\n[random]\nseed = 3\n";
        let vars = [("MONLAB_LISTEN", "127.0.0.1:2"), ("MONLAB_SEED", "4")];
        let args = ServeArgs {
            listen: Some("127.0.0.1:3".into()),
            ..Default::default()
        };
        let c = load(args, &vars, Some(file)).unwrap();
        assert_eq!(c.listen.port(), 3);
        assert_eq!(c.random.seed, Some(4));
        assert_eq!(c.concurrency_limit, 7);
    }

    #[test]
    fn the_lab_upstreams_come_from_flag_env_or_file() {
        let none = load(ServeArgs::default(), &[], None).unwrap();
        assert_eq!(none.lab.prometheus_url, None);
        assert_eq!(none.lab.alertmanager_url, None);
        let file = "[lab]\nprometheus_url = \"http://127.0.0.1:1/\"\nalertmanager_url = \"http://127.0.0.1:2\"\n";
        let vars = [("MONLAB_PROMETHEUS_URL", "http://127.0.0.1:3/prom")];
        let args = ServeArgs {
            alertmanager_url: Some("http://127.0.0.1:4".into()),
            ..Default::default()
        };
        let c = load(args, &vars, Some(file)).unwrap();
        assert_eq!(
            c.lab.prometheus_url.as_deref(),
            Some("http://127.0.0.1:3/prom")
        );
        assert_eq!(
            c.lab.alertmanager_url.as_deref(),
            Some("http://127.0.0.1:4")
        );
        let c = load(ServeArgs::default(), &[], Some(file)).unwrap();
        assert_eq!(c.lab.prometheus_url.as_deref(), Some("http://127.0.0.1:1"));
        let bad = ServeArgs {
            prometheus_url: Some("127.0.0.1:9090".into()),
            ..Default::default()
        };
        let e = load(bad, &[], None).unwrap_err();
        assert!(
            e.starts_with("invalid --prometheus-url '127.0.0.1:9090': expected an http:// URL"),
            "{e}"
        );
        let e = load(
            ServeArgs::default(),
            &[("MONLAB_ALERTMANAGER_URL", "https://am:9093")],
            None,
        )
        .unwrap_err();
        assert!(
            e.contains("MONLAB_ALERTMANAGER_URL") && e.contains("https"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_setting_and_its_origin() {
        type Case<'a> = (ServeArgs, Vec<(&'a str, &'a str)>, Option<&'a str>, &'a str);
        let cases: Vec<Case> = vec![
            (
                ServeArgs {
                    listen: Some("nope".into()),
                    ..Default::default()
                },
                vec![],
                None,
                "invalid --listen 'nope': expected an address",
            ),
            (
                ServeArgs::default(),
                vec![("MONLAB_CONCURRENCY_LIMIT", "0")],
                None,
                "invalid MONLAB_CONCURRENCY_LIMIT '0': expected a whole number >= 1",
            ),
            (
                ServeArgs::default(),
                vec![],
                Some("[random]\ndelay = \"normal(mean=0.05, std_dev=0.02)\"\n"),
                "invalid random.delay in",
            ),
            (
                ServeArgs::default(),
                vec![],
                Some("[server]\nlisen = \"x\"\n"),
                "unknown setting server.lisen",
            ),
            (
                ServeArgs::default(),
                vec![],
                Some("[server\n"),
                "is not valid TOML at line 1",
            ),
            (
                ServeArgs {
                    shutdown_grace: Some("soon".into()),
                    ..Default::default()
                },
                vec![],
                None,
                "invalid --shutdown-grace 'soon'",
            ),
            (
                ServeArgs {
                    value: Some("normal(mean=1, std_dev=0)".into()),
                    ..Default::default()
                },
                vec![],
                None,
                "invalid --value 'normal(mean=1, std_dev=0)': normal: std_dev must be",
            ),
        ];
        for (args, vars, file, want) in cases {
            let err = load(args, &vars, file).unwrap_err();
            assert!(err.contains(want), "{err:?} lacks {want:?}");
            assert!(!err.contains('\n'), "{err:?} is not one line");
        }
    }
}
