//! Incidents on the wire: the one set of parameters ([`Params`]) that the admin API's start
//! body, the `monlab incident start` flags and a scenario's steps all take, an incident's
//! state, the list of them, and the answer of a start or stop.
//!
//! `Params` refuses keys it does not know: a misspelt parameter must not start an incident
//! with its default instead.

use super::Severity;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Longest an incident may run.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// Duration when none is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(300);

/// Parameters of an incident; which apply depends on the incident. Every field is optional:
/// the incident's defaults fill what is not given. The same type is the body of
/// `POST /admin/incidents/{name}`, the flags of `monlab incident start` and a scenario step's
/// keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// How long, e.g. 90s or 5m; at most 24h [default: 5m]
    #[serde(
        rename = "for",
        with = "super::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[arg(long = "for", value_name = "DURATION", value_parser = super::duration::parse)]
    pub duration: Option<Duration>,
    /// Share of users (slow-users), of requests (error-share) or of the limit (burst), in (0, 1]
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, value_name = "SHARE", allow_negative_numbers = true)]
    pub share: Option<f64>,
    /// Extra delay in seconds (slow-users, extra-latency), in (0, 60]
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub seconds: Option<f64>,
    /// Route template affected (error-share, extra-latency), e.g. /random
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, value_name = "ROUTE")]
    pub route: Option<String>,
    /// Feature affected: age, income, debt_ratio, credit_history_months (feature-drift);
    /// also employment, region (missing-feature)
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, value_name = "FEATURE")]
    pub feature: Option<String>,
    /// Shift of feature-drift in standard deviations of the training values (negative moves
    /// the feature down), in [-3, 3]
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, value_name = "SD", allow_hyphen_values = true)]
    pub shift: Option<f64>,
    /// Employment category declined whatever the score (declined-group): employed,
    /// self_employed, unemployed, student
    #[serde(skip_serializing_if = "Option::is_none")]
    #[arg(long, value_name = "CATEGORY")]
    pub group: Option<String>,
}

impl Params {
    /// These parameters to run for `duration`.
    pub fn lasting(duration: Duration) -> Self {
        Self {
            duration: Some(duration),
            ..Self::default()
        }
    }
}

/// One incident's state, as the admin API reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IncidentState {
    /// Name.
    pub name: String,
    /// Severity monitoring must catch it at.
    pub severity: Severity,
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
    /// Parameters in effect (or the defaults, when inactive); the duration shows as `ends_at`
    /// and `remaining_seconds`, not here.
    pub params: Params,
}

/// Answer of `GET /admin/slow-users`: the users the slow-users incident slowed since it last
/// started, the truth a test checks `monlab diagnose slow-requests` against.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SlowUsers {
    /// The users, sorted.
    pub users: Vec<String>,
    /// Whether the set reached its bound and is incomplete.
    pub truncated: bool,
}

/// Answer of `GET /admin/incidents` and `GET /incidents`.
#[derive(Debug, Serialize, Deserialize)]
pub struct IncidentList {
    /// The service's time warp K: durations here are in system seconds, K per wall second.
    #[serde(default = "super::real_time")]
    pub speed: u32,
    /// Every incident.
    pub incidents: Vec<IncidentState>,
}

/// Answer of a start or stop: the incident's state here, and how many replicas the change
/// reached (absent when the service has no peers, or the call was passed on by a peer).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncidentChange {
    /// The state on this replica.
    #[serde(flatten)]
    pub state: IncidentState,
    /// Whether it was in progress before this call (for a stop: whether anything was stopped).
    pub was_active: bool,
    /// Where the change took effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Reach>,
}

/// How many replicas an incident change reached, and which did not answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reach {
    /// Replicas where the change took effect, this one included.
    pub applied: usize,
    /// Replicas in all, this one included.
    pub of: usize,
    /// The replicas it did not reach, each with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<PeerFailure>,
}

/// A peer that did not apply a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerFailure {
    /// Its base URL.
    pub url: String,
    /// What went wrong.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_body_reads_durations_once_and_refuses_unknown_keys() {
        let p: Params =
            serde_json::from_str(r#"{"for": "90s", "share": 0.5, "route": "/random"}"#).unwrap();
        assert_eq!(p.duration, Some(Duration::from_secs(90)));
        assert_eq!(p.share, Some(0.5));
        // Written back as text that reads back the same.
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"for":"1m 30s","share":0.5,"route":"/random"}"#
        );
        assert_eq!(
            serde_json::to_string(&Params::lasting(DEFAULT_DURATION)).unwrap(),
            r#"{"for":"5m"}"#
        );
        let e = serde_json::from_str::<Params>(r#"{"shares": 0.5}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `shares`"), "{e}");
        let e = serde_json::from_str::<Params>(r#"{"for": "soon"}"#).unwrap_err();
        assert!(e.to_string().contains("such as 250ms"), "{e}");
        assert_eq!(serde_json::to_string(&Params::default()).unwrap(), "{}");
    }
}
