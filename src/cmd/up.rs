//! `monlab up`: the whole system on this machine.

use super::{runtime, scenario_play, CliError};
use crate::cli::UpArgs;
use crate::stack::{UpConfig, MAX_WARPED_LOAD};

fn config(args: UpArgs) -> Result<UpConfig, CliError> {
    for needed in ["prometheus/prometheus.yml", "alertmanager/alertmanager.yml"] {
        if !args.deploy.join(needed).is_file() {
            return Err(CliError::Usage(format!(
                "invalid --deploy '{}': {needed} is not in it (run from the monlab checkout or pass --deploy)",
                args.deploy.display()
            )));
        }
    }
    let (speed, load_rate) = (args.speed, args.load_rate);
    let wall_rate = load_rate * f64::from(speed.get());
    if wall_rate > MAX_WARPED_LOAD {
        return Err(CliError::Usage(format!(
            "invalid --speed {speed}: with --load-rate {load_rate} the load would be {wall_rate:.0} requests/s on the wall clock, more than one machine carries without changing the statistics ({MAX_WARPED_LOAD:.0}/s); lower --speed or --load-rate"
        )));
    }
    let (scenario, play) = match scenario_play(args.scenario.as_deref(), args.resolve_wait)? {
        Some((steps, play)) => (Some(steps), play),
        None => (None, Default::default()),
    };
    let default = UpConfig::default();
    Ok(UpConfig {
        deploy: args.deploy,
        data_dir: args.data_dir,
        port: args.port,
        prometheus_port: args.prometheus_port,
        alertmanager_port: args.alertmanager_port,
        interval: args.interval.map(Into::into),
        load_rate,
        admin_token: args.admin_token.unwrap_or(default.admin_token),
        serve_args: args.serve_args,
        replicas: usize::try_from(args.replicas).unwrap_or(1),
        ha: args.ha,
        fresh: args.fresh,
        speed,
        vm_port: args.vm_port,
        pushgateway_port: args.pushgateway_port,
        scenario,
        play,
        batch_every: (!args.batch_every.is_zero()).then(|| args.batch_every.into()),
    })
}

pub(super) fn run(args: UpArgs) -> Result<(), CliError> {
    let cfg = config(args)?;
    runtime()?.block_on(async {
        crate::stack::run(&cfg, crate::shutdown::signal())
            .await
            .map_err(|e| CliError::Failed(e.into()))
    })
}
