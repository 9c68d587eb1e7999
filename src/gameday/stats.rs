//! The statistics of a game day: percentiles, recall per incident and intensity, precision
//! per alert, sensitivity. Pure functions of the scored trials, so they are tested alone.

use crate::api::scoreboard::Row;
use crate::api::Severity;
use crate::incident::score::{self, AlertSpan, Window, GRACE};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The share of trials a level must be caught in for the sensitivity (the 90 %).
pub const SENSITIVITY_RECALL: f64 = 0.9;

/// One trial as played and scored, times in system seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trial {
    /// The incident.
    pub incident: String,
    /// The parameter the ladder varies (`share`, `seconds`, `shift`), if any.
    pub parameter: Option<String>,
    /// Its value in this trial.
    pub intensity: Option<f64>,
    /// Whether that value is the catalogue's default.
    pub default_intensity: bool,
    /// Start, system seconds from the start of the trials.
    pub start: f64,
    /// How long it ran, system seconds.
    pub duration: f64,
    /// The scoreboard row the one scoring rule gave it.
    pub row: Row,
}

/// The trials of one incident at one intensity, summed up.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Level {
    /// The incident.
    pub incident: String,
    /// The parameter varied, if any.
    pub parameter: Option<String>,
    /// Its value.
    pub intensity: Option<f64>,
    /// Whether that is the catalogue's default.
    pub default_intensity: bool,
    /// The severity it must be caught at.
    pub expected: Severity,
    /// Trials played.
    pub trials: usize,
    /// Trials caught at the expected severity (by one of the incident's signals).
    pub caught: usize,
    /// Trials in which a louder alert fired that no incident explains.
    pub over_severity: usize,
    /// `caught / trials`.
    pub recall: f64,
    /// Detection time, system seconds: median and 90th percentile over the caught trials.
    pub detection_p50: Option<f64>,
    /// See `detection_p50`.
    pub detection_p90: Option<f64>,
    /// Reset time (incident end to the resolved notification), over the caught trials.
    pub reset_p50: Option<f64>,
    /// See `reset_p50`.
    pub reset_p90: Option<f64>,
}

/// One alert over the whole game day.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AlertStat {
    /// `Name (severity)`.
    pub alert: String,
    /// Firing notifications (one per firing span), trials and baseline together.
    pub notifications: usize,
    /// Of those, in the clean baseline.
    pub baseline: usize,
    /// Of those, belonging to an incident ([`score::belongs`]).
    pub belonging: usize,
    /// `belonging / notifications`; none when it never fired.
    pub precision: Option<f64>,
    /// Trials this alert was credited with catching.
    pub credited: usize,
    /// Detection time over those trials, system seconds.
    pub detection_p50: Option<f64>,
    /// See `detection_p50`.
    pub detection_p90: Option<f64>,
}

/// The `q`-quantile (0 to 1) of `xs` by linear interpolation between the closest ranks
/// (Hyndman and Fan's type 7, what numpy and R use by default); none for no values.
pub fn percentile(xs: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    Some(v[lo] + (h - lo as f64) * (v[hi] - v[lo]))
}

/// The trials grouped by incident and intensity, sorted by incident name, then intensity.
pub fn levels(trials: &[Trial]) -> Vec<Level> {
    let mut groups: BTreeMap<(String, String), Vec<&Trial>> = BTreeMap::new();
    for t in trials {
        // Intensities are ladder constants, so their text is an exact key; padded to sort.
        let key = t.intensity.map_or(String::new(), |x| format!("{x:020.6}"));
        groups.entry((t.incident.clone(), key)).or_default().push(t);
    }
    groups
        .into_values()
        .map(|ts| {
            let caught: Vec<&Row> = ts
                .iter()
                .map(|t| &t.row)
                .filter(|r| r.alert.is_some())
                .collect();
            let detections: Vec<f64> = caught.iter().filter_map(|r| r.detection_seconds).collect();
            let resets: Vec<f64> = caught.iter().filter_map(|r| r.resolve_seconds).collect();
            let first = ts[0];
            Level {
                incident: first.incident.clone(),
                parameter: first.parameter.clone(),
                intensity: first.intensity,
                default_intensity: first.default_intensity,
                expected: first.row.expected_severity,
                trials: ts.len(),
                caught: caught.len(),
                over_severity: ts
                    .iter()
                    .filter(|t| !t.row.over_severity.is_empty())
                    .count(),
                recall: caught.len() as f64 / ts.len() as f64,
                detection_p50: percentile(&detections, 0.5),
                detection_p90: percentile(&detections, 0.9),
                reset_p50: percentile(&resets, 0.5),
                reset_p90: percentile(&resets, 0.9),
            }
        })
        .collect()
}

