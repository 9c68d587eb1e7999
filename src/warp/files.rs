//! The warp applied to whole files: rule files, prometheus.yml, alertmanager.yml and
//! promtool unit tests. Each takes the file's text and returns the scaled text (YAML
//! written back without comments); names, labels, annotations and routing stay as they are.
//!
//! See [`scale_rules`] and [`scale_rule_test`].

use super::expr::{parse, scale_tree, Unit, Units};
use super::{format_duration, parse_duration, scale_duration_text, Error, Speed};
use promql_parser::parser::value::ValueType;
use serde_yaml::{Mapping, Value};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// One rule as [`Units`] reads it: the name it records (none for an alert) and its expression.
pub(crate) struct RuleRef {
    pub(crate) record: Option<String>,
    pub(crate) expr: String,
}

fn load(yaml: &str) -> Result<Value, Error> {
    Ok(serde_yaml::from_str(yaml)?)
}

fn dump(doc: &Value) -> Result<String, Error> {
    Ok(serde_yaml::to_string(doc)?)
}

fn items_mut(v: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
    v.and_then(Value::as_sequence_mut)
        .into_iter()
        .flat_map(|s| s.iter_mut())
}

fn items(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_sequence).into_iter().flatten()
}

/// Scales the duration at `m[key]` if present; `field` names it in errors.
fn scale_key(m: &mut Value, key: &str, field: &str, k: Speed, exact: bool) -> Result<(), Error> {
    if let Some(v) = m.get_mut(key) {
        let text = duration_text(v, field)?;
        *v = Value::String(scale_duration_text(field, &text, k, exact)?);
    }
    Ok(())
}

fn duration_text(v: &Value, field: &str) -> Result<String, Error> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::Duration {
            field: field.into(),
            value: serde_yaml::to_string(v).unwrap_or_default().trim().into(),
        })
}

/// Sets `m[key]` to `default` when it is missing, so that a default Prometheus or
/// Alertmanager would apply unscaled is written out and scaled like the rest.
fn with_default(m: &mut Value, key: &str, default: &str) -> Result<(), Error> {
    let map = m
        .as_mapping_mut()
        .ok_or_else(|| Error::Shape(format!("expected a mapping around {key}")))?;
    if !map.contains_key(key) {
        map.insert(key.into(), default.into());
    }
    Ok(())
}

/// `doc[key]`, created empty when missing.
fn ensure_mapping<'a>(doc: &'a mut Value, key: &str) -> Result<&'a mut Value, Error> {
    let map = doc
        .as_mapping_mut()
        .ok_or_else(|| Error::Shape("the file is not a YAML mapping".into()))?;
    let v = map
        .entry(key.into())
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if v.is_mapping() {
        Ok(v)
    } else {
        Err(Error::Shape(format!("{key} is not a mapping")))
    }
}

fn rule_name(rule: &Value) -> String {
    rule.get("record")
        .or_else(|| rule.get("alert"))
        .and_then(Value::as_str)
        .unwrap_or("(unnamed rule)")
        .to_owned()
}

pub(crate) fn rules_of(yaml: &str) -> Result<Vec<RuleRef>, Error> {
    let doc = load(yaml)?;
    let mut out = Vec::new();
    for group in items(doc.get("groups")) {
        for rule in items(group.get("rules")) {
            let expr = rule
                .get("expr")
                .ok_or_else(|| Error::Shape(format!("rule {} has no expr", rule_name(rule))))?;
            out.push(RuleRef {
                record: rule
                    .get("record")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                expr: expr_text(expr),
            });
        }
    }
    Ok(out)
}

/// An `expr` as text: YAML may hold a bare number (`expr: 1`).
fn expr_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

/// A Prometheus rule file at speed K: each group's `interval`, each rule's `expr`, `for`
/// and `keep_firing_for`.
///
/// Recording-rule names stay, `…:rate5m` included: dashboards and other rules select them
/// by name, and the window is five minutes of system time at any K, so the name stays true.
/// Annotations stay too; their "over 5 minutes" is system time as well.
pub fn scale_rules(yaml: &str, k: Speed) -> Result<String, Error> {
    scale_rules_doc(yaml, k, false)
}

