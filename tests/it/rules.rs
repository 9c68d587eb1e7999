//! The monitoring stack as plain files: the Prometheus config, the rules and their promtool
//! unit tests, the Alertmanager routing, and one runbook per alert.
//!
//! Runs `promtool` (Debian `prometheus`) and `amtool` (Debian `prometheus-alertmanager`) on
//! the files in `deploy/`; no process is started.

use crate::harness::{require_tool, temp_dir};
use monlab::warp::{self, Speed, Units};
use serde_yaml::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const SEVERITIES: [&str; 3] = ["critical", "major", "minor"];

/// The heartbeat: always firing, routed to its own receiver, severity `none` and no `for:`.
const WATCHDOG: &str = "Watchdog";

#[test]
fn prometheus_config_is_valid() {
    run_ok(
        Command::new(promtool())
            .args(["check", "config"])
            .arg(deploy("prometheus/prometheus.yml")),
    );
}

#[test]
fn rule_files_are_valid() {
    run_ok(
        Command::new(promtool())
            .args(["check", "rules"])
            .args(rule_files()),
    );
}

#[test]
fn rule_unit_tests_pass() {
    run_ok(
        Command::new(promtool())
            .args(["test", "rules"])
            .args(rule_tests()),
    );
}

#[test]
fn every_alert_has_severity_annotations_and_a_runbook() {
    let mut problems = Vec::new();
    for alert in alerts() {
        let name = alert["alert"].as_str().unwrap_or_default();
        let label = |key: &str| alert["labels"][key].as_str().unwrap_or_default().to_owned();
        let note = |key: &str| {
            alert["annotations"][key]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        let heartbeat = name == WATCHDOG && label("severity") == "none";
        if !heartbeat && !SEVERITIES.contains(&label("severity").as_str()) {
            problems.push(format!(
                "{name}: severity {:?} is not one of {SEVERITIES:?}",
                label("severity")
            ));
        }
        if label("service") != "monlab" {
            problems.push(format!("{name}: label service is not monlab"));
        }
        if !heartbeat && alert["for"].as_str().is_none() {
            problems.push(format!("{name}: no `for:`"));
        }
        for key in ["summary", "description"] {
            if note(key).trim().is_empty() {
                problems.push(format!("{name}: no {key} annotation"));
            }
        }
        let runbook = format!("docs/runbooks/{}.md", name.to_lowercase());
        if note("runbook_url") != runbook {
            problems.push(format!(
                "{name}: runbook_url is {:?}, expected {runbook:?}",
                note("runbook_url")
            ));
        } else if !root().join(&runbook).is_file() {
            problems.push(format!("{name}: {runbook} does not exist"));
        }
    }
    let names: BTreeSet<String> = alert_names().iter().map(|n| n.to_lowercase()).collect();
    for page in files_ending(&root().join("docs/runbooks"), ".md") {
        let stem = page
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if stem != "README" && !names.contains(stem) {
            problems.push(format!("{} belongs to no alert", page.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "alert metadata:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_alert_is_tested_firing_and_quiet() {
    let (mut firing, mut quiet) = (BTreeSet::new(), BTreeSet::new());
    for file in rule_tests() {
        let doc = read_yaml(&file);
        for case in seq(&doc["tests"]) {
            for check in seq(&case["alert_rule_test"]) {
                let name = check["alertname"].as_str().unwrap_or_default().to_owned();
                if seq(&check["exp_alerts"]).is_empty() {
                    quiet.insert(name);
                } else {
                    firing.insert(name);
                }
            }
        }
    }
    let mut missing = Vec::new();
    for name in alert_names() {
        if !firing.contains(&name) {
            missing.push(format!("{name}: no promtool test expects it firing"));
        }
        // The heartbeat has no quiet state by design.
        if !quiet.contains(&name) && name != WATCHDOG {
            missing.push(format!("{name}: no promtool test expects it quiet"));
        }
    }
    assert!(
        missing.is_empty(),
        "untested alerts:\n{}",
        missing.join("\n")
    );
}

#[test]
fn alertmanager_config_is_valid() {
    run_ok(
        Command::new(amtool())
            .arg("check-config")
            .arg(deploy("alertmanager/alertmanager.yml")),
    );
}

/// Each line of `deploy/alertmanager/tests/routes.txt` is `<receiver> <label=value>...`.
#[test]
fn alerts_route_to_the_expected_receiver() {
    let path = deploy("alertmanager/tests/routes.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(
        !cases.is_empty(),
        "{} holds no routing case",
        path.display()
    );
    let config = format!(
        "--config.file={}",
        deploy("alertmanager/alertmanager.yml").display()
    );
    for case in cases {
        let mut words = case.split_whitespace();
        let receiver = words.next().unwrap_or_default();
        run_ok(
            Command::new(amtool())
                .args(["config", "routes", "test", config.as_str()])
                .arg(format!("--verify.receivers={receiver}"))
                .args(words),
        );
    }
}

/// The speeds the time warp is proven at: real time, and three that divide every duration
/// the files hold (the shortest, 15 s, becomes 250 ms at 60).
const SPEEDS: [u32; 4] = [1, 5, 15, 60];

/// Every threshold of the shipped rules means the same at any speed: no per-second rate or
/// system time compared with a fixed number, no rate printed in an alert's text.
#[test]
fn shipped_rules_are_scale_invariant() {
    let texts: Vec<String> = rule_files().iter().map(|f| read(f)).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let findings = warp::audit_rules(&texts).expect("the rule files scale");
    assert!(
        findings.is_empty(),
        "rules that change meaning with the time warp's speed:\n{}",
        findings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The proof that the warp keeps the rules' meaning: at each speed K, the scaled rules pass
/// the scaled promtool tests (clocks / K, per-second expectations x K), and promtool accepts
/// the scaled rules and the scaled prometheus.yml that loads them.
#[test]
fn rule_unit_tests_pass_at_every_speed() {
    let rules: Vec<(PathBuf, String)> = rule_files()
        .into_iter()
        .map(|f| (f.clone(), read(&f)))
        .collect();
    let texts: Vec<&str> = rules.iter().map(|(_, t)| t.as_str()).collect();
    let units = Units::from_rules(&texts).expect("the rule files parse");
    let mut failures = Vec::new();
    for k in SPEEDS {
        let speed = Speed::new(k).expect("a valid speed");
        let dir = temp_dir(&format!("warp-{k}-"));
        let rules_dir = dir.path().join("rules");
        std::fs::create_dir(&rules_dir).expect("a rules folder");
        let mut scaled_rules = Vec::new();
        for (file, text) in &rules {
            let out = rules_dir.join(file.file_name().expect("a file name"));
            let scaled = warp::scale_rules(text, speed)
                .unwrap_or_else(|e| panic!("K={k}: {}: {e}", file.display()));
            write(&out, &scaled);
            scaled_rules.push(out);
        }
        let mut scaled_tests = Vec::new();
        for file in rule_tests() {
            let out = dir.path().join(file.file_name().expect("a file name"));
            let scaled = warp::scale_rule_test(&read(&file), speed, &units, &rules_dir)
                .unwrap_or_else(|e| panic!("K={k}: {}: {e}", file.display()));
            write(&out, &scaled);
            scaled_tests.push(out);
        }
        let config = dir.path().join("prometheus.yml");
        let scaled =
            warp::scale_prometheus_config(&read(&deploy("prometheus/prometheus.yml")), speed)
                .unwrap_or_else(|e| panic!("K={k}: prometheus.yml: {e}"));
        write(&config, &scaled);

        let checks = [
            Command::new(promtool())
                .args(["check", "rules"])
                .args(&scaled_rules)
                .output(),
            Command::new(promtool())
                .args(["check", "config"])
                .arg(&config)
                .output(),
            Command::new(promtool())
                .args(["test", "rules"])
                .args(&scaled_tests)
                .output(),
        ];
        for out in checks {
            let out = out.expect("promtool runs");
            if !out.status.success() {
                failures.push(format!(
                    "at speed K={k} ({}):\n{}{}",
                    dir.path().display(),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        if !failures.is_empty() {
            // Keep the scaled files to read; the first failing speed says enough.
            let _ = dir.keep();
            break;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn alertmanager_config_is_valid_at_every_speed() {
    let text = read(&deploy("alertmanager/alertmanager.yml"));
    for k in SPEEDS {
        let speed = Speed::new(k).expect("a valid speed");
        let dir = temp_dir(&format!("warp-am-{k}-"));
        let file = dir.path().join("alertmanager.yml");
        let scaled = warp::scale_alertmanager(&text, speed)
            .unwrap_or_else(|e| panic!("K={k}: alertmanager.yml: {e}"));
        write(&file, &scaled);
        run_ok(Command::new(amtool()).arg("check-config").arg(&file));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn promtool() -> PathBuf {
    require_tool("promtool", "prometheus")
}

fn amtool() -> PathBuf {
    require_tool("amtool", "prometheus-alertmanager")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn deploy(path: &str) -> PathBuf {
    root().join("deploy").join(path)
}

fn rule_files() -> Vec<PathBuf> {
    let files = files_ending(&deploy("prometheus/rules"), ".yml");
    assert!(
        !files.is_empty(),
        "no rule files in deploy/prometheus/rules"
    );
    files
}

fn rule_tests() -> Vec<PathBuf> {
    let files = files_ending(&deploy("prometheus/tests"), ".test.yml");
    assert!(
        !files.is_empty(),
        "no *.test.yml in deploy/prometheus/tests"
    );
    files
}

/// Every alerting rule (a mapping with an `alert` key) of every rule file.
fn alerts() -> Vec<Value> {
    let mut alerts = Vec::new();
    for file in rule_files() {
        let doc = read_yaml(&file);
        for group in seq(&doc["groups"]) {
            alerts.extend(
                seq(&group["rules"])
                    .iter()
                    .filter(|r| r["alert"].is_string())
                    .cloned(),
            );
        }
    }
    assert!(!alerts.is_empty(), "the rule files hold no alert");
    alerts
}

fn alert_names() -> Vec<String> {
    alerts()
        .iter()
        .filter_map(|a| a["alert"].as_str().map(str::to_owned))
        .collect()
}

/// The files directly in `dir` whose name ends with `suffix`, sorted.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The items of a YAML sequence; nothing for a missing key or another type.
fn seq(value: &Value) -> &[Value] {
    value.as_sequence().map(Vec::as_slice).unwrap_or_default()
}

/// Runs `cmd` and fails the test with its command line and output unless it exits 0.
fn run_ok(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
