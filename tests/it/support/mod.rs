//! Helpers the test modules share, one job each; `harness` starts the long-running processes.

pub mod alerts;
pub mod command;
pub mod files;
pub mod procs;
pub mod up;
