//! monlab's integration tests: one binary, one module per capability.
//! They run real processes (monlab, Prometheus, Alertmanager) on 127.0.0.1.

mod browser;
mod cli;
mod deploy;
mod diagnose;
mod gameday;
mod ha;
mod harness;
mod incidents;
mod lab;
mod load;
mod ml;
mod ml_labels;
mod promql;
mod readme;
mod recover;
mod rules;
mod serve;
mod stack;
mod support;
