//! Derives the configuration Prometheus and Alertmanager run with from the files in `deploy/`.
//!
//! Only what differs between Docker and one machine changes: scrape targets, the Alertmanager
//! address, the webhook host, rule file paths (made absolute) and, when asked, the scrape and
//! evaluation interval. Rules, routes, receivers and inhibitions are used as they are, so
//! `monlab up` and the tests run exactly the rules that ship.

use crate::warp::Speed;
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A deploy file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("{path} is not valid YAML: {source}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_yaml::Error,
    },
    /// The file lacks something the stack relies on.
    #[error("{path}: {what}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// What is missing.
        what: String,
    },
    /// The time warp cannot transform a derived file.
    #[error("time warp: {0}")]
    Warp(#[from] crate::warp::Error),
}

/// Where the stack's parts listen, as `host:port`.
#[derive(Debug, Clone)]
pub struct Targets {
    /// monlab instances to scrape (ignored when `monlab_file_sd` is set).
    pub monlab: Vec<String>,
    /// A file_sd file listing the monlab instances, rewritten when the set changes.
    pub monlab_file_sd: Option<PathBuf>,
    /// This Prometheus itself.
    pub prometheus: String,
    /// Alertmanagers to send alerts to.
    pub alertmanagers: Vec<String>,
    /// The Pushgateway batch jobs push to.
    pub pushgateway: String,
    /// Where Alertmanager's webhooks go (a monlab instance).
    pub webhook: String,
}

fn read_yaml(path: &Path) -> Result<Value, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    serde_yaml::from_str(&text).map_err(|source| ConfigError::Yaml {
        path: path.into(),
        source,
    })
}

fn strings(items: &[String]) -> Value {
    Value::Sequence(items.iter().map(|s| Value::String(s.clone())).collect())
}

fn static_targets(items: &[String]) -> Value {
    let mut m = Mapping::new();
    m.insert("targets".into(), strings(items));
    Value::Sequence(vec![Value::Mapping(m)])
}

/// What a member of an HA pair adds to the shipped configuration.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// External labels, e.g. `replica = "a"`: they tell the pair's copies apart.
    pub external_labels: Vec<(String, String)>,
    /// Labels dropped from alerts on the way to Alertmanager, so both copies of an alert
    /// are one alert there.
    pub alert_label_drops: Vec<String>,
    /// A `remote_write` URL and the labels dropped on the way, so a deduplicating store
    /// (VictoriaMetrics) sees the pair's copies as one series.
    pub remote_write: Option<(String, Vec<String>)>,
    /// Where the rule files are, in place of `deploy/prometheus` (the time warp's scaled copies).
    pub rules_dir: Option<PathBuf>,
}

fn labeldrop(labels: &[String]) -> Value {
    let mut m = Mapping::new();
    m.insert("action".into(), "labeldrop".into());
    m.insert("regex".into(), labels.join("|").into());
    Value::Sequence(vec![Value::Mapping(m)])
}

/// Prometheus's duration syntax (`1s`, `250ms`, `15s`).
pub fn prom_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The Prometheus configuration for one machine, from `deploy/prometheus/prometheus.yml`.
pub fn prometheus(
    deploy: &Path,
    targets: &Targets,
    interval: Option<Duration>,
    extras: &Extras,
) -> Result<String, ConfigError> {
    let path = deploy.join("prometheus/prometheus.yml");
    let shape = |what: &str| ConfigError::Shape {
        path: path.clone(),
        what: what.into(),
    };
    let mut doc = read_yaml(&path)?;
    let root = doc.as_mapping_mut().ok_or_else(|| shape("not a mapping"))?;
    set_global(root, interval, &extras.external_labels).map_err(shape)?;
    if let Some((url, drops)) = &extras.remote_write {
        set_remote_write(root, url, drops);
    }
    // Rule files are relative to the deploy folder (or the folder of their scaled copies);
    // the derived file lives elsewhere.
    let rules_dir = extras
        .rules_dir
        .clone()
        .unwrap_or_else(|| deploy.join("prometheus"));
    absolute_rule_files(root, &rules_dir.canonicalize().unwrap_or(rules_dir));
    point_alerting(root, &targets.alertmanagers, &extras.alert_label_drops);
    point_scrape_jobs(root, targets).map_err(shape)?;
    serde_yaml::to_string(&doc).map_err(|source| ConfigError::Yaml { path, source })
}

