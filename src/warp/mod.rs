//! The time warp's transform of the monitoring files: every duration divided by a speed K.
//!
//! `monlab up --speed K` runs the whole system K times faster. Traffic per second grows K
//! times, and so must everything that measures time in the monitoring files: rule windows,
//! `for:`, evaluation and scrape intervals, Alertmanager's grouping timers, promtool's test
//! clocks. These functions take a file's text and return the scaled text; they do no I/O.
//!
//! - [`Speed`]: K, validated to 1..=60.
//! - [`scale_expr`]: one PromQL expression, scaled in its syntax tree.
//! - [`scale_rules`], [`scale_prometheus_config`], [`scale_alertmanager`],
//!   [`scale_rule_test`]: whole files.
//! - [`Units`] and [`audit_rules`]: which quantities change with K (per-second rates, system
//!   time) and which rules compare such a quantity with a fixed number, so are not
//!   scale-invariant.
//! - [`prometheus_flags`]: Prometheus's own duration flags, scaled.
//!
//! What is scaled and why is written down in docs/time-warp.md.

mod expr;
mod files;

pub use expr::{scale_expr, Unit, Units};
pub use files::{
    audit_rules, scale_alertmanager, scale_prometheus_config, scale_rule_test, scale_rules, Finding,
};

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The slowest and fastest speeds `--speed` accepts.
pub const SPEEDS: std::ops::RangeInclusive<u32> = 1..=60;

/// Something the warp cannot transform.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A speed outside 1..=60 or not a whole number.
    #[error("speed must be a whole number from 1 to 60, got {0:?}")]
    Speed(String),
    /// A PromQL expression that does not parse.
    #[error("cannot parse PromQL {expr:?}: {message}")]
    Promql {
        /// The expression.
        expr: String,
        /// The parser's message.
        message: String,
    },
    /// A value that is not a Prometheus duration.
    #[error("{field}: {value:?} is not a duration like 15s, 5m or 250ms")]
    Duration {
        /// Where it was.
        field: String,
        /// What it was.
        value: String,
    },
    /// A duration that K would shrink below a millisecond.
    #[error("{field}: {value} divided by {speed} is shorter than 1ms")]
    TooShort {
        /// Where it was.
        field: String,
        /// The duration.
        value: String,
        /// The speed.
        speed: Speed,
    },
    /// A test-file duration K does not divide into whole milliseconds: rounding would move
    /// samples across window edges and change what the test checks.
    #[error("{field}: {value} is not a whole number of milliseconds at speed {speed}")]
    Inexact {
        /// Where it was.
        field: String,
        /// The duration.
        value: String,
        /// The speed.
        speed: Speed,
    },
    /// A file that is not valid YAML, or not of the expected shape.
    #[error("{0}")]
    Shape(String),
    /// A YAML (de)serialisation error.
    #[error(transparent)]
    Yaml(#[from] serde_yaml::Error),
}

/// The speed K of the time warp: every duration of the system divided by K (1..=60).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Speed(u32);

impl Speed {
    /// Real time: nothing changes.
    pub const ONE: Speed = Speed(1);

    /// K, or an error naming the allowed range.
    pub fn new(k: u32) -> Result<Speed, Error> {
        if SPEEDS.contains(&k) {
            Ok(Speed(k))
        } else {
            Err(Error::Speed(k.to_string()))
        }
    }

    /// Parses `--speed` text such as `15`.
    pub fn parse(text: &str) -> Result<Speed, Error> {
        text.trim()
            .parse::<u32>()
            .map_err(|_| Error::Speed(text.into()))
            .and_then(Speed::new)
    }

    /// K as a number.
    pub fn get(self) -> u32 {
        self.0
    }

    /// Whether time is warped at all (K is not 1), so there is anything to scale.
    pub fn is_warped(self) -> bool {
        self != Speed::ONE
    }

