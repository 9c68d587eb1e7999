//! `monlab report`: a performance review of a period.

use super::{runtime, CliError};
use crate::cli::ReportArgs;
use crate::report::ReportConfig;
use crate::settings::parse;
use std::time::SystemTime;

/// The review's config: the period resolved against `now` and checked as a whole.
fn config(args: &ReportArgs, now: SystemTime) -> Result<ReportConfig, CliError> {
    let refused = |flag: &str, raw: &str, why: String| {
        CliError::Usage(format!("invalid {flag} '{raw}': {why}"))
    };
    let from = parse::time_before(&args.from, now).map_err(|e| refused("--from", &args.from, e))?;
    let to = parse::time_before(&args.to, now).map_err(|e| refused("--to", &args.to, e))?;
    let now_s = parse::time_before("now", now).unwrap_or(0.0);
    if to > now_s + 60.0 {
        return Err(refused("--to", &args.to, "is in the future".into()));
    }
    if to - from < 60.0 {
        return Err(CliError::Usage(format!(
            "invalid period --from '{}' --to '{}': it must be at least one minute long, with --from before --to",
            args.from, args.to
        )));
    }
    if to - from > 400.0 * 86_400.0 {
        return Err(CliError::Usage("invalid period: at most 400 days".into()));
    }
    Ok(ReportConfig {
        store: args.store.clone(),
        from,
        to,
        out: args.out.clone(),
        job: args.job.clone(),
    })
}

pub(super) fn run(args: &ReportArgs) -> Result<(), CliError> {
    let cfg = config(args, SystemTime::now())?;
    // No store, no data or an unwritable folder all leave the user without a review: one
    // line and exit 2, like `recover`.
    let review = runtime()?
        .block_on(crate::report::run(&cfg))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let written = crate::report::render::write(&review, &cfg.out)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    for s in &review.slos {
        println!(
            "{:<13} {:.3}% attained (objective {:.1}%), error budget left {:.1}%",
            s.name,
            s.attainment * 100.0,
            s.objective * 100.0,
            s.budget_left * 100.0
        );
    }
    let n = review.incidents.len();
    println!(
        "{n} incident{}; written: {}",
        if n == 1 { "" } else { "s" },
        written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
