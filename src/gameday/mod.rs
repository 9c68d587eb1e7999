//! `monlab gameday`: measures how well the shipped alerts detect incidents, over many trials.
//!
//! It runs the real system (`monlab up`'s stack, in this process) at a time warp, and then:
//! 1. a **clean baseline**: a diurnal load with short bursts ([`crate::load::Shape`]) and no
//!    incident; every notification in it is a false alarm;
//! 2. **trials** under the steady default load: each one incident of the catalogue at an
//!    intensity from its ladder ([`ladder`]), in a shuffled order, after a random gap, and
//!    once it has ended, a wait until every alert it raised has resolved (its reset) before the
//!    next starts.
//!
//! Every trial is scored from the notifications monlab's webhook received, by the one scoring
//! rule ([`crate::incident::score`], through [`crate::scenario::score`]); [`stats`] turns the
//! rows into recall, precision, over-severity, detection and reset times and sensitivity, and
//! [`render`] writes them as JSON, a Markdown table and a plot. Times are system seconds.

pub mod merge;
mod render;
pub mod stats;

pub use render::write;

use crate::api::alerts::Notification;
use crate::api::incident::Params;
use crate::api::now_seconds;
use crate::api::routes::WORK;
use crate::incident::score::{self, AlertSpan, Window, GRACE};
use crate::incident::Incident;
use crate::load::{LoadConfig, Shape};
use crate::scenario::client::{AdminClient, ClientError};
use crate::stack::{StackError, UpConfig};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use stats::{AlertStat, Level, Trial};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::Instant;

/// Everything a game day needs, validated.
#[derive(Debug, Clone)]
pub struct GamedayConfig {
    /// The deploy folder whose rules are measured.
    pub deploy: PathBuf,
    /// Data and logs of the stack (cleared at the start).
    pub data_dir: PathBuf,
    /// The time warp K.
    pub speed: crate::warp::Speed,
    /// Steady load during the trials, requests per system second.
    pub load_rate: f64,
    /// Length of the clean baseline, system time (zero for none).
    pub baseline: Duration,
    /// Peak rate of the baseline's diurnal load, requests per system second.
    pub baseline_peak: f64,
    /// Incidents played at their default intensity.
    pub incidents: Vec<Incident>,
    /// Trials of each at the default intensity.
    pub trials: u32,
    /// Incidents whose other ladder levels are played too.
    pub ladder: Vec<Incident>,
    /// Trials per other ladder level.
    pub ladder_trials: u32,
    /// Seed of the order, gaps and loads.
    pub seed: u64,
    /// Folder for `detection-<time>.json`.
    pub results: PathBuf,
    /// The Markdown page whose generated section is rewritten (its plot goes beside it).
    pub doc: Option<PathBuf>,
    /// The command line that ran, written into the results and the page.
    pub command: String,
}

impl Default for GamedayConfig {
    /// A session-sized run: K = 60, 5 trials per incident, 3 system-hours of baseline.
    fn default() -> Self {
        Self {
            deploy: PathBuf::from("deploy"),
            data_dir: PathBuf::from("target/gameday"),
            speed: crate::warp::Speed::new(60).expect("60 is a valid speed"),
            load_rate: crate::stack::UpConfig::default().load_rate,
            baseline: Duration::from_secs(3 * 3600),
            baseline_peak: 25.0,
            incidents: Incident::ALL.to_vec(),
            trials: 5,
            ladder: Vec::new(),
            ladder_trials: 3,
            seed: 1,
            results: PathBuf::from("bench/results"),
            doc: None,
            command: String::new(),
        }
    }
}

