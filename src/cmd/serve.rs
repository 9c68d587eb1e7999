//! `monlab serve`: the service, until a shutdown signal.

use super::{runtime, CliError};
use crate::cli::ServeArgs;
use crate::service::{LabConfig, ModelConfig, RandomConfig, ServeConfig};

/// The service's config from its flags (already layered over `MONLAB_*` and the file).
pub(crate) fn config(args: ServeArgs) -> ServeConfig {
    ServeConfig {
        listen: args.listen,
        concurrency_limit: args.concurrency_limit,
        shutdown_grace: args.shutdown_grace.into(),
        drain_delay: args.drain_delay.into(),
        metrics: args.metrics,
        exemplars: args.exemplars,
        access_log: args.access_log,
        speed: args.speed,
        random: RandomConfig {
            seed: args.seed,
            value: args.value,
            delay: args.delay,
            max_delay: args.max_delay.into(),
        },
        admin_token: args.admin_token,
        peers: args.peers,
        model: ModelConfig {
            timeout: args.model_timeout.into(),
            latency: args.model_latency,
            holdout_share: args.holdout_share,
        },
        lab: LabConfig {
            prometheus_url: args.prometheus_url,
            alertmanager_url: args.alertmanager_url,
        },
    }
}

pub(super) fn run(args: ServeArgs) -> Result<(), CliError> {
    let cfg = config(args);
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
