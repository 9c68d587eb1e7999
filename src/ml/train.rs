//! `monlab train`: fits the credit-risk model on rows drawn from the written-down population
//! ([`super::dataset`]) and computes the reference statistics monitoring compares against.
//!
//! The fit is logistic regression by L-BFGS (`linfa-logistic`) on standardised, one-hot
//! encoded columns, the layout [`super::model`] reads. Everything is drawn from one seeded
//! generator and every stored number is rounded to six significant digits, so the same seed
//! writes the same two files byte for byte (a test checks the shipped ones). See [`train`].

use super::dataset::Generator;
use super::drift::{decile_edges, quantile_sorted, shares};
use super::features::{Employment, Features, Region, CATEGORICAL, NUMERIC};
use super::model::{column_value, Impute, Model};
use super::reference::{categories, Numeric, Reference, SAMPLE_SIZE};
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The seed the shipped model was trained with.
pub(crate) const SHIPPED_SEED: u64 = 7;
/// Training rows of the shipped model: enough for coefficients within a few hundredths of the
/// truth, few enough that the reproduction test fits it in seconds.
pub(crate) const DEFAULT_ROWS: usize = 20_000;

/// Everything `monlab train` needs, validated.
#[derive(Debug, Clone)]
pub(crate) struct TrainConfig {
    /// Seed of the training rows.
    pub seed: u64,
    /// Training rows.
    pub rows: usize,
    /// Folder the two files go to.
    pub out: std::path::PathBuf,
    /// Training time written into the files (RFC 3339).
    pub trained_at: String,
}

impl Default for TrainConfig {
    /// The shipped model's seed and rows, into `models/`, trained now.
    fn default() -> Self {
        Self {
            seed: SHIPPED_SEED,
            rows: DEFAULT_ROWS,
            out: std::path::PathBuf::from("models"),
            trained_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        }
    }
}
/// The model's columns, in file order (see [`column_value`]).
pub(crate) const COLUMNS: [&str; 10] = [
    "debt_ratio",
    "log_income",
    "credit_history_months",
    "age",
    "employment=self_employed",
    "employment=unemployed",
    "employment=student",
    "region=south",
    "region=east",
    "region=west",
];
/// L2 penalty on the standardised coefficients; with 20,000 rows it only steadies the fit.
const ALPHA: f64 = 1.0;
/// L-BFGS stops when the gradient's norm falls below this, or after [`MAX_ITERATIONS`].
const GRADIENT_TOLERANCE: f64 = 1e-6;
const MAX_ITERATIONS: u64 = 500;
/// Decision threshold: declining at a 50% risk of default maximises accuracy for a
/// calibrated model.
const THRESHOLD: f64 = 0.5;

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TrainError {
    /// Too few rows to fit ten columns and estimate deciles.
    #[error("--rows must be at least 1000, got {0}")]
    TooFewRows(usize),
    /// The optimiser failed.
    #[error("the fit failed: {0}")]
    Fit(String),
    /// A file's contents could not be encoded as JSON.
    #[error("cannot encode {path}: {source}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// How the model and the fallback rules do on held-out rows of the same population.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Evaluation {
    /// Held-out rows.
    pub rows: usize,
    /// Share of defaults among them.
    pub default_rate: f64,
    /// Accuracy of the model's decisions.
    pub model_accuracy: f64,
    /// Accuracy of the fallback rules' decisions.
    pub fallback_accuracy: f64,
    /// Accuracy of approving everyone.
    pub approve_all_accuracy: f64,
    /// Area under the ROC curve of the model's score.
    pub model_auc: f64,
    /// Mean log loss of the model's score.
    pub model_log_loss: f64,
    /// Share of applicants the model declines.
    pub model_decline_share: f64,
}

/// A trained model, its reference statistics and its held-out evaluation.
#[derive(Debug, Clone)]
pub(crate) struct Trained {
    /// The model file's contents.
    pub model: Model,
    /// The reference file's contents.
    pub reference: Reference,
    /// Held-out evaluation.
    pub evaluation: Evaluation,
}

/// Rounds to six significant digits, so tiny floating-point differences between machines do
/// not reach the files.
fn round6(x: f64) -> f64 {
    format!("{x:.5e}").parse().unwrap_or(x)
}

fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Histogram, sample and moments of `values`, rounded for the file.
fn numeric_reference(values: &[f64]) -> Numeric {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let (mean, sd) = mean_sd(&sorted);
    let edges: Vec<f64> = decile_edges(&sorted).into_iter().map(round6).collect();
    let mut edges_dedup = edges;
    edges_dedup.dedup();
    let shares = shares(&edges_dedup, &sorted)
        .into_iter()
        .map(round6)
        .collect();
    let sample = (0..SAMPLE_SIZE)
        .map(|i| round6(sorted[((2 * i + 1) * n) / (2 * SAMPLE_SIZE)]))
        .collect();
    Numeric {
        mean: round6(mean),
        std_dev: round6(sd),
        edges: edges_dedup,
        shares,
        sample,
    }
}

/// Fits the model on `rows` rows drawn with `seed`, evaluates it on `rows / 4` more, and
/// computes the reference statistics of the training rows. `trained_at` is written as is.
pub(crate) fn train(seed: u64, rows: usize, trained_at: &str) -> Result<Trained, TrainError> {
    if rows < 1000 {
        return Err(TrainError::TooFewRows(rows));
    }
    let generator = Generator::default();
    let mut rng = StdRng::seed_from_u64(seed);
    let data: Vec<(Features, bool)> = (0..rows).map(|_| generator.sample(&mut rng)).collect();
    let held_out: Vec<(Features, bool)> =
        (0..rows / 4).map(|_| generator.sample(&mut rng)).collect();
    let impute = imputation(&data);
    let model = fit(&data, impute, trained_at)?;
    let reference = Reference {
        model_version: model.version.clone(),
        seed,
        rows,
        trained_at: trained_at.to_string(),
        numeric: NUMERIC
            .iter()
            .enumerate()
            .map(|(i, name)| (name.to_string(), numeric_reference(&column(&data, i))))
            .collect(),
        categorical: category_shares(&data),
        score: numeric_reference(&data.iter().map(|(f, _)| model.score(f)).collect::<Vec<_>>()),
    };
    let evaluation = evaluate(&model, &held_out);
    Ok(Trained {
        model,
        reference,
        evaluation,
    })
}

/// Numeric feature `i` of every row (NaN where missing).
fn column(data: &[(Features, bool)], i: usize) -> Vec<f64> {
    data.iter()
        .map(|(f, _)| f.numeric()[i].unwrap_or(f64::NAN))
        .collect()
}

fn employment_index(e: Employment) -> usize {
    Employment::ALL.iter().position(|x| *x == e).unwrap_or(0)
}

fn region_index(r: Region) -> usize {
    Region::ALL.iter().position(|x| *x == r).unwrap_or(0)
}

/// Imputation values: medians and modes of the training rows (all complete).
fn imputation(data: &[(Features, bool)]) -> Impute {
    let median = |i: usize| {
        let mut v = column(data, i);
        v.sort_by(f64::total_cmp);
        super::dataset::round_like_population(NUMERIC[i], quantile_sorted(&v, 0.5))
    };
    let mode = |values: Vec<usize>, k: usize| {
        let mut counts = vec![0usize; k];
        for v in values {
            counts[v] += 1;
        }
        // The first of the most frequent, so ties break the same way every time.
        let best = counts.iter().copied().max().unwrap_or(0);
        counts.iter().position(|c| *c == best).unwrap_or(0)
    };
    Impute {
        age: median(0),
        income: median(1),
        debt_ratio: median(2),
        credit_history_months: median(3),
        employment: Employment::ALL[mode(
            data.iter()
                .map(|(f, _)| employment_index(f.employment.unwrap_or(Employment::Employed)))
                .collect(),
            4,
        )],
        region: Region::ALL[mode(
            data.iter()
                .map(|(f, _)| region_index(f.region.unwrap_or(Region::North)))
                .collect(),
            4,
        )],
    }
}

/// The standardised design matrix of [`COLUMNS`], with each column's centre and scale.
fn standardised(data: &[(Features, bool)], impute: &Impute) -> (Array2<f64>, Vec<f64>, Vec<f64>) {
    let raw: Vec<Vec<f64>> = COLUMNS
        .iter()
        .map(|c| {
            data.iter()
                .map(|(f, _)| column_value(c, f, impute).unwrap_or(0.0))
                .collect()
        })
        .collect();
    let (center, scale): (Vec<f64>, Vec<f64>) = raw
        .iter()
        .map(|col| {
            let (m, s) = mean_sd(col);
            (round6(m), round6(if s > 0.0 { s } else { 1.0 }))
        })
        .unzip();
    let mut x = Array2::<f64>::zeros((data.len(), COLUMNS.len()));
    for (j, col) in raw.iter().enumerate() {
        for (i, v) in col.iter().enumerate() {
            x[[i, j]] = (v - center[j]) / scale[j];
        }
    }
    (x, center, scale)
}

