//! `POST /feedback`: the true outcome of a prediction, when it becomes known.
//!
//! Body: `{"prediction_id": "p…", "label": true}` where `label` is whether the applicant
//! defaulted. The prediction must be one of the last 200,000 this process answered (404
//! otherwise); each takes one label (409 for a second); a declined one takes none (409: a
//! declined application never gets an outcome, so its label could only be made up; the
//! holdout's are all approved); a malformed body is refused with 422 naming the field. The
//! label is counted against the model's own decision and cohort, its delay is measured, and
//! labels of model predictions enter their cohort's quality window.

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
            FeedbackError::AlreadyLabelled | FeedbackError::Declined(_) => {
                ApiError::Conflict(e.to_string())
            }
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
        decision: crate::ml::feedback::decision(answered.declined).into(),
        holdout: answered.holdout,
        correct: answered.declined == req.label,
        delay_seconds: delay.as_secs_f64(),
    }))
}

#[cfg(test)]
mod tests {
    use crate::service::ServeConfig;
    use crate::service::{measured, router, AppState};
    use crate::telemetry::http::GoldenSignals;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use serde_json::{json, Value};
    use tower::ServiceExt;

    /// The app as `run` serves it: the router inside the golden-signal layer.
    type App = GoldenSignals<axum::Router>;

    async fn call(app: &App, path: &str, body: &str) -> (StatusCode, Value) {
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

    /// An applicant the shipped model declines.
    fn risky() -> Value {
        json!({"age": 52, "income": 31000, "debt_ratio": 0.55, "credit_history_months": 12,
               "employment": "unemployed", "region": "west"})
    }

    /// The app with no holdout, so that what the model decides is what is answered.
    fn app() -> (App, AppState) {
        app_with_holdout(0.0)
    }

    fn app_with_holdout(holdout_share: f64) -> (App, AppState) {
        let mut cfg = ServeConfig::default();
        cfg.model.holdout_share = holdout_share;
        let state = AppState::new(&cfg);
        (measured(&state, router(state.clone()), None), state)
    }

    fn metrics_text(state: &AppState) -> String {
        let text = state
            .metrics
            .encode(crate::telemetry::exposition::Format::Text)
            .unwrap();
        String::from_utf8(text).unwrap()
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
        assert_eq!(
            (&p["decision"], &p["model_decision"]),
            (&json!("approve"), &json!("approve"))
        );
        assert_eq!(
            (&f["decision"], &f["holdout"]),
            (&json!("approve"), &json!(false))
        );
        assert_eq!(f["correct"], false, "approved, and defaulted");
        assert!(f["delay_seconds"].as_f64().unwrap() >= 0.0);
        let (status, again) = call(&app, "/feedback", &body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{again}");
        assert_eq!(again["error"], "conflict");
        let q = state.monitor.decided.quality(std::time::Instant::now());
        assert_eq!(q.labels, 1);
    }

    /// A declined application never gets an outcome: its label is a client error (409 with
    /// the JSON body, counted as 4xx), and the prediction stays unlabelled.
    #[tokio::test]
    async fn a_declined_prediction_takes_no_label() {
        let (app, state) = app();
        let (status, p) = call(&app, "/predict", &risky().to_string()).await;
        assert_eq!(status, StatusCode::OK, "{p}");
        assert_eq!(
            (&p["decision"], &p["holdout"]),
            (&json!("decline"), &json!(false))
        );
        let id = p["prediction_id"].as_str().unwrap().to_string();
        let body = json!({"prediction_id": id, "label": true}).to_string();
        for _ in 0..2 {
            let (status, err) = call(&app, "/feedback", &body).await;
            assert_eq!(status, StatusCode::CONFLICT, "{err}");
            assert_eq!(err["error"], "conflict");
            let message = err["message"].as_str().unwrap();
            assert_eq!(
                message,
                format!(
                    "prediction {id} was declined: a declined application never gets an outcome"
                )
            );
        }
        let text = metrics_text(&state);
        for (series, want) in [
            (
                r#"monlab_http_requests_total{method="POST",route="/feedback",code="409"} 2"#,
                true,
            ),
            (r#"code="5"#, false),
            (r#"monlab_model_label_delay_seconds_count 0"#, true),
        ] {
            assert_eq!(text.contains(series), want, "{series} in\n{text}");
        }
        assert_eq!(
            state
                .monitor
                .decided
                .quality(std::time::Instant::now())
                .labels,
            0
        );
    }

    /// In the holdout the same applicant is approved, so its outcome arrives: counted against
    /// the model's own decline in the holdout cohort, in the holdout's window.
    #[tokio::test]
    async fn a_holdout_prediction_takes_its_label_in_the_holdout_cohort() {
        let (app, state) = app_with_holdout(1.0);
        let (_, p) = call(&app, "/predict", &risky().to_string()).await;
        assert_eq!(
            (&p["decision"], &p["model_decision"], &p["holdout"]),
            (&json!("approve"), &json!("decline"), &json!(true))
        );
        let score = p["score"].as_f64().unwrap();
        let id = p["prediction_id"].as_str().unwrap();
        let body = json!({"prediction_id": id, "label": true}).to_string();
        let (status, f) = call(&app, "/feedback", &body).await;
        assert_eq!(status, StatusCode::OK, "{f}");
        assert_eq!(
            (&f["decision"], &f["holdout"], &f["correct"]),
            (&json!("decline"), &json!(true), &json!(true))
        );
        let now = std::time::Instant::now();
        assert_eq!(state.monitor.holdout.quality(now).labels, 1);
        assert_eq!(state.monitor.decided.quality(now).labels, 0);
        let text = metrics_text(&state);
        let series = r#"monlab_model_feedback_total{source="model",decision="decline",outcome="default",cohort="holdout"} 1"#;
        assert!(text.contains(series), "{series} not in\n{text}");
        let expected = format!(
            r#"monlab_model_feedback_expected_defaults_total{{decision="decline",cohort="holdout"}} {score}"#
        );
        assert!(text.contains(&expected), "{expected} not in\n{text}");
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
