//! `monlab load`: open-loop traffic against a running service, and its report.

use super::{runtime, scenario_play, to_json, CliError};
use crate::cli::LoadArgs;
use crate::load::{LoadConfig, LOAD_MAX_DURATION, LOAD_MAX_REQUESTS};
use crate::scenario::client::AdminClient;

/// The load's config in system time; `--duration` or `--requests` must be given so the run
/// ends.
fn config(args: &LoadArgs) -> Result<LoadConfig, CliError> {
    if args.duration.is_none() && args.requests.is_none() {
        return Err(CliError::Usage(
            "monlab load needs --duration or --requests (or MONLAB_LOAD_DURATION or \
             MONLAB_LOAD_REQUESTS), so the run ends"
                .into(),
        ));
    }
    Ok(LoadConfig {
        target: args.target.clone(),
        rate: args.rate,
        arrivals: args.arrivals,
        shape: args.shape,
        duration: args.duration.map_or(LOAD_MAX_DURATION, Into::into),
        requests: args.requests.unwrap_or(LOAD_MAX_REQUESTS),
        mix: args.mix,
        users: args.users,
        bad_login_share: args.bad_login_share,
        concurrency: usize::try_from(args.concurrency).unwrap_or(usize::MAX),
        timeout: args.timeout.into(),
        seed: args.seed,
        // The report goes to stdout either way; --json keeps stderr quiet too, for scripts.
        progress: !args.quiet && !args.json,
        feedback_share: args.feedback_share,
        feedback_delay: args.feedback_delay.into(),
        ..LoadConfig::default()
    })
}

pub(super) fn run(args: &LoadArgs) -> Result<(), CliError> {
    let speed = args.speed;
    let cfg = config(args)?.warped(speed);
    if speed.is_warped() && !args.json {
        eprintln!(
            "time warp {speed}×: {:.0} requests/s on the wall clock, {:.0}/s of system time",
            cfg.rate,
            cfg.rate / f64::from(speed.get())
        );
    }
    let scenario = match scenario_play(args.scenario.as_deref(), args.resolve_wait)? {
        None => None,
        Some(_) if args.token.is_none() => {
            return Err(CliError::Usage(
                "--scenario needs the admin token: pass --token or set MONLAB_ADMIN_TOKEN".into(),
            ))
        }
        Some((steps, opts)) => {
            let client = AdminClient::new(&format!("http://{}", cfg.target), args.token.clone());
            Some((client, steps, opts))
        }
    };
    let (report, board) = runtime()?.block_on(async {
        let load = crate::load::run(&cfg, crate::shutdown::signal());
        match &scenario {
            // The scenario plays alongside the load; its scoreboard comes after the report.
            Some((client, steps, opts)) => {
                let play = crate::scenario::play(client, steps, *opts);
                let (report, board) = tokio::join!(load, play);
                if let Ok(b) = &board {
                    if let Err(e) = client.post_scoreboard(None, b).await {
                        eprintln!("note: the scoreboard could not be stored for the lab page: {e}");
                    }
                }
                (report, Some(board))
            }
            None => (load.await, None),
        }
    });
    let report = report.map_err(|e| CliError::Failed(anyhow::anyhow!("load run failed: {e}")))?;
    if args.json {
        println!("{}", to_json(&report)?);
    } else {
        print!("{report}");
    }
    if let Some(board) = board {
        let board = board.map_err(|e| CliError::Failed(anyhow::anyhow!("scenario failed: {e}")))?;
        println!("\nScenario scoreboard:\n{board}");
    }
    // A run where nothing answered is a failure, not a report of zeros.
    if report.total.sent > 0 && report.total.completed == 0 && !report.stopped_early {
        return Err(CliError::Failed(anyhow::anyhow!(
            "no request to {} got a response ({} transport errors): is the service running?",
            report.target,
            report.total.transport_error_count()
        )));
    }
    Ok(())
}
