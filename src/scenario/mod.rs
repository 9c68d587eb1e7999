//! Scenarios: a timeline of incidents played against a running service, and the scoreboard
//! that says whether monitoring caught each one at the right severity, and how fast.
//!
//! A scenario file is TOML:
//! ```toml
//! name = "the three incidents"
//! [[step]]
//! incident = "auth-down"   # see `monlab incident list`
//! at = "30s"               # start offset from the beginning of the play
//! for = "3m"               # how long it lasts
//! # share = 0.01, seconds = 2.0, route = "/random", feature = "age", shift = 1.0
//! # where the incident takes them
//! ```
//! Each step is scored by the one rule in [`crate::incident::score`], from the notifications monlab's
//! webhook received: detection time runs from the incident's real start (as the service
//! recorded it) to the firing notification of the alert that caught it, resolve time from its
//! end to that alert's resolved notification. An alert that arrives within
//! [`crate::incident::score::GRACE`] after the end still counts.

pub mod client;

use crate::api::alerts::Notification;
use crate::api::incident::{Params, DEFAULT_DURATION};
use crate::api::now_seconds;
use crate::api::routes::WORK;
use crate::api::scoreboard::Row;
use crate::incident::score::{self, AlertSpan, Window, GRACE};
use crate::incident::Incident;
use client::{AdminClient, ClientError};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// A scenario as written in its file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A title.
    #[serde(default)]
    pub name: String,
    /// The steps, in any order.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

/// One incident of a scenario.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Incident name.
    pub incident: String,
    /// Offset from the start of the play, e.g. `30s`.
    #[serde(with = "crate::api::duration::text")]
    pub at: Duration,
    /// How long (`for`, required here) and the incident's parameters, as the admin API
    /// takes them.
    #[serde(flatten)]
    pub params: Params,
}

/// A scenario file that cannot be played.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScenarioError(pub String);

/// A validated step.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    /// The incident.
    pub incident: Incident,
    /// Offset from the start.
    pub at: Duration,
    /// Its duration and parameters, as sent to the admin API.
    pub params: Params,
}

impl PlannedStep {
    /// How long it runs.
    pub fn duration(&self) -> Duration {
        self.params.duration.unwrap_or(DEFAULT_DURATION)
    }
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Vec<PlannedStep>, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError(format!("cannot read scenario {}: {e}", path.display())))?;
        let s: Scenario = toml::from_str(&text).map_err(|e| {
            ScenarioError(format!(
                "scenario {} is invalid: {}",
                path.display(),
                e.message()
            ))
        })?;
        s.plan()
            .map_err(|e| ScenarioError(format!("scenario {}: {}", path.display(), e.0)))
    }

    /// Validates the steps and sorts them by start.
    pub fn plan(&self) -> Result<Vec<PlannedStep>, ScenarioError> {
        if self.steps.is_empty() {
            return Err(ScenarioError("has no [[step]]".into()));
        }
        let mut out = Vec::new();
        for (i, s) in self.steps.iter().enumerate() {
            let incident = Incident::from_name(&s.incident).ok_or_else(|| {
                ScenarioError(format!(
                    "step {}: unknown incident {:?} (known: {})",
                    i + 1,
                    s.incident,
                    Incident::ALL.map(Incident::name).join(", ")
                ))
            })?;
            if s.params.duration.is_none() {
                return Err(ScenarioError(format!("step {}: for is missing", i + 1)));
            }
            // Checked here so a bad step fails before the play starts; the service resolves
            // the defaults again when it starts the incident.
            incident
                .resolve(s.params.clone(), WORK)
                .map_err(|e| ScenarioError(format!("step {}: {}", i + 1, e.message)))?;
            out.push(PlannedStep {
                incident,
                at: s.at,
                params: s.params.clone(),
            });
        }
        out.sort_by_key(|s| s.at);
        Ok(out)
    }
}

/// The outcome of a play.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Scoreboard {
    /// One row per step.
    pub rows: Vec<Row>,
    /// The time warp K the system ran at; the rows' times are system seconds.
    #[serde(default = "crate::api::real_time")]
    pub speed: u32,
}

