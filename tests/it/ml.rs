//! The model's incidents, each caught at its severity through the real Prometheus and
//! Alertmanager while the real load generator plays the world (drifting applicants, a
//! feature upstream stops sending, a recession's outcomes as late feedback), and nothing
//! fires during the normal traffic before it. Each test runs its own stack at the incident
//! tests' time warp (the shipped rules scaled by the warp's transform), stops the incident
//! once it is caught, checks that the alert then clears, and writes its scoreboard (system
//! seconds) to target/scoreboards/. Durations below are system time.
//!
//! Also `/feedback` and the new bad-input cases over real HTTP.

use crate::harness::{get_json, get_text, series_value, Monlab, Stack};
use crate::incidents::{save, start_load};
use monlab::api::incident::Params;
use monlab::api::now_seconds;
use monlab::api::Severity;
use monlab::incident::Incident;
use monlab::scenario::{self, Scoreboard};
use std::time::Duration;
use tokio::time::Instant;

/// One number from an instant query, NaN when there is none.
async fn value(stack: &Stack, promql: &str) -> f64 {
    stack
        .query(promql)
        .await
        .first()
        .and_then(|s| s["value"][1].as_str())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// What the model's monitoring reads at one moment.
#[derive(Debug)]
struct Reading {
    /// Largest PSI of an input feature.
    psi: f64,
    /// Largest KS of an input feature.
    ks: f64,
    /// The score's PSI.
    score_psi: f64,
    /// Accuracy from the feedback counters over 5 minutes.
    accuracy: f64,
    /// Accuracy the service computed over its last 5 minutes of labels (approved, outside the
    /// holdout).
    accuracy_in_service: f64,
    /// Share of the most frequent decision of the model over 2 minutes.
    top_decision: f64,
    /// Smallest drift window.
    window: f64,
    /// Largest share of requests without a feature over 5 minutes.
    missing: f64,
}

async fn read(stack: &Stack) -> Reading {
    let v = |q: &'static str| value(stack, q);
    Reading {
        psi: v(r#"max(job_feature:monlab_model_drift_psi:max{feature!="score"})"#).await,
        ks: v(r#"max(job_feature:monlab_model_drift_ks:max{feature!="score"})"#).await,
        score_psi: v(r#"job_feature:monlab_model_drift_psi:max{feature="score"}"#).await,
        accuracy: v(r#"job_source:monlab_model_accuracy:ratio_rate5m{source="model"}"#).await,
        accuracy_in_service: v(r#"monlab_model_feedback_accuracy{cohort="decided"}"#).await,
        top_decision: v("max(job_decision:monlab_model_predictions:ratio_rate2m)").await,
        window: v("min(job_feature:monlab_model_drift_window_samples:min)").await,
        missing: v("max(job_feature:monlab_model_input_missing:ratio_rate5m)").await,
    }
}

/// Normal traffic for `warmup`: no alert may even go pending. Returns what the model's
/// monitoring read at the end of it.
async fn warm_up(stack: &Stack, warmup: Duration) -> Reading {
    stack.wait_for_target_up().await;
    // Before the first scrape `absent(up)` is true for a moment; watch from the next rule
    // evaluation on.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start = Instant::now();
    while start.elapsed() < warmup {
        // Watchdog always fires, on purpose (a heartbeat); every other alert must be quiet.
        let alerts = stack
            .query(r#"ALERTS{alertstate=~"pending|firing", alertname!="Watchdog"}"#)
            .await;
        assert!(alerts.is_empty(), "alerts on normal traffic: {alerts:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    read(stack).await
}

/// One model incident to catch: how it starts, the alert that must catch it, and the waits.
struct Case {
    /// Seeds the load.
    seed: u64,
    incident: Incident,
    /// Its parameters; it runs 15 minutes unless they say otherwise.
    request: Params,
    /// The alert that must catch it.
    alert: &'static str,
    /// Normal traffic before it, in which nothing may fire.
    warmup: Duration,
    /// How long the alert may take to reach the webhook.
    limit: Duration,
}

/// How one incident went.
struct Caught {
    /// The alert that caught it.
    alert: &'static str,
    row: monlab::api::scoreboard::Row,
    baseline: Reading,
    /// What the monitoring read 30 s after the alert reached the webhook.
    during: Reading,
    /// System seconds from stopping the incident until its alert no longer fired in Prometheus.
    cleared: f64,
    /// The notifications received from the start of the incident on.
    seen: Vec<monlab::api::alerts::Notification>,
}

/// Runs a stack under load (seeded with `seed`), warms up, starts `incident` with
/// `request`, waits (at most `limit`) until an alert of the severity the service names for
/// it reaches the webhook, keeps it running 30 s more (nothing louder may follow), stops it,
/// and waits (at most 6 minutes) until `alert` no longer fires; then checks that `alert` was
/// the one that caught it (see [`assert_caught`]).
async fn catch(case: Case) -> Caught {
    let Case {
        seed,
        incident,
        request,
        alert,
        warmup,
        limit,
    } = case;
    let request = Params {
        duration: request.duration.or(Some(Duration::from_secs(900))),
        ..request
    };
    let stack = Stack::warped(crate::incidents::SPEED, &[]);
    let k = stack.speed.get();
    let (stop_load, load) = start_load(&stack, seed);
    let baseline = warm_up(&stack, warmup / k).await;
    let admin = stack.admin();
    let cursor = admin
        .notifications(0)
        .await
        .unwrap()
        .last()
        .map_or(0, |n| n.seq);
    let state = admin.start(incident.name(), &request).await.unwrap().state;
    let expected = state.severity;
    let deadline = Instant::now() + limit / k;
    loop {
        let seen = admin.notifications(cursor).await.unwrap();
        let row = one_row(incident, &state, f64::MAX, &seen, k);
        if row.alert.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}: no {expected} alert within {limit:?}; fired {:?}",
            incident.name(),
            row.fired
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(30) / k).await;
    let during = read(&stack).await;
    admin.stop(incident.name()).await.unwrap();
    let ended = now_seconds();
    let stopped_at = Instant::now();
    let firing = format!(r#"ALERTS{{alertname="{alert}", alertstate="firing"}}"#);
    stack
        .wait_until(
            &format!("{alert} clears after {} stops", incident.name()),
            &firing,
            Duration::from_secs(360) / k + Duration::from_secs(10),
            |r| r.is_empty(),
        )
        .await;
    let cleared = stopped_at.elapsed().as_secs_f64() * f64::from(k);
    let seen = admin.notifications(cursor).await.unwrap();
    let row = one_row(incident, &state, ended, &seen, k);
    drop(stop_load);
    let report = load.await.unwrap();
    assert!(
        report.feedback.requests.completed > 0,
        "no feedback was sent: {:?}",
        report.feedback
    );
    let board = Scoreboard {
        rows: vec![row.clone()],
        speed: k,
    };
    save(&format!("ml-{}-{expected}", incident.name()), &board);
    println!(
        "{} ({expected}): baseline {:?}; during {:?}; detected in {:.0} s by {}; alert cleared \
         {cleared:.0} s after the incident stopped; fired {:?}",
        incident.name(),
        baseline,
        during,
        row.detection_seconds.unwrap_or(f64::NAN),
        row.alert
            .as_ref()
            .map_or("nothing".into(), ToString::to_string),
        row.fired
    );
    let caught = Caught {
        alert,
        row,
        baseline,
        during,
        cleared,
        seen,
    };
    assert_caught(&caught);
    caught
}

/// Scores one incident, started as `state` and ended at `end`, from the notifications seen
/// on a system at time warp `k`.
fn one_row(
    incident: Incident,
    state: &monlab::api::incident::IncidentState,
    end: f64,
    seen: &[monlab::api::alerts::Notification],
    k: u32,
) -> monlab::api::scoreboard::Row {
    let w = monlab::incident::score::Window::from_state(incident, state, end);
    scenario::score(&[w], seen, k).rows.remove(0)
}

/// The caught alert is exactly `alert` at the expected severity, nothing louder fired, normal
/// traffic before read as normal, and the alert cleared in time.
fn assert_caught(c: &Caught) {
    let row = &c.row;
    crate::support::alerts::assert_caught(row, c.alert);
    assert!(
        row.alert
            .as_ref()
            .is_some_and(|a| a.name == c.alert && a.severity == Some(row.expected_severity)),
        "{}: caught by another alert at {} (fired: {:?})",
        row.incident,
        row.expected_severity,
        row.fired
    );
    let b = &c.baseline;
    // The service's own 5-minute accuracy (approved, outside the holdout) and the one PromQL
    // computes from the counters read the same labels.
    assert!(
        (b.accuracy - b.accuracy_in_service).abs() < 0.05,
        "two accuracies of the same labels disagree: {b:?}"
    );
    // Drift is only judged on full windows, as the drift alerts do: PSI of n unchanged values
    // is about 9/n by chance, so a short warm-up's 170-value window can read 0.14.
    assert!(
        b.window < 400.0 || (b.psi < 0.1 && b.ks < 0.15 && b.score_psi < 0.1),
        "baseline drift: {b:?}"
    );
    assert!(
        b.accuracy > 0.65 && b.top_decision < 0.95 && b.missing == 0.0,
        "baseline quality: {b:?}"
    );
    assert!(c.cleared < 360.0);
}

/// Alert names that fired, without their severities, leaving out the always-firing
/// Watchdog heartbeat.
fn fired_names(c: &Caught) -> Vec<&str> {
    c.row
        .fired
        .iter()
        .map(|f| f.name.as_str())
        .filter(|name| *name != "Watchdog")
        .collect()
}

/// The feature label of the first firing notification of the alert that caught it.
fn feature_of(c: &Caught) -> Option<String> {
    c.seen.iter().flat_map(|n| &n.alerts).find_map(|a| {
        (a.status == "firing" && a.labels.get("alertname").map(String::as_str) == Some(c.alert))
            .then(|| a.labels.get("feature").cloned())
            .flatten()
    })
}

fn minutes(m: u64) -> Duration {
    Duration::from_secs(60 * m)
}

/// The default feature-drift (income up a quarter of a standard deviation, expected PSI
/// about 0.16) is a moderate shift: minor, on that feature, and no major alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderate_feature_drift_raises_a_minor_alert() {
    let c = catch(Case {
        seed: 41,
        incident: Incident::FeatureDrift,
        request: Params::default(),
        alert: "MonlabFeatureDrift",
        warmup: Duration::from_secs(150),
        limit: minutes(7),
    })
    .await;
    assert_eq!(c.row.expected_severity, Severity::Minor);
    // The windows were full of normal traffic before the drift began.
    assert!(c.baseline.window >= 400.0, "{:?}", c.baseline);
    assert_eq!(feature_of(&c).as_deref(), Some("income"));
    assert!(c.during.psi > 0.1, "{:?}", c.during);
}

/// Age up one standard deviation (12 years, expected PSI about 1.9) is a large shift: major.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_feature_drift_opens_a_ticket() {
    let c = catch(Case {
        seed: 42,
        incident: Incident::FeatureDrift,
        request: Params {
            feature: Some("age".into()),
            shift: Some(1.0),
            ..Default::default()
        },
        alert: "MonlabFeatureDrift",
        warmup: Duration::from_secs(150),
        limit: minutes(6),
    })
    .await;
    assert_eq!(c.row.expected_severity, Severity::Major);
    // The windows were full of normal traffic before the drift began.
    assert!(c.baseline.window >= 400.0, "{:?}", c.baseline);
    assert_eq!(feature_of(&c).as_deref(), Some("age"));
    assert!(c.during.psi > 0.25, "{:?}", c.during);
}

/// Upstream stops sending income: the service imputes it, answers 200, and counts it missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_feature_opens_a_ticket() {
    let c = catch(Case {
        seed: 43,
        incident: Incident::MissingFeature,
        request: Params::default(),
        alert: "MonlabFeatureMissing",
        warmup: Duration::from_secs(60),
        limit: minutes(6),
    })
    .await;
    assert_eq!(feature_of(&c).as_deref(), Some("income"));
    assert!(c.during.missing > 0.2, "{:?}", c.during);
}

/// The model's scores collapse: every applicant approved, every answer 200, inputs normal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collapsed_outputs_open_a_ticket() {
    let c = catch(Case {
        seed: 44,
        incident: Incident::OutputCollapse,
        request: Params::default(),
        alert: "MonlabOutputCollapse",
        warmup: Duration::from_secs(60),
        limit: minutes(6),
    })
    .await;
    let names = fired_names(&c);
    assert!(
        !names.contains(&"MonlabFeatureDrift"),
        "inputs did not change, yet: {names:?}"
    );
    assert!(
        c.during.top_decision > 0.98 && c.during.psi < 0.1,
        "{:?}",
        c.during
    );
}

/// `/predict` answers with an id, `/feedback` takes one label for an approved prediction over
/// real HTTP and refuses one for a declined prediction (409), and what it counts shows on
/// /metrics; unknown ids are 404, bad bodies 422 naming the field, and `/incidents` lists
/// what runs without a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_and_bad_input_over_http() {
    // No holdout: what the model decides is what is answered.
    let m = Monlab::start(&[
        "--admin-token",
        crate::harness::ADMIN_TOKEN,
        "--holdout-share",
        "0",
    ]);
    let client = reqwest::Client::new();
    let predict = |applicant: serde_json::Value| {
        let request = client.post(m.url("/predict")).json(&applicant).send();
        async move {
            let p: serde_json::Value = request.await.unwrap().json().await.unwrap();
            p
        }
    };
    let declined = predict(
        serde_json::json!({"age": 52, "income": 31000, "debt_ratio": 0.55,
        "credit_history_months": 12, "employment": "unemployed", "region": "west"}),
    )
    .await;
    assert_eq!(
        (&declined["decision"], &declined["holdout"]),
        (&serde_json::json!("decline"), &serde_json::json!(false)),
        "{declined}"
    );
    let approved = predict(
        serde_json::json!({"age": 45, "income": 120000, "debt_ratio": 0.05,
        "credit_history_months": 240, "employment": "employed", "region": "north"}),
    )
    .await;
    assert_eq!(approved["decision"], "approve", "{approved}");
    let send = |body: String| {
        client
            .post(m.url("/feedback"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let label = |p: &serde_json::Value| {
        serde_json::json!({"prediction_id": p["prediction_id"], "label": true}).to_string()
    };
    let refused = send(label(&declined)).await.unwrap();
    assert_eq!(refused.status(), 409);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("a declined application never gets an outcome")),
        "{body}"
    );
    let id = approved["prediction_id"].as_str().unwrap();
    let ok = send(label(&approved)).await.unwrap();
    assert_eq!(ok.status(), 200);
    let again = send(label(&approved)).await.unwrap();
    assert_eq!(again.status(), 409);
    let unknown = send(r#"{"prediction_id": "p0000000000000000ff", "label": false}"#.into())
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    let wrong = send(format!(r#"{{"prediction_id": "{id}", "label": "yes"}}"#))
        .await
        .unwrap();
    assert_eq!(wrong.status(), 422);
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(body["field"], "label", "{body}");
    // Python's json writes NaN; the answer names the field instead of a syntax error.
    let nan = client
        .post(m.url("/predict"))
        .header("content-type", "application/json")
        .body(r#"{"age": NaN, "income": 1, "debt_ratio": 0.1, "credit_history_months": 1, "employment": "student", "region": "north"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(nan.status(), 422);
    let body: serde_json::Value = nan.json().await.unwrap();
    assert_eq!(body["field"], "age", "{body}");

    let incidents: serde_json::Value = get_json(&m.url("/incidents")).await;
    assert_eq!(incidents["incidents"], serde_json::json!([]));
    let admin = monlab::scenario::client::AdminClient::new(
        &m.url(""),
        Some(crate::harness::ADMIN_TOKEN.into()),
    );
    let req = Params {
        feature: Some("debt_ratio".into()),
        shift: Some(-1.0),
        ..Default::default()
    };
    let state = admin.start("feature-drift", &req).await.unwrap().state;
    assert_eq!(state.severity, Severity::Major);
    let incidents: serde_json::Value = get_json(&m.url("/incidents")).await;
    assert_eq!(incidents["incidents"][0]["params"]["feature"], "debt_ratio");
    assert_eq!(incidents["incidents"][0]["params"]["shift"], -1.0);
    // Starting and stopping stay behind the token.
    let refused = client
        .post(m.url("/admin/incidents/concept-drift"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let text = get_text(&m.url("/metrics")).await;
    let get = |s: &str| series_value(&text, s);
    assert_eq!(
        get(
            r#"monlab_model_feedback_total{source="model",decision="approve",outcome="default",cohort="decided"}"#
        ),
        1.0
    );
    assert_eq!(get("monlab_model_label_delay_seconds_count"), 1.0);
    assert_eq!(
        get(r#"monlab_model_input_categories_total{feature="employment",category="unemployed"}"#),
        1.0
    );
    assert_eq!(get("monlab_model_score_count"), 2.0);
    assert_eq!(
        get(r#"monlab_http_requests_total{method="POST",route="/feedback",code="404"}"#),
        1.0
    );
    // The declined label and the second one: client errors, never a 5xx.
    assert_eq!(
        get(r#"monlab_http_requests_total{method="POST",route="/feedback",code="409"}"#),
        2.0
    );
    assert!(!text
        .lines()
        .any(|l| l.starts_with("monlab_http_requests_total") && l.contains("code=\"5")));
}
