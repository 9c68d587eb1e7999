//! Child processes of `monlab up`: started in their own process group (so a terminal's Ctrl-C
//! reaches only `up`, which then stops them in order), logged to a file each, waited for until
//! they answer, and stopped with SIGTERM, then SIGKILL after a grace period.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::time::Instant;

/// How to start one child, kept so it can be started again.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// Short name for messages (`prometheus-a`, `monlab-1`, …).
    pub name: String,
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub envs: Vec<(String, String)>,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    /// A URL that answers 2xx once it is ready.
    pub ready: String,
}

/// A supervised child.
#[derive(Debug)]
pub(crate) struct Child {
    /// Short name for messages (`prometheus`, `monlab-1`, …).
    pub name: String,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    /// How it was started.
    pub spec: Spec,
    /// How many times it was restarted.
    pub restarts: u32,
    /// When a child that exited is due to be started again (its back-off), if it is waiting.
    pub restart_due: Option<Instant>,
    child: tokio::process::Child,
}

/// Why a child could not be started or did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Spawning failed.
    #[error("cannot start {name} ({program}): {source}")]
    Spawn {
        /// Child name.
        name: String,
        /// Program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// It exited before it was ready.
    #[error("{name} exited during start-up ({status}); last lines of {log}:\n{tail}")]
    Exited {
        /// Child name.
        name: String,
        /// Exit status.
        status: String,
        /// Log file.
        log: String,
        /// The end of its log.
        tail: String,
    },
    /// No HTTP client to ask whether it is ready.
    #[error("cannot check whether {name} is ready: cannot build an HTTP client: {reason}")]
    Client {
        /// Child name.
        name: String,
        /// Why.
        reason: String,
    },
    /// It did not answer in time.
    #[error("{name} did not become ready at {url} within {secs} s; see {log}")]
    NotReady {
        /// Child name.
        name: String,
        /// Readiness URL.
        url: String,
        /// Timeout.
        secs: u64,
        /// Log file.
        log: String,
    },
}

/// The last `n` lines of a file.
pub(crate) fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Child {
    /// Starts a child from its spec, appending its output to the spec's log.
    pub(crate) fn spawn(spec: &Spec) -> Result<Self, ProcessError> {
        let err = |source| ProcessError::Spawn {
            name: spec.name.clone(),
            program: spec.program.display().to_string(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log)
            .map_err(err)?;
        let file2 = file.try_clone().map_err(err)?;
        let mut cmd = tokio::process::Command::new(&spec.program);
        cmd.args(&spec.args)
            .envs(spec.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(file2))
            .process_group(0)
            .kill_on_drop(true);
        // If `up` itself is killed (SIGKILL runs no clean-up), the kernel sends each child
        // SIGTERM, so no Prometheus or Alertmanager outlives it. Linux only.
        #[cfg(target_os = "linux")]
        #[allow(unsafe_code)]
        // SAFETY: the closure runs in the forked child before exec and only calls prctl(2),
        // which is async-signal-safe; it touches no memory shared with the parent.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                    .map_err(std::io::Error::from)
            });
        }
        let child = cmd.spawn().map_err(err)?;
        Ok(Self {
            name: spec.name.clone(),
            log: spec.log.clone(),
            spec: spec.clone(),
            restarts: 0,
            restart_due: None,
            child,
        })
    }

    /// Starts the same spec again after the previous process has exited.
    pub(crate) fn respawn(&mut self) -> Result<(), ProcessError> {
        let fresh = Self::spawn(&self.spec)?;
        self.child = fresh.child;
        self.restarts += 1;
        Ok(())
    }

    /// Waits until its ready URL answers 2xx, failing early if the child exits.
    pub(crate) async fn wait_ready(&mut self, timeout: Duration) -> Result<(), ProcessError> {
        let url = self.spec.ready.clone();
        let url = url.as_str();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| ProcessError::Client {
                name: self.name.clone(),
                reason: e.to_string(),
            })?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(ProcessError::Exited {
                    name: self.name.clone(),
                    status: status.to_string(),
                    log: self.log.display().to_string(),
                    tail: tail(&self.log, 15),
                });
            }
            if let Ok(r) = client.get(url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(ProcessError::NotReady {
                    name: self.name.clone(),
                    url: url.into(),
                    secs: timeout.as_secs(),
                    log: self.log.display().to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The exit status text if the child has exited.
    pub(crate) fn try_exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// Sends `signal` (ignored if the child is gone).
    pub(crate) fn signal(&self, signal: Signal) {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }

    /// SIGTERM, then SIGKILL after `grace`; returns once the child is reaped.
    pub(crate) async fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        self.signal(Signal::SIGTERM);
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            tracing::warn!(child = %self.name, "Did not stop in time; killing.");
            let _ = self.child.kill().await;
        }
    }
}
