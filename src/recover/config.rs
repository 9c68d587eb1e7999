//! Everything `monlab recover` needs, validated: the recovery's own config type.

use crate::distribution::Distribution;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Everything `monlab recover` needs, validated; the window is resolved to two instants.
#[derive(Debug, Clone)]
pub struct RecoverConfig {
    /// Base URL of the Prometheus HTTP API (no trailing slash).
    pub prometheus: String,
    /// Window start.
    pub start: SystemTime,
    /// Window end.
    pub end: SystemTime,
    /// The service's scrape job.
    pub job: String,
    /// One instance; `None` sums over every instance of the job.
    pub instance: Option<String>,
    /// The distributions to rebuild.
    pub metrics: Vec<super::Metric>,
    /// Which histogram to read.
    pub source: super::SourceChoice,
    /// The service whose `/distributions` is the truth; `None`: the scraped instance, if local.
    pub truth_url: Option<String>,
    /// The true value distribution, overriding the service's.
    pub truth_value: Option<Distribution>,
    /// The true delay distribution, overriding the service's.
    pub truth_delay: Option<Distribution>,
    /// Fewest observations to answer with.
    pub min_samples: u64,
    /// Where to draw the picture.
    pub plot: Option<PathBuf>,
    /// Whether the table lists every bucket.
    pub buckets: bool,
}

/// The longest window `recover` reads: a year, far beyond Prometheus's default retention.
pub const RECOVER_MAX_WINDOW: Duration = Duration::from_secs(366 * 24 * 3600);

impl RecoverConfig {
    /// The window `recover` reads when no flag says otherwise: the last 10 minutes.
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(600);
}

impl Default for RecoverConfig {
    /// The last 10 minutes of the local Prometheus's `monlab` job, both distributions, both
    /// histograms compared.
    fn default() -> Self {
        let end = SystemTime::now();
        Self {
            prometheus: "http://127.0.0.1:9090".into(),
            start: end
                .checked_sub(Self::DEFAULT_WINDOW)
                .unwrap_or(std::time::UNIX_EPOCH),
            end,
            job: "monlab".into(),
            instance: None,
            metrics: vec![super::Metric::Value, super::Metric::Delay],
            source: super::SourceChoice::Auto,
            truth_url: None,
            truth_value: None,
            truth_delay: None,
            min_samples: 100,
            plot: None,
            buckets: false,
        }
    }
}
