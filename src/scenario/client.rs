//! A client of the service's admin API and alert log, used by `monlab incident`, scenarios,
//! `up` and the tests.

use crate::api::alerts::Notification;
use crate::api::error::{innermost, message_of};
use crate::api::incident::{IncidentChange, IncidentList, IncidentState, Params};
use crate::api::routes;
use crate::api::scoreboard::{ScoreboardPost, StoredScoreboard};
use std::time::Duration;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The service did not answer.
    #[error(
        "cannot reach monlab at {url}: {reason} (is it running? --url or MONLAB_URL says where)"
    )]
    Unreachable {
        /// The URL tried.
        url: String,
        /// Why.
        reason: String,
    },
    /// The service refused (4xx): the caller's input was wrong.
    #[error("{message} (HTTP {status})")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The service's message.
        message: String,
    },
    /// The service failed (5xx) or answered something unexpected.
    #[error("monlab answered HTTP {status}: {message}")]
    Failed {
        /// HTTP status.
        status: u16,
        /// The body or parse error.
        message: String,
    },
}

/// Talks to one monlab service.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client of the service at `base` (e.g. `http://127.0.0.1:8080`).
    ///
    /// # Panics
    /// If reqwest cannot build an HTTP client (only when the system's set-up is broken):
    /// a client without its 10 s timeout would wait forever on a service that hangs.
    pub fn new(base: &str, token: Option<String>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            token,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("cannot build the admin API's HTTP client"),
        }
    }

    /// The service's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<T, ClientError> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().await.map_err(|e| ClientError::Unreachable {
            url: url.into(),
            reason: innermost(&e),
        })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        if (200..300).contains(&status) {
            return serde_json::from_str(&body).map_err(|e| ClientError::Failed {
                status,
                message: format!("unexpected answer ({e})"),
            });
        }
        let message = message_of(body);
        if status == 401 && self.token.is_none() {
            Err(ClientError::Refused {
                status,
                message: "the admin API needs a token: pass --token or set MONLAB_ADMIN_TOKEN"
                    .into(),
            })
        } else if (400..500).contains(&status) {
            Err(ClientError::Refused { status, message })
        } else {
            Err(ClientError::Failed { status, message })
        }
    }

    /// Every incident's state.
    pub async fn list(&self) -> Result<Vec<IncidentState>, ClientError> {
        let url = format!("{}{}", self.base, routes::ADMIN_INCIDENTS);
        let list: IncidentList = self.send(self.http.get(&url), &url).await?;
        Ok(list.incidents)
    }

    /// The service's time warp K (from its public incident list; 1 for a service that
    /// predates the warp).
    pub async fn speed(&self) -> Result<u32, ClientError> {
        let url = format!("{}{}", self.base, routes::INCIDENTS);
        let list: IncidentList = self.send(self.http.get(&url), &url).await?;
        Ok(list.speed.max(1))
    }

    /// Starts an incident with these parameters.
    pub async fn start(&self, name: &str, params: &Params) -> Result<IncidentChange, ClientError> {
        let url = format!("{}{}/{name}", self.base, routes::ADMIN_INCIDENTS);
        self.send(self.http.post(&url).json(params), &url).await
    }

    /// The users the slow-users incident slowed since it last started.
    pub async fn slow_users(&self) -> Result<crate::api::incident::SlowUsers, ClientError> {
        let url = format!("{}{}", self.base, routes::ADMIN_SLOW_USERS);
        self.send(self.http.get(&url), &url).await
    }

    /// Stops an incident.
    pub async fn stop(&self, name: &str) -> Result<IncidentChange, ClientError> {
        let url = format!("{}{}/{name}", self.base, routes::ADMIN_INCIDENTS);
        self.send(self.http.delete(&url), &url).await
    }

    /// Stores a played scenario's scoreboard in the service, for the lab page.
    pub async fn post_scoreboard(
        &self,
        scenario: Option<&str>,
        board: &crate::scenario::Scoreboard,
    ) -> Result<StoredScoreboard, ClientError> {
        let url = format!("{}{}", self.base, routes::ADMIN_SCOREBOARD);
        let body = ScoreboardPost {
            scenario: scenario.map(str::to_string),
            speed: board.speed.max(1),
            rows: board.rows.clone(),
        };
        self.send(self.http.post(&url).json(&body), &url).await
    }

    /// Alert notifications received after sequence number `after`, deduplicated.
    pub async fn notifications(&self, after: u64) -> Result<Vec<Notification>, ClientError> {
        self.notifications_view(after, "dedup").await
    }

    /// Alert notifications after `after` in a view (`dedup` or `raw`).
    pub async fn notifications_view(
        &self,
        after: u64,
        view: &str,
    ) -> Result<Vec<Notification>, ClientError> {
        let url = format!(
            "{}{}?after={after}&view={view}",
            self.base,
            routes::ALERTS_NOTIFICATIONS
        );
        self.send(self.http.get(&url), &url).await
    }
}
