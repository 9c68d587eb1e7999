//! The monitoring stack against the real Prometheus and Alertmanager: what is sent is what is
//! stored, the recorded error ratio follows real errors, every shipped expression returns
//! data, an alert travels to the webhook and back, and `monlab up` cleans up after itself.

use crate::harness::{background_traffic, drive, get_json, get_text, Proc, Stack};
use crate::promql;
use crate::support::alerts::wait_for_notification;
use crate::support::command::run_monlab;
use crate::support::procs::{self, processes};
use crate::support::up::{banner_urls, start_up, UpPorts};
use monlab::api::incident::Params;
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_holds_what_was_sent_and_the_error_ratio_follows_real_errors() {
    let stack = Stack::start(&["--delay", "uniform(low=0.001, high=0.01)"]);
    stack.wait_for_target_up().await;
    let statuses = drive(&stack.monlab.url("/random"), 50.0, 200).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    stack
        .wait_until(
            "request count stored",
            r#"sum(monlab_http_requests_total{route="/random"})"#,
            Duration::from_secs(20),
            |r| r.first().and_then(|s| s["value"][1].as_str()) == Some("200"),
        )
        .await;
    let ratio = r#"job_route:monlab_http_errors:ratio_rate5m{route="/random"}"#;
    stack
        .wait_until(
            "error ratio 0 without errors",
            ratio,
            Duration::from_secs(20),
            |r| r.first().and_then(|s| s["value"][1].as_str()) == Some("0"),
        )
        .await;

    stack
        .admin()
        .start(
            "error-share",
            &Params {
                share: Some(0.3),
                route: Some("/random".into()),
                duration: Some(Duration::from_secs(300)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let statuses = drive(&stack.monlab.url("/random"), 50.0, 400).await;
    stack.admin().stop("error-share").await.unwrap();
    let errors = statuses.iter().filter(|s| **s == 500).count();
    assert!(
        errors > 60 && errors < 180,
        "{errors} of 400 failed at share 0.3"
    );
    let expected = errors as f64 / 600.0;
    stack
        .wait_until(
            "recorded error ratio matches the injected share",
            ratio,
            Duration::from_secs(20),
            |r| {
                r.first()
                    .and_then(|s| s["value"][1].as_str())
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(|v| (v - expected).abs() < 0.03)
            },
        )
        .await;
    let want = errors.to_string();
    stack
        .wait_until(
            "5xx stored equal 5xx seen by the client",
            r#"sum(monlab_http_requests_total{route="/random",code="500"})"#,
            Duration::from_secs(10),
            |r| r.first().and_then(|s| s["value"][1].as_str()) == Some(want.as_str()),
        )
        .await;
}

/// Fires `MonlabHighErrorRatio` for real, follows it through Alertmanager to the webhook and
/// back to resolved; while it fires, checks every shipped expression against the live data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_reaches_the_webhook_and_every_shipped_expression_returns_data() {
    let stack = Stack::start(&["--concurrency-limit", "64"]);
    let admin = stack.admin();
    let started = monlab::api::now_seconds();
    let (stop_traffic, traffic) =
        background_traffic(&stack.monlab.url(""), 20.0, Duration::from_secs(600));
    // A short burst that fills the limit, so the shedding series exist too.
    admin
        .start(
            "burst",
            &Params {
                share: Some(1.0),
                duration: Some(Duration::from_secs(3)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    admin
        .start(
            "error-share",
            &Params {
                share: Some(0.5),
                route: Some("/random".into()),
                duration: Some(Duration::from_secs(600)),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let fired = wait_for_notification(
        &admin,
        "MonlabHighErrorRatio",
        "firing",
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(fired.receiver, "page");
    let alert = fired
        .alerts
        .iter()
        .find(|a| a.labels.get("alertname").map(String::as_str) == Some("MonlabHighErrorRatio"))
        .unwrap();
    assert_eq!(alert.labels["severity"], "critical");
    assert!(alert.annotations["runbook_url"].ends_with("monlabhigherrorratio.md"));
    let am: serde_json::Value = get_json(&format!("{}/api/v2/alerts", stack.am_url)).await;
    assert!(
        am.as_array()
            .unwrap()
            .iter()
            .any(|a| a["labels"]["alertname"] == "MonlabHighErrorRatio"),
        "Alertmanager does not hold the alert: {am}"
    );

    // One batch run on the push path, so the batch job's series exist too.
    run_monlab(
        &["batch", "--pushgateway", &stack.pg_url, "--rows", "1000"],
        &[],
    )
    .success();
    // The Watchdog's first heartbeat may come after the page: wait for it (bounded).
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let heartbeat: serde_json::Value = get_json(&stack.monlab.url("/alerts/heartbeat")).await;
        if heartbeat["count"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no Watchdog heartbeat in 120 s: {heartbeat}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Prometheus has scraped the pushed group and the heartbeat's age (a series only once a
    // heartbeat came) once their series are there.
    for series in [
        "monlab_batch_last_success_timestamp_seconds",
        "monlab_watchdog_heartbeat_age_seconds",
    ] {
        stack
            .wait_until(series, series, Duration::from_secs(60), |r| !r.is_empty())
            .await;
    }
    check_every_expression(&stack).await;

    admin.stop("error-share").await.unwrap();
    let resolved = wait_for_notification(
        &admin,
        "MonlabHighErrorRatio",
        "resolved",
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(resolved.receiver, "page");

    // The performance review of this run finds the incident and the alert that caught it.
    let (out, md) = crate::harness::report(&stack.prom_url, started - 5.0);
    assert!(
        md.contains("| error-share |") && md.contains("MonlabHighErrorRatio (critical)"),
        "{md}"
    );
    assert!(
        md.contains("| availability |") && md.contains("| latency |"),
        "{md}"
    );
    for file in ["report.html", "traffic.png", "latency-p99.png"] {
        assert!(out.path().join(file).is_file(), "{file} missing");
    }
    drop(stop_traffic);
    let counts = traffic.await.unwrap();
    assert!(!counts.contains_key(&0), "transport errors: {counts:?}");
}

/// Every shipped expression parses; recording rules, dashboard and doc queries return data;
/// for alert rules each selector returns data (an alert's condition is quiet when all is
/// well); every raw metric name appears in `/metrics`.
async fn check_every_expression(stack: &Stack) {
    let mut exposition = get_text(&stack.monlab.url("/metrics")).await;
    // Batch metrics live on the Pushgateway, not on the service.
    exposition.push_str(&get_text(&format!("{}/metrics", stack.pg_url)).await);
    let recorded: BTreeSet<String> = promql::recorded_names().into_iter().collect();
    let builtin = [
        "up",
        "ALERTS",
        "ALERTS_FOR_STATE",
        "scrape_duration_seconds",
    ];
    let mut failures = Vec::new();
    for (place, expr) in promql::shipped_expressions() {
        let names = promql::metric_names(&expr).unwrap_or_else(|e| panic!("{place}: {e}"));
        for name in &names {
            let exposed = exposition
                .lines()
                .any(|l| l.starts_with(name.as_str()) && l[name.len()..].starts_with(['{', ' ']));
            // Native histograms travel only in protobuf, so the text read above lacks them;
            // Prometheus, which scrapes protobuf, then has to hold the series.
            let known = recorded.contains(name) || builtin.contains(&name.as_str()) || exposed;
            if !known && stack.query(name).await.is_empty() {
                failures.push(format!("{place}: metric {name} is not in /metrics"));
            }
        }
        if place.starts_with("rule ") && !recorded.iter().any(|r| place == format!("rule {r}")) {
            for selector in promql::selectors(&expr) {
                if stack.query(&selector).await.is_empty() && !selector.starts_with("up") {
                    failures.push(format!("{place}: selector `{selector}` returns no data"));
                }
            }
        } else if stack.query(&expr).await.is_empty() {
            failures.push(format!("{place}: `{expr}` returns no data"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Starts `monlab up` (1 s intervals) on free ports in a fresh data folder; returns it with
/// the folder, its ports and its printout.
fn start_up_fresh(extra: &[&str]) -> (Proc, tempfile::TempDir, UpPorts, String) {
    let data = crate::harness::temp_dir("monlab-up");
    let (up, ports, out) = start_up_1s(extra, data.path());
    (up, data, ports, out)
}

/// Starts `monlab up` (1 s intervals) on free ports with the data folder `data`.
fn start_up_1s(extra: &[&str], data: &std::path::Path) -> (Proc, UpPorts, String) {
    let ports = UpPorts::free();
    let args = [&["--interval", "1s"], extra].concat();
    let (up, out) = start_up(data, ports, &args, Duration::from_secs(90));
    (up, ports, out)
}

#[test]
fn monlab_up_serves_its_urls_and_leaves_nothing_behind() {
    let (mut up, data, ports, out) = start_up_fresh(&["--load-rate", "10"]);
    let urls = banner_urls(&out);
    assert!(urls.len() >= 5, "printed URLs: {urls:?}\n{out}");
    for url in &urls {
        // Prometheus's root redirects to its UI; anything else must answer 200.
        let code = crate::harness::http_get_status(url).unwrap_or(0);
        assert!(code == 200 || code == 302, "{url} answered {code}\n{out}");
    }
    // The lab comes first, and `up` told it where its Prometheus and Alertmanager are.
    assert!(urls[0].ends_with("/lab"), "{out}");
    let status_url = urls[0].replace("/lab", "/lab/api/status");
    let status: serde_json::Value = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { reqwest::get(&status_url).await?.json().await })
        .expect("the lab's status answers JSON");
    for upstream in ["prometheus", "alertmanager"] {
        assert_eq!(status[upstream]["reachable"], true, "{upstream}: {status}");
    }
    let children = pids_mentioning(&[
        &data.path().display().to_string(),
        &format!("127.0.0.1:{}", ports.service),
    ]);
    assert!(children.len() >= 3, "children found: {children:?}");
    up.signal("TERM");
    assert_eq!(
        up.wait_exit(Duration::from_secs(60)),
        Some(0),
        "{}",
        up.output()
    );
    assert_all_gone(children);
}

#[test]
fn even_a_killed_monlab_up_leaves_nothing_behind() {
    let (mut up, data, ports, _) = start_up_fresh(&["--load-rate", "0"]);
    let children = pids_mentioning(&[
        &data.path().display().to_string(),
        &format!("127.0.0.1:{}", ports.service),
    ]);
    assert!(children.len() >= 3, "children found: {children:?}");
    up.signal("KILL");
    up.wait_exit(Duration::from_secs(10));
    assert_all_gone(children);
}

/// Waits up to 20 s for every pid to be gone.
fn assert_all_gone(pids: Vec<u32>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| procs::is_running(*p))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left behind: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Processes (but `monlab up` itself) whose command line mentions any of `needles`.
fn pids_mentioning(needles: &[&str]) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|p| needles.iter().any(|n| p.cmdline.contains(n)) && !p.cmdline.contains(" up "))
        .map(|p| p.pid)
        .collect()
}

/// A second `up` in a folder one is using is refused before it writes anything (it used to
/// rewrite the first one's file_sd targets, which then paged); state an earlier run left is
/// announced, and `--fresh` starts clean.
#[test]
fn one_up_per_data_folder_and_earlier_state_is_announced_or_cleared() {
    let (mut up, data, _, _) = start_up_fresh(&["--load-rate", "0", "--batch-every", "0s"]);
    let targets = data.path().join("targets.json");
    let before = std::fs::read_to_string(&targets).expect("up wrote its file_sd targets");
    let second = run_monlab(
        &[
            "up",
            "--deploy",
            &crate::support::files::deploy_dir().display().to_string(),
            "--data-dir",
            &data.path().display().to_string(),
            "--replicas",
            "3",
            "--port",
            &crate::harness::free_port().to_string(),
        ],
        &[],
    );
    let err = second.stderr;
    assert_eq!(second.code, 1, "{err}");
    assert!(
        err.contains(&format!("PID {}", up.pid())) && err.contains("--data-dir"),
        "names the other up and the way out: {err}"
    );
    assert_eq!(
        std::fs::read_to_string(&targets).unwrap(),
        before,
        "the second up changed the first one's targets"
    );
    up.signal("INT");
    assert_eq!(up.wait_exit(Duration::from_secs(60)), Some(0));

    // The same folder again: its stored series and alert state are said to be reused...
    let again = |extra: &[&str]| {
        let mut args = vec!["--load-rate", "0", "--batch-every", "0s"];
        args.extend_from_slice(extra);
        let (mut up, _, out) = start_up_1s(&args, data.path());
        up.signal("INT");
        assert_eq!(up.wait_exit(Duration::from_secs(60)), Some(0));
        out
    };
    let out = again(&[]);
    assert!(
        out.contains("reusing") && out.contains("--fresh"),
        "no word of the earlier run's state: {out}"
    );
    // ...and --fresh removes them first.
    let out = again(&["--fresh"]);
    assert!(out.contains("--fresh: removed"), "{out}");
    assert!(!out.contains("reusing"), "{out}");
}

/// Ctrl-C is answered at once even while a dead child waits out its restart back-off (the
/// back-off used to be a sleep that held the signal until it ended).
#[test]
fn ctrl_c_is_answered_during_a_restart_back_off() {
    let (mut up, data, _, _) = start_up_fresh(&["--load-rate", "0", "--batch-every", "0s"]);
    let log = data.path().join("logs");
    let pushgateway = data
        .path()
        .join("pushgateway/metrics.db")
        .display()
        .to_string();
    // Kill the Pushgateway until its back-off is long (2, 4, 8, then 16 s).
    for round in 1..=4 {
        let pids = pids_mentioning(&[&pushgateway]);
        assert!(!pids.is_empty(), "round {round}: no Pushgateway running");
        for p in &pids {
            // One may have ended meanwhile; the restart below is what counts.
            let _ = procs::signal(*p, "9");
        }
        up.wait_for_output(&format!("restarts={}", round - 1), Duration::from_secs(60));
        if round < 4 {
            // Wait for the restart before killing it again.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while pids_mentioning(&[&pushgateway]).is_empty() {
                assert!(std::time::Instant::now() < deadline, "never restarted");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    // Now it waits 16 s before the next start: Ctrl-C must not wait that out.
    let asked = std::time::Instant::now();
    up.signal("INT");
    let code = up.wait_exit(Duration::from_secs(60));
    let took = asked.elapsed();
    assert_eq!(code, Some(0), "{}", up.output());
    assert!(
        took < Duration::from_secs(12),
        "stopping took {took:?}, as if the 16 s back-off was waited out; logs in {}",
        log.display()
    );
}
