//! The README is a contract: the commands of its ```sh blocks, read from the file on every
//! run, run here exactly as written, on their default ports. Each `monlab up` runs in a
//! network namespace of its own (`unshare -n`, loopback brought up), so the defaults never
//! collide with other tests; the commands that need a running system join that namespace
//! with `nsenter` while it runs. A README edit that breaks a command fails here, naming it.
//!
//! The rules, all of them:
//! - `scripts/test` runs this test and `scripts/up` builds a release binary into
//!   `~/.cargo/bin`: neither runs here (see [`NOT_RUN`]). Both must be executable scripts that
//!   bash accepts, and `scripts/up` must end by running `monlab up` with its arguments.
//! - The one placeholder is `MONLAB_ADMIN_TOKEN=…`: `…` becomes the token `monlab up` printed.
//! - The `monlab up` without `--ha` runs first; every command that is not a `monlab up` runs
//!   beside it, block by block in README order, each block as one bash script (so an
//!   `export` reaches the commands after it). The `monlab up … --ha` runs in a test of its
//!   own, with the "break it" line it prints.
//! - Ctrl-C is SIGINT to `monlab up`'s process group, as a terminal sends it; afterwards no
//!   process may be left in the namespace.

use crate::harness::{http_get, monlab_bin, require_tool, temp_dir, Proc};
use crate::support::command::run;
use crate::support::files::{read_text, repo_path, repo_root};
use crate::support::procs::processes;
use crate::support::up::banner_urls;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Commands of the README that this test does not run, and why.
const NOT_RUN: &[(&str, &str)] = &[
    ("scripts/test", "it is what runs this test"),
    (
        "scripts/up",
        "it builds a release binary and installs it into ~/.cargo/bin, which a test must not \
         do; it ends in `monlab up`, which runs here",
    ),
];

/// The placeholder the README writes for the token `monlab up` prints.
const TOKEN_PLACEHOLDER: &str = "MONLAB_ADMIN_TOKEN=…";

/// Marks the start of each README command in a block's output.
const MARK: &str = "[readme]";

/// The commands of every ```sh block of the README, one list per block, comments dropped
/// and `\` continuations joined.
fn sh_blocks(readme: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    let mut pending = String::new();
    for line in readme.lines() {
        let fence = line.trim_start();
        match current.as_mut() {
            None if fence.starts_with("```sh") => current = Some(Vec::new()),
            None => {}
            Some(_) if fence.starts_with("```") => blocks.extend(current.take()),
            Some(commands) => {
                let code = strip_comment(line);
                match code.strip_suffix('\\') {
                    Some(head) => {
                        pending.push_str(head);
                        pending.push(' ');
                    }
                    None => {
                        pending.push_str(code);
                        let command = pending.trim().to_string();
                        pending.clear();
                        if !command.is_empty() {
                            commands.push(command);
                        }
                    }
                }
            }
        }
    }
    assert!(current.is_none(), "README.md ends inside a ```sh block");
    blocks
}

/// `line` without its shell comment: a `#` at the start or after a blank, outside quotes.
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double, mut previous) = (false, false, ' ');
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && previous.is_whitespace() => return line[..i].trim_end(),
            _ => {}
        }
        previous = c;
    }
    line.trim_end()
}

/// The README's commands, sorted by how this test runs them.
struct Readme {
    /// `monlab up` commands, without and with `--ha`, and the one that plays a scenario.
    plain_up: String,
    ha_up: String,
    scenario_up: String,
    /// The other blocks, each with its commands, to run beside the plain `monlab up`.
    beside: Vec<Vec<String>>,
}

fn is_up(command: &str) -> bool {
    command.split_whitespace().take(2).eq(["monlab", "up"])
}

