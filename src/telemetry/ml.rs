//! Metrics of the prediction path, what an ML system needs beyond the golden signals:
//!
//! - outputs: which source answered and why, the decision, the model's score, its latency
//!   and identity;
//! - inputs: a histogram per numeric feature, counts per known category, missing values,
//!   out-of-range values and unknown categories, by feature;
//! - drift against the training reference: PSI and KS per feature and for the score, with the
//!   window's sample count (set by the service's refresh task from [`crate::ml::drift`]);
//! - expected quality before any label: the sum of the model's scores (its calibrated
//!   probability of default) by decision, from which rules estimate the default rate,
//!   accuracy, precision and recall with the prediction counts (confidence-based performance
//!   estimation, as NannyML's CBPE);
//! - quality from feedback: outcomes by source, decision, outcome and cohort, the label delay,
//!   the scores of the labelled predictions (realised against expected default rate), and
//!   accuracy, precision, recall and calibration error per cohort over its window (the
//!   holdout's hour, the decided cohort's five minutes).
//!
//! Every `decision` label is the model's (or the fallback's) own decision; `cohort` says
//! whether it was answered (`decided`) or overridden to approve (`holdout`). Labels come from
//! fixed lists (sources, reasons, decisions, cohorts, feature names, known categories), never
//! from request values.

use crate::api::predict::Prediction;
use crate::ml::drift::{DriftReport, SCORE};
use crate::ml::features::{Features, CATEGORICAL, NUMERIC};
use crate::ml::feedback::{decision, Answered, Quality};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

/// Predictions by source and fallback reason.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PredictionLabels {
    /// `model` or `fallback`.
    pub source: &'static str,
    /// `none`, `model_unavailable` or `timeout`.
    pub reason: &'static str,
    /// The model's (or fallback's) own decision: `approve` or `decline`.
    pub decision: &'static str,
    /// `holdout` (approved whatever the decision) or `decided` (the decision was answered).
    pub cohort: &'static str,
}

/// The cohorts: predictions whose decision was answered, and the holdout.
pub(crate) const COHORTS: [&str; 2] = ["decided", "holdout"];

/// The cohort label of a prediction.
fn cohort(holdout: bool) -> &'static str {
    if holdout {
        "holdout"
    } else {
        "decided"
    }
}

/// Model predictions by own decision and cohort (the expected defaults).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DecisionLabels {
    /// The model's own decision: `approve` or `decline`.
    pub decision: &'static str,
    /// `holdout` or `decided`.
    pub cohort: &'static str,
}

/// A cohort of labelled predictions (the windowed quality gauges).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CohortLabels {
    /// `holdout` or `decided`.
    pub cohort: &'static str,
}

/// A feature name from the fixed feature list (or `score`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FeatureLabels {
    /// Feature name.
    pub feature: &'static str,
}

/// A known category of a categorical feature.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CategoryLabels {
    /// `employment` or `region`.
    pub feature: &'static str,
    /// One of the feature's known categories.
    pub category: &'static str,
}

/// A labelled prediction: who answered, what, and what happened.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FeedbackLabels {
    /// `model` or `fallback`.
    pub source: &'static str,
    /// The model's (or fallback's) own decision: `approve` or `decline`.
    pub decision: &'static str,
    /// `default` or `repaid`.
    pub outcome: &'static str,
    /// `holdout` or `decided`.
    pub cohort: &'static str,
}

/// Model identity.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ModelInfoLabels {
    /// Model version.
    pub version: String,
    /// Training time.
    pub trained_at: String,
}

/// Bucket boundaries of each numeric feature's histogram, in [`NUMERIC`] order: round
/// numbers an operator reads at a glance, spanning the population and the allowed range.
const INPUT_BUCKETS: [&[f64]; 4] = [
    &[
        20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 55.0, 60.0, 65.0, 70.0, 80.0, 90.0, 100.0,
    ],
    &[
        10_000.0,
        15_000.0,
        20_000.0,
        25_000.0,
        30_000.0,
        40_000.0,
        50_000.0,
        60_000.0,
        75_000.0,
        100_000.0,
        150_000.0,
        250_000.0,
        500_000.0,
        1_000_000.0,
    ],
    &[
        0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 1.0, 1.5, 2.0, 5.0,
    ],
    &[
        6.0, 12.0, 24.0, 36.0, 48.0, 60.0, 84.0, 120.0, 180.0, 240.0, 360.0, 600.0, 1200.0,
    ],
];