fn scale_rules_doc(yaml: &str, k: Speed, exact: bool) -> Result<String, Error> {
    let mut doc = load(yaml)?;
    for group in items_mut(doc.get_mut("groups")) {
        let name = group
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed group)")
            .to_owned();
        scale_key(
            group,
            "interval",
            &format!("group {name}: interval"),
            k,
            exact,
        )?;
        for rule in items_mut(group.get_mut("rules")) {
            let rname = rule_name(rule);
            if let Some(expr) = rule.get_mut("expr") {
                let text = expr_text(expr);
                let scaled = scale_tree(&text, k, exact).map_err(|e| match e {
                    Error::Inexact { value, speed, .. } => Error::Inexact {
                        field: format!("rule {rname}: expr"),
                        value,
                        speed,
                    },
                    other => other,
                })?;
                *expr = Value::String(scaled);
            }
            for key in ["for", "keep_firing_for"] {
                scale_key(rule, key, &format!("rule {rname}: {key}"), k, exact)?;
            }
        }
    }
    dump(&doc)
}

/// A rule that is not scale-invariant, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The alert or recorded series.
    pub rule: String,
    /// What changes with K.
    pub problem: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.problem)
    }
}

/// Every rule of the given rule files whose meaning would change with K: a per-second rate
/// or system time compared with a fixed number, or an alert that prints such a value
/// (`$value`) in its annotations. A scale-invariant threshold is a ratio, a count over the
/// rule's own window (`increase`), or a latency.
pub fn audit_rules(files: &[&str]) -> Result<Vec<Finding>, Error> {
    let units = Units::from_rules(files)?;
    let mut findings = Vec::new();
    for text in files {
        let doc = load(text)?;
        for group in items(doc.get("groups")) {
            for rule in items(group.get("rules")) {
                let name = rule_name(rule);
                let expr = expr_text(rule.get("expr").unwrap_or(&Value::Null));
                for problem in units.problems(&expr)? {
                    findings.push(Finding {
                        rule: name.clone(),
                        problem,
                    });
                }
                let unit = units.of(&expr)?;
                let prints_value = rule
                    .get("annotations")
                    .and_then(Value::as_mapping)
                    .into_iter()
                    .flat_map(|m| m.values())
                    .filter_map(Value::as_str)
                    .any(|a| a.contains("$value") || a.contains(".Value"));
                if rule.get("alert").is_some() && unit != Unit::Plain && prints_value {
                    findings.push(Finding {
                        rule: name.clone(),
                        problem: format!(
                            "prints $value, which is {unit:?} and changes with K, in an annotation"
                        ),
                    });
                }
            }
        }
    }
    Ok(findings)
}

/// A Prometheus configuration at speed K: the scrape and evaluation intervals (global and
/// per job; Prometheus's 1m defaults are written out first, so they shrink too) and service
/// discovery refresh intervals.
///
/// `scrape_timeout` is how long one HTTP scrape may take, a latency of the real machine, so
/// it is not divided; it is only capped at the scaled interval, which Prometheus requires.
pub fn scale_prometheus_config(yaml: &str, k: Speed) -> Result<String, Error> {
    let mut doc = load(yaml)?;
    let global = ensure_mapping(&mut doc, "global")?;
    with_default(global, "scrape_interval", "1m")?;
    with_default(global, "evaluation_interval", "1m")?;
    with_default(global, "scrape_timeout", "10s")?;
    scale_key(
        global,
        "scrape_interval",
        "global.scrape_interval",
        k,
        false,
    )?;
    scale_key(
        global,
        "evaluation_interval",
        "global.evaluation_interval",
        k,
        false,
    )?;
    let global_every = duration_of(global, "scrape_interval")?;
    cap_timeout(global, global_every, "global.scrape_timeout")?;
    for job in items_mut(doc.get_mut("scrape_configs")) {
        let name = job
            .get("job_name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed job)")
            .to_owned();
        scale_key(
            job,
            "scrape_interval",
            &format!("job {name}: scrape_interval"),
            k,
            false,
        )?;
        let every = match job.get("scrape_interval") {
            Some(_) => duration_of(job, "scrape_interval")?,
            None => global_every,
        };
        if job.get("scrape_timeout").is_some() {
            cap_timeout(job, every, &format!("job {name}: scrape_timeout"))?;
        }
        if let Some(map) = job.as_mapping_mut() {
            for (key, sds) in map.iter_mut() {
                let is_sd = key.as_str().is_some_and(|k| k.ends_with("_sd_configs"));
                if !is_sd {
                    continue;
                }
                for sd in items_mut(Some(sds)) {
                    let field = format!("job {name}: refresh_interval");
                    scale_key(sd, "refresh_interval", &field, k, false)?;
                }
            }
        }
    }
    dump(&doc)
}