fn readme() -> Readme {
    let text = read_text(&repo_path("README.md"));
    let blocks = sh_blocks(&text);
    let all: Vec<&String> = blocks.iter().flatten().collect();
    let has = |c: &String, flag: &str| c.split_whitespace().any(|w| w == flag);
    let (ha, rest): (Vec<&String>, Vec<&String>) = all
        .iter()
        .copied()
        .filter(|c| is_up(c))
        .partition(|c| has(c, "--ha"));
    let (scenario, plain): (Vec<&String>, Vec<&String>) =
        rest.into_iter().partition(|c| has(c, "--scenario"));
    let one = |list: Vec<&String>, what: &str| -> String {
        assert_eq!(
            list.len(),
            1,
            "the README should show one {what} command; it shows {list:?}. This test checks \
             one plain, one --ha and one --scenario `monlab up`; a new one needs its own \
             check here"
        );
        list[0].clone()
    };
    let beside = blocks
        .iter()
        .map(|block| {
            block
                .iter()
                .filter(|c| !is_up(c) && !NOT_RUN.iter().any(|(n, _)| *c == n))
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter(|block| !block.is_empty())
        .collect();
    Readme {
        plain_up: one(plain, "`monlab up` (without --ha)"),
        ha_up: one(ha, "`monlab up … --ha`"),
        scenario_up: one(scenario, "`monlab up … --scenario`"),
        beside,
    }
}

/// Replaces the token placeholder; any other `…` is a placeholder this test does not know.
fn substitute(command: &str, token: &str) -> Result<String, String> {
    let out = command.replace(TOKEN_PLACEHOLDER, &format!("MONLAB_ADMIN_TOKEN={token}"));
    if out.contains('…') {
        return Err(format!(
            "README command `{command}` holds a placeholder other than {TOKEN_PLACEHOLDER}; \
             this test fills in only that one"
        ));
    }
    Ok(out)
}

/// Copies the repository (without build output and VCS data) so that a README command's
/// relative paths (`deploy/`, `scenarios/`, the `.monlab` data folder, `report/`) resolve
/// in a folder of its own.
fn working_copy() -> tempfile::TempDir {
    const SKIP: &[&str] = &[
        "target",
        ".git",
        ".monlab",
        "node_modules",
        ".venv",
        "report",
    ];
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
        for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
            let entry = entry.expect("a readable directory entry");
            let name = entry.file_name();
            if SKIP.iter().any(|s| name == *s) {
                continue;
            }
            let (src, dst) = (entry.path(), to.join(&name));
            let kind = entry.file_type().expect("a file type");
            if kind.is_dir() {
                copy(&src, &dst);
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&src).expect("a symlink target");
                std::os::unix::fs::symlink(target, &dst).expect("copy a symlink");
            } else {
                std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
            }
        }
    }
    let dir = temp_dir("monlab-readme");
    copy(&repo_root(), dir.path());
    dir
}

/// What a README command runs with: the monlab under test first on PATH, nothing else from
/// the developer's environment (no MONLAB_* settings).
fn readme_env(cmd: &mut Command, cwd: &Path) {
    let bin_dir = Path::new(monlab_bin())
        .parent()
        .expect("the binary's folder");
    let mut path = vec![bin_dir.to_path_buf()];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    cmd.env_clear()
        .env("PATH", std::env::join_paths(path).expect("a valid PATH"))
        .env(
            "HOME",
            std::env::var_os("HOME").unwrap_or_else(|| "/".into()),
        )
        .current_dir(cwd);
}

/// A `monlab up` command running in a network namespace of its own.
struct Up {
    proc: Proc,
    /// The namespace's identity (`net:[inode]`), read while `up` runs.
    netns: String,
    /// What `up` printed up to its last banner line.
    banner: String,
}

impl Up {
    /// Starts `command` as written in a fresh network namespace and waits for its banner.
    fn start(command: &str, cwd: &Path) -> Self {
        for (tool, package) in [("unshare", "util-linux"), ("nsenter", "util-linux")] {
            require_tool(tool, package);
        }
        require_tool("ip", "iproute2");
        let mut cmd = Command::new("unshare");
        cmd.args([
            "-n",
            "bash",
            "-c",
            r#"ip link set lo up && exec bash -c "$0""#,
            command,
        ]);
        readme_env(&mut cmd, cwd);
        // Its own process group, so that Ctrl-C can go to the group as a terminal sends it.
        cmd.process_group(0);
        let mut proc = Proc::spawn(cmd);
        let banner = proc.wait_for_output("data, logs", Duration::from_secs(240));
        let netns = std::fs::read_link(format!("/proc/{}/ns/net", proc.pid()))
            .unwrap_or_else(|e| panic!("`{command}`'s network namespace: {e} (needs root)"))
            .display()
            .to_string();
        let own = std::fs::read_link("/proc/self/ns/net").expect("our own namespace");
        assert_ne!(
            netns,
            own.display().to_string(),
            "`unshare -n` left `{command}` in the test's own network namespace"
        );
        Self {
            proc,
            netns,
            banner,
        }
    }

