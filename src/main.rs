//! The `monlab` binary: parse, dispatch, map the outcome to an exit status.
//!
//! Run with `monlab serve`, or `monlab --help` for every subcommand.

use clap::Parser;
use monlab::cli::Cli;
use monlab::commands::{self, CliError};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's whole message: what was wrong, the usage and its tips (a similar flag, the
            // missing argument's name, the list of commands); still exit status 2.
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    monlab::logging::init(&monlab::config::log_filter());
    match commands::run(cli) {
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
