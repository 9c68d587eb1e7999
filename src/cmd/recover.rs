//! `monlab recover`: the distributions rebuilt from Prometheus's histograms.

use super::{runtime, to_json, CliError};
use crate::cli::{MetricChoice, RecoverArgs};
use crate::recover::{Metric, RecoverConfig, RECOVER_MAX_WINDOW};
use std::time::SystemTime;

/// Recover's config; `now` ends the window when neither --end nor --start with --window says
/// otherwise.
pub(crate) fn config(args: &RecoverArgs, now: SystemTime) -> Result<RecoverConfig, CliError> {
    let window = args.window.map(Into::into);
    let (start, end) =
        match (args.start, args.end, window) {
            (Some(_), Some(_), Some(_)) => return Err(CliError::Usage(
                "--start, --end and --window together over-determine the window; give two of them"
                    .into(),
            )),
            (Some(s), Some(e), None) => (s, e),
            (Some(s), None, Some(w)) => (s, s + w),
            (Some(s), None, None) => (s, now),
            (None, e, w) => {
                let e = e.unwrap_or(now);
                let w = w.unwrap_or(RecoverConfig::DEFAULT_WINDOW);
                (e.checked_sub(w).unwrap_or(std::time::UNIX_EPOCH), e)
            }
        };
    if start >= end {
        return Err(CliError::Usage(format!(
            "the window starts at {} and ends at {}: the start must come first",
            humantime::format_rfc3339_seconds(start),
            humantime::format_rfc3339_seconds(end)
        )));
    }
    if end.duration_since(start).unwrap_or_default() > RECOVER_MAX_WINDOW {
        return Err(CliError::Usage(
            "the window must be at most 366d long".into(),
        ));
    }
    Ok(RecoverConfig {
        prometheus: args.prometheus.clone(),
        start,
        end,
        job: args.job.clone(),
        instance: args.instance.clone(),
        metrics: match args.metric {
            MetricChoice::Value => vec![Metric::Value],
            MetricChoice::Delay => vec![Metric::Delay],
            MetricChoice::Both => vec![Metric::Value, Metric::Delay],
        },
        source: args.source,
        truth_url: args.truth_url.clone(),
        truth_value: args.truth_value.clone(),
        truth_delay: args.truth_delay.clone(),
        min_samples: args.min_samples,
        plot: args.plot.clone(),
        buckets: args.buckets,
    })
}

pub(super) fn run(args: &RecoverArgs) -> Result<(), CliError> {
    let cfg = config(args, SystemTime::now())?;
    // Every failure here leaves the user without an answer they could use (no Prometheus, no
    // series, no data, too few samples, no picture): one line and exit 2, never a partial guess.
    let report = runtime()?
        .block_on(crate::recover::run(&cfg))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if args.json {
        println!("{}", to_json(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use std::time::Duration;

    fn now() -> SystemTime {
        std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn secs(t: SystemTime) -> u64 {
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    }

    /// `monlab recover FLAGS` through the real parser, then the window check.
    fn load(flags: &[&str]) -> Result<RecoverConfig, String> {
        let argv = ["monlab", "recover"].iter().chain(flags).map(Into::into);
        match crate::cmd::args::parse(argv) {
            Ok(Cli {
                command: Command::Recover(args),
            }) => config(&args, now()).map_err(|e| e.to_string()),
            Ok(other) => panic!("{other:?}"),
            Err(crate::cmd::args::ArgsError::Refused(line)) => Err(line),
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn the_window_is_resolved_from_any_two_of_start_end_and_length() {
        let c = load(&[]).unwrap();
        assert_eq!(
            (secs(c.start), secs(c.end)),
            (1_800_000_000 - 600, 1_800_000_000)
        );
        assert_eq!(c.prometheus, "http://127.0.0.1:9090");
        assert_eq!(c.metrics.len(), 2);
        // 2027-01-15T08:00:00Z is 1.8e9 Unix seconds.
        let c = load(&["--start", "2027-01-15T08:00:00Z", "--window", "1h"]).unwrap();
        assert_eq!(
            (secs(c.start), secs(c.end) - secs(c.start)),
            (1_800_000_000, 3600)
        );
        let c = load(&["--start", "1700000000", "--end", "1700000060.5"]).unwrap();
        assert_eq!((secs(c.start), secs(c.end)), (1_700_000_000, 1_700_000_060));
    }

    #[test]
    fn bad_recover_flags_name_the_flag_on_one_line() {
        let cases: [(&[&str], &str); 14] = [
            (&["--window", "soon"], "invalid --window 'soon'"),
            (&["--window", "0s"], "greater than zero"),
            (
                &["--start", "yesterday"],
                "invalid --start 'yesterday': expected RFC 3339",
            ),
            (
                &["--start", "1700000100", "--end", "1700000000"],
                "the start must come first",
            ),
            (
                &["--start", "1", "--end", "2", "--window", "1s"],
                "give two of them",
            ),
            (
                &["--prometheus", "https://p:9090"],
                "https is not supported",
            ),
            (&["--prometheus", "127.0.0.1:9090"], "invalid --prometheus"),
            (&["--metric", "latency"], "expected value, delay or both"),
            (&["--source", "summary"], "expected auto, native or classic"),
            (
                &["--truth-value", "weibull(k=1)"],
                "unknown distribution 'weibull'",
            ),
            (
                &["--truth-delay", "normal(mean=0, std_dev=1)"],
                "invalid --truth-delay",
            ),
            (&["--min-samples", "0"], "invalid --min-samples '0'"),
            (&["--plot", "out.jpg"], "must end in .png or .svg"),
            (&["--instance", ""], "invalid --instance"),
        ];
        for (flags, want) in cases {
            let err = load(flags).unwrap_err();
            assert!(err.contains(want), "{flags:?}: {err:?} lacks {want:?}");
            assert!(!err.contains('\n'), "{err:?} is not one line");
        }
    }
}
