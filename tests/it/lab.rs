//! The lab page in a real browser (headless Chromium through chromedriver) against a live stack:
//! monlab under load, the real Prometheus and Alertmanager at 1 s intervals. Every assertion
//! reads the rendered page: chart states, the pixels the charts drew, the alert list, the
//! incident rows, the messages.
//!
//! The screenshot taken while auth-down is caught goes to `$CARGO_TARGET_TMPDIR/lab-incident.png`,
//! and also to `$MONLAB_LAB_SCREENSHOT` when set (`MONLAB_LAB_SCREENSHOT=$PWD/docs/lab.png
//! cargo test --test it lab::` refreshes the README's picture).

use crate::browser::Browser;
use crate::harness::{Stack, ADMIN_TOKEN};
use crate::incidents::start_load;
use serde_json::Value;
use std::time::Duration;

/// Every chart on the page: its state, its message, its legend and how many pixels of the
/// canvas are in one of its series' colours (what was actually drawn, not the axes).
const CHARTS: &str = r#"
const out = {};
for (const f of document.querySelectorAll('figure.chart')) {
  const canvas = f.querySelector('canvas');
  const colours = [...f.querySelectorAll('.u-legend .u-series .u-marker')]
    .map((m) => (getComputedStyle(m).borderColor.match(/\d+/g) || []).slice(0, 3).map(Number))
    .filter((c) => c.length === 3 && c[0] + c[1] + c[2] > 150);
  let inked = 0;
  if (canvas && f.dataset.state === 'data') {
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < px.length; i += 4) {
      if (px[i + 3] < 200) continue;
      if (colours.some(([r, g, b]) => Math.abs(px[i] - r) + Math.abs(px[i + 1] - g) + Math.abs(px[i + 2] - b) < 40)) inked++;
    }
  }
  out[f.id] = {
    state: f.dataset.state,
    message: f.querySelector('.chart-msg').textContent,
    legend: [...f.querySelectorAll('.u-legend .u-series')].map((s) => s.textContent.trim()).filter((t) => t),
    inked,
  };
}
return out;
"#;

const GOLDEN: [&str; 6] = [
    "chart-traffic",
    "chart-errors",
    "chart-latency",
    "chart-concurrency",
    "chart-shed",
    "chart-slo",
];

/// Drawn: in the data state, with pixels of its series' colours on the canvas.
fn drawn(charts: &Value, id: &str) -> bool {
    charts[id]["state"] == "data" && charts[id]["inked"].as_u64().unwrap_or(0) > 10
}

