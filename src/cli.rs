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
    /// Run the batch job once and push its outcome to a Pushgateway.
    Batch(BatchArgs),
    /// Write a performance review of a period (Markdown, HTML, plots) from Prometheus or VictoriaMetrics.
    Report(ReportArgs),
    /// Send open-loop traffic to a running service and report rates and latencies.
    Load(LoadArgs),
    /// Rebuild the value and delay distributions from Prometheus's histograms and fit them.
    Recover(RecoverArgs),
    /// Fit the credit-risk model and write it with the reference statistics of its data.
    Train(TrainArgs),
}

/// Flags of `monlab train`. The same seed, rows and time write the same files byte for byte.
#[derive(Debug, Args, Default, Clone)]
pub struct TrainArgs {
    /// Seed of the training rows [default: 7, the shipped model's]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub seed: Option<String>,
    /// Training rows, from 1000 to 10000000 [default: 20000]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub rows: Option<String>,
    /// Folder for credit-risk.json and credit-risk.reference.json [default: models]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Training time written into both files, RFC 3339 [default: now]
    #[arg(long, value_name = "TIME")]
    pub trained_at: Option<String>,
    /// Print the held-out evaluation as JSON
    #[arg(long)]
    pub json: bool,
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
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
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
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
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
    /// Time warp: model-monitoring windows and incident durations divided by K, 1 to 60 [default: 1] [env: MONLAB_SPEED]
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    pub speed: Option<String>,
    /// Bearer token that turns the admin API on (prefer the env var) [env: MONLAB_ADMIN_TOKEN]
    #[arg(long, value_name = "TOKEN")]
    pub admin_token: Option<String>,
    /// Time budget of one model call before the fallback answers [default: 50ms] [env: MONLAB_MODEL_TIMEOUT]
    #[arg(long, value_name = "DURATION")]
    pub model_timeout: Option<String>,
    /// Simulated model latency in seconds [default: lognormal(mu=-5.5, sigma=0.4)] [env: MONLAB_MODEL_LATENCY]
    #[arg(long, value_name = "DIST")]
    pub model_latency: Option<String>,
    /// Prometheus the lab page (/lab) charts from, read-only [default: none] [env: MONLAB_PROMETHEUS_URL]
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,
    /// Alertmanager whose alerts the lab page lists, read-only [default: none] [env: MONLAB_ALERTMANAGER_URL]
    #[arg(long, value_name = "URL")]
    pub alertmanager_url: Option<String>,
    /// Other replicas (comma-separated base URLs) that incidents started here reach too [default: none] [env: MONLAB_PEERS]
    #[arg(long, value_name = "URL,...")]
    pub peers: Option<String>,
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
    #[arg(long, value_name = "PORT", allow_negative_numbers = true)]
    pub port: Option<String>,
    /// Port of Prometheus [default: 9090]
    #[arg(long, value_name = "PORT", allow_negative_numbers = true)]
    pub prometheus_port: Option<String>,
    /// Port of Alertmanager [default: 9093]
    #[arg(long, value_name = "PORT", allow_negative_numbers = true)]
    pub alertmanager_port: Option<String>,
    /// Scrape and rule-evaluation interval [default: as in deploy/prometheus/prometheus.yml]
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Background load in requests/s, split over the replicas; 0 for none [default: 20]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub load_rate: Option<String>,
    /// Service instances, each on its own port from --port on [default: 1]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub replicas: Option<String>,
    /// Two Prometheus replicas, an Alertmanager cluster of three, VictoriaMetrics
    #[arg(long)]
    pub ha: bool,
    /// Start clean: remove the series, alert state and notification log an earlier run left in the data folder
    #[arg(long)]
    pub fresh: bool,
    /// Time warp: every duration of the system divided by K (intervals, rule windows, timers), the load K times faster; 1 to 60 [default: 1] [env: MONLAB_SPEED]
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    pub speed: Option<String>,
    /// Port of VictoriaMetrics with --ha [default: 8428]
    #[arg(long, value_name = "PORT", allow_negative_numbers = true)]
    pub vm_port: Option<String>,
    /// Port of the Pushgateway [default: 9091]
    #[arg(long, value_name = "PORT", allow_negative_numbers = true)]
    pub pushgateway_port: Option<String>,
    /// How often the batch job runs (pushing to the Pushgateway); 0s for never [default: 10m]
    #[arg(long, value_name = "DURATION")]
    pub batch_every: Option<String>,
    /// Play this scenario once everything is up, then print its scoreboard
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// With --scenario: longest wait for resolved notifications after the last incident [default: 10m]
    #[arg(long, value_name = "DURATION")]
    pub resolve_wait: Option<String>,
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
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub rate: Option<String>,
    /// How arrivals are spaced: constant or poisson [default: poisson] [env: MONLAB_LOAD_ARRIVALS]
    #[arg(long, value_name = "KIND")]
    pub arrivals: Option<String>,
    /// Stop after this long, at most 24h (with --requests, whichever comes first) [env: MONLAB_LOAD_DURATION]
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Stop after this many requests, at most 1e9 [env: MONLAB_LOAD_REQUESTS]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub requests: Option<String>,
    /// Route weights [default: random=70,login=20,predict=10] [env: MONLAB_LOAD_MIX]
    #[arg(long, value_name = "ROUTE=WEIGHT,...")]
    pub mix: Option<String>,
    /// Distinct users u0..u{N-1} [default: 1000] [env: MONLAB_LOAD_USERS]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub users: Option<String>,
    /// Share of logins sent with a wrong token, from 0 to 1 [default: 0.02] [env: MONLAB_LOAD_BAD_LOGIN_SHARE]
    #[arg(long, value_name = "SHARE", allow_negative_numbers = true)]
    pub bad_login_share: Option<String>,
    /// Most requests in flight at once [default: 1024] [env: MONLAB_LOAD_CONCURRENCY]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub concurrency: Option<String>,
    /// Longest wait for one response, from the actual send [default: 10s] [env: MONLAB_LOAD_TIMEOUT]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Seed for arrivals, routes, users and features, for a reproducible run [env: MONLAB_LOAD_SEED]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub seed: Option<String>,
    /// Share of predictions whose true outcome is sent to /feedback later, 0 to 1 [default: 0.5] [env: MONLAB_LOAD_FEEDBACK_SHARE]
    #[arg(long, value_name = "SHARE", allow_negative_numbers = true)]
    pub feedback_share: Option<String>,
    /// Mean delay before an outcome is sent (exponential, cut at 10 means), at most 6m [default: 5s] [env: MONLAB_LOAD_FEEDBACK_DELAY]
    #[arg(long, value_name = "DURATION")]
    pub feedback_delay: Option<String>,
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
    #[arg(long, value_name = "DURATION")]
    pub resolve_wait: Option<String>,
    /// Admin token for --scenario (prefer the env var) [env: MONLAB_ADMIN_TOKEN]
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Time warp K, as the service runs it: K times the rate, durations and feedback delay K times shorter, 1 to 60 [default: 1] [env: MONLAB_SPEED]
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    pub speed: Option<String>,
}

