//! `monlab incident`: list, start, stop and play incidents through the admin API.

use super::{runtime, to_json, CliError};
use crate::api::incident::Params;
use crate::api::scoreboard::Row;
use crate::cli::{IncidentAction, IncidentArgs};
use crate::scenario::client::{AdminClient, ClientError};
use crate::scenario::{PlayOptions, Scenario};
use std::path::Path;

pub(super) fn run(args: &IncidentArgs) -> Result<(), CliError> {
    let client = AdminClient::new(&args.url, args.token.clone());
    runtime()?.block_on(async {
        match &args.action {
            IncidentAction::List => list(&client, args.json).await,
            IncidentAction::Start { name, params } => start(&client, name, params, args.json).await,
            IncidentAction::Stop { name } => stop(&client, name, args.json).await,
            IncidentAction::Play { file, resolve_wait } => {
                let opts = PlayOptions {
                    resolve_wait: (*resolve_wait).into(),
                    ..PlayOptions::default()
                };
                play(&client, file, opts, args.json).await
            }
        }
    })
}

/// The caller's mistakes (a wrong token or name, nothing listening at --url) exit 2.
fn refused(e: ClientError) -> CliError {
    match e {
        ClientError::Refused { .. } | ClientError::Unreachable { .. } => {
            CliError::Usage(e.to_string())
        }
        other => CliError::Failed(other.into()),
    }
}

/// Every incident with its severity, whether it runs and the time it has left.
async fn list(client: &AdminClient, json: bool) -> Result<(), CliError> {
    let states = client.list().await.map_err(refused)?;
    if json {
        println!("{}", to_json(&states)?);
        return Ok(());
    }
    println!(
        "{:<16} {:<9} {:<7} {:>8}  what users see",
        "incident", "severity", "active", "left"
    );
    for s in states {
        let left = s
            .remaining_seconds
            .map_or("—".into(), |r| format!("{r:.0} s"));
        let active = if s.active { "yes" } else { "no" };
        println!(
            "{:<16} {:<9} {:<7} {:>8}  {}",
            s.name, s.severity, active, left, s.description
        );
    }
    Ok(())
}

async fn start(
    client: &AdminClient,
    name: &str,
    params: &Params,
    json: bool,
) -> Result<(), CliError> {
    let change = client.start(name, params).await.map_err(refused)?;
    let s = &change.state;
    if json {
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
    partly_applied(change.replicas.as_ref())
}

async fn stop(client: &AdminClient, name: &str, json: bool) -> Result<(), CliError> {
    let change = client.stop(name).await.map_err(refused)?;
    if json {
        println!("{}", to_json(&change)?);
    } else if change.was_active {
        let reach = reach_text(change.replicas.as_ref());
        println!("{} stopped{reach}", change.state.name);
    }
    partly_applied(change.replicas.as_ref())?;
    if !change.was_active {
        return Err(CliError::Usage(format!(
            "{} was not in progress: nothing to stop (`monlab incident list` shows what is)",
            change.state.name
        )));
    }
    Ok(())
}

/// Plays the scenario, stores its scoreboard for the lab page, prints it; fails unless every
/// incident was caught at its severity.
async fn play(
    client: &AdminClient,
    file: &Path,
    opts: PlayOptions,
    json: bool,
) -> Result<(), CliError> {
    let steps = Scenario::load(file).map_err(|e| CliError::Usage(e.to_string()))?;
    let board = crate::scenario::play(client, &steps, opts)
        .await
        .map_err(refused)?;
    // The lab page shows the last scoreboard; the play's outcome stands without it.
    let title = file.display().to_string();
    if let Err(e) = client.post_scoreboard(Some(&title), &board).await {
        eprintln!("note: the scoreboard could not be stored for the lab page: {e}");
    }
    if json {
        println!("{}", to_json(&board)?);
    } else {
        print!("{board}");
    }
    if !board.rows.iter().all(Row::passed) {
        return Err(CliError::Failed(anyhow::anyhow!(
            "not every incident was caught at its severity"
        )));
    }
    Ok(())
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
