//! From the process's arguments to a typed [`Cli`]: clap reads flags and `MONLAB_*`
//! variables; the config file fills what neither gave (flag > environment > file > default);
//! a refused value becomes one line that names the setting, where its value came from and
//! what is allowed.

use crate::cli::Cli;
use crate::settings::ConfigFile;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use std::ffi::OsString;
use std::process::ExitCode;

/// The settings a config file may hold: (subcommand, file key, argument id). The flag is the
/// id with `-` for `_`; its variable and default are in `cli.rs`. One file may serve both
/// commands: each reads its own keys and refuses keys that no command knows.
pub const FILE_KEYS: &[(&str, &str, &str)] = &[
    ("serve", "server.listen", "listen"),
    ("serve", "server.concurrency_limit", "concurrency_limit"),
    ("serve", "server.shutdown_grace", "shutdown_grace"),
    ("serve", "server.drain_delay", "drain_delay"),
    ("serve", "server.metrics", "metrics"),
    ("serve", "server.exemplars", "exemplars"),
    ("serve", "server.access_log", "access_log"),
    ("serve", "server.speed", "speed"),
    ("serve", "random.seed", "seed"),
    ("serve", "random.value", "value"),
    ("serve", "random.delay", "delay"),
    ("serve", "random.max_delay", "max_delay"),
    ("serve", "admin.token", "admin_token"),
    ("serve", "admin.peers", "peers"),
    ("serve", "model.timeout", "model_timeout"),
    ("serve", "model.latency", "model_latency"),
    ("serve", "model.holdout_share", "holdout_share"),
    ("serve", "lab.prometheus_url", "prometheus_url"),
    ("serve", "lab.alertmanager_url", "alertmanager_url"),
    ("load", "load.target", "target"),
    ("load", "load.rate", "rate"),
    ("load", "load.arrivals", "arrivals"),
    ("load", "load.shape", "shape"),
    ("load", "load.duration", "duration"),
    ("load", "load.requests", "requests"),
    ("load", "load.mix", "mix"),
    ("load", "load.users", "users"),
    ("load", "load.bad_login_share", "bad_login_share"),
    ("load", "load.concurrency", "concurrency"),
    ("load", "load.timeout", "timeout"),
    ("load", "load.seed", "seed"),
    ("load", "load.feedback_share", "feedback_share"),
    ("load", "load.feedback_delay", "feedback_delay"),
];

/// Why the arguments did not become a command.
#[derive(Debug)]
pub enum ArgsError {
    /// Help, version, or a command line clap could not parse: clap's whole message.
    Clap(clap::Error),
    /// A value monlab refuses: one line.
    Refused(String),
}

impl ArgsError {
    /// Prints the message and gives the exit status: 0 for help and version, else 2.
    pub fn report(self) -> ExitCode {
        match self {
            Self::Clap(e) => {
                let _ = e.print();
                if e.use_stderr() {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                }
            }
            Self::Refused(line) => {
                eprintln!("error: {line}");
                ExitCode::from(2)
            }
        }
    }
}

/// A file value given to clap as a flag, remembered so a refusal names the file key.
struct Injected {
    id: &'static str,
    key: &'static str,
}

