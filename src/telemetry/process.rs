//! Process saturation metrics read from `/proc/self` at scrape time: CPU seconds, resident and
//! virtual memory, open and maximum file descriptors, threads and start time.
//!
//! The names are the ones every Prometheus client uses (`process_*`, no prefix), so standard
//! dashboards and alerts work unchanged. On systems without `/proc` the collector writes nothing.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Reads `/proc/self` on each scrape.
#[derive(Debug, Default)]
pub(crate) struct ProcessCollector;

/// One reading of the process's resources.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProcessStats {
    /// User plus system CPU time.
    pub cpu_seconds: f64,
    /// Resident set size.
    pub resident_bytes: f64,
    /// Virtual memory size.
    pub virtual_bytes: f64,
    /// Start time since the Unix epoch.
    pub start_time_seconds: f64,
    /// OS threads.
    pub threads: f64,
    /// Open file descriptors.
    pub open_fds: f64,
    /// Soft limit on file descriptors.
    pub max_fds: f64,
}

impl ProcessStats {
    /// Reads the current process's stats; `None` where `/proc` is missing.
    pub(crate) fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses and may contain spaces.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
        // USER_HZ is 100 in the Linux ABI on every architecture (Go's procfs assumes the same).
        let ticks = 100.0;
        // Indices are the stat(5) field numbers minus 3 (pid and comm are cut off).
        let utime = num(11)?;
        let stime = num(12)?;
        let threads = num(17)?;
        let starttime = num(19)?;
        let vsize = num(20)?;
        // VmRSS is in kB, which spares us the page size.
        let rss_kb = std::fs::read_to_string("/proc/self/status")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())?;
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()?
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN);
        Some(Self {
            cpu_seconds: (utime + stime) / ticks,
            resident_bytes: rss_kb * 1024.0,
            virtual_bytes: vsize,
            start_time_seconds: boot + starttime / ticks,
            threads,
            open_fds,
            max_fds,
        })
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(s) = ProcessStats::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(s.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                s.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                s.virtual_bytes,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                s.start_time_seconds,
            ),
            (
                "process_threads",
                "Number of OS threads in the process",
                s.threads,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                s.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                s.max_fds,
            ),
        ];
        for (name, help, value) in gauges {
            let g = ConstGauge::new(value);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = ProcessStats::read().expect("/proc is available on Linux");
        assert!(s.resident_bytes > 1e5, "rss {}", s.resident_bytes);
        assert!(s.threads >= 1.0);
        assert!(s.open_fds >= 3.0);
        assert!(s.max_fds >= s.open_fds);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(s.start_time_seconds <= now + 1.0 && s.start_time_seconds > now - 3600.0);
    }
}
