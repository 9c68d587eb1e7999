//! Incident state: what is broken right now, the one place a break is decided.
//!
//! Handlers and the fault layer ask [`Faults`] whether to fail, slow down or fall back; the
//! admin API and scenarios start and stop incidents. Which incidents are active is exported as
//! `monlab_incident_active{incident}` (1 or 0, every incident always present) so dashboards
//! can annotate them and alerts can be checked against them. The exact moments are exported
//! too, since a scrape sees a start up to one interval late:
//! `monlab_incident_started_timestamp_seconds{incident,severity,route,feature}` (the last start,
//! with the severity its parameters imply and the route or feature it hits) and
//! `monlab_incident_ended_timestamp_seconds{incident}` (the last end). `monlab report` scores
//! incidents from these.
//!
//! The catalogue ([`Incident`]) also says which alerts are each incident's signals
//! ([`Incident::signals`]): the one place the scoring rule ([`crate::score`]) learns which
//! alert may be credited with catching which incident.

use parking_lot::RwLock;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Longest an incident may run.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// Duration when none is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(300);

/// The incidents monlab can simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Incident {
    /// The authorization service is down: every login answers 503.
    AuthDown,
    /// The model cannot predict: the fallback rules answer every prediction.
    ModelDown,
    /// A fixed share of users (by user id) gets a large extra delay on every request.
    SlowUsers,
    /// A share of a route's requests fails with 500.
    ErrorShare,
    /// Every request of a route is slowed by a fixed extra latency.
    ExtraLatency,
    /// Phantom requests hold a share of the concurrency limit, as a burst of traffic would.
    Burst,
    /// The applicants change: one numeric feature's values move (the load generator applies it).
    FeatureDrift,
    /// Upstream stops sending one feature: it arrives as null (the load generator applies it).
    MissingFeature,
    /// The model's preprocessing breaks: every score collapses to about one value, one class.
    OutputCollapse,
    /// The relation between features and outcome changes (the load generator's labels follow
    /// [`crate::ml::dataset::Regime::Recession`]); inputs and scores look as before.
    ConceptDrift,
}

impl Incident {
    /// Every incident, in display order.
    pub const ALL: [Incident; 10] = [
        Self::AuthDown,
        Self::ModelDown,
        Self::SlowUsers,
        Self::ErrorShare,
        Self::ExtraLatency,
        Self::Burst,
        Self::FeatureDrift,
        Self::MissingFeature,
        Self::OutputCollapse,
        Self::ConceptDrift,
    ];

    /// The incidents that happen in the world rather than in the service: the load generator
    /// reads them from `GET /incidents` and changes the applicants or outcomes it sends.
    pub const WORLD: [Incident; 3] = [Self::FeatureDrift, Self::MissingFeature, Self::ConceptDrift];

