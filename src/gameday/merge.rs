//! Game days measured apart, merged into one set of results: the full sample (about
//! 230 system-hours) is four hours of wall time in one run at 60×, but the stack of one game
//! day uses a fraction of a machine, so parts run side by side (or on several machines) and
//! are merged here. Every statistic is computed again from the merged trials; notification
//! counts add up (a notification belongs to an incident of its own part or to none).

use super::stats::{self, Trial};
use super::Results;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One game day merged into a [`Results`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Part {
    /// The results file it was read from.
    pub file: String,
    /// The command that produced it.
    pub command: String,
    /// Its seed.
    pub seed: u64,
    /// When it started, RFC 3339.
    pub started: String,
    /// Wall seconds it took.
    pub wall_seconds: f64,
    /// System seconds of trials it played, and of clean baseline.
    pub trials_seconds: f64,
    /// See `trials_seconds`.
    pub baseline_seconds: f64,
}

/// Why results cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A file cannot be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A file is not a game day's results.
    #[error("{path} is not the results of monlab gameday: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Two parts were measured under different conditions, so their trials are not one sample.
    #[error("{path} was measured with {what} {theirs}, an earlier part with {ours}: parts must share it")]
    Mismatch {
        /// The file.
        path: String,
        /// The condition.
        what: &'static str,
        /// Its value in that file.
        theirs: String,
        /// Its value in the first part that has it.
        ours: String,
    },
    /// The same game day given twice.
    #[error("{path} is the same game day as an earlier part (started {started}, seed {seed})")]
    Twice {
        /// The file.
        path: String,
        /// Its start.
        started: String,
        /// Its seed.
        seed: u64,
    },
    /// Fewer than two files.
    #[error("--merge needs at least two results files, got {0}")]
    TooFew(usize),
}

