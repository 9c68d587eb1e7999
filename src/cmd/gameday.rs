//! `monlab gameday`: the alerts measured over many trials on the warped stack.

use super::{runtime, CliError};
use crate::cli::GamedayArgs;
use crate::gameday::GamedayConfig;
use crate::stack::MAX_WARPED_LOAD;

fn config(args: GamedayArgs, command: String) -> Result<GamedayConfig, CliError> {
    for needed in ["prometheus/prometheus.yml", "alertmanager/alertmanager.yml"] {
        if !args.deploy.join(needed).is_file() {
            return Err(CliError::Usage(format!(
                "invalid --deploy '{}': {needed} is not in it (run from the monlab checkout or pass --deploy)",
                args.deploy.display()
            )));
        }
    }
    let k = f64::from(args.speed.get());
    for (flag, rate) in [
        ("--load-rate", args.load_rate),
        ("--baseline-peak", args.baseline_peak),
    ] {
        if rate * k > MAX_WARPED_LOAD {
            return Err(CliError::Usage(format!(
                "invalid {flag} {rate}: at --speed {k} the load would be {:.0} requests/s on the wall clock, more than one machine carries without changing the statistics ({MAX_WARPED_LOAD:.0}/s); lower --speed or {flag}",
                rate * k
            )));
        }
    }
    if args.incidents.0.is_empty() && args.ladder.0.is_empty() && args.baseline.is_zero() {
        return Err(CliError::Usage(
            "nothing to measure: --incidents and --ladder are none and --baseline is 0s".into(),
        ));
    }
    if args.load_rate <= 0.0 {
        return Err(CliError::Usage(
            "invalid --load-rate 0: the trials need traffic".into(),
        ));
    }
    Ok(GamedayConfig {
        deploy: args.deploy,
        data_dir: args.data_dir,
        speed: args.speed,
        load_rate: args.load_rate,
        baseline: args.baseline.into(),
        baseline_peak: args.baseline_peak,
        incidents: args.incidents.0,
        trials: u32::try_from(args.trials).unwrap_or(u32::MAX),
        ladder: args.ladder.0,
        ladder_trials: u32::try_from(args.ladder_trials).unwrap_or(u32::MAX),
        seed: args.seed.unwrap_or_else(rand::random),
        results: args.results,
        doc: args.doc,
        command,
    })
}

pub(super) fn run(args: GamedayArgs) -> Result<(), CliError> {
    if !args.merge.is_empty() {
        return merge(args);
    }
    // Written into the results and the page, so the numbers say how they were made.
    let mut cfg = config(args, String::new())?;
    let mut command: Vec<String> = std::env::args().skip(1).collect();
    if !command
        .iter()
        .any(|a| a == "--seed" || a.starts_with("--seed="))
    {
        command.extend(["--seed".into(), cfg.seed.to_string()]);
    }
    cfg.command = format!("monlab {}", command.join(" "));
    println!("game day: seed {}; {}", cfg.seed, cfg.command);
    let (results, path) = runtime()?
        .block_on(crate::gameday::run(&cfg))
        .map_err(|e| CliError::Failed(e.into()))?;
    println!(
        "{} trials, {} baseline notifications, {:.1} wall minutes; results in {}",
        results.trials.len(),
        results.baseline_alerts.len(),
        results.wall_seconds / 60.0,
        path.display()
    );
    print_levels(&results);
    Ok(())
}

/// `monlab gameday --merge`: game days run apart, as one.
fn merge(args: GamedayArgs) -> Result<(), CliError> {
    use crate::gameday::merge;
    let inputs = args
        .merge
        .iter()
        .map(|p| merge::read(p).map(|r| (p.clone(), r)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let command = format!(
        "monlab {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    let results = merge::merge(&inputs, command).map_err(|e| CliError::Usage(e.to_string()))?;
    let path = crate::gameday::write(&args.results, args.doc.as_deref(), &results)
        .map_err(|e| CliError::Failed(e.into()))?;
    println!(
        "{} parts, {} trials, {:.1} system-hours of baseline with {} notifications; results in {}",
        results.parts.len(),
        results.trials.len(),
        results.baseline_seconds / 3600.0,
        results.baseline_alerts.len(),
        path.display()
    );
    print_levels(&results);
    Ok(())
}

/// One line per incident and intensity.
fn print_levels(results: &crate::gameday::Results) {
    for l in &results.levels {
        println!(
            "{:<16} {:<14} {:<8} recall {}/{}  detection p50 {} p90 {}  reset p90 {}",
            l.incident,
            l.intensity.map_or("on".into(), |x| x.to_string()),
            l.expected.to_string(),
            l.caught,
            l.trials,
            l.detection_p50.map_or("—".into(), |x| format!("{x:.0} s")),
            l.detection_p90.map_or("—".into(), |x| format!("{x:.0} s")),
            l.reset_p90.map_or("—".into(), |x| format!("{x:.0} s")),
        );
    }
}
