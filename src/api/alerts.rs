//! Alerts on the wire: their [`Severity`], an alert's identity ([`AlertKey`]), the body of
//! Alertmanager's webhook (version 4) and the notifications monlab stores from it.
//!
//! Labels stay text on the wire (Alertmanager sends whatever the rules set); the severity is
//! parsed once, where an alert becomes something monlab reasons about.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How loud an alert is, and at which loudness an incident must be caught. Ordered by
/// seriousness: `Minor < Major < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A ticket for later (Alertmanager's `minor` route).
    Minor,
    /// A ticket for today.
    Major,
    /// A page: someone acts now.
    Critical,
}

impl Severity {
    /// Every severity, loudest first.
    pub const ALL: [Severity; 3] = [Self::Critical, Self::Major, Self::Minor];

    /// The label value: `critical`, `major` or `minor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Major => "major",
            Self::Minor => "minor",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A severity label that is none of monlab's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?}: expected critical, major or minor")]
pub struct UnknownSeverity(pub String);

impl std::str::FromStr for Severity {
    type Err = UnknownSeverity;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownSeverity(s.chars().take(40).collect()))
    }
}

/// Which alert: its `alertname` and its severity (`None` when the label is absent or not one
/// of monlab's). Written `name (severity)`, or `name` alone without a severity, in
/// scoreboards and their JSON.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlertKey {
    /// `alertname`.
    pub name: String,
    /// `severity`, parsed.
    pub severity: Option<Severity>,
}

impl AlertKey {
    /// The key of an alert with these labels.
    pub fn of(labels: &BTreeMap<String, String>) -> Self {
        Self {
            name: labels.get("alertname").cloned().unwrap_or_default(),
            severity: labels.get("severity").and_then(|s| s.parse().ok()),
        }
    }
}

impl fmt::Display for AlertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.severity {
            Some(s) => write!(f, "{} ({s})", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl std::str::FromStr for AlertKey {
    type Err = std::convert::Infallible;

    /// Reads what [`Display`](fmt::Display) wrote; text without a known severity in
    /// parentheses is all name, so any text reads back to itself.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let split = s
            .strip_suffix(')')
            .and_then(|rest| rest.rsplit_once(" ("))
            .and_then(|(name, sev)| Some((name, sev.parse::<Severity>().ok()?)));
        Ok(match split {
            Some((name, severity)) => Self {
                name: name.into(),
                severity: Some(severity),
            },
            None => Self {
                name: s.into(),
                severity: None,
            },
        })
    }
}

impl Serialize for AlertKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AlertKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let Ok(key) = text.parse();
        Ok(key)
    }
}

/// One alert inside a notification, as Alertmanager sends it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Labels, including `alertname` and `severity`.
    pub labels: BTreeMap<String, String>,
    /// Annotations (`summary`, `description`, `runbook_url`).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// When the alert started firing (RFC 3339).
    #[serde(default)]
    pub starts_at: String,
    /// When it resolved, or a zero time while firing.
    #[serde(default)]
    pub ends_at: String,
    /// Alertmanager's identity of the alert.
    #[serde(default)]
    pub fingerprint: String,
}

impl WebhookAlert {
    /// Which alert this is.
    pub fn key(&self) -> AlertKey {
        AlertKey::of(&self.labels)
    }
}

/// The webhook body (version 4).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    /// Payload version; must be "4".
    pub version: String,
    /// The group this notification is about.
    pub group_key: String,
    /// `firing` when any alert of the group fires, else `resolved`.
    pub status: String,
    /// The receiver name from alertmanager.yml.
    pub receiver: String,
    /// The alerts of the group.
    pub alerts: Vec<WebhookAlert>,
}

/// The alert name of the heartbeat alert (always firing while the pipeline works).
pub const WATCHDOG: &str = "Watchdog";

/// A recorded notification, as `GET /alerts/notifications` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    /// Sequence number, from 1.
    pub seq: u64,
    /// When monlab received it, seconds since the Unix epoch.
    pub received_at: f64,
    /// Receiver name.
    pub receiver: String,
    /// Group status.
    pub status: String,
    /// Group key.
    pub group_key: String,
    /// The alerts.
    pub alerts: Vec<WebhookAlert>,
}

/// Which view of the notification log to read (`view=` of `GET /alerts/notifications`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// Each (group key, fingerprint, startsAt, status) once.
    #[default]
    Dedup,
    /// Every notification as delivered.
    Raw,
}

/// The heartbeat's state, as `GET /alerts/heartbeat` reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Heartbeat {
    /// Heartbeats received.
    pub count: u64,
    /// When the last arrived, seconds since the Unix epoch.
    pub last_at: Option<f64>,
    /// Seconds since the last one.
    pub age_seconds: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_order_by_seriousness_and_read_back() {
        assert!(Severity::Critical > Severity::Major && Severity::Major > Severity::Minor);
        for s in Severity::ALL {
            assert_eq!(s.to_string().parse::<Severity>(), Ok(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        let e = "warning".parse::<Severity>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown severity \"warning\": expected critical, major or minor"
        );
    }

    #[test]
    fn an_alert_key_is_written_and_read_as_name_and_severity() {
        let key = AlertKey {
            name: "MonlabLoginsFailing".into(),
            severity: Some(Severity::Critical),
        };
        assert_eq!(key.to_string(), "MonlabLoginsFailing (critical)");
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(json, "\"MonlabLoginsFailing (critical)\"");
        assert_eq!(serde_json::from_str::<AlertKey>(&json).unwrap(), key);
        // Someone else's severity stays part of the text, read back unchanged.
        let other: AlertKey = "Foo (warning)".parse().unwrap();
        assert_eq!(
            (other.name.as_str(), other.severity),
            ("Foo (warning)", None)
        );
        assert_eq!(other.to_string(), "Foo (warning)");
        let labels = [("alertname", "X"), ("severity", "major")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(AlertKey::of(&labels).to_string(), "X (major)");
    }
}