/// Reads a results file.
pub fn read(path: &Path) -> Result<Results, MergeError> {
    let text = std::fs::read_to_string(path).map_err(|e| MergeError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| MergeError::Parse {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// The parts of `r`: itself, or the parts it was merged from.
fn parts_of(file: &Path, r: &Results) -> Vec<Part> {
    if !r.parts.is_empty() {
        return r.parts.clone();
    }
    vec![Part {
        file: file.display().to_string(),
        command: r.command.clone(),
        seed: r.seed,
        started: r.started.clone(),
        wall_seconds: r.wall_seconds,
        trials_seconds: r.trials_seconds,
        baseline_seconds: r.baseline_seconds,
    }]
}

/// Merges game days into one: trials and baselines follow each other in the order given
/// (each part's times shifted past the earlier parts', so every time stays unique), and every
/// level, sensitivity and per-alert statistic is computed again. `command` is the merge's.
pub fn merge(inputs: &[(PathBuf, Results)], command: String) -> Result<Results, MergeError> {
    let [(_, first), ..] = inputs else {
        return Err(MergeError::TooFew(0));
    };
    if inputs.len() < 2 {
        return Err(MergeError::TooFew(inputs.len()));
    }
    // The baselines' load must be one: the first part with a baseline sets it.
    let peak = inputs
        .iter()
        .find(|(_, r)| r.baseline_seconds > 0.0)
        .map(|(_, r)| r.baseline_peak);
    let mut parts: Vec<Part> = Vec::new();
    let (mut trials, mut trial_alerts, mut baseline_alerts) = (Vec::new(), Vec::new(), Vec::new());
    let (mut trials_seconds, mut baseline_seconds) = (0.0, 0.0);
    let (mut baseline_requests, mut wall_seconds) = (0, 0.0_f64);
    let mut shapes: Vec<String> = Vec::new();
    for (path, r) in inputs {
        let file = path.display().to_string();
        let mismatch = |what, theirs: String, ours: String| MergeError::Mismatch {
            path: file.clone(),
            what,
            theirs,
            ours,
        };
        if r.speed != first.speed {
            let (t, o) = (r.speed.to_string(), first.speed.to_string());
            return Err(mismatch("--speed", t, o));
        }
        if r.load_rate != first.load_rate {
            let (t, o) = (r.load_rate.to_string(), first.load_rate.to_string());
            return Err(mismatch("--load-rate", t, o));
        }
        if let Some(peak) = peak.filter(|&p| r.baseline_seconds > 0.0 && r.baseline_peak != p) {
            let (t, o) = (r.baseline_peak.to_string(), peak.to_string());
            return Err(mismatch("--baseline-peak", t, o));
        }
        for p in parts_of(path, r) {
            if parts
                .iter()
                .any(|q| q.started == p.started && q.seed == p.seed && q.command == p.command)
            {
                return Err(MergeError::Twice {
                    path: file,
                    started: p.started,
                    seed: p.seed,
                });
            }
            parts.push(p);
        }
        trials.extend(r.trials.iter().cloned().map(|mut t: Trial| {
            t.start += trials_seconds;
            t
        }));
        trial_alerts.extend(
            r.trial_alerts
                .iter()
                .map(|(a, s, e)| (a.clone(), s + trials_seconds, e.map(|e| e + trials_seconds))),
        );
        baseline_alerts.extend(
            r.baseline_alerts
                .iter()
                .map(|(a, s)| (a.clone(), s + baseline_seconds)),
        );
        if r.baseline_seconds > 0.0 && !shapes.contains(&r.baseline_shape) {
            shapes.push(r.baseline_shape.clone());
        }
        trials_seconds += r.trials_seconds;
        baseline_seconds += r.baseline_seconds;
        baseline_requests += r.baseline_requests;
        wall_seconds = wall_seconds.max(r.wall_seconds);
    }
    let rows: Vec<_> = trials.iter().map(|t: &Trial| t.row.clone()).collect();
    let alerts = stats::merge_alerts(inputs.iter().flat_map(|(_, r)| &r.alerts), &rows);
    let levels = stats::levels(&trials);
    let sensitivity = stats::sensitivities(&levels);
    Ok(Results {
        command,
        started: parts
            .iter()
            .map(|p| p.started.clone())
            .min()
            .unwrap_or_default(),
        speed: first.speed,
        seed: first.seed,
        load_rate: first.load_rate,
        baseline_seconds,
        baseline_shape: shapes.join(", "),
        baseline_peak: peak.unwrap_or(first.baseline_peak),
        baseline_requests,
        baseline_alerts,
        trial_alerts,
        trials_seconds,
        trials,
        levels,
        alerts,
        sensitivity,
        wall_seconds,
        parts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::alerts::AlertKey;
    use crate::api::scoreboard::Row;
    use crate::api::Severity;
    use stats::AlertStat;

    fn trial(incident: &str, start: f64, detected: Option<f64>) -> Trial {
        let key = AlertKey {
            name: "MonlabAuthFailing".into(),
            severity: Some(Severity::Critical),
        };
        Trial {
            incident: incident.into(),
            parameter: None,
            intensity: None,
            default_intensity: true,
            start,
            duration: 300.0,
            row: Row {
                incident: incident.into(),
                expected_severity: Severity::Critical,
                alert: detected.map(|_| key.clone()),
                detection_seconds: detected,
                resolve_seconds: detected.map(|_| 60.0),
                over_severity: Vec::new(),
                fired: detected.map(|_| key).into_iter().collect(),
            },
        }
    }

    fn results(seed: u64, trials: Vec<Trial>, notifications: usize, baseline: usize) -> Results {
        let rows: Vec<Row> = trials.iter().map(|t| t.row.clone()).collect();
        let levels = stats::levels(&trials);
        let mut alerts = stats::merge_alerts(&[], &rows);
        if let Some(a) = alerts.first_mut() {
            a.notifications = notifications;
            a.baseline = baseline;
            a.belonging = notifications - baseline;
        }
        Results {
            command: format!("monlab gameday --seed {seed}"),
            started: format!("2026-12-06T1{seed}:00:00Z"),
            speed: 60,
            seed,
            load_rate: 20.0,
            baseline_seconds: 3600.0,
            baseline_shape: "diurnal:1h".into(),
            baseline_peak: 25.0,
            baseline_requests: 1000,
            baseline_alerts: vec![("MonlabAuthFailing (critical)".into(), 100.0)],
            trial_alerts: vec![("MonlabAuthFailing (critical)".into(), 10.0, Some(400.0))],
            trials_seconds: 1000.0,
            sensitivity: stats::sensitivities(&levels),
            trials,
            levels,
            alerts,
            wall_seconds: 60.0 * seed as f64,
            parts: Vec::new(),
        }
    }

    fn two() -> Vec<(PathBuf, Results)> {
        vec![
            (
                "a.json".into(),
                results(1, vec![trial("auth-down", 0.0, Some(40.0))], 2, 1),
            ),
            (
                "b.json".into(),
                results(
                    2,
                    vec![
                        trial("auth-down", 0.0, Some(80.0)),
                        trial("auth-down", 500.0, None),
                    ],
                    1,
                    0,
                ),
            ),
        ]
    }

    #[test]
    fn parts_follow_each_other_and_every_statistic_is_computed_again() {
        let m = merge(&two(), "monlab gameday --merge a.json b.json".into()).unwrap();
        assert_eq!(m.parts.len(), 2);
        assert_eq!((m.parts[0].file.as_str(), m.parts[1].seed), ("a.json", 2));
        assert_eq!(m.started, "2026-12-06T11:00:00Z");
        // The second part's times come after the first's.
        let starts: Vec<f64> = m.trials.iter().map(|t| t.start).collect();
        assert_eq!(starts, [0.0, 1000.0, 1500.0]);
        assert_eq!(m.trial_alerts[1].1, 1010.0);
        assert_eq!(m.baseline_alerts[1].1, 3700.0);
        assert_eq!((m.trials_seconds, m.baseline_seconds), (2000.0, 7200.0));
        assert_eq!(m.baseline_requests, 2000);
        // Side by side: the longest part's wall time.
        assert_eq!(m.wall_seconds, 120.0);
        let l = &m.levels[0];
        assert_eq!((l.trials, l.caught), (3, 2));
        assert_eq!(l.detection_p50, Some(60.0));
        let a: &AlertStat = &m.alerts[0];
        assert_eq!((a.notifications, a.baseline, a.belonging), (3, 1, 2));
        assert!((a.precision.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!((a.credited, a.detection_p90), (2, Some(76.0)));
    }

    #[test]
    fn merged_results_merge_again_by_their_parts() {
        let ab = merge(&two(), String::new()).unwrap();
        let c = results(3, vec![trial("auth-down", 0.0, Some(50.0))], 1, 0);
        let abc = merge(
            &[("ab.json".into(), ab), ("c.json".into(), c)],
            String::new(),
        )
        .unwrap();
        let files: Vec<&str> = abc.parts.iter().map(|p| p.file.as_str()).collect();
        assert_eq!(files, ["a.json", "b.json", "c.json"]);
        assert_eq!(abc.levels[0].trials, 4);
        assert_eq!(abc.alerts[0].notifications, 4);
    }

    #[test]
    fn parts_that_are_not_one_sample_are_refused_by_name() {
        let mut p = two();
        p[1].1.speed = 15;
        let e = merge(&p, String::new()).unwrap_err().to_string();
        assert!(e.contains("b.json") && e.contains("--speed 15"), "{e}");
        let mut p = two();
        p[1].1.baseline_peak = 40.0;
        let e = merge(&p, String::new()).unwrap_err().to_string();
        assert!(e.contains("--baseline-peak 40"), "{e}");
        // A part without a baseline does not set the baseline's load.
        let mut p = two();
        p[0].1.baseline_seconds = 0.0;
        p[0].1.baseline_peak = 10.0;
        assert!(merge(&p, String::new()).is_ok());
        let mut p = two();
        p[1].1 = p[0].1.clone();
        let e = merge(&p, String::new()).unwrap_err().to_string();
        assert!(e.contains("same game day"), "{e}");
        let e = merge(&p[..1], String::new()).unwrap_err().to_string();
        assert!(e.contains("at least two"), "{e}");
    }
}
