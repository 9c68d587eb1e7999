//! `POST /predict`: the credit-risk model, with the business rules as fallback.
//!
//! The model runs under a time budget; when it is down (the `model-down` incident) or misses
//! the budget, the fallback rules answer instead and the response says so (`source`). Bad
//! features are refused with 422 naming the field; an unknown category is also counted as a
//! data-quality signal.

use super::error::{ApiError, JsonBody};
use super::random::validate_user;
use super::AppState;
use crate::distribution::Sampler;
use crate::faults::Incident;
use crate::ml::features::{self, Features, Invalid};
use crate::ml::{fallback, model::Model};
use axum::extract::State;
use axum::Json;
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

/// The model, its simulated latency and its time budget.
#[derive(Debug)]
pub struct Predictor {
    /// The model.
    pub model: Model,
    latency: Sampler,
    budget: Duration,
    rng: Mutex<SmallRng>,
    prefix: u32,
    seq: AtomicU64,
}

/// The answer of `/predict`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prediction {
    /// Id to send feedback against.
    pub prediction_id: String,
    /// Probability of default (model only).
    pub score: Option<f64>,
    /// `approve` or `decline`.
    pub decision: String,
    /// `model` or `fallback`.
    pub source: String,
    /// Why the fallback answered.
    pub fallback_reason: Option<FallbackReason>,
    /// Model version.
    pub model_version: String,
}

impl Predictor {
    /// A predictor with the given model, latency distribution (seconds) and budget.
    pub fn new(model: Model, latency: Sampler, budget: Duration) -> Self {
        Self {
            model,
            latency,
            budget,
            rng: Mutex::new(SmallRng::from_os_rng()),
            prefix: rand::rng().random(),
            seq: AtomicU64::new(0),
        }
    }

    fn next_id(&self) -> String {
        format!(
            "p{:08x}{:010x}",
            self.prefix,
            self.seq.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Scores with the model within the budget, or falls back.
    pub async fn predict(&self, f: &Features, model_down: bool) -> (Prediction, Option<Duration>) {
        let attempt = async {
            if model_down {
                return Err(FallbackReason::ModelUnavailable);
            }
            let delay = self.latency.sample(&mut *self.rng.lock()).max(0.0);
            tokio::time::sleep(Duration::from_secs_f64(delay)).await;
            Ok(self.model.score(f))
        };
        let start = Instant::now();
        let outcome = match tokio::time::timeout(self.budget, attempt).await {
            Ok(r) => r,
            Err(_) => Err(FallbackReason::Timeout),
        };
        let model_time = (!model_down).then(|| start.elapsed());
        let p = match outcome {
            Ok(score) => Prediction {
                prediction_id: self.next_id(),
                score: Some(score),
                decision: decision(self.model.declines(score)).into(),
                source: "model".into(),
                fallback_reason: None,
                model_version: self.model.version.clone(),
            },
            Err(reason) => Prediction {
                prediction_id: self.next_id(),
                score: None,
                decision: decision(fallback::declines(f)).into(),
                source: "fallback".into(),
                fallback_reason: Some(reason),
                model_version: self.model.version.clone(),
            },
        };
        (p, model_time)
    }
}

fn decision(declines: bool) -> &'static str {
    if declines {
        "decline"
    } else {
        "approve"
    }
}

/// `POST /predict`.
pub async fn predict(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<Json<Prediction>, ApiError> {
    if let Some(user) = body.get("user") {
        let user = user.as_str().ok_or_else(|| ApiError::Unprocessable {
            field: "user".into(),
            message: "user must be a string".into(),
        })?;
        validate_user(user).map_err(|e| ApiError::Unprocessable {
            field: "user".into(),
            message: e.to_string(),
        })?;
        if let Some(extra) = state.faults.slow_user_delay(user) {
            tokio::time::sleep(extra).await;
        }
    }
    let features = features::parse(&body, &["user"]).map_err(|e| {
        if let Invalid::UnknownCategory(f) = e {
            state.metrics.ml.unknown_category(f);
        }
        ApiError::Unprocessable {
            field: e.field(),
            message: e.message(),
        }
    })?;
    let model_down = state.faults.is_active(Incident::ModelDown);
    let (prediction, model_time) = state.predictor.predict(&features, model_down).await;
    state.metrics.ml.observe_prediction(&prediction, model_time);
    Ok(Json(prediction))
}
