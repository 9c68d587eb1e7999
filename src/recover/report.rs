//! What `recover` found: the [`Report`], printed as a table (its `Display`) or as JSON (serde).
//!
//! In JSON an infinite bucket edge (an open bucket) is `null`.

use super::binned::{Histogram, Quantile, REPORTED_QUANTILES};
use super::compare::{accuracy, Accuracy};
use super::fit::{fit_all, Fits, Verdict};
use super::source::{Observed, Source};
use super::Metric;
use crate::api::rfc3339;
use crate::distribution::Distribution;
use serde::Serialize;
use std::fmt::{self, Write as _};

/// Everything `recover` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The Prometheus asked.
    pub prometheus: String,
    /// The `job` label.
    pub job: String,
    /// The `instance` asked for; `None` sums all.
    pub instance: Option<String>,
    /// Instances whose counts were used.
    pub instances: Vec<String>,
    /// The window.
    pub window: Window,
    /// Where the truth came from.
    pub truth: TruthInfo,
    /// One entry per metric.
    pub metrics: Vec<MetricReport>,
    /// The picture written, if any.
    pub plot: Option<String>,
    /// Whether the table lists every bucket.
    #[serde(skip)]
    pub show_buckets: bool,
}

/// The time window.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// Start, RFC 3339.
    pub start: String,
    /// End, RFC 3339.
    pub end: String,
    /// Length in seconds.
    pub seconds: f64,
}

impl Window {
    /// A window from Unix seconds.
    pub fn new(start: f64, end: f64) -> Self {
        Self {
            start: rfc3339(start),
            end: rfc3339(end),
            seconds: end - start,
        }
    }
}

/// Whether the truth is known and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct TruthInfo {
    /// Known for at least one metric.
    pub known: bool,
    /// Where it came from, or why it is unknown.
    pub origin: String,
}

/// One metric's recoveries.
#[derive(Debug, Clone, Serialize)]
pub struct MetricReport {
    /// Which metric.
    pub metric: Metric,
    /// Unit of the observations.
    pub unit: &'static str,
    /// The true distribution, when known.
    pub truth: Option<Distribution>,
    /// One per source; the first leads (native when present).
    pub recoveries: Vec<Recovery>,
    /// Notes on sources left out.
    pub notes: Vec<String>,
}

/// One bucket as reported.
#[derive(Debug, Clone, Serialize)]
pub struct BinReport {
    /// Lower edge (`null`: open).
    pub lower: f64,
    /// Upper edge (`null`: `+Inf`).
    pub upper: f64,
    /// Observations.
    pub count: f64,
    /// Mean density in the bucket (share per unit); `null` for an open bucket.
    pub density: Option<f64>,
    /// Share of observations at or below the upper edge.
    pub cdf: f64,
}

/// The distribution rebuilt from one source.
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    /// Native or classic.
    pub source: Source,
    /// The series read.
    pub series: String,
    /// Instances summed.
    pub instances: Vec<String>,
    /// Observations the recovery rests on.
    pub samples: f64,
    /// Counter resets seen in the window.
    pub resets: u32,
    /// Buckets that hold observations.
    pub buckets_used: usize,
    /// Exact mean from `_sum / _count`.
    pub mean: f64,
    /// Standard deviation from the buckets, Sheppard-corrected.
    pub std_dev: f64,
    /// Share of observations in open buckets.
    pub open_share: f64,
    /// p1 … p99.
    pub quantiles: Vec<Quantile>,
    /// Every candidate family, best AIC first.
    pub fits: Fits,
    /// Distance to the truth, when known.
    pub accuracy: Option<Accuracy>,
    /// Every bucket with its density and CDF.
    pub bins: Vec<BinReport>,
    /// Notes on how the counts were put together.
    pub notes: Vec<String>,
    /// The counts, for the picture.
    #[serde(skip)]
    pub histogram: Histogram,
}

