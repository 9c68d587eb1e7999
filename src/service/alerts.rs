//! Receives Alertmanager's webhooks, so the loop from incident to page closes inside monlab.
//!
//! `POST /alerts/webhook` validates the payload (Alertmanager webhook version 4), records the
//! notification in a bounded in-memory log and counts each alert by severity and status;
//! `GET /alerts/notifications` lists what arrived, oldest first.

use super::error::{ApiError, JsonBody};
use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// How many notifications are kept; older ones are dropped (counters keep the totals).
pub const KEEP: usize = 2000;

/// Severity label values counted by name; anything else is counted as `other`.
const SEVERITIES: [&str; 3] = ["critical", "major", "minor"];

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

/// The webhook body (version 4).
#[derive(Debug, Clone, Deserialize)]
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

/// A recorded notification.
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

/// The bounded log of received notifications.
#[derive(Debug, Default)]
pub struct AlertLog {
    inner: Mutex<(u64, VecDeque<Notification>)>,
}

impl AlertLog {
    /// Appends a notification, dropping the oldest beyond [`KEEP`].
    pub fn push(&self, payload: WebhookPayload) -> Notification {
        let mut g = self.inner.lock();
        g.0 += 1;
        let n = Notification {
            seq: g.0,
            received_at: now_seconds(),
            receiver: payload.receiver,
            status: payload.status,
            group_key: payload.group_key,
            alerts: payload.alerts,
        };
        if g.1.len() == KEEP {
            g.1.pop_front();
        }
        g.1.push_back(n.clone());
        n
    }

    /// Notifications with `seq > after`, oldest first.
    pub fn since(&self, after: u64) -> Vec<Notification> {
        self.inner
            .lock()
            .1
            .iter()
            .filter(|n| n.seq > after)
            .cloned()
            .collect()
    }
}

/// Seconds since the Unix epoch, as a float.
pub fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn validate(p: &WebhookPayload) -> Result<(), ApiError> {
    let bad = |field: &str, message: String| {
        Err(ApiError::Unprocessable {
            field: field.into(),
            message,
        })
    };
    if p.version != "4" {
        return bad(
            "version",
            format!(
                "version must be \"4\" (Alertmanager webhook), got {:?}",
                p.version
            ),
        );
    }
    if !matches!(p.status.as_str(), "firing" | "resolved") {
        return bad(
            "status",
            format!("status must be firing or resolved, got {:?}", p.status),
        );
    }
    if p.alerts.is_empty() {
        return bad("alerts", "alerts must hold at least one alert".into());
    }
    for (i, a) in p.alerts.iter().enumerate() {
        if !matches!(a.status.as_str(), "firing" | "resolved") {
            return bad(
                &format!("alerts[{i}].status"),
                format!(
                    "alerts[{i}].status must be firing or resolved, got {:?}",
                    a.status
                ),
            );
        }
        if a.labels.get("alertname").is_none_or(|n| n.is_empty()) {
            return bad(
                &format!("alerts[{i}].labels.alertname"),
                format!("alerts[{i}].labels.alertname is missing"),
            );
        }
    }
    Ok(())
}

/// `POST /alerts/webhook`.
pub async fn webhook(
    State(state): State<AppState>,
    JsonBody(payload): JsonBody<WebhookPayload>,
) -> Result<StatusCode, ApiError> {
    validate(&payload)?;
    for a in &payload.alerts {
        let severity = a
            .labels
            .get("severity")
            .map(String::as_str)
            .and_then(|s| SEVERITIES.iter().find(|k| **k == s).copied())
            .unwrap_or("other");
        let status = if a.status == "firing" {
            "firing"
        } else {
            "resolved"
        };
        state.metrics.alerts_received(severity, status);
    }
    let n = state.alert_log.push(payload);
    tracing::info!(
        receiver = %n.receiver,
        status = %n.status,
        alerts = n.alerts.len(),
        "Alert notification received."
    );
    Ok(StatusCode::OK)
}

/// Query of `GET /alerts/notifications`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only notifications after this sequence number.
    #[serde(default)]
    pub after: u64,
}

/// `GET /alerts/notifications`.
pub async fn list(
    State(state): State<AppState>,
    super::error::Query(p): super::error::Query<ListParams>,
) -> Json<Vec<Notification>> {
    Json(state.alert_log.since(p.after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(version: &str, status: &str, alerts: serde_json::Value) -> WebhookPayload {
        serde_json::from_value(serde_json::json!({
            "version": version, "groupKey": "{}:{alertname=\"X\"}", "status": status,
            "receiver": "page", "alerts": alerts
        }))
        .unwrap()
    }

    #[test]
    fn validation_names_the_field() {
        let ok = serde_json::json!([{"status": "firing", "labels": {"alertname": "X"}}]);
        assert!(validate(&payload("4", "firing", ok.clone())).is_ok());
        let cases = [
            (payload("3", "firing", ok.clone()), "version"),
            (payload("4", "burning", ok.clone()), "status"),
            (payload("4", "firing", serde_json::json!([])), "alerts"),
            (
                payload(
                    "4",
                    "firing",
                    serde_json::json!([{"status": "firing", "labels": {}}]),
                ),
                "alerts[0].labels.alertname",
            ),
        ];
        for (p, field) in cases {
            match validate(&p) {
                Err(ApiError::Unprocessable { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn log_is_bounded_and_ordered() {
        let log = AlertLog::default();
        for _ in 0..KEEP + 5 {
            log.push(payload(
                "4",
                "firing",
                serde_json::json!([{"status": "firing", "labels": {"alertname": "X"}}]),
            ));
        }
        let all = log.since(0);
        assert_eq!(all.len(), KEEP);
        assert_eq!(all[0].seq, 6);
        assert_eq!(log.since(KEEP as u64).len(), 5);
    }
}
