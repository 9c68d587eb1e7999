//! The command line: one [`Command`] per subcommand, each with its own args struct.
//!
//! Values are kept as text here; `config` parses and validates them together with the
//! config file and `MONLAB_*` environment, so every bad value gets the same one-line error.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

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
    /// Send open-loop traffic to a running service and report rates and latencies.
    Load(LoadArgs),
}

/// Flags of `monlab serve`; each can also come from `MONLAB_*` or the config file.
#[derive(Debug, Args, Default, Clone)]
pub struct ServeArgs {
    /// TOML config file [env: MONLAB_CONFIG]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080] [env: MONLAB_LISTEN]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Seed for the random draws, for a reproducible run [env: MONLAB_SEED]
    #[arg(long, value_name = "N")]
    pub seed: Option<String>,
    /// Distribution of the value, e.g. "normal(mean=100, std_dev=15)" [env: MONLAB_VALUE]
    #[arg(long, value_name = "DIST")]
    pub value: Option<String>,
    /// Distribution of the delay in seconds, e.g. "lognormal(mu=-3.2, sigma=0.5)" [env: MONLAB_DELAY]
    #[arg(long, value_name = "DIST")]
    pub delay: Option<String>,
    /// Upper cap on a drawn delay [default: 30s] [env: MONLAB_MAX_DELAY]
    #[arg(long, value_name = "DURATION")]
    pub max_delay: Option<String>,
    /// Requests served at once before new ones get 503 [default: 1024] [env: MONLAB_CONCURRENCY_LIMIT]
    #[arg(long, value_name = "N")]
    pub concurrency_limit: Option<String>,
    /// Time in-flight requests get to finish after SIGTERM [default: 10s] [env: MONLAB_SHUTDOWN_GRACE]
    #[arg(long, value_name = "DURATION")]
    pub shutdown_grace: Option<String>,
    /// Time to keep accepting while reporting unready after SIGTERM [default: 0s] [env: MONLAB_DRAIN_DELAY]
    #[arg(long, value_name = "DURATION")]
    pub drain_delay: Option<String>,
    /// Record metrics (false removes the middleware; for benchmarks) [default: true] [env: MONLAB_METRICS]
    #[arg(long, value_name = "BOOL")]
    pub metrics: Option<String>,
    /// Bearer token that turns the admin API on (prefer the env var) [env: MONLAB_ADMIN_TOKEN]
    #[arg(long, value_name = "TOKEN")]
    pub admin_token: Option<String>,
    /// Time budget of one model call before the fallback answers [default: 50ms] [env: MONLAB_MODEL_TIMEOUT]
    #[arg(long, value_name = "DURATION")]
    pub model_timeout: Option<String>,
    /// Simulated model latency in seconds [default: lognormal(mu=-5.5, sigma=0.4)] [env: MONLAB_MODEL_LATENCY]
    #[arg(long, value_name = "DIST")]
    pub model_latency: Option<String>,
}

/// Flags of `monlab up`.
#[derive(Debug, Args, Default, Clone)]
pub struct UpArgs {
    /// Folder with the monitoring stack's files [default: deploy]
    #[arg(long, value_name = "DIR")]
    pub deploy: Option<PathBuf>,
    /// Folder for Prometheus's and Alertmanager's data and the logs [default: .monlab]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Port of the service [default: 8080]
    #[arg(long, value_name = "PORT")]
    pub port: Option<String>,
    /// Port of Prometheus [default: 9090]
    #[arg(long, value_name = "PORT")]
    pub prometheus_port: Option<String>,
    /// Port of Alertmanager [default: 9093]
    #[arg(long, value_name = "PORT")]
    pub alertmanager_port: Option<String>,
    /// Scrape and rule-evaluation interval [default: as in deploy/prometheus/prometheus.yml]
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Background load in requests/s; 0 for none [default: 20]
    #[arg(long, value_name = "N")]
    pub load_rate: Option<String>,
    /// Admin token of the service [default: a random one, printed] [env: MONLAB_ADMIN_TOKEN]
    #[arg(long, value_name = "TOKEN")]
    pub admin_token: Option<String>,
    /// Flags passed to `monlab serve`, after `--` (e.g. -- --delay "gamma(shape=2, scale=0.02)")
    #[arg(last = true, value_name = "SERVE FLAGS")]
    pub serve_args: Vec<String>,
}

/// `monlab incident` and its subcommands.
#[derive(Debug, Args, Clone)]
pub struct IncidentArgs {
    /// The service [default: http://127.0.0.1:8080] [env: MONLAB_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// Admin token (prefer the env var) [env: MONLAB_ADMIN_TOKEN]
    #[arg(long, global = true, value_name = "TOKEN")]
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
        /// How long [default: 5m]
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
        /// Share of users, requests or the limit, in (0, 1]
        #[arg(long, value_name = "SHARE")]
        share: Option<f64>,
        /// Extra delay in seconds
        #[arg(long, value_name = "SECONDS")]
        seconds: Option<f64>,
        /// Route template affected, e.g. /random
        #[arg(long, value_name = "ROUTE")]
        route: Option<String>,
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
        /// Longest wait for resolved notifications after the last incident [default: 10m]
        #[arg(long, value_name = "DURATION")]
        resolve_wait: Option<String>,
    },
}

/// Flags of `monlab load`; each can also come from a `MONLAB_LOAD_*` variable.
#[derive(Debug, Args, Default, Clone)]
pub struct LoadArgs {
    /// The service [default: http://127.0.0.1:8080] [env: MONLAB_LOAD_TARGET]
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Requests per second the schedule aims at [default: 100] [env: MONLAB_LOAD_RATE]
    #[arg(long, value_name = "N")]
    pub rate: Option<String>,
    /// How arrivals are spaced: constant or poisson [default: poisson] [env: MONLAB_LOAD_ARRIVALS]
    #[arg(long, value_name = "KIND")]
    pub arrivals: Option<String>,
    /// Stop after this long, at most 24h (with --requests, whichever comes first) [env: MONLAB_LOAD_DURATION]
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Stop after this many requests, at most 1e9 [env: MONLAB_LOAD_REQUESTS]
    #[arg(long, value_name = "N")]
    pub requests: Option<String>,
    /// Route weights [default: random=70,login=20,predict=10] [env: MONLAB_LOAD_MIX]
    #[arg(long, value_name = "ROUTE=WEIGHT,...")]
    pub mix: Option<String>,
    /// Distinct users u0..u{N-1} [default: 1000] [env: MONLAB_LOAD_USERS]
    #[arg(long, value_name = "N")]
    pub users: Option<String>,
    /// Share of logins sent with a wrong token, from 0 to 1 [default: 0.02] [env: MONLAB_LOAD_BAD_LOGIN_SHARE]
    #[arg(long, value_name = "SHARE")]
    pub bad_login_share: Option<String>,
    /// Most requests in flight at once [default: 1024] [env: MONLAB_LOAD_CONCURRENCY]
    #[arg(long, value_name = "N")]
    pub concurrency: Option<String>,
    /// Longest wait for one response, from the actual send [default: 10s] [env: MONLAB_LOAD_TIMEOUT]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Seed for arrivals, routes, users and features, for a reproducible run [env: MONLAB_LOAD_SEED]
    #[arg(long, value_name = "N")]
    pub seed: Option<String>,
    /// Print the report as JSON on stdout (no progress bar)
    #[arg(long)]
    pub json: bool,
    /// No progress bar
    #[arg(long)]
    pub quiet: bool,
}
