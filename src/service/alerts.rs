//! Receives Alertmanager's webhooks, so the loop from incident to page closes inside monlab.
//!
//! `POST /alerts/webhook` validates the payload (Alertmanager webhook version 4), records the
//! notification in a bounded in-memory log and counts each alert by severity and status;
//! `GET /alerts/notifications` lists what arrived, oldest first.
//!
//! Two views of the same log: `raw` is every notification as delivered; `dedup` (the default)
//! keeps each (group key, alert fingerprint, startsAt, status) once. An Alertmanager cluster
//! sends one firing notification per group, but after a resolve a lagging peer can send a
//! stale "firing" and then a second "resolved" (upstream alertmanager issues #2447, #4008,
//! #3551), and every `repeat_interval` re-sends what still fires. Neither is news to a person
//! being paged, so the dedup view drops them, while the raw view keeps the evidence.
//!
//! The always-firing `Watchdog` alert is a heartbeat, not news: it is recorded apart
//! (`GET /alerts/heartbeat`, `monlab_watchdog_heartbeat_age_seconds`) so a silent alerting
//! pipeline is itself visible.

use super::error::{ApiError, JsonBody};
use super::AppState;
use crate::api::alerts::{Heartbeat, Notification, View, WebhookAlert, WebhookPayload, WATCHDOG};
use crate::api::{now_seconds, Severity};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use parking_lot::Mutex;
use serde::Deserialize;
use std::collections::{HashSet, VecDeque};

/// How many notifications are kept; older ones are dropped (counters keep the totals).
pub(crate) const KEEP: usize = 2000;

/// How many dedup keys are remembered; older ones are forgotten first.
const KEEP_KEYS: usize = 50_000;

type DedupKey = (String, String, String, String);

#[derive(Debug, Default)]
struct LogState {
    seq: u64,
    // Each notification with, per alert, whether it was new (the dedup view's mask).
    entries: VecDeque<(Notification, Vec<bool>)>,
    seen: HashSet<DedupKey>,
    seen_order: VecDeque<DedupKey>,
    heartbeats: u64,
    last_heartbeat: Option<f64>,
}

/// The bounded log of received notifications.
#[derive(Debug, Default)]
pub struct AlertLog {
    inner: Mutex<LogState>,
}

fn dedup_key(group_key: &str, a: &WebhookAlert) -> DedupKey {
    // Without a fingerprint (older senders), the labels identify the alert.
    let identity = if a.fingerprint.is_empty() {
        format!("{:?}", a.labels)
    } else {
        a.fingerprint.clone()
    };
    (
        group_key.into(),
        identity,
        a.starts_at.clone(),
        a.status.clone(),
    )
}

impl AlertLog {
    /// Records a notification: heartbeats apart, the rest in the log, dropping the oldest
    /// beyond [`KEEP`]. Returns the notification and how many of its alerts were new.
    pub fn push(&self, payload: WebhookPayload) -> (Notification, usize) {
        let mut g = self.inner.lock();
        let now = now_seconds();
        let (beats, rest): (Vec<WebhookAlert>, Vec<WebhookAlert>) = payload
            .alerts
            .into_iter()
            .partition(|a| a.labels.get("alertname").map(String::as_str) == Some(WATCHDOG));
        if !beats.is_empty() {
            g.heartbeats += 1;
            g.last_heartbeat = Some(now);
        }
        g.seq += 1;
        let n = Notification {
            seq: g.seq,
            received_at: now,
            receiver: payload.receiver,
            status: payload.status,
            group_key: payload.group_key,
            alerts: rest,
        };
        if n.alerts.is_empty() {
            return (n, 0);
        }
        let mut fresh = Vec::with_capacity(n.alerts.len());
        for a in &n.alerts {
            let key = dedup_key(&n.group_key, a);
            let new = g.seen.insert(key.clone());
            if new {
                g.seen_order.push_back(key);
                if g.seen_order.len() > KEEP_KEYS {
                    if let Some(old) = g.seen_order.pop_front() {
                        g.seen.remove(&old);
                    }
                }
            }
            fresh.push(new);
        }
        let new_count = fresh.iter().filter(|f| **f).count();
        if g.entries.len() == KEEP {
            g.entries.pop_front();
        }
        g.entries.push_back((n.clone(), fresh));
        (n, new_count)
    }

    /// Notifications with `seq > after`, oldest first, in the chosen view.
    pub fn since(&self, after: u64, view: View) -> Vec<Notification> {
        let g = self.inner.lock();
        g.entries
            .iter()
            .filter(|(n, _)| n.seq > after)
            .filter_map(|(n, fresh)| match view {
                View::Raw => Some(n.clone()),
                View::Dedup => {
                    let alerts: Vec<WebhookAlert> = n
                        .alerts
                        .iter()
                        .zip(fresh)
                        .filter(|(_, f)| **f)
                        .map(|(a, _)| a.clone())
                        .collect();
                    (!alerts.is_empty()).then(|| Notification {
                        alerts,
                        ..n.clone()
                    })
                }
            })
            .collect()
    }

