//! What the alerting sent: waiting for a notification at the service's webhook, and judging
//! a scored incident.

use monlab::api::alerts::{AlertKey, Notification};
use monlab::api::scoreboard::Row;
use monlab::scenario::client::AdminClient;
use std::time::Duration;

/// Polls the webhook's deduplicated notifications until one holds `alertname` with `status`
/// ("firing", "resolved"); returns it, or fails after `within` naming what came instead.
pub async fn wait_for_notification(
    admin: &AdminClient,
    alertname: &str,
    status: &str,
    within: Duration,
) -> Notification {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let seen = admin.notifications(0).await.unwrap();
        if let Some(n) = seen.iter().find(|n| {
            n.alerts.iter().any(|a| {
                a.status == status
                    && a.labels.get("alertname").map(String::as_str) == Some(alertname)
            })
        }) {
            return n.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {status} notification of {alertname} within {within:?}; received: {seen:#?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The incident of `row` was caught: `alert` fired at the severity expected of it, and no
/// louder alert fired.
pub fn assert_caught(row: &Row, alert: &str) {
    let expected = AlertKey {
        name: alert.into(),
        severity: Some(row.expected_severity),
    };
    assert!(
        row.alert.is_some() && row.fired.contains(&expected),
        "{}: expected {expected}, got {:?} (fired: {:?})",
        row.incident,
        row.alert,
        row.fired
    );
    assert!(
        row.over_severity.is_empty(),
        "{}: higher-severity alerts fired: {:?}",
        row.incident,
        row.over_severity
    );
}
