//! The lab's read-only proxies to Prometheus and Alertmanager.
//!
//! See [`Upstream`]. Only GET, and only the paths the page reads: Prometheus's `query`,
//! `query_range`, `query_exemplars`, `series`, `labels` and `label/{name}/values`; Alertmanager's `api/v2/alerts`.
//! Every other path is refused with 403, so the lab can never reach an admin endpoint of either
//! (Prometheus's `/-/quit` or TSDB admin API, Alertmanager's silences).
//!
//! What comes back: a 2xx or 4xx answer of the upstream passes through as it was written (a
//! bad query gets Prometheus's own `{"status":"error","error":…}` with its 400); an upstream
//! that does not answer, answers 5xx, or answers too much becomes a 502 (504 for a timeout)
//! with monlab's JSON error naming the upstream and a fixed reason, which the page shows where
//! the chart would be.

use crate::service::error::ApiError;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Longest wait for one proxied answer (a 15-minute range query at 1 s takes milliseconds).
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a status probe: the page asks every few seconds.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest proxied answer.
pub(crate) const MAX_BODY: usize = 16 << 20;
/// Longest query string passed on.
pub(crate) const MAX_QUERY: usize = 16 << 10;

/// Which upstream, and the paths it may be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Prometheus,
    Alertmanager,
}

/// One upstream: its base URL and an HTTP client that never follows redirects or proxies.
#[derive(Debug, Clone)]
pub struct Upstream {
    kind: Kind,
    base: String,
    client: reqwest::Client,
}

/// Whether an upstream is configured and answers, as `GET /lab/api/status` reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Probe {
    /// A URL is configured.
    pub configured: bool,
    /// The URL.
    pub url: Option<String>,
    /// It answered its API just now.
    pub reachable: bool,
    /// One sentence for the page.
    pub message: String,
}

impl Probe {
    /// The probe of an upstream that has no URL.
    pub fn not_configured(name: &str, flag: &str) -> Self {
        Self {
            configured: false,
            url: None,
            reachable: false,
            message: format!(
                "{name} is not configured: start monlab serve with {flag} (monlab up does)"
            ),
        }
    }
}

/// Whether the lab may ask Prometheus for `path` (relative to its base URL).
pub(crate) fn prometheus_allows(path: &str) -> bool {
    match path {
        "api/v1/query"
        | "api/v1/query_range"
        | "api/v1/query_exemplars"
        | "api/v1/series"
        | "api/v1/labels" => true,
        _ => path
            .strip_prefix("api/v1/label/")
            .and_then(|rest| rest.strip_suffix("/values"))
            .is_some_and(is_label_name),
    }
}

