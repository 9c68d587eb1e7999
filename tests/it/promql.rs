//! Every PromQL expression monlab ships: alert and recording rules, dashboard queries, and the
//! ```` ```promql ```` examples in the docs. Used by the live stack test, which checks that each
//! parses and returns data, and that each metric it names is exposed.

use crate::support::files::{files_under, read_yaml, repo_path, repo_root};
use promql_parser::parser::{self, Expr};
use promql_parser::util::{walk_expr, ExprVisitor};

/// Every rule (recording or alerting) of every rule file in `deploy/prometheus/rules`.
pub fn shipped_rules() -> Vec<serde_yaml::Value> {
    let mut out = Vec::new();
    for file in files_under(&repo_path("deploy/prometheus/rules"), ".yml") {
        let doc = read_yaml(&file);
        for group in doc["groups"].as_sequence().into_iter().flatten() {
            out.extend(group["rules"].as_sequence().into_iter().flatten().cloned());
        }
    }
    out
}

/// (where, expression) for every recording and alert rule.
pub fn rule_expressions() -> Vec<(String, String)> {
    shipped_rules()
        .iter()
        .map(|rule| {
            let name = rule["record"]
                .as_str()
                .or_else(|| rule["alert"].as_str())
                .unwrap_or("?");
            let expr = rule["expr"].as_str().expect("every rule has an expr");
            (format!("rule {name}"), expr.to_string())
        })
        .collect()
}

/// The names recorded by recording rules.
pub fn recorded_names() -> Vec<String> {
    shipped_rules()
        .iter()
        .filter_map(|rule| rule["record"].as_str().map(str::to_string))
        .collect()
}

/// (where, expression) for every ```` ```promql ```` block in `docs/` and the README.
pub fn doc_expressions() -> Vec<(String, String)> {
    let mut files = files_under(&repo_path("docs"), ".md");
    files.push(repo_path("README.md"));
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let mut block: Option<String> = None;
        for line in text.lines() {
            match (&mut block, line.trim_start()) {
                (None, l) if l.starts_with("```promql") => block = Some(String::new()),
                (Some(b), l) if l.starts_with("```") => {
                    let name = file
                        .strip_prefix(repo_root())
                        .unwrap_or(&file)
                        .display()
                        .to_string();
                    out.push((name, b.trim().to_string()));
                    block = None;
                }
                (Some(b), _) => {
                    b.push_str(line);
                    b.push('\n');
                }
                _ => {}
            }
        }
    }
    out
}

/// Rules, dashboards and docs together.
pub fn shipped_expressions() -> Vec<(String, String)> {
    let mut all = rule_expressions();
    all.extend(crate::deploy::dashboard_queries());
    all.extend(doc_expressions());
    all
}

struct Names(Vec<String>);

impl ExprVisitor for Names {
    type Error = ();
    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, ()> {
        let vs = match expr {
            Expr::VectorSelector(vs) => Some(vs),
            Expr::MatrixSelector(ms) => Some(&ms.vs),
            _ => None,
        };
        if let Some(name) = vs.and_then(|v| v.name.clone()) {
            self.0.push(name);
        }
        Ok(true)
    }
}

struct Selectors(Vec<String>);

impl ExprVisitor for Selectors {
    type Error = ();
    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, ()> {
        match expr {
            Expr::VectorSelector(_) => self.0.push(expr.to_string()),
            Expr::MatrixSelector(ms) => {
                self.0.push(Expr::VectorSelector(ms.vs.clone()).to_string())
            }
            _ => {}
        }
        Ok(true)
    }
}

/// Every vector selector in `expr`, as PromQL text (matrix selectors without their range).
pub fn selectors(expr: &str) -> Vec<String> {
    let Ok(ast) = parser::parse(expr) else {
        return Vec::new();
    };
    let mut s = Selectors(Vec::new());
    let _ = walk_expr(&mut s, &ast);
    s.0
}

/// Parses `expr` and returns the metric names it selects.
pub fn metric_names(expr: &str) -> Result<Vec<String>, String> {
    let ast = parser::parse(expr)?;
    let mut names = Names(Vec::new());
    let _ = walk_expr(&mut names, &ast);
    Ok(names.0)
}

#[test]
fn every_shipped_expression_parses() {
    let all = shipped_expressions();
    assert!(all.len() > 20, "found only {} expressions", all.len());
    for (place, expr) in all {
        metric_names(&expr).unwrap_or_else(|e| panic!("{place}: `{expr}` does not parse: {e}"));
    }
}
