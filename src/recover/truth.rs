//! The true distributions `recover` compares with: given with flags, read from the service at
//! `--truth-url`, or asked of the scraped instances when they run on this machine.
//!
//! See [`read`]. Each service answers `GET /distributions` with its configured distributions.

use super::report::TruthInfo;
use super::RecoverConfig;
use super::{Error, Metric};
use crate::api::distributions::Distributions;
use crate::api::error::innermost;
use crate::distribution::Distribution;
use std::time::Duration;

/// Longest wait for a service's `/distributions`: it answers from memory.
const TIMEOUT: Duration = Duration::from_secs(3);
/// The flags that give the truth.
const FLAGS: &str = "--truth-value/--truth-delay";

/// The true distributions, from the flags, the given service or the scraped instances.
pub(super) struct Truth {
    /// The value's, when known.
    pub(super) value: Option<Distribution>,
    /// The delay's, when known.
    pub(super) delay: Option<Distribution>,
    /// Where they came from.
    pub(super) info: TruthInfo,
}

impl Truth {
    /// Takes what is still unknown from a service's answer, which `origin` names.
    fn fill(&mut self, d: Distributions, origin: String) {
        self.value.get_or_insert(d.value.spec);
        self.delay.get_or_insert(d.delay.spec);
        self.info = TruthInfo {
            known: true,
            origin,
        };
    }
}

/// The truth for every metric of `cfg`, asking a service only for what the flags leave open.
pub(super) async fn read(cfg: &RecoverConfig, instances: &[String]) -> Result<Truth, Error> {
    let mut t = Truth {
        value: cfg.truth_value.clone(),
        delay: cfg.truth_delay.clone(),
        info: TruthInfo {
            known: false,
            origin: String::new(),
        },
    };
    let needed = cfg.metrics.iter().any(|m| match m {
        Metric::Value => t.value.is_none(),
        Metric::Delay => t.delay.is_none(),
    });
    if !needed {
        t.info = TruthInfo {
            known: true,
            origin: format!("given with {FLAGS}"),
        };
        return Ok(t);
    }
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| Error::Truth {
            url: cfg
                .truth_url
                .clone()
                .unwrap_or_else(|| "the scraped instances".into()),
            reason: innermost(&e),
        })?;
    if let Some(base) = &cfg.truth_url {
        let url = format!("{}/distributions", base.trim_end_matches('/'));
        let d: Distributions = get_json(&http, &url).await.map_err(|reason| Error::Truth {
            url: url.clone(),
            reason,
        })?;
        t.fill(d, format!("read from {url}"));
        return Ok(t);
    }
    ask_instances(&http, &mut t, instances).await;
    Ok(t)
}

/// Fills what the flags left open from the scraped instances on this machine, when they answer
/// and agree; otherwise says in `t.info` why the truth is unknown.
async fn ask_instances(http: &reqwest::Client, t: &mut Truth, instances: &[String]) {
    // Ask the instances that produced the data, when they are on this machine: a fixed default
    // such as 127.0.0.1:8080 could be another service than the one Prometheus scraped.
    let local: Vec<&String> = instances.iter().filter(|i| is_loopback(i)).collect();
    let mut answers: Vec<(String, Distributions)> = Vec::new();
    let mut failures = Vec::new();
    for instance in &local {
        let url = format!("http://{instance}/distributions");
        match get_json::<Distributions>(http, &url).await {
            Ok(d) => answers.push((url, d)),
            Err(why) => failures.push(format!("{url}: {why}")),
        }
    }
    let agree = answers
        .windows(2)
        .all(|w| w[0].1.value.spec == w[1].1.value.spec && w[0].1.delay.spec == w[1].1.delay.spec);
    match answers.len() {
        0 => {
            let why = if local.is_empty() {
                "no scraped instance is on this machine; pass --truth-url or --truth-value/--truth-delay".to_string()
            } else {
                failures.join("; ")
            };
            t.info = TruthInfo {
                known: t.value.is_some() || t.delay.is_some(),
                origin: if t.value.is_some() || t.delay.is_some() {
                    format!("partly given with {FLAGS}; the rest unknown ({why})")
                } else {
                    format!("unknown ({why})")
                },
            };
        }
        _ if !agree => {
            t.info.origin =
                "unknown (the instances are configured differently; pick one with --instance)"
                    .into();
        }
        n => {
            let (url, d) = answers.swap_remove(0);
            let origin = if n == 1 {
                format!("read from {url}")
            } else {
                format!(
                    "read from {url} and {} more instance(s), which agree",
                    n - 1
                )
            };
            t.fill(d, origin);
        }
    }
}

/// Fetches a `GET` JSON document from a service.
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let resp = http.get(url).send().await.map_err(|e| innermost(&e))?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    resp.json::<T>().await.map_err(|e| innermost(&e))
}

/// Whether `host:port` names this machine.
fn is_loopback(instance: &str) -> bool {
    let host = instance
        .rsplit_once(':')
        .map_or(instance, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_is_asked_for_the_truth() {
        for yes in ["127.0.0.1:8080", "localhost:9", "[::1]:80", "127.3.2.1:1"] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "monlab:8080",
            "10.0.0.1:8080",
            "example.org:80",
            "[2001:db8::1]:80",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }
}