/// One histogram per numeric feature, exported as one family `model_input_value{feature}`.
/// A [`Family`] gives every member the same buckets, and ages, incomes and ratios need their
/// own, so this collector writes the family itself.
#[derive(Debug)]
struct InputHistograms {
    by_feature: [Histogram; 4],
}

impl Collector for InputHistograms {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "model_input_value",
            "Values of each numeric feature of accepted prediction requests (missing ones \
             excluded), in the feature's own unit.",
            None,
            MetricType::Histogram,
        )?;
        for (feature, h) in NUMERIC.iter().zip(&self.by_feature) {
            h.encode(family.encode_family(&FeatureLabels { feature })?)?;
        }
        Ok(())
    }
}

type FloatGauge = Gauge<f64, AtomicU64>;
type FloatCounter = Counter<f64, AtomicU64>;

/// The prediction path's metrics.
#[derive(Debug)]
pub struct MlMetrics {
    predictions: Family<PredictionLabels, Counter>,
    model_duration: Histogram,
    unknown_categories: Family<FeatureLabels, Counter>,
    model_info: Family<ModelInfoLabels, Gauge>,
    score: Histogram,
    inputs: Arc<InputHistograms>,
    categories: Family<CategoryLabels, Counter>,
    missing: Family<FeatureLabels, Counter>,
    out_of_range: Family<FeatureLabels, Counter>,
    drift_psi: Family<FeatureLabels, FloatGauge>,
    drift_ks: Family<FeatureLabels, FloatGauge>,
    drift_samples: Family<FeatureLabels, Gauge>,
    expected_defaults: Family<DecisionLabels, FloatCounter>,
    feedback: Family<FeedbackLabels, Counter>,
    feedback_expected_defaults: Family<DecisionLabels, FloatCounter>,
    label_delay: Histogram,
    accuracy: Family<CohortLabels, FloatGauge>,
    precision: Family<CohortLabels, FloatGauge>,
    recall: Family<CohortLabels, FloatGauge>,
    calibration_error: Family<CohortLabels, FloatGauge>,
    quality_labels: Family<CohortLabels, Gauge>,
    stored: Gauge,
}

fn model_buckets() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25,
    ])
}

/// Whole-feature names with a drift gauge: every feature, then the score.
fn drift_names() -> impl Iterator<Item = &'static str> {
    NUMERIC
        .iter()
        .chain(CATEGORICAL.iter())
        .copied()
        .chain([SCORE])
}

