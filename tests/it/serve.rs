//! `monlab serve` over real HTTP: golden signals, bounded labels, shedding, shutdown, bad input.

use crate::harness::{get_json, get_text, require_tool, series_value, Monlab};
use crate::support::command::{run_monlab, run_with_input};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_rise_by_exactly_the_requests_sent() {
    let m = Monlab::start(&["--seed", "3", "--delay", "uniform(low=0.001, high=0.01)"]);
    let n = 60;
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..n {
        let (c, url) = (client.clone(), m.url(&format!("/random?user=u{i}")));
        tasks.push(tokio::spawn(async move {
            c.get(url).send().await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let text = get_text(&m.url("/metrics")).await;
    let get = |s: &str| series_value(&text, s);
    assert_eq!(
        get(r#"monlab_http_requests_total{method="GET",route="/random",code="200"}"#),
        n as f64
    );
    assert_eq!(
        get(r#"monlab_http_request_duration_seconds_count{method="GET",route="/random"}"#),
        n as f64
    );
    assert_eq!(get("monlab_random_value_count"), n as f64);
    assert_eq!(get("monlab_random_delay_seconds_count"), n as f64);
    assert_eq!(get("monlab_random_recent_delay_seconds_count"), n as f64);
    assert_eq!(
        get(r#"monlab_http_requests_in_flight{route="/random"}"#),
        0.0
    );
    assert!(get("process_resident_memory_bytes") > 0.0);
    assert!(get("process_open_fds") > 0.0);
    assert_eq!(get("monlab_http_concurrency_limit"), 1024.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reported_delay_matches_the_time_taken() {
    let m = Monlab::start(&["--delay", "uniform(low=0.05, high=0.3)"]);
    let client = reqwest::Client::new();
    // Warm the connection so the first timing does not include the TCP handshake.
    client.get(m.url("/healthz")).send().await.unwrap();
    for _ in 0..10 {
        let start = Instant::now();
        let body: serde_json::Value = client
            .get(m.url("/random"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let took = start.elapsed().as_secs_f64();
        let delay = body["delay_seconds"].as_f64().unwrap();
        assert!(body["value"].is_number());
        assert!(took >= delay, "took {took} < reported delay {delay}");
        assert!(
            took - delay < 0.05,
            "took {took}, reported {delay}: too much slack"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_paths_add_only_the_unmatched_series() {
    let m = Monlab::start(&["--delay", "constant(value=0)"]);
    let client = reqwest::Client::new();
    let before = get_text(&m.url("/metrics"))
        .await
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    for i in 0..1000 {
        let r = client
            .get(m.url(&format!("/no/such/{i}/path{}", i * 7919)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let text = get_text(&m.url("/metrics")).await;
    let unmatched: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("unmatched"))
        .collect();
    assert!(
        unmatched
            .iter()
            .all(|l| !l.contains("/no/such") && l.contains(r#"route="unmatched""#)),
        "raw paths leaked into labels: {unmatched:?}"
    );
    assert_eq!(
        series_value(
            &text,
            r#"monlab_http_requests_total{method="GET",route="unmatched",code="404"}"#
        ),
        1000.0
    );
    // Series added: one request counter, one error counter, one in-flight gauge and one
    // duration histogram (its buckets, sum, count) for `unmatched`, plus the first scrape's
    // own /metrics series. Nothing grows with the number of distinct paths.
    let after = text.lines().filter(|l| !l.starts_with('#')).count();
    assert!(after - before < 80, "{before} -> {after} series");
    let distinct_unmatched_series: std::collections::BTreeSet<&str> = unmatched
        .iter()
        .map(|l| l.rsplit_once(' ').unwrap().0)
        .filter(|s| !s.contains("_bucket"))
        .collect();
    assert_eq!(
        distinct_unmatched_series.len(),
        5,
        "{distinct_unmatched_series:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sheds_above_the_concurrency_limit() {
    let m = Monlab::start(&["--concurrency-limit", "4", "--delay", "constant(value=2)"]);
    let client = reqwest::Client::new();
    let mut slow = Vec::new();
    for _ in 0..4 {
        let (c, url) = (client.clone(), m.url("/random"));
        slow.push(tokio::spawn(async move {
            c.get(url).send().await.unwrap().status()
        }));
    }
    // Let the first four be admitted before the rest arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut rest = Vec::new();
    for _ in 0..16 {
        let (c, url) = (client.clone(), m.url("/random"));
        rest.push(tokio::spawn(async move {
            let start = Instant::now();
            let r = c.get(url).send().await.unwrap();
            let status = r.status();
            let body: serde_json::Value = r.json().await.unwrap();
            (status, start.elapsed(), body)
        }));
    }
    for t in rest {
        let (status, took, body) = t.await.unwrap();
        assert_eq!(status, 503);
        assert_eq!(body["error"], "overloaded");
        assert!(
            took < Duration::from_millis(500),
            "a shed request waited {took:?}"
        );
    }
    // Scrapes and health checks are not limited, even while saturated.
    assert_eq!(reqwest::get(m.url("/healthz")).await.unwrap().status(), 200);
    let text = get_text(&m.url("/metrics")).await;
    assert_eq!(
        series_value(&text, r#"monlab_http_requests_shed_total{route="/random"}"#),
        16.0
    );
    assert_eq!(
        series_value(&text, r#"monlab_http_requests_in_flight{route="/random"}"#),
        4.0
    );
    for t in slow {
        assert_eq!(t.await.unwrap(), 200);
    }
    let text = get_text(&m.url("/metrics")).await;
    assert_eq!(
        series_value(
            &text,
            r#"monlab_http_requests_total{method="GET",route="/random",code="503"}"#
        ),
        16.0
    );
    assert_eq!(
        series_value(
            &text,
            r#"monlab_http_errors_total{route="/random",kind="overloaded"}"#
        ),
        16.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_and_refuses_new() {
    let mut m = Monlab::start(&["--delay", "constant(value=1.5)", "--shutdown-grace", "10s"]);
    let client = reqwest::Client::new();
    let mut in_flight = Vec::new();
    for _ in 0..5 {
        let (c, url) = (client.clone(), m.url("/random"));
        in_flight.push(tokio::spawn(async move {
            c.get(url).send().await.map(|r| r.status())
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    m.proc.signal("TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fresh = reqwest::Client::new().get(m.url("/random")).send().await;
    assert!(
        fresh.is_err(),
        "a new connection was accepted after SIGTERM"
    );
    for t in in_flight {
        assert_eq!(t.await.unwrap().expect("in-flight request completes"), 200);
    }
    assert_eq!(m.proc.wait_exit(Duration::from_secs(10)), Some(0));
    let out = m.proc.output();
    assert!(out.contains("Shutdown requested; draining."), "{out}");
    assert!(out.contains("Stopped."), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_period_bounds_the_wait() {
    let mut m = Monlab::start(&["--delay", "constant(value=20)", "--shutdown-grace", "500ms"]);
    let url = m.url("/random");
    let pending = tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    m.proc.signal("INT");
    assert_eq!(m.proc.wait_exit(Duration::from_secs(5)), Some(0));
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(
        pending.await.unwrap().is_err(),
        "the abandoned request cannot succeed"
    );
    assert!(m.proc.output().contains("Grace period over"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_turns_unready_while_draining() {
    let mut m = Monlab::start(&["--drain-delay", "2s"]);
    let client = reqwest::Client::new();
    assert_eq!(
        client.get(m.url("/readyz")).send().await.unwrap().status(),
        200
    );
    m.proc.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = client.get(m.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["status"],
        "draining"
    );
    assert_eq!(
        client.get(m.url("/healthz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(m.proc.wait_exit(Duration::from_secs(10)), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_json_errors_and_never_a_5xx() {
    let m = Monlab::start(&["--delay", "constant(value=0)"]);
    let client = reqwest::Client::new();
    let cases: Vec<(reqwest::RequestBuilder, u16, &str, &str)> = vec![
        (client.get(m.url("/nope")), 404, "not_found", "/nope"),
        (
            client.post(m.url("/random")),
            405,
            "method_not_allowed",
            "POST",
        ),
        (
            client.delete(m.url("/metrics")),
            405,
            "method_not_allowed",
            "DELETE",
        ),
        (
            client.get(m.url("/random?color=red")),
            400,
            "bad_request",
            "color",
        ),
        (
            client.get(m.url("/random?user=")),
            400,
            "bad_request",
            "user",
        ),
        (
            client.get(m.url("/random?user=a%20b")),
            400,
            "bad_request",
            "user",
        ),
        (
            client.get(m.url(&format!("/random?user={}", "x".repeat(65)))),
            400,
            "bad_request",
            "user",
        ),
    ];
    for (req, status, kind, names) in cases {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), status);
        assert!(r
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], kind, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains(names),
            "{body} lacks {names}"
        );
    }
    let text = get_text(&m.url("/metrics")).await;
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("monlab_http_requests_total") && l.contains("code=\"5")),
        "bad input was counted as a server error:\n{text}"
    );
    assert_eq!(
        series_value(
            &text,
            r#"monlab_http_errors_total{route="/random",kind="bad_request"}"#
        ),
        4.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposition_passes_promtool_in_every_text_format() {
    let promtool = require_tool("promtool", "prometheus");
    let m = Monlab::start(&["--delay", "constant(value=0.001)"]);
    let client = reqwest::Client::new();
    for path in ["/random", "/random", "/nope", "/random?bad=1"] {
        client.get(m.url(path)).send().await.unwrap();
    }
    // promtool reads the Prometheus text format; OpenMetrics and protobuf are proven by a
    // live Prometheus ingesting them (see the stack tests).
    let r = client.get(m.url("/metrics")).send().await.unwrap();
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    let body = r.text().await.unwrap();
    assert!(
        ct.starts_with("text/plain; version=0.0.4"),
        "answered as {ct}"
    );
    let mut check = std::process::Command::new(&promtool);
    check.args(["check", "metrics"]);
    let out = run_with_input(check, &body);
    assert!(
        out.code == 0,
        "promtool check metrics failed: {}\n{body}",
        out.printed()
    );
    assert!(body.contains("# TYPE monlab_random_recent_delay_seconds summary"));
    assert!(body.contains("monlab_build_info{"));

    let om = client
        .get(m.url("/metrics"))
        .header("accept", "application/openmetrics-text;version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(om.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text; version=1.0.0"));
    let om = om.text().await.unwrap();
    assert!(om.ends_with("# EOF\n"), "OpenMetrics must end with # EOF");
    assert!(om.contains("# UNIT monlab_random_recent_delay_seconds seconds"));
    assert_eq!(om.matches("# EOF").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributions_endpoint_tells_the_truth() {
    let m = Monlab::start(&[
        "--value",
        "mixture(0.5*normal(mean=0, std_dev=1), 0.5*normal(mean=10, std_dev=1))",
        "--delay",
        "gamma(shape=2, scale=0.01)",
        "--seed",
        "9",
    ]);
    let d: serde_json::Value = get_json(&m.url("/distributions")).await;
    assert_eq!(
        d["value"]["spec"],
        "mixture(0.5*normal(mean=0, std_dev=1), 0.5*normal(mean=10, std_dev=1))"
    );
    assert_eq!(d["delay"]["family"], "gamma");
    assert!((d["delay"]["mean"].as_f64().unwrap() - 0.02).abs() < 1e-12);
    assert_eq!(d["seed"], 9);
}

/// An incident is an event in the system: started or stopped through one replica's admin
/// API, it reaches every peer (`--peers`), and the command says when one did not take it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_reach_every_peer_and_a_missing_peer_is_named() {
    let token = "peer-test-token";
    let b = Monlab::start(&["--admin-token", token]);
    let dead = format!("http://127.0.0.1:{}", crate::harness::free_port());
    let a = Monlab::start(&[
        "--admin-token",
        token,
        "--peers",
        &format!("http://{}", b.addr),
    ]);
    async fn active(m: &Monlab) -> bool {
        let body: serde_json::Value = get_json(&m.url("/incidents")).await;
        body["incidents"]
            .as_array()
            .is_some_and(|l| l.iter().any(|i| i["name"] == "auth-down"))
    }
    let incident = |m: &Monlab, action: &[&str]| {
        let mut args = vec!["incident"];
        args.extend_from_slice(action);
        let url = m.url("");
        args.extend_from_slice(&["--url", &url]);
        let ran = run_monlab(&args, &[("MONLAB_ADMIN_TOKEN", token)]);
        (ran.code, ran.printed())
    };

    let (code, out) = incident(&a, &["start", "auth-down", "--for", "2m"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("on 2 of 2 replicas"), "{out}");
    assert!(active(&a).await && active(&b).await, "both have auth-down");
    let (code, out) = incident(&a, &["stop", "auth-down"]);
    assert_eq!(code, 0, "{out}");
    assert!(!active(&a).await && !active(&b).await, "both stopped it");

    // A peer that does not answer: the others still take the change, the command fails
    // naming it.
    let c = Monlab::start(&[
        "--admin-token",
        token,
        "--peers",
        &format!("http://{},{dead}", b.addr),
    ]);
    let (code, out) = incident(&c, &["start", "auth-down", "--for", "2m"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("on 2 of 3 replicas"), "{out}");
    assert!(out.contains(&dead), "names the peer it missed: {out}");
    assert!(active(&b).await && active(&c).await);
}
