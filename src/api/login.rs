//! `POST /login`: the body, the answer, and which token logs a user in.

use serde::{Deserialize, Serialize};

/// The token that logs `user` in: derived from the id, so the load generator can log in
/// correctly or, on purpose, wrongly.
pub fn valid_token(user: &str) -> String {
    format!("s3cret-{user}")
}

/// Body of `POST /login`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// User id, 1–64 characters of `[A-Za-z0-9_.-]`.
    pub user: String,
    /// Password-like token.
    pub token: String,
}

/// Answer of a successful login.
#[derive(Debug, Deserialize, Serialize)]
pub struct LoginAnswer {
    /// Who logged in.
    pub user: String,
    /// A session id.
    pub session: String,
}
