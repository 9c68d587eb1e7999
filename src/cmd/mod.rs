//! The command layer: one module per subcommand, each filling its feature's `Config` from the
//! parsed command line and running it. Bad input becomes [`CliError::Usage`] (exit 2),
//! failures [`CliError::Failed`] (exit 1).

pub mod args;
mod batch;
mod diagnose;
mod gameday;
mod incident;
mod load;
mod recover;
mod report;
mod serve;
mod train;
mod up;

use crate::cli::{Cli, Command};
use crate::settings::SettingsError;

/// Why a command ended without success.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad flag, environment value or config: exit status 2.
    #[error("{0}")]
    Usage(String),
    /// The command ran and failed: exit status 1.
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
}

impl From<SettingsError> for CliError {
    fn from(e: SettingsError) -> Self {
        Self::Usage(e.0)
    }
}

/// Runs one command to completion.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Up(args) => up::run(args),
        Command::Incident(args) => incident::run(&args),
        Command::Batch(args) => batch::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Load(args) => load::run(&args),
        Command::Recover(args) => recover::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Diagnose(args) => diagnose::run(&args),
        Command::Gameday(args) => gameday::run(args),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot start the async runtime: {e}")))
}

/// Pretty JSON for `--json`; an encoding failure is reported, never printed as an empty line.
fn to_json<T: serde::Serialize>(value: &T) -> Result<String, CliError> {
    serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot encode the answer as JSON: {e}")))
}

/// The scenario steps and play options of `--scenario FILE [--resolve-wait D]`, shared by
/// `up` and `load`; `--resolve-wait` alone is refused.
fn scenario_play(
    file: Option<&std::path::Path>,
    resolve_wait: Option<crate::cli::Dur>,
) -> Result<
    Option<(
        Vec<crate::scenario::PlannedStep>,
        crate::scenario::PlayOptions,
    )>,
    CliError,
> {
    let Some(file) = file else {
        if resolve_wait.is_some() {
            return Err(CliError::Usage("--resolve-wait needs --scenario".into()));
        }
        return Ok(None);
    };
    let steps =
        crate::scenario::Scenario::load(file).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut opts = crate::scenario::PlayOptions::default();
    if let Some(wait) = resolve_wait {
        opts.resolve_wait = wait.into();
    }
    Ok(Some((steps, opts)))
}
