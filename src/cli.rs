//! The command line: one [`Command`] per subcommand, each with its own args struct.
//!
//! Every setting is declared once, here: its flag, its `MONLAB_*` variable (`env`), its
//! parser (one per kind of value, in [`crate::settings::parse`]) and its default, taken from
//! the feature's `Config::default()` so `--help` cannot drift from what runs. A setting a
//! config file may also give is listed in `cmd::args::FILE_KEYS`.

use crate::settings::parse;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// A duration as a flag takes and shows it (`10s`, `5m`).
pub type Dur = humantime::Duration;

/// monlab: a simulated production system with its monitoring built in.
#[derive(Debug, Parser)]
#[command(name = "monlab", version, about, propagate_version = true)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: /random, /login, /predict, health, /metrics, admin and webhook.
    Serve(ServeArgs),
    /// Run the whole system on this machine: service, load, Prometheus, Alertmanager.
    Up(UpArgs),
    /// Break and mend a running service: list, start and stop incidents.
    Incident(IncidentArgs),
    /// Run the batch job once and push its outcome to a Pushgateway.
    Batch(BatchArgs),
    /// Write a performance review of a period (Markdown, HTML, plots) from Prometheus or VictoriaMetrics.
    Report(ReportArgs),
    /// Send open-loop traffic to a running service and report rates and latencies.
    Load(LoadArgs),
    /// Rebuild the value and delay distributions from Prometheus's histograms and fit them.
    Recover(RecoverArgs),
    /// Measure the alerts: trials of every incident and a clean baseline on the warped stack; precision, recall, detection and reset times.
    Gameday(GamedayArgs),
    /// Fit the credit-risk model and write it with the reference statistics of its data.
    Train(TrainArgs),
    /// From an alert to the users and requests behind it, through Prometheus's exemplars.
    Diagnose(DiagnoseArgs),
}

fn serve() -> crate::service::ServeConfig {
    crate::service::ServeConfig::default()
}
fn up() -> crate::stack::UpConfig {
    crate::stack::UpConfig::default()
}
fn load() -> crate::load::LoadConfig {
    crate::load::LoadConfig::default()
}
fn recover() -> crate::recover::RecoverConfig {
    crate::recover::RecoverConfig::default()
}
fn batch() -> crate::batch::BatchConfig {
    crate::batch::BatchConfig::default()
}
fn report() -> crate::report::ReportConfig {
    crate::report::ReportConfig::default()
}
fn gameday() -> crate::gameday::GamedayConfig {
    crate::gameday::GamedayConfig::default()
}
fn train() -> crate::ml::train::TrainConfig {
    crate::ml::train::TrainConfig::default()
}
fn diagnose() -> crate::diagnose::DiagnoseConfig {
    crate::diagnose::DiagnoseConfig::default()
}
fn resolve_wait() -> Dur {
    crate::scenario::PlayOptions::default().resolve_wait.into()
}

/// `monlab diagnose` and what it looks for.
#[derive(Debug, Args, Clone)]
pub struct DiagnoseArgs {
    /// What to look for.
    #[command(subcommand)]
    pub what: DiagnoseWhat,
}

/// What `monlab diagnose` looks for.
#[derive(Debug, Subcommand, Clone)]
pub enum DiagnoseWhat {
    /// Requests slower than --threshold (MonlabSlowRequests), grouped by user.
    SlowRequests {
        /// Slow means longer than this (MonlabSlowRequests counts requests over 1 s)
        #[arg(long, value_name = "DURATION", value_parser = parse::positive_duration, default_value_t = diagnose().threshold.into())]
        threshold: Dur,
        /// Where to look, how far back, how to print.
        #[command(flatten)]
        flags: DiagnoseFlags,
    },
    /// Requests answered with a server error (MonlabHighErrorRatio), grouped by user.
    Errors {
        /// Where to look, how far back, how to print.
        #[command(flatten)]
        flags: DiagnoseFlags,
    },
}