/// The `global` mapping of a Prometheus configuration, made if absent.
fn global(root: &mut Mapping) -> Result<&mut Mapping, &'static str> {
    root.entry("global".into())
        .or_insert_with(|| Value::Mapping(Mapping::new()))
        .as_mapping_mut()
        .ok_or("global is not a mapping")
}

/// Sets the scrape and evaluation interval (when given) and the external labels (when any).
fn set_global(
    root: &mut Mapping,
    interval: Option<Duration>,
    external_labels: &[(String, String)],
) -> Result<(), &'static str> {
    if let Some(every) = interval {
        let g = global(root)?;
        g.insert("scrape_interval".into(), prom_duration(every).into());
        g.insert("evaluation_interval".into(), prom_duration(every).into());
    }
    if !external_labels.is_empty() {
        let mut labels = Mapping::new();
        for (k, v) in external_labels {
            labels.insert(k.as_str().into(), v.as_str().into());
        }
        global(root)?.insert("external_labels".into(), Value::Mapping(labels));
    }
    Ok(())
}

/// Sends every sample to `url`, without the labels in `drops`.
fn set_remote_write(root: &mut Mapping, url: &str, drops: &[String]) {
    let mut rw = Mapping::new();
    rw.insert("url".into(), url.into());
    if !drops.is_empty() {
        rw.insert("write_relabel_configs".into(), labeldrop(drops));
    }
    root.insert(
        "remote_write".into(),
        Value::Sequence(vec![Value::Mapping(rw)]),
    );
}

/// Makes relative `rule_files` entries absolute, under `rules_dir`.
fn absolute_rule_files(root: &mut Mapping, rules_dir: &Path) {
    if let Some(Value::Sequence(files)) = root.get_mut("rule_files") {
        for f in files.iter_mut() {
            if let Value::String(s) = f {
                if Path::new(s.as_str()).is_relative() {
                    *s = rules_dir.join(s.as_str()).to_string_lossy().into_owned();
                }
            }
        }
    }
}

/// Sends alerts to `alertmanagers`, without the labels in `drops`.
fn point_alerting(root: &mut Mapping, alertmanagers: &[String], drops: &[String]) {
    let Some(Value::Mapping(alerting)) = root.get_mut("alerting") else {
        return;
    };
    if let Some(Value::Sequence(ams)) = alerting.get_mut("alertmanagers") {
        for am in ams.iter_mut().filter_map(Value::as_mapping_mut) {
            am.insert("static_configs".into(), static_targets(alertmanagers));
        }
    }
    if !drops.is_empty() {
        alerting.insert("alert_relabel_configs".into(), labeldrop(drops));
    }
}

/// Points the monlab, pushgateway and prometheus scrape jobs at `targets`; the monlab job must
/// be there.
fn point_scrape_jobs(root: &mut Mapping, targets: &Targets) -> Result<(), &'static str> {
    let jobs = root
        .get_mut("scrape_configs")
        .and_then(Value::as_sequence_mut)
        .ok_or("scrape_configs is missing")?;
    let mut seen_monlab = false;
    for job in jobs.iter_mut().filter_map(Value::as_mapping_mut) {
        let static_one = |t: &String| static_targets(std::slice::from_ref(t));
        match job.get("job_name").and_then(Value::as_str) {
            Some("monlab") => {
                seen_monlab = true;
                point_monlab_job(job, targets);
            }
            Some("pushgateway") => {
                job.insert("static_configs".into(), static_one(&targets.pushgateway));
            }
            Some("prometheus") => {
                job.insert("static_configs".into(), static_one(&targets.prometheus));
            }
            _ => {}
        }
    }
    if seen_monlab {
        Ok(())
    } else {
        Err("no scrape job named monlab")
    }
}