/// The smallest intensity of `incident` caught in at least [`SENSITIVITY_RECALL`] of its
/// trials, with every stronger level tried caught as often (so one lucky weak level does not
/// count); none when even the strongest level misses more often. Ladders grow stronger with
/// the value, as every ladder of the game day does.
pub fn sensitivity(levels: &[Level], incident: &str) -> Option<f64> {
    let mut ladder: Vec<&Level> = levels
        .iter()
        .filter(|l| l.incident == incident && l.intensity.is_some())
        .collect();
    ladder.sort_by(|a, b| b.intensity.unwrap().total_cmp(&a.intensity.unwrap()));
    ladder
        .iter()
        .take_while(|l| l.recall >= SENSITIVITY_RECALL)
        .last()
        .and_then(|l| l.intensity)
}

/// Precision and detection per alert. `trial_alerts` are the alerts seen while the trials ran
/// (`windows` are the trials' incidents, in system seconds like the alerts), `baseline` the
/// alerts of the clean baseline, `rows` the scored trials. Alerts without one of monlab's
/// severities (the Watchdog) are not notifications anyone acts on and are left out.
pub fn alerts(
    trial_alerts: &[AlertSpan],
    windows: &[Window],
    baseline: &[AlertSpan],
    rows: &[Row],
) -> Vec<AlertStat> {
    let mut out: BTreeMap<String, AlertStat> = BTreeMap::new();
    for (a, in_baseline) in trial_alerts
        .iter()
        .map(|a| (a, false))
        .chain(baseline.iter().map(|a| (a, true)))
    {
        if a.key.severity.is_none() {
            continue;
        }
        let s = entry(&mut out, a.key.to_string());
        s.notifications += 1;
        if in_baseline {
            s.baseline += 1;
        } else if score::belongs(windows, a, GRACE) {
            s.belonging += 1;
        }
    }
    finish(out, rows)
}

/// The per-alert statistics of game days measured apart, as one: their notification counts
/// add up, and the credits and detection times come again from all their `rows`.
pub fn merge_alerts<'a>(
    parts: impl IntoIterator<Item = &'a AlertStat>,
    rows: &[Row],
) -> Vec<AlertStat> {
    let mut out: BTreeMap<String, AlertStat> = BTreeMap::new();
    for a in parts {
        let s = entry(&mut out, a.alert.clone());
        s.notifications += a.notifications;
        s.baseline += a.baseline;
        s.belonging += a.belonging;
    }
    finish(out, rows)
}

fn entry(out: &mut BTreeMap<String, AlertStat>, name: String) -> &mut AlertStat {
    out.entry(name.clone()).or_insert_with(|| AlertStat {
        alert: name,
        notifications: 0,
        baseline: 0,
        belonging: 0,
        precision: None,
        credited: 0,
        detection_p50: None,
        detection_p90: None,
    })
}

/// Credits each alert with the trials of `rows` it caught, and computes precision and
/// detection percentiles from the counts in `out`.
fn finish(mut out: BTreeMap<String, AlertStat>, rows: &[Row]) -> Vec<AlertStat> {
    let mut detections: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in rows {
        if let Some(key) = &r.alert {
            let name = key.to_string();
            entry(&mut out, name.clone()).credited += 1;
            detections
                .entry(name)
                .or_default()
                .extend(r.detection_seconds);
        }
    }
    out.into_values()
        .map(|mut s| {
            s.precision =
                (s.notifications > 0).then(|| s.belonging as f64 / s.notifications as f64);
            let d = detections.get(&s.alert).map(Vec::as_slice).unwrap_or(&[]);
            s.detection_p50 = percentile(d, 0.5);
            s.detection_p90 = percentile(d, 0.9);
            s
        })
        .collect()
}