impl MlMetrics {
    /// Creates the families and registers them under `registry` (already prefixed).
    /// Every series that can exist is created at zero (or NaN for the windowed ratios), so
    /// "nothing happened" reads as 0, not as "no data".
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self::unregistered();
        m.create_every_series();
        m.register_outputs_and_inputs(registry);
        m.register_drift_and_quality(registry);
        m
    }

    /// The families, empty and not yet registered.
    fn unregistered() -> Self {
        Self {
            predictions: Family::default(),
            model_duration: model_buckets(),
            unknown_categories: Family::default(),
            model_info: Family::default(),
            // Twenty equal-width bins of the probability of default.
            score: Histogram::new((1..=19).map(|i| f64::from(i) / 20.0)),
            inputs: Arc::new(InputHistograms {
                by_feature: INPUT_BUCKETS.map(|b| Histogram::new(b.iter().copied())),
            }),
            categories: Family::default(),
            missing: Family::default(),
            out_of_range: Family::default(),
            drift_psi: Family::default(),
            drift_ks: Family::default(),
            drift_samples: Family::default(),
            expected_defaults: Family::default(),
            feedback: Family::default(),
            feedback_expected_defaults: Family::default(),
            // From a few seconds (the load generator) to days (real credit outcomes).
            label_delay: Histogram::new([
                0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 86400.0,
            ]),
            accuracy: Family::default(),
            precision: Family::default(),
            recall: Family::default(),
            calibration_error: Family::default(),
            quality_labels: Family::default(),
            stored: Gauge::default(),
        }
    }

    /// Creates every series that can exist: at zero, NaN for the windowed ratios.
    fn create_every_series(&self) {
        for source in [
            ("model", "none"),
            ("fallback", "model_unavailable"),
            ("fallback", "timeout"),
        ] {
            for decision in ["approve", "decline"] {
                for cohort in COHORTS {
                    let _ = self.predictions.get_or_create(&PredictionLabels {
                        source: source.0,
                        reason: source.1,
                        decision,
                        cohort,
                    });
                }
            }
        }
        for decision in ["approve", "decline"] {
            for cohort in COHORTS {
                let labels = DecisionLabels { decision, cohort };
                let _ = self.expected_defaults.get_or_create(&labels);
                let _ = self.feedback_expected_defaults.get_or_create(&labels);
            }
        }
        for feature in CATEGORICAL {
            let _ = self
                .unknown_categories
                .get_or_create(&FeatureLabels { feature });
            for category in crate::ml::reference::categories(feature) {
                let _ = self
                    .categories
                    .get_or_create(&CategoryLabels { feature, category });
            }
        }
        for feature in NUMERIC {
            let _ = self.out_of_range.get_or_create(&FeatureLabels { feature });
        }
        for feature in NUMERIC.iter().chain(CATEGORICAL.iter()).copied() {
            let _ = self.missing.get_or_create(&FeatureLabels { feature });
        }
        for feature in drift_names() {
            self.drift_psi
                .get_or_create(&FeatureLabels { feature })
                .set(f64::NAN);
            if !CATEGORICAL.contains(&feature) {
                self.drift_ks
                    .get_or_create(&FeatureLabels { feature })
                    .set(f64::NAN);
            }
            let _ = self.drift_samples.get_or_create(&FeatureLabels { feature });
        }
        for source in ["model", "fallback"] {
            for decision in ["approve", "decline"] {
                for outcome in ["default", "repaid"] {
                    for cohort in COHORTS {
                        let _ = self.feedback.get_or_create(&FeedbackLabels {
                            source,
                            decision,
                            outcome,
                            cohort,
                        });
                    }
                }
            }
        }
        for cohort in COHORTS {
            let labels = CohortLabels { cohort };
            for g in [
                &self.accuracy,
                &self.precision,
                &self.recall,
                &self.calibration_error,
            ] {
                g.get_or_create(&labels).set(f64::NAN);
            }
            let _ = self.quality_labels.get_or_create(&labels);
        }
    }

    /// Registers the outputs (predictions, model time, score, identity) and the inputs.
    fn register_outputs_and_inputs(&self, registry: &mut Registry) {
        registry.register(
            "predictions",
            "Predictions answered, by source (model or fallback), fallback reason, the model's \
             or fallback's own decision, and cohort (holdout: approved whatever the decision)",
            self.predictions.clone(),
        );
        registry.register(
            "model_expected_defaults",
            "Sum of the model's scores (calibrated probability of default) of its predictions, \
             by own decision and cohort, counted when answered: the defaults to expect",
            self.expected_defaults.clone(),
        );
        registry.register_with_unit(
            "model_duration",
            "Time the model took to score, including misses of the time budget",
            Unit::Seconds,
            self.model_duration.clone(),
        );
        registry.register(
            "model_unknown_categories",
            "Prediction requests refused for an unknown category, by feature",
            self.unknown_categories.clone(),
        );
        registry.register(
            "model_info",
            "The model serving predictions; the value is always 1",
            self.model_info.clone(),
        );
        registry.register(
            "model_score",
            "Scores (probability of default) of the predictions the model answered",
            self.score.clone(),
        );
        registry.register_collector(Box::new(self.inputs.clone()));
        registry.register(
            "model_input_categories",
            "Accepted prediction requests by the known category of each categorical feature",
            self.categories.clone(),
        );
        registry.register(
            "model_input_missing",
            "Accepted prediction requests whose feature was null (imputed), by feature",
            self.missing.clone(),
        );
        registry.register(
            "model_input_out_of_range",
            "Prediction requests refused for a number outside the feature's range, by feature",
            self.out_of_range.clone(),
        );
    }

    /// Registers drift against the training reference and quality from feedback.
    fn register_drift_and_quality(&self, registry: &mut Registry) {
        registry.register(
            "model_drift_psi",
            "Population stability index of the last 500 values of each feature (and the score) \
             against the training reference; NaN with under 100 values",
            self.drift_psi.clone(),
        );
        registry.register(
            "model_drift_ks",
            "Two-sample Kolmogorov-Smirnov statistic of the last 500 values of each numeric \
             feature (and the score) against the training reference; NaN with under 100 values",
            self.drift_ks.clone(),
        );
        registry.register(
            "model_drift_window_samples",
            "Values in each feature's drift window (the last 500, none older than 10 minutes, \
             missing ones excluded)",
            self.drift_samples.clone(),
        );
        registry.register(
            "model_feedback",
            "Predictions whose true outcome arrived, by source, own decision, outcome and cohort",
            self.feedback.clone(),
        );
        registry.register(
            "model_feedback_expected_defaults",
            "Sum of the model's scores of the model predictions whose true outcome arrived, by \
             own decision and cohort: the defaults expected among them",
            self.feedback_expected_defaults.clone(),
        );
        registry.register_with_unit(
            "model_label_delay",
            "Time from a prediction to the arrival of its true outcome",
            Unit::Seconds,
            self.label_delay.clone(),
        );
        // The windows are system time: under the time warp they are K times shorter.
        registry.register(
            "model_feedback_accuracy",
            "Accuracy of the model's own decisions labelled in the cohort's window (holdout: \
             1 hour, decided: 5 minutes); NaN without labels",
            self.accuracy.clone(),
        );
        registry.register(
            "model_feedback_precision",
            "Share of the model's declines that defaulted, labelled in the cohort's window",
            self.precision.clone(),
        );
        registry.register(
            "model_feedback_recall",
            "Share of the defaults the model declined, labelled in the cohort's window",
            self.recall.clone(),
        );
        registry.register(
            "model_feedback_calibration_error",
            "Expected calibration error (10 score bins) of the model's predictions labelled in \
             the cohort's window; the holdout's says whether the scores, and estimates from \
             them, can be trusted",
            self.calibration_error.clone(),
        );
        registry.register(
            "model_feedback_window_labels",
            "Labels of model predictions in the cohort's window, behind the feedback ratios",
            self.quality_labels.clone(),
        );
        registry.register(
            "model_predictions_stored",
            "Recent predictions remembered for feedback (at most 200000)",
            self.stored.clone(),
        );
    }

    /// Sets the model identity.
    pub fn set_model_info(&self, version: &str, trained_at: &str) {
        self.model_info.clear();
        self.model_info
            .get_or_create(&ModelInfoLabels {
                version: version.into(),
                trained_at: trained_at.into(),
            })
            .set(1);
    }

    /// Records one answered prediction by its own decision and cohort, its score (and the
    /// defaults it expects) when the model answered, and the model's time when it was tried.
    pub fn observe_prediction(&self, p: &Prediction, model_time: Option<Duration>) {
        let reason = p.fallback_reason.map_or("none", |r| r.as_str());
        let source = if p.source == "model" {
            "model"
        } else {
            "fallback"
        };
        let decision = decision(p.model_decision == "decline");
        let cohort = cohort(p.holdout);
        self.predictions
            .get_or_create(&PredictionLabels {
                source,
                reason,
                decision,
                cohort,
            })
            .inc();
        if let Some(t) = model_time {
            self.model_duration.observe(t.as_secs_f64());
        }
        if let Some(s) = p.score {
            self.score.observe(s);
            self.expected_defaults
                .get_or_create(&DecisionLabels { decision, cohort })
                .inc_by(s);
        }
    }

    /// Records the features of one accepted request: values, categories, missing ones.
    pub fn observe_inputs(&self, f: &Features) {
        for (i, v) in f.numeric().into_iter().enumerate() {
            match v {
                Some(v) => self.inputs.by_feature[i].observe(v),
                None => self.missing_feature(NUMERIC[i]),
            }
        }
        match f.employment {
            Some(e) => self.category("employment", e.as_str()),
            None => self.missing_feature("employment"),
        }
        match f.region {
            Some(r) => self.category("region", r.as_str()),
            None => self.missing_feature("region"),
        }
    }

    fn category(&self, feature: &'static str, category: &'static str) {
        self.categories
            .get_or_create(&CategoryLabels { feature, category })
            .inc();
    }

    fn missing_feature(&self, feature: &'static str) {
        self.missing.get_or_create(&FeatureLabels { feature }).inc();
    }

    /// Counts a request refused for an unknown category of `feature`.
    pub fn unknown_category(&self, feature: &'static str) {
        self.unknown_categories
            .get_or_create(&FeatureLabels { feature })
            .inc();
    }

    /// Counts a request refused for a number outside the range of `feature`.
    pub fn out_of_range(&self, feature: &'static str) {
        self.out_of_range
            .get_or_create(&FeatureLabels { feature })
            .inc();
    }

    /// Records one label of what was `answered`: who answered, what they decided, in which
    /// cohort, what happened, how late; and for the model, the defaults its score expected.
    pub fn observe_feedback(&self, answered: &Answered, defaulted: bool, delay: Duration) {
        let decision = decision(answered.declined);
        let cohort = cohort(answered.holdout);
        self.feedback
            .get_or_create(&FeedbackLabels {
                source: if answered.score.is_some() {
                    "model"
                } else {
                    "fallback"
                },
                decision,
                outcome: if defaulted { "default" } else { "repaid" },
                cohort,
            })
            .inc();
        if let Some(s) = answered.score {
            self.feedback_expected_defaults
                .get_or_create(&DecisionLabels { decision, cohort })
                .inc_by(s);
        }
        self.label_delay.observe(delay.as_secs_f64());
    }

    /// Publishes a drift computation.
    pub fn set_drift(&self, report: &DriftReport) {
        for (feature, d) in &report.features {
            let labels = FeatureLabels { feature };
            self.drift_psi.get_or_create(&labels).set(d.psi);
            if !CATEGORICAL.contains(feature) {
                self.drift_ks.get_or_create(&labels).set(d.ks);
            }
            self.drift_samples
                .get_or_create(&labels)
                .set(i64::try_from(d.samples).unwrap_or(i64::MAX));
        }
    }

    /// Publishes the windowed quality of each cohort and the prediction store's size.
    pub fn set_quality(&self, decided: &Quality, holdout: &Quality, stored: usize) {
        for (cohort, q) in [("decided", decided), ("holdout", holdout)] {
            let labels = CohortLabels { cohort };
            self.accuracy.get_or_create(&labels).set(q.accuracy);
            self.precision.get_or_create(&labels).set(q.precision);
            self.recall.get_or_create(&labels).set(q.recall);
            self.calibration_error
                .get_or_create(&labels)
                .set(q.calibration_error);
            self.quality_labels
                .get_or_create(&labels)
                .set(i64::try_from(q.labels).unwrap_or(i64::MAX));
        }
        self.stored.set(i64::try_from(stored).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::predict::FallbackReason;
    use std::time::Instant;

    fn prediction(score: Option<f64>, declines: bool, holdout: bool) -> Prediction {
        Prediction {
            prediction_id: String::new(),
            score,
            decision: decision(declines && !holdout).into(),
            model_decision: decision(declines).into(),
            holdout,
            source: if score.is_some() { "model" } else { "fallback" }.into(),
            fallback_reason: score.is_none().then_some(FallbackReason::Timeout),
            model_version: "test".into(),
        }
    }

    /// The exposition of `m`, and a reader of one series' value (0 when absent).
    fn exposition(registry: &Registry) -> impl Fn(&str) -> f64 {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        move |series: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
                .map_or(0.0, |v| v.parse().unwrap())
        }
    }

    fn close(got: f64, want: f64, what: &str) {
        assert!((got - want).abs() < 1e-12, "{what}: {got}, by hand {want}");
    }

    /// The label-free estimates (CBPE) the rules compute from the counters, checked against
    /// the same numbers worked out by hand from each prediction's probability of being right.
    #[test]
    fn expected_defaults_give_the_estimates_worked_out_by_hand() {
        let mut registry = Registry::with_prefix("monlab");
        let m = MlMetrics::new(&mut registry);
        // (score, own decision: declines, holdout)
        let model = [
            (0.1, false, false),
            (0.2, false, false),
            (0.3, false, false),
            (0.6, true, false),
            (0.9, true, false),
            (0.05, false, true),
            (0.7, true, true),
        ];
        for (s, declines, holdout) in model {
            m.observe_prediction(&prediction(Some(s), declines, holdout), None);
        }
        // The fallback has no score: counted, expecting nothing.
        m.observe_prediction(&prediction(None, true, false), None);
        let get = exposition(&registry);
        let n = |decision: &str| -> f64 {
            COHORTS
                .iter()
                .map(|c| {
                    get(&format!(
                        r#"monlab_predictions_total{{source="model",reason="none",decision="{decision}",cohort="{c}"}}"#
                    ))
                })
                .sum()
        };
        let sum = |decision: &str| -> f64 {
            COHORTS
                .iter()
                .map(|c| {
                    get(&format!(
                        r#"monlab_model_expected_defaults_total{{decision="{decision}",cohort="{c}"}}"#
                    ))
                })
                .sum()
        };
        let (n_a, n_d, s_a, s_d) = (n("approve"), n("decline"), sum("approve"), sum("decline"));
        assert_eq!((n_a, n_d), (4.0, 3.0));
        let total = n_a + n_d;
        // The spec's formulas over the counters.
        let rate = (s_a + s_d) / total;
        let accuracy = (s_d + n_a - s_a) / total;
        let precision = s_d / n_d;
        let recall = s_d / (s_a + s_d);
        // By hand: an approval is right with probability 1 − score, a decline with the score.
        // Approvals 0.1, 0.2, 0.3, 0.05 (holdout); declines 0.6, 0.9, 0.7 (holdout).
        close(
            rate,
            (0.1 + 0.2 + 0.3 + 0.05 + 0.6 + 0.9 + 0.7) / 7.0,
            "default rate",
        );
        close(
            accuracy,
            (0.9 + 0.8 + 0.7 + 0.95 + 0.6 + 0.9 + 0.7) / 7.0,
            "accuracy",
        );
        close(accuracy, 5.55 / 7.0, "accuracy");
        close(precision, 2.2 / 3.0, "precision");
        close(recall, 2.2 / 2.85, "recall");
        // The cohorts stay apart, and the fallback's decision is its own.
        close(
            get(r#"monlab_model_expected_defaults_total{decision="decline",cohort="holdout"}"#),
            0.7,
            "holdout declines",
        );
        assert_eq!(
            get(
                r#"monlab_predictions_total{source="fallback",reason="timeout",decision="decline",cohort="decided"}"#
            ),
            1.0
        );
    }

    #[test]
    fn labels_count_by_own_decision_and_cohort_with_the_defaults_expected() {
        let mut registry = Registry::with_prefix("monlab");
        let m = MlMetrics::new(&mut registry);
        let at = Instant::now();
        let labelled = [
            (Some(0.2), false, false, false),
            (Some(0.4), false, false, true),
            // A holdout the model would have declined: its outcome is known all the same.
            (Some(0.8), true, true, true),
            (None, true, true, false),
        ];
        for (score, declined, holdout, defaulted) in labelled {
            let a = Answered {
                score,
                declined,
                holdout,
                at,
            };
            m.observe_feedback(&a, defaulted, Duration::from_secs(3));
        }
        let get = exposition(&registry);
        for (series, want) in [
            (
                r#"monlab_model_feedback_total{source="model",decision="approve",outcome="repaid",cohort="decided"}"#,
                1.0,
            ),
            (
                r#"monlab_model_feedback_total{source="model",decision="approve",outcome="default",cohort="decided"}"#,
                1.0,
            ),
            (
                r#"monlab_model_feedback_total{source="model",decision="decline",outcome="default",cohort="holdout"}"#,
                1.0,
            ),
            (
                r#"monlab_model_feedback_total{source="fallback",decision="decline",outcome="repaid",cohort="holdout"}"#,
                1.0,
            ),
            (
                r#"monlab_model_feedback_total{source="model",decision="decline",outcome="default",cohort="decided"}"#,
                0.0,
            ),
            (
                r#"monlab_model_feedback_expected_defaults_total{decision="approve",cohort="decided"}"#,
                0.6000000000000001,
            ),
            (
                r#"monlab_model_feedback_expected_defaults_total{decision="decline",cohort="holdout"}"#,
                0.8,
            ),
            ("monlab_model_label_delay_seconds_count", 4.0),
        ] {
            close(get(series), want, series);
        }
    }

    #[test]
    fn every_cohort_series_exists_from_the_start() {
        let mut registry = Registry::with_prefix("monlab");
        let _m = MlMetrics::new(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let count = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
        // source × reason (3) × decision (2) × cohort (2); source × decision × outcome × cohort.
        assert_eq!(count("monlab_predictions_total{"), 12);
        assert_eq!(count("monlab_model_feedback_total{"), 16);
        assert_eq!(count("monlab_model_expected_defaults_total{"), 4);
        assert_eq!(count("monlab_model_feedback_expected_defaults_total{"), 4);
        for gauge in ["accuracy", "precision", "recall", "calibration_error"] {
            for cohort in COHORTS {
                let series = format!(r#"monlab_model_feedback_{gauge}{{cohort="{cohort}"}} NaN"#);
                assert!(text.contains(&series), "{series} not in\n{text}");
            }
        }
        assert_eq!(count("monlab_model_feedback_window_labels{"), 2);
    }
}