impl std::fmt::Display for Scoreboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = |v: Option<f64>| v.map_or("—".to_string(), |s| format!("{s:.0} s"));
        if self.speed > 1 {
            writeln!(
                f,
                "time warp {k}× — 1 wall second is {k} system seconds; times below are system seconds",
                k = self.speed
            )?;
        }
        writeln!(
            f,
            "{:<16} {:<9} {:<34} {:>9} {:>9}  verdict",
            "incident", "expected", "alert seen", "detected", "resolved"
        )?;
        for r in &self.rows {
            let verdict = match (&r.alert, r.over_severity.is_empty()) {
                (Some(_), true) => "caught".to_string(),
                (Some(_), false) => format!("over-paged: {}", joined(&r.over_severity)),
                (None, true) => "MISSED".to_string(),
                (None, false) => format!("MISSED, over-paged: {}", joined(&r.over_severity)),
            };
            writeln!(
                f,
                "{:<16} {:<9} {:<34} {:>9} {:>9}  {}",
                r.incident,
                r.expected_severity,
                r.alert.as_ref().map_or("—".into(), ToString::to_string),
                secs(r.detection_seconds),
                secs(r.resolve_seconds),
                verdict
            )?;
        }
        Ok(())
    }
}

/// Alerts as a list in a sentence: `A (critical), B (major)`.
fn joined(keys: &[crate::api::alerts::AlertKey]) -> String {
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The alerts the webhook saw, as spans from each firing notification to the resolved one
/// (an alert is one label set; repeated firing notifications extend its open span).
pub fn spans(notifications: &[Notification]) -> Vec<AlertSpan> {
    let mut out: Vec<AlertSpan> = Vec::new();
    for n in notifications {
        for a in &n.alerts {
            let open = out
                .iter_mut()
                .rev()
                .find(|s| s.labels == a.labels && s.end.is_none());
            match (a.status.as_str(), open) {
                ("firing", None) => out.push(AlertSpan::new(a.labels.clone(), n.received_at, None)),
                ("resolved", Some(s)) => s.end = Some(n.received_at),
                _ => {}
            }
        }
    }
    out
}

/// Scores played steps from the notifications received since the play began, on a system
/// running at time warp `speed` (times in the rows are system seconds).
pub fn score(windows: &[Window], notifications: &[Notification], speed: u32) -> Scoreboard {
    let mut system = windows.to_vec();
    let mut alerts = spans(notifications);
    score::in_system_time(speed, &mut system, &mut alerts);
    let outcomes = score::score_all(&system, &alerts, GRACE);
    Scoreboard {
        speed,
        rows: windows
            .iter()
            .zip(outcomes)
            .map(|(w, o)| w.row(o))
            .collect(),
    }
}

/// How a play waits for resolution.
#[derive(Debug, Clone, Copy)]
pub struct PlayOptions {
    /// After the last incident ends, how long to wait for resolved notifications at most.
    pub resolve_wait: Duration,
    /// How often to poll the alert log.
    pub poll: Duration,
}

impl PlayOptions {
    /// The default options with `--resolve-wait` applied when given.
    pub fn with_resolve_wait(raw: Option<&str>) -> Result<Self, String> {
        let mut opts = Self::default();
        if let Some(raw) = raw {
            opts.resolve_wait = crate::api::duration::parse(raw)
                .map_err(|e| format!("invalid --resolve-wait '{raw}': {e}"))?;
        }
        Ok(opts)
    }
}

impl Default for PlayOptions {
    fn default() -> Self {
        Self {
            resolve_wait: Duration::from_secs(600),
            poll: Duration::from_secs(1),
        }
    }
}

/// Plays the steps against the service behind `client` and scores them. Once the last step
/// has ended it waits until every caught alert has resolved and the grace for late alerts has
/// passed (or everything was caught), at most `opts.resolve_wait`.
pub async fn play(
    client: &AdminClient,
    steps: &[PlannedStep],
    opts: PlayOptions,
) -> Result<Scoreboard, ClientError> {
    // The service says its time warp: a scenario's times are system times, K times shorter
    // on the wall clock, and the scoreboard speaks system seconds.
    let speed = client.speed().await?;
    let wall = |d: Duration| d / speed;
    let cursor = client.notifications(0).await?.last().map_or(0, |n| n.seq);
    let t0 = tokio::time::Instant::now();
    let mut windows: Vec<Window> = Vec::new();
    for step in steps {
        tokio::time::sleep_until(t0 + wall(step.at)).await;
        let state = client
            .start(step.incident.name(), &step.params)
            .await?
            .state;
        let started = state.started_at.unwrap_or_else(now_seconds);
        tracing::info!(incident = step.incident.name(), "Scenario step started.");
        let end = started + wall(step.duration()).as_secs_f64();
        windows.push(Window::from_state(step.incident, &state, end));
    }
    let last_end = steps
        .iter()
        .map(|s| s.at + s.duration())
        .max()
        .unwrap_or_default();
    let deadline = t0 + wall(last_end + opts.resolve_wait);
    let graced = t0 + wall(last_end + Duration::from_secs_f64(GRACE));
    let last_end = wall(last_end);
    loop {
        let seen = client.notifications(cursor).await?;
        let board = score(&windows, &seen, speed);
        let t = tokio::time::Instant::now();
        let resolved = board
            .rows
            .iter()
            .all(|r| r.alert.is_none() || r.resolve_seconds.is_some());
        let all_caught = board.rows.iter().all(|r| r.alert.is_some());
        // Done once every incident ended, every caught alert resolved and no late alert can
        // still be credited; or when time is up.
        let settled = t >= t0 + last_end && resolved && (all_caught || t >= graced);
        if settled || t >= deadline {
            return Ok(board);
        }
        tokio::time::sleep(opts.poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::alerts::WebhookAlert;
    use crate::api::Severity;

    fn note(at: f64, status: &str, name: &str, severity: &str) -> Notification {
        Notification {
            seq: 0,
            received_at: at,
            receiver: "page".into(),
            status: status.into(),
            group_key: "g".into(),
            alerts: vec![WebhookAlert {
                status: status.into(),
                labels: [("alertname", name), ("severity", severity)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                annotations: Default::default(),
                starts_at: String::new(),
                ends_at: String::new(),
                fingerprint: String::new(),
            }],
        }
    }

    #[test]
    fn notifications_score_with_the_one_rule() {
        let notes = vec![
            note(90.0, "firing", "Early", "critical"),
            note(160.0, "firing", "MonlabModelFallbackHigh", "major"),
            note(170.0, "firing", "Louder", "critical"),
            // A repeat of a firing alert is the same span.
            note(200.0, "firing", "MonlabModelFallbackHigh", "major"),
            // Six seconds after the end: within the grace.
            note(406.0, "firing", "MonlabLoginsFailing", "critical"),
            note(420.0, "resolved", "MonlabModelFallbackHigh", "major"),
        ];
        let s = spans(&notes);
        assert_eq!(s.len(), 4);
        assert_eq!(s[1].end, Some(420.0));
        let w = Window {
            incident: Incident::ModelDown,
            severity: Severity::Major,
            signals: Incident::ModelDown.signals(&Default::default()),
            start: 100.0,
            end: 400.0,
        };
        let board = score(std::slice::from_ref(&w), &notes, 1);
        let row = &board.rows[0];
        assert_eq!(
            row.alert.as_ref().map(ToString::to_string).as_deref(),
            Some("MonlabModelFallbackHigh (major)")
        );
        assert_eq!(row.detection_seconds, Some(60.0));
        assert_eq!(row.resolve_seconds, Some(20.0));
        assert_eq!(
            joined(&row.over_severity),
            "Louder (critical), MonlabLoginsFailing (critical)"
        );
        assert!(!row.passed());
        assert!(board.to_string().contains("over-paged: Louder (critical)"));
    }

    #[test]
    fn scenario_files_are_validated() {
        let bad = |text: &str| {
            toml::from_str::<Scenario>(text)
                .map_err(|e| e.to_string())
                .and_then(|s| s.plan().map(|_| ()).map_err(|e| e.0))
                .unwrap_err()
        };
        assert!(
            bad("[[step]]\nincident = \"nope\"\nat = \"1s\"\nfor = \"1m\"\n")
                .contains("unknown incident")
        );
        assert!(
            bad("[[step]]\nincident = \"auth-down\"\nat = \"soon\"\nfor = \"1m\"\n").contains("at")
        );
        assert!(bad(
            "[[step]]\nincident = \"auth-down\"\nat = \"1s\"\nfor = \"1m\"\nshare = 0.5\n"
        )
        .contains("share"));
        assert!(bad("name = \"x\"\nstep = []\n").contains("no [[step]]"));
        let ok: Scenario = toml::from_str(
            "[[step]]\nincident = \"slow-users\"\nat = \"2m\"\nfor = \"1m\"\n[[step]]\nincident = \"auth-down\"\nat = \"0s\"\nfor = \"1m\"\n",
        )
        .unwrap();
        let plan = ok.plan().unwrap();
        assert_eq!(plan[0].incident, Incident::AuthDown);
    }

    #[test]
    fn shipped_scenarios_plan() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let steps = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
                assert!(!steps.is_empty(), "{}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 2, "scenarios found: {seen}");
    }
}