/// Flags of each `monlab diagnose` subcommand.
#[derive(Debug, Args, Clone)]
pub struct DiagnoseFlags {
    /// Prometheus to ask (the one `monlab up` runs by default)
    #[arg(long, value_name = "URL", value_parser = parse::http_base, default_value_t = diagnose().prometheus)]
    pub prometheus: String,
    /// How far back, in system time (scaled by the service's time warp), 1s to 24h
    #[arg(long, value_name = "DURATION", value_parser = parse::duration_in(Duration::from_secs(1), crate::diagnose::MAX_WINDOW), default_value_t = diagnose().window.into())]
    pub window: Dur,
    /// Users listed at most
    #[arg(long, value_name = "N", value_parser = parse::count_in(1, 100_000), default_value_t = diagnose().top as u64, allow_negative_numbers = true)]
    pub top: u64,
    /// Access logs with each request's line: a file, or a folder of *access.log files; repeatable [default: .monlab/logs, where `monlab up` writes them]
    #[arg(long, value_name = "PATH")]
    pub log: Vec<PathBuf>,
    /// Print the diagnosis as JSON
    #[arg(long)]
    pub json: bool,
}

/// Flags of `monlab gameday`. Durations and rates are system time, as in a scenario.
#[derive(Debug, Args, Clone)]
pub struct GamedayArgs {
    /// Folder with the monitoring stack's files (the rules measured)
    #[arg(long, value_name = "DIR", default_value = gameday().deploy.into_os_string())]
    pub deploy: PathBuf,
    /// Folder for the stack's data and logs (cleared first)
    #[arg(long, value_name = "DIR", default_value = gameday().data_dir.into_os_string())]
    pub data_dir: PathBuf,
    /// Time warp K, 1 to 60
    #[arg(long, value_name = "K", value_parser = parse::speed, default_value_t = gameday().speed, allow_negative_numbers = true)]
    pub speed: crate::warp::Speed,
    /// Steady load of the trials, requests per system second
    #[arg(long, value_name = "N", value_parser = parse_load_rate, default_value_t = gameday().load_rate, allow_negative_numbers = true)]
    pub load_rate: f64,
    /// Length of the clean baseline (system time; 0s for none)
    #[arg(long, value_name = "DURATION", value_parser = parse::duration_in(Duration::ZERO, Duration::from_secs(7 * 24 * 3600)), default_value_t = gameday().baseline.into())]
    pub baseline: Dur,
    /// Peak of the baseline's diurnal load (a quarter of it at night, with bursts), requests per system second
    #[arg(long, value_name = "N", value_parser = parse_load_rate, default_value_t = gameday().baseline_peak, allow_negative_numbers = true)]
    pub baseline_peak: f64,
    /// Incidents played at their default intensity: comma-separated names, all, or none
    #[arg(long, value_name = "NAMES", value_parser = parse_incidents, default_value = "all")]
    pub incidents: IncidentList,
    /// Trials of each incident at its default intensity
    #[arg(long, value_name = "N", value_parser = parse::count_in(0, 1000), default_value_t = u64::from(gameday().trials), allow_negative_numbers = true)]
    pub trials: u64,
    /// Incidents whose other intensities are played too (slow-users, error-share, extra-latency, burst, feature-drift): names, all, or none
    #[arg(long, value_name = "NAMES", value_parser = parse_incidents, default_value = "none")]
    pub ladder: IncidentList,
    /// Trials per other intensity of a ladder
    #[arg(long, value_name = "N", value_parser = parse::count_in(1, 1000), default_value_t = u64::from(gameday().ladder_trials), allow_negative_numbers = true)]
    pub ladder_trials: u64,
    /// Seed of the order, the gaps and the loads [default: from the OS, printed]
    #[arg(long, value_name = "N", value_parser = parse::seed, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Folder for detection-<time>.json
    #[arg(long, value_name = "DIR", default_value = gameday().results.into_os_string())]
    pub results: PathBuf,
    /// Rewrite the generated section of this Markdown page, and its plot beside it (.png) [default: none]
    #[arg(long, value_name = "FILE")]
    pub doc: Option<PathBuf>,
    /// Run nothing: merge these results files of game days run apart (same --speed and --load-rate) into one, written to --results (and --doc)
    #[arg(long, value_name = "FILE", num_args = 2.., conflicts_with_all = ["deploy", "data_dir", "speed", "load_rate", "baseline", "baseline_peak", "incidents", "trials", "ladder", "ladder_trials", "seed"])]
    pub merge: Vec<PathBuf>,
}

