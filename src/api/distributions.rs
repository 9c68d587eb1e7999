//! `GET /random` and `GET /distributions`: a drawn value, and the truth it is drawn from
//! (what `recover` compares its fits against).

use crate::distribution::Distribution;
use serde::{Deserialize, Serialize};

/// Query parameters of `/random`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RandomParams {
    /// Who asks; drives per-user effects. 1–64 characters of `[A-Za-z0-9_.-]`.
    pub user: Option<String>,
}

/// The answer of `/random`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RandomAnswer {
    /// The drawn value.
    pub value: f64,
    /// The delay the service waited before answering, in seconds.
    pub delay_seconds: f64,
}

/// One configured distribution, as `/distributions` reports it.
#[derive(Debug, Serialize, Deserialize)]
pub struct DistributionInfo {
    /// The spec, which parses back to the same distribution.
    pub spec: Distribution,
    /// Family name.
    pub family: String,
    /// Exact mean.
    pub mean: f64,
    /// Exact standard deviation.
    pub std_dev: f64,
}

impl From<&Distribution> for DistributionInfo {
    fn from(d: &Distribution) -> Self {
        Self {
            spec: d.clone(),
            family: d.family().to_string(),
            mean: d.mean(),
            std_dev: d.variance().sqrt(),
        }
    }
}

/// The answer of `/distributions`: the truth behind `/random`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Distributions {
    /// Distribution of the value.
    pub value: DistributionInfo,
    /// Distribution of the delay in seconds.
    pub delay: DistributionInfo,
    /// Cap on one delay, in seconds.
    pub max_delay_seconds: f64,
    /// Seed, when the run is reproducible.
    pub seed: Option<u64>,
}