fn duration_of(m: &Value, key: &str) -> Result<Duration, Error> {
    let text = duration_text(m.get(key).unwrap_or(&Value::Null), key)?;
    parse_duration(&text).ok_or(Error::Duration {
        field: key.into(),
        value: text,
    })
}

fn cap_timeout(m: &mut Value, every: Duration, field: &str) -> Result<(), Error> {
    let timeout = duration_of(m, "scrape_timeout").map_err(|_| Error::Duration {
        field: field.into(),
        value: expr_text(m.get("scrape_timeout").unwrap_or(&Value::Null)),
    })?;
    if timeout > every {
        m["scrape_timeout"] = Value::String(format_duration(every));
    }
    Ok(())
}

/// An Alertmanager configuration at speed K: `group_wait`, `group_interval` and
/// `repeat_interval` on every route, nested ones included, and `global.resolve_timeout`.
/// Alertmanager's defaults (30s, 5m, 4h; 5m) are written out first so they shrink too.
pub fn scale_alertmanager(yaml: &str, k: Speed) -> Result<String, Error> {
    let mut doc = load(yaml)?;
    let global = ensure_mapping(&mut doc, "global")?;
    with_default(global, "resolve_timeout", "5m")?;
    scale_key(
        global,
        "resolve_timeout",
        "global.resolve_timeout",
        k,
        false,
    )?;
    let route = doc
        .get_mut("route")
        .ok_or_else(|| Error::Shape("alertmanager.yml has no route".into()))?;
    with_default(route, "group_wait", "30s")?;
    with_default(route, "group_interval", "5m")?;
    with_default(route, "repeat_interval", "4h")?;
    scale_route(route, "route", k)?;
    dump(&doc)
}

fn scale_route(route: &mut Value, path: &str, k: Speed) -> Result<(), Error> {
    for key in ["group_wait", "group_interval", "repeat_interval"] {
        scale_key(route, key, &format!("{path}.{key}"), k, false)?;
    }
    for (i, child) in items_mut(route.get_mut("routes")).enumerate() {
        scale_route(child, &format!("{path}.routes[{i}]"), k)?;
    }
    Ok(())
}

