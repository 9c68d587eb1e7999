//! Label sets of the golden-signal metrics. Every value comes from a closed set, so the number
//! of series cannot grow with traffic: routes are templates, methods and error kinds are enums.

use prometheus_client::encoding::EncodeLabelSet;

/// The route label of a request that matched no route.
pub(crate) const UNMATCHED: &str = "unmatched";

/// Every value of the method label, in [`method_index`] order.
pub(crate) const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "OTHER",
];

/// The position of a method's label in [`METHODS`].
pub(crate) fn method_index(method: &http::Method) -> usize {
    match *method {
        http::Method::GET => 0,
        http::Method::POST => 1,
        http::Method::PUT => 2,
        http::Method::DELETE => 3,
        http::Method::PATCH => 4,
        http::Method::HEAD => 5,
        http::Method::OPTIONS => 6,
        _ => 7,
    }
}

/// Why a request ended in an error; attached to error responses as an extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Malformed or unknown query parameter (400).
    BadRequest,
    /// Missing or wrong credentials (401).
    Unauthorized,
    /// Refused by policy (403).
    Forbidden,
    /// No such route or resource (404).
    NotFound,
    /// Route exists, method does not (405).
    MethodNotAllowed,
    /// The request conflicts with what was already recorded (409).
    Conflict,
    /// Body parsed but a field is invalid (422).
    Unprocessable,
    /// Rejected by load shedding (503).
    Overloaded,
    /// A dependency is down (503).
    Unavailable,
    /// Took longer than allowed (504).
    Timeout,
    /// An incident injected this error on purpose (500).
    Injected,
    /// A bug or unexpected failure (500).
    Internal,
}

impl ErrorKind {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::Unprocessable => "unprocessable",
            Self::Overloaded => "overloaded",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Injected => "injected",
            Self::Internal => "internal",
        }
    }

    /// The kind implied by a status code, for error responses that carry no kind of their own.
    pub fn from_status(status: http::StatusCode) -> Option<Self> {
        Some(match status.as_u16() {
            400 => Self::BadRequest,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            409 => Self::Conflict,
            422 => Self::Unprocessable,
            503 => Self::Unavailable,
            504 => Self::Timeout,
            s if s >= 500 => Self::Internal,
            s if s >= 400 => Self::BadRequest,
            _ => return None,
        })
    }
}

/// Traffic and errors: one counter per method, route template and status code.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method: the common methods by name, anything else as `OTHER`.
    pub method: &'static str,
    /// Matched route template or [`UNMATCHED`].
    pub route: &'static str,
    /// Status code; 499 when the client went away before the answer.
    pub code: u16,
}

/// Latency: per method and route template.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteMethodLabels {
    /// HTTP method.
    pub method: &'static str,
    /// Route template.
    pub route: &'static str,
}

/// Saturation: per route template.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Route template.
    pub route: &'static str,
}

/// Errors by route and kind.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// Route template.
    pub route: &'static str,
    /// [`ErrorKind::as_str`].
    pub kind: &'static str,
}

/// Build information: value 1, the facts in labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct BuildLabels {
    /// Crate version.
    pub version: &'static str,
    /// Git commit the binary was built from, or `unknown`.
    pub commit: &'static str,
}
