//! `monlab up --ha` under fire: during an incident, one Prometheus and one Alertmanager are
//! killed with SIGKILL; exactly one (deduplicated) page fires and one resolves, the restarted
//! members send no second page, and VictoriaMetrics holds the same sample counts
//! for the monlab targets as the surviving Prometheus, the rules sum the three service
//! replicas to the rate sent, and `monlab report` finds the incident in VictoriaMetrics.
//! It runs at the incident tests' time warp: durations below are system time, divided by K
//! on the wall clock; restarts and back-offs are the real processes', not scaled.

use crate::harness::{free_port, get_json, temp_dir, Proc, ADMIN_TOKEN};
use crate::support::alerts::wait_for_notification;
use crate::support::procs::{self, processes};
use crate::support::up::{start_up, UpPorts};
use monlab::api::incident::Params;
use monlab::api::now_seconds;
use monlab::scenario::client::AdminClient;
use std::time::Duration;

/// The alert the broken route raises.
const ALERT: &str = "MonlabHighErrorRatio";

/// Kills (SIGKILL) the process whose command line contains every needle; returns its pid.
fn kill9(needles: &[&str]) -> u32 {
    let seen = processes()
        .into_iter()
        .find(|p| needles.iter().all(|n| p.cmdline.contains(n)))
        .unwrap_or_else(|| panic!("no process matches {needles:?}"));
    assert!(procs::signal(seen.pid, "KILL"), "kill -9 {}", seen.pid);
    seen.pid
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

/// A running `monlab up --ha --replicas 3` at time warp `k`, under 30 requests per system
/// second, with the URLs of its parts.
struct Ha {
    up: Proc,
    _data: tempfile::TempDir,
    k: u32,
    ports: UpPorts,
    admin: AdminClient,
    /// The Prometheus that is never killed, and the one that is.
    prom_a: String,
    prom_b: String,
    vm_url: String,
}

/// What the incident's pages said, in seconds since the epoch (wall clock).
struct Paged {
    started: f64,
    firing: f64,
    stopped: f64,
    resolved: f64,
    killed_prom: u32,
    killed_am: u32,
}

impl Ha {
    /// Starts it on runs of free ports and waits for its banner.
    fn start(k: u32) -> Self {
        let data = temp_dir("monlab-ha");
        let ports = UpPorts {
            service: free_ports_at(&[0, 1, 2]),
            prometheus: free_ports_at(&[0, 1]),
            // Three Alertmanagers and their cluster ports, 100 above.
            alertmanager: free_ports_at(&[0, 1, 2, 100, 101, 102]),
            pushgateway: free_port(),
        };
        let vm = free_port();
        let (k_text, vm_text) = (k.to_string(), vm.to_string());
        let (up, _) = start_up(
            data.path(),
            ports,
            &[
                "--ha",
                "--replicas",
                "3",
                "--speed",
                &k_text,
                "--load-rate",
                "30",
                "--batch-every",
                "0s",
                "--vm-port",
                &vm_text,
                "--admin-token",
                ADMIN_TOKEN,
            ],
            Duration::from_secs(120),
        );
        let url = |port: u16| format!("http://127.0.0.1:{port}");
        Self {
            up,
            _data: data,
            k,
            admin: AdminClient::new(&url(ports.service), Some(ADMIN_TOKEN.into())),
            prom_a: url(ports.prometheus),
            prom_b: url(ports.prometheus + 1),
            vm_url: url(vm),
            ports,
        }
    }

    /// `secs` of system time on the wall clock.
    fn wall(&self, secs: u64) -> Duration {
        Duration::from_secs(secs) / self.k
    }

    /// `http://…` of the `i`th Alertmanager.
    fn am_url(&self, i: u16) -> String {
        format!("http://127.0.0.1:{}", self.ports.alertmanager + i)
    }

    /// Waits until each Alertmanager sees three peers.
    async fn wait_for_the_cluster(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let s = get_json(&format!("{}/api/v2/status", self.am_url(0))).await;
            if s["cluster"]["peers"].as_array().map_or(0, Vec::len) == 3 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "cluster did not form: {s}"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Breaks /random, kills the second Prometheus and Alertmanager while it is broken, waits
    /// for the page, fixes it and waits for the resolve.
    async fn break_it_and_lose_two_members(&self) -> Paged {
        let started = now_seconds();
        self.admin
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
        tokio::time::sleep(self.wall(20)).await;
        let killed_prom = kill9(&[
            &format!("127.0.0.1:{}", self.ports.prometheus + 1),
            "prometheus",
        ]);
        let killed_am = kill9(&[
            &format!("127.0.0.1:{}", self.ports.alertmanager + 1),
            "alertmanager",
        ]);
        let within = |secs| self.wall(secs) + Duration::from_secs(20);
        let firing = wait_for_notification(&self.admin, ALERT, "firing", within(240))
            .await
            .received_at;
        tokio::time::sleep(self.wall(20)).await;
        self.admin.stop("error-share").await.unwrap();
        let stopped = now_seconds();
        let resolved = wait_for_notification(&self.admin, ALERT, "resolved", within(300))
            .await
            .received_at;
        Paged {
            started,
            firing,
            stopped,
            resolved,
            killed_prom,
            killed_am,
        }
    }

    /// Waits until `up` has restarted both killed members and they are ready (a restart takes
    /// real seconds at any warp), then lets a system minute pass in which they could page.
    async fn wait_for_the_restarted_members(&self) {
        let out = self.up.output();
        assert!(
            out.contains("restarting"),
            "up did not restart the killed members:\n{out}"
        );
        for url in [
            format!("{}/-/ready", self.prom_b),
            format!("{}/-/ready", self.am_url(1)),
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
        tokio::time::sleep(self.wall(60)).await;
    }

    /// Exactly one deduplicated page and one resolve, without the replica label.
    async fn assert_paged_once(&self, paged: &Paged) {
        let dedup = self.admin.notifications(0).await.unwrap();
        let count = |status: &str| {
            dedup
                .iter()
                .flat_map(|n| &n.alerts)
                .filter(|a| a.status == status && a.labels["alertname"] == ALERT)
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
        let raw = self.admin.notifications_view(0, "raw").await.unwrap();
        let k = f64::from(self.k);
        println!(
            "ha at {}x: killed prometheus pid {} and alertmanager pid {}; page after {:.0} \
             system s, resolved {:.0} system s after the fix; {} raw notifications, {} after \
             dedup",
            self.k,
            paged.killed_prom,
            paged.killed_am,
            (paged.firing - paged.started) * k,
            (paged.resolved - paged.stopped) * k,
            raw.len(),
            dedup.len()
        );
    }

    /// Sample counts of the monlab targets: VictoriaMetrics (both replicas' writes,
    /// deduplicated) against the Prometheus that was never killed.
    async fn assert_the_long_term_store_holds_the_same_samples(&self) {
        // VictoriaMetrics keeps whole seconds and answers a query without `time` about 30 s
        // late, so ask about a fixed past minute. The window is real seconds (samples, not
        // system time): 20 s ending 10 s ago, past the remote-write queue's flush, holds about
        // 13 scrapes of each replica at 1.5 s.
        let at = (now_seconds() as u64 - 10).to_string();
        let q = r#"sum(count_over_time(up{job="monlab"}[20s]))"#;
        let (in_prom, in_vm) = (
            query_number(&self.prom_a, q, Some(&at)).await,
            query_number(&self.vm_url, q, Some(&at)).await,
        );
        println!(
            "samples in 20 s for job monlab: prometheus-a {in_prom}, victoria-metrics {in_vm}"
        );
        assert!(
            (in_vm - in_prom).abs() <= 3.0,
            "VictoriaMetrics {in_vm} vs surviving Prometheus {in_prom}"
        );
    }

    /// Rules aggregate across the replicas: the recorded work-request rate is what was sent.
    async fn assert_the_rules_sum_the_replicas(&self) {
        // The recorded 1m request rate of the work routes, summed over every replica.
        let recorded = query_number(
            &self.prom_a,
            r#"sum(job_route:monlab_http_requests:rate1m{job="monlab",route=~"/random|/login|/predict"})"#,
            None,
        )
        .await;
        // 30 requests per system second are 30·K per wall second.
        let sent = 30.0 * f64::from(self.k);
        println!("recorded work-request rate over 3 replicas: {recorded:.2}/s (sent {sent}/s)");
        assert!(
            (recorded / sent - 1.0).abs() < 0.1,
            "recorded {recorded}/s vs {sent}/s sent"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_a_prometheus_and_an_alertmanager_pages_once() {
    let mut ha = Ha::start(crate::incidents::SPEED);
    ha.wait_for_the_cluster().await;
    let paged = ha.break_it_and_lose_two_members().await;
    // Both killed members are back (up restarts them); they must not page again.
    ha.wait_for_the_restarted_members().await;
    ha.assert_paged_once(&paged).await;
    ha.assert_the_long_term_store_holds_the_same_samples().await;
    ha.assert_the_rules_sum_the_replicas().await;
    // The performance review reads the long-term store as well as Prometheus: the incident
    // and the page that caught it are in VictoriaMetrics. A report covers at least a wall
    // minute; at the warp the incident took less, so the period starts a minute before it.
    let (_out, md) = crate::harness::report(&ha.vm_url, paged.started - 60.0);
    assert!(
        md.contains("| error-share |") && md.contains("MonlabHighErrorRatio (critical)"),
        "{md}"
    );
    ha.up.signal("TERM");
    assert_eq!(
        ha.up.wait_exit(Duration::from_secs(120)),
        Some(0),
        "{}",
        ha.up.output()
    );
}

/// The one number an instant query of the Prometheus API at `base` answers, at `time` (Unix
/// seconds) or now.
async fn query_number(base: &str, promql: &str, time: Option<&str>) -> f64 {
    let mut params = vec![("query", promql)];
    params.extend(time.map(|t| ("time", t)));
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/query"))
        .query(&params)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no value of {promql} at {base}: {v}"))
}