/// A promtool unit-test file at speed K, against the rule files scaled into `rules_dir`.
///
/// - `rule_files` point at the same file names in `rules_dir`.
/// - `evaluation_interval`, each test's `interval` and every `eval_time` are divided by K.
///   They must divide exactly: a rounded clock moves samples across window edges.
/// - Input series keep their values: a counter's sample counts what happened since the
///   previous sample, and a window holds the same number of samples at any K. Series that
///   hold system time ([`Units::is_system_time`], e.g. a pushed timestamp and schedule) are
///   divided by K, like the clock they are compared with.
/// - `promql_expr_test` expressions are scaled, and each expected value is multiplied by
///   its expression's [`Unit::factor`], decided from the expression through `units`: a
///   per-second rate (a `rate()`, or a series recorded from one, such as `…:rate5m`) is K
///   times larger, because the same samples now span a K times shorter window. That is what
///   a faster system really shows, so this is the honest transform, not a fudge. Ratios,
///   counts over a window (`increase`) and latencies stay. An expression that compares a
///   rate with a fixed number is refused: it asks a different question at each K.
/// - Alert expectations (labels, annotations) stay: a scale-invariant alert fires with the
///   same labels and the same `$value`.
pub fn scale_rule_test(
    yaml: &str,
    k: Speed,
    units: &Units,
    rules_dir: &Path,
) -> Result<String, Error> {
    let mut doc = load(yaml)?;
    for file in items_mut(doc.get_mut("rule_files")) {
        let name = file
            .as_str()
            .and_then(|f| Path::new(f).file_name())
            .ok_or_else(|| Error::Shape(format!("rule_files entry {file:?} names no file")))?;
        *file = Value::String(rules_dir.join(name).to_string_lossy().into_owned());
    }
    with_default(&mut doc, "evaluation_interval", "1m")?;
    scale_key(
        &mut doc,
        "evaluation_interval",
        "evaluation_interval",
        k,
        true,
    )?;
    for (i, test) in items_mut(doc.get_mut("tests")).enumerate() {
        let name = test
            .get("name")
            .and_then(Value::as_str)
            .map_or_else(|| format!("tests[{i}]"), |n| format!("test {n:?}"));
        // promtool's default series interval is 1m whatever evaluation_interval says.
        with_default(test, "interval", "1m")?;
        scale_key(test, "interval", &format!("{name}: interval"), k, true)?;
        for series in items_mut(test.get_mut("input_series")) {
            let metric = series
                .get("series")
                .and_then(Value::as_str)
                .map(metric_name)
                .unwrap_or_default();
            if units.is_system_time(&metric) {
                if let Some(v) = series.get_mut("values") {
                    let text = expr_text(v);
                    *v = Value::String(scale_values(&text, 1.0 / f64::from(k.get())).ok_or_else(
                        || {
                            Error::Shape(format!(
                                "{name}: cannot scale the values of {metric}: {text:?}"
                            ))
                        },
                    )?);
                }
            }
        }
        for check in items_mut(test.get_mut("alert_rule_test")) {
            scale_key(check, "eval_time", &format!("{name}: eval_time"), k, true)?;
        }
        for check in items_mut(test.get_mut("promql_expr_test")) {
            scale_key(check, "eval_time", &format!("{name}: eval_time"), k, true)?;
            let Some(expr) = check.get_mut("expr") else {
                continue;
            };
            let text = expr_text(expr);
            if let Some(problem) = units.problems(&text)?.into_iter().next() {
                return Err(Error::Shape(format!(
                    "{name}: promql_expr_test {:?} is not scale-invariant: it {problem}",
                    text.trim()
                )));
            }
            let factor = units.of(&text)?.factor(k);
            let scaled = scale_tree(&text, k, true)?;
            // At K > 1 the same samples span a K times shorter window, so a result may differ
            // from K = 1 in its last bit (0.49 becomes 0.49000000000000005), and promtool
            // 2.42 compares exactly. Compare at 12 decimal places instead: both sides are
            // rounded the way Prometheus's round() does. round() drops the metric name, so
            // the expected labels lose it too.
            let rounded =
                k != Speed::ONE && matches!(parse(&scaled)?.value_type(), ValueType::Vector);
            *expr = Value::String(if rounded {
                format!("round({scaled}, 1e-12)")
            } else {
                scaled
            });
            for sample in items_mut(check.get_mut("exp_samples")) {
                if let Some(v) = sample.get_mut("value") {
                    if let Some(x) = v.as_f64().filter(|_| rounded || factor != 1.0) {
                        let x = x * factor;
                        *v = Value::from(if rounded { round_12(x) } else { x });
                    }
                }
                if rounded {
                    if let Some(Value::String(labels)) = sample.get_mut("labels") {
                        *labels = without_name(labels);
                    }
                }
            }
        }
    }
    dump(&doc)
}

/// `x` as PromQL's `round(x, 1e-12)` gives it (Go and Rust share IEEE arithmetic).
fn round_12(x: f64) -> f64 {
    const INVERSE: f64 = 1e12;
    (x * INVERSE + 0.5).floor() / INVERSE
}

/// A promtool series `name{a="b"}` without its name: `{a="b"}`.
fn without_name(labels: &str) -> String {
    labels
        .find('{')
        .map_or_else(|| "{}".to_owned(), |i| labels[i..].to_owned())
}