    /// The heartbeat's state.
    pub fn heartbeat(&self) -> Heartbeat {
        let g = self.inner.lock();
        Heartbeat {
            count: g.heartbeats,
            last_at: g.last_heartbeat,
            age_seconds: g.last_heartbeat.map(|t| (now_seconds() - t).max(0.0)),
        }
    }
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
pub(crate) async fn webhook(
    State(state): State<AppState>,
    JsonBody(payload): JsonBody<WebhookPayload>,
) -> Result<StatusCode, ApiError> {
    validate(&payload)?;
    let (n, new) = state.alert_log.push(payload);
    if let Some(at) = state
        .alert_log
        .heartbeat()
        .last_at
        .filter(|t| *t >= n.received_at)
    {
        state.metrics.heartbeat(at);
    }
    // Count each alert once: the dedup view of this notification holds only its new alerts.
    let fresh = state.alert_log.since(n.seq - 1, View::Dedup);
    for a in fresh.iter().flat_map(|n| &n.alerts) {
        // monlab's severities are counted by name; anything else as `other`.
        let severity = a.key().severity.map_or("other", Severity::as_str);
        let status = if a.status == "firing" {
            "firing"
        } else {
            "resolved"
        };
        state.metrics.alerts_received(severity, status);
    }
    state
        .metrics
        .alert_duplicates((n.alerts.len() - new) as u64);
    if !n.alerts.is_empty() {
        tracing::info!(
            receiver = %n.receiver,
            status = %n.status,
            alerts = n.alerts.len(),
            new,
            "Alert notification received."
        );
    }
    Ok(StatusCode::OK)
}

/// Query of `GET /alerts/notifications`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// Only notifications after this sequence number.
    #[serde(default)]
    pub after: u64,
    /// `dedup` (default) or `raw`.
    #[serde(default)]
    pub view: View,
}

/// `GET /alerts/notifications`.
pub(crate) async fn list(
    State(state): State<AppState>,
    super::error::Query(p): super::error::Query<ListParams>,
) -> Json<Vec<Notification>> {
    Json(state.alert_log.since(p.after, p.view))
}

/// `GET /alerts/heartbeat`.
pub(crate) async fn heartbeat(State(state): State<AppState>) -> Json<Heartbeat> {
    Json(state.alert_log.heartbeat())
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
        let all = log.since(0, View::Raw);
        assert_eq!(all.len(), KEEP);
        assert_eq!(all[0].seq, 6);
        assert_eq!(log.since(KEEP as u64, View::Raw).len(), 5);
        // The same alert over and over is news once (and the first was dropped from the log).
        assert_eq!(log.since(0, View::Dedup).len(), 0);
    }

    fn alert(status: &str, fp: &str, starts: &str) -> serde_json::Value {
        serde_json::json!({"status": status, "labels": {"alertname": "X", "severity": "critical"},
                           "fingerprint": fp, "startsAt": starts})
    }

    /// The sequence seen from an Alertmanager cluster after a resolve: firing, resolved, a
    /// stale firing from a lagging peer, a second resolved. Then a new episode.
    #[test]
    fn dedup_drops_cluster_echoes_and_keeps_new_episodes() {
        let log = AlertLog::default();
        for (status, starts) in [
            ("firing", "t1"),
            ("firing", "t1"),
            ("resolved", "t1"),
            ("firing", "t1"),
            ("resolved", "t1"),
            ("firing", "t2"),
        ] {
            log.push(payload(
                "4",
                status,
                serde_json::json!([alert(status, "fp", starts)]),
            ));
        }
        assert_eq!(log.since(0, View::Raw).len(), 6);
        let dedup = log.since(0, View::Dedup);
        let seen: Vec<(&str, &str)> = dedup
            .iter()
            .map(|n| (n.alerts[0].status.as_str(), n.alerts[0].starts_at.as_str()))
            .collect();
        assert_eq!(
            seen,
            [("firing", "t1"), ("resolved", "t1"), ("firing", "t2")]
        );
    }

    #[test]
    fn watchdog_is_a_heartbeat_not_a_notification() {
        let log = AlertLog::default();
        assert_eq!(log.heartbeat().count, 0);
        let beat = serde_json::json!([{"status": "firing", "labels": {"alertname": WATCHDOG}}]);
        log.push(payload("4", "firing", beat.clone()));
        log.push(payload("4", "firing", beat));
        let hb = log.heartbeat();
        assert_eq!(hb.count, 2);
        assert!(hb.age_seconds.unwrap() < 5.0);
        assert!(log.since(0, View::Raw).is_empty());
    }
}