/// A list of incidents as a flag gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentList(pub Vec<crate::incident::Incident>);

fn parse_incidents(raw: &str) -> Result<IncidentList, String> {
    use crate::incident::Incident;
    match raw.trim() {
        "all" => return Ok(IncidentList(Incident::ALL.to_vec())),
        "none" | "" => return Ok(IncidentList(Vec::new())),
        _ => {}
    }
    raw.split(',')
        .map(|n| {
            Incident::from_name(n.trim()).ok_or_else(|| {
                format!(
                    "unknown incident {:?} (known: {}, or all, or none)",
                    n.trim(),
                    Incident::ALL.map(Incident::name).join(", ")
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(IncidentList)
}

/// Flags of `monlab train`. The same seed, rows and time write the same files byte for byte.
#[derive(Debug, Args, Clone)]
pub struct TrainArgs {
    /// Seed of the training rows (the shipped model's by default)
    #[arg(long, value_name = "N", value_parser = parse::seed, default_value_t = train().seed, allow_negative_numbers = true)]
    pub seed: u64,
    /// Training rows, from 1000 to 10000000
    #[arg(long, value_name = "N", value_parser = parse::count_in(1000, 10_000_000), default_value_t = train().rows as u64, allow_negative_numbers = true)]
    pub rows: u64,
    /// Folder for credit-risk.json and credit-risk.reference.json
    #[arg(long, value_name = "DIR", default_value_os_t = train().out)]
    pub out: PathBuf,
    /// Training time written into both files, RFC 3339 [default: now]
    #[arg(long, value_name = "TIME", value_parser = parse::rfc3339)]
    pub trained_at: Option<String>,
    /// Print the held-out evaluation as JSON
    #[arg(long)]
    pub json: bool,
}

/// Flags of `monlab serve`; each can also come from `MONLAB_*` or the config file.
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// TOML config file (flag beats environment beats file)
    #[arg(long, env = "MONLAB_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on
    #[arg(long, env = "MONLAB_LISTEN", value_name = "ADDR", value_parser = parse::socket_addr, default_value_t = serve().listen)]
    pub listen: std::net::SocketAddr,
    /// Seed for the random draws, for a reproducible run [default: from the OS]
    #[arg(long, env = "MONLAB_SEED", value_name = "N", value_parser = parse::seed, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Distribution of the value
    #[arg(long, env = "MONLAB_VALUE", value_name = "DIST", value_parser = parse::distribution, default_value_t = serve().random.value)]
    pub value: crate::distribution::Distribution,
    /// Distribution of the delay in seconds (never negative)
    #[arg(long, env = "MONLAB_DELAY", value_name = "DIST", value_parser = parse::non_negative_distribution, default_value_t = serve().random.delay)]
    pub delay: crate::distribution::Distribution,
    /// Upper cap on a drawn delay
    #[arg(long, env = "MONLAB_MAX_DELAY", value_name = "DURATION", value_parser = parse::positive_duration, default_value_t = serve().random.max_delay.into())]
    pub max_delay: Dur,
    /// Requests served at once before new ones get 503
    #[arg(long, env = "MONLAB_CONCURRENCY_LIMIT", value_name = "N", value_parser = parse::positive_count, default_value_t = serve().concurrency_limit, allow_negative_numbers = true)]
    pub concurrency_limit: usize,
    /// Time in-flight requests get to finish after SIGTERM
    #[arg(long, env = "MONLAB_SHUTDOWN_GRACE", value_name = "DURATION", value_parser = parse::duration, default_value_t = serve().shutdown_grace.into())]
    pub shutdown_grace: Dur,
    /// Time to keep accepting while reporting unready after SIGTERM
    #[arg(long, env = "MONLAB_DRAIN_DELAY", value_name = "DURATION", value_parser = parse::duration, default_value_t = serve().drain_delay.into())]
    pub drain_delay: Dur,
    /// Record metrics (false removes the middleware; for benchmarks)
    #[arg(long, env = "MONLAB_METRICS", value_name = "BOOL", value_parser = parse::boolean, default_value_t = serve().metrics, action = clap::ArgAction::Set)]
    pub metrics: bool,
    /// Exemplars (request and user id) on the latency and delay histograms and the error counter
    #[arg(long, env = "MONLAB_EXEMPLARS", value_name = "BOOL", value_parser = parse::boolean, default_value_t = serve().exemplars, action = clap::ArgAction::Set)]
    pub exemplars: bool,
    /// One JSON line per request (id, route, status, latency, user) appended to FILE, or - for stderr [default: none]
    #[arg(long, env = "MONLAB_ACCESS_LOG", value_name = "FILE|-", value_parser = parse::access_log)]
    pub access_log: Option<crate::telemetry::access_log::AccessLogTarget>,
    /// Time warp: model-monitoring windows and incident durations divided by K, 1 to 60
    #[arg(long, env = "MONLAB_SPEED", value_name = "K", value_parser = parse::speed, default_value_t = serve().speed, allow_negative_numbers = true)]
    pub speed: crate::warp::Speed,
    /// Bearer token that turns the admin API on (prefer the env var) [default: none, admin API off]
    #[arg(long, env = "MONLAB_ADMIN_TOKEN", hide_env_values = true, value_name = "TOKEN", value_parser = parse::admin_token)]
    pub admin_token: Option<String>,
    /// Time budget of one model call before the fallback answers
    #[arg(long, env = "MONLAB_MODEL_TIMEOUT", value_name = "DURATION", value_parser = parse::positive_duration, default_value_t = serve().model.timeout.into())]
    pub model_timeout: Dur,
    /// Simulated model latency in seconds
    #[arg(long, env = "MONLAB_MODEL_LATENCY", value_name = "DIST", value_parser = parse::non_negative_distribution, default_value_t = serve().model.latency)]
    pub model_latency: crate::distribution::Distribution,
    /// Share of predictions in the holdout (approved whatever the model decides, for unbiased outcomes), 0 to 1
    #[arg(long, env = "MONLAB_HOLDOUT_SHARE", value_name = "SHARE", value_parser = parse::share, default_value_t = serve().model.holdout_share, allow_negative_numbers = true)]
    pub holdout_share: f64,
    /// Prometheus the lab page (/lab) charts from, read-only [default: none]
    #[arg(long, env = "MONLAB_PROMETHEUS_URL", value_name = "URL", value_parser = parse::http_base)]
    pub prometheus_url: Option<String>,
    /// Alertmanager whose alerts the lab page lists, read-only [default: none]
    #[arg(long, env = "MONLAB_ALERTMANAGER_URL", value_name = "URL", value_parser = parse::http_base)]
    pub alertmanager_url: Option<String>,
    /// Other replicas (comma-separated base URLs) that incidents started here reach too [default: none]
    #[arg(long, env = "MONLAB_PEERS", value_name = "URL,...", value_parser = parse::http_base, value_delimiter = ',')]
    pub peers: Vec<String>,
}

/// Flags of `monlab up`.
#[derive(Debug, Args, Clone)]
pub struct UpArgs {
    /// Folder with the monitoring stack's files
    #[arg(long, value_name = "DIR", default_value_os_t = up().deploy)]
    pub deploy: PathBuf,
    /// Folder for Prometheus's and Alertmanager's data and the logs
    #[arg(long, value_name = "DIR", default_value_os_t = up().data_dir)]
    pub data_dir: PathBuf,
    /// Port of the service
    #[arg(long, value_name = "PORT", value_parser = parse::port, default_value_t = up().port, allow_negative_numbers = true)]
    pub port: u16,
    /// Port of Prometheus
    #[arg(long, value_name = "PORT", value_parser = parse::port, default_value_t = up().prometheus_port, allow_negative_numbers = true)]
    pub prometheus_port: u16,
    /// Port of Alertmanager
    #[arg(long, value_name = "PORT", value_parser = parse::port, default_value_t = up().alertmanager_port, allow_negative_numbers = true)]
    pub alertmanager_port: u16,
    /// Scrape and rule-evaluation interval, 100ms to 5m [default: as in deploy/prometheus/prometheus.yml]
    #[arg(long, value_name = "DURATION", value_parser = parse::duration_in(Duration::from_millis(100), Duration::from_secs(300)))]
    pub interval: Option<Dur>,
    /// Background load in requests/s, split over the replicas; 0 for none
    #[arg(long, value_name = "N", value_parser = parse_load_rate, default_value_t = up().load_rate, allow_negative_numbers = true)]
    pub load_rate: f64,
    /// Service instances, each on its own port from --port on
    #[arg(long, value_name = "N", value_parser = parse::count_in(1, 16), default_value_t = up().replicas as u64, allow_negative_numbers = true)]
    pub replicas: u64,
    /// Two Prometheus replicas, an Alertmanager cluster of three, VictoriaMetrics
    #[arg(long)]
    pub ha: bool,
    /// Start clean: remove the series, alert state and notification log an earlier run left in the data folder
    #[arg(long)]
    pub fresh: bool,
    /// Time warp: every duration of the system divided by K (intervals, rule windows, timers), the load K times faster; 1 to 60
    #[arg(long, env = "MONLAB_SPEED", value_name = "K", value_parser = parse::speed, default_value_t = up().speed, allow_negative_numbers = true)]
    pub speed: crate::warp::Speed,
    /// Port of VictoriaMetrics with --ha
    #[arg(long, value_name = "PORT", value_parser = parse::port, default_value_t = up().vm_port, allow_negative_numbers = true)]
    pub vm_port: u16,
    /// Port of the Pushgateway
    #[arg(long, value_name = "PORT", value_parser = parse::port, default_value_t = up().pushgateway_port, allow_negative_numbers = true)]
    pub pushgateway_port: u16,
    /// How often the batch job runs (pushing to the Pushgateway); 0s for never, else at least 10s
    #[arg(long, value_name = "DURATION", value_parser = parse_batch_every, default_value_t = up().batch_every.unwrap_or_default().into())]
    pub batch_every: Dur,
    /// Play this scenario once everything is up, then print its scoreboard
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// With --scenario: longest wait for resolved notifications after the last incident [default: 10m]
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub resolve_wait: Option<Dur>,
    /// Admin token of the service [default: a random one, printed]
    #[arg(long, env = "MONLAB_ADMIN_TOKEN", hide_env_values = true, value_name = "TOKEN", value_parser = parse::admin_token)]
    pub admin_token: Option<String>,
    /// Flags passed to `monlab serve`, after `--` (e.g. -- --delay "gamma(shape=2, scale=0.02)")
    #[arg(last = true, value_name = "SERVE FLAGS")]
    pub serve_args: Vec<String>,
}

fn parse_load_rate(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && (0.0..=100_000.0).contains(&r) => Ok(r),
        _ => Err("expected a number of requests/s from 0 to 100000".into()),
    }
}

fn parse_batch_every(raw: &str) -> Result<Dur, String> {
    let d = parse::duration(raw)?;
    if d.is_zero() || *d >= Duration::from_secs(10) {
        Ok(d)
    } else {
        Err("must be 0s (never) or at least 10s".into())
    }
}

/// `monlab incident` and its subcommands.
#[derive(Debug, Args, Clone)]
pub struct IncidentArgs {
    /// The service
    #[arg(long, global = true, env = "MONLAB_URL", value_name = "URL", value_parser = parse::http_base, default_value = format!("http://{}", load().target))]
    pub url: String,
    /// Admin token (prefer the env var)
    #[arg(
        long,
        global = true,
        env = "MONLAB_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Print JSON instead of a table
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub action: IncidentAction,
}

/// What `monlab incident` does.
#[derive(Debug, Subcommand, Clone)]
pub enum IncidentAction {
    /// Every incident with its state and time left.
    List,
    /// Start an incident.
    Start {
        /// Incident name (see `list`).
        name: String,
        /// How long, and the incident's parameters.
        #[command(flatten)]
        params: crate::api::incident::Params,
    },
    /// Stop an incident.
    Stop {
        /// Incident name.
        name: String,
    },
    /// Play a scenario file and print the scoreboard.
    Play {
        /// The scenario (TOML).
        file: PathBuf,
        /// Longest wait for resolved notifications after the last incident
        #[arg(long, value_name = "DURATION", value_parser = parse::duration, default_value_t = resolve_wait())]
        resolve_wait: Dur,
    },
}

/// Flags of `monlab load`; each can also come from a `MONLAB_LOAD_*` variable or the
/// config file's `[load]` table.
#[derive(Debug, Args, Clone)]
pub struct LoadArgs {
    /// TOML config file with a [load] table (flag beats environment beats file)
    #[arg(long, env = "MONLAB_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The service
    #[arg(long, env = "MONLAB_LOAD_TARGET", value_name = "URL", value_parser = parse::service_authority, default_value = format!("http://{}", load().target))]
    pub target: http::uri::Authority,
    /// Requests per second the schedule aims at, above 0 and at most 1000000
    #[arg(long, env = "MONLAB_LOAD_RATE", value_name = "N", value_parser = parse_rate, default_value_t = load().rate, allow_negative_numbers = true)]
    pub rate: f64,
    /// How arrivals are spaced
    #[arg(long, env = "MONLAB_LOAD_ARRIVALS", value_name = "KIND", value_enum, default_value_t = load().arrivals)]
    pub arrivals: crate::load::Arrivals,
    /// How the rate varies: flat, diurnal (a 24h day from a quarter of --rate at night, with 3-minute bursts every 37 minutes; --rate is the peak) or diurnal:PERIOD
    #[arg(long, env = "MONLAB_LOAD_SHAPE", value_name = "SHAPE", value_parser = crate::load::Shape::parse, default_value_t = load().shape)]
    pub shape: crate::load::Shape,
    /// Stop after this long, at most 24h (with --requests, whichever comes first)
    #[arg(long, env = "MONLAB_LOAD_DURATION", value_name = "DURATION", value_parser = parse::duration_in(Duration::from_nanos(1), crate::load::LOAD_MAX_DURATION))]
    pub duration: Option<Dur>,
    /// Stop after this many requests, at most 1e9
    #[arg(long, env = "MONLAB_LOAD_REQUESTS", value_name = "N", value_parser = parse::count_in(1, crate::load::LOAD_MAX_REQUESTS), allow_negative_numbers = true)]
    pub requests: Option<u64>,
    /// Route weights
    #[arg(long, env = "MONLAB_LOAD_MIX", value_name = "ROUTE=WEIGHT,...", value_parser = crate::load::Mix::parse, default_value_t = load().mix)]
    pub mix: crate::load::Mix,
    /// Distinct users u0..u{N-1}
    #[arg(long, env = "MONLAB_LOAD_USERS", value_name = "N", value_parser = parse::count_in(1, 1_000_000_000), default_value_t = load().users, allow_negative_numbers = true)]
    pub users: u64,
    /// Share of logins sent with a wrong token, from 0 to 1
    #[arg(long, env = "MONLAB_LOAD_BAD_LOGIN_SHARE", value_name = "SHARE", value_parser = parse::share, default_value_t = load().bad_login_share, allow_negative_numbers = true)]
    pub bad_login_share: f64,
    /// Most requests in flight at once, at most 100000
    #[arg(long, env = "MONLAB_LOAD_CONCURRENCY", value_name = "N", value_parser = parse::count_in(1, 100_000), default_value_t = load().concurrency as u64, allow_negative_numbers = true)]
    pub concurrency: u64,
    /// Longest wait for one response, from the actual send, at most 5m
    #[arg(long, env = "MONLAB_LOAD_TIMEOUT", value_name = "DURATION", value_parser = parse::duration_in(Duration::from_nanos(1), Duration::from_secs(300)), default_value_t = load().timeout.into())]
    pub timeout: Dur,
    /// Seed for arrivals, routes, users and features, for a reproducible run [default: from the OS]
    #[arg(long, env = "MONLAB_LOAD_SEED", value_name = "N", value_parser = parse::seed, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Share of approved predictions whose true outcome is sent to /feedback later (declined ones never have one), 0 to 1
    #[arg(long, env = "MONLAB_LOAD_FEEDBACK_SHARE", value_name = "SHARE", value_parser = parse::share, default_value_t = load().feedback_share, allow_negative_numbers = true)]
    pub feedback_share: f64,
    /// Mean delay before an outcome is sent, system time (exponential, cut at 10 means), at most 24h
    #[arg(long, env = "MONLAB_LOAD_FEEDBACK_DELAY", value_name = "DURATION", value_parser = parse::duration_in(Duration::ZERO, crate::load::config::MAX_FEEDBACK_DELAY), default_value_t = load().feedback_delay.into())]
    pub feedback_delay: Dur,
    /// Print the report as JSON on stdout (no progress bar)
    #[arg(long)]
    pub json: bool,
    /// No progress bar
    #[arg(long)]
    pub quiet: bool,
    /// Play this scenario against the target while the load runs (needs the admin token)
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// With --scenario: longest wait for resolved notifications after the last incident [default: 10m]
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub resolve_wait: Option<Dur>,
    /// Admin token for --scenario (prefer the env var)
    #[arg(
        long,
        env = "MONLAB_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Time warp K, as the service runs it: K times the rate, durations and feedback delay K times shorter, 1 to 60
    #[arg(long, env = "MONLAB_SPEED", value_name = "K", value_parser = parse::speed, default_value_t = crate::warp::Speed::ONE, allow_negative_numbers = true)]
    pub speed: crate::warp::Speed,
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 1_000_000.0 => Ok(x),
        _ => Err("expected requests per second, a number above 0 and at most 1000000".into()),
    }
}

/// Which distributions `recover` rebuilds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricChoice {
    /// The returned value.
    Value,
    /// The delay.
    Delay,
    /// Both.
    Both,
}

/// Flags of `monlab recover`.
#[derive(Debug, Args, Clone)]
pub struct RecoverArgs {
    /// Prometheus to ask (the one `monlab up` runs by default)
    #[arg(long, value_name = "URL", value_parser = parse::http_base, default_value_t = recover().prometheus)]
    pub prometheus: String,
    /// Length of the window, ending at --end (or now), at most 366d [default: 10m]
    #[arg(long, value_name = "DURATION", value_parser = parse::duration_in(Duration::from_nanos(1), crate::recover::RECOVER_MAX_WINDOW))]
    pub window: Option<Dur>,
    /// Window start: RFC 3339 in UTC (2026-01-02T03:04:05Z) or Unix seconds
    #[arg(long, value_name = "TIME", value_parser = parse::instant)]
    pub start: Option<std::time::SystemTime>,
    /// Window end: RFC 3339 in UTC or Unix seconds [default: now]
    #[arg(long, value_name = "TIME", value_parser = parse::instant)]
    pub end: Option<std::time::SystemTime>,
    /// Only this instance (host:port as Prometheus labels it) [default: sum over all]
    #[arg(long, value_name = "HOST:PORT", value_parser = parse::label_value)]
    pub instance: Option<String>,
    /// The scrape job of the service
    #[arg(long, value_name = "NAME", value_parser = parse::label_value, default_value_t = recover().job)]
    pub job: String,
    /// Which distribution
    #[arg(long, value_name = "WHICH", value_enum, default_value_t = MetricChoice::Both)]
    pub metric: MetricChoice,
    /// Which histogram: auto (native when present, compared with classic), native or classic
    #[arg(long, value_name = "KIND", value_enum, default_value_t = recover().source)]
    pub source: crate::recover::SourceChoice,
    /// The service whose /distributions is the truth [default: the scraped instance, if on this machine]
    #[arg(long, value_name = "URL", value_parser = parse::http_base)]
    pub truth_url: Option<String>,
    /// The true value distribution, e.g. "normal(mean=100, std_dev=15)" (overrides the service's)
    #[arg(long, value_name = "DIST", value_parser = parse::distribution)]
    pub truth_value: Option<crate::distribution::Distribution>,
    /// The true delay distribution, e.g. "lognormal(mu=-3.2, sigma=0.5)" (overrides the service's)
    #[arg(long, value_name = "DIST", value_parser = parse::non_negative_distribution)]
    pub truth_delay: Option<crate::distribution::Distribution>,
    /// Fewest observations to answer with
    #[arg(long, value_name = "N", value_parser = parse::count_in(1, 1_000_000_000), default_value_t = recover().min_samples, allow_negative_numbers = true)]
    pub min_samples: u64,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    /// Also list every bucket (bounds, count, density, CDF) in the table
    #[arg(long)]
    pub buckets: bool,
    /// Draw density histogram, fitted and true curves to FILE.png or FILE.svg
    #[arg(long, value_name = "FILE", value_parser = parse_plot_path)]
    pub plot: Option<PathBuf>,
}

fn parse_plot_path(raw: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(raw);
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("png" | "svg") => Ok(path),
        _ => Err("the file name must end in .png or .svg".into()),
    }
}

