//! `monlab batch`: the batch job, once, pushing its outcome to a Pushgateway.

use super::{runtime, to_json, CliError};
use crate::batch::BatchConfig;
use crate::cli::BatchArgs;

pub(super) fn run(args: &BatchArgs) -> Result<(), CliError> {
    let cfg = BatchConfig {
        pushgateway: args.pushgateway.clone(),
        job: args.job.clone(),
        rows: args.rows,
        schedule: args.schedule.into(),
        fail: args.fail,
        seed: args.seed,
    };
    let out = runtime()?
        .block_on(crate::batch::run(&cfg))
        .map_err(|e| CliError::Failed(e.into()))?;
    if args.json {
        println!("{}", to_json(&out)?);
    } else {
        println!(
            "{}: {} rows in {:.2} s, pushed to {}",
            cfg.job, out.rows, out.duration_seconds, cfg.pushgateway
        );
    }
    Ok(())
}