    /// The name used in the API, the CLI, scenarios and the metric label.
    pub fn name(self) -> &'static str {
        match self {
            Self::AuthDown => "auth-down",
            Self::ModelDown => "model-down",
            Self::SlowUsers => "slow-users",
            Self::ErrorShare => "error-share",
            Self::ExtraLatency => "extra-latency",
            Self::Burst => "burst",
            Self::FeatureDrift => "feature-drift",
            Self::MissingFeature => "missing-feature",
            Self::OutputCollapse => "output-collapse",
            Self::ConceptDrift => "concept-drift",
        }
    }

    /// Looks an incident up by name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.name() == name)
    }

    /// The severity at which monitoring must catch it with its default parameters.
    pub fn severity(self) -> &'static str {
        self.severity_for(&self.defaults())
    }

    /// The severity at which monitoring must catch it with `params` (resolved). Only
    /// feature-drift depends on them: a shift whose expected PSI against the shipped reference
    /// reaches [`FEATURE_DRIFT_MAJOR_PSI`] is major, a smaller one minor.
    pub fn severity_for(self, params: &Params) -> &'static str {
        match self {
            Self::AuthDown => "critical",
            Self::ModelDown => "major",
            // Extra latency on a whole route burns the latency budget fast: a ticket.
            Self::ExtraLatency => "major",
            Self::SlowUsers | Self::Burst => "minor",
            Self::ErrorShare => "critical",
            Self::FeatureDrift => {
                let psi = expected_drift_psi(params);
                if psi >= FEATURE_DRIFT_MAJOR_PSI {
                    "major"
                } else {
                    "minor"
                }
            }
            // Answers keep coming, with status 200, but they are wrong or worse: a ticket.
            Self::MissingFeature | Self::OutputCollapse | Self::ConceptDrift => "major",
        }
    }

    /// The alerts that are this incident's signals with `params` (resolved): only these can
    /// be credited with catching it. Alerts that name a route or feature must name the one
    /// the incident hits.
    pub fn signals(self, params: &Params) -> Vec<Signal> {
        let on = |label: &'static str, value: &Option<String>| {
            value.as_ref().map(|v| (label, v.clone()))
        };
        let plain = |alertname| Signal {
            alertname,
            label: None,
        };
        let feature = |alertname| Signal {
            alertname,
            label: on("feature", &params.feature),
        };
        match self {
            // /login fails: its own alert pages, and the job-wide ratio may too.
            Self::AuthDown => vec![plain("MonlabLoginsFailing"), plain("MonlabHighErrorRatio")],
            Self::ModelDown => vec![plain("MonlabModelFallbackHigh")],
            Self::SlowUsers => vec![plain("MonlabSlowRequests")],
            Self::ErrorShare => {
                let mut v = vec![plain("MonlabHighErrorRatio")];
                if params.route.as_deref() == Some("/login") {
                    v.push(plain("MonlabLoginsFailing"));
                }
                v
            }
            // From `--seconds 1` on, the route's requests count as slow too.
            Self::ExtraLatency => vec![
                plain("MonlabLatencyBudgetBurn"),
                plain("MonlabSlowRequests"),
            ],
            // At the limit, work requests are shed.
            Self::Burst => vec![plain("MonlabSaturationHigh"), plain("MonlabRequestsShed")],
            Self::FeatureDrift => vec![feature("MonlabFeatureDrift")],
            Self::MissingFeature => vec![feature("MonlabFeatureMissing")],
            Self::OutputCollapse => vec![plain("MonlabOutputCollapse")],
            Self::ConceptDrift => vec![plain("MonlabModelQualityLow")],
        }
    }

    /// What a user of the product sees.
    pub fn description(self) -> &'static str {
        match self {
            Self::AuthDown => "the authorization service is down: nobody can log in (503)",
            Self::ModelDown => "the model cannot predict: answers come from the fallback rules",
            Self::SlowUsers => "a share of users (1% by default) hit a loop and wait much longer",
            Self::ErrorShare => "a share of a route's requests fails with 500",
            Self::ExtraLatency => "every request of a route is slower by a fixed amount",
            Self::Burst => "a burst of traffic holds a share of the concurrency limit",
            Self::FeatureDrift => {
                "applicants change: one feature's values move by a number of standard deviations"
            }
            Self::MissingFeature => "upstream stops sending one feature: it arrives as null",
            Self::OutputCollapse => {
                "the model's scores collapse to one value: every applicant is approved"
            }
            Self::ConceptDrift => {
                "a recession changes who defaults: the model's answers look normal but are wrong"
            }
        }
    }

    /// The parameters it takes, with their defaults.
    fn defaults(self) -> Params {
        match self {
            Self::SlowUsers => Params {
                share: Some(0.01),
                seconds: Some(2.0),
                ..Params::default()
            },
            Self::ErrorShare => Params {
                share: Some(0.2),
                route: Some("/random".into()),
                ..Params::default()
            },
            Self::ExtraLatency => Params {
                seconds: Some(0.5),
                route: Some("/random".into()),
                ..Params::default()
            },
            Self::Burst => Params {
                share: Some(0.9),
                ..Params::default()
            },
            Self::FeatureDrift => Params {
                feature: Some(DEFAULT_DRIFT_FEATURE.into()),
                shift: Some(DEFAULT_DRIFT_SHIFT),
                ..Params::default()
            },
            Self::MissingFeature => Params {
                feature: Some("income".into()),
                ..Params::default()
            },
            Self::AuthDown | Self::ModelDown | Self::OutputCollapse | Self::ConceptDrift => {
                Params::default()
            }
        }
    }
}

