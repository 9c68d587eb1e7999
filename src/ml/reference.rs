//! The reference statistics of the training data, which monitoring compares live traffic
//! against: per numeric feature and for the model's score a ten-bin histogram (decile edges
//! and shares, for PSI), 1,000 evenly spaced order statistics (the reference sample for KS),
//! mean and standard deviation; per categorical feature the share of each category.
//!
//! `monlab train` writes it next to the model (`models/credit-risk.reference.json`); the
//! shipped one is embedded in the binary. See [`Reference`].

use super::features::{Employment, Region, CATEGORICAL, NUMERIC};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The reference shipped with monlab, written by `monlab train` with the shipped seed.
pub(crate) const SHIPPED: &str = include_str!("../../models/credit-risk.reference.json");

/// Order statistics kept per numeric feature as the reference sample for KS.
pub(crate) const SAMPLE_SIZE: usize = 1000;

/// Reference statistics of one numeric quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Numeric {
    /// Mean over the training rows.
    pub mean: f64,
    /// Standard deviation (population) over the training rows.
    pub std_dev: f64,
    /// Inner bin edges: the deciles, duplicates removed (see [`super::drift::bin`]).
    pub edges: Vec<f64>,
    /// Share of the training rows in each bin (`edges.len() + 1` values).
    pub shares: Vec<f64>,
    /// [`SAMPLE_SIZE`] order statistics at ranks (i + ½)·n / SAMPLE_SIZE, sorted.
    pub sample: Vec<f64>,
}

/// The reference file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Version of the model trained on the same rows.
    pub model_version: String,
    /// Seed `monlab train` drew the training rows with.
    pub seed: u64,
    /// Training rows.
    pub rows: usize,
    /// Training time written into the model file (`--trained-at`).
    pub trained_at: String,
    /// Per numeric feature, by name.
    pub numeric: BTreeMap<String, Numeric>,
    /// Per categorical feature, the share of each category, by name.
    pub categorical: BTreeMap<String, BTreeMap<String, f64>>,
    /// The model's score on the training rows.
    pub score: Numeric,
}

/// A reference file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// Not valid JSON for a reference.
    #[error("reference file is not valid: {0}")]
    Parse(#[from] serde_json::Error),
    /// Inconsistent contents.
    #[error("reference file is inconsistent: {0}")]
    Invalid(String),
}

/// The known categories of a categorical feature, in one-hot order.
pub(crate) fn categories(feature: &str) -> Vec<&'static str> {
    if feature == "employment" {
        Employment::ALL.iter().map(|e| e.as_str()).collect()
    } else {
        Region::ALL.iter().map(|r| r.as_str()).collect()
    }
}

impl Numeric {
    fn check(&self, what: &str) -> Result<(), ReferenceError> {
        let bad = |m: &str| Err(ReferenceError::Invalid(format!("{what}: {m}")));
        if self.shares.len() != self.edges.len() + 1 {
            return bad("needs one share more than edges");
        }
        if self.edges.windows(2).any(|w| w[0] >= w[1]) {
            return bad("edges must rise strictly");
        }
        if (self.shares.iter().sum::<f64>() - 1.0).abs() > 1e-6 {
            return bad("shares must add up to 1");
        }
        if self.sample.is_empty() || self.sample.windows(2).any(|w| w[0] > w[1]) {
            return bad("sample must be sorted and not empty");
        }
        if !(self.std_dev.is_finite() && self.std_dev > 0.0) {
            return bad("std_dev must be > 0");
        }
        Ok(())
    }
}

impl Reference {
    /// Parses and checks a reference file: every feature present, edges rising, shares
    /// adding up to 1, samples sorted.
    pub fn from_json(text: &str) -> Result<Self, ReferenceError> {
        let r: Reference = serde_json::from_str(text)?;
        for f in NUMERIC {
            r.numeric
                .get(f)
                .ok_or_else(|| ReferenceError::Invalid(format!("no numeric feature {f}")))?
                .check(f)?;
        }
        r.score.check("score")?;
        for f in CATEGORICAL {
            let shares = r
                .categorical
                .get(f)
                .ok_or_else(|| ReferenceError::Invalid(format!("no categorical feature {f}")))?;
            for c in categories(f) {
                if !shares.contains_key(c) {
                    return Err(ReferenceError::Invalid(format!("{f}: no category {c}")));
                }
            }
        }
        Ok(r)
    }

    /// The reference shipped in the binary, parsed once.
    pub fn shipped() -> &'static Self {
        static SHIPPED_REFERENCE: std::sync::OnceLock<Reference> = std::sync::OnceLock::new();
        SHIPPED_REFERENCE.get_or_init(|| {
            Self::from_json(SHIPPED)
                .expect("the shipped reference file is valid (checked by a test)")
        })
    }

    /// The statistics of a numeric feature of [`NUMERIC`]; panics for another name, which
    /// would be a bug (every name comes from the fixed list, and loading checked them all).
    pub fn numeric(&self, feature: &str) -> &Numeric {
        &self.numeric[feature]
    }

    /// The reference shares of a categorical feature, in [`categories`] order.
    pub fn category_shares(&self, feature: &str) -> Vec<f64> {
        let shares = self.categorical.get(feature);
        categories(feature)
            .into_iter()
            .map(|c| shares.and_then(|s| s.get(c)).copied().unwrap_or(0.0))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_reference_loads_and_matches_the_shipped_model() {
        let r = Reference::shipped();
        let m = crate::ml::model::Model::shipped();
        assert_eq!(r.model_version, m.version);
        assert_eq!(r.trained_at, m.trained_at);
        assert_eq!(r.numeric("age").sample.len(), SAMPLE_SIZE);
        assert_eq!(r.numeric("age").shares.len(), 10);
        let e = r.category_shares("employment");
        assert!((e[0] - 0.70).abs() < 0.02, "{e:?}");
    }

    #[test]
    fn inconsistent_references_are_refused() {
        let mut v: serde_json::Value = serde_json::from_str(SHIPPED).unwrap();
        v["numeric"]["age"]["shares"] = serde_json::json!([1.0]);
        let err = Reference::from_json(&v.to_string())
            .unwrap_err()
            .to_string();
        assert!(err.contains("age"), "{err}");
        let mut v: serde_json::Value = serde_json::from_str(SHIPPED).unwrap();
        v["categorical"]["region"]
            .as_object_mut()
            .unwrap()
            .remove("west");
        let err = Reference::from_json(&v.to_string())
            .unwrap_err()
            .to_string();
        assert!(err.contains("west"), "{err}");
    }
}
