//! Writes a [`Review`] as `report.md`, `report.html` and the PNG plots they show. Every plot
//! shades the incidents (red, named at the top) and, on the rate charts, the warm-up after the
//! service started (grey), when a 5-minute rate covers less than 5 minutes of traffic.

use super::{Error, Line, Review};
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

use crate::api::rfc3339;

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.3}%", x * 100.0)
    } else {
        "—".into()
    }
}

fn secs(x: Option<f64>) -> String {
    x.map_or("—".into(), |s| format!("{s:.0} s"))
}

fn ms(x: Option<f64>) -> String {
    x.map_or("—".into(), |s| format!("{:.0} ms", s * 1000.0))
}

/// Pixels of every chart.
const SIZE: (u32, u32) = (960, 360);

/// One chart: file name, title, y-axis label, lines.
struct Plot<'a> {
    file: &'static str,
    title: &'static str,
    y_label: &'static str,
    lines: &'a [Line],
}

/// The plots. All of them read windowed rates (5 minutes, or the p99 over 5 minutes).
fn plots(r: &Review) -> Vec<Plot<'_>> {
    let plot = |file, title, y_label, lines| Plot {
        file,
        title,
        y_label,
        lines,
    };
    vec![
        plot(
            "traffic.png",
            "Request rate by route (5m rate)",
            "requests/s",
            &r.traffic,
        ),
        plot("latency-p99.png", "p99 latency by route", "seconds", &r.p99),
        plot(
            "ml-accuracy.png",
            "Model accuracy from feedback, by cohort (1h)",
            "accuracy",
            &r.ml.accuracy,
        ),
        plot(
            "fallback-share.png",
            "Share of predictions from the fallback (5m)",
            "share",
            &r.ml.fallback,
        ),
    ]
}

/// The warm-up after the service started, in minutes since the period's start, if any of it
/// falls in the period. The rates' window is system time: K times shorter under a time warp.
fn warm_up(r: &Review) -> Option<(f64, f64)> {
    let t = r.service_start?;
    let window = super::RATE_WINDOW / f64::from(r.speed.max(1));
    let (a, b) = (t.max(r.from), (t + window).min(r.to));
    (b > a).then(|| ((a - r.from) / 60.0, (b - r.from) / 60.0))
}

