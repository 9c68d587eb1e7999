//! The ML system behind `/predict`: a credit-risk model with a rule-based fallback.
//!
//! - [`features`]: the input schema and its validation (bounded, named fields).
//! - [`dataset`]: the synthetic generating process the model is trained on and the load draws from.
//! - [`model`]: the logistic-regression model, loaded from `models/credit-risk.json`.
//! - [`fallback`]: the business rules that answer when the model cannot.

pub mod dataset;
pub mod fallback;
pub mod features;
pub mod model;
