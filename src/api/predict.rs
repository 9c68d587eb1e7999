//! `POST /predict` and `POST /feedback`: the prediction answered, and the true outcome sent
//! for it later. (The features a prediction takes are [`crate::ml::features`]'s.)

use serde::{Deserialize, Serialize};

/// Why the fallback answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackReason {
    /// The model is down.
    ModelUnavailable,
    /// The model missed its time budget.
    Timeout,
}

impl FallbackReason {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ModelUnavailable => "model_unavailable",
            Self::Timeout => "timeout",
        }
    }
}

/// The answer of `/predict`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prediction {
    /// Id to send feedback against.
    pub prediction_id: String,
    /// Probability of default (model only).
    pub score: Option<f64>,
    /// What was answered: `approve` or `decline` (always `approve` in the holdout).
    pub decision: String,
    /// What the model (or the fallback) decided on its own: `approve` or `decline`; differs
    /// from `decision` only in the holdout.
    pub model_decision: String,
    /// Whether this request fell in the holdout, approved whatever the model decided so that
    /// its outcome is known whatever the score.
    pub holdout: bool,
    /// `model` or `fallback`.
    pub source: String,
    /// Why the fallback answered.
    pub fallback_reason: Option<FallbackReason>,
    /// Model version.
    pub model_version: String,
}

/// Body of `POST /feedback`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// The id `/predict` answered with.
    pub prediction_id: String,
    /// Whether the applicant defaulted (the class the model's score is the probability of).
    pub label: bool,
}

/// Answer of `POST /feedback`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FeedbackAnswer {
    /// The prediction labelled.
    pub prediction_id: String,
    /// The label recorded.
    pub label: bool,
    /// Who had answered: `model` or `fallback`.
    pub source: String,
    /// What the model (or fallback) had decided on its own: `approve`, or `decline` for a
    /// holdout prediction (the only declines that get an outcome).
    pub decision: String,
    /// Whether the prediction was in the holdout.
    pub holdout: bool,
    /// Whether the model's (or fallback's) own decision matched the outcome.
    pub correct: bool,
    /// Seconds from the prediction to this label.
    pub delay_seconds: f64,
}
