//! `--plot FILE.png|svg`: per metric, the recovered density, the fitted curve and the truth.
//!
//! See [`draw`]. plotters is built without its system-font and fontconfig features, so the
//! binary needs no C libraries; text is laid out with ab_glyph from a TrueType font read at run
//! time (Debian's `fonts-dejavu-core`), because some font is needed to measure labels, even
//! for SVG.

use super::binned::Histogram;
use super::report::{short_spec, sig, MetricReport, Report};
use super::Error;
use crate::distribution::Distribution;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// Where Debian and other distributions put DejaVu Sans.
const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
];

/// The font is registered once per process; plotters keeps it for the process's lifetime,
/// which is why its bytes are leaked on purpose (a few hundred kB, once).
static FONT: OnceLock<Result<(), String>> = OnceLock::new();

/// Registers the label font once; shared by every picture monlab draws.
pub(crate) fn ensure_font() -> Result<(), String> {
    FONT.get_or_init(|| {
        let path = FONT_PATHS
            .iter()
            .find(|p| Path::new(p).is_file())
            .ok_or_else(|| {
                "no DejaVuSans.ttf found to write labels with; install it with \
                 `apt-get install fonts-dejavu-core`"
                    .to_string()
            })?;
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{path} is not a usable TrueType font"))
    })
    .clone()
}

/// Writes the picture to `path`; the format follows the extension (`.png` or `.svg`).
pub(crate) fn draw(report: &Report, path: &Path) -> Result<(), Error> {
    let fail = |reason: String| Error::Plot {
        path: path.display().to_string(),
        reason: reason.replace('\n', " "),
    };
    ensure_font().map_err(fail)?;
    // plotters reports a missing folder deep inside an image-encoder error; say it plainly.
    std::fs::File::create(path).map_err(|e| fail(e.to_string()))?;
    let panels: Vec<&MetricReport> = report
        .metrics
        .iter()
        .filter(|m| !m.recoveries.is_empty())
        .collect();
    let size = (1000, 460 * panels.len().max(1) as u32);
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => draw_on(SVGBackend::new(path, size).into_drawing_area(), &panels),
        Some("png") => draw_on(BitMapBackend::new(path, size).into_drawing_area(), &panels),
        _ => Err("the file name must end in .png or .svg".into()),
    }
    .map_err(fail)
}

fn draw_on<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    panels: &[&MetricReport],
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((panels.len().max(1), 1));
    for (area, m) in areas.iter().zip(panels) {
        panel(area, m)?;
    }
    root.present().map_err(|e| e.to_string())
}