/// The sensitivity of every incident played at more than one intensity.
pub fn sensitivities(levels: &[Level]) -> BTreeMap<String, Option<f64>> {
    levels
        .iter()
        .filter(|l| levels.iter().filter(|m| m.incident == l.incident).count() > 1)
        .map(|l| (l.incident.clone(), sensitivity(levels, &l.incident)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::alerts::AlertKey;
    use crate::api::incident::Params;
    use crate::incident::Incident;

    fn key(name: &str, severity: Severity) -> AlertKey {
        AlertKey {
            name: name.into(),
            severity: Some(severity),
        }
    }

    fn trial(incident: &str, intensity: Option<f64>, detected: Option<f64>, louder: bool) -> Trial {
        Trial {
            incident: incident.into(),
            parameter: intensity.map(|_| "share".into()),
            intensity,
            default_intensity: false,
            start: 0.0,
            duration: 300.0,
            row: Row {
                incident: incident.into(),
                expected_severity: Severity::Minor,
                alert: detected.map(|_| key("MonlabSlowRequests", Severity::Minor)),
                detection_seconds: detected,
                resolve_seconds: detected.map(|d| d / 2.0),
                over_severity: if louder {
                    vec![key("MonlabHighErrorRatio", Severity::Critical)]
                } else {
                    Vec::new()
                },
                fired: Vec::new(),
            },
        }
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0], 0.9), Some(7.0));
        let xs = [50.0, 10.0, 40.0, 20.0, 30.0];
        assert_eq!(percentile(&xs, 0.5), Some(30.0));
        assert_eq!(percentile(&xs, 0.0), Some(10.0));
        assert_eq!(percentile(&xs, 1.0), Some(50.0));
        // h = 4 × 0.9 = 3.6: 40 + 0.6 × (50 − 40), as numpy.percentile gives.
        assert!((percentile(&xs, 0.9).unwrap() - 46.0).abs() < 1e-12);
        assert_eq!(percentile(&[1.0, 2.0], 0.5), Some(1.5));
        // Non-finite values are not times.
        assert_eq!(percentile(&[f64::NAN, 3.0], 0.5), Some(3.0));
    }

    #[test]
    fn levels_count_recall_over_severity_and_times_over_caught_trials() {
        let trials = [
            trial("slow-users", Some(0.01), Some(100.0), false),
            trial("slow-users", Some(0.01), Some(300.0), true),
            trial("slow-users", Some(0.01), None, false),
            trial("slow-users", Some(0.01), Some(200.0), false),
            trial("slow-users", Some(0.001), None, false),
            trial("auth-down", None, Some(60.0), false),
        ];
        let l = levels(&trials);
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].incident, "auth-down");
        assert_eq!(
            (l[1].intensity, l[1].trials, l[1].caught),
            (Some(0.001), 1, 0)
        );
        assert_eq!(l[1].detection_p50, None);
        let d = &l[2];
        assert_eq!((d.trials, d.caught, d.over_severity), (4, 3, 1));
        assert_eq!(d.recall, 0.75);
        assert_eq!(d.detection_p50, Some(200.0));
        assert!((d.detection_p90.unwrap() - 280.0).abs() < 1e-9);
        assert_eq!(d.reset_p50, Some(100.0));
    }

    #[test]
    fn sensitivity_is_the_weakest_level_caught_from_there_up() {
        let mut trials = Vec::new();
        // 10 trials per level; recall 1.0 at 0.05, 0.9 at 0.03, 0.5 at 0.01, 1.0 at 0.003.
        for (x, caught) in [(0.05, 10), (0.03, 9), (0.01, 5), (0.003, 10)] {
            for i in 0..10 {
                trials.push(trial(
                    "slow-users",
                    Some(x),
                    (i < caught).then_some(60.0),
                    false,
                ));
            }
        }
        let l = levels(&trials);
        // 0.003 alone was lucky: 0.01 below 90 % breaks the run from the top.
        assert_eq!(sensitivity(&l, "slow-users"), Some(0.03));
        assert_eq!(sensitivity(&l, "auth-down"), None);
        let weak = levels(&[trial("slow-users", Some(0.05), None, false)]);
        assert_eq!(sensitivity(&weak, "slow-users"), None);
    }

    #[test]
    fn precision_counts_notifications_that_belong_to_an_incident() {
        let params = Incident::SlowUsers
            .resolve(Params::default(), &["/random"])
            .unwrap();
        let w = Window {
            incident: Incident::SlowUsers,
            severity: Severity::Minor,
            signals: Incident::SlowUsers.signals(&params),
            start: 1000.0,
            end: 1600.0,
        };
        let span = |name: &str, sev: &str, start: f64| {
            let labels = [("alertname", name), ("severity", sev)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            AlertSpan::new(labels, start, Some(start + 100.0))
        };
        let during = [
            span("MonlabSlowRequests", "minor", 1300.0),
            // In the span but not a signal of slow-users: a false alarm.
            span("MonlabHighErrorRatio", "critical", 1400.0),
            // A signal, but long after the incident and its grace.
            span("MonlabSlowRequests", "minor", 5000.0),
            span("Watchdog", "none", 0.0),
        ];
        let baseline = [span("MonlabSlowRequests", "minor", 10.0)];
        let rows = [trial("slow-users", None, Some(300.0), false).row];
        let stats = alerts(&during, std::slice::from_ref(&w), &baseline, &rows);
        let names: Vec<&str> = stats.iter().map(|s| s.alert.as_str()).collect();
        assert_eq!(
            names,
            [
                "MonlabHighErrorRatio (critical)",
                "MonlabSlowRequests (minor)"
            ]
        );
        let slow = &stats[1];
        assert_eq!(
            (slow.notifications, slow.baseline, slow.belonging),
            (3, 1, 1)
        );
        assert!((slow.precision.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!((slow.credited, slow.detection_p50), (1, Some(300.0)));
        assert_eq!(stats[0].precision, Some(0.0));
        assert_eq!(stats[0].credited, 0);
    }
}
