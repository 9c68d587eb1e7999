//! Runs a parsed command line: loads the config, builds the runtime, calls the module behind
//! the subcommand. Bad input becomes [`CliError::Usage`] (exit 2), failures [`CliError::Failed`].

use crate::cli::{Cli, Command, IncidentAction, IncidentArgs, ServeArgs, UpArgs};
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
        Command::Incident(args) => incident(&args),
        Command::Batch(args) => batch(&args),
        Command::Report(args) => report(&args),
        Command::Load(args) => load(&args),
        Command::Recover(args) => recover(&args),
        Command::Train(args) => train(&args),
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

fn incident(args: &IncidentArgs) -> Result<(), CliError> {
    use crate::scenario::{client::ClientError, PlayOptions, Scenario};
    let layers = Layers::from_process(None)?;
    let (url, token) = layers.client_target(args.url.as_deref(), args.token.as_deref())?;
    let client = crate::scenario::client::AdminClient::new(&url, token);
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
                let opts = PlayOptions::with_resolve_wait(resolve_wait.as_deref())
                    .map_err(CliError::Usage)?;
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

/// Pretty JSON for `--json`; an encoding failure is reported, never printed as an empty line.
fn to_json<T: serde::Serialize>(value: &T) -> Result<String, CliError> {
    serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot encode the answer as JSON: {e}")))
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

fn train(args: &crate::cli::TrainArgs) -> Result<(), CliError> {
    let cfg = crate::config::TrainConfig::load(args)?;
    let trained = crate::ml::train::train(cfg.seed, cfg.rows, &cfg.trained_at)
        .map_err(|e| CliError::Failed(e.into()))?;
    crate::ml::train::write(&cfg.out, &trained).map_err(|e| CliError::Failed(e.into()))?;
    let e = &trained.evaluation;
    if args.json {
        println!("{}", to_json(e)?);
    } else {
        println!(
            "trained {} on {} rows (seed {}); wrote {} and {}",
            trained.model.version,
            cfg.rows,
            cfg.seed,
            crate::ml::train::model_path(&cfg.out).display(),
            crate::ml::train::reference_path(&cfg.out).display()
        );
        println!(
            "held out ({} rows, {:.1}% defaults): model accuracy {:.4}, AUC {:.4}, log loss {:.4}; \
             fallback rules accuracy {:.4}; approving everyone {:.4}",
            e.rows,
            100.0 * e.default_rate,
            e.model_accuracy,
            e.model_auc,
            e.model_log_loss,
            e.fallback_accuracy,
            e.approve_all_accuracy
        );
    }
    Ok(())
}

fn load(args: &crate::cli::LoadArgs) -> Result<(), CliError> {
    let layers = Layers::from_process(None)?;
    let speed = crate::config::speed(args.speed.as_deref(), &layers)?;
    let cfg = crate::config::LoadConfig::load(args, &layers)?.warped(speed);
    if speed != crate::warp::Speed::ONE && !args.json {
        eprintln!(
            "time warp {speed}×: {:.0} requests/s on the wall clock, {:.0}/s of system time",
            cfg.rate,
            cfg.rate / f64::from(speed.get())
        );
    }
    let scenario = match &args.scenario {
        None if args.resolve_wait.is_some() => {
            return Err(CliError::Usage("--resolve-wait needs --scenario".into()))
        }
        None => None,
        Some(path) => {
            let opts =
                crate::scenario::PlayOptions::with_resolve_wait(args.resolve_wait.as_deref())
                    .map_err(CliError::Usage)?;
            let steps = crate::scenario::Scenario::load(path)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            let (url, token) = layers.client_target(
                Some(&format!("http://{}", cfg.target)),
                args.token.as_deref(),
            )?;
            if token.is_none() {
                return Err(CliError::Usage(
                    "--scenario needs the admin token: pass --token or set MONLAB_ADMIN_TOKEN"
                        .into(),
                ));
            }
            Some((
                crate::scenario::client::AdminClient::new(&url, token),
                steps,
                opts,
            ))
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
                    let _ = client.post_scoreboard(None, b).await;
                }
                (report, Some(board))
            }
            None => (load.await, None),
        }
    });
    let report = report.map_err(|e| CliError::Failed(anyhow::anyhow!("load run failed: {e}")))?;
    if args.json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot encode the report: {e}")))?;
        println!("{json}");
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

fn recover(args: &crate::cli::RecoverArgs) -> Result<(), CliError> {
    let cfg = crate::config::RecoverConfig::load(args, std::time::SystemTime::now())?;
    // Every failure here leaves the user without an answer they could use (no Prometheus, no
    // series, no data, too few samples, no picture): one line and exit 2, never a partial guess.
    let report = runtime()?
        .block_on(crate::recover::run(&cfg))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if args.json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot encode the report: {e}")))?;
        println!("{json}");
    } else {
        print!("{report}");
    }
    Ok(())
}

fn batch(args: &crate::cli::BatchArgs) -> Result<(), CliError> {
    let layers = Layers::from_process(None)?;
    let cfg = crate::batch::BatchConfig::load(args, &layers)?;
    runtime()?.block_on(async {
        match crate::batch::run(&cfg).await {
            Ok(out) => {
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
            Err(e) => Err(CliError::Failed(e.into())),
        }
    })
}

fn report(args: &crate::cli::ReportArgs) -> Result<(), CliError> {
    let layers = Layers::from_process(None)?;
    let cfg = crate::report::ReportConfig::load(args, &layers, std::time::SystemTime::now())?;
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
