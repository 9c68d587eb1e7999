//! The incidents of the design, each caught at its severity through the real Prometheus and
//! Alertmanager, under load from the real load generator; and a clean baseline that raises
//! nothing. Each test runs its own stack at the time warp [`SPEED`] (the shipped rules,
//! intervals and timers divided by K by the warp's own transform, the load K times faster),
//! and writes its scoreboard, in system seconds, to target/scoreboards/ (scripts/test prints
//! them). Durations below are system time, as in a scenario file.

use crate::harness::Stack;
use crate::support::alerts::assert_caught;
use crate::support::files::repo_path;
use monlab::api::incident::Params;
use monlab::api::scoreboard::Row;
use monlab::incident::Incident;
use monlab::load::LoadConfig;
use monlab::scenario::{self, PlannedStep, PlayOptions, Scoreboard};
use std::time::Duration;

/// Load that every incident test runs under, requests per system second.
const RATE: f64 = 30.0;

/// The time warp the incident tests run at: 15 s intervals become 1.5 s, a 5-minute window
/// 30 s. Ten warped stacks at 300 requests/s each stay reliable on a 2-core machine with six
/// tests at once; the system-time results match K = 1 (docs/time-warp.md).
pub(crate) const SPEED: u32 = 10;

/// Starts the real load generator against the stack until the sender is dropped.
pub(crate) fn start_load(
    stack: &Stack,
    seed: u64,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<monlab::load::Report>,
) {
    run_load(load_config(stack, seed).warped(stack.speed))
}

/// The incident tests' load on `stack` (seeded with `seed`), in system time: warp it before
/// running it.
pub(crate) fn load_config(stack: &Stack, seed: u64) -> LoadConfig {
    LoadConfig {
        target: stack.monlab.addr.to_string().parse().unwrap(),
        rate: RATE,
        seed: Some(seed),
        progress: false,
        duration: Duration::from_secs(12_000),
        // Outcomes seconds late, not the realistic 20 minutes: these tests time the alerts on
        // the model's incidents against 5-minute label windows; tests/it/ml_labels.rs runs
        // the realistic delay.
        feedback_delay: Duration::from_secs(5),
        // About half of all predictions labelled (0.6 of the 83% approved), the traffic these
        // tests were measured with.
        feedback_share: 0.6,
        ..Default::default()
    }
}

/// Runs the load generator with `cfg` until the sender is dropped.
pub(crate) fn run_load(
    cfg: LoadConfig,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<monlab::load::Report>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        monlab::load::run(&cfg, async {
            let _ = rx.await;
        })
        .await
        .expect("the load generator runs")
    });
    (tx, task)
}

/// Writes a scoreboard to target/scoreboards/<name>.txt and prints it.
pub(crate) fn save(name: &str, board: &Scoreboard) {
    let dir = repo_path("target/scoreboards");
    let _ = std::fs::create_dir_all(&dir);
    let text = board.to_string();
    let _ = std::fs::write(dir.join(format!("{name}.txt")), &text);
    println!("{text}");
}

/// Plays one incident for `duration` under load and returns the scored row.
async fn play_one(incident: Incident, duration: Duration, resolve_wait: Duration) -> Row {
    let stack = Stack::warped(SPEED, &[]);
    let (stop, load) = start_load(&stack, incident as u64);
    stack.wait_for_target_up().await;
    // Some normal traffic in every window before the break, as in life: a 5-minute window.
    tokio::time::sleep(Duration::from_secs(300) / SPEED).await;
    let steps = [PlannedStep {
        incident,
        at: Duration::ZERO,
        params: Params::lasting(duration),
    }];
    let board = scenario::play(
        &stack.admin(),
        &steps,
        PlayOptions {
            resolve_wait,
            poll: Duration::from_secs(1),
        },
    )
    .await
    .expect("the scenario plays");
    drop(stop);
    let report = load.await.unwrap();
    assert!(report.total.sent > 0);
    save(incident.name(), &board);
    board.rows.into_iter().next().unwrap()
}

/// `alert` caught the incident at its severity, nothing louder fired, and the alert resolved
/// once the incident ended.
fn assert_caught_and_resolved(row: &monlab::api::scoreboard::Row, alert: &str) {
    assert_caught(row, alert);
    assert!(
        row.resolve_seconds.is_some(),
        "{}: {alert} did not resolve after the incident ended",
        row.incident
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_down_pages() {
    let row = play_one(
        Incident::AuthDown,
        Duration::from_secs(150),
        Duration::from_secs(240),
    )
    .await;
    assert_caught_and_resolved(&row, "MonlabLoginsFailing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_down_opens_a_ticket() {
    let row = play_one(
        Incident::ModelDown,
        Duration::from_secs(360),
        Duration::from_secs(360),
    )
    .await;
    assert_caught_and_resolved(&row, "MonlabModelFallbackHigh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_users_raise_a_minor_alert_only() {
    let row = play_one(
        Incident::SlowUsers,
        Duration::from_secs(420),
        Duration::from_secs(600),
    )
    .await;
    assert_caught_and_resolved(&row, "MonlabSlowRequests");
}

/// Twenty system minutes of steady load with nothing broken: no alert fires or is even
/// pending, nothing reaches the webhook, and the recorded request rate equals what the load
/// generator sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_baseline_raises_nothing() {
    let stack = Stack::warped(SPEED, &[]);
    let (stop, load) = start_load(&stack, 99);
    // Before the first scrape `absent(up)` is true for a moment; watch from the first scrape.
    stack.wait_for_target_up().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start = tokio::time::Instant::now();
    let mut pending_seen = Vec::new();
    // Twenty system minutes: every window of every rule (the longest, drift's, is 10) fills
    // and slides at least once.
    while start.elapsed() < Duration::from_secs(1200) / SPEED {
        // The Watchdog heartbeat always fires by design; everything else must stay quiet.
        let quiet = r#"ALERTS{alertstate=~"pending|firing", alertname!="Watchdog"}"#;
        for a in stack.query(quiet).await {
            pending_seen.push(a["metric"].to_string());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let recorded = stack
        .query(r#"sum(job_route:monlab_http_requests:rate5m{route=~"/random|/login|/predict"})"#)
        .await;
    let notifications = stack.admin().notifications(0).await.unwrap();
    drop(stop);
    let report = load.await.unwrap();
    assert!(
        pending_seen.is_empty(),
        "alerts went pending or fired: {pending_seen:?}"
    );
    assert!(notifications.is_empty(), "notifications: {notifications:?}");
    let recorded: f64 = recorded[0]["value"][1].as_str().unwrap().parse().unwrap();
    let sent = report.achieved_rate;
    assert!(
        (recorded / sent - 1.0).abs() < 0.10,
        "recorded {recorded:.2}/s vs sent {sent:.2}/s"
    );
    println!("baseline: sent {sent:.2}/s, recorded {recorded:.2}/s, no alerts");
}
