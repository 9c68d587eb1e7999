//! Starts the real binaries for the integration tests: monlab, Prometheus, Alertmanager.
//!
//! Every process gets its own temporary folder and a loopback port, is waited for until it
//! answers, and is killed when its handle drops. A missing tool fails the test with the
//! command that installs it; nothing is skipped.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::command::run_monlab;
use crate::support::files::deploy_dir;

/// Fails with install instructions when `tool` is not on PATH.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(tool);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{tool}` is not on PATH. Install it with: sudo apt-get install -y {package} \
         (or run scripts/install-deps)"
    );
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A child process whose output is captured and which is killed on drop.
pub struct Proc {
    /// What was run, for failure messages.
    pub command: String,
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Proc {
    /// Spawns `cmd`, capturing stdout and stderr into one log.
    pub fn spawn(mut cmd: Command) -> Self {
        let command = format!("{cmd:?}");
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command}: {e}"));
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let out = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut o = out.lock().unwrap();
                    o.push_str(&line);
                    o.push('\n');
                }
            });
        }
        Self {
            command,
            child,
            output,
        }
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (e.g. "TERM", "INT", "KILL") with `kill(1)`.
    pub fn signal(&self, sig: &str) {
        assert!(
            crate::support::procs::signal(self.pid(), sig),
            "kill -{sig} {} failed",
            self.pid()
        );
    }

    /// Waits up to `timeout` for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Polls the output until `pattern` appears, or panics with the log after `timeout`.
    pub fn wait_for_output(&mut self, pattern: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.output();
            if out.contains(pattern) {
                return out;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before printing {pattern:?}:\n{out}",
                    self.command
                );
            }
            if Instant::now() > deadline {
                panic!("{} did not print {pattern:?} in time:\n{out}", self.command);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- output of {} ---\n{}", self.command, self.output());
        }
    }
}

/// Polls `url` until it answers 2xx, or panics after `timeout`.
pub fn wait_http_ok(url: &str, timeout: Duration, proc: &mut Proc) {
    let deadline = Instant::now() + timeout;
    loop {
        if matches!(http_get_status(url), Ok(200..=299)) {
            return;
        }
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("{} exited ({status}):\n{}", proc.command, proc.output());
        }
        if Instant::now() > deadline {
            panic!("{url} did not become ready:\n{}", proc.output());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// GETs `url` over a plain TCP socket and returns the status code (no runtime needed).
pub fn http_get_status(url: &str) -> std::io::Result<u16> {
    http_open(url).map(|(status, _, _)| status)
}

/// GETs an `http://host:port/path` URL over a plain TCP socket (no runtime needed); returns
/// the status and the body.
pub fn http_get(url: &str) -> std::io::Result<(u16, String)> {
    use std::io::Read;
    let (status, head, mut answer) = http_open(url)?;
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (key, value) = l.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_ascii_lowercase())
        })
    };
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            answer.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|e| std::io::Error::other(format!("bad chunk size: {e}")))?;
            if size == 0 {
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            answer.read_exact(&mut body[start..])?;
            answer.read_line(&mut String::new())?;
        }
    } else if let Some(n) = header("content-length").and_then(|n| n.parse::<usize>().ok()) {
        body.resize(n, 0);
        answer.read_exact(&mut body)?;
    } else {
        answer.read_to_end(&mut body)?;
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Sends an HTTP/1.1 GET for `url` and reads the answer's head; returns the status, the head
/// and the connection, positioned at the body. (Some servers, chromedriver among them, do
/// not answer HTTP/1.0, and some do not close a connection after answering: the body is
/// read by its length.)
fn http_open(url: &str) -> std::io::Result<(u16, String, BufReader<std::net::TcpStream>)> {
    use std::io::Write;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other("only http:// URLs"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = std::net::TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if answer.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response: {head}")))?;
    Ok((status, head, answer))
}

/// GETs `url` and parses the JSON it answers (panics when it does not answer JSON).
pub async fn get_json(url: &str) -> serde_json::Value {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url} answered no JSON: {e}"))
}

/// GETs `url` and returns the text it answers.
pub async fn get_text(url: &str) -> String {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// The monlab binary under test.
pub fn monlab_bin() -> &'static str {
    env!("CARGO_BIN_EXE_monlab")
}

/// A `monlab` command with a scrubbed environment (no MONLAB_* from the developer's shell).
pub fn monlab_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(monlab_bin());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MONLAB_LOG", "info")
        .args(args);
    cmd
}

