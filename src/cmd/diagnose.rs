//! `monlab diagnose`: the users and requests behind an alert, from Prometheus's exemplars.

use super::{runtime, to_json, CliError};
use crate::cli::{DiagnoseArgs, DiagnoseWhat};
use crate::diagnose::{DiagnoseConfig, Kind};

fn config(args: &DiagnoseArgs) -> DiagnoseConfig {
    let (kind, threshold, f) = match &args.what {
        DiagnoseWhat::SlowRequests { threshold, flags } => {
            (Kind::SlowRequests, (*threshold).into(), flags)
        }
        DiagnoseWhat::Errors { flags } => {
            (Kind::Errors, DiagnoseConfig::default().threshold, flags)
        }
    };
    DiagnoseConfig {
        prometheus: f.prometheus.clone(),
        kind,
        window: f.window.into(),
        threshold,
        top: usize::try_from(f.top).unwrap_or(usize::MAX),
        logs: if f.log.is_empty() {
            DiagnoseConfig::default().logs
        } else {
            f.log.clone()
        },
    }
}

pub(super) fn run(args: &DiagnoseArgs) -> Result<(), CliError> {
    let cfg = config(args);
    let json = match &args.what {
        DiagnoseWhat::SlowRequests { flags, .. } | DiagnoseWhat::Errors { flags } => flags.json,
    };
    // No Prometheus or no exemplar storage leaves the user without a diagnosis: one line and
    // exit 2, like `recover` and `report`.
    let d = runtime()?
        .block_on(crate::diagnose::run(&cfg))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if json {
        println!("{}", to_json(&d)?);
    } else {
        print!("{}", crate::diagnose::render(&d, crate::api::now_seconds()));
    }
    Ok(())
}
