//! Starts `monlab up` the way the tests run it: the repository's deploy folder, a data folder
//! of the test's own, ports the test picked.

use crate::harness::{free_port, monlab_command, Proc};
use crate::support::files::deploy_dir;
use std::path::Path;
use std::time::Duration;

/// The first port of each part `monlab up` starts (with `--ha` or `--replicas` the others
/// follow it).
#[derive(Debug, Clone, Copy)]
pub struct UpPorts {
    /// `--port`: the service.
    pub service: u16,
    /// `--prometheus-port`.
    pub prometheus: u16,
    /// `--alertmanager-port`.
    pub alertmanager: u16,
    /// `--pushgateway-port`.
    pub pushgateway: u16,
}

impl UpPorts {
    /// Four free loopback ports.
    pub fn free() -> Self {
        Self {
            service: free_port(),
            prometheus: free_port(),
            alertmanager: free_port(),
            pushgateway: free_port(),
        }
    }
}

/// Starts `monlab up <extra>` in `data` (also its `--data-dir`) on `ports` with the
/// repository's deploy folder, and waits up to `limit` for its banner; returns the process
/// and what it printed up to the banner.
pub fn start_up(data: &Path, ports: UpPorts, extra: &[&str], limit: Duration) -> (Proc, String) {
    let (deploy, data_arg) = (
        deploy_dir().display().to_string(),
        data.display().to_string(),
    );
    let ports_arg = [
        ports.service,
        ports.prometheus,
        ports.alertmanager,
        ports.pushgateway,
    ]
    .map(|p| p.to_string());
    let mut args = vec![
        "up",
        "--deploy",
        &deploy,
        "--data-dir",
        &data_arg,
        "--port",
        &ports_arg[0],
        "--prometheus-port",
        &ports_arg[1],
        "--alertmanager-port",
        &ports_arg[2],
        "--pushgateway-port",
        &ports_arg[3],
    ];
    args.extend_from_slice(extra);
    let mut cmd = monlab_command(&args);
    cmd.current_dir(data);
    let mut up = Proc::spawn(cmd);
    let banner = up.wait_for_output("data, logs", limit);
    (up, banner)
}

/// The URLs a banner prints (the "break it" line's is an argument, not a place to open).
pub fn banner_urls(banner: &str) -> Vec<String> {
    banner
        .lines()
        .filter(|l| !l.contains("break it"))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("http://")))
        .map(str::to_string)
        .collect()
}
