//! `monlab up`: the whole system on one machine, without Docker.
//!
//! Starts the service, real Prometheus and Alertmanager processes with configuration derived
//! from `deploy/` (see [`config`]), and a steady background load; waits until each answers,
//! prints where everything is, and on Ctrl-C or SIGTERM stops every child it started, in order.
//! A child that dies unexpectedly stops the rest and fails the run.

pub mod config;
pub mod process;
pub mod tools;

use crate::config::UpConfig;
use process::{Child, ProcessError};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why `up` failed.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// A tool is missing.
    #[error(transparent)]
    Missing(#[from] tools::Missing),
    /// A deploy file cannot be used.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A child failed.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// A port is taken.
    #[error("port {port} for {what} is in use on 127.0.0.1: stop what uses it or pass {flag}")]
    PortInUse {
        /// The port.
        port: u16,
        /// Which part wanted it.
        what: &'static str,
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
    /// A child exited while the system was running.
    #[error("{name} exited unexpectedly ({status}); last lines of {log}:\n{tail}")]
    ChildDied {
        /// Child name.
        name: String,
        /// Exit status.
        status: String,
        /// Log file.
        log: String,
        /// The end of its log.
        tail: String,
    },
    /// The background load failed.
    #[error("background load failed: {0}")]
    Load(String),
}

/// Where a running stack listens, as printed at start.
#[derive(Debug, Clone)]
pub struct Urls {
    /// The service.
    pub service: String,
    /// Prometheus.
    pub prometheus: String,
    /// Alertmanager.
    pub alertmanager: String,
}

fn check_port(port: u16, what: &'static str, flag: &'static str) -> Result<(), StackError> {
    std::net::TcpListener::bind(("127.0.0.1", port))
        .map(drop)
        .map_err(|_| StackError::PortInUse { port, what, flag })
}

fn prepare(dir: &Path) -> Result<(), StackError> {
    for sub in ["logs", "prometheus", "alertmanager"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|source| StackError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    Ok(())
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
    let prometheus_bin = tools::find(tools::PROMETHEUS)?;
    let alertmanager_bin = tools::find(tools::ALERTMANAGER)?;
    check_port(cfg.port, "the service", "--port")?;
    check_port(cfg.prometheus_port, "Prometheus", "--prometheus-port")?;
    check_port(cfg.alertmanager_port, "Alertmanager", "--alertmanager-port")?;
    prepare(&cfg.data_dir)?;
    let data = cfg
        .data_dir
        .canonicalize()
        .unwrap_or_else(|_| cfg.data_dir.clone());

    let service = format!("127.0.0.1:{}", cfg.port);
    let prometheus_addr = format!("127.0.0.1:{}", cfg.prometheus_port);
    let alertmanager_addr = format!("127.0.0.1:{}", cfg.alertmanager_port);
    let targets = config::Targets {
        monlab: vec![service.clone()],
        monlab_file_sd: None,
        prometheus: prometheus_addr.clone(),
        alertmanagers: vec![alertmanager_addr.clone()],
        webhook: service.clone(),
    };
    let prom_yml = write(
        data.join("prometheus.yml"),
        &config::prometheus(&cfg.deploy, &targets, cfg.interval, &[])?,
    )?;
    let am_yml = write(
        data.join("alertmanager.yml"),
        &config::alertmanager(&cfg.deploy, &service)?,
    )?;

    let mut children: Vec<Child> = Vec::new();
    let result = start_and_supervise(
        cfg,
        &data,
        &mut children,
        (&prometheus_bin, &prom_yml),
        (&alertmanager_bin, &am_yml),
        Urls {
            service: format!("http://{service}"),
            prometheus: format!("http://{prometheus_addr}"),
            alertmanager: format!("http://{alertmanager_addr}"),
        },
        shutdown,
    )
    .await;
    // Stop in dependency order: the service first (no new alerts), then Prometheus, then
    // Alertmanager, so the last notifications can still be delivered while others stop.
    for child in children.iter_mut() {
        child.stop(Duration::from_secs(15)).await;
    }
    tracing::info!("Every child stopped.");
    result
}

#[allow(clippy::too_many_arguments)]
async fn start_and_supervise(
    cfg: &UpConfig,
    data: &Path,
    children: &mut Vec<Child>,
    prometheus: (&Path, &Path),
    alertmanager: (&Path, &Path),
    urls: Urls,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StackError> {
    let logs = data.join("logs");
    let me = std::env::current_exe().map_err(|source| StackError::DataDir {
        path: "current executable".into(),
        source,
    })?;
    let mut serve_args = vec![
        "serve".to_string(),
        "--listen".into(),
        format!("127.0.0.1:{}", cfg.port),
    ];
    serve_args.extend(cfg.serve_args.iter().cloned());
    children.push(Child::spawn(
        "monlab",
        &me,
        &serve_args,
        &[("MONLAB_ADMIN_TOKEN", cfg.admin_token.as_str())],
        logs.join("monlab.log"),
    )?);
    children.push(Child::spawn(
        "prometheus",
        prometheus.0,
        &[
            format!("--config.file={}", prometheus.1.display()),
            format!("--storage.tsdb.path={}", data.join("prometheus").display()),
            format!("--web.listen-address=127.0.0.1:{}", cfg.prometheus_port),
            "--enable-feature=native-histograms".into(),
            "--web.enable-lifecycle".into(),
        ],
        &[],
        logs.join("prometheus.log"),
    )?);
    children.push(Child::spawn(
        "alertmanager",
        alertmanager.0,
        &[
            format!("--config.file={}", alertmanager.1.display()),
            format!("--storage.path={}", data.join("alertmanager").display()),
            format!("--web.listen-address=127.0.0.1:{}", cfg.alertmanager_port),
            // A single Alertmanager: no gossip port to collide with.
            "--cluster.listen-address=".into(),
        ],
        &[],
        logs.join("alertmanager.log"),
    )?);
    let ready = [
        format!("{}/readyz", urls.service),
        format!("{}/-/ready", urls.prometheus),
        format!("{}/-/ready", urls.alertmanager),
    ];
    for (child, url) in children.iter_mut().zip(&ready) {
        child.wait_ready(url, Duration::from_secs(60)).await?;
    }
    print_urls(cfg, &urls, data);

    let (stop_load, load) = background_load(cfg);
    tokio::pin!(shutdown);
    let outcome = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                if let Some(err) = first_death(children) {
                    break Err(err);
                }
            }
        }
    };
    drop(stop_load);
    if let Some(load) = load {
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

type LoadTask = tokio::task::JoinHandle<Result<crate::load::Report, crate::load::Error>>;

/// Starts the steady background load (`--load-rate`, the default route mix) until the
/// returned sender is dropped; no load when the rate is 0.
fn background_load(cfg: &UpConfig) -> (tokio::sync::oneshot::Sender<()>, Option<LoadTask>) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    if cfg.load_rate <= 0.0 {
        return (tx, None);
    }
    let load_cfg = crate::config::LoadConfig {
        target: format!("127.0.0.1:{}", cfg.port)
            .parse()
            .expect("a loopback address with a port is a valid authority"),
        rate: cfg.load_rate,
        progress: false,
        ..Default::default()
    };
    let task = tokio::spawn(async move {
        crate::load::run(&load_cfg, async {
            let _ = rx.await;
        })
        .await
    });
    (tx, Some(task))
}

fn first_death(children: &mut [Child]) -> Option<StackError> {
    for c in children.iter_mut() {
        if let Some(status) = c.try_exited() {
            return Some(StackError::ChildDied {
                name: c.name.clone(),
                status,
                log: c.log.display().to_string(),
                tail: process::tail(&c.log, 15),
            });
        }
    }
    None
}

fn print_urls(cfg: &UpConfig, urls: &Urls, data: &Path) {
    println!("monlab is up; Ctrl-C stops everything.");
    println!("  service       {}/random", urls.service);
    println!("  metrics       {}/metrics", urls.service);
    println!("  alerts seen   {}/alerts/notifications", urls.service);
    println!("  prometheus    {}", urls.prometheus);
    println!("  alertmanager  {}", urls.alertmanager);
    println!("  admin token   {}", cfg.admin_token);
    println!(
        "  break it      MONLAB_ADMIN_TOKEN={} monlab incident start auth-down --for 5m --url {}",
        cfg.admin_token, urls.service
    );
    println!("  data, logs    {}", data.display());
}
