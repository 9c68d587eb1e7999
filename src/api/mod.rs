//! The wire contract: every body, answer and path that the service and its clients (`load`,
//! `incident`, scenarios, `recover`, the tests) exchange, and nothing that serves them. Types
//! here are plain serde data; the service's handlers and the clients both import them, so a
//! field renamed here is renamed on both sides.
//!
//! - [`routes`]: the route templates.
//! - [`incident`]: incident parameters (one [`incident::Params`] for the API, the CLI and
//!   scenarios), states and lists, the answer of a change and how far it reached.
//! - [`alerts`]: [`Severity`], an alert's identity ([`alerts::AlertKey`]), the webhook body
//!   and the stored notifications.
//! - [`login`], [`predict`]: the bodies of `/login`, `/predict` and `/feedback`.
//! - [`distributions`]: what `/random` answers and `/distributions` tells about it.
//! - [`scoreboard`]: a played scenario's scoreboard, as posted and stored for the lab.
//! - [`duration`]: durations as they cross the wire ("5m"), parsed once.
//! - [`error`]: reading an error answer on the client side.

pub mod alerts;
pub mod distributions;
pub mod duration;
pub(crate) mod error;
pub mod incident;
pub mod login;
pub mod predict;
pub mod routes;
pub mod scoreboard;

pub use alerts::Severity;

/// Seconds since the Unix epoch, as a float: the unit of every timestamp in the contract
/// (`started_at`, `received_at`, …).
pub fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A contract timestamp (Unix seconds) as RFC 3339, UTC, whole seconds.
pub(crate) fn rfc3339(unix: f64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(unix.max(0.0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The time warp K = 1 as a number: the serde default of a `speed` field that an older sender
/// leaves out.
pub fn real_time() -> u32 {
    1
}
