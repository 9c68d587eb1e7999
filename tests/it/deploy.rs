//! Checks the deployment files as files, without Docker or Grafana (neither runs here):
//! `docker-compose config` accepts the compose file, every path it mounts is in the
//! repository, Grafana's provisioning points at what the compose file mounts, and every
//! dashboard is complete (titles, descriptions, units, the provisioned datasource, PromQL
//! that parses). Running the dashboards' queries against a live Prometheus is left to the
//! test that calls [`dashboard_queries`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use crate::harness::require_tool;
use crate::support::command::run;
use crate::support::files::{files_under, read_text, read_yaml, repo_path, repo_root};

/// The only Grafana variables a dashboard query may use, with the stand-ins that make it
/// plain PromQL: the filters select everything, the intervals are what Grafana would pick
/// for the default 30-minute range with the 15 s scrape interval.
const SUBSTITUTIONS: &[(&str, &str)] = &[
    ("$__rate_interval", "1m"),
    ("$__range", "5m"),
    ("$__interval", "15s"),
    ("$instance", ".*"),
    ("$route", ".*"),
];

/// Panel types whose numbers need a unit in `fieldConfig.defaults.unit`.
const TYPES_WITH_UNITS: &[&str] = &["timeseries", "stat", "gauge", "bargauge"];

/// Every dashboard in `deploy/grafana/dashboards/`, as (file stem, parsed JSON), by name.
fn dashboards() -> Vec<(String, Json)> {
    let dir = repo_path("deploy/grafana/dashboards");
    let files = files_under(&dir, ".json");
    assert!(!files.is_empty(), "no dashboards in {}", dir.display());
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .expect("a UTF-8 file name")
                .to_string();
            let json = serde_json::from_str(&read_text(&path))
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
            (name, json)
        })
        .collect()
}

/// Every panel of a dashboard in order: rows, and the panels of collapsed rows, which
/// Grafana keeps nested inside the row instead of after it.
fn panels(dashboard: &Json) -> Vec<&Json> {
    fn walk<'a>(list: &'a Json, out: &mut Vec<&'a Json>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Replaces the dashboard variables by their stand-ins (see [`SUBSTITUTIONS`]).
fn substitute(expr: &str) -> String {
    SUBSTITUTIONS
        .iter()
        .fold(expr.to_string(), |expr, (variable, value)| {
            expr.replace(variable, value)
        })
}

/// Every query of every dashboard as (`dashboard:panel title`, expression), with the
/// variables replaced so that Prometheus can run it: `$instance` and `$route` by `.*`,
/// `$__rate_interval` by `1m`, `$__range` by `5m`, `$__interval` by `15s`. A panel with
/// several queries appears once per query.
pub fn dashboard_queries() -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for (name, dashboard) in dashboards() {
        for panel in panels(&dashboard) {
            let title = panel["title"].as_str().unwrap_or("<untitled>");
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    queries.push((format!("{name}:{title}"), substitute(expr)));
                }
            }
        }
    }
    queries
}

/// The uid of the one Prometheus datasource Grafana is provisioned with.
fn provisioned_datasource_uid() -> String {
    let file = read_yaml(&repo_path(
        "deploy/grafana/provisioning/datasources/prometheus.yml",
    ));
    let prometheus: Vec<&Yaml> = file
        .get("datasources")
        .and_then(Yaml::as_sequence)
        .expect("a `datasources` list")
        .iter()
        .filter(|source| source.get("type").and_then(Yaml::as_str) == Some("prometheus"))
        .collect();
    assert_eq!(
        prometheus.len(),
        1,
        "exactly one Prometheus datasource is provisioned"
    );
    assert_eq!(
        prometheus[0].get("isDefault").and_then(Yaml::as_bool),
        Some(true),
        "the Prometheus datasource is the default one"
    );
    prometheus[0]
        .get("uid")
        .and_then(Yaml::as_str)
        .filter(|uid| !uid.is_empty())
        .expect("the Prometheus datasource has a fixed uid, which the dashboards name")
        .to_string()
}

/// The services of the compose file, by name.
fn services(compose: &Yaml) -> Vec<(String, &Yaml)> {
    compose
        .get("services")
        .and_then(Yaml::as_mapping)
        .expect("docker-compose.yml has `services`")
        .iter()
        .map(|(name, service)| {
            let name = name.as_str().expect("a service name is a string");
            (name.to_string(), service)
        })
        .collect()
}

