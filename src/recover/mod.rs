//! `monlab recover`: the distributions of `/random`'s value and delay, rebuilt from Prometheus.
//!
//! See [`run`]. The steps, one module each:
//! - [`source`] reads the bucket counts of a window through [`crate::promapi`], native and classic;
//! - [`binned`] turns counts into a CDF, densities, quantiles and moments;
//! - [`fit`] fits candidate families by binned maximum likelihood and picks one by AIC;
//! - `truth` finds the true distributions, [`compare`] measures the distance to them;
//! - [`report`] prints the table or JSON, [`plot`] draws the picture.

pub(crate) mod binned;
pub(crate) mod compare;
pub(crate) mod config;
pub(crate) mod fit;
pub(crate) mod plot;
pub(crate) mod report;
pub(crate) mod source;
mod truth;

use crate::promapi;
pub use config::{RecoverConfig, RECOVER_MAX_WINDOW};
use report::{MetricReport, Recovery, Report};
use serde::Serialize;
use source::{Observed, Query, Source};

/// A distribution of `/random` that `recover` rebuilds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// The returned value.
    Value,
    /// The delay before answering, in seconds.
    Delay,
}

impl Metric {
    /// The name used in flags and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Value => "value",
            Self::Delay => "delay",
        }
    }

    /// The unit of the observations ("" for the unitless value).
    pub fn unit(self) -> &'static str {
        match self {
            Self::Value => "",
            Self::Delay => "s",
        }
    }
}

/// Which histogram to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceChoice {
    /// Both when present; the native one leads (finer buckets), the classic one is compared.
    Auto,
    /// Only the native histogram.
    Native,
    /// Only the classic histogram.
    Classic,
}

/// Why no recovery could be made; each is one line for the terminal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Prometheus failed; the hint names `recover`'s flag.
    #[error("{0}{hint}", hint = .0.hint("--prometheus"))]
    Prometheus(promapi::Error),
    /// The series were never stored.
    #[error("Prometheus at {url} has no series {selector} (is monlab scraped by it, with this --job and --instance?)")]
    Absent {
        /// Its URL.
        url: String,
        /// The selector(s) tried.
        selector: String,
    },
    /// The series exist but not with observations in the window.
    #[error("no observations of {series} between {} and {}: {detail} (widen --window or move --start/--end)", crate::api::rfc3339(*.start), crate::api::rfc3339(*.end))]
    NoData {
        /// The series.
        series: String,
        /// Window start.
        start: f64,
        /// Window end.
        end: f64,
        /// What was found.
        detail: String,
    },
    /// Too few observations for a trustworthy answer.
    #[error("only {count} observations of {series} in the window, and at least {min} are needed (widen --window or lower --min-samples)")]
    TooFewSamples {
        /// The series.
        series: String,
        /// Observations found.
        count: f64,
        /// `--min-samples`.
        min: u64,
    },
    /// Counts that do not add up to one histogram.
    #[error("{0}")]
    Inconsistent(String),
    /// The truth was asked for and cannot be read.
    #[error("cannot read the true distributions from {url}: {reason}")]
    Truth {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The picture cannot be drawn or written.
    #[error("cannot draw {path}: {reason}")]
    Plot {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

// By hand rather than `#[from]`: the message already holds the cause's text, so it is not
// also a `source()` (a chain printer would say it twice).
impl From<promapi::Error> for Error {
    fn from(e: promapi::Error) -> Self {
        Self::Prometheus(e)
    }
}

/// Reads, rebuilds, fits and compares every asked-for metric; draws the picture if asked.
pub async fn run(cfg: &RecoverConfig) -> Result<Report, Error> {
    let prom = promapi::Client::new(&cfg.prometheus)?;
    let q = Query {
        job: cfg.job.clone(),
        instance: cfg.instance.clone(),
        start: unix(cfg.start),
        end: unix(cfg.end),
    };
    let mut observed = Vec::new();
    for &metric in &cfg.metrics {
        let (found, notes) = observe(&prom, metric, &q, cfg.source).await?;
        let lead = &found[0];
        if lead.count < cfg.min_samples as f64 {
            return Err(Error::TooFewSamples {
                series: lead.series.clone(),
                count: lead.count,
                min: cfg.min_samples,
            });
        }
        observed.push((metric, found, notes));
    }
    let mut instances: Vec<String> = observed
        .iter()
        .flat_map(|(_, found, _)| found.iter().flat_map(|o| o.instances.clone()))
        .collect();
    instances.sort();
    instances.dedup();
    let truth = truth::read(cfg, &instances).await?;

    let metrics = observed
        .into_iter()
        .map(|(metric, found, notes)| {
            let t = match metric {
                Metric::Value => truth.value.clone(),
                Metric::Delay => truth.delay.clone(),
            };
            let recoveries = found
                .into_iter()
                .map(|o| Recovery::analyse(o, t.as_ref()))
                .collect();
            MetricReport {
                metric,
                unit: metric.unit(),
                truth: t,
                recoveries,
                notes,
            }
        })
        .collect();
    let mut report = Report {
        prometheus: prom.url().to_string(),
        job: cfg.job.clone(),
        instance: cfg.instance.clone(),
        instances,
        window: report::Window::new(q.start, q.end),
        truth: truth.info,
        metrics,
        plot: None,
        show_buckets: cfg.buckets,
    };
    if let Some(path) = &cfg.plot {
        plot::draw(&report, path)?;
        report.plot = Some(path.display().to_string());
    }
    Ok(report)
}

fn unix(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Reads the sources `choice` allows; the first returned leads. With `Auto`, a missing native
/// histogram (Prometheus without `--enable-feature=native-histograms`) falls back to classic.
async fn observe(
    prom: &promapi::Client,
    metric: Metric,
    q: &Query,
    choice: SourceChoice,
) -> Result<(Vec<Observed>, Vec<String>), Error> {
    let sources: &[Source] = match choice {
        SourceChoice::Auto => &[Source::Native, Source::Classic],
        SourceChoice::Native => &[Source::Native],
        SourceChoice::Classic => &[Source::Classic],
    };
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let mut notes = Vec::new();
    for &s in sources {
        match source::fetch(prom, s, metric, q).await {
            Ok(o) => found.push(o),
            Err(e @ (Error::Absent { .. } | Error::NoData { .. })) => missing.push((s, e)),
            Err(e) => return Err(e),
        }
    }
    if found.is_empty() {
        // "No data in the window" says more than "absent": the series do exist.
        if let Some(i) = missing
            .iter()
            .position(|(_, e)| matches!(e, Error::NoData { .. }))
        {
            return Err(missing.swap_remove(i).1);
        }
        return Err(Error::Absent {
            url: prom.url().to_string(),
            selector: sources
                .iter()
                .map(|s| source::selector(*s, metric, q))
                .collect::<Vec<_>>()
                .join(" nor "),
        });
    }
    for (s, e) in missing {
        notes.push(match (s, e) {
            (Source::Native, Error::Absent { .. }) => format!(
                "no native histogram {}: Prometheus needs --enable-feature=native-histograms to \
                 store it; the classic buckets are used",
                Source::Native.series(metric)
            ),
            (s, e) => format!("{} histogram not used: {e}", s.word()),
        });
    }
    Ok((found, notes))
}