/// Fits the logistic regression and names the model by a hash of its numbers.
fn fit(data: &[(Features, bool)], impute: Impute, trained_at: &str) -> Result<Model, TrainError> {
    let (x, center, scale) = standardised(data, &impute);
    let y: Array1<bool> = data.iter().map(|(_, d)| *d).collect();
    let fitted = LogisticRegression::default()
        .alpha(ALPHA)
        .gradient_tolerance(GRADIENT_TOLERANCE)
        .max_iterations(MAX_ITERATIONS)
        .fit(&Dataset::new(x, y))
        .map_err(|e| TrainError::Fit(e.to_string()))?;
    // linfa's positive side is the more frequent class (here: repaid). The score is
    // P(default) = 1 − P(repaid) = sigmoid(−z), so flip the signs when repaid is positive.
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    let coefficients: Vec<f64> = fitted.params().iter().map(|c| round6(sign * c)).collect();
    let intercept = round6(sign * fitted.intercept());
    if coefficients.iter().any(|c| !c.is_finite()) || !intercept.is_finite() {
        return Err(TrainError::Fit("coefficients are not finite".into()));
    }
    let fingerprint = serde_json::json!([&coefficients, intercept, &center, &scale]).to_string();
    Ok(Model {
        name: "credit-risk".into(),
        version: format!(
            "lr-{:08x}",
            crate::hash::fnv1a(fingerprint.as_bytes()) >> 32
        ),
        trained_at: trained_at.to_string(),
        columns: COLUMNS.iter().map(|c| c.to_string()).collect(),
        center,
        scale,
        coefficients,
        intercept,
        impute,
        threshold: THRESHOLD,
    })
}

/// Each categorical feature's share of every known category among the rows that have one.
fn category_shares(data: &[(Features, bool)]) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut categorical = BTreeMap::new();
    for feature in CATEGORICAL {
        let known = categories(feature);
        let mut counts = vec![0u64; known.len()];
        for (f, _) in data {
            let i = if feature == "employment" {
                f.employment.map(employment_index)
            } else {
                f.region.map(region_index)
            };
            if let Some(i) = i {
                counts[i] += 1;
            }
        }
        let total = counts.iter().sum::<u64>().max(1) as f64;
        categorical.insert(
            feature.to_string(),
            known
                .iter()
                .zip(&counts)
                .map(|(c, n)| (c.to_string(), round6(*n as f64 / total)))
                .collect(),
        );
    }
    categorical
}