/// An axis label: 3 significant digits without trailing zeros.
fn short(x: f64) -> String {
    let s = sig(x, 3);
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Bars of at least `min_width`: neighbouring buckets inside `[lo, hi]` are merged (counts
/// added, density over the merged span), so a native bucket a millionth wide holding one
/// observation near zero cannot set the scale of the whole picture. Merging sums counts, so
/// every bar is still the exact mean density over its span.
fn display_bars(h: &Histogram, lo: f64, hi: f64, min_width: f64) -> Vec<(f64, f64, f64)> {
    let n = h.total();
    let mut out = Vec::new();
    let mut open: Option<(f64, f64, f64)> = None;
    for b in h.bins().iter().filter(|b| b.is_finite()) {
        let (l, u) = (b.lower.max(lo), b.upper.min(hi));
        if u <= l {
            continue;
        }
        // Only the part of the bucket inside the window counts, at the bucket's density.
        let count = b.count * (u - l) / (b.upper - b.lower);
        let (start, _, c) = open.unwrap_or((l, l, 0.0));
        let merged = (start, u, c + count);
        if merged.1 - merged.0 >= min_width {
            out.push((merged.0, merged.1, merged.2 / (n * (merged.1 - merged.0))));
            open = None;
        } else {
            open = Some(merged);
        }
    }
    if let Some((l, u, c)) = open {
        out.push((l, u, c / (n * (u - l).max(min_width))));
    }
    out.retain(|b| b.2 > 0.0);
    out
}

/// One metric's panel: the recovered density as bars, the fitted curve and the truth.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    m: &MetricReport,
) -> Result<(), String> {
    let r = &m.recoveries[0];
    let Some((lo, hi)) = x_range(m) else {
        return Ok(());
    };
    let bars = display_bars(&r.histogram, lo, hi, (hi - lo) / 150.0);
    let curve = |d: &Distribution| -> Vec<(f64, f64)> {
        (0..=400)
            .map(|i| {
                let x = lo + (hi - lo) * i as f64 / 400.0;
                (x, d.pdf(x))
            })
            .filter(|(_, y)| y.is_finite())
            .collect()
    };
    let fitted = r
        .fits
        .chosen()
        .map(|c| (short_spec(&c.dist, 4), curve(&c.dist)));
    let truth = m.truth.as_ref().map(|t| (short_spec(t, 4), curve(t)));
    let top = bars
        .iter()
        .map(|b| b.2)
        .chain(fitted.iter().flat_map(|(_, c)| c.iter().map(|p| p.1)))
        .chain(truth.iter().flat_map(|(_, c)| c.iter().map(|p| p.1)))
        .fold(0.0, f64::max)
        // Headroom for the legend in the upper right.
        * 1.3;
    draw_panel(area, m, (lo, hi, top), &bars, fitted, truth)
}

/// The span of x the panel shows: the recovery's 0.1% to 99.9% quantiles, widened to the
/// truth's, never below 0 for a delay, with a 3% margin. `None` without quantiles.
fn x_range(m: &MetricReport) -> Option<(f64, f64)> {
    let h = &m.recoveries[0].histogram;
    let q = |p: f64| h.quantile(p).map(|q| q.x);
    let (mut lo, mut hi) = (q(0.001)?, q(0.999)?);
    if let Some(t) = &m.truth {
        lo = lo.min(t.quantile(0.001));
        hi = hi.max(t.quantile(0.999));
    }
    if m.metric == super::Metric::Delay {
        lo = lo.max(0.0);
    }
    let pad = (hi - lo).max(1e-12) * 0.03;
    Some((lo - pad, hi + pad))
}

/// A named curve: legend text and points.
type Curve = (String, Vec<(f64, f64)>);

/// Draws the axes, the bars `(lower, upper, density)`, the curves and the legend on x from
/// `lo` to `hi` and y from 0 to `top`.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    m: &MetricReport,
    (lo, hi, top): (f64, f64, f64),
    bars: &[(f64, f64, f64)],
    fitted: Option<Curve>,
    truth: Option<Curve>,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let r = &m.recoveries[0];
    let unit = if m.unit.is_empty() {
        String::new()
    } else {
        format!(" ({})", m.unit)
    };
    let caption = format!(
        "{}: {} histogram, {} samples in {} buckets",
        m.metric.name(),
        r.source.word(),
        r.samples,
        r.buckets_used
    );
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(lo..hi, 0.0..top.max(1e-12))
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(format!("{}{unit}", m.metric.name()))
        .y_desc("density")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .x_label_formatter(&|x| short(*x))
        .y_label_formatter(&|y| short(*y))
        .draw()
        .map_err(|e| err(&e))?;
    let bar_colour = RGBColor(158, 188, 218);
    chart
        .draw_series(
            bars.iter()
                .map(|&(l, u, d)| Rectangle::new([(l, 0.0), (u, d)], bar_colour.filled())),
        )
        .map_err(|e| err(&e))?
        .label(format!(
            "recovered density ({} buckets, narrow ones merged)",
            r.source.word()
        ))
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], bar_colour.filled()));
    if let Some((name, points)) = fitted {
        let red = RGBColor(200, 30, 30);
        chart
            .draw_series(LineSeries::new(points, red.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(format!("fitted {name}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], red.stroke_width(2)));
    }
    if let Some((name, points)) = truth {
        chart
            .draw_series(DashedLineSeries::new(points, 8, 5, BLACK.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(format!("truth {name}"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| err(&e))?;
    Ok(())
}
