//! `monlab incident`: list, start, stop and play incidents through the admin API.

use super::{runtime, to_json, CliError};
use crate::cli::{IncidentAction, IncidentArgs};

pub(super) fn run(args: &IncidentArgs) -> Result<(), CliError> {
    use crate::scenario::{client::ClientError, PlayOptions, Scenario};
    let client = crate::scenario::client::AdminClient::new(&args.url, args.token.clone());
    // The caller's mistakes (a wrong token or name, nothing listening at --url) exit 2.
    let refused = |e: ClientError| match e {
        ClientError::Refused { .. } | ClientError::Unreachable { .. } => {
            CliError::Usage(e.to_string())
        }
        other => CliError::Failed(other.into()),
    };
    runtime()?.block_on(async {
        match &args.action {
            IncidentAction::List => {
                let states = client.list().await.map_err(refused)?;
                if args.json {
                    println!(
                        "{}",
                        to_json(&states)?
                    );
                } else {
                    println!(
                        "{:<16} {:<9} {:<7} {:>8}  what users see",
                        "incident", "severity", "active", "left"
                    );
                    for s in states {
                        let left = s
                            .remaining_seconds
                            .map_or("—".into(), |r| format!("{r:.0} s"));
                        println!(
                            "{:<16} {:<9} {:<7} {:>8}  {}",
                            s.name,
                            s.severity,
                            if s.active { "yes" } else { "no" },
                            left,
                            s.description
                        );
                    }
                }
            }
            IncidentAction::Start { name, params } => {
                let change = client.start(name, params).await.map_err(refused)?;
                let s = &change.state;
                if args.json {
                    println!("{}", to_json(&change)?);
                } else {
                    println!(
                        "{} started for {:.0} s{} ({}; expected severity {})",
                        s.name,
                        s.remaining_seconds.unwrap_or(0.0),
                        reach_text(change.replicas.as_ref()),
                        s.description,
                        s.severity
                    );
                }
                partly_applied(change.replicas.as_ref())?;
            }
            IncidentAction::Stop { name } => {
                let change = client.stop(name).await.map_err(refused)?;
                if args.json {
                    println!("{}", to_json(&change)?);
                } else if change.was_active {
                    println!(
                        "{} stopped{}",
                        change.state.name,
                        reach_text(change.replicas.as_ref())
                    );
                }
                partly_applied(change.replicas.as_ref())?;
                if !change.was_active {
                    return Err(CliError::Usage(format!(
                        "{} was not in progress: nothing to stop (`monlab incident list` shows what is)",
                        change.state.name
                    )));
                }
            }
            IncidentAction::Play { file, resolve_wait } => {
                let steps = Scenario::load(file).map_err(|e| CliError::Usage(e.to_string()))?;
                let opts = PlayOptions {
                    resolve_wait: (*resolve_wait).into(),
                    ..PlayOptions::default()
                };
                let board = crate::scenario::play(&client, &steps, opts)
                    .await
                    .map_err(refused)?;
                // The lab page shows the last scoreboard; the play's outcome stands without it.
                let title = file.display().to_string();
                if let Err(e) = client.post_scoreboard(Some(&title), &board).await {
                    eprintln!("note: the scoreboard could not be stored for the lab page: {e}");
                }
                if args.json {
                    println!(
                        "{}",
                        to_json(&board)?
                    );
                } else {
                    print!("{board}");
                }
                if !board.rows.iter().all(crate::api::scoreboard::Row::passed) {
                    return Err(CliError::Failed(anyhow::anyhow!(
                        "not every incident was caught at its severity"
                    )));
                }
            }
        }
        Ok(())
    })
}

/// " on 3 of 3 replicas", when the service has peers.
fn reach_text(reach: Option<&crate::api::incident::Reach>) -> String {
    reach.map_or_else(String::new, |r| {
        format!(" on {} of {} replicas", r.applied, r.of)
    })
}

/// Fails when the change did not reach every replica, naming those it missed.
fn partly_applied(reach: Option<&crate::api::incident::Reach>) -> Result<(), CliError> {
    match reach {
        Some(r) if !r.failed.is_empty() => Err(CliError::Failed(anyhow::anyhow!(
            "not every replica took the change: {}",
            r.failed
                .iter()
                .map(|f| format!("{} ({})", f.url, f.error))
                .collect::<Vec<_>>()
                .join("; ")
        ))),
        _ => Ok(()),
    }
}