/// Flags of `monlab batch`.
#[derive(Debug, Args, Clone)]
pub struct BatchArgs {
    /// Pushgateway base URL
    #[arg(long, env = "MONLAB_PUSHGATEWAY", value_name = "URL", value_parser = parse::http_base, default_value_t = batch().pushgateway)]
    pub pushgateway: String,
    /// Job label of the pushed group
    #[arg(long, value_name = "NAME", value_parser = parse::job_name, default_value_t = batch().job)]
    pub job: String,
    /// Rows to process, at most 100000000
    #[arg(long, value_name = "N", value_parser = parse::count_in(1, 100_000_000), default_value_t = batch().rows, allow_negative_numbers = true)]
    pub rows: u64,
    /// How often the job is meant to run, pushed for the staleness alert; at least 1s
    #[arg(long, value_name = "DURATION", value_parser = parse::duration_in(Duration::from_secs(1), Duration::MAX), default_value_t = batch().schedule.into())]
    pub schedule: Dur,
    /// Fail on purpose after the work (pushes a failure)
    #[arg(long)]
    pub fail: bool,
    /// Seed of the drawn rows
    #[arg(long, value_name = "N", value_parser = parse::seed, default_value_t = batch().seed, allow_negative_numbers = true)]
    pub seed: u64,
    /// Print the outcome as JSON
    #[arg(long)]
    pub json: bool,
}