/// An alert that signals an incident: its name, and a label it must carry, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// The alert's `alertname`.
    pub alertname: &'static str,
    /// A label the alert must carry with this value (the route or feature the incident hits).
    pub label: Option<(&'static str, String)>,
}

impl Signal {
    /// Whether an alert with these labels is this signal.
    pub fn matches(&self, alertname: &str, labels: &BTreeMap<String, String>) -> bool {
        alertname == self.alertname
            && self
                .label
                .as_ref()
                .is_none_or(|(k, v)| labels.get(*k) == Some(v))
    }
}

/// Parameters of an incident; which apply depends on the incident.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// A share in (0, 1]: of users (slow-users), of requests (error-share), of the limit (burst).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// Extra delay in seconds (slow-users, extra-latency).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// The route template affected (error-share, extra-latency).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The feature affected: a numeric one for feature-drift, any for missing-feature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
    /// How far feature-drift moves the feature, in standard deviations of its training values
    /// (negative moves it down), in [-3, 3].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift: Option<f64>,
}

/// The feature feature-drift moves by default.
pub const DEFAULT_DRIFT_FEATURE: &str = "income";
/// The default shift: a quarter of a standard deviation of income (about 6,800 more), a
/// moderate drift (expected PSI about 0.16 against the shipped reference): minor.
pub const DEFAULT_DRIFT_SHIFT: f64 = 0.25;
/// Expected PSI from which a feature-drift is major; the alert rules use the same bands
/// (0.1 minor, 0.25 major: the usual reading of PSI).
pub const FEATURE_DRIFT_MAJOR_PSI: f64 = 0.25;

/// The PSI a feature-drift with `params` would show once the whole window has shifted: the
/// shipped reference sample moved as the load generator moves requests, binned against the
/// reference edges. 0 for anything that is not a numeric feature.
pub fn expected_drift_psi(params: &Params) -> f64 {
    let Some(feature) = params
        .feature
        .as_deref()
        .filter(|f| crate::ml::features::NUMERIC.contains(f))
    else {
        return 0.0;
    };
    let reference = crate::ml::reference::Reference::shipped();
    let r = reference.numeric(feature);
    let moved: Vec<f64> = r
        .sample
        .iter()
        .map(|x| shift_value(feature, *x, params.shift.unwrap_or(0.0), r.std_dev))
        .collect();
    crate::ml::drift::psi(
        &crate::ml::drift::shares(&r.edges, &r.sample),
        &crate::ml::drift::shares(&r.edges, &moved),
    )
}

/// One value of `feature` moved by `shift` standard deviations (`std_dev`), then rounded and
/// kept in range the way the population writes it.
pub fn shift_value(feature: &str, x: f64, shift: f64, std_dev: f64) -> f64 {
    crate::ml::dataset::round_like_population(feature, x + shift * std_dev)
}

