//! `POST /feedback`: the true outcome of a prediction, when it becomes known.
//!
//! Body: `{"prediction_id": "p…", "label": true}` where `label` is whether the applicant
//! defaulted. The prediction must be one of the last 200,000 this process answered (404
//! otherwise); each takes one label (409 for a second); a malformed body is refused with 422
//! naming the field. The label is counted against what was answered (source, decision), its
//! delay is measured, and labels of model predictions enter the quality window.

use super::error::{ApiError, JsonBody};
use super::AppState;
use crate::api::predict::{FeedbackAnswer, FeedbackRequest};
use crate::ml::feedback::FeedbackError;
use axum::extract::State;
use axum::Json;
use std::time::Instant;

/// `POST /feedback`.
pub(crate) async fn feedback(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<FeedbackRequest>,
) -> Result<Json<FeedbackAnswer>, ApiError> {
    let answered = state
        .monitor
        .store
        .label(&req.prediction_id)
        .map_err(|e| match e {
            FeedbackError::Malformed => ApiError::Unprocessable {
                field: "prediction_id".into(),
                message: e.to_string(),
            },
            FeedbackError::Unknown => ApiError::NotFound(e.to_string()),
            FeedbackError::AlreadyLabelled => ApiError::Conflict(e.to_string()),
        })?;
    let now = Instant::now();
    let delay = now.saturating_duration_since(answered.at);
    let model = answered.score.is_some();
    state
        .metrics
        .ml
        .observe_feedback(&answered, req.label, delay);
    if let Some(score) = answered.score {
        state
            .monitor
            .quality(answered.holdout)
            .push(now, score, answered.declined, req.label);
    }
    Ok(Json(FeedbackAnswer {
        prediction_id: req.prediction_id,
        label: req.label,
        source: if model { "model" } else { "fallback" }.into(),
        decision: if answered.declined {
            "decline"
        } else {
            "approve"
        }
        .into(),
        correct: answered.declined == req.label,
        delay_seconds: delay.as_secs_f64(),
    }))
}

#[cfg(test)]
mod tests {
    use crate::service::ServeConfig;
    use crate::service::{router, AppState};
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use serde_json::{json, Value};
    use tower::ServiceExt;

    async fn call(app: &axum::Router, path: &str, body: &str) -> (StatusCode, Value) {
        let req = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn applicant() -> Value {
        json!({"age": 30, "income": 52000, "debt_ratio": 0.2, "credit_history_months": 60,
               "employment": "employed", "region": "east"})
    }

    fn app() -> (axum::Router, AppState) {
        let state = AppState::new(&ServeConfig::default());
        (router(state.clone()), state)
    }

    #[tokio::test]
    async fn a_prediction_takes_one_label_and_counts_it() {
        let (app, state) = app();
        let (status, p) = call(&app, "/predict", &applicant().to_string()).await;
        assert_eq!(status, StatusCode::OK, "{p}");
        let id = p["prediction_id"].as_str().unwrap().to_string();
        assert_eq!(p["source"], "model");
        let body = json!({"prediction_id": id, "label": true}).to_string();
        let (status, f) = call(&app, "/feedback", &body).await;
        assert_eq!(status, StatusCode::OK, "{f}");
        assert_eq!(f["source"], "model");
        assert_eq!(f["correct"], p["decision"] == "decline");
        assert!(f["delay_seconds"].as_f64().unwrap() >= 0.0);
        let (status, again) = call(&app, "/feedback", &body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{again}");
        assert_eq!(again["error"], "conflict");
        let q = state.monitor.decided.quality(std::time::Instant::now());
        assert_eq!(q.labels, 1);
    }

    #[tokio::test]
    async fn unknown_ids_are_404_and_malformed_bodies_422_naming_the_field() {
        let (app, _) = app();
        let cases = [
            (
                json!({"prediction_id": "p00000000000000ffff", "label": false}).to_string(),
                StatusCode::NOT_FOUND,
                "",
            ),
            (
                json!({"prediction_id": "nope", "label": false}).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "prediction_id",
            ),
            (
                json!({"prediction_id": "p00000000000000ffff", "label": "yes"}).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "label",
            ),
            (
                json!({"prediction_id": 7, "label": true}).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "prediction_id",
            ),
            (
                json!({"prediction_id": "p00000000000000ffff"}).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "label",
            ),
            (
                json!({"prediction_id": "p00000000000000ffff", "label": true, "x": 1}).to_string(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "x",
            ),
        ];
        for (body, want, field) in cases {
            let (status, err) = call(&app, "/feedback", &body).await;
            assert_eq!(status, want, "{body}: {err}");
            if !field.is_empty() {
                assert_eq!(err["field"], field, "{body}: {err}");
            }
        }
    }

    #[tokio::test]
    async fn bad_features_are_422_naming_the_field_and_counted() {
        let (app, state) = app();
        let with = |k: &str, v: &str| {
            let mut text = applicant().to_string();
            let at = text.find(&format!("\"{k}\":")).unwrap();
            let end = text[at..].find([',', '}']).unwrap() + at;
            text.replace_range(at..end, &format!("\"{k}\":{v}"));
            text
        };
        let cases = [
            (with("age", "\"old\""), "age"),
            (with("age", "NaN"), "age"),
            (with("income", "Infinity"), "income"),
            (with("income", "-Infinity"), "income"),
            (with("debt_ratio", "1e999"), "debt_ratio"),
            (with("debt_ratio", "7"), "debt_ratio"),
            (with("employment", "\"pirate\""), "employment"),
            (with("region", "3"), "region"),
            (
                applicant().to_string().replace('}', ",\"colour\":1}"),
                "colour",
            ),
        ];
        for (body, field) in cases {
            let (status, err) = call(&app, "/predict", &body).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
            assert_eq!(err["field"], field, "{body}: {err}");
        }
        let (status, _) = call(&app, "/predict", "{\"age\": 3").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let text = state
            .metrics
            .encode(crate::telemetry::exposition::Format::Text)
            .unwrap();
        let text = String::from_utf8(text).unwrap();
        for series in [
            r#"monlab_model_unknown_categories_total{feature="employment"} 1"#,
            r#"monlab_model_input_out_of_range_total{feature="debt_ratio"} 1"#,
        ] {
            assert!(text.contains(series), "{series} not in\n{text}");
        }
        // Unknown categories never become label values.
        assert!(!text.contains("pirate"));
    }
}
