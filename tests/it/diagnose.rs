//! From the alert to the users behind it: request ids and the access log on a live service,
//! exemplars through the real Prometheus, and `monlab diagnose` naming the users the
//! slow-users incident slowed (the service's own truth, from its admin API).

use crate::harness::{free_port, monlab_command, require_tool, temp_dir, write_file, Proc, Stack};
use crate::incidents::{start_load, SPEED};
use monlab::api::incident::Params;
use std::time::{Duration, Instant};

/// Runs `monlab diagnose <what> --json` against the stack (with `extra` flags); panics unless
/// it exits 0.
fn diagnose(stack: &Stack, what: &str, window: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "diagnose",
        what,
        "--prometheus",
        &stack.prom_url,
        "--window",
        window,
        "--top",
        "50",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = monlab_command(&args)
        .output()
        .expect("monlab diagnose runs");
    assert!(
        out.status.success(),
        "diagnose failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("diagnose prints JSON")
}

fn users(d: &serde_json::Value) -> Vec<String> {
    d["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_string())
        .collect()
}

async fn truth(stack: &Stack) -> Vec<String> {
    let r = stack
        .admin()
        .slow_users()
        .await
        .expect("GET /admin/slow-users");
    assert!(!r.truncated);
    r.users
}

/// Within 10 system minutes of the incident's start, diagnose names at least 90% of the
/// affected users and no unaffected user among its top results; after the incident the list
/// empties as the 10-minute window moves past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnose_names_the_slowed_users_and_forgets_them_after() {
    let stack = Stack::warped(SPEED, &[]);
    let (stop_load, load) = start_load(&stack, 18);
    stack
        .wait_until(
            "target up",
            r#"up{job="monlab"} == 1"#,
            Duration::from_secs(30),
            |r| !r.is_empty(),
        )
        .await;
    stack
        .admin()
        .start(
            "slow-users",
            &Params {
                duration: Some(Duration::from_secs(1800)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let started = Instant::now();
    let limit = Duration::from_secs(600) / SPEED;
    let (found, truth) = loop {
        let d = diagnose(&stack, "slow-requests", "10m", &[]);
        let named = users(&d);
        let truth = truth(&stack).await;
        let hits = named.iter().filter(|u| truth.contains(u)).count();
        // The top results: as many as there are affected users.
        let top_clean = named.iter().take(truth.len()).all(|u| truth.contains(u));
        if !truth.is_empty() && hits as f64 >= 0.9 * truth.len() as f64 && top_clean {
            break (named, truth);
        }
        assert!(
            started.elapsed() < limit,
            "after 10 system minutes diagnose names {named:?}, the truth is {truth:?}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let took = started.elapsed() * SPEED;
    println!(
        "diagnose named {} of {} slowed users ({} listed) {:.0} system seconds after the start",
        found.iter().filter(|u| truth.contains(u)).count(),
        truth.len(),
        found.len(),
        took.as_secs_f64()
    );
    stack.admin().stop("slow-users").await.unwrap();
    let ended = Instant::now();
    // The window is 10 system minutes; give the last slow requests' scrape a little more.
    let limit = Duration::from_secs(780) / SPEED;
    loop {
        let d = diagnose(&stack, "slow-requests", "10m", &[]);
        if users(&d).is_empty() {
            break;
        }
        assert!(
            ended.elapsed() < limit,
            "13 system minutes after the end diagnose still names {:?}",
            users(&d)
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    println!(
        "the list emptied {:.0} system seconds after the end",
        (ended.elapsed() * SPEED).as_secs_f64()
    );
    drop(stop_load);
    let _ = load.await;
}

/// A 5xx answer carries its request id back, writes it in the access log, and reaches
/// Prometheus as an exemplar of the error counter (protobuf scrape), which `diagnose errors`
/// groups by user, with the request's access log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_request_leads_to_its_user_and_log_line() {
    let logs = temp_dir("monlab-access");
    let access = logs.path().join("monlab-access.log");
    let stack = Stack::start(&["--access-log", access.to_str().unwrap()]);
    stack
        .admin()
        .start(
            "error-share",
            &Params {
                share: Some(1.0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let res = reqwest::Client::new()
        .get(stack.monlab.url("/random?user=u42"))
        .header("x-request-id", "req-42-a")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 500);
    assert_eq!(res.headers()["x-request-id"], "req-42-a");
    let deadline = Instant::now() + Duration::from_secs(30);
    let d = loop {
        let d = diagnose(
            &stack,
            "errors",
            "10m",
            &["--log", logs.path().to_str().unwrap()],
        );
        if users(&d) == ["u42"] {
            break d;
        }
        assert!(Instant::now() < deadline, "diagnose errors: {d}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(d["users"][0]["request_ids"][0], "req-42-a");
    let line = d["users"][0]["log_lines"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no access log line in {d}"));
    let v: serde_json::Value = serde_json::from_str(line).expect("the access log line is JSON");
    assert_eq!(v["route"], "/random");
    assert_eq!(v["status"], 500);
    assert_eq!(v["user_id"], "u42");
    assert!(v["latency_seconds"].as_f64().unwrap() >= 0.0);
    // Without a header the service makes an id and returns it.
    let res = reqwest::get(stack.monlab.url("/healthz")).await.unwrap();
    assert_eq!(res.headers()["x-request-id"].len(), 16);
}

/// A bad window, or a Prometheus without exemplar storage: one line, exit 2.
#[test]
fn diagnose_refuses_a_bad_window_and_a_prometheus_without_exemplars() {
    let out = monlab_command(&["diagnose", "slow-requests", "--window", "ten minutes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--window"), "{err}");

    let dir = temp_dir("monlab-noexemplars");
    let yml = write_file(
        dir.path(),
        "prometheus.yml",
        "global:\n  scrape_interval: 1s\n",
    );
    let port = free_port();
    let mut cmd = std::process::Command::new(require_tool("prometheus", "prometheus"));
    cmd.arg(format!("--config.file={}", yml.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let mut prom = Proc::spawn(cmd);
    let url = format!("http://127.0.0.1:{port}");
    crate::harness::wait_http_ok(
        &format!("{url}/-/ready"),
        Duration::from_secs(30),
        &mut prom,
    );
    let out = monlab_command(&["diagnose", "errors", "--prometheus", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("exemplar-storage"), "{err}");
}
