//! monlab: a simulated production system with its monitoring built in.
//!
//! - [`cli`]: the command line, every setting declared once; [`cmd`]: one module per command,
//!   filling its feature's config and running it; [`settings`]: the config file and the
//!   one parser per kind of value.
//! - [`api`]: the wire contract (bodies, answers, routes, [`api::Severity`]) that the service and
//!   its clients share; serde data only.
//! - [`service`]: the simulated system (router, endpoints, load shedding, shutdown), and the
//!   live page at `/lab` (charts, alerts, incidents, distributions, ML signals).
//! - [`telemetry`]: golden-signal metrics, distributions, process facts, `/metrics`.
//! - [`incident`]: the incident catalogue, the state handlers consult, and the one scoring rule
//!   (which alert caught which incident, and how fast); [`ml`]: the model behind `/predict`.
//! - [`distribution`]: what `/random` draws, and the maths `recover` fits with.
//! - [`scenario`]: incident timelines and their scoreboard; the admin API client.
//! - [`load`]: `monlab load`, open-loop traffic and its latency report.
//! - [`batch`]: `monlab batch`, a batch job that pushes its outcome to a Pushgateway.
//! - [`report`]: `monlab report`, a performance review of a period.
//! - [`stack`]: `monlab up`, the whole system on one machine.
//! - [`gameday`]: `monlab gameday`, the alerts' precision, recall, detection and reset times
//!   measured over many warped trials.
//! - [`recover`]: `monlab recover`, distributions rebuilt from Prometheus's histograms.
//! - [`diagnose`]: `monlab diagnose`, the users and requests behind an alert, from exemplars.
//! - [`promapi`]: the Prometheus (and VictoriaMetrics) HTTP API client of `recover`, `report`
//!   and `diagnose`.
//! - [`warp`]: the time warp's transform of the monitoring files (every duration / K).
//! - [`hash`]: FNV-1a, the one stable hash.
//! - [`shutdown`]: the one signal future.
//! - [`logging`]: tracing set-up.
// One audited exception: stack::process sets the parent-death signal in a forked child.
#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod api;
pub(crate) mod batch;
pub mod cli;
pub mod cmd;
pub(crate) mod diagnose;
pub mod distribution;
pub mod gameday;
pub(crate) mod hash;
pub mod incident;
pub mod load;
pub mod logging;
pub mod ml;
pub(crate) mod promapi;
pub mod recover;
pub(crate) mod report;
pub mod scenario;
pub mod service;
pub mod settings;
pub(crate) mod shutdown;
pub mod stack;
pub mod telemetry;
pub mod warp;

#[cfg(test)]
mod map {
    use std::path::{Path, PathBuf};

    /// Every .rs file under `dir`, with its text up to its test module (tests may reach
    /// anywhere).
    fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).expect("a readable folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                out.extend(sources(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("a readable file");
                // Code only: up to the test module, without comments (docs may link anywhere).
                let code = text
                    .split("#[cfg(test)]")
                    .next()
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect::<Vec<_>>()
                    .join("\n");
                out.push((path, code));
            }
        }
        out
    }

    /// The layers point one way (docs/architecture.md): only the command layer uses the
    /// command line, clients never import the server, and the wire contract imports no
    /// feature.
    #[test]
    fn imports_point_down_the_layers() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for (path, code) in sources(&src) {
            let rel = path
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            let top = rel
                .split('/')
                .next()
                .unwrap_or_default()
                .trim_end_matches(".rs")
                .to_string();
            let uses = |module: &str| code.contains(&format!("crate::{module}"));
            if !matches!(top.as_str(), "cmd" | "cli" | "main" | "lib") {
                assert!(
                    !uses("cmd::") && !uses("cli::"),
                    "{rel} imports the command layer"
                );
            }
            if !matches!(top.as_str(), "service" | "cmd" | "cli") {
                assert!(
                    !uses("service::"),
                    "{rel} imports the service (use crate::api)"
                );
            }
            if top == "api" {
                for feature in [
                    "service",
                    "stack",
                    "load",
                    "scenario",
                    "recover",
                    "report",
                    "batch",
                    "incident",
                    "telemetry",
                    "ml::",
                    "warp",
                ] {
                    assert!(!uses(feature), "{rel}, a wire type, imports {feature}");
                }
            }
        }
    }

    /// docs/architecture.md is how a reader finds the home of a behaviour: it must name every
    /// folder and top-level file of src/.
    #[test]
    fn every_source_folder_is_on_the_map() {
        let map = include_str!("../docs/architecture.md");
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for entry in std::fs::read_dir(&src).expect("src/ is readable") {
            let name = entry.expect("an entry").file_name();
            let name = name.to_string_lossy();
            if name == "lib.rs" {
                continue;
            }
            let shown = if name.ends_with(".rs") {
                format!("`src/{name}`")
            } else {
                format!("`src/{name}/`")
            };
            assert!(
                map.contains(&shown),
                "docs/architecture.md does not name {shown}"
            );
        }
    }
}