/// A start request refused; the message names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParamError {
    /// The field to blame.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl Params {
    /// Fills defaults and checks that only parameters the incident takes are given.
    pub fn resolve(self, incident: Incident, routes: &[&str]) -> Result<Self, ParamError> {
        let d = incident.defaults();
        let refuse = |field: &'static str| ParamError {
            field,
            message: format!("{} takes no {field}", incident.name()),
        };
        if self.share.is_some() && d.share.is_none() {
            return Err(refuse("share"));
        }
        if self.seconds.is_some() && d.seconds.is_none() {
            return Err(refuse("seconds"));
        }
        if self.route.is_some() && d.route.is_none() {
            return Err(refuse("route"));
        }
        if self.feature.is_some() && d.feature.is_none() {
            return Err(refuse("feature"));
        }
        if self.shift.is_some() && d.shift.is_none() {
            return Err(refuse("shift"));
        }
        let p = Params {
            share: self.share.or(d.share),
            seconds: self.seconds.or(d.seconds),
            route: self.route.or(d.route),
            feature: self.feature.or(d.feature),
            shift: self.shift.or(d.shift),
        };
        if let Some(f) = &p.feature {
            use crate::ml::features::{CATEGORICAL, NUMERIC};
            let allowed: Vec<&str> = if incident == Incident::FeatureDrift {
                NUMERIC.to_vec()
            } else {
                NUMERIC.iter().chain(CATEGORICAL.iter()).copied().collect()
            };
            if !allowed.contains(&f.as_str()) {
                return Err(ParamError {
                    field: "feature",
                    message: format!(
                        "feature must be one of {}, got {:?}",
                        allowed.join(", "),
                        f.chars().take(40).collect::<String>()
                    ),
                });
            }
        }
        if let Some(s) = p.shift {
            if !(s.is_finite() && s != 0.0 && (-3.0..=3.0).contains(&s)) {
                return Err(ParamError {
                    field: "shift",
                    message: format!("shift must be in [-3, 3] and not 0, got {s}"),
                });
            }
        }
        if let Some(s) = p.share {
            if !(s.is_finite() && s > 0.0 && s <= 1.0) {
                return Err(ParamError {
                    field: "share",
                    message: format!("share must be in (0, 1], got {s}"),
                });
            }
        }
        if let Some(s) = p.seconds {
            if !(s.is_finite() && s > 0.0 && s <= 60.0) {
                return Err(ParamError {
                    field: "seconds",
                    message: format!("seconds must be in (0, 60], got {s}"),
                });
            }
        }
        if let Some(r) = &p.route {
            if !routes.contains(&r.as_str()) {
                return Err(ParamError {
                    field: "route",
                    message: format!("route must be one of {}, got {r:?}", routes.join(", ")),
                });
            }
        }
        Ok(p)
    }
}

/// An incident in progress.
#[derive(Debug, Clone)]
struct Active {
    params: Params,
    started_at: SystemTime,
    ends: Instant,
    ends_at: SystemTime,
}

/// One incident's state, as the admin API reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IncidentState {
    /// Name.
    pub name: String,
    /// Severity monitoring must catch it at.
    pub severity: String,
    /// What users see.
    pub description: String,
    /// Whether it is in progress.
    pub active: bool,
    /// Start, seconds since the Unix epoch.
    pub started_at: Option<f64>,
    /// Planned end, seconds since the Unix epoch.
    pub ends_at: Option<f64>,
    /// Seconds left.
    pub remaining_seconds: Option<f64>,
    /// Parameters in effect (or the defaults, when inactive).
    pub params: Params,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IncidentLabels {
    incident: &'static str,
}

/// The labels of an incident's last start: what a report needs to score it. `route` and
/// `feature` are empty (so absent in Prometheus) for incidents that take neither.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StartedLabels {
    incident: &'static str,
    severity: &'static str,
    route: String,
    feature: String,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// The incident state of one service.
