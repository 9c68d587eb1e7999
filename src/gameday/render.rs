//! A game day's results as files: the JSON in the results folder, and with `--doc` the
//! generated section of the Markdown page plus its plot (detection time against intensity,
//! one panel per incident).

use super::stats::Level;
use super::{GamedayError, Results};
use crate::api::Severity;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where the generated part of the page begins and ends; the text around it is written by hand.
pub(super) const BEGIN: &str = "<!-- monlab gameday: begin generated -->";
/// See [`BEGIN`].
pub(super) const END: &str = "<!-- monlab gameday: end generated -->";

/// The issue's detection target (p90, system seconds) for each severity.
pub(super) fn target_p90(s: Severity) -> f64 {
    match s {
        Severity::Critical => 90.0,
        Severity::Major => 150.0,
        Severity::Minor => 300.0,
    }
}

/// Writes `r` as JSON into the folder `results` (and, with `doc`, the page's generated
/// section and its plot beside it); returns the JSON's path.
pub fn write(results: &Path, doc: Option<&Path>, r: &Results) -> Result<PathBuf, GamedayError> {
    let fail = |path: &Path, reason: String| GamedayError::Write {
        path: path.display().to_string(),
        reason,
    };
    std::fs::create_dir_all(results).map_err(|e| fail(results, e.to_string()))?;
    let stamp = r.started.replace(['-', ':'], "");
    // A merge starts when its first part did; its own name keeps that part's file.
    let merged = if r.parts.is_empty() { "" } else { "-merged" };
    let name = format!("detection-{stamp}{merged}");
    let text = serde_json::to_string_pretty(r).map_err(|e| fail(results, e.to_string()))?;
    let json = write_new(results, &name, &(text + "\n"))
        .map_err(|e| fail(&results.join(&name), e.to_string()))?;
    if let Some(doc) = doc {
        let plot = doc.with_extension("png");
        draw(r, &plot).map_err(|e| fail(&plot, e))?;
        let name = plot
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        let section = markdown(r, &json, &name);
        let page = std::fs::read_to_string(doc).unwrap_or_default();
        std::fs::write(doc, splice(&page, &section)).map_err(|e| fail(doc, e.to_string()))?;
    }
    Ok(json)
}