/// The metric name of a series selector such as `up{job="x"}`.
fn metric_name(series: &str) -> String {
    series
        .split('{')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// promtool's expanding notation (`0+15x80 stale _x3 120x10`) with every value and increment
/// multiplied by `factor`; repeat counts stay. None for what is not understood (native
/// histogram notation).
fn scale_values(text: &str, factor: f64) -> Option<String> {
    let num = |s: &str| s.parse::<f64>().ok().map(|x| (x * factor).to_string());
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        if token == "_" || token == "stale" || token.starts_with("_x") {
            out.push(token.to_owned());
            continue;
        }
        if token.contains('{') {
            return None;
        }
        let (head, times) = match token.rfind('x') {
            Some(i) => (&token[..i], Some(&token[i..])),
            None => (token, None),
        };
        // An increment's sign follows the start value (`10-2x5`), never an exponent's `e`.
        let split = head
            .char_indices()
            .skip(1)
            .find(|&(i, c)| (c == '+' || c == '-') && !head[..i].ends_with(['e', 'E']))
            .map(|(i, _)| i);
        let scaled = match split {
            Some(i) => format!(
                "{}{}{}",
                num(&head[..i])?,
                &head[i..i + 1],
                num(&head[i + 1..])?
            ),
            None => num(head)?,
        };
        out.push(format!("{scaled}{}", times.unwrap_or_default()));
    }
    Some(out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u32) -> Speed {
        Speed::new(n).unwrap()
    }

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    const RULES: &str = r#"
groups:
  - name: g
    interval: 30s
    rules:
      - record: job:x:rate5m
        expr: sum by (job) (rate(x_total[5m]))
      - alert: XHigh
        expr: sum by (job) (increase(x_total[5m])) > 30
        for: 2m
        keep_firing_for: 1m
        labels:
          severity: minor
        annotations:
          description: "{{ $value }} over 5m"
"#;

    #[test]
    fn rules_scale_durations_and_keep_names_and_text() {
        let v = yaml(&scale_rules(RULES, k(15)).unwrap());
        let g = &v["groups"][0];
        assert_eq!(g["interval"], "2s");
        assert_eq!(g["rules"][0]["record"], "job:x:rate5m");
        assert_eq!(g["rules"][0]["expr"], "sum by (job) (rate(x_total[20s]))");
        assert_eq!(g["rules"][1]["for"], "8s");
        assert_eq!(g["rules"][1]["keep_firing_for"], "4s");
        assert_eq!(
            g["rules"][1]["annotations"]["description"],
            "{{ $value }} over 5m"
        );
    }

    #[test]
    fn the_audit_names_rate_floors_and_printed_rates() {
        let bad = r#"
groups:
  - name: g
    rules:
      - record: job:x:rate5m
        expr: sum by (job) (rate(x_total[5m]))
      - alert: Floor
        expr: job:x:rate5m > 0.1
      - alert: Printed
        expr: job:x:rate5m > 0
        annotations:
          description: "{{ $value }}/s"
      - alert: Fine
        expr: sum by (job) (increase(x_total[5m])) > 30
        annotations:
          description: "{{ $value }} in 5m"
"#;
        let found = audit_rules(&[bad]).unwrap();
        let names: Vec<&str> = found.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(names, ["Floor", "Printed"], "{found:?}");
        assert!(found[0].to_string().contains("per-second rate"));
        assert!(audit_rules(&[RULES]).unwrap().is_empty());
    }

    #[test]
    fn prometheus_config_intervals_shrink_and_timeouts_are_capped() {
        let text = r#"
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: a
    scrape_interval: 5s
    scrape_timeout: 4s
    file_sd_configs:
      - files: [t.json]
        refresh_interval: 5s
  - job_name: b
"#;
        let v = yaml(&scale_prometheus_config(text, k(60)).unwrap());
        assert_eq!(v["global"]["scrape_interval"], "250ms");
        assert_eq!(v["global"]["evaluation_interval"], "1s");
        assert_eq!(v["global"]["scrape_timeout"], "250ms");
        let a = &v["scrape_configs"][0];
        assert_eq!(a["scrape_interval"], "83ms");
        assert_eq!(a["scrape_timeout"], "83ms");
        assert_eq!(a["file_sd_configs"][0]["refresh_interval"], "83ms");
        assert!(v["scrape_configs"][1].get("scrape_interval").is_none());
        let one = yaml(&scale_prometheus_config(text, Speed::ONE).unwrap());
        assert_eq!(one["global"]["scrape_timeout"], "10s");
        assert_eq!(one["scrape_configs"][0]["scrape_timeout"], "4s");
    }

    #[test]
    fn alertmanager_timers_shrink_on_every_route() {
        let text = r#"
route:
  receiver: r
  group_wait: 1m
  routes:
    - receiver: r
      group_wait: 10s
      routes:
        - receiver: r
          repeat_interval: 1h
"#;
        let v = yaml(&scale_alertmanager(text, k(60)).unwrap());
        assert_eq!(v["global"]["resolve_timeout"], "5s");
        let r = &v["route"];
        assert_eq!(r["group_wait"], "1s");
        assert_eq!(r["group_interval"], "5s");
        assert_eq!(r["repeat_interval"], "4m");
        assert_eq!(r["routes"][0]["group_wait"], "167ms");
        assert_eq!(r["routes"][0]["routes"][0]["repeat_interval"], "1m");
    }

    #[test]
    fn series_values_scale_in_expanding_notation() {
        assert_eq!(
            scale_values("0+60x10 120x3 _ stale _x2", 0.5).unwrap(),
            "0+30x10 60x3 _ stale _x2"
        );
        assert_eq!(scale_values("10-2x5 1e3", 0.5).unwrap(), "5-1x5 500");
        assert_eq!(scale_values("-4+2x1", 0.5).unwrap(), "-2+1x1");
        assert!(scale_values("{{schema:0 sum:5}}", 0.5).is_none());
    }

    #[test]
    fn rule_tests_scale_clocks_rates_and_system_time() {
        let rules = r#"
groups:
  - name: g
    rules:
      - record: job:x:rate5m
        expr: sum by (job) (rate(x_total[5m]))
      - alert: Stale
        expr: (time() - last_timestamp_seconds) / schedule_seconds > 1.5
"#;
        let test = r#"
rule_files: [../rules/a.yml]
evaluation_interval: 1m
tests:
  - interval: 15s
    input_series:
      - series: 'x_total{job="a"}'
        values: '0+15x40'
      - series: 'schedule_seconds{job="a"}'
        values: '120x40'
    alert_rule_test:
      - alertname: Stale
        eval_time: 5m
    promql_expr_test:
      - expr: job:x:rate5m
        eval_time: 10m
        exp_samples:
          - labels: 'job:x:rate5m{job="a"}'
            value: 1
      - expr: sum(increase(x_total[5m]))
        eval_time: 10m
        exp_samples:
          - labels: '{}'
            value: 300
"#;
        let units = Units::from_rules(&[rules]).unwrap();
        let out = scale_rule_test(test, k(5), &units, Path::new("/tmp/scaled")).unwrap();
        let v = yaml(&out);
        assert_eq!(v["rule_files"][0], "/tmp/scaled/a.yml");
        assert_eq!(v["evaluation_interval"], "12s");
        let t = &v["tests"][0];
        assert_eq!(t["interval"], "3s");
        assert_eq!(t["input_series"][0]["values"], "0+15x40");
        assert_eq!(t["input_series"][1]["values"], "24x40");
        assert_eq!(t["alert_rule_test"][0]["eval_time"], "1m");
        let e = &t["promql_expr_test"];
        assert_eq!(e[0]["eval_time"], "2m");
        assert_eq!(e[0]["expr"], "round(job:x:rate5m, 1e-12)");
        assert_eq!(e[0]["exp_samples"][0]["labels"], r#"{job="a"}"#);
        assert_eq!(e[0]["exp_samples"][0]["value"], 5.0);
        assert_eq!(e[1]["expr"], "round(sum(increase(x_total[1m])), 1e-12)");
        assert_eq!(e[1]["exp_samples"][0]["value"], 300.0);
        assert_eq!(round_12(0.49000000000000005), 0.49);

        // At K = 1 the file is the same test, read back.
        let one = yaml(&scale_rule_test(test, Speed::ONE, &units, Path::new("/t")).unwrap());
        let mut same = yaml(test);
        same["rule_files"][0] = "/t/a.yml".into();
        assert_eq!(one, same);

        // A clock K does not divide is refused, with the field named.
        let err = scale_rule_test(test, k(7), &units, Path::new("/t")).unwrap_err();
        assert!(err.to_string().contains("interval"), "{err}");
        // So is a test that compares a rate with a fixed number.
        let floor = test.replace(
            "- expr: job:x:rate5m\n",
            "- expr: job:x:rate5m > bool 0.5\n",
        );
        let err = scale_rule_test(&floor, k(5), &units, Path::new("/t")).unwrap_err();
        assert!(err.to_string().contains("per-second rate"), "{err}");
    }
}
