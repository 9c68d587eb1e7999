//! The lab page in a real browser (headless Chromium through chromedriver) against a live stack:
//! monlab under load, the real Prometheus and Alertmanager at 1 s intervals. Every assertion
//! reads the rendered page: chart states, the pixels the charts drew, the alert list, the
//! incident rows, the messages.
//!
//! The screenshot taken while auth-down is caught goes to `$CARGO_TARGET_TMPDIR/lab-incident.png`,
//! and also to `$MONLAB_LAB_SCREENSHOT` when set (`MONLAB_LAB_SCREENSHOT=$PWD/docs/lab.png
//! cargo test --test it lab::` refreshes the README's picture).

use crate::browser::Browser;
use crate::harness::{get_json, Stack, ADMIN_TOKEN};
use crate::incidents::start_load;
use serde_json::Value;
use std::time::Duration;

/// Every chart on the page: its state, its message, its legend (each series' label, stroke and
/// dash, and whether every entry is shown inside the figure), how many pixels of the canvas are
/// in one of its series' colours (what was actually drawn, not the axes) and how many in the
/// warm-up band's shade.
const CHARTS: &str = r#"
const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
const out = {};
for (const f of document.querySelectorAll('figure.chart')) {
  const canvas = f.querySelector('canvas');
  const items = [...f.querySelectorAll('.legend .legend-item')];
  const colours = items
    .map((b) => rgb(b.dataset.stroke))
    .filter((c) => c[0] + c[1] + c[2] > 150);
  // The warm-up fill, rgba(161, 98, 7, 0.13), on the transparent canvas (the page's white
  // shows through it).
  const shade = [161, 98, 7];
  let inked = 0;
  let warmInked = 0;
  if (canvas && f.dataset.state === 'data') {
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < px.length; i += 4) {
      const a = px[i + 3];
      if (a >= 20 && a <= 50 && Math.abs(px[i] - shade[0]) + Math.abs(px[i + 1] - shade[1]) + Math.abs(px[i + 2] - shade[2]) < 30) warmInked++;
      if (a < 200) continue;
      if (colours.some(([r, g, b]) => Math.abs(px[i] - r) + Math.abs(px[i + 1] - g) + Math.abs(px[i + 2] - b) < 40)) inked++;
    }
  }
  const box = f.getBoundingClientRect();
  const legend = f.querySelector('.legend');
  const legendShown = items.every((b) => {
    const r = b.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.top >= box.top && r.bottom <= box.bottom && r.left >= box.left && r.right <= box.right;
  }) && legend.scrollHeight <= legend.clientHeight + 1;
  const note = f.querySelector('.warmup-note');
  out[f.id] = {
    state: f.dataset.state,
    series: Number(f.dataset.series || 0),
    message: f.querySelector('.chart-msg').textContent,
    legend: items.map((b) => b.dataset.label),
    styles: items.map((b) => `${b.dataset.stroke} ${b.dataset.dash}`),
    values: items.map((b) => b.getAttribute('aria-label')),
    legendShown,
    inked,
    warmInked,
    warmup: note && !note.hidden ? note.textContent : '',
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

/// How many refreshes the page has finished.
async fn refreshes(b: &Browser) -> u64 {
    b.eval("return Number(document.body.dataset.refreshes || 0)")
        .await
        .as_u64()
        .unwrap_or(0)
}

/// The heartbeat line's state (`alive`, `waiting`, `missing`, or empty before the alert list
/// was read) and its text.
async fn heartbeat(b: &Browser) -> (String, String) {
    let v = b
        .eval("const h = document.getElementById('heartbeat'); return [h.dataset.state || '', h.textContent]")
        .await;
    (
        v[0].as_str().unwrap_or_default().to_string(),
        v[1].as_str().unwrap_or_default().to_string(),
    )
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
    let stack = Stack::warped(crate::incidents::SPEED, &[]);
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

    the_golden_signals_are_drawn(&b).await;
    the_models_charts_fill_in(&b).await;
    the_status_says_connected_and_quiet(&b, &stack).await;
    the_distributions_are_recovered_on_demand(&b).await;
    a_wrong_token_changes_nothing(&b, &stack).await;
    auth_down_started_with_a_click_pages(&b).await;
    auth_down_stopped_with_a_click_resolves(&b).await;
    extra_latency_shows_under_its_own_route(&b).await;
    drop(stop_load);
    load.await.unwrap();
}

/// Every golden-signal chart drew its series, each with an entry and a line of its own, and
/// the 5-minute rates shade their warm-up.
async fn the_golden_signals_are_drawn(b: &Browser) {
    // The charts show data: every golden-signal chart drew its series.
    wait_drawn(b, "the golden signals", Duration::from_secs(90), &GOLDEN).await;
    // Each of the latency chart's nine lines (three routes, three quantiles) has its own entry,
    // shown in full, with its own line: colour for the quantile, dash for the route.
    b.wait_for(
        "nine entries in the latency legend",
        Duration::from_secs(60),
        // (not counting the slow requests' exemplar points, drawn only when a request took over 1 s)
        "return [...document.querySelectorAll('#chart-latency .legend-item')].filter((e) => !e.dataset.label.startsWith('slow requests')).length === 9",
    )
    .await;
    let charts = wait_drawn(b, "the golden signals", Duration::from_secs(10), &GOLDEN).await;
    for id in GOLDEN {
        let c = &charts[id];
        let styles = c["styles"].as_array().unwrap();
        let distinct: std::collections::HashSet<_> = styles.iter().map(Value::to_string).collect();
        assert_eq!(
            c["legend"].as_array().unwrap().len(),
            c["series"].as_u64().unwrap() as usize,
            "{id}: {c}"
        );
        assert_eq!(
            distinct.len(),
            styles.len(),
            "{id}: two series look alike: {c}"
        );
        assert_eq!(
            c["legendShown"], true,
            "{id}: a legend entry is hidden: {c}"
        );
    }
    let latency = charts["chart-latency"]["legend"].to_string();
    for route in ["/login", "/predict", "/random"] {
        for q in ["p50", "p90", "p99"] {
            assert!(
                latency.contains(&format!("{route} {q}")),
                "{route} {q} not in {latency}"
            );
        }
    }
    let traffic = charts["chart-traffic"]["legend"].to_string();
    assert!(
        traffic.contains("/login 2xx") && traffic.contains("/random 2xx"),
        "{traffic}"
    );
    // The stack is minutes old: the charts of 5-minute rates shade their warm-up and say
    // until when it lasts; the ratios and quantiles, which it does not bias, do not.
    for id in ["chart-traffic", "chart-shed"] {
        let c = &charts[id];
        assert!(
            c["warmup"]
                .as_str()
                .unwrap()
                .starts_with("Warming up until"),
            "{id}: {c}"
        );
        assert!(
            c["warmInked"].as_u64().unwrap() > 500,
            "{id}: no band drawn: {c}"
        );
    }
    for id in [
        "chart-errors",
        "chart-latency",
        "chart-concurrency",
        "chart-slo",
    ] {
        assert_eq!(charts[id]["warmup"], "", "{id}");
    }
}

/// The model's charts fill in; no chart is ever blank.
async fn the_models_charts_fill_in(b: &Browser) {
    // The model's charts fill in as predictions and feedback arrive; none is ever blank.
    let charts = wait_drawn(
        b,
        "the model's charts",
        Duration::from_secs(90),
        &[
            "chart-score-buckets",
            "chart-score-quantiles",
            "chart-fallback",
            "chart-psi",
            "chart-ks",
            "chart-accuracy",
            "chart-default-rate",
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
}

/// The status line: Prometheus connected, the time warp, no critical alert.
async fn the_status_says_connected_and_quiet(b: &Browser, stack: &Stack) {
    assert_eq!(b.text("#status-prometheus").await, "Prometheus: connected");
    // The page says the time warp the stack runs at.
    assert_eq!(
        b.text("#status-speed").await,
        format!(
            "time warp {k}× — 1 wall second is {k} system seconds",
            k = stack.speed
        )
    );
    // The alert list was read (the heartbeat line is written with it) before it is judged.
    b.wait_for(
        "the alert list read",
        Duration::from_secs(30),
        "return document.getElementById('heartbeat').dataset.state",
    )
    .await;
    assert_eq!(b.text("#alerts-critical").await, "none firing");
}

/// The recover button draws the recovered, fitted and true distributions.
async fn the_distributions_are_recovered_on_demand(b: &Browser) {
    // The distributions, recovered on demand: the buckets, the fit and the truth.
    b.click("#recover").await;
    let dist = wait_drawn(
        b,
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
}

/// A wrong admin token is refused on the page and starts nothing.
async fn a_wrong_token_changes_nothing(b: &Browser, stack: &Stack) {
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
    // Two refreshes later the page has read the incidents again: still inactive.
    let seen = refreshes(b).await;
    b.wait_for(
        "two refreshes after the refused start",
        Duration::from_secs(30),
        &format!(
            "return Number(document.body.dataset.refreshes) >= {}",
            seen + 2
        ),
    )
    .await;
    assert!(!row_active(b, "auth-down").await);
    let states = stack.admin().list().await.unwrap();
    assert!(states.iter().all(|s| !s.active), "{states:?}");
}

/// With the right token a click starts auth-down, which pages with its runbook; the
/// screenshot is taken then.
async fn auth_down_started_with_a_click_pages(b: &Browser) {
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
        "return !!document.querySelector('#chart-traffic .legend-item[data-label=\"/login 5xx\"]')",
    )
    .await;
    wait_drawn(b, "the break", Duration::from_secs(10), &GOLDEN).await;
    screenshot_to(&b.screenshot().await);
}

/// A click stops auth-down, and its alert resolves and leaves the page.
async fn auth_down_stopped_with_a_click_resolves(b: &Browser) {
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
}

/// Extra latency on /random shows in /random's p99 only.
async fn extra_latency_shows_under_its_own_route(b: &Browser) {
    // A second of extra latency on /random: the legend puts the slow p99 under /random, and
    // the other routes' p99 stay where they were.
    b.type_into("tr[data-incident=extra-latency] input[type=number]", "1")
        .await;
    b.click("button[data-action=start][data-incident=extra-latency]")
        .await;
    let p99 = b
        .wait_for(
            "/random p99 above 1 s in the latency legend",
            Duration::from_secs(60),
            r#"const v = (label) => {
                 const b = document.querySelector(`#chart-latency .legend-item[data-label="${label}"]`);
                 const m = b && /^([0-9.]+) (ms|s)$/.exec(b.getAttribute('aria-label').slice(label.length + 1));
                 return m ? Number(m[1]) * (m[2] === 'ms' ? 0.001 : 1) : null;
               };
               const r = v('/random p99');
               return r != null && r >= 1 ? [r, v('/login p99'), v('/predict p99')] : null;"#,
        )
        .await;
    for (i, route) in [(1, "/login"), (2, "/predict")] {
        let v = p99[i].as_f64().unwrap();
        assert!(
            v < 1.0,
            "{route} p99 {v} s while only /random is slowed: {p99}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_says_so_when_prometheus_is_stopped() {
    let mut stack = Stack::start(&[]);
    the_proxy_passes_only_reads(&stack).await;
    post_a_played_scoreboard(&stack).await;

    let b = Browser::start().await;
    b.goto(&stack.monlab.url("/lab")).await;
    the_page_shows_the_scoreboard(&b).await;
    the_heartbeat_is_awaited_until_it_comes(&b).await;
    stack.prometheus.signal("KILL");
    stack.prometheus.wait_exit(Duration::from_secs(10));
    every_chart_says_prometheus_is_unreachable(&b).await;
    recovering_says_so_too(&b).await;
}

/// The lab's proxy reads the real Prometheus and Alertmanager, and nothing else of theirs.
async fn the_proxy_passes_only_reads(stack: &Stack) {
    let http = reqwest::Client::new();
    let lab = |path: &str| stack.monlab.url(&format!("/lab/api{path}"));
    let q = get_json(&lab("/prometheus/api/v1/query?query=up")).await;
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
}

/// Posts a scoreboard as `monlab incident play` leaves it.
async fn post_a_played_scoreboard(stack: &Stack) {
    let http = reqwest::Client::new();
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
}

/// The page connects to Prometheus and shows the posted scoreboard.
async fn the_page_shows_the_scoreboard(b: &Browser) {
    b.wait_for(
        "Prometheus connected",
        Duration::from_secs(30),
        "return document.getElementById('status-prometheus').textContent === 'Prometheus: connected'",
    )
    .await;
    // The scoreboard is read in the same refresh as the charts, after the status pill: wait
    // for it rather than read its "loading…".
    let board = b
        .wait_for(
            "the posted scoreboard",
            Duration::from_secs(30),
            "const t = document.getElementById('scoreboard').innerText; \
             return t.includes('three-incidents') ? t : null",
        )
        .await;
    let board = board.as_str().unwrap().replace(['\t', '\n'], " ");
    for expected in [
        "scenarios/three-incidents.toml",
        "not every incident caught",
        "auth-down CRITICAL MonlabLoginsFailing (critical) 78 s 48 s caught",
        "slow-users MINOR — — — MISSED",
    ] {
        assert!(board.contains(expected), "{expected:?} not in {board:?}");
    }
}

/// A young stack's heartbeat is awaited, never reported missing, until it comes.
async fn the_heartbeat_is_awaited_until_it_comes(b: &Browser) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (state, text) = heartbeat(b).await;
        assert_ne!(state, "missing", "{text}");
        if state == "alive" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no heartbeat in 120 s: {text}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// With Prometheus gone every chart says so and draws nothing; the alerts still show.
async fn every_chart_says_prometheus_is_unreachable(b: &Browser) {
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
    assert_eq!(
        b.eval("return [document.getElementById('alerts-message').hidden, document.getElementById('alerts').hidden]")
            .await,
        serde_json::json!([true, false])
    );
}

/// Recovering on demand says Prometheus cannot be read too.
async fn recovering_says_so_too(b: &Browser) {
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
    use crate::harness::{monlab_command, temp_dir, write_file, Monlab};
    use crate::support::command::run_within;
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
    let play = run_within(cmd, Duration::from_secs(30));
    // Nothing scrapes this service, so nothing is caught: the play fails, and says so.
    assert_eq!(play.code, 1, "{play:?}");
    let board: Value = get_json(&monlab.url("/lab/api/scoreboard")).await;
    let b = &board["scoreboard"];
    assert_eq!(b["scenario"], file_arg.as_str(), "{board}");
    assert_eq!(b["passed"], false);
    assert_eq!(b["rows"][0]["incident"], "slow-users");
    assert_eq!(b["rows"][0]["alert"], Value::Null);
}

/// An Alertmanager that no Prometheus feeds: the heartbeat never comes. The page waits for it
/// while it is not due yet (a young stack is not broken) and says it is missing once it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_waits_for_the_first_heartbeat_until_it_is_due() {
    use crate::harness::{free_port, temp_dir, wait_http_ok, write_file, Monlab};
    use crate::support::files::deploy_dir;
    let dir = temp_dir("monlab-lab-heartbeat");
    let am_port = free_port();
    let am_url = format!("http://127.0.0.1:{am_port}");
    let monlab = Monlab::start(&["--alertmanager-url", &am_url]);
    let am_cfg = monlab::stack::files::alertmanager(&deploy_dir(), &monlab.addr.to_string())
        .expect("derive alertmanager.yml");
    let am_yml = write_file(dir.path(), "alertmanager.yml", &am_cfg);
    let mut am = crate::harness::spawn_alertmanager(&am_yml, &dir.path().join("am"), am_port);
    wait_http_ok(
        &format!("{am_url}/-/ready"),
        Duration::from_secs(30),
        &mut am,
    );
    let status: Value = get_json(&monlab.url("/lab/api/status")).await;
    let started = status["started_at"].as_f64().unwrap();
    // Without a Prometheus to ask, the page assumes the shipped 15 s evaluation interval:
    // due a minute's resend delay, two intervals and 15 s of startup after monlab started.
    let due = started + 60.0 + 2.0 * 15.0 + 15.0;

    let b = Browser::start().await;
    b.goto(&monlab.url("/lab")).await;
    let waiting = b
        .wait_for(
            "the heartbeat awaited",
            Duration::from_secs(30),
            "const h = document.getElementById('heartbeat'); \
             return h.dataset.state === 'waiting' ? h.textContent : null",
        )
        .await;
    let waiting = waiting.as_str().unwrap();
    assert!(
        waiting.starts_with("Waiting for the first Watchdog heartbeat")
            && waiting.contains("due by"),
        "{waiting}"
    );
    // It stays awaited until it is due, then the page says it is missing.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        let (state, text) = heartbeat(&b).await;
        let now = monlab::api::now_seconds();
        if state == "missing" {
            assert!(
                now >= due - 1.0,
                "missing {:.0} s before it was due: {text}",
                due - now
            );
            assert!(text.contains("may be broken"), "{text}");
            break;
        }
        assert_eq!(state, "waiting", "{text}");
        assert!(
            std::time::Instant::now() < deadline,
            "still {state:?} long after it was due: {text}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Saying it is missing took no more than a refresh (5 s) past the due time.
    assert!(monlab::api::now_seconds() < due + 10.0);
}

/// During slow-users, the latency chart draws the slow requests' exemplars as points and the
/// "who is slow" list names the users the service slowed (its truth, from the admin API).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_shows_who_is_slow() {
    let stack = Stack::start(&[]);
    let (stop_load, load) = start_load(&stack, 12);
    stack
        .admin()
        .start(
            "slow-users",
            &monlab::api::incident::Params {
                duration: Some(Duration::from_secs(600)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let b = Browser::start().await;
    b.goto(&stack.monlab.url("/lab")).await;
    b.click("#range").await;
    b.click("#range option[value='300']").await;
    let seen = b
        .wait_for(
            "slow users listed and exemplar points drawn",
            Duration::from_secs(120),
            r#"const rows = [...document.querySelectorAll('#slow-users tr[data-user]')].map((r) => r.dataset.user);
               const fig = document.getElementById('chart-latency');
               return rows.length >= 2 && Number(fig.dataset.exemplars || 0) > 0
                 ? { rows, exemplars: Number(fig.dataset.exemplars) } : null;"#,
        )
        .await;
    let truth = stack.admin().slow_users().await.unwrap();
    for user in seen["rows"].as_array().unwrap() {
        let user = user.as_str().unwrap();
        assert!(
            truth.users.iter().any(|t| t == user),
            "{user} listed as slow but not slowed: {:?}",
            truth.users
        );
    }
    let charts = b.eval(CHARTS).await;
    let legend = charts["chart-latency"]["legend"].to_string();
    assert!(
        legend.contains("slow requests (> 1 s, exemplars)"),
        "{legend}"
    );
    drop(stop_load);
    let _ = load.await;
}
