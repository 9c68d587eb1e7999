//! The credit-risk model: logistic regression over standardised, one-hot encoded features.
//!
//! The model file (`models/credit-risk.json`, embedded in the binary) holds the column list,
//! the centring and scaling of each column, the coefficients, the values that stand in for
//! missing inputs, and the decision threshold. Scoring is a dot product: microseconds.

use super::features::{Employment, Features, Region};
use serde::{Deserialize, Serialize};

/// The model shipped with monlab.
pub(crate) const SHIPPED: &str = include_str!("../../models/credit-risk.json");

/// Stand-ins for missing values (the training data's medians and modes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Impute {
    /// Age.
    pub age: f64,
    /// Income.
    pub income: f64,
    /// Debt ratio.
    pub debt_ratio: f64,
    /// Credit history in months.
    pub credit_history_months: f64,
    /// Employment.
    pub employment: Employment,
    /// Region.
    pub region: Region,
}

/// A logistic-regression model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Model name.
    pub name: String,
    /// Version, shown in `monlab_model_info`.
    pub version: String,
    /// When it was trained (RFC 3339).
    pub trained_at: String,
    /// Column names, see [`column_value`].
    pub columns: Vec<String>,
    /// Subtracted from each column.
    pub center: Vec<f64>,
    /// Each column is divided by this after centring.
    pub scale: Vec<f64>,
    /// One coefficient per column.
    pub coefficients: Vec<f64>,
    /// The intercept.
    pub intercept: f64,
    /// Stand-ins for missing values.
    pub impute: Impute,
    /// Scores at or above it are declined.
    pub threshold: f64,
}

/// A model file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Not valid JSON for a model.
    #[error("model file is not valid: {0}")]
    Parse(#[from] serde_json::Error),
    /// Inconsistent contents.
    #[error("model file is inconsistent: {0}")]
    Invalid(String),
}

/// The value of one named column for the features, with missing values imputed.
pub(crate) fn column_value(column: &str, f: &Features, impute: &Impute) -> Option<f64> {
    let employment = f.employment.unwrap_or(impute.employment);
    let region = f.region.unwrap_or(impute.region);
    Some(match column {
        "age" => f.age.unwrap_or(impute.age),
        "log_income" => f.income.unwrap_or(impute.income).max(1.0).ln(),
        "debt_ratio" => f.debt_ratio.unwrap_or(impute.debt_ratio),
        "credit_history_months" => f
            .credit_history_months
            .unwrap_or(impute.credit_history_months),
        other => {
            let (feature, value) = other.split_once('=')?;
            match feature {
                "employment" => f64::from(employment.as_str() == value),
                "region" => f64::from(region.as_str() == value),
                _ => return None,
            }
        }
    })
}

impl Model {
    /// Parses and checks a model file.
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let m: Model = serde_json::from_str(text)?;
        let n = m.columns.len();
        if m.center.len() != n || m.scale.len() != n || m.coefficients.len() != n {
            return Err(ModelError::Invalid(format!(
                "{n} columns but {} centres, {} scales, {} coefficients",
                m.center.len(),
                m.scale.len(),
                m.coefficients.len()
            )));
        }
        let probe = Features {
            age: None,
            income: None,
            debt_ratio: None,
            credit_history_months: None,
            employment: None,
            region: None,
        };
        for c in &m.columns {
            if column_value(c, &probe, &m.impute).is_none() {
                return Err(ModelError::Invalid(format!("unknown column {c:?}")));
            }
        }
        if m.scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(ModelError::Invalid("every scale must be > 0".into()));
        }
        if !(0.0..=1.0).contains(&m.threshold) {
            return Err(ModelError::Invalid("threshold must be in [0, 1]".into()));
        }
        Ok(m)
    }

    /// The model shipped in the binary.
    pub fn shipped() -> Self {
        Self::from_json(SHIPPED).expect("the shipped model file is valid (checked by a test)")
    }

    /// The probability of default.
    pub fn score(&self, f: &Features) -> f64 {
        self.score_scaled(f, 1.0)
    }

    /// The score with the preprocessing broken as the `output-collapse` incident breaks it:
    /// every column divided by a scale a thousand times too large (a units bug in a
    /// deploy), so every applicant looks average and gets nearly the intercept's score,
    /// on the approve side of the threshold.
    pub fn score_collapsed(&self, f: &Features) -> f64 {
        self.score_scaled(f, 1000.0)
    }

    fn score_scaled(&self, f: &Features, scale_factor: f64) -> f64 {
        let mut z = self.intercept;
        for (i, c) in self.columns.iter().enumerate() {
            let x = column_value(c, f, &self.impute).unwrap_or(0.0);
            z += self.coefficients[i] * (x - self.center[i]) / (self.scale[i] * scale_factor);
        }
        super::dataset::sigmoid(z)
    }

    /// Whether a score is declined.
    pub fn declines(&self, score: f64) -> bool {
        score >= self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::dataset::Generator;
    use rand::SeedableRng;

    #[test]
    fn shipped_model_loads_and_separates_outcomes() {
        let m = Model::shipped();
        let g = Generator::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let rows: Vec<_> = (0..20_000).map(|_| g.sample(&mut rng)).collect();
        let correct = rows
            .iter()
            .filter(|(f, y)| m.declines(m.score(f)) == *y)
            .count() as f64
            / rows.len() as f64;
        let base = rows.iter().filter(|(_, y)| !*y).count() as f64 / rows.len() as f64;
        assert!(
            correct > base + 0.02,
            "accuracy {correct} vs always-approve {base}"
        );
    }

    #[test]
    fn inconsistent_files_are_refused() {
        let mut v: serde_json::Value = serde_json::from_str(SHIPPED).unwrap();
        v["coefficients"] = serde_json::json!([1.0]);
        assert!(Model::from_json(&v.to_string()).is_err());
        let mut v: serde_json::Value = serde_json::from_str(SHIPPED).unwrap();
        v["columns"][0] = serde_json::json!("shoe_size");
        assert!(Model::from_json(&v.to_string())
            .unwrap_err()
            .to_string()
            .contains("shoe_size"));
    }
}
