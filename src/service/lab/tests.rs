//! The lab's routes in process: the page and its headers, the proxies' refusals and failures,
//! the scoreboard behind the admin token. The proxies against a real Prometheus and the page
//! in a real browser are in tests/it/lab.rs.

use crate::service::{measured, router, AppState};
use crate::service::{LabConfig, ServeConfig};
use crate::telemetry::http::GoldenSignals;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

const TOKEN: &str = "lab-test-token";

/// The app as `run` serves it: the router inside the golden-signal layer.
type App = GoldenSignals<axum::Router>;

fn app(lab: LabConfig) -> (App, AppState) {
    let cfg = ServeConfig {
        admin_token: Some(TOKEN.into()),
        lab,
        ..ServeConfig::default()
    };
    let state = AppState::new(&cfg);
    (measured(&state, router(state.clone()), None), state)
}

/// A loopback URL where nothing listens: bound, then released.
fn closed_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

async fn send(app: &App, req: Request<Body>) -> Answer {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(app: &App, path: &str) -> Answer {
    send(app, Request::get(path).body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn the_page_and_its_assets_come_from_the_binary_with_a_strict_policy() {
    let (app, _) = app(LabConfig::default());
    let page = get(&app, "/lab").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text.contains("/lab/assets/lab.js"));
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");

    let js = get(&app, "/lab/assets/lab.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(js.text, super::assets::LAB_JS);
    let css = get(&app, "/lab/assets/lab.css").await;
    assert!(css.text.contains(".u-legend"), "uPlot's styles are bundled");

    let missing = get(&app, "/lab/assets/../../Cargo.toml").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let missing = get(&app, "/lab/assets/app.js").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.json()["message"]
        .as_str()
        .unwrap()
        .contains("lab.js"));

    let root = get(&app, "/").await;
    assert_eq!(root.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(root.headers[header::LOCATION], "/lab");

    let rb = get(&app, "/lab/runbooks/monlabloginsfailing.md").await;
    assert_eq!(rb.status, StatusCode::OK);
    assert!(rb.text.contains("MonlabLoginsFailing"));
    assert_eq!(
        get(&app, "/lab/runbooks/nope.md").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn without_upstreams_the_lab_says_they_are_not_configured() {
    let (app, _) = app(LabConfig::default());
    let s = get(&app, "/lab/api/status").await;
    assert_eq!(s.status, StatusCode::OK);
    let s = s.json();
    assert_eq!(s["prometheus"]["configured"], false);
    assert!(s["prometheus"]["message"]
        .as_str()
        .unwrap()
        .contains("--prometheus-url"));
    assert!(s["alertmanager"]["message"]
        .as_str()
        .unwrap()
        .contains("--alertmanager-url"));
    assert_eq!(s["admin_api"], true);
    let started = s["started_at"].as_f64().unwrap();
    let now = crate::api::now_seconds();
    assert!(started <= now && started > now - 60.0, "{started} vs {now}");
    assert_eq!(s["speed"], 1);

    let q = get(&app, "/lab/api/prometheus/api/v1/query?query=up").await;
    assert_eq!(q.status, StatusCode::NOT_FOUND);
    assert!(q.json()["message"]
        .as_str()
        .unwrap()
        .contains("--prometheus-url"));
    let a = get(&app, "/lab/api/alertmanager/api/v2/alerts").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let r = get(&app, "/lab/api/recover").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_that_names_it_and_status_stays_200() {
    let prom = closed_url();
    let am = closed_url();
    let (app, _) = app(LabConfig {
        prometheus_url: Some(prom.clone()),
        alertmanager_url: Some(am.clone()),
    });
    let q = get(&app, "/lab/api/prometheus/api/v1/query_range?query=up").await;
    assert_eq!(q.status, StatusCode::BAD_GATEWAY);
    let m = q.json()["message"].as_str().unwrap().to_string();
    assert!(
        m.contains("Prometheus") && m.contains(&prom) && m.contains("unreachable"),
        "{m}"
    );
    let a = get(&app, "/lab/api/alertmanager/api/v2/alerts?active=true").await;
    assert_eq!(a.status, StatusCode::BAD_GATEWAY);
    assert!(a.json()["message"]
        .as_str()
        .unwrap()
        .contains("Alertmanager"));

    let s = get(&app, "/lab/api/status").await;
    assert_eq!(s.status, StatusCode::OK);
    let s = s.json();
    assert_eq!(s["prometheus"]["configured"], true);
    assert_eq!(s["prometheus"]["reachable"], false);
    assert!(s["prometheus"]["message"]
        .as_str()
        .unwrap()
        .contains("unreachable"));
    assert_eq!(s["alertmanager"]["reachable"], false);

    let r = get(&app, "/lab/api/recover?window=5m").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
}

#[tokio::test]
async fn the_proxies_refuse_every_other_path_and_method_before_any_traffic() {
    // Nothing listens there: a refusal must come before any attempt to connect (403, not 502).
    let (app, state) = app(LabConfig {
        prometheus_url: Some(closed_url()),
        alertmanager_url: Some(closed_url()),
    });
    for path in [
        "/lab/api/prometheus/-/quit",
        "/lab/api/prometheus/api/v1/admin/tsdb/snapshot",
        "/lab/api/prometheus/api/v1/status/config",
        "/lab/api/prometheus/api/v1/query/../admin/tsdb/snapshot",
        "/lab/api/alertmanager/api/v2/silences",
        "/lab/api/alertmanager/-/reload",
    ] {
        let a = get(&app, path).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}: {}", a.text);
        assert!(a.json()["message"]
            .as_str()
            .unwrap()
            .contains("proxies only"));
    }
    let post = send(
        &app,
        Request::post("/lab/api/prometheus/api/v1/query")
            .body(Body::from("query=up"))
            .unwrap(),
    )
    .await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    let long = format!(
        "/lab/api/prometheus/api/v1/query?query={}",
        "a".repeat(super::proxy::MAX_QUERY + 1)
    );
    let a = get(&app, &long).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    // Every proxied path is counted under its one route template.
    let text = String::from_utf8(
        state
            .metrics
            .encode(crate::telemetry::exposition::Format::Text)
            .unwrap(),
    )
    .unwrap();
    assert!(text.contains(r#"route="/lab/api/prometheus/{*path}",code="403""#));
    assert!(!text.contains("tsdb"), "a raw path became a label");
}

#[tokio::test]
async fn the_incident_list_has_every_incident_with_its_defaults() {
    let (app, _) = app(LabConfig::default());
    let l = get(&app, "/lab/api/incidents").await.json();
    let list = l["incidents"].as_array().unwrap();
    assert_eq!(list.len(), crate::incident::Incident::ALL.len());
    let slow = list.iter().find(|i| i["name"] == "slow-users").unwrap();
    assert_eq!(slow["active"], false);
    assert_eq!(slow["params"]["share"], 0.01);
}

fn board() -> Value {
    json!({
        "scenario": "scenarios/three-incidents.toml",
        "rows": [{
            "incident": "auth-down",
            "expected_severity": "critical",
            "alert": "MonlabLoginsFailing (critical)",
            "detection_seconds": 71.5,
            "resolve_seconds": 40.0,
            "over_severity": [],
            "fired": ["MonlabLoginsFailing (critical)"]
        }]
    })
}

fn post_board(token: Option<&str>, body: &str) -> Request<Body> {
    let mut req = Request::post("/admin/scoreboard").header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    req.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn the_scoreboard_is_stored_only_with_the_token_and_valid_rows() {
    let (app, _) = app(LabConfig::default());
    let empty = get(&app, "/lab/api/scoreboard").await.json();
    assert_eq!(empty["scoreboard"], Value::Null);

    let body = board().to_string();
    let no = send(&app, post_board(None, &body)).await;
    assert_eq!(no.status, StatusCode::UNAUTHORIZED);
    let wrong = send(&app, post_board(Some("not-the-token"), &body)).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json()["message"], "wrong admin token");
    assert_eq!(
        get(&app, "/lab/api/scoreboard").await.json()["scoreboard"],
        Value::Null,
        "a refused post changed nothing"
    );

    let mut bad = board();
    bad["rows"][0]["detection_seconds"] = json!(-3);
    let a = send(&app, post_board(Some(TOKEN), &bad.to_string())).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.json()["field"], "rows[0].detection_seconds");
    let a = send(&app, post_board(Some(TOKEN), "{\"rows\": 3}")).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    let a = send(&app, post_board(Some(TOKEN), "{not json")).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    let ok = send(&app, post_board(Some(TOKEN), &body)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let shown = get(&app, "/lab/api/scoreboard").await.json();
    let b = &shown["scoreboard"];
    assert_eq!(b["scenario"], "scenarios/three-incidents.toml");
    assert_eq!(b["passed"], true);
    assert_eq!(b["rows"][0]["detection_seconds"], 71.5);
}

#[tokio::test]
async fn recover_names_a_bad_window() {
    let (app, _) = app(LabConfig {
        prometheus_url: Some(closed_url()),
        alertmanager_url: None,
    });
    let a = get(&app, "/lab/api/recover?window=10s").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.json()["field"], "window");
    let a = get(&app, "/lab/api/recover?window=soon").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    let a = get(&app, "/lab/api/recover?windows=5m").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.text.contains("windows"), "{}", a.text);
}
