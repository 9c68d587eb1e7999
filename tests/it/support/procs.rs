//! The machine's processes as /proc lists them, and signals to them.

use std::process::Command;

/// A process seen in /proc.
#[derive(Debug)]
pub struct Seen {
    /// Its id.
    pub pid: u32,
    /// Its command line, arguments joined by spaces (empty for a zombie).
    pub cmdline: String,
    /// Its network namespace (`net:[inode]`); `None` for a zombie or one gone meanwhile.
    pub netns: Option<String>,
}

/// Every process /proc lists now, except this test binary.
pub fn processes() -> Vec<Seen> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let netns = std::fs::read_link(entry.path().join("ns/net"))
            .ok()
            .map(|ns| ns.display().to_string());
        out.push(Seen {
            pid,
            cmdline: String::from_utf8_lossy(&cmdline).replace('\0', " "),
            netns,
        });
    }
    out
}

/// Whether `pid` still runs: listed in /proc and not a zombie waiting for its reaper (gone
/// in every sense that matters).
pub fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// Sends signal `sig` ("TERM", "INT", "KILL", "9") to `pid` with `kill(1)`; whether it was
/// delivered.
pub fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .expect("kill runs")
        .success()
}
