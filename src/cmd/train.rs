//! `monlab train`: fit the model and write it with its reference statistics.

use super::{to_json, CliError};
use crate::cli::TrainArgs;
use crate::ml::train::{self, TrainConfig};

pub(super) fn run(args: &TrainArgs) -> Result<(), CliError> {
    let cfg = TrainConfig {
        seed: args.seed,
        rows: usize::try_from(args.rows).unwrap_or(train::DEFAULT_ROWS),
        out: args.out.clone(),
        trained_at: args
            .trained_at
            .clone()
            .unwrap_or_else(|| TrainConfig::default().trained_at),
    };
    let trained = train::train(cfg.seed, cfg.rows, &cfg.trained_at)
        .map_err(|e| CliError::Failed(e.into()))?;
    train::write(&cfg.out, &trained).map_err(|e| CliError::Failed(e.into()))?;
    let e = &trained.evaluation;
    if args.json {
        println!("{}", to_json(e)?);
        return Ok(());
    }
    println!(
        "trained {} on {} rows (seed {}); wrote {} and {}",
        trained.model.version,
        cfg.rows,
        cfg.seed,
        train::model_path(&cfg.out).display(),
        train::reference_path(&cfg.out).display()
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
    Ok(())
}
