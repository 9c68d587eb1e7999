//! The `monlab` binary: parse, dispatch, map the outcome to an exit status.
//!
//! Run with `monlab serve`, or `monlab --help` for every subcommand.

use monlab::cmd::{self, CliError};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cmd::args::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => return e.report(),
    };
    monlab::logging::init(&monlab::settings::log_filter());
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ CliError::Usage(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
