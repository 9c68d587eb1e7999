//! Metrics of the prediction path, what an ML system needs beyond the golden signals:
//!
//! - outputs: which source answered and why, the decision, the model's score, its latency
//!   and identity;
//! - inputs: a histogram per numeric feature, counts per known category, missing values,
//!   out-of-range values and unknown categories, by feature;
//! - drift against the training reference: PSI and KS per feature and for the score, with the
//!   window's sample count (set by the service's refresh task from [`crate::ml::drift`]);
//! - quality from feedback: outcomes by source, decision and outcome, the label delay, and
//!   accuracy, precision, recall and calibration error over the last five minutes.
//!
//! Labels come from fixed lists (sources, reasons, decisions, feature names, known
//! categories), never from request values.

use crate::api::predict::Prediction;
use crate::ml::drift::{DriftReport, SCORE};
use crate::ml::features::{Features, CATEGORICAL, NUMERIC};
use crate::ml::feedback::Quality;
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
    /// `approve` or `decline`.
    pub decision: &'static str,
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
    /// `approve` or `decline`.
    pub decision: &'static str,
    /// `default` or `repaid`.
    pub outcome: &'static str,
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
    feedback: Family<FeedbackLabels, Counter>,
    label_delay: Histogram,
    accuracy: FloatGauge,
    precision: FloatGauge,
    recall: FloatGauge,
    calibration_error: FloatGauge,
    quality_labels: Gauge,
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
            feedback: Family::default(),
            // From a few seconds (the load generator) to days (real credit outcomes).
            label_delay: Histogram::new([
                0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 86400.0,
            ]),
            accuracy: FloatGauge::default(),
            precision: FloatGauge::default(),
            recall: FloatGauge::default(),
            calibration_error: FloatGauge::default(),
            quality_labels: Gauge::default(),
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
                let _ = self.predictions.get_or_create(&PredictionLabels {
                    source: source.0,
                    reason: source.1,
                    decision,
                });
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
                    let _ = self.feedback.get_or_create(&FeedbackLabels {
                        source,
                        decision,
                        outcome,
                    });
                }
            }
        }
        for g in [
            &self.accuracy,
            &self.precision,
            &self.recall,
            &self.calibration_error,
        ] {
            g.set(f64::NAN);
        }
    }

    /// Registers the outputs (predictions, model time, score, identity) and the inputs.
    fn register_outputs_and_inputs(&self, registry: &mut Registry) {
        registry.register(
            "predictions",
            "Predictions answered, by source (model or fallback), fallback reason and decision",
            self.predictions.clone(),
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
            "Predictions whose true outcome arrived, by source, decision and outcome",
            self.feedback.clone(),
        );
        registry.register_with_unit(
            "model_label_delay",
            "Time from a prediction to the arrival of its true outcome",
            Unit::Seconds,
            self.label_delay.clone(),
        );
        registry.register(
            "model_feedback_accuracy",
            "Accuracy of the model's decisions labelled in the last 5 minutes; NaN without labels",
            self.accuracy.clone(),
        );
        registry.register(
            "model_feedback_precision",
            "Share of the model's declines that defaulted, labelled in the last 5 minutes",
            self.precision.clone(),
        );
        registry.register(
            "model_feedback_recall",
            "Share of the defaults the model declined, labelled in the last 5 minutes",
            self.recall.clone(),
        );
        registry.register(
            "model_feedback_calibration_error",
            "Expected calibration error (10 score bins) of the model's predictions labelled in \
             the last 5 minutes",
            self.calibration_error.clone(),
        );
        registry.register(
            "model_feedback_window_labels",
            "Labels of model predictions in the last 5 minutes, behind the feedback ratios",
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

    /// Records one answered prediction, its score when the model answered, and the model's
    /// time when it was tried.
    pub fn observe_prediction(&self, p: &Prediction, model_time: Option<Duration>) {
        let reason = p.fallback_reason.map_or("none", |r| r.as_str());
        let source = if p.source == "model" {
            "model"
        } else {
            "fallback"
        };
        let decision = if p.decision == "decline" {
            "decline"
        } else {
            "approve"
        };
        self.predictions
            .get_or_create(&PredictionLabels {
                source,
                reason,
                decision,
            })
            .inc();
        if let Some(t) = model_time {
            self.model_duration.observe(t.as_secs_f64());
        }
        if let Some(s) = p.score {
            self.score.observe(s);
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

    /// Records one label: who answered, what they decided, what happened, how late.
    pub fn observe_feedback(&self, model: bool, declined: bool, defaulted: bool, delay: Duration) {
        self.feedback
            .get_or_create(&FeedbackLabels {
                source: if model { "model" } else { "fallback" },
                decision: if declined { "decline" } else { "approve" },
                outcome: if defaulted { "default" } else { "repaid" },
            })
            .inc();
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

    /// Publishes the windowed quality and the prediction store's size.
    pub fn set_quality(&self, q: &Quality, stored: usize) {
        self.accuracy.set(q.accuracy);
        self.precision.set(q.precision);
        self.recall.set(q.recall);
        self.calibration_error.set(q.calibration_error);
        self.quality_labels
            .set(i64::try_from(q.labels).unwrap_or(i64::MAX));
        self.stored.set(i64::try_from(stored).unwrap_or(i64::MAX));
    }
}
