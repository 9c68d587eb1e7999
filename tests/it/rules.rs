//! The monitoring stack as plain files: the Prometheus config, the rules and their promtool
//! unit tests, the Alertmanager routing, and one runbook per alert.
//!
//! Runs `promtool` (Debian `prometheus`) and `amtool` (Debian `prometheus-alertmanager`) on
//! the files in `deploy/`; no process is started.

use crate::harness::{require_tool, temp_dir, write_file};
use crate::support::command::run;
use crate::support::files::{deploy_dir, files_under, read_text, read_yaml, repo_path};
use monlab::warp::{self, Speed, Units};
use serde_yaml::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

const SEVERITIES: [&str; 3] = ["critical", "major", "minor"];

/// The heartbeat: always firing, routed to its own receiver, severity `none` and no `for:`.
const WATCHDOG: &str = "Watchdog";

#[test]
fn prometheus_config_is_valid() {
    let mut cmd = Command::new(promtool());
    cmd.args(["check", "config"])
        .arg(deploy("prometheus/prometheus.yml"));
    run(cmd).success();
}

#[test]
fn rule_files_are_valid() {
    let mut cmd = Command::new(promtool());
    cmd.args(["check", "rules"]).args(rule_files());
    run(cmd).success();
}

#[test]
fn rule_unit_tests_pass() {
    let mut cmd = Command::new(promtool());
    cmd.args(["test", "rules"]).args(rule_tests());
    run(cmd).success();
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
        } else if !repo_path(&runbook).is_file() {
            problems.push(format!("{name}: {runbook} does not exist"));
        }
    }
    let names: BTreeSet<String> = alert_names().iter().map(|n| n.to_lowercase()).collect();
    for page in files_under(&repo_path("docs/runbooks"), ".md") {
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
    let mut cmd = Command::new(amtool());
    cmd.arg("check-config")
        .arg(deploy("alertmanager/alertmanager.yml"));
    run(cmd).success();
}

/// Each line of `deploy/alertmanager/tests/routes.txt` is `<receiver> <label=value>...`.
#[test]
fn alerts_route_to_the_expected_receiver() {
    let path = deploy("alertmanager/tests/routes.txt");
    let text = read_text(&path);
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
        let mut cmd = Command::new(amtool());
        cmd.args(["config", "routes", "test", config.as_str()])
            .arg(format!("--verify.receivers={receiver}"))
            .args(words);
        run(cmd).success();
    }
}

/// A resolved notification leaves at its group's next flush, up to `group_interval` after the
/// alert resolved. Issue 17's reset target is 5 minutes from the incident's end, so no
/// severity's route may spend more than 2 of them waiting: the rest is the rule's window
/// draining (the minor route's 5m cost slow-users and feature-drift their reset target;
/// docs/detection.md, phase 3).
#[test]
fn every_severity_s_route_flushes_within_the_reset_budget() {
    let am = read_yaml(&deploy("alertmanager/alertmanager.yml"));
    let routes = seq(&am["route"]["routes"]);
    for severity in SEVERITIES {
        let matcher = format!("severity=\"{severity}\"");
        let route = routes
            .iter()
            .find(|r| {
                seq(&r["matchers"])
                    .iter()
                    .any(|m| m.as_str() == Some(&matcher))
            })
            .unwrap_or_else(|| panic!("no route matches {matcher}"));
        let interval = route["group_interval"]
            .as_str()
            .unwrap_or_else(|| panic!("the {severity} route sets no group_interval"));
        let flush = warp::parse_duration(interval).expect("a Prometheus duration");
        assert!(
            flush <= std::time::Duration::from_secs(120),
            "the {severity} route's group_interval {interval} can hold a resolved notification longer than 2 of the 5 minutes a reset may take"
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
    let texts: Vec<String> = rule_files().iter().map(|f| read_text(f)).collect();
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
        .map(|f| (f.clone(), read_text(&f)))
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
            let scaled = warp::scale_rules(text, speed)
                .unwrap_or_else(|e| panic!("K={k}: {}: {e}", file.display()));
            scaled_rules.push(write_file(&rules_dir, file_name(file), &scaled));
        }
        let mut scaled_tests = Vec::new();
        for file in rule_tests() {
            let scaled = warp::scale_rule_test(&read_text(&file), speed, &units, &rules_dir)
                .unwrap_or_else(|e| panic!("K={k}: {}: {e}", file.display()));
            scaled_tests.push(write_file(dir.path(), file_name(&file), &scaled));
        }
        let scaled =
            warp::scale_prometheus_config(&read_text(&deploy("prometheus/prometheus.yml")), speed)
                .unwrap_or_else(|e| panic!("K={k}: prometheus.yml: {e}"));
        let config = write_file(dir.path(), "prometheus.yml", &scaled);

        let check = |args: &[&str], files: &[PathBuf]| {
            let mut cmd = Command::new(promtool());
            cmd.args(args).args(files);
            run(cmd)
        };
        let checks = [
            check(&["check", "rules"], &scaled_rules),
            check(&["check", "config"], &[config]),
            check(&["test", "rules"], &scaled_tests),
        ];
        for out in checks {
            if out.code != 0 {
                failures.push(format!(
                    "at speed K={k} ({}):\n{}",
                    dir.path().display(),
                    out.printed()
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
    let text = read_text(&deploy("alertmanager/alertmanager.yml"));
    for k in SPEEDS {
        let speed = Speed::new(k).expect("a valid speed");
        let dir = temp_dir(&format!("warp-am-{k}-"));
        let scaled = warp::scale_alertmanager(&text, speed)
            .unwrap_or_else(|e| panic!("K={k}: alertmanager.yml: {e}"));
        let file = write_file(dir.path(), "alertmanager.yml", &scaled);
        let mut cmd = Command::new(amtool());
        cmd.arg("check-config").arg(&file);
        run(cmd).success();
    }
}

/// The file name of `path`, which has one.
fn file_name(path: &std::path::Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .expect("a UTF-8 file name")
}

fn promtool() -> PathBuf {
    require_tool("promtool", "prometheus")
}

fn amtool() -> PathBuf {
    require_tool("amtool", "prometheus-alertmanager")
}

fn deploy(path: &str) -> PathBuf {
    deploy_dir().join(path)
}

fn rule_files() -> Vec<PathBuf> {
    let files = files_under(&deploy("prometheus/rules"), ".yml");
    assert!(
        !files.is_empty(),
        "no rule files in deploy/prometheus/rules"
    );
    files
}

fn rule_tests() -> Vec<PathBuf> {
    let files = files_under(&deploy("prometheus/tests"), ".test.yml");
    assert!(
        !files.is_empty(),
        "no *.test.yml in deploy/prometheus/tests"
    );
    files
}

/// Every alerting rule (a mapping with an `alert` key) of every rule file.
fn alerts() -> Vec<Value> {
    let alerts: Vec<Value> = crate::promql::shipped_rules()
        .into_iter()
        .filter(|r| r["alert"].is_string())
        .collect();
    assert!(!alerts.is_empty(), "the rule files hold no alert");
    alerts
}

fn alert_names() -> Vec<String> {
    alerts()
        .iter()
        .filter_map(|a| a["alert"].as_str().map(str::to_owned))
        .collect()
}

/// The items of a YAML sequence; nothing for a missing key or another type.
fn seq(value: &Value) -> &[Value] {
    value.as_sequence().map(Vec::as_slice).unwrap_or_default()
}