#[derive(Debug)]
pub struct Faults {
    active: RwLock<BTreeMap<Incident, Active>>,
    // Lets the hot path skip the lock when nothing is broken, which is nearly always.
    any: AtomicBool,
    gauges: Family<IncidentLabels, Gauge>,
    started: Family<StartedLabels, FloatGauge>,
    ended: Family<IncidentLabels, FloatGauge>,
    // The label set of each incident's started series, removed when a start changes it.
    started_labels: parking_lot::Mutex<BTreeMap<Incident, StartedLabels>>,
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Default for Faults {
    fn default() -> Self {
        let gauges = Family::<IncidentLabels, Gauge>::default();
        for i in Incident::ALL {
            gauges
                .get_or_create(&IncidentLabels { incident: i.name() })
                .set(0);
        }
        Self {
            active: RwLock::default(),
            any: AtomicBool::new(false),
            gauges,
            started: Family::default(),
            ended: Family::default(),
            started_labels: parking_lot::Mutex::default(),
        }
    }
}

impl Faults {
    /// Registers `incident_active` and the start and end timestamps (prefixed by the
    /// caller's registry).
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "incident_active",
            "Whether a simulated incident is in progress (1) or not (0), by incident",
            self.gauges.clone(),
        );
        registry.register_with_unit(
            "incident_started_timestamp",
            "When each incident last started, with the severity its parameters imply and the route or feature it hits",
            prometheus_client::registry::Unit::Seconds,
            self.started.clone(),
        );
        registry.register_with_unit(
            "incident_ended_timestamp",
            "When each incident last ended (stopped or ran out)",
            prometheus_client::registry::Unit::Seconds,
            self.ended.clone(),
        );
    }

    /// Records a start in the started series; the previous start's series goes.
    fn record_start(&self, incident: Incident, params: &Params, at: SystemTime) {
        let labels = StartedLabels {
            incident: incident.name(),
            severity: incident.severity_for(params),
            route: params.route.clone().unwrap_or_default(),
            feature: params.feature.clone().unwrap_or_default(),
        };
        let mut last = self.started_labels.lock();
        if let Some(old) = last.insert(incident, labels.clone()) {
            if old != labels {
                self.started.remove(&old);
            }
        }
        self.started.get_or_create(&labels).set(epoch(at));
    }

    /// Starts (or restarts) an incident for `duration` with resolved parameters.
    pub fn start(&self, incident: Incident, params: Params, duration: Duration) -> IncidentState {
        let now = SystemTime::now();
        self.record_start(incident, &params, now);
        let active = Active {
            params,
            started_at: now,
            ends: Instant::now() + duration,
            ends_at: now + duration,
        };
        self.active.write().insert(incident, active);
        self.any.store(true, Ordering::Release);
        self.gauge(incident).set(1);
        tracing::info!(incident = incident.name(), duration = ?duration, "Incident started.");
        self.state(incident)
    }

    /// Stops an incident; returns whether it was active.
    pub fn stop(&self, incident: Incident) -> bool {
        let mut map = self.active.write();
        let removed = map.remove(&incident);
        self.any.store(!map.is_empty(), Ordering::Release);
        drop(map);
        self.gauge(incident).set(0);
        let was = removed.is_some();
        if let Some(a) = removed {
            // Expiry runs a moment after the planned end; the run ended on plan.
            let at = SystemTime::now().min(a.ends_at);
            self.ended
                .get_or_create(&IncidentLabels {
                    incident: incident.name(),
                })
                .set(epoch(at));
            tracing::info!(incident = incident.name(), "Incident stopped.");
        }
        was
    }

    /// Ends incidents whose time is up; the service calls this every fraction of a second.
    pub fn expire(&self) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        let expired: Vec<Incident> = self
            .active
            .read()
            .iter()
            .filter(|(_, a)| a.ends <= now)
            .map(|(i, _)| *i)
            .collect();
        for i in expired {
            self.stop(i);
        }
    }

    fn gauge(&self, incident: Incident) -> Gauge {
        self.gauges
            .get_or_create(&IncidentLabels {
                incident: incident.name(),
            })
            .clone()
    }

    /// The parameters of `incident` if it is in progress now.
    pub fn params(&self, incident: Incident) -> Option<Params> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let map = self.active.read();
        let a = map.get(&incident)?;
        (a.ends > Instant::now()).then(|| a.params.clone())
    }

    /// Whether `incident` is in progress.
    pub fn is_active(&self, incident: Incident) -> bool {
        self.params(incident).is_some()
    }

    /// The state of one incident.
    pub fn state(&self, incident: Incident) -> IncidentState {
        let map = self.active.read();
        let now = Instant::now();
        let a = map.get(&incident).filter(|a| a.ends > now);
        IncidentState {
            name: incident.name().into(),
            severity: a
                .map_or_else(|| incident.severity(), |a| incident.severity_for(&a.params))
                .into(),
            description: incident.description().into(),
            active: a.is_some(),
            started_at: a.map(|a| epoch(a.started_at)),
            ends_at: a.map(|a| epoch(a.ends_at)),
            remaining_seconds: a.map(|a| a.ends.saturating_duration_since(now).as_secs_f64()),
            params: a.map_or_else(|| incident.defaults(), |a| a.params.clone()),
        }
    }

    /// Every incident's state.
    pub fn states(&self) -> Vec<IncidentState> {
        Incident::ALL.into_iter().map(|i| self.state(i)).collect()
    }

    /// Extra delay for `user` while slow-users is in progress and the user is in the share.
    pub fn slow_user_delay(&self, user: &str) -> Option<Duration> {
        let p = self.params(Incident::SlowUsers)?;
        let share = p.share.unwrap_or(0.01);
        in_share(user, share).then(|| Duration::from_secs_f64(p.seconds.unwrap_or(2.0)))
    }
}