impl Recovery {
    /// Rebuilds, fits and (with a truth) compares one source's counts.
    pub fn analyse(o: Observed, truth: Option<&Distribution>) -> Self {
        let h = o.histogram;
        let fits = fit_all(&h);
        let accuracy = truth.map(|t| accuracy(&h, &fits, t));
        let bins = h
            .bins()
            .iter()
            .zip(h.densities())
            .zip(h.cdf_at_uppers())
            .map(|((b, density), cdf)| BinReport {
                lower: b.lower,
                upper: b.upper,
                count: b.count,
                density,
                cdf,
            })
            .collect();
        Self {
            source: o.source,
            series: o.series,
            instances: o.instances,
            samples: o.count,
            resets: o.resets,
            buckets_used: h.bins().iter().filter(|b| b.count > 0.0).count(),
            mean: h.mean(),
            std_dev: h.std_dev(),
            open_share: h.open_share(),
            quantiles: REPORTED_QUANTILES
                .iter()
                .filter_map(|p| h.quantile(*p))
                .collect(),
            fits,
            accuracy,
            bins,
            notes: o.notes,
            histogram: h,
        }
    }
}

/// `x` with `digits` significant digits, switching to exponent form for very small or large.
pub(crate) fn sig(x: f64, digits: usize) -> String {
    if x == 0.0 {
        return "0".into();
    }
    if !x.is_finite() {
        return x.to_string();
    }
    let mag = x.abs().log10().floor() as i32;
    if !(-4..7).contains(&mag) {
        return format!("{:.*e}", digits.saturating_sub(1), x);
    }
    let decimals = (digits as i32 - 1 - mag).max(0) as usize;
    format!("{x:.decimals$}")
}

/// A distribution's spec with `digits` significant digits per parameter (mixtures in full).
pub(crate) fn short_spec(d: &Distribution, digits: usize) -> String {
    let params = d.params();
    if params.is_empty() {
        return d.to_string();
    }
    let inner = params
        .iter()
        .map(|(k, v)| format!("{k}={}", sig(*v, digits)))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{}({inner})", d.family())
}

fn pct(x: f64) -> String {
    format!("{:+.2}%", 100.0 * x)
}

fn p_value(p: f64) -> String {
    if p < 1e-4 {
        "<0.0001".into()
    } else {
        format!("{p:.4}")
    }
}

