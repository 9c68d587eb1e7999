//! `monlab up`: the whole system on one machine, without Docker.
//!
//! Starts the service (one or `--replicas N` instances, found by Prometheus through a
//! `file_sd` file), real Prometheus and Alertmanager processes with configuration derived from
//! `deploy/` (see [`files`]), and a steady background load; waits until each answers, prints
//! where everything is, and on Ctrl-C or SIGTERM stops every child it started, in order.
//! With `--ha` it runs two Prometheus replicas, an Alertmanager cluster of three and
//! VictoriaMetrics as the deduplicating long-term store (see [`plan`]).
//! A child that dies is restarted (a few times, with back-off), as a service manager would.

pub(crate) mod config;
pub mod files;
pub(crate) mod lock;
pub(crate) mod plan;
pub(crate) mod process;
pub(crate) mod tools;

pub use config::{UpConfig, MAX_WARPED_LOAD};
use plan::Plan;
use process::{Child, ProcessError};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Restarts allowed per child before `up` gives up and stops everything.
const MAX_RESTARTS: u32 = 5;

/// Why `up` failed.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// A tool is missing.
    #[error(transparent)]
    Missing(#[from] tools::Missing),
    /// A deploy file cannot be used.
    #[error(transparent)]
    Config(#[from] files::ConfigError),
    /// A child failed.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// Two parts of the plan were given the same port.
    #[error("port {port} is asked for by both {other} ({other_flag}) and {what} ({flag}): move one of them")]
    PortClash {
        /// The port.
        port: u16,
        /// The later part.
        what: String,
        /// Its flag.
        flag: &'static str,
        /// The part that has it.
        other: String,
        /// That part's flag.
        other_flag: &'static str,
    },
    /// The data folder is in use by another `up`.
    #[error(transparent)]
    Locked(#[from] lock::LockError),
    /// A port is taken.
    #[error("port {port} for {what} is in use on 127.0.0.1: stop what uses it or pass {flag}")]
    PortInUse {
        /// The port.
        port: u16,
        /// Which part wanted it.
        what: String,
        /// The flag that changes it.
        flag: &'static str,
    },
    /// The data folder cannot be written.
    #[error("cannot prepare the data folder {path}: {source}")]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A child kept dying.
    #[error("{name} exited {restarts} times ({status}); last lines of {log}:\n{tail}")]
    ChildDied {
        /// Child name.
        name: String,
        /// Exit status of the last run.
        status: String,
        /// Restarts before giving up.
        restarts: u32,
        /// Log file.
        log: String,
        /// The end of its log.
        tail: String,
    },
    /// The background load failed.
    #[error("background load failed: {0}")]
    Load(String),
}

fn write(path: PathBuf, text: &str) -> Result<PathBuf, StackError> {
    std::fs::write(&path, text).map_err(|source| StackError::DataDir {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Runs the stack until `shutdown` resolves; returns after every child has stopped.
pub async fn run(cfg: &UpConfig, shutdown: impl Future<Output = ()>) -> Result<(), StackError> {
    // Locked before anything in the folder is written, and held until every child stopped.
    let _lock = lock::acquire(&cfg.data_dir)?;
    // Decided in full (ports checked, files derived) before anything is written or started.
    let plan = plan::plan(cfg)?;
    start_clean_or_say_reused(cfg, &plan)?;
    lay_out(&plan)?;
    let mut children: Vec<Child> = Vec::new();
    let result = start_and_supervise(cfg, &plan, &mut children, shutdown).await;
    // Stop in dependency order (the plan lists children in that order): services first, so
    // no new alerts start; Prometheus before VictoriaMetrics, whose absence would make
    // Prometheus wait about a minute on its remote-write queue; Alertmanagers last, so the
    // last notifications can still be delivered.
    for child in children.iter_mut() {
        child.stop(Duration::from_secs(15)).await;
    }
    tracing::info!("Every child stopped.");
    result
}

async fn start_and_supervise(
    cfg: &UpConfig,
    plan: &Plan,
    children: &mut Vec<Child>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StackError> {
    tokio::pin!(shutdown);
    // Ctrl-C during start-up stops what has started at once, rather than after the waits.
    tokio::select! {
        started = start_all(plan, children) => started?,
        () = &mut shutdown => return Ok(()),
    }
    plan.print(cfg);

    let (stop_load, loads) = background_load(cfg, plan);
    let play = cfg.scenario.clone().map(|steps| {
        let client = crate::scenario::client::AdminClient::new(
            &format!("http://{}", plan.services[0].addr),
            Some(cfg.admin_token.clone()),
        );
        let opts = cfg.play;
        tokio::spawn(async move { play_and_report(client, steps, opts).await })
    });
    let batch = cfg.batch_every.map(|every| {
        tokio::spawn(batch_schedule(
            plan.pushgateway.clone(),
            cfg.speed.scale(every),
        ))
    });
    let outcome = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                if let Err(e) = restart_dead(children) {
                    break Err(e);
                }
            }
        }
    };
    drop(stop_load);
    if let Some(b) = batch {
        b.abort();
    }
    if let Some(p) = play {
        p.abort();
    }
    for load in loads {
        match load.await {
            Ok(Ok(report)) => tracing::info!(
                sent = report.total.sent,
                achieved_rate = report.achieved_rate,
                "Background load stopped."
            ),
            Ok(Err(e)) => return Err(StackError::Load(e.to_string())),
            Err(e) => return Err(StackError::Load(e.to_string())),
        }
    }
    outcome
}

/// Starts every child in the plan's order and waits until each is ready.
async fn start_all(plan: &Plan, children: &mut Vec<Child>) -> Result<(), StackError> {
    for spec in &plan.specs {
        children.push(Child::spawn(spec)?);
    }
    for child in children.iter_mut() {
        child.wait_ready(Duration::from_secs(60)).await?;
        // Replicas join Prometheus's file_sd list as they become ready.
        if let Some(i) = plan.services.iter().position(|s| s.name == child.name) {
            let ready: Vec<String> = plan.services[..=i].iter().map(|s| s.addr.clone()).collect();
            write(plan.file_sd.clone(), &files::file_sd(&ready))?;
        }
    }
    Ok(())
}

/// Restarts children that exited, each after its back-off; fails once one has used up its
/// restarts. It never waits: the back-off is a due time checked on the next tick, so Ctrl-C
/// and SIGTERM are answered at once even while a child waits to be restarted.
fn restart_dead(children: &mut [Child]) -> Result<(), StackError> {
    let now = tokio::time::Instant::now();
    for c in children.iter_mut() {
        if c.restart_due.is_none() {
            let Some(status) = c.try_exited() else {
                continue;
            };
            if c.restarts >= MAX_RESTARTS {
                return Err(StackError::ChildDied {
                    name: c.name.clone(),
                    status,
                    restarts: c.restarts,
                    log: c.log.display().to_string(),
                    tail: process::tail(&c.log, 15),
                });
            }
            // Back off, and give a dead Alertmanager's cluster port time to be released.
            let backoff = Duration::from_secs(2u64 << c.restarts.min(4));
            tracing::warn!(child = %c.name, %status, restarts = c.restarts, backoff_seconds = backoff.as_secs(), "Child exited; restarting after a back-off.");
            c.restart_due = Some(now + backoff);
        }
        if c.restart_due.is_some_and(|due| now >= due) {
            c.restart_due = None;
            c.respawn()?;
        }
    }
    Ok(())
}

/// Plays a scenario and prints its scoreboard (and where the lab can find it).
async fn play_and_report(
    client: crate::scenario::client::AdminClient,
    steps: Vec<crate::scenario::PlannedStep>,
    opts: crate::scenario::PlayOptions,
) {
    tracing::info!(steps = steps.len(), "Playing the scenario.");
    match crate::scenario::play(&client, &steps, opts).await {
        Ok(board) => {
            println!("\nScenario scoreboard:\n{board}");
            if let Err(e) = client.post_scoreboard(None, &board).await {
                tracing::warn!(error = %e, "Cannot store the scoreboard in the service.");
            }
        }
        Err(e) => tracing::warn!(error = %e, "The scenario stopped."),
    }
}

/// Runs the batch job now and then every `every`, as cron would, pushing to `pushgateway`.
async fn batch_schedule(pushgateway: String, every: Duration) {
    let cfg = crate::batch::BatchConfig {
        pushgateway,
        job: "monlab-backfill".into(),
        rows: 200_000,
        schedule: every,
        fail: false,
        seed: 1,
    };
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match crate::batch::run(&cfg).await {
            Ok(out) => tracing::info!(
                rows = out.rows,
                seconds = out.duration_seconds,
                "Batch job ran."
            ),
            Err(e) => tracing::warn!(error = %e, "Batch job failed."),
        }
    }
}

type LoadTask = tokio::task::JoinHandle<Result<crate::load::Report, crate::load::Error>>;

/// Starts the steady background load (`--load-rate`, the default route mix), split evenly
/// over the service replicas, until the returned sender is dropped; none when the rate is 0.
fn background_load(
    cfg: &UpConfig,
    plan: &Plan,
) -> (tokio::sync::watch::Sender<bool>, Vec<LoadTask>) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    if cfg.load_rate <= 0.0 {
        return (tx, Vec::new());
    }
    let share = cfg.load_rate / plan.services.len() as f64;
    let tasks = plan
        .services
        .iter()
        .map(|s| {
            let load_cfg = crate::load::LoadConfig {
                target: s
                    .addr
                    .parse()
                    .expect("a loopback address with a port is a valid authority"),
                rate: share,
                progress: false,
                ..Default::default()
            }
            .warped(cfg.speed);
            let mut rx = rx.clone();
            tokio::spawn(async move {
                crate::load::run(&load_cfg, async move {
                    let _ = rx.changed().await;
                })
                .await
            })
        })
        .collect();
    (tx, tasks)
}

/// Whether `port` is free on 127.0.0.1.
pub fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// What an earlier run leaves that a new one picks up: stored series and alert state,
/// Alertmanager's silences and notification log, pushed groups.
const KEPT_STATE: [&str; 5] = [
    "prometheus-a",
    "prometheus-b",
    "alertmanager-1",
    "pushgateway",
    "victoria-metrics",
];

/// With `--fresh`, removes what an earlier run left in the data folder (the lock stays);
/// otherwise says that it is reused, so old alerts and notifications do not surprise.
fn start_clean_or_say_reused(cfg: &UpConfig, plan: &Plan) -> Result<(), StackError> {
    let entries: Vec<PathBuf> = std::fs::read_dir(&plan.data)
        .map_err(|source| StackError::DataDir {
            path: plan.data.clone(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n != lock::LOCK_FILE))
        .collect();
    if cfg.fresh {
        for path in &entries {
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(path)
            } else {
                std::fs::remove_file(path)
            };
            removed.map_err(|source| StackError::DataDir {
                path: path.clone(),
                source,
            })?;
        }
        if !entries.is_empty() {
            println!(
                "--fresh: removed what an earlier run left in {}",
                plan.data.display()
            );
        }
        return Ok(());
    }
    let kept = KEPT_STATE
        .iter()
        .any(|sub| dir_has_files(&plan.data.join(sub)));
    if kept {
        println!(
            "note: reusing {} from an earlier run (stored series, alert state, Alertmanager's \
             notification log); pass --fresh to start clean",
            plan.data.display()
        );
    }
    Ok(())
}

fn dir_has_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

/// Carries out the plan's writes once it stands: the data folder's sub-folders, then the files.
fn lay_out(plan: &Plan) -> Result<(), StackError> {
    for sub in &plan.folders {
        std::fs::create_dir_all(plan.data.join(sub)).map_err(|source| StackError::DataDir {
            path: plan.data.clone(),
            source,
        })?;
    }
    for (path, text) in &plan.files {
        write(path.clone(), text)?;
    }
    Ok(())
}