/// Whether the lab may ask Alertmanager for `path`.
pub(crate) fn alertmanager_allows(path: &str) -> bool {
    path == "api/v2/alerts"
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Upstream {
    /// A Prometheus at `base` (validated by the config).
    pub fn prometheus(base: &str) -> Self {
        Self::new(Kind::Prometheus, base)
    }

    /// An Alertmanager at `base` (validated by the config).
    pub fn alertmanager(base: &str) -> Self {
        Self::new(Kind::Alertmanager, base)
    }

    fn new(kind: Kind, base: &str) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(PROBE_TIMEOUT)
            // Only the configured address: no HTTP_PROXY from the environment, no redirects
            // that could lead elsewhere.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            kind,
            base: base.trim_end_matches('/').to_string(),
            client,
        }
    }

    /// Its base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Prometheus => "Prometheus",
            Kind::Alertmanager => "Alertmanager",
        }
    }

    /// Passes `GET path?query` on and returns the answer, or refuses a path not allowed.
    pub async fn forward(&self, path: &str, query: Option<&str>) -> Result<Response, ApiError> {
        let allowed = match self.kind {
            Kind::Prometheus => prometheus_allows(path),
            Kind::Alertmanager => alertmanager_allows(path),
        };
        if !allowed {
            let which = match self.kind {
                Kind::Prometheus => {
                    "api/v1/query, api/v1/query_range, api/v1/query_exemplars, api/v1/series, \
                     api/v1/labels and api/v1/label/{name}/values"
                }
                Kind::Alertmanager => "api/v2/alerts",
            };
            return Err(ApiError::Forbidden(format!(
                "the lab proxies only {}'s {which}, read-only; not {:?}",
                self.name(),
                path.chars().take(100).collect::<String>()
            )));
        }
        let mut url = format!("{}/{path}", self.base);
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            if q.len() > MAX_QUERY {
                return Err(ApiError::BadRequest(format!(
                    "the query string is {} bytes; at most {MAX_QUERY} are passed on",
                    q.len()
                )));
            }
            url.push('?');
            url.push_str(q);
        }
        let (status, ctype, body) = self.get(&url, TIMEOUT).await?;
        if status.is_server_error() || !(status.is_success() || status.is_client_error()) {
            return Err(ApiError::BadGateway(format!(
                "{} at {} answered HTTP {}{}",
                self.name(),
                self.base,
                status.as_u16(),
                upstream_error(&body)
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )));
        }
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        if let Some(ct) = ctype {
            response.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        Ok(response)
    }

    /// Asks the API the page reads whether it answers (Prometheus: a constant query;
    /// Alertmanager: its status), within [`PROBE_TIMEOUT`].
    pub async fn probe(&self) -> Probe {
        let path = match self.kind {
            Kind::Prometheus => "api/v1/query?query=1",
            Kind::Alertmanager => "api/v2/status",
        };
        let url = format!("{}/{path}", self.base);
        let (reachable, message) = match self.get(&url, PROBE_TIMEOUT).await {
            Ok((s, _, _)) if s.is_success() => (true, format!("{} answers", self.name())),
            Ok((s, _, _)) => (
                false,
                format!(
                    "{} at {} answered HTTP {}: no data can be shown",
                    self.name(),
                    self.base,
                    s.as_u16()
                ),
            ),
            Err(e) => (false, format!("{e}: no data can be shown")),
        };
        Probe {
            configured: true,
            url: Some(self.base.clone()),
            reachable,
            message,
        }
    }

    /// One bounded GET: the status, content type and at most [`MAX_BODY`] bytes.
    async fn get(
        &self,
        url: &str,
        timeout: Duration,
    ) -> Result<(StatusCode, Option<HeaderValue>, Vec<u8>), ApiError> {
        let fail = |e: reqwest::Error| self.failure(&e, timeout);
        let mut resp = self
            .client
            .get(url)
            .header(header::ACCEPT, "application/json")
            .timeout(timeout)
            .send()
            .await
            .map_err(fail)?;
        let status = StatusCode::from_u16(resp.status().as_u16())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let ctype = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
        let mut body = Vec::new();
        // Bounded by MAX_BODY and by the request's timeout.
        while let Some(chunk) = resp.chunk().await.map_err(fail)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(ApiError::BadGateway(format!(
                    "{} at {} answered more than {} MiB",
                    self.name(),
                    self.base,
                    MAX_BODY >> 20
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, ctype, body))
    }

    /// A fixed sentence for a failed call; the detail goes to the log only.
    fn failure(&self, e: &reqwest::Error, timeout: Duration) -> ApiError {
        tracing::warn!(upstream = self.name(), url = %self.base, error = %crate::api::error::error_chain(e), "Lab upstream failed.");
        if e.is_timeout() {
            ApiError::GatewayTimeout(format!(
                "{} at {} did not answer within {} s",
                self.name(),
                self.base,
                timeout.as_secs()
            ))
        } else if e.is_connect() {
            ApiError::BadGateway(format!(
                "{} at {} is unreachable (nothing answers there; is it running?)",
                self.name(),
                self.base
            ))
        } else {
            ApiError::BadGateway(format!(
                "{} at {} sent an answer monlab could not read",
                self.name(),
                self.base
            ))
        }
    }
}

/// The `error` text of a Prometheus or Alertmanager error body, shortened.
fn upstream_error(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = v
        .get("error")
        .or_else(|| v.get("message"))?
        .as_str()?
        .chars()
        .take(300)
        .collect();
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_read_endpoints_are_allowed() {
        for ok in [
            "api/v1/query",
            "api/v1/query_range",
            "api/v1/query_exemplars",
            "api/v1/series",
            "api/v1/labels",
            "api/v1/label/route/values",
            "api/v1/label/__name__/values",
        ] {
            assert!(prometheus_allows(ok), "{ok}");
        }
        for no in [
            "",
            "-/quit",
            "-/reload",
            "api/v1/admin/tsdb/delete_series",
            "api/v1/admin/tsdb/snapshot",
            "api/v1/query/../admin/tsdb/snapshot",
            "api/v1/label/a/b/values",
            "api/v1/label//values",
            "api/v1/label/1x/values",
            "api/v1/targets",
            "api/v1/status/config",
            "graph",
            "api/v2/alerts",
        ] {
            assert!(!prometheus_allows(no), "{no}");
        }
        assert!(alertmanager_allows("api/v2/alerts"));
        for no in [
            "api/v2/silences",
            "api/v2/alerts/groups",
            "-/reload",
            "api/v1/query",
        ] {
            assert!(!alertmanager_allows(no), "{no}");
        }
    }

    #[test]
    fn upstream_errors_are_shortened() {
        let long = "x".repeat(1000);
        let body = serde_json::json!({"status": "error", "error": long}).to_string();
        assert_eq!(upstream_error(body.as_bytes()).unwrap().len(), 300);
        assert_eq!(upstream_error(b"not json"), None);
    }
}
