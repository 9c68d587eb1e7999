//! `monlab batch`: a batch job on the push path, standing in for a nightly feature backfill.
//!
//! It draws `rows` applicants from the credit-risk population, computes their summary (the
//! work), and pushes its outcome to a Pushgateway, because a job that lives for seconds
//! between two scrapes would never be seen by pull. What it pushes (group `job=<job>`):
//! - `monlab_batch_last_run_timestamp_seconds`, `monlab_batch_duration_seconds`,
//!   `monlab_batch_rows_processed`, `monlab_batch_last_run_success` (1 or 0),
//!   `monlab_batch_schedule_seconds` (how often it is meant to run, so the staleness alert can
//!   read the promise from the data);
//! - `monlab_batch_last_success_timestamp_seconds`, on success only.
//!
//! A success replaces the whole group (HTTP PUT); a failure updates only the metrics it sends
//! (HTTP POST), so the last success time survives a failed run — the alert on staleness
//! depends on that.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use rand::SeedableRng;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A validated batch run.
#[derive(Debug, Clone)]
pub(crate) struct BatchConfig {
    /// Pushgateway base URL, e.g. `http://127.0.0.1:9091`.
    pub pushgateway: String,
    /// The job label of the pushed group.
    pub job: String,
    /// Rows to process.
    pub rows: u64,
    /// How often the job is meant to run.
    pub schedule: Duration,
    /// Fail on purpose after the work (to see the failure alert).
    pub fail: bool,
    /// Seed of the drawn rows.
    pub seed: u64,
}

