//! `POST /predict`: the credit-risk model, with the business rules as fallback.
//!
//! The model runs under a time budget; when it is down (the `model-down` incident) or misses
//! the budget, the fallback rules answer instead and the response says so (`source`). While
//! `output-collapse` runs, the model still answers but with its preprocessing broken; while
//! `declined-group` runs, one employment group is declined whatever the score. Every
//! answer gets a `prediction_id` that `POST /feedback` takes with the true outcome later.
//!
//! Bad features are refused with 422 naming the field; unknown categories and out-of-range
//! numbers are also counted as data-quality signals. Accepted requests feed the input metrics
//! and the drift windows ([`ModelMonitor`]).

use super::error::ApiError;
use super::random::validate_user;
use super::AppState;
use crate::api::predict::{FallbackReason, Prediction};
use crate::distribution::Sampler;
use crate::incident::Incident;
use crate::ml::drift::DriftMonitor;
use crate::ml::features::{self, Features, Invalid};
use crate::ml::feedback::{decision, Answered, PredictionStore, QualityWindow, STORE_CAPACITY};
use crate::ml::reference::Reference;
use crate::ml::{fallback, model::Model};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

/// The model, its simulated latency, its time budget and the holdout.
#[derive(Debug)]
pub struct Predictor {
    /// The model.
    pub model: Model,
    latency: Sampler,
    budget: Duration,
    holdout_share: f64,
    rng: Mutex<SmallRng>,
}

/// What the prediction path keeps for monitoring: recent predictions awaiting their outcome,
/// the drift windows, and the labelled predictions of each cohort's quality window.
#[derive(Debug)]
pub struct ModelMonitor {
    /// Recent predictions, by id.
    pub store: PredictionStore,
    /// Recent inputs and scores against the training reference.
    pub drift: DriftMonitor,
    /// Recent labels of model predictions whose decision was answered (approved ones only,
    /// once declined applications get no outcome: a biased sample).
    pub decided: QualityWindow,
    /// Labels of the holdout's model predictions: an unbiased sample, but a small one, so
    /// over a longer window.
    pub holdout: QualityWindow,
}

impl ModelMonitor {
    /// Monitoring against `reference`, remembering [`STORE_CAPACITY`] predictions, with the
    /// drift and quality windows shortened by the time warp's `speed`.
    pub fn new(reference: Reference, speed: crate::warp::Speed) -> Self {
        use crate::ml::feedback::{HOLDOUT_QUALITY_WINDOW, QUALITY_WINDOW};
        Self {
            store: PredictionStore::new(STORE_CAPACITY),
            drift: DriftMonitor::with_window(reference, speed.scale(crate::ml::drift::WINDOW)),
            decided: QualityWindow::with_window(speed.scale(QUALITY_WINDOW)),
            holdout: QualityWindow::with_window(speed.scale(HOLDOUT_QUALITY_WINDOW)),
        }
    }

    /// The quality window of a prediction's cohort.
    pub fn quality(&self, holdout: bool) -> &QualityWindow {
        if holdout {
            &self.holdout
        } else {
            &self.decided
        }
    }
}

impl Predictor {
    /// A predictor with the given model, latency distribution (seconds), budget and share of
    /// requests in the holdout (0 to 1).
    pub fn new(model: Model, latency: Sampler, budget: Duration, holdout_share: f64) -> Self {
        Self {
            model,
            latency,
            budget,
            holdout_share,
            rng: Mutex::new(SmallRng::from_os_rng()),
        }
    }

    /// Scores with the model within the budget, or falls back. `collapsed` breaks the model's
    /// preprocessing (the `output-collapse` incident); `declined` declines whatever the score
    /// (the `declined-group` incident's policy: what the system decided, so its own decision).
    /// A share of requests, drawn before scoring, is in the holdout: scored as any other, then
    /// approved whatever the decision. The id is left empty for the caller, who stores the
    /// prediction.
    pub async fn predict(
        &self,
        f: &Features,
        model_down: bool,
        collapsed: bool,
        declined: bool,
    ) -> (Prediction, Option<Duration>) {
        // Drawn before scoring, so which requests are held out cannot depend on the score.
        let holdout =
            self.holdout_share > 0.0 && self.rng.lock().random::<f64>() < self.holdout_share;
        let attempt = async {
            if model_down {
                return Err(FallbackReason::ModelUnavailable);
            }
            let delay = self.latency.sample(&mut *self.rng.lock()).max(0.0);
            tokio::time::sleep(Duration::from_secs_f64(delay)).await;
            Ok(if collapsed {
                self.model.score_collapsed(f)
            } else {
                self.model.score(f)
            })
        };
        let start = Instant::now();
        let outcome = match tokio::time::timeout(self.budget, attempt).await {
            Ok(r) => r,
            Err(_) => Err(FallbackReason::Timeout),
        };
        let model_time = (!model_down).then(|| start.elapsed());
        let (score, declines, source, fallback_reason) = match outcome {
            Ok(score) => (
                Some(score),
                declined || self.model.declines(score),
                "model",
                None,
            ),
            Err(reason) => (
                None,
                declined || fallback::declines(f),
                "fallback",
                Some(reason),
            ),
        };
        let p = Prediction {
            prediction_id: String::new(),
            score,
            decision: decision(declines && !holdout).into(),
            model_decision: decision(declines).into(),
            holdout,
            source: source.into(),
            fallback_reason,
            model_version: self.model.version.clone(),
        };
        (p, model_time)
    }
}