    /// The value of a banner line such as `  admin token   3f9c…`.
    fn printed(&self, label: &str) -> Vec<String> {
        self.banner
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix(label))
            .filter(|rest| rest.starts_with(' '))
            .map(|rest| rest.trim().to_string())
            .collect()
    }

    fn token(&self) -> String {
        self.printed("admin token")
            .pop()
            .unwrap_or_else(|| panic!("no admin token printed:\n{}", self.banner))
    }

    /// GETs `url` from inside the namespace; returns the status and body.
    fn get(&self, url: &str) -> std::io::Result<(u16, String)> {
        let ns = std::fs::File::open(format!("/proc/{}/ns/net", self.proc.pid()))?;
        // A thread of our own joins the namespace; the sockets it opens are the namespace's.
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(std::io::Error::from)?;
                http_get(url)
            })
            .join()
            .expect("the request thread does not panic")
        })
    }

    /// Polls `url` until `ok(status, body)` holds, or panics with `what` after `limit`.
    fn wait_get(&self, what: &str, url: &str, limit: Duration, ok: impl Fn(u16, &str) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.get(url);
            if let Ok((status, body)) = &got {
                if ok(*status, body) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {url} did not get there in {limit:?}; last answer {got:?}\n\
                 --- monlab up printed ---\n{}",
                self.proc.output()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Runs README commands, as one bash script, inside the namespace; panics naming the
    /// command that failed, with the output. Returns the output.
    fn run(&self, commands: &[String], cwd: &Path, limit: Duration) -> String {
        let mut script = String::from("set -e\n");
        for command in commands {
            script.push_str(&format!(
                "printf '\\n%s %(%s)T $ %s\\n' '{MARK}' -1 {}\n{command}\n",
                shell_quote(command)
            ));
        }
        let mut cmd = Command::new("nsenter");
        cmd.args([
            "-t",
            &self.proc.pid().to_string(),
            "-n",
            "bash",
            "-c",
            &script,
        ]);
        readme_env(&mut cmd, cwd);
        let mut proc = Proc::spawn(cmd);
        let code = proc.wait_exit(limit);
        let out = proc.output();
        if code != Some(0) {
            let failed = out
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix(MARK))
                .and_then(|l| l.split_once("$ "))
                .map_or("(before the first command)", |(_, c)| c)
                .to_string();
            let why = match code {
                None => format!("did not end within {limit:?}"),
                Some(code) => format!("exited with {code}"),
            };
            panic!(
                "README command `{failed}` {why}, run beside `monlab up` as:\n{script}\n\
                 --- its output ---\n{out}\n--- monlab up printed ---\n{}",
                self.proc.output()
            );
        }
        out
    }

    /// Ctrl-C: SIGINT to the process group. Waits for `up` to exit 0 within `limit`, then
    /// for every process of the namespace to be gone.
    fn ctrl_c(mut self, limit: Duration) {
        let group = nix::unistd::Pid::from_raw(self.proc.pid() as i32);
        nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
        let code = self.proc.wait_exit(limit);
        assert_eq!(
            code,
            Some(0),
            "`monlab up` after Ctrl-C (None: still running after {limit:?}):\n{}",
            self.proc.output()
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = processes_in(&self.netns);
            if left.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "left running in the namespace after Ctrl-C: {left:?}\n{}",
                self.proc.output()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Every live process in the network namespace `netns`, as (pid, command line).
fn processes_in(netns: &str) -> Vec<(u32, String)> {
    processes()
        .into_iter()
        .filter(|p| p.netns.as_deref() == Some(netns))
        .map(|p| (p.pid, p.cmdline))
        .collect()
}

/// `'text'` for bash.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The time of each README command's start in a block's output, as (seconds, command).
fn command_times(out: &str) -> Vec<(u64, String)> {
    out.lines()
        .filter_map(|l| l.strip_prefix(MARK))
        .filter_map(|l| {
            let (time, command) = l.trim_start().split_once(" $ ")?;
            Some((time.parse().ok()?, command.to_string()))
        })
        .collect()
}

#[test]
fn the_readme_scripts_it_does_not_run_exist_and_parse() {
    let blocks = sh_blocks(&read_text(&repo_path("README.md")));
    let shown: Vec<&String> = blocks.iter().flatten().collect();
    assert!(
        shown.iter().any(|c| c.as_str() == "scripts/up")
            && shown.iter().any(|c| c.as_str() == "scripts/test"),
        "the README opens with scripts/up and scripts/test: {shown:?}"
    );
    for (script, why) in NOT_RUN {
        let path = repo_path(script);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{script} (not run here: {why}): {e}"))
                .permissions(),
        );
        assert!(mode & 0o111 != 0, "{script} is not executable");
        let mut check = Command::new("bash");
        check.arg("-n").arg(&path);
        run(check).success();
    }
    // scripts/up hands over to the `monlab up` that the tests below run.
    let up = read_text(&repo_path("scripts/up"));
    let last = up
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert!(
        last.starts_with("exec ") && last.ends_with(r#"/monlab" up "$@""#),
        "scripts/up should end by running the installed monlab's `up`: {last}"
    );
}

#[test]
fn the_readme_parser_reads_blocks_comments_and_placeholders() {
    let blocks = sh_blocks(
        "x\n```sh\nmonlab up   # the system\n\nexport A=…   # printed\necho '#' \\\n  b\n```\n\
         ```toml\nk = 1\n```\n```sh\nscripts/test\n```\n",
    );
    assert_eq!(
        blocks,
        vec![
            vec![
                "monlab up".to_string(),
                "export A=…".into(),
                "echo '#'    b".into()
            ],
            vec!["scripts/test".to_string()],
        ]
    );
    assert_eq!(
        substitute("export MONLAB_ADMIN_TOKEN=…", "t0k").as_deref(),
        Ok("export MONLAB_ADMIN_TOKEN=t0k")
    );
    assert!(
        substitute("monlab x --url …", "t0k").is_err(),
        "an unknown placeholder must fail"
    );
}

/// `monlab up` as the README writes it: its URLs answer; beside it, every other README
/// command runs (the "Break it and watch" block, whose play must page and resolve, then
/// recover and report); Ctrl-C leaves nothing running.
#[test]
fn readme_monlab_up_and_every_command_beside_it() {
    let started = Instant::now();
    let readme = readme();
    let copy = working_copy();
    let up = Up::start(&readme.plain_up, copy.path());
    let up_secs = started.elapsed().as_secs();
    let urls = banner_urls(&up.banner);
    assert!(urls.len() >= 6, "printed URLs: {urls:?}\n{}", up.banner);
    for url in &urls {
        // Prometheus's root redirects to its UI; anything else must answer 200.
        up.wait_get(
            "a printed URL answers",
            url,
            Duration::from_secs(30),
            |s, _| s == 200 || s == 302,
        );
    }
    let token = up.token();
    let mut times = Vec::new();
    for block in &readme.beside {
        let commands: Vec<String> = block
            .iter()
            .map(|c| substitute(c, &token).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let out = up.run(&commands, copy.path(), Duration::from_secs(20 * 60));
        let mut marks = command_times(&out);
        marks.push((now_secs(), "(end)".into()));
        times.extend(marks.windows(2).map(|w| (w[0].1.clone(), w[1].0 - w[0].0)));
    }
    let stop = Instant::now();
    up.ctrl_c(Duration::from_secs(120));
    eprintln!(
        "readme `{}`: banner after {up_secs} s; commands {times:?}; Ctrl-C to all gone {} s; \
         total {} s",
        readme.plain_up,
        stop.elapsed().as_secs(),
        started.elapsed().as_secs()
    );
}

/// `monlab up --replicas 3 --ha` as the README writes it: two Prometheus, three
/// Alertmanagers in one cluster and VictoriaMetrics answer, the printed "break it" line
/// pages, and Ctrl-C leaves nothing running.
#[test]
fn readme_ha_up_pages_when_broken_as_printed() {
    let started = Instant::now();
    let readme = readme();
    let copy = working_copy();
    let up = Up::start(&readme.ha_up, copy.path());
    let up_secs = started.elapsed().as_secs();
    let words: Vec<&str> = readme.ha_up.split_whitespace().collect();
    let replicas: usize = words
        .windows(2)
        .find(|w| w[0] == "--replicas")
        .map_or(1, |w| w[1].parse().expect("--replicas N"));
    let services = up.printed("service").len() + up.printed("replica").len();
    assert_eq!(
        services, replicas,
        "service instances printed:\n{}",
        up.banner
    );
    for service in up.printed("service").iter().chain(&up.printed("replica")) {
        up.wait_get(
            "a service instance answers",
            service,
            Duration::from_secs(30),
            |s, _| s == 200,
        );
    }
    let proms = up.printed("prometheus");
    assert_eq!(proms.len(), 2, "two Prometheus replicas:\n{}", up.banner);
    for prom in &proms {
        up.wait_get(
            "Prometheus ready",
            &format!("{prom}/-/ready"),
            Duration::from_secs(60),
            |s, _| s == 200,
        );
    }
    let ams = up.printed("alertmanager");
    assert_eq!(ams.len(), 3, "three Alertmanagers:\n{}", up.banner);
    for am in &ams {
        up.wait_get(
            "Alertmanager sees a cluster of three",
            &format!("{am}/api/v2/status"),
            Duration::from_secs(60),
            |s, body| {
                let status: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
                s == 200
                    && status["cluster"]["status"] == "ready"
                    && status["cluster"]["peers"].as_array().map(Vec::len) == Some(3)
            },
        );
    }
    let vm = up.printed("long-term");
    assert_eq!(vm.len(), 1, "VictoriaMetrics:\n{}", up.banner);
    let vm_base = vm[0].trim_end_matches('/').trim_end_matches("/vmui");
    up.wait_get(
        "VictoriaMetrics holds the service's samples",
        &format!("{vm_base}/api/v1/query?query=up%7Bjob%3D%22monlab%22%7D"),
        Duration::from_secs(120),
        |s, body| s == 200 && body.contains("\"monlab\""),
    );

    let ready_secs = started.elapsed().as_secs();
    let break_it = up.printed("break it");
    assert_eq!(break_it.len(), 1, "one break it line:\n{}", up.banner);
    up.run(&break_it, copy.path(), Duration::from_secs(60));
    let broken = Instant::now();
    let alerts_seen = up.printed("alerts seen");
    assert_eq!(alerts_seen.len(), 1, "{}", up.banner);
    up.wait_get(
        "the incident pages",
        &alerts_seen[0],
        Duration::from_secs(8 * 60),
        |s, body| {
            let seen: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            s == 200
                && seen.as_array().into_iter().flatten().any(|n| {
                    n["receiver"] == "page"
                        && n["alerts"].as_array().into_iter().flatten().any(|a| {
                            a["status"] == "firing" && a["labels"]["severity"] == "critical"
                        })
                })
        },
    );
    let page_secs = broken.elapsed().as_secs();
    let stop = Instant::now();
    up.ctrl_c(Duration::from_secs(180));
    eprintln!(
        "readme `{}`: banner after {up_secs} s, all answering after {ready_secs} s, page {page_secs} s \
         after the break it line, Ctrl-C to all gone {} s, total {} s",
        readme.ha_up,
        stop.elapsed().as_secs(),
        started.elapsed().as_secs()
    );
}

/// `monlab up --speed 15 --scenario …` as the README writes it: the scenario plays at the
/// time warp and its scoreboard, in system seconds, has every incident caught at its
/// severity; Ctrl-C leaves nothing running.
#[test]
fn readme_warped_scenario_catches_every_incident() {
    let started = Instant::now();
    let readme = readme();
    let copy = working_copy();
    let mut up = Up::start(&readme.scenario_up, copy.path());
    let words: Vec<&str> = readme.scenario_up.split_whitespace().collect();
    let file = words
        .windows(2)
        .find(|w| w[0] == "--scenario")
        .map(|w| w[1])
        .expect("--scenario FILE");
    let steps = std::fs::read_to_string(copy.path().join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .matches("[[step]]")
        .count();
    // A scenario of 40 system minutes at 15x is under 3 wall minutes, and its resolve wait
    // under one more; 15 minutes is the generous bound.
    let out = up
        .proc
        .wait_for_output("Scenario scoreboard:", Duration::from_secs(15 * 60));
    let board: Vec<&str> = out
        .split("Scenario scoreboard:")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    let header = board.iter().position(|l| l.starts_with("incident"));
    let rows: Vec<&str> = header.map_or(Vec::new(), |h| board[h + 1..].to_vec());
    let rows: Vec<&str> = rows.into_iter().take(steps).collect();
    assert_eq!(rows.len(), steps, "one row per step of {file}:\n{out}");
    for row in &rows {
        assert!(
            row.trim_end().ends_with("caught"),
            "not caught: {row}\n{out}"
        );
    }
    assert!(
        out.contains("1 wall second is"),
        "the scoreboard does not say its speed:\n{out}"
    );
    let stop = Instant::now();
    up.ctrl_c(Duration::from_secs(120));
    eprintln!(
        "readme `{}`: every incident caught, total {} s, Ctrl-C to all gone {} s\n{}",
        readme.scenario_up,
        started.elapsed().as_secs(),
        stop.elapsed().as_secs(),
        rows.join("\n")
    );
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