/// Writes `text` to `dir/name.json`, or to `dir/name-2.json` and so on if that exists: game
/// days started in the same second side by side never overwrite each other's results.
fn write_new(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    use std::io::Write as _;
    for n in 1.. {
        let path = match n {
            1 => dir.join(format!("{name}.json")),
            _ => dir.join(format!("{name}-{n}.json")),
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => return f.write_all(text.as_bytes()).map(|()| path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("some name is free")
}

/// `page` with its generated section replaced by `section` (appended when it has none).
pub(super) fn splice(page: &str, section: &str) -> String {
    let block = format!("{BEGIN}\n{section}{END}");
    match (page.find(BEGIN), page.find(END)) {
        (Some(b), Some(e)) if b < e => format!("{}{block}{}", &page[..b], &page[e + END.len()..]),
        _ => format!("{page}\n{block}\n"),
    }
}

fn secs(x: Option<f64>) -> String {
    x.map_or("—".into(), |s| format!("{s:.0}"))
}

fn pair(a: Option<f64>, b: Option<f64>) -> String {
    format!("{} / {}", secs(a), secs(b))
}

fn share(caught: usize, n: usize) -> String {
    if n == 0 {
        return "—".into();
    }
    format!("{caught}/{n} ({:.0} %)", 100.0 * caught as f64 / n as f64)
}

fn value(l: &Level) -> String {
    match (&l.parameter, l.intensity) {
        (Some(p), Some(x)) => format!("{p} {x}"),
        _ => "on".into(),
    }
}

/// The generated section: what ran, the tables, the plot.
pub(super) fn markdown(r: &Results, json: &Path, plot: &str) -> String {
    let mut s = String::new();
    let k = f64::from(r.speed);
    if r.parts.is_empty() {
        let _ = writeln!(
            s,
            "Measured {} with\n\n```sh\n{}\n```\n",
            r.started, r.command
        );
    } else {
        let commands: Vec<&str> = r.parts.iter().map(|p| p.command.as_str()).collect();
        let _ = writeln!(
            s,
            "Measured {} in {} game days run side by side,\n\n```sh\n{}\n```\n\nand merged with\n\n```sh\n{}\n```\n",
            r.started,
            r.parts.len(),
            commands.join("\n"),
            r.command
        );
    }
    let defaults = r.trials.iter().filter(|t| t.default_intensity).count();
    let _ = writeln!(
        s,
        "Time warp K = {}; {:.1} wall minutes{}. **Samples:** {} trials ({} at the \
         default intensities, {} on ladders) over {:.1} system-hours under a steady {} requests/s; \
         a clean baseline of {:.1} system-hours under a `{}` load peaking at {} requests/s \
         ({} requests sent). Raw results: `{}`.\n",
        r.speed,
        r.wall_seconds / 60.0,
        if r.parts.is_empty() {
            " in all"
        } else {
            " (the longest part)"
        },
        r.trials.len(),
        defaults,
        r.trials.len() - defaults,
        r.trials_seconds / 3600.0,
        r.load_rate,
        r.baseline_seconds / 3600.0,
        r.baseline_shape,
        r.baseline_peak,
        r.baseline_requests,
        json.display()
    );
    let _ = writeln!(
        s,
        "Notifications in the clean baseline: **{}**{}.\n",
        r.baseline_alerts.len(),
        if r.baseline_alerts.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                r.baseline_alerts
                    .iter()
                    .map(|(a, t)| format!("{a} at {:.0} min", t / 60.0))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    let _ = writeln!(s, "### Per incident, at the default intensity\n");
    let _ = writeln!(
        s,
        "Detection and reset in system seconds (p50 / p90 over the caught trials); the target is the issue's p90 for the severity.\n"
    );
    let _ = writeln!(
        s,
        "| incident | expected | recall | over-severity | detection p50 / p90 | target p90 | reset p50 / p90 | caught by |"
    );
    let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |");
    for l in r.levels.iter().filter(|l| l.default_intensity) {
        let by: Vec<String> = {
            let mut v: Vec<String> = r
                .trials
                .iter()
                .filter(|t| t.incident == l.incident && t.default_intensity)
                .filter_map(|t| t.row.alert.as_ref().map(|a| a.name.clone()))
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | ≤ {:.0} | {} | {} |",
            l.incident,
            l.expected,
            share(l.caught, l.trials),
            l.over_severity,
            pair(l.detection_p50, l.detection_p90),
            target_p90(l.expected),
            pair(l.reset_p50, l.reset_p90),
            if by.is_empty() {
                "—".into()
            } else {
                by.join(", ")
            }
        );
    }
    let laddered: Vec<&Level> = r
        .levels
        .iter()
        .filter(|l| r.sensitivity.contains_key(&l.incident))
        .collect();
    if !laddered.is_empty() {
        let _ = writeln!(s, "\n### Ladders: detection against intensity\n");
        let _ = writeln!(
            s,
            "| incident | intensity | expected | recall | over-severity | detection p50 / p90 | reset p50 / p90 |"
        );
        let _ = writeln!(s, "| --- | --- | --- | ---: | ---: | ---: | ---: |");
        for l in &laddered {
            let _ = writeln!(
                s,
                "| {} | {}{} | {} | {} | {} | {} | {} |",
                l.incident,
                value(l),
                if l.default_intensity {
                    " (default)"
                } else {
                    ""
                },
                l.expected,
                share(l.caught, l.trials),
                l.over_severity,
                pair(l.detection_p50, l.detection_p90),
                pair(l.reset_p50, l.reset_p90),
            );
        }
        let _ = writeln!(
            s,
            "\n**Sensitivity** (the smallest intensity caught in at least 90 % of its trials, every stronger level too):\n"
        );
        for (incident, x) in &r.sensitivity {
            let _ = writeln!(
                s,
                "- {incident}: {}",
                x.map_or("none of the levels tried".into(), |x| x.to_string())
            );
        }
    }
    let _ = writeln!(s, "\n### Per alert\n");
    let _ = writeln!(
        s,
        "A notification is one firing alert as the webhook received it; it *belongs* when it started in the span of an incident (its run plus {:.0} s) whose signal it is. Precision = belonging / all, baseline included.\n",
        crate::incident::score::GRACE
    );
    let _ = writeln!(
        s,
        "| alert | notifications | in the baseline | belonging | precision | trials credited | detection p50 / p90 |"
    );
    let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for a in &r.alerts {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            a.alert,
            a.notifications,
            a.baseline,
            a.belonging,
            a.precision.map_or("—".into(), |p| format!("{p:.2}")),
            a.credited,
            pair(a.detection_p50, a.detection_p90)
        );
    }
    let _ = writeln!(
        s,
        "\n![Detection time against intensity, one panel per incident]({plot})\n\nEach dot is a caught trial (system seconds from the incident's start to the notification); a red cross at the top is a trial missed at its expected severity; the dashed line is the target p90. At K = {k}, one wall second is {k} system seconds.\n"
    );
    s
}

/// Draws one panel per incident: detection time of each trial against its intensity.
pub(super) fn draw(r: &Results, path: &Path) -> Result<(), String> {
    crate::recover::plot::ensure_font()?;
    let mut incidents: Vec<&str> = r.levels.iter().map(|l| l.incident.as_str()).collect();
    incidents.dedup();
    let cols = 3;
    let rows = incidents.len().div_ceil(cols).max(1);
    let size = (1200, 300 * rows as u32);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((rows, cols));
    for (area, incident) in areas.iter().zip(&incidents) {
        panel(area, r, incident)?;
    }
    root.present().map_err(|e| e.to_string())
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &Results,
    incident: &str,
) -> Result<(), String> {
    let levels: Vec<&Level> = r.levels.iter().filter(|l| l.incident == incident).collect();
    let trials: Vec<_> = r.trials.iter().filter(|t| t.incident == incident).collect();
    let target = levels
        .iter()
        .map(|l| target_p90(l.expected))
        .fold(0.0, f64::max);
    let top = trials
        .iter()
        .filter_map(|t| t.row.detection_seconds)
        .fold(target, f64::max)
        * 1.2;
    // Levels sit at 0, 1, 2, … and are labelled with their value.
    let at = |x: Option<f64>| {
        levels
            .iter()
            .position(|l| l.intensity.map(f64::to_bits) == x.map(f64::to_bits))
            .unwrap_or(0) as f64
    };
    let labels: Vec<String> = levels.iter().map(|l| value(l)).collect();
    let n = levels.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(incident, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(44)
        .build_cartesian_2d(-0.5..(n - 0.5), 0.0..top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_labels(levels.len().max(1))
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 0.01 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("detection, system s")
        .disable_x_mesh()
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(DashedLineSeries::new(
            [(-0.5, target), (n - 0.5, target)],
            6,
            4,
            BLACK.stroke_width(1),
        ))
        .map_err(|e| e.to_string())?;
    // A small spread sideways, by trial order, so equal times do not hide each other.
    let spread = |i: usize| (i % 7) as f64 * 0.04 - 0.12;
    chart
        .draw_series(trials.iter().enumerate().filter_map(|(i, t)| {
            t.row
                .detection_seconds
                .map(|d| Circle::new((at(t.intensity) + spread(i), d), 4, BLUE.filled()))
        }))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(
            trials
                .iter()
                .enumerate()
                .filter(|(_, t)| t.row.alert.is_none())
                .map(|(i, t)| {
                    Cross::new(
                        (at(t.intensity) + spread(i), top * 0.93),
                        5,
                        RED.stroke_width(2),
                    )
                }),
        )
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_started_in_the_same_second_keep_both_files() {
        let dir = std::env::temp_dir().join(format!("monlab-write-new-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = write_new(&dir, "detection-x", "a").unwrap();
        let b = write_new(&dir, "detection-x", "b").unwrap();
        assert_eq!(a.file_name().unwrap(), "detection-x.json");
        assert_eq!(b.file_name().unwrap(), "detection-x-2.json");
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "a");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "b");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_generated_section_is_replaced_in_place() {
        let page = format!("# Title\nhand\n{BEGIN}\nold\n{END}\nafter\n");
        let out = splice(&page, "new\n");
        assert_eq!(out, format!("# Title\nhand\n{BEGIN}\nnew\n{END}\nafter\n"));
        assert_eq!(splice(&out, "new\n"), out);
        assert!(splice("# Title\n", "x\n").ends_with(&format!("{BEGIN}\nx\n{END}\n")));
    }
}