/// The JSON body of a request, refused with 400 when it is not JSON (or not sent as JSON).
/// Non-finite numbers are let through as markers so validation can name their field.
fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<serde_json::Value, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| m == "application/json" || m.ends_with("+json"));
    if !is_json {
        return Err(ApiError::BadRequest(
            "Expected request with `Content-Type: application/json`".into(),
        ));
    }
    features::parse_body(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))
}

/// `POST /predict`.
pub(crate) async fn predict(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = match json_body(&headers, &body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    // Names the user for the exemplars and the access log, whatever the answer.
    let user = body
        .get("user")
        .and_then(|u| u.as_str())
        .and_then(crate::telemetry::exemplars::RequestUser::of);
    (user, answer(state, body).await).into_response()
}

async fn answer(state: AppState, body: serde_json::Value) -> Result<Json<Prediction>, ApiError> {
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
        match e {
            Invalid::UnknownCategory(f) => state.metrics.ml.unknown_category(f),
            Invalid::OutOfRange(f, _) => state.metrics.ml.out_of_range(f),
            _ => {}
        }
        ApiError::Unprocessable {
            field: e.field(),
            message: e.message(),
        }
    })?;
    state.metrics.ml.observe_inputs(&features);
    let model_down = state.faults.is_active(Incident::ModelDown);
    let collapsed = state.faults.is_active(Incident::OutputCollapse);
    let declined = state
        .faults
        .params(Incident::DeclinedGroup)
        .and_then(|p| p.group)
        .and_then(|g| crate::incident::catalog::employment_group(&g))
        .is_some_and(|g| features.employment == Some(g));
    let (mut prediction, model_time) = state
        .predictor
        .predict(&features, model_down, collapsed, declined)
        .await;
    let now = Instant::now();
    prediction.prediction_id = state.monitor.store.insert(Answered {
        score: prediction.score,
        declined: prediction.model_decision == "decline",
        holdout: prediction.holdout,
        at: now,
    });
    state
        .monitor
        .drift
        .observe(now, &features, prediction.score);
    state.metrics.ml.observe_prediction(&prediction, model_time);
    Ok(Json(prediction))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::features::{Employment, Region};

    /// An applicant the shipped model and the fallback both decline.
    fn risky() -> Features {
        Features {
            age: Some(52.0),
            income: Some(31_000.0),
            debt_ratio: Some(0.55),
            credit_history_months: Some(12.0),
            employment: Some(Employment::Unemployed),
            region: Some(Region::West),
        }
    }

    fn predictor(holdout_share: f64) -> Predictor {
        let latency: crate::distribution::Distribution = "constant(value=0)".parse().unwrap();
        Predictor::new(
            Model::shipped(),
            latency.sampler(),
            Duration::from_millis(50),
            holdout_share,
        )
    }

    #[tokio::test]
    async fn the_holdout_is_approved_whatever_the_model_or_fallback_decides() {
        let f = risky();
        for (down, source) in [(false, "model"), (true, "fallback")] {
            let (p, _) = predictor(1.0).predict(&f, down, false, false).await;
            assert_eq!(p.source, source);
            assert!(p.holdout);
            assert_eq!(
                (p.decision.as_str(), p.model_decision.as_str()),
                ("approve", "decline")
            );
            assert_eq!(
                p.score.is_some(),
                !down,
                "the model still scores the holdout"
            );
            let (p, _) = predictor(0.0).predict(&f, down, false, false).await;
            assert!(!p.holdout);
            assert_eq!(
                (p.decision.as_str(), p.model_decision.as_str()),
                ("decline", "decline")
            );
        }
    }

    #[tokio::test]
    async fn a_share_of_requests_is_held_out() {
        let p = predictor(0.2);
        let n = 4000;
        let mut held = 0;
        for _ in 0..n {
            held += usize::from(p.predict(&risky(), false, false, false).await.0.holdout);
        }
        // Binomial(4000, 0.2): standard deviation 0.0063; five of them either side.
        let share = held as f64 / n as f64;
        assert!((share - 0.2).abs() < 0.032, "held out {share}");
    }
}

#[cfg(test)]
mod declined_group {
    use crate::api::incident::Params;
    use crate::incident::Incident;
    use crate::service::{router, AppState, ServeConfig};
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use serde_json::{json, Value};
    use std::time::Duration;
    use tower::ServiceExt;

    async fn predict(app: &axum::Router, employment: &str) -> Value {
        // A safe applicant: the model approves them whatever their employment.
        let body = json!({"age": 45, "income": 120000, "debt_ratio": 0.05,
            "credit_history_months": 240, "employment": employment, "region": "north"});
        let req = Request::post("/predict")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// While declined-group runs, its group is declined whatever the score, as the model's own
    /// decision; others are untouched; the holdout still approves the group.
    #[tokio::test]
    async fn the_group_is_declined_whatever_the_score() {
        for (holdout_share, answered) in [(0.0, "decline"), (1.0, "approve")] {
            let mut cfg = ServeConfig::default();
            cfg.model.holdout_share = holdout_share;
            let state = AppState::new(&cfg);
            let app = router(state.clone());
            assert_eq!(
                predict(&app, "unemployed").await["model_decision"],
                "approve"
            );
            let params = Incident::DeclinedGroup
                .resolve(Params::default(), &[])
                .unwrap();
            state
                .faults
                .start(Incident::DeclinedGroup, params, Duration::from_secs(60));
            let p = predict(&app, "unemployed").await;
            assert_eq!(
                (&p["source"], &p["model_decision"], &p["decision"]),
                (&json!("model"), &json!("decline"), &json!(answered)),
                "{p}"
            );
            assert!(p["score"].as_f64().unwrap() < 0.2, "{p}");
            let other = predict(&app, "employed").await;
            assert_eq!(other["model_decision"], "approve", "{other}");
        }
    }
}
