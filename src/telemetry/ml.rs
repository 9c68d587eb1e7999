//! Metrics of the prediction path: which source answered and why, model latency, the model's
//! identity, and data-quality signals on the inputs. Labels come from fixed lists (sources,
//! reasons, feature names), never from request values.

use crate::service::predict::Prediction;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::time::Duration;

/// Predictions by source and fallback reason.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PredictionLabels {
    /// `model` or `fallback`.
    pub source: &'static str,
    /// `none`, `model_unavailable` or `timeout`.
    pub reason: &'static str,
    /// `approve` or `decline`.
    pub decision: &'static str,
}

/// A feature name from the fixed feature list.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FeatureLabels {
    /// Feature name.
    pub feature: &'static str,
}

/// Model identity.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelInfoLabels {
    /// Model version.
    pub version: String,
    /// Training time.
    pub trained_at: String,
}

/// The prediction path's metrics.
#[derive(Debug)]
pub struct MlMetrics {
    predictions: Family<PredictionLabels, Counter>,
    model_duration: Histogram,
    unknown_categories: Family<FeatureLabels, Counter>,
    model_info: Family<ModelInfoLabels, Gauge>,
}

fn model_buckets() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25,
    ])
}

impl MlMetrics {
    /// Creates the families and registers them under `registry` (already prefixed).
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self {
            predictions: Family::default(),
            model_duration: model_buckets(),
            unknown_categories: Family::default(),
            model_info: Family::default(),
        };
        for source in [
            ("model", "none"),
            ("fallback", "model_unavailable"),
            ("fallback", "timeout"),
        ] {
            for decision in ["approve", "decline"] {
                let _ = m.predictions.get_or_create(&PredictionLabels {
                    source: source.0,
                    reason: source.1,
                    decision,
                });
            }
        }
        for feature in crate::ml::features::CATEGORICAL {
            let _ = m
                .unknown_categories
                .get_or_create(&FeatureLabels { feature });
        }
        registry.register(
            "predictions",
            "Predictions answered, by source (model or fallback), fallback reason and decision",
            m.predictions.clone(),
        );
        registry.register_with_unit(
            "model_duration",
            "Time the model took to score, including misses of the time budget",
            Unit::Seconds,
            m.model_duration.clone(),
        );
        registry.register(
            "model_unknown_categories",
            "Prediction requests refused for an unknown category, by feature",
            m.unknown_categories.clone(),
        );
        registry.register(
            "model_info",
            "The model serving predictions; the value is always 1",
            m.model_info.clone(),
        );
        m
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

    /// Records one answered prediction and, when the model was tried, its time.
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
    }

    /// Counts a request refused for an unknown category of `feature`.
    pub fn unknown_category(&self, feature: &'static str) {
        self.unknown_categories
            .get_or_create(&FeatureLabels { feature })
            .inc();
    }
}