/// Whether `user` falls in the first `share` of users, by a stable hash of the id (FNV-1a),
/// so the same users suffer on every request and in every run.
pub fn in_share(user: &str, share: f64) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in user.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % 1_000_000) < (share * 1_000_000.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_users_are_a_stable_share() {
        let n = 100_000;
        let hit = (0..n).filter(|i| in_share(&format!("u{i}"), 0.01)).count();
        assert!((800..1200).contains(&hit), "{hit} of {n}");
        assert_eq!(in_share("u42", 0.01), in_share("u42", 0.01));
    }

    #[test]
    fn start_stop_and_expire() {
        let f = Faults::default();
        assert!(!f.is_active(Incident::AuthDown));
        f.start(
            Incident::AuthDown,
            Params::default(),
            Duration::from_millis(50),
        );
        assert!(f.is_active(Incident::AuthDown));
        let s = f.state(Incident::AuthDown);
        assert!(s.active && s.remaining_seconds.unwrap() <= 0.05);
        std::thread::sleep(Duration::from_millis(80));
        assert!(!f.is_active(Incident::AuthDown));
        f.expire();
        assert!(!f.any.load(Ordering::Acquire));
        f.start(
            Incident::ModelDown,
            Params::default(),
            Duration::from_secs(60),
        );
        assert!(f.stop(Incident::ModelDown));
        assert!(!f.stop(Incident::ModelDown));
    }

    #[test]
    fn params_are_checked_per_incident() {
        let routes = ["/random", "/login"];
        let p = Params::default()
            .resolve(Incident::SlowUsers, &routes)
            .unwrap();
        assert_eq!((p.share, p.seconds), (Some(0.01), Some(2.0)));
        let bad = |p: Params, i| p.resolve(i, &routes).unwrap_err().field;
        let share = |s| Params {
            share: Some(s),
            ..Default::default()
        };
        assert_eq!(bad(share(0.0), Incident::SlowUsers), "share");
        assert_eq!(bad(share(1.5), Incident::ErrorShare), "share");
        assert_eq!(bad(share(0.5), Incident::AuthDown), "share");
        let route = Params {
            route: Some("/nope".into()),
            ..Default::default()
        };
        assert_eq!(bad(route, Incident::ErrorShare), "route");
        let secs = Params {
            seconds: Some(-1.0),
            ..Default::default()
        };
        assert_eq!(bad(secs, Incident::ExtraLatency), "seconds");
        let feature = |f: &str| Params {
            feature: Some(f.into()),
            ..Default::default()
        };
        // Drift moves numbers; a missing feature may be any feature; others take none.
        assert_eq!(bad(feature("region"), Incident::FeatureDrift), "feature");
        assert_eq!(
            bad(feature("shoe_size"), Incident::MissingFeature),
            "feature"
        );
        assert_eq!(bad(feature("age"), Incident::ConceptDrift), "feature");
        assert!(feature("region")
            .resolve(Incident::MissingFeature, &routes)
            .is_ok());
        for s in [0.0, 3.5, f64::NAN] {
            let p = Params {
                shift: Some(s),
                ..Default::default()
            };
            assert_eq!(bad(p, Incident::FeatureDrift), "shift");
        }
        let p = Params {
            shift: Some(1.0),
            ..Default::default()
        };
        assert_eq!(bad(p, Incident::MissingFeature), "shift");
    }

    #[test]
    fn starts_and_ends_are_exported_with_the_severity_the_parameters_imply() {
        let f = Faults::default();
        let text = |f: &Faults| {
            let mut r = prometheus_client::registry::Registry::default();
            f.register(&mut r);
            let mut out = String::new();
            prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
            out
        };
        let value = |t: &str, series: &str| -> f64 {
            let line = t
                .lines()
                .find(|l| l.starts_with(series))
                .unwrap_or_else(|| panic!("no {series} in {t}"));
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        let small = Params::default()
            .resolve(Incident::FeatureDrift, &[])
            .unwrap();
        let s = f.start(Incident::FeatureDrift, small, Duration::from_secs(60));
        let started = s.started_at.unwrap();
        let minor = r#"incident_started_timestamp_seconds{incident="feature-drift",severity="minor",route="",feature="income"}"#;
        assert!((value(&text(&f), minor) - started).abs() < 1e-3);
        let large = Params {
            feature: Some("age".into()),
            shift: Some(1.0),
            ..Default::default()
        };
        let s = f.start(Incident::FeatureDrift, large, Duration::from_millis(20));
        let restarted = s.started_at.unwrap();
        let t = text(&f);
        // One series per incident: the restart replaced the minor one.
        assert!(!t.contains(minor), "{t}");
        let major = r#"incident_started_timestamp_seconds{incident="feature-drift",severity="major",route="",feature="age"}"#;
        assert!((value(&t, major) - restarted).abs() < 1e-3, "{t}");
        std::thread::sleep(Duration::from_millis(60));
        f.expire();
        assert!(!f.state(Incident::FeatureDrift).active);
        let ended = value(
            &text(&f),
            r#"incident_ended_timestamp_seconds{incident="feature-drift"}"#,
        );
        // The planned end, 20 ms after the restart, not when expiry noticed it (60 ms).
        assert!(
            (ended - restarted - 0.02).abs() < 1e-3,
            "ended {ended}, restarted {restarted}"
        );
    }

    #[test]
    fn feature_drift_is_major_only_when_large() {
        let p = Params::default()
            .resolve(Incident::FeatureDrift, &[])
            .unwrap();
        assert_eq!(p.feature.as_deref(), Some(DEFAULT_DRIFT_FEATURE));
        // The default sits inside the minor band with room on both sides for window noise.
        let psi = expected_drift_psi(&p);
        assert!((0.13..0.19).contains(&psi), "default expected PSI {psi}");
        assert_eq!(Incident::FeatureDrift.severity_for(&p), "minor");
        assert_eq!(Incident::FeatureDrift.severity(), "minor");
        let large = Params {
            feature: Some("age".into()),
            shift: Some(1.0),
            ..Default::default()
        };
        assert!(expected_drift_psi(&large) > 1.0);
        assert_eq!(Incident::FeatureDrift.severity_for(&large), "major");
        let f = Faults::default();
        let state = f.start(Incident::FeatureDrift, large, Duration::from_secs(60));
        assert_eq!(state.severity, "major");
        assert_eq!(f.state(Incident::FeatureDrift).params.shift, Some(1.0));
        for i in [
            Incident::MissingFeature,
            Incident::OutputCollapse,
            Incident::ConceptDrift,
        ] {
            assert_eq!(i.severity(), "major", "{}", i.name());
        }
    }
}