fn params_text(fit: &super::fit::Fit) -> String {
    fit.params
        .iter()
        .map(|p| match p.std_error {
            Some(se) => format!("{}={} ± {}", p.name, sig(p.value, 5), sig(se, 2)),
            None => format!("{}={} (no SE)", p.name, sig(p.value, 5)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn param_errors_text(a: &Accuracy) -> String {
    if a.params.is_empty() {
        return "—".into();
    }
    a.params
        .iter()
        .map(|p| match p.relative_error {
            Some(r) => format!("{} {}", p.name, pct(r)),
            None => format!("{} {:+}", p.name, sig(p.estimate - p.truth, 3)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match &self.instance {
            Some(i) => format!("instance \"{i}\""),
            None => format!(
                "summed over {} instance(s): {}",
                self.instances.len(),
                self.instances.join(", ")
            ),
        };
        writeln!(
            f,
            "Prometheus {}, job \"{}\", {who}",
            self.prometheus, self.job
        )?;
        let length = std::time::Duration::from_secs(self.window.seconds.round().max(0.0) as u64);
        writeln!(
            f,
            "window     {} to {} ({})",
            self.window.start,
            self.window.end,
            humantime::format_duration(length)
        )?;
        writeln!(f, "truth      {}", self.truth.origin)?;
        for m in &self.metrics {
            writeln!(f)?;
            write_metric(f, m, self.show_buckets)?;
        }
        if let Some(p) = &self.plot {
            writeln!(f, "\npicture    {p}")?;
        }
        Ok(())
    }
}

/// One metric: the leading recovery's summary, fits and accuracy, the sources compared, the
/// notes and, when asked, every bucket.
fn write_metric(f: &mut fmt::Formatter<'_>, m: &MetricReport, buckets: bool) -> fmt::Result {
    let Some(r) = m.recoveries.first() else {
        return Ok(());
    };
    let unit = if m.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", m.unit)
    };
    writeln!(
        f,
        "== {} ({} histogram {}) ==",
        m.metric.name(),
        r.source.word(),
        r.series
    )?;
    write_summary(f, r, &unit)?;
    write_fits(f, r)?;
    match (&m.truth, &r.accuracy) {
        (Some(t), Some(a)) => write_accuracy(f, r, t, a, &unit)?,
        _ => writeln!(f, "truth      unknown: no distances or parameter errors")?,
    }
    if m.recoveries.len() > 1 {
        write_sources_compared(f, &m.recoveries)?;
    }
    for n in m.notes.iter().chain(&r.notes) {
        writeln!(f, "note       {n}")?;
    }
    if buckets {
        write_buckets(f, r)?;
    }
    Ok(())
}

/// Samples, mean, standard deviation and quantiles of one recovery.
fn write_summary(f: &mut fmt::Formatter<'_>, r: &Recovery, unit: &str) -> fmt::Result {
    let resets = match r.resets {
        0 => "no counter resets".to_string(),
        n => format!("{n} counter reset(s) added up"),
    };
    writeln!(
        f,
        "samples    {} in {} buckets ({resets})",
        r.samples, r.buckets_used
    )?;
    writeln!(
        f,
        "mean       {}{unit}   exact, from _sum / _count",
        sig(r.mean, 6)
    )?;
    let open = if r.open_share > 0.0 {
        format!(
            "; {:.2}% in open buckets, placed at their edge",
            100.0 * r.open_share
        )
    } else {
        String::new()
    };
    writeln!(
        f,
        "std dev    {}{unit}   from the buckets, Sheppard-corrected{open}",
        sig(r.std_dev, 5)
    )?;
    let mut qs = String::new();
    for q in &r.quantiles {
        let bound = if q.open { "≥" } else { "" };
        let _ = write!(qs, "p{} {bound}{}  ", (q.p * 100.0).round(), sig(q.x, 4));
    }
    writeln!(f, "quantiles  {}", qs.trim_end())
}

/// The table of fitted families, those not fitted, the one chosen and the poor fits.
fn write_fits(f: &mut fmt::Formatter<'_>, r: &Recovery) -> fmt::Result {
    writeln!(
        f,
        "fits       {:<12} {:>14} {:>10} {:>7} {:>9} {:>8}  {:<6} parameters ± standard error",
        "family", "AIC", "ΔAIC", "weight", "G-test p", "KS data", "fit"
    )?;
    for fit in &r.fits.fits {
        writeln!(
            f,
            "           {:<12} {:>14.1} {:>10.1} {:>7.3} {:>9} {:>8.4}  {:<6} {}",
            fit.family.name(),
            fit.aic,
            fit.delta_aic,
            fit.akaike_weight,
            fit.g_test
                .as_ref()
                .map_or("—".into(), |g| p_value(g.p_value)),
            fit.ks_to_data,
            fit.verdict.word(),
            params_text(fit)
        )?;
    }
    for s in &r.fits.skipped {
        writeln!(f, "not fitted {}: {}", s.family.name(), s.reason)?;
    }
    match r.fits.chosen() {
        Some(c) => writeln!(
            f,
            "chosen     {} (lowest AIC, Akaike weight {:.3}; fit {})",
            short_spec(&c.dist, 6),
            c.akaike_weight,
            c.verdict.word()
        )?,
        None => writeln!(f, "chosen     none: no family could be fitted")?,
    }
    let poor: Vec<&str> = r
        .fits
        .fits
        .iter()
        .filter(|x| x.verdict == Verdict::Poor)
        .map(|x| x.family.name())
        .collect();
    if !poor.is_empty() {
        writeln!(f, "fit poorly {}", poor.join(", "))?;
    }
    Ok(())
}

/// How far the recovery `r` is from the truth `t`: distances, moments, family, parameters.
fn write_accuracy(
    f: &mut fmt::Formatter<'_>,
    r: &Recovery,
    t: &Distribution,
    a: &Accuracy,
    unit: &str,
) -> fmt::Result {
    writeln!(f, "truth      {t}")?;
    writeln!(
        f,
        "  KS       {} recovered CDF, {} at bucket edges{}",
        sig(a.ks, 3),
        sig(a.ks_at_edges, 3),
        a.fit_ks
            .map_or(String::new(), |k| format!(", {} fitted family", sig(k, 3)))
    )?;
    writeln!(
        f,
        "  W1       {}{unit} ({:.2}% of the true standard deviation)",
        sig(a.wasserstein, 3),
        100.0 * a.wasserstein_per_sd
    )?;
    writeln!(
        f,
        "  moments  mean {}, std dev {}",
        pct(a.mean_error),
        pct(a.std_dev_error)
    )?;
    match a.family_found {
        Some(true) => writeln!(f, "  family   found")?,
        Some(false) => writeln!(
            f,
            "  family   NOT found: the truth is {}, AIC chose {}",
            t.family(),
            r.fits.chosen().map_or("nothing", |c| c.family.name())
        )?,
        None => {}
    }
    for p in &a.params {
        writeln!(
            f,
            "  {:<8} {} vs {}: {}{}",
            p.name,
            sig(p.estimate, 6),
            p.truth,
            p.relative_error.map_or("(true value 0)".into(), pct),
            p.z.map_or(String::new(), |z| format!(" ({z:+.1} standard errors)"))
        )?;
    }
    if let Some(n) = &a.note {
        writeln!(f, "  note     {n}")?;
    }
    Ok(())
}

/// One row per source (native, classic) of the same window, side by side.
fn write_sources_compared(f: &mut fmt::Formatter<'_>, recoveries: &[Recovery]) -> fmt::Result {
    writeln!(f, "classic vs native (same window, same observations):")?;
    writeln!(
        f,
        "  {:<8} {:>8} {:>8} {:>9} {:>9} {:>9}  {:<12} parameter errors / estimates",
        "source", "buckets", "samples", "KS", "KS edges", "W1/sd", "family"
    )?;
    for x in recoveries {
        let family = x.fits.chosen().map_or("—", |c| c.family.name());
        match &x.accuracy {
            Some(a) => writeln!(
                f,
                "  {:<8} {:>8} {:>8} {:>9} {:>9} {:>9}  {:<12} {}",
                x.source.word(),
                x.buckets_used,
                x.samples,
                sig(a.ks, 3),
                sig(a.ks_at_edges, 3),
                sig(a.wasserstein_per_sd, 3),
                family,
                param_errors_text(a)
            )?,
            None => writeln!(
                f,
                "  {:<8} {:>8} {:>8} {:>9} {:>9} {:>9}  {:<12} {}",
                x.source.word(),
                x.buckets_used,
                x.samples,
                "—",
                "—",
                "—",
                family,
                x.fits.chosen().map_or("—".into(), params_text)
            )?,
        }
    }
    Ok(())
}

/// Every bucket with its count, density and CDF.
fn write_buckets(f: &mut fmt::Formatter<'_>, r: &Recovery) -> fmt::Result {
    writeln!(
        f,
        "buckets    {:>14} {:>14} {:>10} {:>12} {:>8}",
        "lower", "upper", "count", "density", "CDF"
    )?;
    for b in &r.bins {
        writeln!(
            f,
            "           {:>14} {:>14} {:>10} {:>12} {:>8.5}",
            sig(b.lower, 6),
            sig(b.upper, 6),
            b.count,
            b.density.map_or("—".into(), |d| sig(d, 4)),
            b.cdf
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_short() {
        assert_eq!(sig(100.0213, 5), "100.02");
        assert_eq!(sig(0.041287, 3), "0.0413");
        assert_eq!(sig(0.0, 3), "0");
        assert_eq!(sig(1.5e-7, 2), "1.5e-7");
        assert_eq!(sig(f64::INFINITY, 3), "inf");
        assert_eq!(pct(-0.00112), "-0.11%");
        assert_eq!(p_value(1e-9), "<0.0001");
    }
}