/// Parses `argv` (program name first) with the config file's layer.
pub fn parse(argv: impl IntoIterator<Item = OsString>) -> Result<Cli, ArgsError> {
    let argv: Vec<OsString> = argv.into_iter().collect();
    let matches = matches_of(&argv, &[], None)?;
    let Some((sub, sub_matches)) = matches.subcommand() else {
        return Cli::from_arg_matches(&matches).map_err(ArgsError::Clap);
    };
    let config = FILE_KEYS
        .iter()
        .any(|(s, _, _)| *s == sub)
        .then(|| sub_matches.get_one::<std::path::PathBuf>("config").cloned())
        .flatten();
    let Some(path) = config else {
        return Cli::from_arg_matches(&matches).map_err(ArgsError::Clap);
    };
    let file = ConfigFile::read(&path).map_err(|e| ArgsError::Refused(e.0))?;
    file.check_keys(FILE_KEYS.iter().map(|(_, key, _)| *key))
        .map_err(|e| ArgsError::Refused(e.0))?;
    // The file fills what neither a flag nor a variable gave.
    let mut injected = Vec::new();
    let mut flags = Vec::new();
    for (_, key, id) in FILE_KEYS.iter().filter(|(s, _, _)| *s == sub) {
        let Some(value) = file.values.get(*key) else {
            continue;
        };
        if matches!(
            sub_matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        flags.push(OsString::from(format!(
            "--{}={value}",
            id.replace('_', "-")
        )));
        injected.push(Injected { id, key });
    }
    let at = argv
        .iter()
        .position(|a| a.to_str() == Some(sub))
        .map_or(argv.len(), |i| i + 1);
    let mut layered = argv[..at].to_vec();
    layered.extend(flags);
    layered.extend_from_slice(&argv[at..]);
    let matches = matches_of(&layered, &injected, Some(&file))?;
    Cli::from_arg_matches(&matches).map_err(ArgsError::Clap)
}

fn matches_of(
    argv: &[OsString],
    injected: &[Injected],
    file: Option<&ConfigFile>,
) -> Result<clap::ArgMatches, ArgsError> {
    Cli::command()
        .try_get_matches_from(argv)
        .map_err(|e| refused(e, argv, injected, file))
}

/// A value clap's parser refused becomes one line naming where it came from; anything else
/// (unknown flag, missing argument, help) stays clap's whole message.
fn refused(
    e: clap::Error,
    argv: &[OsString],
    injected: &[Injected],
    file: Option<&ConfigFile>,
) -> ArgsError {
    if !matches!(
        e.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return ArgsError::Clap(e);
    }
    let text = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let (Some(arg), Some(value)) = (
        text(ContextKind::InvalidArg),
        text(ContextKind::InvalidValue),
    ) else {
        return ArgsError::Clap(e);
    };
    let long = arg
        .split_whitespace()
        .next()
        .unwrap_or(&arg)
        .trim_start_matches('-')
        .to_string();
    let why = match e.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(valid)) => expected_one_of(valid),
        _ => std::error::Error::source(&e).map_or_else(|| e.kind().to_string(), |s| s.to_string()),
    };
    let origin = origin(&long, argv, injected, file);
    ArgsError::Refused(format!("invalid {origin} '{value}': {why}"))
}

/// Where the refused value of `--long` came from: the command line, the file, or the variable.
fn origin(
    long: &str,
    argv: &[OsString],
    injected: &[Injected],
    file: Option<&ConfigFile>,
) -> String {
    let flag = format!("--{long}");
    if let (Some(i), Some(file)) = (
        injected.iter().find(|i| i.id.replace('_', "-") == long),
        file,
    ) {
        return format!("{} in {}", i.key, file.path.display());
    }
    let typed = argv
        .iter()
        .take_while(|a| a.to_str() != Some("--"))
        .filter_map(|a| a.to_str())
        .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
    if typed {
        return flag;
    }
    // The variable of the flag in the subcommand that was run (`--seed` of `load` reads
    // MONLAB_LOAD_SEED, of `serve` MONLAB_SEED).
    // A global flag (`incident --url`) is declared on a parent: search from the deepest up.
    let command = Cli::command();
    let mut path = vec![&command];
    for word in argv.iter().skip(1).filter_map(|a| a.to_str()) {
        if let Some(sub) = path.last().and_then(|c| c.find_subcommand(word)) {
            path.push(sub);
        }
    }
    let env = path
        .iter()
        .rev()
        .flat_map(|c| c.get_arguments())
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .and_then(|v| v.to_str())
        .filter(|v| std::env::var_os(v).is_some())
        .map(str::to_string);
    env.unwrap_or(flag)
}