/// Flags of `monlab report`.
#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// Start of the period: RFC 3339, Unix seconds, or relative such as -2h
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub from: String,
    /// End of the period, same forms, or now
    #[arg(
        long,
        value_name = "TIME",
        allow_hyphen_values = true,
        default_value = "now"
    )]
    pub to: String,
    /// Prometheus or VictoriaMetrics URL
    #[arg(long, env = "MONLAB_STORE", value_name = "URL", value_parser = parse::http_base, default_value_t = report().store)]
    pub store: String,
    /// Folder for report.md, report.html and the plots
    #[arg(long, value_name = "DIR", default_value_os_t = report().out)]
    pub out: PathBuf,
    /// Scrape job of the service
    #[arg(long, value_name = "NAME", value_parser = parse::label_value, default_value_t = report().job)]
    pub job: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_shows_the_defaults_that_run() {
        let mut cmd = Cli::command();
        let help = cmd
            .find_subcommand_mut("serve")
            .expect("serve")
            .render_long_help()
            .to_string();
        for shown in [
            "[default: 127.0.0.1:8080]",
            "[env: MONLAB_LISTEN=",
            "[default: \"normal(mean=100, std_dev=15)\"]",
            "[default: 10s]",
            "[default: 50ms]",
        ] {
            assert!(help.contains(shown), "{shown} not in serve --help:\n{help}");
        }
        // `--for` is applied by the service when absent; its help names that default.
        let start = cmd
            .find_subcommand_mut("incident")
            .and_then(|c| c.find_subcommand_mut("start"))
            .expect("incident start")
            .render_help()
            .to_string();
        let default = parse::text(crate::api::incident::DEFAULT_DURATION);
        assert!(
            start.contains(&format!("[default: {default}]")),
            "incident start --help does not say the service's default {default}:\n{start}"
        );
        // Flags whose absence means something (no scenario, a window from --start and --end)
        // name their default in the text; it must be the one that runs.
        let wait = parse::text(crate::scenario::PlayOptions::default().resolve_wait);
        let window = parse::text(crate::recover::RecoverConfig::DEFAULT_WINDOW);
        for (command, default) in [("up", &wait), ("load", &wait), ("recover", &window)] {
            let help = cmd
                .find_subcommand_mut(command)
                .expect("subcommand")
                .render_help()
                .to_string();
            assert!(
                help.contains(&format!("[default: {default}]")),
                "{command} --help does not say {default}:\n{help}"
            );
        }
    }
}