/// The monlab job reads its targets from the file_sd file when there is one, else statically.
fn point_monlab_job(job: &mut Mapping, targets: &Targets) {
    let Some(file) = &targets.monlab_file_sd else {
        job.insert("static_configs".into(), static_targets(&targets.monlab));
        return;
    };
    job.remove("static_configs");
    let mut sd = Mapping::new();
    sd.insert(
        "files".into(),
        strings(&[file.to_string_lossy().into_owned()]),
    );
    sd.insert("refresh_interval".into(), "5s".into());
    job.insert(
        "file_sd_configs".into(),
        Value::Sequence(vec![Value::Mapping(sd)]),
    );
}

/// A run's monitoring files at one speed of the time warp: the Prometheus and Alertmanager
/// configuration derived from `deploy/` and, at any speed but 1, scaled by the warp, with the
/// scaled rule files it reads and the flags Prometheus needs. `up` and the tests' stack both
/// derive theirs here, so they run the same files. Nothing is written here.
#[derive(Debug, Clone)]
pub struct RunFiles {
    deploy: PathBuf,
    speed: Speed,
    /// Where the scaled rule files go (none at speed 1: the shipped rules are read in place).
    rules_dir: Option<PathBuf>,
    /// The scaled rule files to write before Prometheus starts, as (path, text).
    pub rules: Vec<(PathBuf, String)>,
}

impl RunFiles {
    /// Reads the shipped rules and, unless `speed` is 1, scales them into files under
    /// `warped_dir`.
    pub fn new(deploy: &Path, speed: Speed, warped_dir: &Path) -> Result<Self, ConfigError> {
        if !speed.is_warped() {
            return Ok(Self {
                deploy: deploy.into(),
                speed,
                rules_dir: None,
                rules: Vec::new(),
            });
        }
        let rules = warped_rules(deploy, speed)?
            .into_iter()
            .map(|(rel, text)| (warped_dir.join(rel), text))
            .collect();
        Ok(Self {
            deploy: deploy.into(),
            speed,
            rules_dir: Some(warped_dir.into()),
            rules,
        })
    }

    /// One Prometheus's file: each replica of a pair passes its own targets and extras (the
    /// rule folder is this run's).
    pub fn prometheus(
        &self,
        targets: &Targets,
        interval: Option<Duration>,
        extras: &Extras,
    ) -> Result<String, ConfigError> {
        let mut extras = extras.clone();
        if self.rules_dir.is_some() {
            extras.rules_dir.clone_from(&self.rules_dir);
        }
        let text = prometheus(&self.deploy, targets, interval, &extras)?;
        if self.speed.is_warped() {
            return Ok(crate::warp::scale_prometheus_config(&text, self.speed)?);
        }
        Ok(text)
    }

    /// The Alertmanager file, its webhooks pointing at `webhook`.
    pub fn alertmanager(&self, webhook: &str) -> Result<String, ConfigError> {
        let text = alertmanager(&self.deploy, webhook)?;
        if self.speed.is_warped() {
            return Ok(crate::warp::scale_alertmanager(&text, self.speed)?);
        }
        Ok(text)
    }

    /// Prometheus's own duration flags, scaled (none at speed 1).
    pub fn prometheus_flags(&self) -> Vec<String> {
        if self.speed.is_warped() {
            crate::warp::prometheus_flags(self.speed)
        } else {
            Vec::new()
        }
    }
}

/// The Alertmanager configuration for one machine: webhooks point at `targets.webhook`.
pub fn alertmanager(deploy: &Path, webhook: &str) -> Result<String, ConfigError> {
    let path = deploy.join("alertmanager/alertmanager.yml");
    let mut doc = read_yaml(&path)?;
    let receivers = doc
        .get_mut("receivers")
        .and_then(Value::as_sequence_mut)
        .ok_or_else(|| ConfigError::Shape {
            path: path.clone(),
            what: "receivers is missing".into(),
        })?;
    for r in receivers.iter_mut() {
        let Some(Value::Sequence(hooks)) = r.get_mut("webhook_configs") else {
            continue;
        };
        for h in hooks.iter_mut() {
            if let Some(Value::String(url)) = h.get_mut("url") {
                *url = rehost(url, webhook);
            }
        }
    }
    serde_yaml::to_string(&doc).map_err(|source| ConfigError::Yaml { path, source })
}

