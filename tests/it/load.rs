//! `monlab load` against a real service: flag errors, exact counts, and coordinated omission.

use crate::harness::{get_text, monlab_command, parse_exposition, Monlab, Proc};
use crate::support::command::{run_monlab, run_within, Ran};
use monlab::load::Report;
use std::collections::BTreeMap;
use std::time::Duration;

/// Runs `monlab load <args>`, which must end within 30 s.
fn load(args: &[&str]) -> Ran {
    run_within(
        monlab_command(&[&["load"], args].concat()),
        Duration::from_secs(30),
    )
}

/// Runs a load with `--json` and parses the report.
fn load_json(args: &[&str]) -> Report {
    let stdout = load(&[args, &["--json", "--quiet"]].concat()).success();
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad report ({e}):\n{stdout}"))
}

#[test]
fn bad_flags_exit_2_with_one_line_naming_the_flag() {
    // A port nothing listens on, in case a case were wrongly accepted.
    let safe = ["--target", "http://127.0.0.1:9", "--requests", "1"];
    let cases: [(&[&str], &str); 9] = [
        (&["--rate", "0"], "--rate"),
        (&["--rate", "abc"], "--rate"),
        (&["--mix", "random=x"], "--mix 'random=x': weight of random"),
        (&["--mix", "bogus=1"], "unknown route 'bogus'"),
        (&["--arrivals", "weird"], "--arrivals 'weird'"),
        (&["--target", "notaurl"], "--target 'notaurl'"),
        (
            &["--duration", "25h"],
            "--duration '25h': must be at most 24h",
        ),
        (&["--requests", "2000000000"], "--requests"),
        (&["--bad-login-share", "1.5"], "--bad-login-share"),
    ];
    for (flags, want) in cases {
        // A flag given twice is clap's error, not the value check this case is about: give
        // each safe flag only when the case does not.
        let prefix: Vec<&str> = safe
            .chunks(2)
            .filter(|pair| !flags.contains(&pair[0]))
            .flatten()
            .copied()
            .collect();
        let Ran {
            code,
            stdout,
            stderr,
            ..
        } = load(&[&prefix[..], flags].concat());
        assert_eq!(code, 2, "{flags:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{flags:?}: {stderr}");
        assert!(
            stderr.contains(want),
            "{flags:?}: {stderr:?} lacks {want:?}"
        );
        assert!(stdout.is_empty(), "{flags:?}: {stdout}");
    }
    let Ran { code, stderr, .. } = load(&["--rate", "10"]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--duration") && stderr.contains("--requests"),
        "{stderr}"
    );
    // The same checks apply to the environment, named as such.
    let Ran { code, stderr, .. } = run_monlab(
        &["load", "--target", "http://127.0.0.1:9"],
        &[("MONLAB_LOAD_REQUESTS", "1"), ("MONLAB_LOAD_RATE", "-5")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("invalid MONLAB_LOAD_RATE '-5'"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_counts_equal_the_services_counters() {
    let m = Monlab::start(&["--delay", "constant(value=0.002)"]);
    let target = m.url("");
    let report = load_json(&[
        "--target",
        &target,
        "--rate",
        "200",
        "--requests",
        "600",
        "--mix",
        "random=50,login=25,predict=25",
        "--bad-login-share",
        "0.1",
        "--seed",
        "11",
    ]);
    let t = &report.total;
    assert_eq!(
        (t.sent, t.completed, t.cancelled),
        (600, 600, 0),
        "{report:#?}"
    );
    assert!(t.transport_errors.is_empty(), "{report:#?}");
    assert!(!report.stopped_early);

    // The service counted exactly what the report says, per route and status code.
    let text = get_text(&m.url("/metrics")).await;
    let mut served: BTreeMap<(String, u16), u64> = BTreeMap::new();
    for (series, value) in parse_exposition(&text) {
        let Some(labels) = series.strip_prefix("monlab_http_requests_total{") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches(['"', '}']).to_string())
                .unwrap_or_default()
        };
        let route = label("route");
        if ["/random", "/login", "/predict"].contains(&route.as_str()) {
            let code = label("code").parse().expect("numeric code");
            served.insert((route, code), value as u64);
        }
    }
    let reported: BTreeMap<(String, u16), u64> = report
        .routes
        .iter()
        .flat_map(|(route, r)| r.status.iter().map(|(c, n)| ((route.clone(), *c), *n)))
        .collect();
    assert_eq!(reported, served, "report vs /metrics:\n{text}");

    // The mix and the wrong-token share show up at about their configured sizes.
    let share = |route: &str| report.routes[route].sent as f64 / 600.0;
    assert!((share("/random") - 0.5).abs() < 0.08, "{report:#?}");
    assert!((share("/login") - 0.25).abs() < 0.08, "{report:#?}");
    let login = &report.routes["/login"];
    let unauthorized = login.status.get(&401).copied().unwrap_or(0) as f64;
    let bad = unauthorized / login.completed as f64;
    assert!((0.04..0.18).contains(&bad), "401 share {bad}: {login:#?}");
    assert_eq!(
        login.status.keys().copied().collect::<Vec<_>>(),
        [200, 401],
        "{login:#?}"
    );
    // Every request waited at least the service's 2 ms delay, measured both ways.
    let random = &report.routes["/random"];
    assert!(random.service_time.p50 >= 0.002, "{random:#?}");
    assert!(
        random.latency.p50 >= random.service_time.p50 * 0.9,
        "{random:#?}"
    );
    assert!(report.achieved_rate > 150.0 && report.achieved_rate < 250.0);
}

/// Outcomes exist only for approved applications: the load labels every approval (the
/// holdout's too) and never a decline, so the service refuses none of them, and the labels
/// it counts are the holdout's and the approvals'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_go_only_to_approved_predictions() {
    let m = Monlab::start(&["--holdout-share", "0.3"]);
    let target = m.url("");
    let report = load_json(&[
        "--target",
        &target,
        "--rate",
        "200",
        "--requests",
        "400",
        "--mix",
        "predict=1",
        "--feedback-delay",
        "0s",
        "--seed",
        "12",
    ]);
    let fb = &report.feedback;
    assert_eq!(fb.planned + fb.declined, 400, "{fb:#?}");
    assert!(fb.declined > 20, "the model declines some: {fb:#?}");
    assert_eq!(fb.requests.completed, fb.planned, "{fb:#?}");
    assert_eq!(
        fb.requests.status.keys().copied().collect::<Vec<_>>(),
        [200],
        "no label was refused: {fb:#?}"
    );
    let text = get_text(&m.url("/metrics")).await;
    let total = |filter: &dyn Fn(&str) -> bool| -> f64 {
        parse_exposition(&text)
            .into_iter()
            .filter(|(s, _)| s.starts_with("monlab_model_feedback_total{") && filter(s))
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(total(&|_| true), fb.planned as f64, "{text}");
    // The model's own declines come back only from the holdout, which approved them.
    let declined = |cohort: &str| {
        let cohort = format!(r#"cohort="{cohort}""#);
        total(&|s: &str| s.contains(r#"decision="decline""#) && s.contains(&cohort))
    };
    assert_eq!(declined("decided"), 0.0, "{text}");
    assert!(declined("holdout") > 0.0, "{text}");
}

#[test]
fn waiting_behind_a_slow_service_counts_as_latency() {
    // Two requests in flight, each 0.2 s: the service can do 10/s, the schedule asks for 40/s.
    let m = Monlab::start(&["--delay", "constant(value=0.2)"]);
    let target = m.url("");
    let report = load_json(&[
        "--target",
        &target,
        "--mix",
        "random=1",
        "--concurrency",
        "2",
        "--rate",
        "40",
        "--requests",
        "80",
        "--arrivals",
        "constant",
    ]);
    let r = &report.total;
    assert_eq!(r.completed, 80, "{report:#?}");
    // Each request waited its turn: the 80th was meant to leave at 2 s and ended near 8 s.
    assert!(r.latency.p99 > 1.0, "latency hides the queue: {report:#?}");
    assert!(r.latency.max > 5.0, "{report:#?}");
    // The service itself stayed fast; only the wait grew.
    assert!(
        (0.2..0.3).contains(&r.service_time.p50) && r.service_time.p99 < 0.4,
        "{report:#?}"
    );
    // The generator could not keep the rate, and says so.
    assert!(report.achieved_rate < 15.0, "{report:#?}");
}

/// Once the schedule is done, a run that still waits for feedback due later says so and for
/// how long, and Ctrl-C ends that wait at once with the report printed.
#[test]
fn ctrl_c_ends_the_wait_for_feedback_with_the_report() {
    let service = Monlab::start(&[]);
    let target = service.url("");
    // Every prediction gets feedback, due after 30 s on average: most of it is still waiting
    // when the 1 s schedule ends.
    let mut load = Proc::spawn(monlab_command(&[
        "load",
        "--target",
        &target,
        "--duration",
        "1s",
        "--rate",
        "50",
        "--mix",
        "predict=1",
        "--feedback-share",
        "1",
        "--feedback-delay",
        "30s",
    ]));
    let said = load.wait_for_output("Waiting for the feedback", Duration::from_secs(20));
    let line = said
        .lines()
        .find(|l| l.contains("Waiting for the feedback"))
        .unwrap_or_default();
    assert!(
        line.contains("pending=") && line.contains("up_to_seconds=20"),
        "what and how long: {line}"
    );
    let asked = std::time::Instant::now();
    load.signal("INT");
    assert_eq!(
        load.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        load.output()
    );
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "Ctrl-C took {:?} to end the wait",
        asked.elapsed()
    );
    // The report may still be on its way through the output reader after the exit.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let out = loop {
        let out = load.output();
        if out.contains(" cancelled at the end") || std::time::Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let cancelled: u64 = out
        .split(" cancelled at the end")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no feedback line in the report:\n{out}"));
    assert!(cancelled > 0, "the wait was cut short:\n{out}");
    assert!(out.contains("requests "), "the report is printed:\n{out}");
}