/// A service's bind mounts as (host path inside the repository, container path). Named
/// volumes (`prometheus-data:/prometheus`) live in Docker and are left out.
fn bind_mounts(service: &Yaml) -> Vec<(PathBuf, String)> {
    let mut mounts = Vec::new();
    for volume in service
        .get("volumes")
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
    {
        let (source, target) = match volume.as_str() {
            // Short syntax: `source:target[:mode]`.
            Some(short) => {
                let mut parts = short.splitn(3, ':');
                let source = parts.next().unwrap_or_default().to_string();
                let target = parts.next().unwrap_or_default().to_string();
                (source, target)
            }
            // Long syntax: `{type: bind, source: …, target: …}`.
            None => {
                if volume.get("type").and_then(Yaml::as_str) != Some("bind") {
                    continue;
                }
                let field = |key: &str| {
                    volume
                        .get(key)
                        .and_then(Yaml::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                (field("source"), field("target"))
            }
        };
        let is_path = source.starts_with('.') || source.starts_with('/') || source.starts_with('~');
        if is_path {
            assert!(
                source.starts_with("./"),
                "the bind mount {source}:{target} must name a path inside the repository \
                 (starting with ./), so that the stack runs from any clone"
            );
            mounts.push((repo_path(source.trim_start_matches("./")), target));
        }
    }
    mounts
}

/// The host path behind `container_path`, through the deepest mount that contains it.
fn host_path(mounts: &[(PathBuf, String)], container_path: &str) -> Option<PathBuf> {
    mounts
        .iter()
        .filter_map(|(source, target)| {
            let rest = Path::new(container_path).strip_prefix(target).ok()?;
            Some((target.len(), source.join(rest)))
        })
        .max_by_key(|(depth, _)| *depth)
        .map(|(_, path)| path)
}

/// A service's environment variable, from either the map or the `KEY=value` list form.
fn env_var(service: &Yaml, key: &str) -> Option<String> {
    let environment = service.get("environment")?;
    if let Some(list) = environment.as_sequence() {
        return list.iter().filter_map(Yaml::as_str).find_map(|entry| {
            let (k, v) = entry.split_once('=')?;
            (k == key).then(|| v.to_string())
        });
    }
    environment
        .get(key)
        .and_then(Yaml::as_str)
        .map(str::to_string)
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn docker_compose_config_accepts_the_compose_file() {
    let docker_compose = require_tool("docker-compose", "docker-compose");
    let file = repo_path("docker-compose.yml");
    let mut cmd = Command::new(docker_compose);
    cmd.arg("-f")
        .arg(&file)
        .args(["config", "--quiet"])
        .current_dir(repo_root())
        // The developer's compose settings must not change what is validated.
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES");
    run(cmd).success();
}

#[test]
fn compose_mounts_and_build_context_exist_in_the_repository() {
    let compose = read_yaml(&repo_path("docker-compose.yml"));
    let mut missing = Vec::new();
    for (name, service) in services(&compose) {
        for (source, target) in bind_mounts(service) {
            if !source.exists() {
                missing.push(format!(
                    "{name}: {} (mounted at {target})",
                    source.display()
                ));
            }
        }
        let build = service.get("build");
        let context = build
            .and_then(Yaml::as_str)
            .or_else(|| build.and_then(|b| b.get("context")).and_then(Yaml::as_str));
        if let Some(context) = context {
            let dockerfile = build
                .and_then(|b| b.get("dockerfile"))
                .and_then(Yaml::as_str)
                .unwrap_or("Dockerfile");
            let path = repo_path(context).join(dockerfile);
            if !path.is_file() {
                missing.push(format!("{name}: build file {}", path.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docker-compose.yml refers to paths that are not in the repository:\n{}",
        missing.join("\n")
    );
}

#[test]
fn grafana_provisioning_matches_the_compose_mounts() {
    let compose = read_yaml(&repo_path("docker-compose.yml"));
    let grafana = compose
        .get("services")
        .and_then(|services| services.get("grafana"))
        .expect("docker-compose.yml has a grafana service");
    let mounts = bind_mounts(grafana);
    let repo_dir = |relative: &str| canonical(&repo_path(relative));
    let mounted = |container_path: &str| {
        let host = host_path(&mounts, container_path).unwrap_or_else(|| {
            panic!("grafana mounts nothing at {container_path}; mounts: {mounts:?}")
        });
        canonical(&host)
    };

    // Grafana reads its provisioning from fixed folders.
    for kind in ["datasources", "dashboards"] {
        assert_eq!(
            mounted(format!("/etc/grafana/provisioning/{kind}").as_str()),
            repo_dir(format!("deploy/grafana/provisioning/{kind}").as_str()),
            "grafana's /etc/grafana/provisioning/{kind} is not deploy/grafana/provisioning/{kind}"
        );
    }

    // Every dashboard provider reads the folder that holds the repository's dashboards.
    let providers = read_yaml(&repo_path(
        "deploy/grafana/provisioning/dashboards/monlab.yml",
    ));
    let providers = providers
        .get("providers")
        .and_then(Yaml::as_sequence)
        .expect("a `providers` list");
    assert!(!providers.is_empty(), "no dashboard provider");
    for provider in providers {
        let path = provider
            .get("options")
            .and_then(|options| options.get("path"))
            .and_then(Yaml::as_str)
            .expect("a file provider with options.path");
        assert_eq!(
            mounted(path),
            repo_dir("deploy/grafana/dashboards"),
            "the dashboard provider reads {path}, which is not deploy/grafana/dashboards"
        );
    }

    // The home dashboard is one of the files, so that a typo does not leave an empty home.
    let home = env_var(grafana, "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
        .expect("grafana sets GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH");
    let file = host_path(&mounts, &home)
        .unwrap_or_else(|| panic!("grafana's home dashboard {home} is in no mounted folder"));
    assert!(
        file.is_file(),
        "grafana's home dashboard {home} is {}, which is not a file",
        file.display()
    );
}

#[test]
fn dashboards_are_complete() {
    let uid = provisioned_datasource_uid();
    let mut problems = Vec::new();
    for (name, dashboard) in dashboards() {
        problems.extend(
            dashboard_problems(&dashboard, &uid)
                .into_iter()
                .map(|problem| format!("{name}: {problem}")),
        );
    }
    assert!(
        problems.is_empty(),
        "dashboards are incomplete:\n{}",
        problems.join("\n")
    );
}

/// What is missing or wrong in one dashboard; empty when it is complete.
fn dashboard_problems(dashboard: &Json, datasource_uid: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let text = |value: &Json| {
        value
            .as_str()
            .map(str::trim)
            .unwrap_or_default()
            .to_string()
    };
    let names_the_datasource = |value: &Json| value["datasource"]["uid"] == datasource_uid;

    for key in ["uid", "title"] {
        if text(&dashboard[key]).is_empty() {
            problems.push(format!("no {key}"));
        }
    }

    let variables = dashboard["templating"]["list"].as_array();
    for wanted in ["instance", "route"] {
        match variables
            .into_iter()
            .flatten()
            .find(|variable| variable["name"] == wanted)
        {
            None => problems.push(format!("no `{wanted}` variable")),
            Some(variable) if !names_the_datasource(variable) => problems.push(format!(
                "variable `{wanted}` does not use the datasource uid {datasource_uid}"
            )),
            Some(_) => {}
        }
    }

    let mut ids = BTreeSet::new();
    for panel in panels(dashboard) {
        let title = text(&panel["title"]);
        let kind = text(&panel["type"]);
        let what = format!("{kind} panel {title:?}");
        if title.is_empty() {
            problems.push(format!("{what} has no title"));
        }
        if let Some(id) = panel["id"].as_u64() {
            if !ids.insert(id) {
                problems.push(format!("{what} reuses panel id {id}"));
            }
        }
        // A row only groups panels; it shows no data of its own.
        if kind == "row" {
            continue;
        }
        if text(&panel["description"]).is_empty() {
            problems.push(format!(
                "{what} has no description (what it shows, when to worry)"
            ));
        }
        if !names_the_datasource(panel) {
            problems.push(format!(
                "{what} does not use the datasource uid {datasource_uid}"
            ));
        }
        let targets = panel["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            problems.push(format!("{what} has no queries"));
        }
        for target in &targets {
            let ref_id = text(&target["refId"]);
            if !names_the_datasource(target) {
                problems.push(format!(
                    "{what} query {ref_id} does not use the datasource uid {datasource_uid}"
                ));
            }
            if text(&target["expr"]).is_empty() {
                problems.push(format!("{what} query {ref_id} has no expr"));
            }
        }
        let unit = if kind == "heatmap" {
            text(&panel["options"]["yAxis"]["unit"])
        } else {
            text(&panel["fieldConfig"]["defaults"]["unit"])
        };
        if (kind == "heatmap" || TYPES_WITH_UNITS.contains(&kind.as_str())) && unit.is_empty() {
            problems.push(format!("{what} has no unit"));
        }
    }
    problems
}

#[test]
fn dashboard_queries_are_valid_promql_after_substitution() {
    let queries = dashboard_queries();
    assert!(!queries.is_empty(), "the dashboards hold no queries");
    let allowed: Vec<&str> = SUBSTITUTIONS
        .iter()
        .map(|(variable, _)| *variable)
        .collect();
    let problems: Vec<String> = queries
        .iter()
        .filter_map(|(panel, expr)| {
            if expr.contains('$') {
                return Some(format!(
                    "{panel}: {expr}\n  uses a variable other than {}",
                    allowed.join(", ")
                ));
            }
            promql_parser::parser::parse(expr)
                .err()
                .map(|e| format!("{panel}: {expr}\n  {e}"))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "dashboard queries that Prometheus would reject:\n{}",
        problems.join("\n")
    );
}

/// The compose file's `load` service keeps traffic on the service, so a Docker user's
/// dashboards move: it runs `monlab load` from the image the `monlab` service builds, against
/// that service by name, at a modest rate for the longest run, restarted by compose. Its
/// settings are then given to the real `monlab load`, with only the target (a compose name)
/// and the run's length replaced, and must be accepted and send traffic.
#[test]
fn compose_runs_load_against_the_service() {
    let compose = read_yaml(&repo_path("docker-compose.yml"));
    let services = services(&compose);
    let find = |name: &str| {
        services
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| *s)
            .unwrap_or_else(|| panic!("docker-compose.yml has no `{name}` service"))
    };
    let (monlab, load) = (find("monlab"), find("load"));
    let image = |s: &Yaml| s.get("image").and_then(Yaml::as_str).map(str::to_string);
    assert_eq!(
        image(load),
        image(monlab),
        "the load service runs the image the monlab service builds"
    );
    let command: Vec<&str> = load
        .get("command")
        .and_then(Yaml::as_sequence)
        .expect("the load service has a command list")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(
        command.first(),
        Some(&"load"),
        "the load service runs `monlab load`"
    );
    assert_eq!(
        env_var(load, "MONLAB_LOAD_TARGET").as_deref(),
        Some("http://monlab:8080"),
        "the load goes to the monlab service on the port its image listens on"
    );
    let rate: f64 = env_var(load, "MONLAB_LOAD_RATE")
        .and_then(|r| r.parse().ok())
        .expect("MONLAB_LOAD_RATE is a number");
    assert!(
        rate > 0.0 && rate <= 100.0,
        "a modest rate, not a benchmark: {rate}"
    );
    assert_eq!(
        env_var(load, "MONLAB_LOAD_DURATION").as_deref(),
        Some("24h"),
        "the longest run `monlab load` accepts"
    );
    assert_eq!(
        load.get("restart").and_then(Yaml::as_str),
        Some("unless-stopped"),
        "compose starts the load again when a run ends"
    );
    let depends = load
        .get("depends_on")
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(Yaml::as_str);
    assert!(
        depends.into_iter().any(|d| d == "monlab"),
        "the load starts after the service"
    );

    // The same settings, as the real `monlab load` reads them (flags beat the environment).
    let service = crate::harness::Monlab::start(&[]);
    let mut cmd = crate::harness::monlab_command(&command);
    for (key, value) in load
        .get("environment")
        .and_then(Yaml::as_mapping)
        .expect("the load service's environment is a map")
    {
        cmd.env(
            key.as_str().expect("a variable name"),
            value.as_str().expect("a string value"),
        );
    }
    cmd.args([
        "--target",
        &service.url(""),
        "--requests",
        "20",
        "--feedback-share",
        "0",
        "--json",
    ]);
    let stdout = run(cmd).success();
    let report: Json = serde_json::from_str(&stdout).expect("a JSON report");
    assert_eq!(report["total"]["completed"], 20, "{report}");
}
