//! The one scoring rule: which alert caught which incident, how fast, and what fired louder.
//! The scenario scoreboard (from the notifications monlab's webhook received), `monlab report`
//! (from Prometheus's `ALERTS`) and the lab (which shows the stored scoreboard) all score with
//! [`score`].
//!
//! An incident is **caught** by the first alert that
//! - starts while the incident runs or within [`GRACE`] after it ends (plus the incident's
//!   aftermath: concept drift's labels arrive late, [`Incident::aftermath`]),
//! - is one of the incident's signals ([`super::catalog::Incident::signals`]), and
//! - has the severity the incident's parameters imply.
//!
//! Detection time runs from the incident's real start (recorded by the service) to that
//! alert's start; resolve time from the incident's end to the first end of that alert after
//! it. **Over-severity** alerts are louder than expected, start in the same span, and are not
//! explained by another incident (a signal of another incident whose span holds their start).

use super::catalog::{Incident, Signal};
use crate::api::alerts::AlertKey;
use crate::api::incident::IncidentState;
use crate::api::scoreboard::Row;
use crate::api::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long after an incident ends an alert may still start and count as raised by it: the
/// paging rules' `for` (1 minute) may run out, and Alertmanager's group wait (up to 1 minute
/// for minor alerts) pass, after a short incident has ended.
pub const GRACE: f64 = 120.0;

/// One incident as it ran: when, at which severity it must be caught, and its signals.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The incident.
    pub incident: Incident,
    /// The severity its parameters imply.
    pub severity: Severity,
    /// The alerts that may be credited with catching it.
    pub signals: Vec<Signal>,
    /// Real start, Unix seconds.
    pub start: f64,
    /// End, Unix seconds.
    pub end: f64,
}

impl Window {
    /// The window of an incident the service reports as started (`state`), ending at `end`.
    pub fn from_state(incident: Incident, state: &IncidentState, end: f64) -> Self {
        Self {
            incident,
            // The service resolved the parameters: severity and signals follow from them.
            severity: state.severity,
            signals: incident.signals(&state.params),
            start: state.started_at.unwrap_or(end),
            end,
        }
    }

    /// Whether an alert starting at `t` falls in this incident's span (the run plus its
    /// aftermath plus `grace`).
    fn holds(&self, t: f64, grace: f64) -> bool {
        t >= self.start && t <= self.end + self.incident.aftermath() + grace
    }

    /// Whether `a` is one of this incident's signals.
    fn signalled_by(&self, a: &AlertSpan) -> bool {
        self.signals
            .iter()
            .any(|s| s.matches(&a.key.name, &a.labels))
    }

    /// The scoreboard row of this incident scored as `o`.
    pub fn row(&self, o: Outcome) -> Row {
        Row {
            incident: self.incident.name().into(),
            expected_severity: self.severity,
            alert: o.alert,
            detection_seconds: o.detection_seconds,
            resolve_seconds: o.resolve_seconds,
            over_severity: o.over_severity,
            fired: o.fired,
        }
    }
}

/// One alert firing from `start` until `end` (`None`: still firing when last seen).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSpan {
    /// Which alert: `alertname` and `severity`.
    pub key: AlertKey,
    /// Every label (route, feature, …), `alertname` and `severity` included or not.
    pub labels: BTreeMap<String, String>,
    /// When it started firing (or its firing notification arrived), Unix seconds.
    pub start: f64,
    /// When it stopped firing (or its resolved notification arrived).
    pub end: Option<f64>,
}

impl AlertSpan {
    /// A span of the alert with these labels (its key read from them once).
    pub fn new(labels: BTreeMap<String, String>, start: f64, end: Option<f64>) -> Self {
        Self {
            key: AlertKey::of(&labels),
            labels,
            start,
            end,
        }
    }
}

/// How monitoring did on one incident.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The alert that caught it.
    pub alert: Option<AlertKey>,
    /// Seconds from the incident's start to that alert's start.
    pub detection_seconds: Option<f64>,
    /// Seconds from the incident's end to that alert's end.
    pub resolve_seconds: Option<f64>,
    /// Louder alerts that started in its span and no other incident explains.
    pub over_severity: Vec<AlertKey>,
    /// Every alert that started in its span.
    pub fired: Vec<AlertKey>,
}