/// Why a game day failed.
#[derive(Debug, thiserror::Error)]
pub enum GamedayError {
    /// The stack could not start or died.
    #[error("the stack failed: {0}")]
    Stack(#[from] StackError),
    /// The service's admin API failed.
    #[error("the service's admin API failed: {0}")]
    Client(#[from] ClientError),
    /// The stack did not come up in time.
    #[error("the stack did not answer within {0:?}")]
    NotReady(Duration),
    /// A result file cannot be written.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Warm-up under load before counting anything, system time: the longest paging and ratio
/// windows (5 minutes) fill, as on a system that has been running.
const WARM_UP: Duration = Duration::from_secs(300);
/// Gap before each trial, system time, drawn uniformly: trials start at every phase of the
/// scrape, evaluation and Alertmanager group cycles.
const GAP: (f64, f64) = (30.0, 150.0);
/// Longest wait for a trial's alerts to resolve after it ended, system time.
const RESET_CAP: Duration = Duration::from_secs(15 * 60);

/// How long the alerts of `incident` may take to resolve after it ends, system time: past
/// its aftermath ([`Incident::aftermath`], two hours for concept drift's late labels), or
/// [`RESET_CAP`].
pub fn reset_cap(incident: Incident) -> Duration {
    RESET_CAP + Duration::from_secs_f64(incident.aftermath())
}

/// How long a trial of `incident` lasts, system time: past its slowest expected detection
/// (docs/slo.md, docs/time-warp.md) so that a late catch is still inside the incident.
pub fn trial_duration(incident: Incident) -> Duration {
    let minutes = match incident {
        Incident::AuthDown | Incident::ErrorShare => 5,
        Incident::Burst | Incident::MissingFeature | Incident::OutputCollapse => 6,
        // The decline share over its window rises within minutes of the policy change.
        Incident::ModelDown => 8,
        // MonlabDeclineShareHigh fires about 9 minutes in (docs/ml-monitoring.md).
        Incident::DeclinedGroup => 12,
        Incident::SlowUsers => 10,
        Incident::FeatureDrift => 12,
        // Only labels show it, and they come about 20 minutes late and only for the 2 %
        // holdout: the holdout's 1-hour accuracy crosses its threshold about an hour in
        // (docs/ml-monitoring.md).
        Incident::ConceptDrift => 110,
        // The budget burn needs about 14 minutes at 0.5 s (docs/slo.md).
        Incident::ExtraLatency => 20,
    };
    Duration::from_secs(minutes * 60)
}

/// The intensity ladder of `incident`: the parameter it varies and its values, weakest
/// first; none for an incident that is on or off.
pub fn ladder(incident: Incident) -> Option<(&'static str, &'static [f64])> {
    match incident {
        Incident::SlowUsers => Some(("share", &[0.001, 0.003, 0.01, 0.05])),
        Incident::ErrorShare => Some(("share", &[0.005, 0.02, 0.05, 0.1, 0.2])),
        Incident::ExtraLatency => Some(("seconds", &[0.05, 0.1, 0.25, 0.5])),
        Incident::Burst => Some(("share", &[0.5, 0.7, 0.9])),
        Incident::FeatureDrift => Some(("shift", &[0.1, 0.25, 0.5, 1.0])),
        _ => None,
    }
}

/// A trial to play.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// The incident.
    pub incident: Incident,
    /// The parameter varied and its value, if the incident has a ladder.
    pub level: Option<(&'static str, f64)>,
    /// Whether that is the default.
    pub default_intensity: bool,
    /// What is sent to the admin API (with the duration).
    pub params: Params,
}

/// The parameters of `incident` with ladder parameter `name` set to `value`.
fn with_level(name: &str, value: f64) -> Params {
    let mut p = Params::default();
    match name {
        "share" => p.share = Some(value),
        "seconds" => p.seconds = Some(value),
        _ => p.shift = Some(value),
    }
    p
}

/// The catalogue's default value of `incident`'s ladder parameter.
fn default_level(incident: Incident, name: &str) -> Option<f64> {
    let p = incident.resolve(Params::default(), WORK).ok()?;
    match name {
        "share" => p.share,
        "seconds" => p.seconds,
        _ => p.shift,
    }
}

/// Every trial of the game day, in a shuffled order.
pub fn plan(cfg: &GamedayConfig, rng: &mut SmallRng) -> Vec<Planned> {
    let mut out = Vec::new();
    let trial = |incident: Incident, level: Option<(&'static str, f64)>, default: bool| {
        let mut params = level.map_or_else(Params::default, |(n, v)| with_level(n, v));
        params.duration = Some(trial_duration(incident));
        Planned {
            incident,
            level,
            default_intensity: default,
            params,
        }
    };
    for &i in &cfg.incidents {
        let level = ladder(i).and_then(|(n, _)| default_level(i, n).map(|v| (n, v)));
        out.extend((0..cfg.trials).map(|_| trial(i, level, true)));
    }
    for &i in &cfg.ladder {
        let Some((name, values)) = ladder(i) else {
            continue;
        };
        let default = default_level(i, name);
        for &v in values.iter().filter(|&&v| Some(v) != default) {
            out.extend((0..cfg.ladder_trials).map(|_| trial(i, Some((name, v)), false)));
        }
    }
    out.shuffle(rng);
    out
}

/// What a game day measured; written to `bench/results/detection-<time>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// The command that produced it.
    pub command: String,
    /// When it started, RFC 3339.
    pub started: String,
    /// The time warp K.
    pub speed: u32,
    /// The seed.
    pub seed: u64,
    /// Steady load of the trials, requests per system second.
    pub load_rate: f64,
    /// Length of the clean baseline, system seconds.
    pub baseline_seconds: f64,
    /// Its load's shape.
    pub baseline_shape: String,
    /// Its load's peak, requests per system second.
    pub baseline_peak: f64,
    /// Requests the baseline's load sent (to check the shape ran).
    pub baseline_requests: u64,
    /// The notifications of the baseline: `Alert (severity)` and start, system seconds from
    /// the baseline's start.
    pub baseline_alerts: Vec<(String, f64)>,
    /// Every alert the webhook received during the trials (the Watchdog aside): `Alert
    /// (severity)`, start and end in system seconds from the start of the trials, so a
    /// reader can check any number above against the raw spans.
    pub trial_alerts: Vec<(String, f64, Option<f64>)>,
    /// System seconds the trials took, gaps and resets included.
    pub trials_seconds: f64,
    /// Every trial.
    pub trials: Vec<Trial>,
    /// Per incident and intensity.
    pub levels: Vec<Level>,
    /// Per alert.
    pub alerts: Vec<AlertStat>,
    /// Per incident with a ladder played at several levels: the smallest intensity caught in
    /// at least 90 % of trials.
    pub sensitivity: BTreeMap<String, Option<f64>>,
    /// Wall seconds the whole run took (merged: the longest part's).
    pub wall_seconds: f64,
    /// The game days merged into these results (`monlab gameday --merge`); none for one run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<merge::Part>,
}

/// Runs a game day and writes its results (and the page, with `cfg.doc`); returns them and
/// the path of the JSON file.
pub async fn run(cfg: &GamedayConfig) -> Result<(Results, PathBuf), GamedayError> {
    let wall = std::time::Instant::now();
    let started = now_rfc3339();
    let up = up_config(cfg);
    let url = format!("http://127.0.0.1:{}", up.port);
    let client = AdminClient::new(&url, Some(up.admin_token.clone()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stack = tokio::spawn(async move {
        crate::stack::run(&up, async {
            let _ = stopped.await;
        })
        .await
    });
    let measured = measure(cfg, &client, &url, &stack).await;
    let _ = stop.send(());
    let stack_result = stack.await;
    let mut results = match (measured, stack_result) {
        (Ok(r), _) => r,
        // A stack that died explains a failed measurement better than the client's error.
        (Err(_), Ok(Err(e))) => return Err(e.into()),
        (Err(e), _) => return Err(e),
    };
    results.started = started;
    results.wall_seconds = wall.elapsed().as_secs_f64();
    let path = write(&cfg.results, cfg.doc.as_deref(), &results)?;
    Ok((results, path))
}

/// The stack of a game day: ports picked free, no background load (the game day runs its
/// own), a fresh data folder.
fn up_config(cfg: &GamedayConfig) -> UpConfig {
    // Bound together so that no two parts get the same port; released just before `up` binds.
    let listeners: Vec<std::net::TcpListener> = (0..5)
        .filter_map(|_| std::net::TcpListener::bind("127.0.0.1:0").ok())
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok().map(|a| a.port()))
        .collect();
    let port = |i: usize, fallback: u16| ports.get(i).copied().unwrap_or(fallback);
    let d = UpConfig::default();
    UpConfig {
        deploy: cfg.deploy.clone(),
        data_dir: cfg.data_dir.clone(),
        port: port(0, d.port),
        prometheus_port: port(1, d.prometheus_port),
        alertmanager_port: port(2, d.alertmanager_port),
        pushgateway_port: port(3, d.pushgateway_port),
        vm_port: port(4, d.vm_port),
        load_rate: 0.0,
        fresh: true,
        speed: cfg.speed,
        ..d
    }
}

type StackTask = tokio::task::JoinHandle<Result<(), StackError>>;
type LoadTask = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<crate::load::Report, crate::load::Error>>,
);

async fn measure(
    cfg: &GamedayConfig,
    client: &AdminClient,
    url: &str,
    stack: &StackTask,
) -> Result<Results, GamedayError> {
    let k = cfg.speed;
    let wall = |d: Duration| k.scale(d);
    wait_ready(client, stack).await?;
    let target = url.trim_start_matches("http://").to_string();
    let mut rng = SmallRng::seed_from_u64(cfg.seed);

    // 1. The clean baseline, under a day's ramp and bursts: one day, or less if it is shorter.
    let shape = Shape::diurnal(cfg.baseline.min(Duration::from_secs(24 * 3600)));
    let mut baseline: Vec<AlertSpan> = Vec::new();
    let mut baseline_requests = 0;
    if !cfg.baseline.is_zero() {
        let load = start_load(&target, cfg.baseline_peak, shape, rng.random(), k);
        tokio::time::sleep(wall(WARM_UP)).await;
        let mut log = Log::from_now(client).await?;
        let t0 = now_seconds();
        tracing::info!(system_seconds = cfg.baseline.as_secs(), "Baseline started.");
        let end = Instant::now() + wall(cfg.baseline);
        while Instant::now() < end {
            tokio::time::sleep_until(end.min(Instant::now() + Log::PULL_EVERY)).await;
            log.pull(client).await?;
        }
        let notes = log.notes;
        baseline_requests = stop_load(load).await;
        baseline = crate::scenario::spans(&notes)
            .into_iter()
            .filter(|a| a.key.severity.is_some())
            .map(|mut a| {
                // System seconds from the baseline's start.
                a.start = (a.start - t0) * f64::from(k.get());
                a.end = a.end.map(|e| (e - t0) * f64::from(k.get()));
                a
            })
            .collect();
        tracing::info!(notifications = baseline.len(), "Baseline done.");
    }

    // 2. The trials, under the steady default load.
    let load = start_load(&target, cfg.load_rate, Shape::Flat, rng.random(), k);
    tokio::time::sleep(wall(WARM_UP)).await;
    let mut log = Log::from_now(client).await?;
    let t0 = now_seconds();
    let planned = plan(cfg, &mut rng);
    let mut windows: Vec<Window> = Vec::new();
    let mut played: Vec<&Planned> = Vec::new();
    for (n, p) in planned.iter().enumerate() {
        if stack.is_finished() {
            break;
        }
        let gap = rng.random_range(GAP.0..GAP.1);
        tokio::time::sleep(wall(Duration::from_secs_f64(gap))).await;
        let trial_cursor = last_seq(client).await?;
        let state = client.start(p.incident.name(), &p.params).await?.state;
        let duration = trial_duration(p.incident);
        let started = state.started_at.unwrap_or_else(now_seconds);
        let end = started + wall(duration).as_secs_f64();
        let window = Window::from_state(p.incident, &state, end);
        tracing::info!(
            trial = n + 1,
            of = planned.len(),
            incident = p.incident.name(),
            intensity = p.level.map(|l| l.1),
            "Trial started."
        );
        tokio::time::sleep(wall(duration)).await;
        // The next trial waits out this one's aftermath too: an alert that resolved while
        // late labels were still coming in may fire again, and must not land in the next.
        let quiet = k.scale(Duration::from_secs_f64(GRACE + p.incident.aftermath()));
        let cap = k.scale(reset_cap(p.incident));
        settle(client, trial_cursor, end, quiet, cap).await?;
        log.pull(client).await?;
        played.push(p);
        windows.push(window);
    }
    let trials_seconds = (now_seconds() - t0) * f64::from(k.get());
    log.pull(client).await?;
    let notes = log.notes;
    stop_load(load).await;

    // 3. Scored together with the one rule: a late alert of one trial is never another's.
    let board = crate::scenario::score(&windows, &notes, k.get());
    let trials: Vec<Trial> = played
        .iter()
        .zip(&windows)
        .zip(board.rows)
        .map(|((p, w), row)| Trial {
            incident: p.incident.name().into(),
            parameter: p.level.map(|l| l.0.to_string()),
            intensity: p.level.map(|l| l.1),
            default_intensity: p.default_intensity,
            start: (w.start - t0) * f64::from(k.get()),
            duration: trial_duration(p.incident).as_secs_f64(),
            row,
        })
        .collect();
    let (system_windows, alerts) = in_system_time(&windows, &notes, k.get());
    let rows: Vec<_> = trials.iter().map(|t| t.row.clone()).collect();
    let levels = stats::levels(&trials);
    let sensitivity = stats::sensitivities(&levels);
    Ok(Results {
        command: cfg.command.clone(),
        started: String::new(),
        speed: k.get(),
        seed: cfg.seed,
        load_rate: cfg.load_rate,
        baseline_seconds: cfg.baseline.as_secs_f64(),
        baseline_shape: shape.to_string(),
        baseline_peak: cfg.baseline_peak,
        baseline_requests,
        baseline_alerts: baseline
            .iter()
            .map(|a| (a.key.to_string(), a.start))
            .collect(),
        trial_alerts: alerts
            .iter()
            .filter(|a| a.key.severity.is_some())
            .map(|a| {
                let t = t0 * f64::from(k.get());
                (a.key.to_string(), a.start - t, a.end.map(|e| e - t))
            })
            .collect(),
        trials_seconds,
        alerts: stats::alerts(&alerts, &system_windows, &baseline, &rows),
        trials,
        levels,
        sensitivity,
        wall_seconds: 0.0,
        parts: Vec::new(),
    })
}

/// The windows and the alerts of `notes` in system seconds.
fn in_system_time(
    windows: &[Window],
    notes: &[Notification],
    k: u32,
) -> (Vec<Window>, Vec<AlertSpan>) {
    let mut w = windows.to_vec();
    let mut a = crate::scenario::spans(notes);
    score::in_system_time(k, &mut w, &mut a);
    (w, a)
}

/// Waits until the service answers (the stack is up), at most two minutes.
async fn wait_ready(client: &AdminClient, stack: &StackTask) -> Result<(), GamedayError> {
    let limit = Duration::from_secs(120);
    let deadline = Instant::now() + limit;
    loop {
        if client.speed().await.is_ok() {
            return Ok(());
        }
        if stack.is_finished() || Instant::now() >= deadline {
            return Err(GamedayError::NotReady(limit));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The notifications received from a point on, pulled often enough that the service's
/// bounded log (the last 2,000) never drops one before it is read.
struct Log {
    cursor: u64,
    notes: Vec<Notification>,
}

impl Log {
    /// How often a long quiet stretch is pulled, wall time.
    const PULL_EVERY: Duration = Duration::from_secs(30);

    /// A log of what arrives from now on.
    async fn from_now(client: &AdminClient) -> Result<Self, GamedayError> {
        Ok(Self {
            cursor: last_seq(client).await?,
            notes: Vec::new(),
        })
    }

    /// Reads what arrived since the last pull.
    async fn pull(&mut self, client: &AdminClient) -> Result<(), GamedayError> {
        let fresh = client.notifications(self.cursor).await?;
        if let Some(last) = fresh.last() {
            self.cursor = last.seq;
        }
        self.notes.extend(fresh);
        Ok(())
    }
}

/// The sequence number of the last notification received so far.
async fn last_seq(client: &AdminClient) -> Result<u64, GamedayError> {
    Ok(client.notifications(0).await?.last().map_or(0, |n| n.seq))
}

/// After a trial ended at `end` (Unix seconds): waits until `quiet` has passed (wall time) and
/// every alert raised since `cursor` has resolved, at most `cap`.
async fn settle(
    client: &AdminClient,
    cursor: u64,
    end: f64,
    quiet: Duration,
    cap: Duration,
) -> Result<(), GamedayError> {
    let graced = end + quiet.as_secs_f64();
    let capped = end + cap.as_secs_f64();
    loop {
        let now = now_seconds();
        if now >= capped {
            tracing::warn!("A trial's alerts did not all resolve in time; going on.");
            return Ok(());
        }
        let open = crate::scenario::spans(&client.notifications(cursor).await?)
            .iter()
            .any(|a| a.key.severity.is_some() && a.end.is_none());
        if now >= graced && !open {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Starts the real load generator against `target` at `rate` requests per system second.
fn start_load(target: &str, rate: f64, shape: Shape, seed: u64, k: crate::warp::Speed) -> LoadTask {
    let cfg = LoadConfig {
        target: target
            .parse()
            .expect("a loopback address with a port is a valid authority"),
        rate,
        shape,
        seed: Some(seed),
        progress: false,
        ..Default::default()
    }
    .warped(k);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        crate::load::run(&cfg, async {
            let _ = rx.await;
        })
        .await
    });
    (tx, task)
}

/// Stops a load and says how many requests it sent.
async fn stop_load((stop, task): LoadTask) -> u64 {
    let _ = stop.send(());
    match task.await {
        Ok(Ok(report)) => report.total.sent,
        _ => 0,
    }
}

/// Now as RFC 3339 in UTC, to the second.
fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_holds_every_trial_once_in_a_shuffled_order() {
        let cfg = GamedayConfig {
            incidents: vec![Incident::AuthDown, Incident::SlowUsers],
            trials: 3,
            ladder: vec![Incident::SlowUsers, Incident::ModelDown],
            ladder_trials: 2,
            ..GamedayConfig::default()
        };
        let p = plan(&cfg, &mut SmallRng::seed_from_u64(1));
        // 3 + 3 at the defaults, 2 × 3 other slow-users levels, none for model-down.
        assert_eq!(p.len(), 12);
        let defaults: Vec<&Planned> = p.iter().filter(|t| t.default_intensity).collect();
        assert_eq!(defaults.len(), 6);
        assert!(defaults
            .iter()
            .filter(|t| t.incident == Incident::SlowUsers)
            .all(|t| t.level == Some(("share", 0.01)) && t.params.share == Some(0.01)));
        let weakest = p
            .iter()
            .filter(|t| t.level == Some(("share", 0.001)))
            .count();
        assert_eq!(weakest, 2);
        for t in &p {
            assert_eq!(t.params.duration, Some(trial_duration(t.incident)));
            t.incident.resolve(t.params.clone(), WORK).unwrap();
        }
        // Shuffled, and the same seed plays the same order.
        assert_ne!(p[..6].iter().filter(|t| t.default_intensity).count(), 6);
        assert_eq!(p, plan(&cfg, &mut SmallRng::seed_from_u64(1)));
    }

    #[test]
    fn every_ladder_holds_its_default_and_grows_stronger() {
        for i in Incident::ALL {
            let Some((name, values)) = ladder(i) else {
                continue;
            };
            assert!(values.windows(2).all(|w| w[0] < w[1]), "{}", i.name());
            let d = default_level(i, name).unwrap();
            assert!(
                values.contains(&d),
                "{}: default {d} not on its ladder",
                i.name()
            );
            for &v in values {
                i.resolve(with_level(name, v), WORK).unwrap();
            }
        }
    }
}