/// Accuracy of the model, the fallback rules and approving everyone; AUC and log loss.
pub(crate) fn evaluate(model: &Model, rows: &[(Features, bool)]) -> Evaluation {
    let n = rows.len().max(1) as f64;
    let share = |pred: &dyn Fn(&Features) -> bool| {
        rows.iter().filter(|(f, y)| pred(f) == *y).count() as f64 / n
    };
    let mut scored: Vec<(f64, bool)> = rows.iter().map(|(f, y)| (model.score(f), *y)).collect();
    let log_loss = scored
        .iter()
        .map(|(p, y)| {
            let p = p.clamp(1e-12, 1.0 - 1e-12);
            if *y {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum::<f64>()
        / n;
    // AUC as the Mann–Whitney statistic, ties counting half.
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = scored.iter().filter(|(_, y)| *y).count() as f64;
    let negatives = scored.len() as f64 - positives;
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < scored.len() {
        let mut j = i;
        while j < scored.len() && scored[j].0 == scored[i].0 {
            j += 1;
        }
        let mid_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += mid_rank * scored[i..j].iter().filter(|(_, y)| *y).count() as f64;
        i = j;
    }
    let auc = (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives);
    Evaluation {
        rows: rows.len(),
        default_rate: rows.iter().filter(|(_, y)| *y).count() as f64 / n,
        model_accuracy: share(&|f| model.declines(model.score(f))),
        fallback_accuracy: share(&super::fallback::declines),
        approve_all_accuracy: share(&|_| false),
        model_auc: auc,
        model_log_loss: log_loss,
        model_decline_share: rows
            .iter()
            .filter(|(f, _)| model.declines(model.score(f)))
            .count() as f64
            / n,
    }
}

/// Pretty JSON with every array of plain numbers kept on one line, and a final newline.
pub(crate) fn to_file_text<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let pretty = serde_json::to_string_pretty(value)?;
    let mut out = String::with_capacity(pretty.len());
    let mut pending: Option<(String, Vec<String>)> = None;
    for line in pretty.lines() {
        let t = line.trim();
        if let Some((head, items)) = pending.as_mut() {
            if t.starts_with(']') {
                out.push_str(head);
                out.push_str(&items.join(", "));
                out.push_str(t);
                out.push('\n');
                pending = None;
                continue;
            }
            let item = t.trim_end_matches(',');
            if item.parse::<f64>().is_ok() {
                items.push(item.to_string());
                continue;
            }
            // Not a plain number array after all: give the lines back unchanged.
            let (head, items) = pending.take().unwrap_or_default();
            out.push_str(&head);
            out.push('\n');
            for it in &items {
                out.push_str(it);
                out.push_str(",\n");
            }
        }
        if t.ends_with('[') {
            pending = Some((line.to_string(), Vec::new()));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// The model file's path in `dir`.
pub(crate) fn model_path(dir: &Path) -> PathBuf {
    dir.join("credit-risk.json")
}

/// The reference file's path in `dir`.
pub(crate) fn reference_path(dir: &Path) -> PathBuf {
    dir.join("credit-risk.reference.json")
}

/// Writes the model and reference files into `dir` (created when missing); both are encoded
/// first, so a failure writes neither.
pub(crate) fn write(dir: &Path, trained: &Trained) -> Result<(), TrainError> {
    let (model, reference) = (model_path(dir), reference_path(dir));
    let encoded = |path: &Path, text: Result<String, serde_json::Error>| {
        text.map_err(|source| TrainError::Encode {
            path: path.to_path_buf(),
            source,
        })
    };
    let files = [
        (encoded(&model, to_file_text(&trained.model))?, model),
        (
            encoded(&reference, to_file_text(&trained.reference))?,
            reference,
        ),
    ];
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TrainError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for (text, path) in files {
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `monlab train` with the shipped seed, rows and time writes the shipped files exactly.
    #[test]
    fn training_reproduces_the_shipped_files_byte_for_byte() {
        let shipped = Reference::shipped().clone();
        assert_eq!(shipped.seed, SHIPPED_SEED);
        let t = train(shipped.seed, shipped.rows, &shipped.trained_at).unwrap();
        assert_eq!(
            to_file_text(&t.model).unwrap(),
            super::super::model::SHIPPED
        );
        assert_eq!(
            to_file_text(&t.reference).unwrap(),
            super::super::reference::SHIPPED
        );
    }

    /// On rows it never saw, the model beats the fallback rules and approving everyone, and
    /// its coefficients point the way the population's truth does.
    #[test]
    fn the_model_beats_the_fallback_on_held_out_rows() {
        let m = Model::shipped();
        let g = Generator::default();
        let mut rng = StdRng::seed_from_u64(999);
        let rows: Vec<_> = (0..20_000).map(|_| g.sample(&mut rng)).collect();
        let e = evaluate(&m, &rows);
        assert!(
            e.model_accuracy > e.fallback_accuracy + 0.02,
            "model {} vs fallback {}",
            e.model_accuracy,
            e.fallback_accuracy
        );
        assert!(e.model_accuracy > e.approve_all_accuracy + 0.02, "{e:?}");
        assert!(e.model_auc > 0.75, "{e:?}");
        let coef = |c: &str| m.coefficients[COLUMNS.iter().position(|x| *x == c).unwrap()];
        assert!(coef("debt_ratio") > 0.0 && coef("log_income") < 0.0);
        assert!(coef("employment=unemployed") > coef("employment=self_employed"));
        // Region is a distractor in the population: its weights stay near zero.
        assert!(coef("region=west").abs() < 0.05, "{}", coef("region=west"));
    }

    #[test]
    fn number_arrays_stay_on_one_line() {
        let v = serde_json::json!({"a": [1.5, 2.0], "b": {"c": "x"}, "d": ["s", "t"]});
        let text = to_file_text(&v).unwrap();
        assert!(text.contains("\"a\": [1.5, 2.0]"), "{text}");
        assert!(text.contains("\"s\",\n"), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
        assert!(matches!(train(1, 10, "x"), Err(TrainError::TooFewRows(10))));
    }

    #[test]
    fn a_value_json_cannot_hold_is_an_error_not_an_empty_file() {
        // JSON object keys are strings: a map keyed by pairs has no encoding.
        let v = BTreeMap::from([((1u8, 2u8), 3u8)]);
        let err = to_file_text(&v).expect_err("refused");
        assert!(err.to_string().contains("key must be a string"), "{err}");
    }
}
