//! The ML system behind `/predict`: a credit-risk model with a rule-based fallback.
//!
//! - [`features`]: the input schema and its validation (bounded, named fields).
//! - [`dataset`]: the synthetic generating process the model is trained on and the load draws from.
//! - [`model`]: the logistic-regression model, loaded from `models/credit-risk.json`.
//! - [`fallback`]: the business rules that answer when the model cannot.
//! - [`train`]: `monlab train`, the fit and the reference statistics it writes.
//! - [`reference`]: the training data's statistics that monitoring compares against.
//! - [`drift`]: PSI and KS of recent inputs and scores against the reference.
//! - [`feedback`]: recent predictions for late labels, and the quality they reveal.

pub mod dataset;
pub(crate) mod drift;
pub(crate) mod fallback;
pub(crate) mod features;
pub(crate) mod feedback;
pub(crate) mod model;
pub(crate) mod reference;
pub(crate) mod train;
