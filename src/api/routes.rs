//! Route templates: the paths of the service, which its clients call and its router serves.
//! These are the only values the `route` label takes besides `unmatched`.

/// Random value after a random delay.
pub const RANDOM: &str = "/random";
/// The configured distributions.
pub const DISTRIBUTIONS: &str = "/distributions";
/// Liveness.
pub const HEALTHZ: &str = "/healthz";
/// Readiness.
pub const READYZ: &str = "/readyz";
/// Prometheus exposition.
pub const METRICS: &str = "/metrics";
/// Login (the authorization service).
pub const LOGIN: &str = "/login";
/// Credit-risk prediction.
pub const PREDICT: &str = "/predict";
/// The true outcome of a prediction, sent late.
pub const FEEDBACK: &str = "/feedback";
/// Incidents in progress with their parameters, read-only and public (the load generator
/// reads it to play the incidents that happen in the world).
pub const INCIDENTS: &str = "/incidents";
/// Alertmanager's webhook.
pub const ALERTS_WEBHOOK: &str = "/alerts/webhook";
/// Received alert notifications.
pub const ALERTS_NOTIFICATIONS: &str = "/alerts/notifications";
/// The Watchdog heartbeat.
pub const ALERTS_HEARTBEAT: &str = "/alerts/heartbeat";
/// Incident list.
pub const ADMIN_INCIDENTS: &str = "/admin/incidents";
/// One incident.
pub const ADMIN_INCIDENT: &str = "/admin/incidents/{name}";
/// The users the slow-users incident slowed (the truth tests check `diagnose` against).
pub const ADMIN_SLOW_USERS: &str = "/admin/slow-users";
/// Stores the last scenario's scoreboard for the lab.
pub const ADMIN_SCOREBOARD: &str = "/admin/scoreboard";
/// Redirects to the lab.
pub const ROOT: &str = "/";
/// The lab page.
pub const LAB: &str = "/lab";
/// The lab's script and style sheet.
pub const LAB_ASSET: &str = "/lab/assets/{file}";
/// A runbook, as the lab's alerts link to it.
pub const LAB_RUNBOOK: &str = "/lab/runbooks/{name}";
/// Whether the lab's Prometheus and Alertmanager answer.
pub const LAB_STATUS: &str = "/lab/api/status";
/// Every incident with its state, for the lab.
pub const LAB_INCIDENTS: &str = "/lab/api/incidents";
/// The last scenario's scoreboard.
pub const LAB_SCOREBOARD: &str = "/lab/api/scoreboard";
/// The distributions of `/random`, recovered on demand.
pub const LAB_RECOVER: &str = "/lab/api/recover";
/// Read-only proxy to Prometheus's query API (one template for every proxied path).
pub const LAB_PROMETHEUS: &str = "/lab/api/prometheus/{*path}";
/// Read-only proxy to Alertmanager's alert list.
pub const LAB_ALERTMANAGER: &str = "/lab/api/alertmanager/{*path}";
/// The work routes: load-shed, fault-injected, covered by the latency SLO.
pub const WORK: &[&str] = &[RANDOM, LOGIN, PREDICT];
/// Every template above.
pub const ALL: &[&str] = &[
    RANDOM,
    LOGIN,
    PREDICT,
    FEEDBACK,
    INCIDENTS,
    DISTRIBUTIONS,
    HEALTHZ,
    READYZ,
    METRICS,
    ALERTS_WEBHOOK,
    ALERTS_NOTIFICATIONS,
    ALERTS_HEARTBEAT,
    ADMIN_INCIDENTS,
    ADMIN_INCIDENT,
    ADMIN_SCOREBOARD,
    ADMIN_SLOW_USERS,
    ROOT,
    LAB,
    LAB_ASSET,
    LAB_RUNBOOK,
    LAB_STATUS,
    LAB_INCIDENTS,
    LAB_SCOREBOARD,
    LAB_RECOVER,
    LAB_PROMETHEUS,
    LAB_ALERTMANAGER,
];
