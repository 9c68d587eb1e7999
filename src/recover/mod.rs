//! `monlab recover`: the distributions of `/random`'s value and delay, rebuilt from Prometheus.
//!
//! See [`run`]. The steps, one module each:
//! - [`source`] reads the bucket counts of a window from the HTTP API, native and classic;
//! - [`binned`] turns counts into a CDF, densities, quantiles and moments;
//! - [`fit`] fits candidate families by binned maximum likelihood and picks one by AIC;
//! - [`compare`] measures the distance to the truth when it is known;
//! - [`report`] prints the table or JSON, [`plot`] draws the picture.

pub mod binned;
pub mod compare;
pub mod config;
pub mod fit;
pub mod plot;
pub mod report;
pub mod source;

use crate::distribution::Distribution;
pub use config::{RecoverConfig, RECOVER_MAX_WINDOW};
use report::{MetricReport, Recovery, Report, TruthInfo};
use serde::Serialize;
use source::{Observed, Prometheus, Query, Source};

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
    /// No answer from Prometheus.
    #[error("cannot reach Prometheus at {url}: {reason} (is it running? `monlab up` starts one)")]
    Unreachable {
        /// Its URL.
        url: String,
        /// The innermost cause.
        reason: String,
    },
    /// Something answered that is not the Prometheus API.
    #[error("{url} answered HTTP {status} without a Prometheus API response: is --prometheus the right URL?")]
    NotPrometheus {
        /// Its URL.
        url: String,
        /// HTTP status.
        status: u16,
    },
    /// Prometheus refused a query.
    #[error("Prometheus at {url} refused `{query}`: {message}")]
    Query {
        /// Its URL.
        url: String,
        /// The query.
        query: String,
        /// Its error text.
        message: String,
    },
    /// The series were never stored.
    #[error("Prometheus at {url} has no series {selector} (is monlab scraped by it, with this --job and --instance?)")]
    Absent {
        /// Its URL.
        url: String,
        /// The selector(s) tried.
        selector: String,
    },
    /// The series exist but not with observations in the window.
    #[error("no observations of {series} between {} and {}: {detail} (widen --window or move --start/--end)", report::rfc3339(*.start), report::rfc3339(*.end))]
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

/// Reads, rebuilds, fits and compares every asked-for metric; draws the picture if asked.
pub async fn run(cfg: &RecoverConfig) -> Result<Report, Error> {
    let prom = Prometheus::new(&cfg.prometheus)?;
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
    let truth = truth(&prom, cfg, &instances).await?;

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
    prom: &Prometheus,
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

/// The true distributions, from the flags, the given service or the scraped instances.
struct Truth {
    value: Option<Distribution>,
    delay: Option<Distribution>,
    info: TruthInfo,
}

async fn truth(
    prom: &Prometheus,
    cfg: &RecoverConfig,
    instances: &[String],
) -> Result<Truth, Error> {
    use crate::api::distributions::Distributions;
    let mut t = Truth {
        value: cfg.truth_value.clone(),
        delay: cfg.truth_delay.clone(),
        info: TruthInfo {
            known: false,
            origin: String::new(),
        },
    };
    let needed = cfg.metrics.iter().any(|m| match m {
        Metric::Value => t.value.is_none(),
        Metric::Delay => t.delay.is_none(),
    });
    let flags = "--truth-value/--truth-delay";
    if !needed {
        t.info = TruthInfo {
            known: true,
            origin: format!("given with {flags}"),
        };
        return Ok(t);
    }
    let fill = |t: &mut Truth, d: Distributions, origin: String| {
        t.value.get_or_insert(d.value.spec);
        t.delay.get_or_insert(d.delay.spec);
        t.info = TruthInfo {
            known: true,
            origin,
        };
    };
    if let Some(base) = &cfg.truth_url {
        let url = format!("{}/distributions", base.trim_end_matches('/'));
        let d: Distributions = prom.get_json(&url).await.map_err(|reason| Error::Truth {
            url: url.clone(),
            reason,
        })?;
        fill(&mut t, d, format!("read from {url}"));
        return Ok(t);
    }
    // Ask the instances that produced the data, when they are on this machine: a fixed default
    // such as 127.0.0.1:8080 could be another service than the one Prometheus scraped.
    let local: Vec<&String> = instances.iter().filter(|i| is_loopback(i)).collect();
    let mut answers: Vec<(String, Distributions)> = Vec::new();
    let mut failures = Vec::new();
    for instance in &local {
        let url = format!("http://{instance}/distributions");
        match prom.get_json::<Distributions>(&url).await {
            Ok(d) => answers.push((url, d)),
            Err(why) => failures.push(format!("{url}: {why}")),
        }
    }
    let agree = answers
        .windows(2)
        .all(|w| w[0].1.value.spec == w[1].1.value.spec && w[0].1.delay.spec == w[1].1.delay.spec);
    match answers.len() {
        0 => {
            let why = if local.is_empty() {
                "no scraped instance is on this machine; pass --truth-url or --truth-value/--truth-delay".to_string()
            } else {
                failures.join("; ")
            };
            t.info = TruthInfo {
                known: t.value.is_some() || t.delay.is_some(),
                origin: if t.value.is_some() || t.delay.is_some() {
                    format!("partly given with {flags}; the rest unknown ({why})")
                } else {
                    format!("unknown ({why})")
                },
            };
        }
        _ if !agree => {
            t.info.origin =
                "unknown (the instances are configured differently; pick one with --instance)"
                    .into();
        }
        n => {
            let (url, d) = answers.swap_remove(0);
            let origin = if n == 1 {
                format!("read from {url}")
            } else {
                format!(
                    "read from {url} and {} more instance(s), which agree",
                    n - 1
                )
            };
            fill(&mut t, d, origin);
        }
    }
    Ok(t)
}

/// Whether `host:port` names this machine.
fn is_loopback(instance: &str) -> bool {
    let host = instance
        .rsplit_once(':')
        .map_or(instance, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_is_asked_for_the_truth() {
        for yes in ["127.0.0.1:8080", "localhost:9", "[::1]:80", "127.3.2.1:1"] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "monlab:8080",
            "10.0.0.1:8080",
            "example.org:80",
            "[2001:db8::1]:80",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }
}
