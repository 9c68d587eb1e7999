//! The other replicas of this system, as the admin API sees them.
//!
//! An incident is an event in the system, not in one process: with `--replicas 3`, an
//! auth-down that reached one replica failed a third of the logins and paged nobody. So an
//! incident started or stopped through any replica's admin API is passed on to every peer
//! (`--peers`, which `up` sets), marked so that a peer does not pass it on again, and the
//! answer says on how many replicas it took effect.

use crate::api::error::{innermost, message_of};
use crate::api::incident::{PeerFailure, Reach};
use axum::http::Method;
use std::time::Duration;

/// Header on a passed-on request, so that the peer applies it without passing it on again.
pub(crate) const FORWARDED: &str = "x-monlab-forwarded";

/// The peers of one replica.
#[derive(Debug, Default)]
pub struct Peers {
    urls: Vec<String>,
    http: reqwest::Client,
}

impl Peers {
    /// Peers at these base URLs (none: a single service).
    ///
    /// # Panics
    /// If reqwest cannot build an HTTP client (only when the system's set-up is broken):
    /// without its timeout, one hanging peer would hold every admin call.
    pub fn new(urls: &[String]) -> Self {
        Self {
            urls: urls.to_vec(),
            // A replica that does not answer within this is reported, not waited on.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("cannot build the HTTP client that reaches the peers"),
        }
    }

    /// Whether this replica has no peers.
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// Sends the same admin call to every peer at once; this replica counts as applied.
    pub async fn pass_on(&self, method: Method, path: &str, token: &str, body: Vec<u8>) -> Reach {
        let mut calls = tokio::task::JoinSet::new();
        for url in &self.urls {
            let req = self
                .http
                .request(method.clone(), format!("{url}{path}"))
                .bearer_auth(token)
                .header(FORWARDED, "1")
                .header("content-type", "application/json")
                .body(body.clone());
            let url = url.clone();
            calls.spawn(async move {
                let outcome = match req.send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let text = r.text().await.unwrap_or_default();
                        Err(format!("HTTP {status}: {}", message_of(text)))
                    }
                    Err(e) => Err(innermost(&e)),
                };
                (url, outcome)
            });
        }
        let mut reach = Reach {
            applied: 1,
            of: 1 + self.urls.len(),
            failed: Vec::new(),
        };
        while let Some(done) = calls.join_next().await {
            match done {
                Ok((_, Ok(()))) => reach.applied += 1,
                Ok((url, Err(error))) => reach.failed.push(PeerFailure { url, error }),
                Err(e) => reach.failed.push(PeerFailure {
                    url: "?".into(),
                    error: e.to_string(),
                }),
            }
        }
        reach.failed.sort_by(|a, b| a.url.cmp(&b.url));
        reach
    }
}