/// Draws one line chart with the incidents and the warm-up shaded.
fn draw(
    root: DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    p: &Plot<'_>,
    r: &Review,
) -> Result<(), String> {
    let Plot {
        title,
        y_label,
        lines,
        ..
    } = *p;
    crate::recover::plot::ensure_font()?;
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let y_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let (x0, x1) = (0.0, r.to - r.from);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0 / 60.0..x1 / 60.0, 0.0..y_max)
        .map_err(|e| e.to_string())?;
    // Bold lines at the labelled values only: a fine grid hides the lines that matter.
    chart
        .configure_mesh()
        .x_labels(8)
        .y_labels(6)
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.08))
        .x_desc(format!("minutes since {}", rfc3339(r.from)))
        .y_desc(y_label)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| e.to_string())?;
    let band =
        |a: f64, b: f64, color: RGBAColor| Rectangle::new([(a, 0.0), (b, y_max)], color.filled());
    let minutes = |t: f64| ((t - r.from) / 60.0).clamp(x0 / 60.0, x1 / 60.0);
    for i in &r.incidents {
        let (a, b) = (minutes(i.start), minutes(i.end));
        chart
            .draw_series([band(a, b, RED.mix(0.12))])
            .map_err(|e| e.to_string())?;
        chart
            .draw_series([Text::new(
                i.incident.clone(),
                (a, y_max),
                ("sans-serif", 12).into_font().color(&RED.mix(0.8)),
            )])
            .map_err(|e| e.to_string())?;
    }
    if let Some((a, b)) = warm_up(r) {
        chart
            .draw_series([band(a, b, BLACK.mix(0.08))])
            .map_err(|e| e.to_string())?
            .label("warming up: 5m rates partial")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 16, y + 5)], BLACK.mix(0.15).filled())
            });
    }
    for (i, l) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                l.points
                    .iter()
                    .filter(|p| p.1.is_finite())
                    .map(|(t, v)| ((t - r.from) / 60.0, *v)),
                color.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(l.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    if !lines.is_empty() || warm_up(r).is_some() {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

/// The review as Markdown (the HTML is built from the same text).
pub(crate) fn markdown(r: &Review) -> String {
    let mut m = String::new();
    period(&mut m, r);
    slos(&mut m, r);
    incidents(&mut m, r);
    stray_alerts(&mut m, r);
    routes(&mut m, r);
    ml_quality(&mut m, r);
    m
}

/// The title, the period read and, under a time warp, which durations are system seconds.
fn period(m: &mut String, r: &Review) {
    let _ = writeln!(m, "# monlab performance review\n");
    let _ = writeln!(
        m,
        "Period: {} to {} ({:.0} minutes), job `{}`, read from {} (one point every {:.0} s).\n",
        rfc3339(r.from),
        rfc3339(r.to),
        (r.to - r.from) / 60.0,
        r.job,
        r.store,
        r.step
    );
    if r.speed > 1 {
        let _ = writeln!(
            m,
            "The system ran at time warp {k}× (one wall second is {k} system seconds): \
             detection, resolve and alert durations below are system seconds; the period, the \
             charts' time axes and request rates are the wall clock's.\n",
            k = r.speed
        );
    }
}

/// The SLO table and what the error budget means.
fn slos(m: &mut String, r: &Review) {
    let _ = writeln!(m, "## Service level objectives\n");
    let _ = writeln!(
        m,
        "| SLO | objective | requests | missed | attained | error budget left |"
    );
    let _ = writeln!(m, "| --- | --- | ---: | ---: | ---: | ---: |");
    for s in &r.slos {
        let _ = writeln!(
            m,
            "| {} | {} of {} | {:.0} | {:.0} | {} | {} |",
            s.name,
            pct(s.objective),
            s.objective_text,
            s.total,
            s.bad,
            pct(s.attainment),
            pct(s.budget_left)
        );
    }
    let _ = writeln!(
        m,
        "\nThe error budget is the share of requests the objective allows to miss over this \
         period; a negative budget left means the period broke its objective.\n"
    );
}

/// The incidents, each with the alert that caught it, and the scoring rule.
fn incidents(m: &mut String, r: &Review) {
    let _ = writeln!(m, "## Incidents\n");
    if r.incidents.is_empty() {
        let _ = writeln!(m, "No incident was in progress during the period.\n");
    } else {
        let _ = writeln!(
            m,
            "| incident | from | to | expected | caught by | detected | resolved | higher severity |"
        );
        let _ = writeln!(m, "| --- | --- | --- | --- | --- | ---: | ---: | --- |");
        for i in &r.incidents {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                i.incident,
                rfc3339(i.start),
                if i.ongoing {
                    "still running".to_string()
                } else {
                    rfc3339(i.end)
                },
                i.expected_severity,
                i.alert
                    .as_ref()
                    .map_or("**missed**".into(), ToString::to_string),
                secs(i.detection_seconds),
                secs(i.resolve_seconds),
                if i.over_severity.is_empty() {
                    "none".to_string()
                } else {
                    i.over_severity
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
        }
        let _ = writeln!(
            m,
            "\nAn incident is caught by the first alert of its expected severity that is one of \
             its signals and starts while it runs or up to {:.0} s after it ends. Start, end \
             and expected severity are what the service recorded; detection and resolve times \
             run to when Prometheus started and stopped firing the alert (a page reaches people \
             after Alertmanager's grouping wait on top).\n",
            crate::incident::score::GRACE
        );
    }
}

/// The alerts that fired outside any incident, if any.
fn stray_alerts(m: &mut String, r: &Review) {
    if !r.stray_alerts.is_empty() {
        let _ = writeln!(m, "Alerts that fired outside any incident:\n");
        for a in &r.stray_alerts {
            let _ = writeln!(
                m,
                "- {} at {}, for {:.0} s",
                a.alert,
                rfc3339(a.start),
                a.seconds
            );
        }
        let _ = writeln!(m);
    }
}

/// Traffic and latency per route, the warm-up, and the two charts.
fn routes(m: &mut String, r: &Review) {
    let _ = writeln!(m, "## Traffic and latency by route\n");
    let _ = writeln!(
        m,
        "| route | requests | mean rate | peak rate (5m) | median p99 | worst p99 |"
    );
    let _ = writeln!(m, "| --- | ---: | ---: | ---: | ---: | ---: |");
    for x in &r.routes {
        let _ = writeln!(
            m,
            "| `{}` | {:.0} | {:.2}/s | {:.2}/s | {} | {} |",
            x.route,
            x.requests,
            x.mean_rate,
            x.peak_rate,
            ms(x.median_p99),
            ms(x.worst_p99)
        );
    }
    if let Some(t) = r.service_start {
        let _ = writeln!(
            m,
            "\nThe service started at {}: mean rates count from then, and 5-minute rates (peak \
             rate, the charts) cover less than 5 minutes of traffic until {} (shaded grey).",
            rfc3339(t),
            rfc3339(t + super::RATE_WINDOW)
        );
    }
    let _ = writeln!(
        m,
        "\nIncidents are shaded red on the charts.\n\n![request rate](traffic.png)\n\n![p99 latency](latency-p99.png)\n"
    );
}

/// Model accuracy and the fallback share, and their charts.
fn ml_quality(m: &mut String, r: &Review) {
    let _ = writeln!(m, "## ML quality\n");
    let _ = writeln!(
        m,
        "Model accuracy from feedback over 1 hour, on the holdout (approved whatever the model \
         decided, so unbiased): mean {}, lowest {}. On the approved-only labels: mean {} (biased: \
         a declined applicant never gets an outcome). Share of predictions answered by the \
         fallback rules: mean {}.\n",
        r.ml.mean_accuracy.map_or("no holdout labels".into(), pct),
        r.ml.worst_accuracy.map_or("—".into(), pct),
        r.ml.mean_approved_only_accuracy
            .map_or("no feedback".into(), pct),
        r.ml.mean_fallback_share
            .map_or("no predictions".into(), pct)
    );
    let _ = writeln!(
        m,
        "![model accuracy](ml-accuracy.png)\n\n![fallback share](fallback-share.png)"
    );
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A small HTML page from the Markdown: headings, paragraphs, tables, images.
pub(crate) fn html(md: &str) -> String {
    let mut h = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>monlab performance review</title>\
         <style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}\
         table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}\
         th{background:#f3f3f3}img{max-width:100%}code{background:#f3f3f3}</style></head><body>\n",
    );
    let mut in_table = false;
    for line in md.lines() {
        let line = line.trim_end();
        if line.starts_with('|') {
            if line.starts_with("| ---") {
                continue;
            }
            let cells: Vec<String> = line
                .trim_matches('|')
                .split(" | ")
                .map(|c| inline(c.trim()))
                .collect();
            if !in_table {
                h.push_str("<table><tr>");
                for c in &cells {
                    let _ = write!(h, "<th>{c}</th>");
                }
                h.push_str("</tr>\n");
                in_table = true;
            } else {
                h.push_str("<tr>");
                for c in &cells {
                    let _ = write!(h, "<td>{c}</td>");
                }
                h.push_str("</tr>\n");
            }
            continue;
        }
        if in_table {
            h.push_str("</table>\n");
            in_table = false;
        }
        if let Some(t) = line.strip_prefix("## ") {
            let _ = writeln!(h, "<h2>{}</h2>", escape(t));
        } else if let Some(t) = line.strip_prefix("# ") {
            let _ = writeln!(h, "<h1>{}</h1>", escape(t));
        } else if let Some(rest) = line.strip_prefix("![") {
            if let Some((alt, src)) = rest.split_once("](") {
                let _ = writeln!(
                    h,
                    "<p><img alt=\"{}\" src=\"{}\"></p>",
                    escape(alt),
                    escape(src.trim_end_matches(')'))
                );
            }
        } else if let Some(t) = line.strip_prefix("- ") {
            let _ = writeln!(h, "<ul><li>{}</li></ul>", inline(t));
        } else if !line.is_empty() {
            let _ = writeln!(h, "<p>{}</p>", inline(line));
        }
    }
    if in_table {
        h.push_str("</table>\n");
    }
    h.push_str("</body></html>\n");
    h
}

/// `code` and **bold** inside a line.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            for (j, p) in part.split("**").enumerate() {
                if j % 2 == 1 {
                    let _ = write!(out, "<strong>{p}</strong>");
                } else {
                    out.push_str(p);
                }
            }
        }
    }
    out
}

