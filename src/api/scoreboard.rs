//! A played scenario's scoreboard: the rows `monlab incident play` prints, posts to
//! `POST /admin/scoreboard` and the lab shows from `GET /lab/api/scoreboard`.

use super::alerts::AlertKey;
use super::Severity;
use serde::{Deserialize, Serialize};

/// One row of a scoreboard: an incident and how monitoring did on it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Row {
    /// Incident name.
    pub incident: String,
    /// Severity it must be caught at.
    pub expected_severity: Severity,
    /// The alert that caught it, if any.
    pub alert: Option<AlertKey>,
    /// Seconds from incident start to its firing notification.
    pub detection_seconds: Option<f64>,
    /// Seconds from incident end to its resolved notification.
    pub resolve_seconds: Option<f64>,
    /// Alerts of a higher severity that fired in the incident's span (should be none).
    pub over_severity: Vec<AlertKey>,
    /// Every alert that fired in the incident's span.
    pub fired: Vec<AlertKey>,
}

impl Row {
    /// Caught at the expected severity and nothing higher fired.
    pub fn passed(&self) -> bool {
        self.alert.is_some() && self.over_severity.is_empty()
    }
}

/// Body of `POST /admin/scoreboard`: what `monlab incident play` printed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreboardPost {
    /// The scenario played (its file or title).
    #[serde(default)]
    pub scenario: Option<String>,
    /// The time warp K the scenario was played at (1 when absent).
    #[serde(default = "super::real_time")]
    pub speed: u32,
    /// One row per incident of the scenario.
    pub rows: Vec<Row>,
}

/// A scoreboard as the lab shows it (the answer of a post, and of the lab's read).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredScoreboard {
    /// The scenario played.
    pub scenario: Option<String>,
    /// When monlab received it, seconds since the Unix epoch.
    pub received_at: f64,
    /// Whether every incident was caught at its severity.
    pub passed: bool,
    /// The time warp K of the play; the rows' times are system seconds.
    #[serde(default = "super::real_time")]
    pub speed: u32,
    /// The rows.
    pub rows: Vec<Row>,
}

/// Answer of `GET /lab/api/scoreboard`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoreboardAnswer {
    /// The last scoreboard, `null` before any scenario was played.
    pub scoreboard: Option<StoredScoreboard>,
}
