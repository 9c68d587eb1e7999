//! Settings shared by the commands: the config file every command's settings may come from,
//! and [`parse`], the one parser per kind of value.
//!
//! Flags and `MONLAB_*` variables are clap's (`src/cli.rs` declares each once, with its
//! variable and its default taken from the feature's `Config::default()`); the config file is
//! the layer under them (flag > environment > file > default), applied in `cmd::args`.

pub(crate) mod parse;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A bad setting; the message names it, where its value came from and what is allowed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

/// A TOML config file, flattened to `section.key → text` pairs.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// Every key with its value as text, as a flag would give it.
    pub values: BTreeMap<String, String>,
}

impl ConfigFile {
    /// Reads and flattens the file; a missing file, bad TOML or a table value is one line.
    pub fn read(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            SettingsError(format!("cannot read config file {}: {e}", path.display()))
        })?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .map(|span| text[..span.start].lines().count().max(1))
                .unwrap_or(1);
            SettingsError(format!(
                "config file {} is not valid TOML at line {line}: {}",
                path.display(),
                e.message()
            ))
        })?;
        let mut values = BTreeMap::new();
        flatten("", &toml::Value::Table(table), &mut values, path)?;
        Ok(Self {
            path: path.to_path_buf(),
            values,
        })
    }

    /// Refuses a key no command knows: a typo must not pass silently.
    pub fn check_keys<'a>(
        &self,
        known: impl Iterator<Item = &'a str> + Clone,
    ) -> Result<(), SettingsError> {
        for key in self.values.keys() {
            if !known.clone().any(|k| k == key) {
                return Err(SettingsError(format!(
                    "unknown setting {key} in {} (known: {})",
                    self.path.display(),
                    known.clone().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        Ok(())
    }
}

fn flatten(
    prefix: &str,
    value: &toml::Value,
    out: &mut BTreeMap<String, String>,
    path: &Path,
) -> Result<(), SettingsError> {
    let text = match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out, path)?;
            }
            return Ok(());
        }
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        _ => {
            return Err(SettingsError(format!(
                "invalid {prefix} in {}: must be a string, number or boolean",
                path.display()
            )))
        }
    };
    out.insert(prefix.to_string(), text);
    Ok(())
}

/// The log filter: `MONLAB_LOG` (tracing's env-filter syntax), `info` by default.
pub fn log_filter() -> String {
    std::env::var("MONLAB_LOG").unwrap_or_else(|_| "info".to_string())
}
