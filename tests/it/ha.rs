//! `monlab up --ha` under fire: during an incident, one Prometheus and one Alertmanager are
//! killed with SIGKILL; exactly one (deduplicated) page fires and one resolves, the restarted
//! members send no second page, and VictoriaMetrics holds the same sample counts
//! for the monlab targets as the surviving Prometheus, the rules sum the three service
//! replicas to the rate sent, and `monlab report` finds the incident in VictoriaMetrics.
//! It runs at the incident tests' time warp: durations below are system time, divided by K
//! on the wall clock; restarts and back-offs are the real processes', not scaled.

use crate::harness::{free_port, monlab_command, temp_dir, Proc};
use monlab::api::incident::Params;
use monlab::scenario::client::AdminClient;
use std::time::Duration;

/// Kills the process whose command line contains every needle.
fn kill9(needles: &[&str]) -> u32 {
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if needles.iter().all(|n| cmd.contains(n)) {
            let ok = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .unwrap()
                .success();
            assert!(ok, "kill -9 {pid}");
            return pid;
        }
    }
    panic!("no process matches {needles:?}");
}

async fn get_json(url: &str) -> serde_json::Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// A base port such that `base + o` is free for every offset `o`. Bases come from below the
/// kernel's ephemeral range (32768 and up), where the other tests' sockets and free ports
/// live, so a run of ports is not cut by a connection that happens to hold one (a run of 103
/// ephemeral ports was not found once while six tests ran).
fn free_ports_at(offsets: &[u16]) -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    // Different calls in one run start at different places; the process id spreads runs.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let spread = (std::process::id() % 50) as u16 * 150;
    for _ in 0..60 {
        let base = 20_000 + (spread + NEXT.fetch_add(150, Ordering::Relaxed)) % 12_000;
        if offsets
            .iter()
            .all(|o| std::net::TcpListener::bind(("127.0.0.1", base + o)).is_ok())
        {
            return base;
        }
    }
    panic!("no base port below 32768 with {offsets:?} free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_a_prometheus_and_an_alertmanager_pages_once() {
    let data = temp_dir("monlab-ha");
    let k = crate::incidents::SPEED;
    let wall = |secs: u64| Duration::from_secs(secs) / k;
    let (port, pport) = (free_ports_at(&[0, 1, 2]), free_ports_at(&[0, 1]));
    // Three Alertmanagers and their cluster ports, 100 above.
    let aport = free_ports_at(&[0, 1, 2, 100, 101, 102]);
    let (vm, pg) = (free_port(), free_port());
    let args: Vec<String> = [
        "up",
        "--ha",
        "--replicas",
        "3",
        "--speed",
        &k.to_string(),
        "--load-rate",
        "30",
        "--batch-every",
        "0s",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        "--deploy".into(),
        crate::harness::deploy_dir().display().to_string(),
        "--data-dir".into(),
        data.path().display().to_string(),
        "--port".into(),
        port.to_string(),
        "--prometheus-port".into(),
        pport.to_string(),
        "--alertmanager-port".into(),
        aport.to_string(),
        "--vm-port".into(),
        vm.to_string(),
        "--pushgateway-port".into(),
        pg.to_string(),
        "--admin-token".into(),
        crate::harness::ADMIN_TOKEN.into(),
    ])
    .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut up = Proc::spawn(monlab_command(&args));
    up.wait_for_output("data, logs", Duration::from_secs(120));
    let service = format!("http://127.0.0.1:{port}");
    let (prom_a, prom_b) = (
        format!("http://127.0.0.1:{pport}"),
        format!("http://127.0.0.1:{}", pport + 1),
    );
    let vm_url = format!("http://127.0.0.1:{vm}");
    let admin = AdminClient::new(&service, Some(crate::harness::ADMIN_TOKEN.into()));

    // The cluster has formed when each Alertmanager sees three peers.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let s = get_json(&format!("http://127.0.0.1:{aport}/api/v2/status")).await;
        if s["cluster"]["peers"].as_array().map_or(0, Vec::len) == 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cluster did not form: {s}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let started = monlab::api::now_seconds();
    admin
        .start(
            "error-share",
            &Params {
                share: Some(0.6),
                route: Some("/random".into()),
                duration: Some(Duration::from_secs(600)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(wall(20)).await;
    let killed_prom = kill9(&[&format!("127.0.0.1:{}", pport + 1), "prometheus"]);
    let killed_am = kill9(&[&format!("127.0.0.1:{}", aport + 1), "alertmanager"]);

    let firing = wait_for(&admin, "firing", wall(240) + Duration::from_secs(20)).await;
    tokio::time::sleep(wall(20)).await;
    admin.stop("error-share").await.unwrap();
    let stopped = monlab::api::now_seconds();
    let resolved = wait_for(&admin, "resolved", wall(300) + Duration::from_secs(20)).await;
    // Both killed members are back (up restarts them); they must not page again.
    let out = up.output();
    assert!(
        out.contains("restarting"),
        "up did not restart the killed members:\n{out}"
    );
    // Wait until both are back and ready (a restart takes real seconds at any warp), then
    // watch a system minute in which they must send nothing more.
    for url in [
        format!("{prom_b}/-/ready"),
        format!("http://127.0.0.1:{}/-/ready", aport + 1),
    ] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !reqwest::get(&url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{url} not ready again"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    tokio::time::sleep(wall(60)).await;
    let dedup = admin.notifications(0).await.unwrap();
    let count = |status: &str| {
        dedup
            .iter()
            .flat_map(|n| &n.alerts)
            .filter(|a| a.status == status && a.labels["alertname"] == "MonlabHighErrorRatio")
            .count()
    };
    assert_eq!(count("firing"), 1, "firing pages: {dedup:#?}");
    assert_eq!(count("resolved"), 1, "resolved notifications: {dedup:#?}");
    for a in dedup.iter().flat_map(|n| &n.alerts) {
        assert!(
            !a.labels.contains_key("replica"),
            "replica label reached Alertmanager: {a:?}"
        );
    }
    let raw = admin.notifications_view(0, "raw").await.unwrap();
    println!(
        "ha at {k}x: killed prometheus pid {killed_prom} and alertmanager pid {killed_am}; page \
         after {:.0} system s, resolved {:.0} system s after the fix; {} raw notifications, {} \
         after dedup",
        (firing - started) * f64::from(k),
        (resolved - stopped) * f64::from(k),
        raw.len(),
        dedup.len()
    );

    // Sample counts of the monlab targets: VictoriaMetrics (both replicas' writes,
    // deduplicated) against the Prometheus that was never killed. VictoriaMetrics keeps whole
    // seconds and answers a query without `time` about 30 s late, so ask about a fixed past minute.
    // The window is real seconds (samples, not system time): 20 s ending 10 s ago, past the
    // remote-write queue's flush, holds about 13 scrapes of each replica at 1.5 s.
    let at = (monlab::api::now_seconds() as u64 - 10).to_string();
    let q = r#"sum(count_over_time(up{job="monlab"}[20s]))"#;
    let from = |base: String| {
        let at = at.clone();
        async move {
            let v = reqwest::Client::new()
                .get(format!("{base}/api/v1/query"))
                .query(&[("query", q), ("time", at.as_str())])
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap();
            v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("no samples at {base}: {v}"))
        }
    };
    let (in_prom, in_vm) = (from(prom_a.clone()).await, from(vm_url.clone()).await);
    println!("samples in 20 s for job monlab: prometheus-a {in_prom}, victoria-metrics {in_vm}");
    assert!(
        (in_vm - in_prom).abs() <= 3.0,
        "VictoriaMetrics {in_vm} vs surviving Prometheus {in_prom}"
    );
    // Rules aggregate across the replicas: the recorded work-request rate is what was sent.
    let recorded = from_rule(&prom_a).await;
    // 30 requests per system second are 30·K per wall second.
    let sent = 30.0 * f64::from(k);
    println!("recorded work-request rate over 3 replicas: {recorded:.2}/s (sent {sent}/s)");
    assert!(
        (recorded / sent - 1.0).abs() < 0.1,
        "recorded {recorded}/s vs {sent}/s sent"
    );
    // The performance review reads the long-term store as well as Prometheus: the incident
    // and the page that caught it are in VictoriaMetrics.
    // A report covers at least a wall minute; at the warp the incident took less, so the
    // period starts a minute before it.
    let (_out, md) = crate::harness::report(&vm_url, started - 60.0);
    assert!(
        md.contains("| error-share |") && md.contains("MonlabHighErrorRatio (critical)"),
        "{md}"
    );
    up.signal("TERM");
    assert_eq!(
        up.wait_exit(Duration::from_secs(120)),
        Some(0),
        "{}",
        up.output()
    );
}

/// The recorded 1m request rate of the work routes, summed over every replica.
async fn from_rule(prom: &str) -> f64 {
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!("{prom}/api/v1/query"))
        .query(&[(
            "query",
            r#"sum(job_route:monlab_http_requests:rate1m{job="monlab",route=~"/random|/login|/predict"})"#,
        )])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no recorded rate: {v}"))
}

/// Waits for the first deduplicated `status` notification of MonlabHighErrorRatio; returns
/// when it was received.
async fn wait_for(admin: &AdminClient, status: &str, within: Duration) -> f64 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let seen = admin.notifications(0).await.unwrap();
        if let Some(n) = seen.iter().find(|n| {
            n.alerts
                .iter()
                .any(|a| a.status == status && a.labels["alertname"] == "MonlabHighErrorRatio")
        }) {
            return n.received_at;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {status} MonlabHighErrorRatio within {within:?}: {seen:#?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