/// A running `monlab serve`.
pub struct Monlab {
    /// The process.
    pub proc: Proc,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Monlab {
    /// Starts `monlab serve --listen 127.0.0.1:0 <extra>` and waits until it serves.
    pub fn start(extra: &[&str]) -> Self {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Self::start_command(monlab_command(&args))
    }

    /// Starts a prepared `monlab serve` command that listens on port 0.
    pub fn start_command(cmd: Command) -> Self {
        let mut proc = Proc::spawn(cmd);
        let out = proc.wait_for_output("Serving.", Duration::from_secs(30));
        let addr = out
            .lines()
            .find(|l| l.contains("Serving."))
            .and_then(|l| l.split("addr=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no addr= in the start line:\n{out}"));
        Self { proc, addr }
    }

    /// `http://addr` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A temporary folder that lives as long as the value.
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("a temporary folder")
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent folder");
    }
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// Parses the Prometheus text exposition into (series, value) pairs.
pub fn parse_exposition(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse::<f64>().ok()?))
        })
        .collect()
}

/// The value of one exact series in an exposition, or 0 when absent.
pub fn series_value(text: &str, series: &str) -> f64 {
    parse_exposition(text)
        .into_iter()
        .find(|(s, _)| s == series)
        .map(|(_, v)| v)
        .unwrap_or(0.0)
}

/// The admin token every test stack's service runs with.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A live stack: monlab, Prometheus and Alertmanager, configured from `deploy/` exactly as
/// `monlab up` does it (same library code), with 1 s scrape and evaluation intervals.
pub struct Stack {
    /// The service.
    pub monlab: Monlab,
    /// Prometheus (held so it lives as long as the stack; killed on drop).
    #[allow(dead_code)]
    pub prometheus: Proc,
    /// Alertmanager (held like Prometheus).
    #[allow(dead_code)]
    pub alertmanager: Proc,
    /// The Pushgateway (held like Prometheus).
    #[allow(dead_code)]
    pub pushgateway: Proc,
    /// `http://127.0.0.1:port` of the Pushgateway.
    pub pg_url: String,
    /// `http://127.0.0.1:port` of Prometheus.
    pub prom_url: String,
    /// `http://127.0.0.1:port` of Alertmanager.
    pub am_url: String,
    /// The time warp K the stack runs at (1: the shipped rules at 1 s intervals).
    pub speed: monlab::warp::Speed,
    _dir: tempfile::TempDir,
}