/// Writes report.md, report.html and the plots into `out`.
pub(crate) fn write(r: &Review, out: &Path) -> Result<Vec<std::path::PathBuf>, Error> {
    let fail = |path: &Path, reason: String| Error::Write {
        path: path.display().to_string(),
        reason,
    };
    std::fs::create_dir_all(out).map_err(|e| fail(out, e.to_string()))?;
    let mut written = Vec::new();
    for p in plots(r) {
        let path = out.join(p.file);
        let root = BitMapBackend::new(&path, SIZE).into_drawing_area();
        draw(root, &p, r).map_err(|e| fail(&path, e))?;
        written.push(path);
    }
    let md = markdown(r);
    for (file, text) in [("report.md", md.clone()), ("report.html", html(&md))] {
        let path = out.join(file);
        std::fs::write(&path, text).map_err(|e| fail(&path, e.to_string()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review() -> Review {
        let flat = |v: f64| Line {
            name: "/random".into(),
            points: (0..=60).map(|m| (f64::from(m) * 60.0, v)).collect(),
        };
        Review {
            store: "http://127.0.0.1:9090".into(),
            job: "monlab".into(),
            from: 0.0,
            to: 3600.0,
            step: 12.0,
            speed: 1,
            service_start: Some(600.0),
            slos: Vec::new(),
            incidents: vec![super::super::IncidentRow {
                incident: "auth-down".into(),
                start: 1800.0,
                end: 2400.0,
                ongoing: false,
                expected_severity: crate::api::Severity::Critical,
                alert: None,
                detection_seconds: None,
                resolve_seconds: None,
                over_severity: Vec::new(),
            }],
            stray_alerts: Vec::new(),
            routes: Vec::new(),
            traffic: vec![flat(10.0)],
            p99: Vec::new(),
            ml: super::super::MlQuality {
                mean_accuracy: None,
                worst_accuracy: None,
                mean_approved_only_accuracy: None,
                mean_fallback_share: None,
                accuracy: Vec::new(),
                fallback: Vec::new(),
            },
        }
    }

    #[test]
    fn the_warm_up_is_five_system_minutes_at_any_speed() {
        let mut r = review();
        // Started 10 minutes into the period: 5 minutes of partial rates at K = 1 ...
        assert_eq!(warm_up(&r), Some((10.0, 15.0)));
        // ... and 5 wall seconds at K = 60, where 5 system minutes pass in 5 s.
        r.speed = 60;
        let (a, b) = warm_up(&r).unwrap();
        assert_eq!(a, 10.0);
        assert!((b - (10.0 + 5.0 / 60.0)).abs() < 1e-9, "{b}");
    }

    #[test]
    fn charts_shade_the_warm_up_and_the_incidents() {
        let r = review();
        let mut buf = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
        let traffic = plots(&r).into_iter().next().unwrap();
        draw(
            BitMapBackend::with_buffer(&mut buf, SIZE).into_drawing_area(),
            &traffic,
            &r,
        )
        .unwrap();
        // The plot spans x from 80 px (margin and y labels) to 950 px over 60 minutes.
        let pixel = |minute: f64| {
            let x = (80.0 + 870.0 * minute / 60.0) as usize;
            let at = (200 * SIZE.0 as usize + x) * 3;
            (buf[at], buf[at + 1], buf[at + 2])
        };
        let (r_, g, b) = pixel(12.0);
        assert!(
            r_ == g && g == b && r_ < 250,
            "warm-up at 12 min: {:?}",
            (r_, g, b)
        );
        let (r_, g, b) = pixel(35.0);
        assert!(
            r_ > 250 && g < 240 && b < 240,
            "incident at 35 min: {:?}",
            (r_, g, b)
        );
        assert_eq!(pixel(52.0), (255, 255, 255), "nothing at 52 min");
        let md = markdown(&r);
        assert!(
            md.contains("The service started at 1970-01-01T00:10:00Z"),
            "{md}"
        );
    }

    #[test]
    fn html_keeps_tables_images_and_code() {
        let h = html("# T\n\n| a | b |\n| --- | --- |\n| `x` | **y** |\n\n![p](p.png)\n");
        assert!(h.contains("<h1>T</h1>"));
        assert!(h.contains("<th>a</th><th>b</th>"));
        assert!(h.contains("<td><code>x</code></td><td><strong>y</strong></td>"));
        assert!(h.contains("<img alt=\"p\" src=\"p.png\">"));
    }
}