/// Flags of `monlab recover`.
#[derive(Debug, Args, Default, Clone)]
pub struct RecoverArgs {
    /// Prometheus to ask [default: http://127.0.0.1:9090, the one `monlab up` runs]
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// Length of the window, ending at --end (or now) [default: 10m]
    #[arg(long, value_name = "DURATION")]
    pub window: Option<String>,
    /// Window start: RFC 3339 in UTC (2026-01-02T03:04:05Z) or Unix seconds
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// Window end: RFC 3339 in UTC or Unix seconds [default: now]
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
    /// Only this instance (host:port as Prometheus labels it) [default: sum over all]
    #[arg(long, value_name = "HOST:PORT")]
    pub instance: Option<String>,
    /// The scrape job of the service [default: monlab]
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
    /// Which distribution: value, delay or both [default: both]
    #[arg(long, value_name = "WHICH")]
    pub metric: Option<String>,
    /// Which histogram: auto (native when present, compared with classic), native or classic [default: auto]
    #[arg(long, value_name = "KIND")]
    pub source: Option<String>,
    /// The service whose /distributions is the truth [default: the scraped instance, if on this machine]
    #[arg(long, value_name = "URL")]
    pub truth_url: Option<String>,
    /// The true value distribution, e.g. "normal(mean=100, std_dev=15)" (overrides the service's)
    #[arg(long, value_name = "DIST")]
    pub truth_value: Option<String>,
    /// The true delay distribution, e.g. "lognormal(mu=-3.2, sigma=0.5)" (overrides the service's)
    #[arg(long, value_name = "DIST")]
    pub truth_delay: Option<String>,
    /// Fewest observations to answer with [default: 100]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub min_samples: Option<String>,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    /// Also list every bucket (bounds, count, density, CDF) in the table
    #[arg(long)]
    pub buckets: bool,
    /// Draw density histogram, fitted and true curves to FILE.png or FILE.svg
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
}

/// Flags of `monlab batch`.
#[derive(Debug, Args, Default, Clone)]
pub struct BatchArgs {
    /// Pushgateway base URL [default: http://127.0.0.1:9091] [env: MONLAB_PUSHGATEWAY]
    #[arg(long, value_name = "URL")]
    pub pushgateway: Option<String>,
    /// Job label of the pushed group [default: monlab-backfill]
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
    /// Rows to process [default: 200000]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub rows: Option<String>,
    /// How often the job is meant to run, pushed for the staleness alert [default: 10m]
    #[arg(long, value_name = "DURATION")]
    pub schedule: Option<String>,
    /// Fail on purpose after the work (pushes a failure)
    #[arg(long)]
    pub fail: bool,
    /// Seed of the drawn rows [default: 1]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub seed: Option<String>,
    /// Print the outcome as JSON
    #[arg(long)]
    pub json: bool,
}

/// Flags of `monlab report`.
#[derive(Debug, Args, Default, Clone)]
pub struct ReportArgs {
    /// Start of the period: RFC 3339, Unix seconds, or relative such as -2h
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub from: String,
    /// End of the period, same forms, or now [default: now]
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub to: Option<String>,
    /// Prometheus or VictoriaMetrics URL [default: http://127.0.0.1:9090] [env: MONLAB_STORE]
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Folder for report.md, report.html and the plots [default: report]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Scrape job of the service [default: monlab]
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
}