impl Outcome {
    /// Caught at the expected severity and nothing louder fired.
    pub fn passed(&self) -> bool {
        self.alert.is_some() && self.over_severity.is_empty()
    }
}

/// Moves windows and alert spans from wall-clock seconds into system seconds for a system
/// running at time warp `k`: every instant `t` becomes `t * k`, so every difference (a
/// detection time, a resolve time) is K times longer and [`GRACE`], a system time, applies
/// unchanged. At `k = 1` nothing moves.
pub fn in_system_time(k: u32, windows: &mut [Window], alerts: &mut [AlertSpan]) {
    let k = f64::from(k);
    for w in windows {
        w.start *= k;
        w.end *= k;
    }
    for a in alerts {
        a.start *= k;
        a.end = a.end.map(|e| e * k);
    }
}

/// Scores incident `w` against every alert seen; `others` are the other incidents of the same
/// period (they may explain a louder alert); `grace` is usually [`GRACE`].
pub fn score(w: &Window, others: &[Window], alerts: &[AlertSpan], grace: f64) -> Outcome {
    let mut in_span: Vec<&AlertSpan> = alerts.iter().filter(|a| w.holds(a.start, grace)).collect();
    in_span.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut out = Outcome::default();
    for a in &in_span {
        if !out.fired.contains(&a.key) {
            out.fired.push(a.key.clone());
        }
        let explained = others
            .iter()
            .any(|o| o != w && o.holds(a.start, grace) && o.signalled_by(a));
        // An alert without one of monlab's severities is never louder.
        let louder = a.key.severity > Some(w.severity);
        if louder && !explained && !out.over_severity.contains(&a.key) {
            out.over_severity.push(a.key.clone());
        }
    }
    let Some(caught) = in_span
        .iter()
        .find(|a| a.key.severity == Some(w.severity) && w.signalled_by(a))
    else {
        return out;
    };
    out.alert = Some(caught.key.clone());
    out.detection_seconds = Some(caught.start - w.start);
    // The same alert may have flapped: its resolve is its first end at or after the incident's.
    out.resolve_seconds = alerts
        .iter()
        .filter(|a| a.labels == caught.labels && a.start >= caught.start)
        .filter_map(|a| a.end)
        .filter(|e| *e >= w.end)
        .reduce(f64::min)
        .map(|e| e - w.end);
    out
}

/// Scores every incident of a period against the same alerts.
pub fn score_all(windows: &[Window], alerts: &[AlertSpan], grace: f64) -> Vec<Outcome> {
    windows
        .iter()
        .map(|w| score(w, windows, alerts, grace))
        .collect()
}

/// Whether alert `a` belongs to an incident: it started in the span of an incident whose
/// signal it is. The rest are false alarms, whatever their severity: precision's rule.
pub fn belongs(windows: &[Window], a: &AlertSpan, grace: f64) -> bool {
    windows
        .iter()
        .any(|w| w.holds(a.start, grace) && w.signalled_by(a))
}