/// "expected a, b or c".
fn expected_one_of(valid: &[String]) -> String {
    match valid {
        [] => "not an allowed value".into(),
        [one] => format!("expected {one}"),
        [init @ .., last] => format!("expected {} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;
    use std::io::Write;

    fn args(list: &[&str]) -> Vec<OsString> {
        std::iter::once("monlab")
            .chain(list.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn refusal(list: &[&str]) -> String {
        match parse(args(list)) {
            Err(ArgsError::Refused(line)) => line,
            other => panic!("{list:?}: {other:?}"),
        }
    }

    #[test]
    fn the_file_fills_what_the_flags_leave_and_flags_win() {
        let f =
            file("[server]\nlisten = \"127.0.0.1:1\"\nconcurrency_limit = 7\n[load]\nrate = 5\n");
        let path = f.path().to_str().unwrap();
        let Ok(Cli {
            command: Command::Serve(serve),
        }) = parse(args(&[
            "serve",
            "--config",
            path,
            "--listen",
            "127.0.0.1:3",
        ]))
        else {
            panic!("serve parses");
        };
        assert_eq!(serve.listen.port(), 3);
        assert_eq!(serve.concurrency_limit, 7);
        assert_eq!(serve.holdout_share, 0.02, "the default holdout");
        // The same file serves `load`, which reads its own table.
        let parsed = parse(args(&["load", "--config", path]));
        let Ok(Cli {
            command: Command::Load(load),
        }) = parsed
        else {
            panic!("load parses: {parsed:?}");
        };
        assert_eq!(load.rate, 5.0);
    }

    #[test]
    fn refusals_name_the_setting_and_its_origin_in_one_line() {
        let bad_delay = file("[random]\ndelay = \"normal(mean=0.05, std_dev=0.02)\"\n");
        let typo = file("[server]\nlisen = \"x\"\n");
        let broken = file("[server\n");
        let holdout = file("[model]\nholdout_share = 1.5\n");
        let cases = [
            (
                vec!["serve", "--listen", "nope"],
                "invalid --listen 'nope': expected an address",
            ),
            (
                vec!["serve", "--config", bad_delay.path().to_str().unwrap()],
                "invalid random.delay in",
            ),
            (
                vec!["serve", "--config", typo.path().to_str().unwrap()],
                "unknown setting server.lisen",
            ),
            (
                vec!["serve", "--config", broken.path().to_str().unwrap()],
                "is not valid TOML at line 1",
            ),
            (
                vec!["serve", "--shutdown-grace", "soon"],
                "invalid --shutdown-grace 'soon'",
            ),
            (
                vec!["serve", "--value=normal(mean=1, std_dev=0)"],
                "invalid --value 'normal(mean=1, std_dev=0)': normal: std_dev must be",
            ),
            (
                vec!["serve", "--holdout-share", "-0.1"],
                "invalid --holdout-share '-0.1': expected a share from 0 to 1",
            ),
            (
                vec!["serve", "--config", holdout.path().to_str().unwrap()],
                "invalid model.holdout_share in",
            ),
            (
                vec!["load", "--arrivals", "bursty"],
                "invalid --arrivals 'bursty': expected constant or poisson",
            ),
            (
                vec!["recover", "--metric", "latency"],
                "invalid --metric 'latency': expected value, delay or both",
            ),
        ];
        for (list, want) in cases {
            let line = refusal(&list);
            assert!(line.contains(want), "{line:?} lacks {want:?}");
            assert!(!line.contains('\n'), "{line:?} is not one line");
        }
    }

    #[test]
    fn every_file_key_names_a_flag_of_its_command() {
        let command = Cli::command();
        for (sub, key, id) in FILE_KEYS {
            let sub = command.find_subcommand(sub).expect("subcommand");
            assert!(
                sub.get_arguments().any(|a| a.get_id() == id),
                "{key}: no argument {id}"
            );
        }
    }
}

#[cfg(test)]
mod readme {
    use super::*;

    /// The README's configuration table is a copy for readers: every row must name a real
    /// flag of `serve`, its variable, its file key and the default that runs.
    #[test]
    fn the_readme_table_matches_the_command_line() {
        let readme = include_str!("../../README.md");
        let command = Cli::command();
        let serve = command.find_subcommand("serve").expect("serve");
        let rows: Vec<Vec<&str>> = readme
            .lines()
            .skip_while(|l| !l.starts_with("| flag | env | file key | default |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| l.split('|').map(|c| c.trim().trim_matches('`')).collect())
            .collect();
        assert_eq!(
            rows.len(),
            FILE_KEYS.iter().filter(|(s, _, _)| *s == "serve").count(),
            "one README row per serve setting"
        );
        for row in rows {
            let (flag, env, key, default) = (row[1], row[2], row[3], row[4]);
            let arg = serve
                .get_arguments()
                .find(|a| a.get_long() == flag.strip_prefix("--"))
                .unwrap_or_else(|| panic!("README names {flag}, which serve does not have"));
            assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(env), "{flag}");
            assert!(
                FILE_KEYS.contains(&("serve", key, arg.get_id().as_str())),
                "{flag}: file key {key} is not the one monlab reads"
            );
            let runs: Vec<_> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            match runs.as_slice() {
                [value] => assert!(
                    default.starts_with(value.as_str()),
                    "{flag}: README says {default:?}, monlab runs {value:?}"
                ),
                _ => assert!(
                    !default.starts_with(|c: char| c.is_ascii_digit()),
                    "{flag}: README gives a default ({default}) that monlab does not have"
                ),
            }
        }
    }
}