impl Default for BatchConfig {
    /// The local Pushgateway, a 200,000-row backfill every 10 minutes, seed 1.
    fn default() -> Self {
        Self {
            pushgateway: "http://127.0.0.1:9091".into(),
            job: "monlab-backfill".into(),
            rows: 200_000,
            schedule: Duration::from_secs(600),
            fail: false,
            seed: 1,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Outcome {
    /// Rows processed.
    pub rows: u64,
    /// Wall time of the work.
    pub duration_seconds: f64,
    /// Whether it succeeded.
    pub success: bool,
    /// Mean debt ratio of the rows (the backfilled feature summary).
    pub mean_debt_ratio: f64,
    /// Share of rows that defaulted.
    pub default_rate: f64,
}

/// Why a run could not report.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BatchError {
    /// The Pushgateway refused or could not be reached.
    #[error("cannot push to {url}: {reason}")]
    Push {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The run failed (on purpose with --fail); its outcome was pushed.
    #[error("batch job failed after {rows} rows (pushed as a failure)")]
    Failed {
        /// Rows processed before failing.
        rows: u64,
    },
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn gauge(registry: &mut Registry, name: &str, help: &str, unit: Option<Unit>, v: f64) {
    let g = Gauge::<f64, AtomicU64>::default();
    g.set(v);
    match unit {
        Some(u) => registry.register_with_unit(name, help, u, g),
        None => registry.register(name, help, g),
    }
}

/// The exposition a run pushes (Prometheus text format).
pub(crate) fn exposition(out: &Outcome, cfg: &BatchConfig, finished_at: f64) -> String {
    let mut registry = Registry::default();
    let r = registry.sub_registry_with_prefix("monlab_batch");
    gauge(
        r,
        "last_run_timestamp",
        "When the last run ended, since the Unix epoch",
        Some(Unit::Seconds),
        finished_at,
    );
    gauge(
        r,
        "duration",
        "Wall time of the last run",
        Some(Unit::Seconds),
        out.duration_seconds,
    );
    gauge(
        r,
        "rows_processed",
        "Rows the last run processed",
        None,
        out.rows as f64,
    );
    gauge(
        r,
        "last_run_success",
        "Whether the last run succeeded (1) or failed (0)",
        None,
        if out.success { 1.0 } else { 0.0 },
    );
    gauge(
        r,
        "schedule",
        "How often the job is meant to run",
        Some(Unit::Seconds),
        cfg.schedule.as_secs_f64(),
    );
    if out.success {
        gauge(
            r,
            "last_success_timestamp",
            "When the last successful run ended, since the Unix epoch",
            Some(Unit::Seconds),
            finished_at,
        );
    }
    let mut text = String::new();
    // Encoding gauges into a String cannot fail.
    let _ = encode(&mut text, &registry);
    // The Pushgateway reads the Prometheus text format; drop OpenMetrics' end marker.
    text.replace("# EOF\n", "")
}

/// Does the work: draws the rows and summarises them.
pub(crate) fn work(rows: u64, seed: u64) -> Outcome {
    let start = Instant::now();
    let g = crate::ml::dataset::Generator::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut debt, mut defaults) = (0.0, 0u64);
    for _ in 0..rows {
        let (f, label) = g.sample(&mut rng);
        debt += f.debt_ratio.unwrap_or(0.0);
        defaults += u64::from(label);
    }
    let n = rows.max(1) as f64;
    Outcome {
        rows,
        duration_seconds: start.elapsed().as_secs_f64(),
        success: true,
        mean_debt_ratio: debt / n,
        default_rate: defaults as f64 / n,
    }
}

/// Runs the job and pushes its outcome.
pub(crate) async fn run(cfg: &BatchConfig) -> Result<Outcome, BatchError> {
    let rows = cfg.rows;
    let seed = cfg.seed;
    let mut out = tokio::task::spawn_blocking(move || work(rows, seed))
        .await
        .map_err(|e| BatchError::Push {
            url: cfg.pushgateway.clone(),
            reason: format!("the work did not finish: {e}"),
        })?;
    out.success = !cfg.fail;
    let body = exposition(&out, cfg, now());
    let url = format!(
        "{}/metrics/job/{}",
        cfg.pushgateway.trim_end_matches('/'),
        cfg.job
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| BatchError::Push {
            url: url.clone(),
            reason: format!(
                "cannot build an HTTP client: {}",
                crate::api::error::error_chain(&e)
            ),
        })?;
    let req = if out.success {
        client.put(&url)
    } else {
        client.post(&url)
    };
    let resp = req
        .header("content-type", "text/plain; version=0.0.4")
        .body(body)
        .send()
        .await
        .map_err(|e| BatchError::Push {
            url: url.clone(),
            reason: crate::api::error::error_chain(&e),
        })?;
    if !resp.status().is_success() {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        return Err(BatchError::Push {
            url,
            reason: format!("HTTP {status}: {}", text.trim()),
        });
    }
    if out.success {
        Ok(out)
    } else {
        Err(BatchError::Failed { rows: out.rows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BatchConfig {
        BatchConfig {
            pushgateway: "http://127.0.0.1:9091".into(),
            job: "monlab-backfill".into(),
            rows: 1000,
            schedule: Duration::from_secs(600),
            fail: false,
            seed: 1,
        }
    }

    #[test]
    fn work_is_reproducible_and_plausible() {
        let a = work(20_000, 3);
        let b = work(20_000, 3);
        assert_eq!(a.mean_debt_ratio, b.mean_debt_ratio);
        assert!((a.mean_debt_ratio - 2.0 / 7.0).abs() < 0.01);
    }

    #[test]
    fn a_failure_does_not_carry_a_success_time() {
        let mut out = work(10, 1);
        let ok = exposition(&out, &cfg(), 1000.0);
        assert!(ok.contains("monlab_batch_last_success_timestamp_seconds 1000"));
        assert!(ok.contains("monlab_batch_schedule_seconds 600"));
        assert!(!ok.contains("# EOF"));
        out.success = false;
        let failed = exposition(&out, &cfg(), 2000.0);
        assert!(failed.contains("monlab_batch_last_run_success 0"));
        assert!(!failed.contains("last_success_timestamp"));
    }
}
