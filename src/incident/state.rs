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

use super::catalog::Incident;
use crate::api::incident::{IncidentState, Params, SlowUsers};
use parking_lot::RwLock;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// An incident in progress.
#[derive(Debug, Clone)]
struct Active {
    params: Params,
    started_at: SystemTime,
    ends: Instant,
    ends_at: SystemTime,
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
    // The users slowed since slow-users last started: the truth `monlab diagnose` is checked
    // against (admin API only). At most MAX_SLOWED_USERS.
    slowed: parking_lot::Mutex<std::collections::BTreeSet<String>>,
}

/// Most users remembered as slowed; beyond it the set stops growing (the truth is then
/// incomplete, which the admin API says).
pub(crate) const MAX_SLOWED_USERS: usize = 100_000;

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
            slowed: parking_lot::Mutex::default(),
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
            severity: incident.severity_for(params).as_str(),
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

    /// Starts (or restarts) an incident with resolved parameters for `duration` on the wall
    /// clock (the caller applies the time warp to the duration the parameters ask for).
    pub fn start(&self, incident: Incident, params: Params, duration: Duration) -> IncidentState {
        let now = SystemTime::now();
        self.record_start(incident, &params, now);
        let active = Active {
            // The run's length shows as its end and time left, not among its parameters.
            params: Params {
                duration: None,
                ..params
            },
            started_at: now,
            ends: Instant::now() + duration,
            ends_at: now + duration,
        };
        if incident == Incident::SlowUsers {
            self.slowed.lock().clear();
        }
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
            severity: a.map_or_else(|| incident.severity(), |a| incident.severity_for(&a.params)),
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
        if !in_share(user, share) {
            return None;
        }
        let mut slowed = self.slowed.lock();
        if slowed.len() < MAX_SLOWED_USERS && !slowed.contains(user) {
            slowed.insert(user.to_string());
        }
        Some(Duration::from_secs_f64(p.seconds.unwrap_or(2.0)))
    }

    /// The users slowed since slow-users last started (kept after it ends, until the next
    /// start), sorted.
    pub fn slowed_users(&self) -> SlowUsers {
        let slowed = self.slowed.lock();
        SlowUsers {
            users: slowed.iter().cloned().collect(),
            truncated: slowed.len() >= MAX_SLOWED_USERS,
        }
    }
}

/// Whether `user` falls in the first `share` of users, by a stable hash of the id (FNV-1a),
/// so the same users suffer on every request and in every run.
fn in_share(user: &str, share: f64) -> bool {
    let h = crate::hash::fnv1a(user.as_bytes());
    (h % 1_000_000) < (share * 1_000_000.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Severity;

    #[test]
    fn slow_users_are_a_stable_share() {
        let n = 100_000;
        let hit = (0..n).filter(|i| in_share(&format!("u{i}"), 0.01)).count();
        assert!((800..1200).contains(&hit), "{hit} of {n}");
        assert_eq!(in_share("u42", 0.01), in_share("u42", 0.01));
    }

    #[test]
    fn the_slowed_users_are_remembered_until_the_next_start() {
        let f = Faults::default();
        let all = Params {
            share: Some(1.0),
            ..Params::default()
        };
        f.start(Incident::SlowUsers, all.clone(), Duration::from_secs(60));
        for u in ["u2", "u1", "u2"] {
            assert!(f.slow_user_delay(u).is_some());
        }
        f.stop(Incident::SlowUsers);
        assert!(f.slow_user_delay("u3").is_none());
        let s = f.slowed_users();
        assert_eq!(
            (s.users, s.truncated),
            (vec!["u1".into(), "u2".into()], false)
        );
        f.start(Incident::SlowUsers, all, Duration::from_secs(60));
        assert!(f.slowed_users().users.is_empty());
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
        let small = Incident::FeatureDrift
            .resolve(Params::default(), &[])
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
    fn a_state_has_the_severity_its_parameters_imply_and_no_duration() {
        let large = Params {
            feature: Some("age".into()),
            shift: Some(1.0),
            duration: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let f = Faults::default();
        let state = f.start(Incident::FeatureDrift, large, Duration::from_secs(60));
        assert_eq!(state.severity, Severity::Major);
        let now = f.state(Incident::FeatureDrift);
        assert_eq!((now.params.shift, now.params.duration), (Some(1.0), None));
        assert_eq!(f.state(Incident::AuthDown).severity, Severity::Critical);
    }
}
