//! Runs a parsed command line: loads the config, builds the runtime, calls the module behind
//! the subcommand. Bad input becomes [`CliError::Usage`] (exit 2), failures [`CliError::Failed`].

use crate::cli::{Cli, Command, ServeArgs, UpArgs};
use crate::config::{ConfigError, Layers, ServeConfig, UpConfig};

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

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        Self::Usage(e.to_string())
    }
}

/// Runs one command to completion.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Up(args) => up(&args),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot start the async runtime: {e}")))
}

fn serve(args: &ServeArgs) -> Result<(), CliError> {
    let layers = Layers::from_process(args.config.as_deref())?;
    let cfg = ServeConfig::load(args, &layers)?;
    runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.listen))?;
        let addr = listener.local_addr().map_err(anyhow::Error::from)?;
        tracing::info!(
            %addr,
            value = %cfg.random.value,
            delay = %cfg.random.delay,
            concurrency_limit = cfg.concurrency_limit,
            "Serving."
        );
        crate::service::run(&cfg, listener, crate::shutdown::signal())
            .await
            .map_err(|e| anyhow::anyhow!("server failed: {e}"))?;
        Ok::<(), CliError>(())
    })
}

fn up(args: &UpArgs) -> Result<(), CliError> {
    let layers = Layers::from_process(None)?;
    let cfg = UpConfig::load(args, &layers)?;
    runtime()?.block_on(async {
        crate::stack::run(&cfg, crate::shutdown::signal())
            .await
            .map_err(|e| CliError::Failed(e.into()))
    })
}