/// The rule files of `deploy/prometheus/rules/`, each scaled by the time warp, as
/// (path relative to the rules' base folder, text): `rules/monlab.rules.yml`, …
fn warped_rules(deploy: &Path, speed: Speed) -> Result<Vec<(PathBuf, String)>, ConfigError> {
    let dir = deploy.join("prometheus/rules");
    let read_dir = std::fs::read_dir(&dir).map_err(|source| ConfigError::Read {
        path: dir.clone(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = read_dir
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let scaled =
                crate::warp::scale_rules(&text, speed).map_err(|e| ConfigError::Shape {
                    path: path.clone(),
                    what: e.to_string(),
                })?;
            let name = path.file_name().map(PathBuf::from).unwrap_or_default();
            Ok((Path::new("rules").join(name), scaled))
        })
        .collect()
}

/// Replaces the host of an `http://host:port/path` URL, keeping the path.
fn rehost(url: &str, host: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    format!("http://{host}{path}")
}

/// The file_sd document listing `targets` (Prometheus re-reads it when it changes).
pub fn file_sd(targets: &[String]) -> String {
    serde_json::json!([{ "targets": targets, "labels": {} }]).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy")
    }

    fn targets() -> Targets {
        Targets {
            monlab: vec!["127.0.0.1:18080".into()],
            monlab_file_sd: None,
            prometheus: "127.0.0.1:19090".into(),
            alertmanagers: vec!["127.0.0.1:19093".into()],
            pushgateway: "127.0.0.1:19091".into(),
            webhook: "127.0.0.1:18080".into(),
        }
    }

    #[test]
    fn prometheus_targets_and_intervals_are_rewritten() {
        let text = prometheus(
            &deploy(),
            &targets(),
            Some(Duration::from_secs(1)),
            &Extras::default(),
        )
        .unwrap();
        let v: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(v["global"]["scrape_interval"], "1s");
        assert!(text.contains("127.0.0.1:18080") && text.contains("127.0.0.1:19093"));
        assert!(!text.contains("monlab:8080") && !text.contains("alertmanager:9093"));
        assert!(text.contains("127.0.0.1:19091") && !text.contains("pushgateway:9091"));
        let rules = v["rule_files"][0].as_str().unwrap();
        assert!(Path::new(rules).is_absolute() && rules.ends_with("rules/*.yml"));
    }

    #[test]
    fn file_sd_replaces_static_targets() {
        let mut t = targets();
        t.monlab_file_sd = Some("/tmp/x/targets.json".into());
        let extras = Extras {
            external_labels: vec![("replica".into(), "a".into())],
            alert_label_drops: vec!["replica".into()],
            remote_write: Some((
                "http://127.0.0.1:8428/api/v1/write".into(),
                vec!["replica".into()],
            )),
            rules_dir: Some("/tmp/x/warped".into()),
        };
        let text = prometheus(&deploy(), &t, None, &extras).unwrap();
        assert!(text.contains("/tmp/x/warped/rules/*.yml"), "{text}");
        assert!(text.contains("/tmp/x/targets.json") && !text.contains("127.0.0.1:18080"));
        let v: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(v["global"]["external_labels"]["replica"], "a");
        assert_eq!(
            v["alerting"]["alert_relabel_configs"][0]["action"],
            "labeldrop"
        );
        assert_eq!(
            v["alerting"]["alert_relabel_configs"][0]["regex"],
            "replica"
        );
        assert_eq!(
            v["remote_write"][0]["url"],
            "http://127.0.0.1:8428/api/v1/write"
        );
        assert_eq!(
            v["remote_write"][0]["write_relabel_configs"][0]["regex"],
            "replica"
        );
    }

    #[test]
    fn webhooks_point_at_the_given_host() {
        let text = alertmanager(&deploy(), "127.0.0.1:18080").unwrap();
        assert!(text.contains("http://127.0.0.1:18080/alerts/webhook"));
        assert!(!text.contains("monlab:8080"));
        assert_eq!(rehost("http://a:1/x/y", "b:2"), "http://b:2/x/y");
    }
}
