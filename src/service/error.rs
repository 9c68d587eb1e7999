//! The one error type of the HTTP API and the extractors that produce it.
//!
//! Every error answers with JSON `{"error": kind, "message": …}` (plus `field` when one input
//! is to blame). Client errors echo what was wrong; server errors say only that something
//! failed, and their details go to the log. The [`ErrorKind`] rides along in the response
//! extensions so the telemetry middleware can count errors by kind without parsing bodies.

use crate::telemetry::labels::ErrorKind;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error answer of the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed or unknown query parameter or body.
    #[error("{0}")]
    BadRequest(String),
    /// No route or resource; the text says which.
    #[error("{0}")]
    NotFound(String),
    /// The route does not take this method.
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    /// Missing or wrong credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// The request conflicts with what was already recorded.
    #[error("{0}")]
    Conflict(String),
    /// A field of a well-formed body is invalid.
    #[error("{message}")]
    Unprocessable {
        /// The field to blame.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// Load shedding: too many requests in flight.
    #[error("too many requests in flight (limit {0}); retry later")]
    Overloaded(usize),
    /// A dependency is unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// An upstream that monlab proxies (the lab's Prometheus or Alertmanager) did not answer
    /// or answered with a server error. The text names the upstream and a fixed reason.
    #[error("{0}")]
    BadGateway(String),
    /// An upstream that monlab proxies took longer than its timeout.
    #[error("{0}")]
    GatewayTimeout(String),
    /// Refused by policy (e.g. the admin API is off).
    #[error("{0}")]
    Forbidden(String),
    /// A failure injected by an incident.
    #[error("injected failure (incident error-share)")]
    Injected,
    /// An unexpected failure; the detail is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The kind recorded in `monlab_http_errors_total`.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::BadRequest(_) => ErrorKind::BadRequest,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::MethodNotAllowed(_) => ErrorKind::MethodNotAllowed,
            Self::Unauthorized(_) => ErrorKind::Unauthorized,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::Unprocessable { .. } => ErrorKind::Unprocessable,
            Self::Overloaded(_) => ErrorKind::Overloaded,
            Self::Unavailable(_) | Self::BadGateway(_) => ErrorKind::Unavailable,
            Self::GatewayTimeout(_) => ErrorKind::Timeout,
            Self::Forbidden(_) => ErrorKind::Forbidden,
            Self::Injected => ErrorKind::Injected,
            Self::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Overloaded(_) | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Injected | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.kind();
        let mut body = json!({ "error": kind.as_str(), "message": self.to_string() });
        if let Self::Unprocessable { field, .. } = &self {
            body["field"] = json!(field);
        }
        if let Self::Internal(detail) = &self {
            tracing::error!(error = %detail, "Request failed.");
        }
        let mut response = (self.status(), Json(body)).into_response();
        response.extensions_mut().insert(kind);
        response
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::BadRequest(r.body_text())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            // Well-formed JSON whose fields do not fit: the body names the field.
            JsonRejection::JsonDataError(e) => {
                let text = e.body_text();
                Self::Unprocessable {
                    field: field_in(&text).unwrap_or_default(),
                    message: text,
                }
            }
            other => Self::BadRequest(other.body_text()),
        }
    }
}

/// Pulls the field path out of serde's "at `path`" or "field `name`" wording.
fn field_in(text: &str) -> Option<String> {
    let tick = |s: &str| s.split('`').nth(1).map(str::to_string);
    text.find("field `")
        .and_then(|i| tick(&text[i..]))
        .or_else(|| {
            text.split(": ")
                .nth(1)
                .and_then(|p| p.split(':').next().map(str::to_string))
        })
}

/// `Query` whose rejection is an [`ApiError`] (400 naming the parameter).
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct Query<T>(pub T);

/// `Json` whose rejection is an [`ApiError`] (400 malformed, 422 naming the field).
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct JsonBody<T>(pub T);

/// Fallback for paths no route matches.
pub(crate) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!(
        "no route for {}",
        uri.path().chars().take(200).collect::<String>()
    ))
}

/// Fallback for a known path with a method it does not take.
pub(crate) async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::MethodNotAllowed(method.as_str().chars().take(20).collect())
}