    /// `d / K`, rounded to the nearest millisecond (Prometheus's finest duration unit).
    pub fn scale(self, d: Duration) -> Duration {
        let k = u128::from(self.0);
        let ms = (d.as_millis() + k / 2) / k;
        Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    /// `d / K` when it is a whole number of milliseconds.
    pub fn scale_exact(self, d: Duration) -> Option<Duration> {
        let k = u128::from(self.0);
        let ms = d.as_millis();
        (d.subsec_nanos().is_multiple_of(1_000_000) && ms.is_multiple_of(k))
            .then(|| Duration::from_millis(u64::try_from(ms / k).unwrap_or(u64::MAX)))
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Speed {
    type Err = Error;
    fn from_str(s: &str) -> Result<Speed, Error> {
        Speed::parse(s)
    }
}

/// Parses a Prometheus duration (`1h30m`, `15s`, `250ms`, `0s`; units y w d h m s ms).
pub fn parse_duration(text: &str) -> Option<Duration> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut ms: u64 = 0;
    // Units must come in decreasing order, each at most once, as in Prometheus.
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let at = UNITS[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
        ms = ms.checked_add(n.checked_mul(UNITS[at].1)?)?;
        next_unit = at + 1;
    }
    Some(Duration::from_millis(ms))
}

/// Formats a duration in the one largest unit that holds it exactly (`5m`, `20s`, `42857ms`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Scales one duration field's text; `field` names it in errors.
pub(crate) fn scale_duration_text(
    field: &str,
    text: &str,
    k: Speed,
    exact: bool,
) -> Result<String, Error> {
    let d = parse_duration(text).ok_or_else(|| Error::Duration {
        field: field.into(),
        value: text.into(),
    })?;
    let scaled = if exact {
        k.scale_exact(d).ok_or_else(|| Error::Inexact {
            field: field.into(),
            value: text.into(),
            speed: k,
        })?
    } else {
        k.scale(d)
    };
    if scaled.is_zero() && !d.is_zero() {
        return Err(Error::TooShort {
            field: field.into(),
            value: text.into(),
            speed: k,
        });
    }
    Ok(format_duration(scaled))
}

/// Prometheus's duration flags at speed K: `--query.lookback-delta` (default 5m),
/// `--rules.alert.resend-delay` (1m) and `--rules.alert.for-grace-period` (10m), divided by K.
///
/// The lookback delta must shrink with the scrape interval, or a series that stopped would
/// stay visible for 5 minutes of real time, which is 5·K minutes of system time.
pub fn prometheus_flags(k: Speed) -> Vec<String> {
    [
        ("--query.lookback-delta", 300),
        ("--rules.alert.resend-delay", 60),
        ("--rules.alert.for-grace-period", 600),
    ]
    .into_iter()
    .map(|(flag, secs)| {
        let d = k.scale(Duration::from_secs(secs));
        format!("{flag}={}", format_duration(d))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_is_validated_with_a_message_naming_the_range() {
        assert_eq!(Speed::parse("15").unwrap().get(), 15);
        assert_eq!(" 1 ".parse::<Speed>().unwrap(), Speed::ONE);
        for bad in ["0", "61", "-1", "2.5", "fast", ""] {
            let err = Speed::parse(bad).unwrap_err().to_string();
            assert!(err.contains("from 1 to 60"), "{bad}: {err}");
        }
    }

    #[test]
    fn durations_parse_and_format_like_prometheus() {
        let ms = |text: &str| parse_duration(text).map(|d| d.as_millis());
        assert_eq!(ms("1h30m"), Some(5_400_000));
        assert_eq!(ms("250ms"), Some(250));
        assert_eq!(ms("0s"), Some(0));
        assert_eq!(ms("1w"), Some(604_800_000));
        assert_eq!(ms("30m1h"), None);
        assert_eq!(ms("5"), None);
        assert_eq!(ms("5 m"), None);
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_millis(42_857)), "42857ms");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
    }

    #[test]
    fn scaling_rounds_to_milliseconds_and_refuses_what_vanishes() {
        let k7 = Speed::new(7).unwrap();
        assert_eq!(
            scale_duration_text("x", "5m", k7, false).unwrap(),
            "42857ms"
        );
        assert!(matches!(
            scale_duration_text("x", "5m", k7, true),
            Err(Error::Inexact { .. })
        ));
        let k60 = Speed::new(60).unwrap();
        assert_eq!(scale_duration_text("x", "15s", k60, true).unwrap(), "250ms");
        assert_eq!(scale_duration_text("x", "0s", k60, true).unwrap(), "0s");
        assert!(matches!(
            scale_duration_text("x", "20ms", k60, false),
            Err(Error::TooShort { .. })
        ));
        assert!(matches!(
            scale_duration_text("group_wait", "soon", k60, false),
            Err(Error::Duration { .. })
        ));
    }

    #[test]
    fn prometheus_flags_shrink_with_k() {
        assert_eq!(
            prometheus_flags(Speed::ONE),
            [
                "--query.lookback-delta=5m",
                "--rules.alert.resend-delay=1m",
                "--rules.alert.for-grace-period=10m"
            ]
        );
        assert_eq!(
            prometheus_flags(Speed::new(60).unwrap()),
            [
                "--query.lookback-delta=5s",
                "--rules.alert.resend-delay=1s",
                "--rules.alert.for-grace-period=10s"
            ]
        );
    }
}