/// The alerts that started outside every incident's span.
pub fn stray<'a>(windows: &[Window], alerts: &'a [AlertSpan], grace: f64) -> Vec<&'a AlertSpan> {
    alerts
        .iter()
        .filter(|a| !windows.iter().any(|w| w.holds(a.start, grace)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::incident::Params;
    use crate::api::routes::WORK;

    fn window(incident: Incident, params: Params, start: f64, end: f64) -> Window {
        let params = incident.resolve(params, WORK).unwrap();
        Window {
            incident,
            severity: incident.severity_for(&params),
            signals: incident.signals(&params),
            start,
            end,
        }
    }

    fn alert(name: &str, severity: &str, start: f64, end: Option<f64>) -> AlertSpan {
        let labels = [("alertname", name), ("severity", severity)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AlertSpan::new(labels, start, end)
    }

    /// How a scoreboard writes the alert, if any.
    fn text(key: &Option<AlertKey>) -> Option<String> {
        key.as_ref().map(AlertKey::to_string)
    }

    fn texts(keys: &[AlertKey]) -> Vec<String> {
        keys.iter().map(AlertKey::to_string).collect()
    }

    #[test]
    fn an_alert_from_another_incident_after_the_end_is_not_credited() {
        // Issue 14's case: a 15 s auth-down, and 210 s later an error-share on /random pages.
        let auth = window(Incident::AuthDown, Params::default(), 1000.0, 1015.0);
        let share = window(Incident::ErrorShare, Params::default(), 1150.0, 1300.0);
        let page = alert("MonlabHighErrorRatio", "critical", 1225.0, Some(1350.0));
        let all = [auth.clone(), share.clone()];
        let scored = score_all(&all, std::slice::from_ref(&page), GRACE);
        assert_eq!(scored[0].alert, None, "auth-down: {:?}", scored[0]);
        assert!(scored[0].fired.is_empty());
        assert_eq!(
            text(&scored[1].alert).as_deref(),
            Some("MonlabHighErrorRatio (critical)")
        );
        assert_eq!(scored[1].detection_seconds, Some(75.0));
        assert_eq!(scored[1].resolve_seconds, Some(50.0));
        // Within the grace but not one of the incident's signals: still not credited.
        let slow = alert("MonlabSlowRequests", "minor", 1020.0, None);
        let minor = window(Incident::SlowUsers, Params::default(), 900.0, 1010.0);
        let lat = alert("MonlabLatencyBudgetBurn", "major", 1020.0, None);
        assert_eq!(score(&minor, &[], &[lat], GRACE).alert, None);
        assert!(score(&minor, &[], &[slow], GRACE).passed());
    }

    #[test]
    fn an_alert_six_seconds_after_the_end_is_credited_within_the_grace() {
        let w = window(Incident::ErrorShare, Params::default(), 100.0, 250.0);
        let late = alert("MonlabHighErrorRatio", "critical", 256.0, Some(330.0));
        let o = score(&w, &[], std::slice::from_ref(&late), GRACE);
        assert!(o.passed(), "{o:?}");
        assert_eq!(o.detection_seconds, Some(156.0));
        assert_eq!(o.resolve_seconds, Some(80.0));
        // Past the grace it is not.
        let too_late = AlertSpan {
            start: 250.0 + GRACE + 1.0,
            ..late
        };
        assert_eq!(score(&w, &[], &[too_late], GRACE).alert, None);
        // Nor before the incident started.
        let early = alert("MonlabHighErrorRatio", "critical", 99.0, Some(300.0));
        assert_eq!(score(&w, &[], &[early], GRACE).alert, None);
    }

    #[test]
    fn concept_drift_s_late_labels_keep_its_alerts_in_its_span_for_its_aftermath() {
        let w = window(Incident::ConceptDrift, Params::default(), 0.0, 600.0);
        // The holdout's labels show the drift an hour after it ended: still its catch.
        let late = alert(
            "MonlabModelQualityLow",
            "major",
            600.0 + 3600.0,
            Some(9000.0),
        );
        let o = score(&w, &[], std::slice::from_ref(&late), GRACE);
        assert!(o.passed(), "{o:?}");
        assert!(belongs(std::slice::from_ref(&w), &late, GRACE));
        // Past its aftermath and the grace it is not.
        let after = alert(
            "MonlabModelQualityLow",
            "major",
            600.0 + 7200.0 + GRACE + 1.0,
            None,
        );
        assert!(!belongs(std::slice::from_ref(&w), &after, GRACE));
        // A live signal has no aftermath.
        let e = window(Incident::ErrorShare, Params::default(), 0.0, 600.0);
        let page = alert(
            "MonlabHighErrorRatio",
            "critical",
            600.0 + GRACE + 1.0,
            None,
        );
        assert!(!belongs(std::slice::from_ref(&e), &page, GRACE));
    }

    #[test]
    fn severity_and_signals_come_from_the_parameters() {
        let large = Params {
            feature: Some("age".into()),
            shift: Some(1.0),
            ..Params::default()
        };
        let w = window(Incident::FeatureDrift, large, 0.0, 360.0);
        assert_eq!(w.severity, Severity::Major);
        let mut minor = alert("MonlabFeatureDrift", "minor", 130.0, Some(400.0));
        minor.labels.insert("feature".into(), "age".into());
        let mut major = alert("MonlabFeatureDrift", "major", 150.0, Some(390.0));
        major.labels.insert("feature".into(), "age".into());
        let mut other_feature = major.clone();
        other_feature
            .labels
            .insert("feature".into(), "income".into());
        other_feature.start = 140.0;
        let o = score(&w, &[], &[minor.clone(), other_feature, major], GRACE);
        assert_eq!(
            text(&o.alert).as_deref(),
            Some("MonlabFeatureDrift (major)")
        );
        assert_eq!(o.detection_seconds, Some(150.0));
        assert_eq!(o.resolve_seconds, Some(30.0));
        // The default drift is minor: the minor alert catches it.
        let small = window(Incident::FeatureDrift, Params::default(), 0.0, 360.0);
        minor.labels.insert("feature".into(), "income".into());
        assert!(score(&small, &[], &[minor], GRACE).passed());
    }

    #[test]
    fn louder_alerts_are_over_severity_unless_another_incident_explains_them() {
        let model = window(Incident::ModelDown, Params::default(), 100.0, 400.0);
        let notes = [
            alert("Early", "critical", 90.0, None),
            alert("MonlabModelFallbackHigh", "major", 160.0, Some(420.0)),
            alert("Louder", "critical", 170.0, None),
            alert("MonlabLoginsFailing", "critical", 300.0, Some(500.0)),
        ];
        let o = score(&model, &[], &notes, GRACE);
        assert_eq!(
            text(&o.alert).as_deref(),
            Some("MonlabModelFallbackHigh (major)")
        );
        assert_eq!(o.detection_seconds, Some(60.0));
        assert_eq!(o.resolve_seconds, Some(20.0));
        assert_eq!(
            texts(&o.over_severity),
            vec![
                "Louder (critical)".to_string(),
                "MonlabLoginsFailing (critical)".to_string()
            ]
        );
        assert!(!o.passed());
        // An auth-down running meanwhile explains the login page, not the other one.
        let auth = window(Incident::AuthDown, Params::default(), 250.0, 400.0);
        let scored = score_all(&[model, auth], &notes, GRACE);
        assert_eq!(
            texts(&scored[0].over_severity),
            vec!["Louder (critical)".to_string()]
        );
        assert!(scored[1].passed(), "{:?}", scored[1]);
        let all = [window(Incident::ModelDown, Params::default(), 100.0, 400.0)];
        let stray: Vec<String> = stray(&all, &notes, GRACE)
            .iter()
            .map(|a| a.key.to_string())
            .collect();
        assert_eq!(stray, vec!["Early (critical)".to_string()]);
        // In the span is not enough to belong: the alert must be one of the incident's signals.
        let belonging: Vec<bool> = notes.iter().map(|a| belongs(&all, a, GRACE)).collect();
        assert_eq!(belonging, vec![false, true, false, false]);
    }

    #[test]
    fn a_flapping_alert_resolves_at_its_first_end_after_the_incident() {
        let w = window(Incident::AuthDown, Params::default(), 0.0, 300.0);
        let spans = [
            alert("MonlabLoginsFailing", "critical", 70.0, Some(200.0)),
            alert("MonlabLoginsFailing", "critical", 230.0, Some(350.0)),
        ];
        let o = score(&w, &[], &spans, GRACE);
        assert_eq!(o.detection_seconds, Some(70.0));
        assert_eq!(o.resolve_seconds, Some(50.0));
        // Still firing: no resolve time.
        let open = [alert("MonlabLoginsFailing", "critical", 70.0, None)];
        assert_eq!(score(&w, &[], &open, GRACE).resolve_seconds, None);
    }

    #[test]
    fn every_signal_is_a_shipped_alert() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/rules");
        let mut rules = String::new();
        for e in std::fs::read_dir(dir).unwrap() {
            rules.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
        }
        for i in Incident::ALL {
            let params = i.resolve(Params::default(), WORK).unwrap();
            let signals = i.signals(&params);
            assert!(!signals.is_empty(), "{} has no signal", i.name());
            for s in signals {
                assert!(
                    rules.contains(&format!("alert: {}\n", s.alertname)),
                    "{}: {} is not an alert in deploy/prometheus/rules",
                    i.name(),
                    s.alertname
                );
            }
        }
    }
}