/// Polls the charts until every one of `ids` is drawn; panics with their states if not.
async fn wait_drawn(b: &Browser, what: &str, timeout: Duration, ids: &[&str]) -> Value {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let charts = b.eval(CHARTS).await;
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !drawn(&charts, id))
            .map(|id| format!("{id}: {}", charts[*id]))
            .collect();
        if missing.is_empty() {
            return charts;
        }
        if std::time::Instant::now() > deadline {
            panic!(
                "{what} not drawn within {timeout:?}:\n{}",
                missing.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The incident row's `data-active`.
async fn row_active(b: &Browser, name: &str) -> bool {
    b.eval(&format!(
        "return document.querySelector('tr[data-incident=\"{name}\"]').dataset.active === 'true'"
    ))
    .await
        == Value::Bool(true)
}

fn screenshot_to(png: &[u8]) {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("lab-incident.png");
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
    if let Some(extra) = std::env::var_os("MONLAB_LAB_SCREENSHOT") {
        std::fs::write(&extra, png).unwrap();
        println!("screenshot: {}", std::path::Path::new(&extra).display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_shows_live_data_and_catches_auth_down_with_a_click() {
    let stack = Stack::start(&[]);
    let (stop_load, load) = start_load(&stack, 10);
    stack
        .wait_until(
            "login traffic in the rules",
            r#"job_route:monlab_http_requests:rate5m{route="/login"} > 0"#,
            Duration::from_secs(60),
            |r| !r.is_empty(),
        )
        .await;
    let b = Browser::start().await;
    b.goto(&stack.monlab.url("/lab")).await;
    // The stack is young: the last 5 minutes show its data wider than the default 15.
    b.click("#range").await;
    b.click("#range option[value='300']").await;

    // The charts show data: every golden-signal chart drew its series.
    let charts = wait_drawn(&b, "the golden signals", Duration::from_secs(90), &GOLDEN).await;
    let traffic = charts["chart-traffic"]["legend"].to_string();
    assert!(
        traffic.contains("/login 2xx") && traffic.contains("/random 2xx"),
        "{traffic}"
    );
    // The model's charts fill in as predictions and feedback arrive; none is ever blank.
    let charts = wait_drawn(
        &b,
        "the model's charts",
        Duration::from_secs(90),
        &[
            "chart-score-buckets",
            "chart-score-quantiles",
            "chart-fallback",
            "chart-psi",
            "chart-ks",
            "chart-accuracy",
        ],
    )
    .await;
    for (id, c) in charts.as_object().unwrap() {
        let state = c["state"].as_str().unwrap();
        assert!(
            state == "data" || (state == "empty" && !c["message"].as_str().unwrap().is_empty()),
            "{id}: {c}"
        );
    }
    assert_eq!(b.text("#status-prometheus").await, "Prometheus: connected");
    assert_eq!(b.text("#alerts-critical").await, "none firing");

    // The distributions, recovered on demand: the buckets, the fit and the truth.
    b.click("#recover").await;
    let dist = wait_drawn(
        &b,
        "the recovered distributions",
        Duration::from_secs(60),
        &["chart-dist-value", "chart-dist-delay"],
    )
    .await;
    let legend = dist["chart-dist-delay"]["legend"].to_string();
    assert!(
        legend.contains("recovered")
            && legend.contains("fitted: lognormal")
            && legend.contains("true: lognormal"),
        "{legend}"
    );

    // A wrong token shows the error and changes nothing.
    b.type_into("#token", "not-the-admin-token").await;
    b.click("#token-form button[type=submit]").await;
    let error = b
        .wait_for(
            "the refused token",
            Duration::from_secs(10),
            "const e = document.getElementById('admin-error'); return e.hidden ? null : e.textContent",
        )
        .await;
    assert!(
        error.as_str().unwrap().contains("refused")
            && error.as_str().unwrap().contains("wrong admin token"),
        "{error}"
    );
    b.click("button[data-action=start][data-incident=auth-down]")
        .await;
    assert!(b
        .text("#admin-error")
        .await
        .contains("Enter the admin token first"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!row_active(&b, "auth-down").await);
    let states = stack.admin().list().await.unwrap();
    assert!(states.iter().all(|s| !s.active), "{states:?}");

    // The right token; start auth-down with a click.
    b.type_into("#token", ADMIN_TOKEN).await;
    b.click("#token-form button[type=submit]").await;
    b.wait_for(
        "the accepted token",
        Duration::from_secs(10),
        "return !document.getElementById('token-kept').hidden",
    )
    .await;
    b.type_into("tr[data-incident=auth-down] input[type=text]", "5m")
        .await;
    b.click("button[data-action=start][data-incident=auth-down]")
        .await;
    b.wait_for(
        "auth-down active",
        Duration::from_secs(15),
        "const r = document.querySelector('tr[data-incident=\"auth-down\"]'); \
         return r.dataset.active === 'true' && r.querySelector('.state').textContent.includes('left')",
    )
    .await;
    let text = b
        .wait_for(
            "the critical alert of auth-down",
            Duration::from_secs(240),
            "const li = document.querySelector('#alerts-critical li[data-alertname=\"MonlabLoginsFailing\"]'); \
             return li ? li.innerText : null",
        )
        .await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("CRITICAL") && text.contains("runbook"),
        "{text}"
    );
    let href = b
        .eval("return document.querySelector('#alerts-critical li[data-alertname=\"MonlabLoginsFailing\"] a').getAttribute('href')")
        .await;
    assert_eq!(href, "/lab/runbooks/monlabloginsfailing.md");
    // Let a refresh or two draw the break into the charts before the picture is taken.
    b.wait_for(
        "5xx of /login in the traffic chart",
        Duration::from_secs(30),
        "return [...document.querySelectorAll('#chart-traffic .u-legend .u-series')]\
         .some((s) => s.textContent.includes('/login 5xx'))",
    )
    .await;
    wait_drawn(&b, "the break", Duration::from_secs(10), &GOLDEN).await;
    screenshot_to(&b.screenshot().await);

    // Stop it with a click: the alert resolves and leaves the page.
    b.click("button[data-action=stop][data-incident=auth-down]")
        .await;
    b.wait_for(
        "auth-down inactive",
        Duration::from_secs(15),
        "return document.querySelector('tr[data-incident=\"auth-down\"]').dataset.active === 'false'",
    )
    .await;
    b.wait_for(
        "MonlabLoginsFailing resolved",
        Duration::from_secs(240),
        "return !document.querySelector('#alerts-critical li[data-alertname=\"MonlabLoginsFailing\"]')",
    )
    .await;
    drop(stop_load);
    load.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_says_so_when_prometheus_is_stopped() {
    let mut stack = Stack::start(&[]);
    let http = reqwest::Client::new();
    let lab = |path: &str| stack.monlab.url(&format!("/lab/api{path}"));

    // The proxy reads the real Prometheus and Alertmanager, and nothing else of theirs.
    let q: Value = http
        .get(lab("/prometheus/api/v1/query?query=up"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(q["status"], "success", "{q}");
    let bad = http
        .get(lab("/prometheus/api/v1/query?query=sum(("))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400, "Prometheus's own answer to a bad query");
    let alerts = http
        .get(lab("/alertmanager/api/v2/alerts"))
        .send()
        .await
        .unwrap();
    assert_eq!(alerts.status(), 200);
    assert!(alerts.json::<Value>().await.unwrap().is_array());
    for path in [
        "/prometheus/-/quit",
        "/prometheus/api/v1/admin/tsdb/snapshot",
        "/alertmanager/api/v2/silences",
    ] {
        let r = http.get(lab(path)).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    assert_eq!(
        crate::harness::http_get_status(&format!("{}/-/ready", stack.prom_url)).unwrap(),
        200
    );

    // A scoreboard as `monlab incident play` leaves it.
    let posted = http
        .post(stack.monlab.url("/admin/scoreboard"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"scenario": "scenarios/three-incidents.toml", "rows": [
            {"incident": "auth-down", "expected_severity": "critical",
             "alert": "MonlabLoginsFailing (critical)", "detection_seconds": 78.2,
             "resolve_seconds": 48.0, "over_severity": [], "fired": ["MonlabLoginsFailing (critical)"]},
            {"incident": "slow-users", "expected_severity": "minor", "alert": null,
             "detection_seconds": null, "resolve_seconds": null, "over_severity": [], "fired": []}
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);

    let b = Browser::start().await;
    b.goto(&stack.monlab.url("/lab")).await;
    b.wait_for(
        "Prometheus connected",
        Duration::from_secs(30),
        "return document.getElementById('status-prometheus').textContent === 'Prometheus: connected'",
    )
    .await;
    let board = b.text("#scoreboard").await;
    for expected in [
        "scenarios/three-incidents.toml",
        "not every incident caught",
        "auth-down CRITICAL MonlabLoginsFailing (critical) 78 s 48 s caught",
        "slow-users MINOR — — — MISSED",
    ] {
        assert!(board.contains(expected), "{expected:?} not in {board:?}");
    }

    stack.prometheus.signal("KILL");
    stack.prometheus.wait_exit(Duration::from_secs(10));
    b.wait_for(
        "every chart saying Prometheus is unreachable",
        Duration::from_secs(30),
        "return [...document.querySelectorAll('figure.chart')]\
         .filter((f) => !f.id.startsWith('chart-dist'))\
         .every((f) => f.dataset.state === 'unreachable')",
    )
    .await;
    let charts = b.eval(CHARTS).await;
    for (id, c) in charts.as_object().unwrap() {
        if id.starts_with("chart-dist") {
            continue;
        }
        let m = c["message"].as_str().unwrap();
        assert!(
            m.contains("Prometheus at http://127.0.0.1:") && m.contains("unreachable"),
            "{id}: {m}"
        );
        assert_eq!(c["inked"], 0, "{id} still draws");
    }
    assert_eq!(
        b.text("#status-prometheus").await,
        "Prometheus: unreachable"
    );
    // Alertmanager still answers: its panel still lists alerts rather than a warning.
    assert!(b.text("#alerts-message").await.is_empty());

    // Recovering on demand says so too.
    b.click("#recover").await;
    let m = b
        .wait_for(
            "the recovery's failure",
            Duration::from_secs(30),
            "const f = document.getElementById('chart-dist-value'); \
             return f.dataset.state === 'unreachable' ? f.querySelector('.chart-msg').textContent : null",
        )
        .await;
    assert!(m.as_str().unwrap().contains("Cannot recover"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_played_scenario_leaves_its_scoreboard_on_the_lab() {
    use crate::harness::{monlab_command, temp_dir, write_file, Monlab, Proc};
    let monlab = Monlab::start(&["--admin-token", ADMIN_TOKEN]);
    let dir = temp_dir("monlab-lab-play");
    let file = write_file(
        dir.path(),
        "short.toml",
        "name = \"short\"\n[[step]]\nincident = \"slow-users\"\nat = \"0s\"\nfor = \"2s\"\n",
    );
    let url = monlab.url("");
    let file_arg = file.display().to_string();
    let mut cmd = monlab_command(&[
        "incident",
        "play",
        &file_arg,
        "--resolve-wait",
        "1s",
        "--url",
        &url,
    ]);
    cmd.env("MONLAB_ADMIN_TOKEN", ADMIN_TOKEN);
    let mut play = Proc::spawn(cmd);
    // Nothing scrapes this service, so nothing is caught: the play fails, and says so.
    assert_eq!(
        play.wait_exit(Duration::from_secs(30)),
        Some(1),
        "{}",
        play.output()
    );
    let board: Value = reqwest::get(monlab.url("/lab/api/scoreboard"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b = &board["scoreboard"];
    assert_eq!(b["scenario"], file_arg.as_str(), "{board}");
    assert_eq!(b["passed"], false);
    assert_eq!(b["rows"][0]["incident"], "slow-users");
    assert_eq!(b["rows"][0]["alert"], Value::Null);
}