/// Starts a lone Alertmanager (no cluster) with config `yml` and storage `storage` on
/// 127.0.0.1:`port`; the caller waits for it to be ready.
pub fn spawn_alertmanager(yml: &Path, storage: &Path, port: u16) -> Proc {
    let mut cmd = Command::new(require_tool(
        "prometheus-alertmanager",
        "prometheus-alertmanager",
    ));
    cmd.arg(format!("--config.file={}", yml.display()))
        .arg(format!("--storage.path={}", storage.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=");
    Proc::spawn(cmd)
}

impl Stack {
    /// Starts the three with extra `monlab serve` flags: the shipped rules, 1 s intervals.
    pub fn start(serve_flags: &[&str]) -> Self {
        Self::start_at(monlab::warp::Speed::ONE, serve_flags)
    }

    /// Starts the three at time warp `k`, as `monlab up --speed K` runs them: the shipped
    /// rules, Alertmanager timers and 15 s intervals all divided by K by the warp's own
    /// transform (K = 1 keeps the shipped rules at 1 s intervals, the tests' old way).
    pub fn warped(k: u32, serve_flags: &[&str]) -> Self {
        Self::start_at(
            monlab::warp::Speed::new(k).expect("a speed from 1 to 60"),
            serve_flags,
        )
    }

    fn start_at(speed: monlab::warp::Speed, serve_flags: &[&str]) -> Self {
        let warped = speed != monlab::warp::Speed::ONE;
        let prometheus_bin = require_tool("prometheus", "prometheus");
        let (prom_port, am_port, pg_port) = (free_port(), free_port(), free_port());
        // The lab page reads this stack's Prometheus and Alertmanager, as under `monlab up`.
        let (lab_prom, lab_am) = (
            format!("http://127.0.0.1:{prom_port}"),
            format!("http://127.0.0.1:{am_port}"),
        );
        let mut flags = vec![
            "--admin-token",
            ADMIN_TOKEN,
            "--prometheus-url",
            &lab_prom,
            "--alertmanager-url",
            &lab_am,
        ];
        let speed_text = speed.to_string();
        if warped {
            flags.extend_from_slice(&["--speed", &speed_text]);
        }
        flags.extend_from_slice(serve_flags);
        let monlab = Monlab::start(&flags);
        let dir = temp_dir("monlab-stack");
        let files =
            monlab::stack::files::RunFiles::new(&deploy_dir(), speed, &dir.path().join("warped"))
                .expect("scale the rules");
        for (path, text) in &files.rules {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let service = monlab.addr.to_string();
        let targets = monlab::stack::files::Targets {
            monlab: vec![service.clone()],
            monlab_file_sd: None,
            prometheus: format!("127.0.0.1:{prom_port}"),
            alertmanagers: vec![format!("127.0.0.1:{am_port}")],
            pushgateway: format!("127.0.0.1:{pg_port}"),
            webhook: service.clone(),
        };
        let prom_cfg = files
            .prometheus(
                &targets,
                (!warped).then_some(Duration::from_secs(1)),
                &monlab::stack::files::Extras::default(),
            )
            .expect("derive prometheus.yml");
        let am_cfg = files
            .alertmanager(&service)
            .expect("derive alertmanager.yml");
        let prom_yml = write_file(dir.path(), "prometheus.yml", &prom_cfg);
        let am_yml = write_file(dir.path(), "alertmanager.yml", &am_cfg);
        let mut cmd = Command::new(prometheus_bin);
        cmd.arg(format!("--config.file={}", prom_yml.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("prom").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--enable-feature=native-histograms,exemplar-storage")
            .args(files.prometheus_flags());
        let mut prometheus = Proc::spawn(cmd);
        let mut alertmanager = spawn_alertmanager(&am_yml, &dir.path().join("am"), am_port);
        let mut cmd = Command::new(require_tool(
            "prometheus-pushgateway",
            "prometheus-pushgateway",
        ));
        cmd.arg(format!("--web.listen-address=127.0.0.1:{pg_port}"))
            .arg(format!(
                "--persistence.file={}",
                dir.path().join("pg.db").display()
            ));
        let mut pushgateway = Proc::spawn(cmd);
        let pg_url = format!("http://127.0.0.1:{pg_port}");
        wait_http_ok(
            &format!("{pg_url}/-/ready"),
            Duration::from_secs(30),
            &mut pushgateway,
        );
        let prom_url = format!("http://127.0.0.1:{prom_port}");
        let am_url = format!("http://127.0.0.1:{am_port}");
        wait_http_ok(
            &format!("{prom_url}/-/ready"),
            Duration::from_secs(60),
            &mut prometheus,
        );
        wait_http_ok(
            &format!("{am_url}/-/ready"),
            Duration::from_secs(60),
            &mut alertmanager,
        );
        Self {
            monlab,
            prometheus,
            alertmanager,
            pushgateway,
            pg_url,
            prom_url,
            am_url,
            speed,
            _dir: dir,
        }
    }

    /// An admin client of the service.
    pub fn admin(&self) -> monlab::scenario::client::AdminClient {
        monlab::scenario::client::AdminClient::new(
            &self.monlab.url(""),
            Some(ADMIN_TOKEN.to_string()),
        )
    }

    /// Runs an instant query; returns `data.result` (panics on a query error).
    pub async fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let body: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.prom_url))
            .query(&[("query", promql)])
            .send()
            .await
            .expect("prometheus answers")
            .json()
            .await
            .expect("prometheus answers JSON");
        assert_eq!(body["status"], "success", "{promql}: {body}");
        body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// One number from an instant query, NaN when there is none.
    pub async fn value(&self, promql: &str) -> f64 {
        self.query(promql)
            .await
            .first()
            .and_then(|s| s["value"][1].as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }

    /// Waits (at most 30 s) until Prometheus has scraped the service.
    pub async fn wait_for_target_up(&self) {
        self.wait_until(
            "target up",
            r#"up{job="monlab"} == 1"#,
            Duration::from_secs(30),
            |r| !r.is_empty(),
        )
        .await;
    }

    /// Polls `promql` until `ok` holds for its result, or panics after `timeout`.
    pub async fn wait_until(
        &self,
        what: &str,
        promql: &str,
        timeout: Duration,
        ok: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.query(promql).await;
            if ok(&r) {
                return r;
            }
            if Instant::now() > deadline {
                panic!("{what}: `{promql}` did not get there in {timeout:?}; last result {r:?}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Sends `n` GETs to `url` at about `rate` per second (bounded by `n`), returns statuses.
pub async fn drive(url: &str, rate: f64, n: usize) -> Vec<u16> {
    let client = reqwest::Client::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        tick.tick().await;
        let (c, u) = (client.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            c.get(u)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }));
    }
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap_or(0));
    }
    out
}

/// Steady mixed traffic (random, login, predict) at `rate` per second until the returned
/// sender is dropped or `max` passes. Counts answered requests by status.
pub fn background_traffic(
    base: &str,
    rate: f64,
    max: Duration,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::collections::BTreeMap<u16, u64>>,
) {
    use rand::{Rng, SeedableRng};
    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    let base = base.trim_end_matches('/').to_string();
    let handle = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let generator = monlab::ml::dataset::Generator::default();
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        let deadline = tokio::time::Instant::now() + max;
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<u16>();
        let mut counts = std::collections::BTreeMap::new();
        let mut sent = 0u64;
        loop {
            tokio::select! {
                _ = &mut rx => break,
                _ = tokio::time::sleep_until(deadline) => break,
                _ = tick.tick() => {}
            }
            let user = format!("u{}", rng.random_range(0..500));
            let pick: f64 = rng.random();
            let req = if pick < 0.6 {
                client.get(format!("{base}/random?user={user}"))
            } else if pick < 0.8 {
                let token = if rng.random::<f64>() < 0.05 {
                    "wrong".to_string()
                } else {
                    monlab::api::login::valid_token(&user)
                };
                client
                    .post(format!("{base}/login"))
                    .json(&serde_json::json!({"user": user, "token": token}))
            } else {
                let mut body = generator.features(&mut rng).to_json();
                body["user"] = serde_json::json!(user);
                client.post(format!("{base}/predict")).json(&body)
            };
            let done = done_tx.clone();
            sent += 1;
            tokio::spawn(async move {
                let code = req.send().await.map(|r| r.status().as_u16()).unwrap_or(0);
                let _ = done.send(code);
            });
            while let Ok(code) = done_rx.try_recv() {
                *counts.entry(code).or_insert(0) += 1;
            }
        }
        drop(done_tx);
        let answered: u64 = counts.values().sum();
        for _ in answered..sent {
            match tokio::time::timeout(Duration::from_secs(40), done_rx.recv()).await {
                Ok(Some(code)) => *counts.entry(code).or_insert(0) += 1,
                _ => break,
            }
        }
        counts
    });
    (tx, handle)
}

/// Runs `monlab report --store <store> --from <from>` into a fresh folder, checks it succeeded,
/// and returns the folder with `report.md`'s text.
pub fn report(store: &str, from: f64) -> (tempfile::TempDir, String) {
    let out = temp_dir("monlab-report");
    run_monlab(
        &[
            "report",
            "--store",
            store,
            "--from",
            &format!("{from:.0}"),
            "--out",
            out.path().to_str().unwrap(),
        ],
        &[],
    )
    .success();
    let md = crate::support::files::read_text(&out.path().join("report.md"));
    (out, md)
}
