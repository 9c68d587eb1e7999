//! Finds the real Prometheus and Alertmanager binaries on PATH, or says how to install them.

use std::path::PathBuf;

/// A tool `up` needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tool {
    /// What it is called in messages.
    pub name: &'static str,
    /// Executable names to look for, in order (Debian's first).
    pub executables: &'static [&'static str],
    /// The Debian package that ships it.
    pub package: &'static str,
}

/// Prometheus.
pub(crate) const PROMETHEUS: Tool = Tool {
    name: "Prometheus",
    executables: &["prometheus"],
    package: "prometheus",
};

/// Alertmanager (Debian calls the binary `prometheus-alertmanager`).
pub(crate) const ALERTMANAGER: Tool = Tool {
    name: "Alertmanager",
    executables: &["prometheus-alertmanager", "alertmanager"],
    package: "prometheus-alertmanager",
};

/// VictoriaMetrics, the long-term store of `up --ha`.
pub(crate) const VICTORIA_METRICS: Tool = Tool {
    name: "VictoriaMetrics",
    executables: &["victoria-metrics", "victoria-metrics-prod"],
    package: "victoria-metrics",
};

/// The Pushgateway, where batch jobs push their outcome.
pub(crate) const PUSHGATEWAY: Tool = Tool {
    name: "Pushgateway",
    executables: &["prometheus-pushgateway", "pushgateway"],
    package: "prometheus-pushgateway",
};

/// A tool that is not installed.
#[derive(Debug, thiserror::Error)]
#[error("{name} is not installed (looked for {looked} on PATH): install it with `sudo apt-get install {package}` or run scripts/install-deps")]
pub struct Missing {
    name: &'static str,
    looked: String,
    package: &'static str,
}

/// The path of the first executable of `tool` found on PATH.
pub(crate) fn find(tool: Tool) -> Result<PathBuf, Missing> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for exe in tool.executables {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(exe);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(Missing {
        name: tool.name,
        looked: tool.executables.join(" or "),
        package: tool.package,
    })
}
