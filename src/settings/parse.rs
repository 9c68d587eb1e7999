//! The parsers every flag, `MONLAB_*` variable and config-file key goes through: one kind of
//! value is checked one way, with one message, whichever command reads it.
//!
//! Each is a `fn(&str) -> Result<T, String>` (clap's `value_parser` takes them as they are);
//! the message says what is allowed, and the caller adds which setting and where it came from.

use crate::distribution::Distribution;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

/// A duration such as `10s`, `250ms` or `5m`.
pub(crate) fn duration(raw: &str) -> Result<humantime::Duration, String> {
    crate::api::duration::parse(raw.trim()).map(Into::into)
}

/// A duration from `lo` to `hi` (both included); `lo` of zero and `hi` of [`Duration::MAX`]
/// leave that side open. The message names the allowed range.
pub(crate) fn duration_in(
    lo: Duration,
    hi: Duration,
) -> impl Fn(&str) -> Result<humantime::Duration, String> + Clone + Send + Sync + 'static {
    move |raw| {
        let d = duration(raw)?;
        let ok = *d >= lo && *d <= hi;
        match (ok, lo.is_zero(), hi == Duration::MAX) {
            (true, _, _) => Ok(d),
            (false, false, true) if lo <= Duration::from_millis(1) => {
                Err("must be greater than zero".into())
            }
            (false, false, true) => Err(format!("must be at least {}", text(lo))),
            (false, true, false) => Err(format!("must be at most {}", text(hi))),
            (false, _, _) if d.is_zero() => Err("must be greater than zero".into()),
            (false, _, _) if *d > hi => Err(format!("must be at most {}", text(hi))),
            (false, _, _) => Err(format!("must be from {} to {}", text(lo), text(hi))),
        }
    }
}

/// A duration greater than zero.
pub(crate) fn positive_duration(raw: &str) -> Result<humantime::Duration, String> {
    duration_in(Duration::from_nanos(1), Duration::MAX)(raw)
}

/// A duration as the flags write it, in its largest whole unit (`50ms`, `10s`, `5m`, `24h`,
/// `366d`).
pub(crate) fn text(d: Duration) -> String {
    let ms = d.as_millis();
    let units = [
        (86_400_000 * 2, 86_400_000, "d"),
        (3_600_000, 3_600_000, "h"),
        (60_000, 60_000, "m"),
        (1000, 1000, "s"),
    ];
    for (at_least, size, unit) in units {
        if ms >= at_least && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// `true` or `false` (also 1/0, yes/no, on/off).
pub(crate) fn boolean(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// Where a log goes: a file path, or `-` for stderr.
pub(crate) fn access_log(
    raw: &str,
) -> Result<crate::telemetry::access_log::AccessLogTarget, String> {
    raw.parse()
}

/// A whole number from `lo` to `hi`.
pub(crate) fn count_in(
    lo: u64,
    hi: u64,
) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |raw| match raw.trim().parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ if hi == u64::MAX => Err(format!("expected a whole number >= {lo}")),
        _ => Err(format!("expected a whole number from {lo} to {hi}")),
    }
}

/// A whole number of at least 1, as a size.
pub(crate) fn positive_count(raw: &str) -> Result<usize, String> {
    count_in(1, u64::MAX)(raw).and_then(|n| usize::try_from(n).map_err(|e| e.to_string()))
}

/// A seed: any whole number a u64 holds. Every command's `--seed` says the same.
pub(crate) fn seed(raw: &str) -> Result<u64, String> {
    raw.trim()
        .parse::<u64>()
        .map_err(|_| "expected a whole number from 0 to 18446744073709551615".into())
}

/// A TCP port from 1 to 65535.
pub(crate) fn port(raw: &str) -> Result<u16, String> {
    match raw.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err("expected a port from 1 to 65535".into()),
    }
}

/// A share from 0 to 1.
pub(crate) fn share(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err("expected a share from 0 to 1".into()),
    }
}

/// An address to listen on, such as `127.0.0.1:8080`.
pub(crate) fn socket_addr(raw: &str) -> Result<SocketAddr, String> {
    raw.trim()
        .parse::<SocketAddr>()
        .map_err(|_| "expected an address such as 127.0.0.1:8080".to_string())
}

/// A plain-HTTP base URL, kept without its trailing slash; a path (Prometheus's
/// `--web.route-prefix`) is kept. Every URL flag of every command goes through this one check.
pub(crate) fn http_base(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let hint = || "expected an http:// URL such as http://127.0.0.1:9090".to_string();
    let uri: http::Uri = raw.parse().map_err(|_| hint())?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err("https is not supported; use an http:// URL".into()),
        _ => return Err(hint()),
    }
    let authority = uri.authority().ok_or_else(hint)?;
    if authority.host().is_empty() || authority.as_str().contains('@') || uri.query().is_some() {
        return Err(hint());
    }
    Ok(raw.trim_end_matches('/').to_string())
}

/// The service's address for a client: an `http://host[:port]` URL without a path.
pub(crate) fn service_authority(raw: &str) -> Result<http::uri::Authority, String> {
    let base = http_base(raw)?;
    let uri: http::Uri = base
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())?;
    if !matches!(uri.path(), "" | "/") {
        return Err("give the service's base URL without a path; the routes are added".into());
    }
    uri.authority()
        .cloned()
        .ok_or_else(|| "expected an http:// URL such as http://127.0.0.1:8080".into())
}

/// The admin API's bearer token. One rule for every command that takes one: at least 8
/// characters, none of them whitespace or control characters (it travels in a header).
pub(crate) fn admin_token(raw: &str) -> Result<String, String> {
    if raw.chars().count() < 8 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err("must be at least 8 characters without spaces or control characters".into())
    } else {
        Ok(raw.to_string())
    }
}

/// A label value: non-empty, printable, one line.
pub(crate) fn label_value(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw.len() > 256 || raw.chars().any(char::is_control) {
        Err("expected 1-256 printable characters".into())
    } else {
        Ok(raw.to_string())
    }
}

/// A Pushgateway job name: 1-64 characters of A-Z, a-z, 0-9, '-', '_'.
pub(crate) fn job_name(raw: &str) -> Result<String, String> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(raw.to_string())
    } else {
        Err("expected 1-64 characters of A-Z, a-z, 0-9, '-', '_'".into())
    }
}

/// A distribution such as `normal(mean=100, std_dev=15)`.
pub(crate) fn distribution(raw: &str) -> Result<Distribution, String> {
    Distribution::parse(raw.trim()).map_err(|e| e.to_string())
}

/// A distribution that never draws a negative number (delays, latencies).
pub(crate) fn non_negative_distribution(raw: &str) -> Result<Distribution, String> {
    let dist = distribution(raw)?;
    dist.validate_non_negative().map_err(|e| e.to_string())?;
    Ok(dist)
}

/// The time warp K: a whole number from 1 to 60.
pub(crate) fn speed(raw: &str) -> Result<crate::warp::Speed, String> {
    crate::warp::Speed::parse(raw).map_err(|e| e.to_string())
}

/// An instant: Unix seconds, or RFC 3339 in UTC.
pub(crate) fn instant(raw: &str) -> Result<SystemTime, String> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<f64>() {
        return if secs.is_finite() && (0.0..1e11).contains(&secs) {
            Ok(std::time::UNIX_EPOCH + Duration::from_secs_f64(secs))
        } else {
            Err("Unix seconds must be from 0 to 1e11".into())
        };
    }
    humantime::parse_rfc3339_weak(raw).map_err(|_| {
        "expected RFC 3339 in UTC such as 2026-01-02T03:04:05Z, or Unix seconds".into()
    })
}

/// An RFC 3339 time, kept as written (trimmed).
pub(crate) fn rfc3339(raw: &str) -> Result<String, String> {
    humantime::parse_rfc3339(raw.trim())
        .map(|_| raw.trim().to_string())
        .map_err(|_| "expected an RFC 3339 time such as 2026-11-25T00:00:00Z".into())
}

/// A time relative to `now`: `now`, a time ago (`-2h`), Unix seconds or RFC 3339; as Unix
/// seconds.
pub(crate) fn time_before(raw: &str, now: SystemTime) -> Result<f64, String> {
    let raw = raw.trim();
    let t = if raw == "now" {
        now
    } else if let Some(ago) = raw.strip_prefix('-') {
        now.checked_sub(*duration(ago)?)
            .ok_or_else(|| "too far in the past".to_string())?
    } else {
        // Name every form the flags take, the relative one first (it is the one people type).
        instant(raw).map_err(|e| {
            if raw.parse::<f64>().is_ok() {
                e
            } else {
                "expected now, a time ago such as -2h or -30m, RFC 3339 in UTC such as \
                 2026-01-02T03:04:05Z, or Unix seconds"
                    .to_string()
            }
        })?
    };
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_ranges_name_the_side_that_was_crossed() {
        let any_positive = positive_duration;
        assert_eq!(any_positive("0s").unwrap_err(), "must be greater than zero");
        let bounded = duration_in(Duration::from_nanos(1), Duration::from_secs(86_400));
        assert_eq!(bounded("25h").unwrap_err(), "must be at most 24h");
        assert_eq!(bounded("0s").unwrap_err(), "must be greater than zero");
        let window = duration_in(Duration::from_millis(100), Duration::from_secs(300));
        assert_eq!(window("10ms").unwrap_err(), "must be from 100ms to 5m");
        let at_least = duration_in(Duration::from_secs(1), Duration::MAX);
        assert_eq!(at_least("10ms").unwrap_err(), "must be at least 1s");
        assert!(duration("soon")
            .unwrap_err()
            .contains("expected a duration"));
        assert_eq!(*bounded("2h").unwrap(), Duration::from_secs(7200));
    }

    #[test]
    fn one_token_rule_refuses_control_characters_and_spaces() {
        assert!(admin_token("secret-token").is_ok());
        assert!(admin_token("short").is_err());
        assert!(admin_token("has a space in it").is_err());
        assert!(admin_token("bell\u{7}character").is_err());
    }

    #[test]
    fn urls_are_checked_one_way() {
        assert_eq!(
            http_base("http://127.0.0.1:9090/").unwrap(),
            "http://127.0.0.1:9090"
        );
        assert_eq!(http_base("http://h:1/prom").unwrap(), "http://h:1/prom");
        assert!(http_base("https://h:1").unwrap_err().contains("https"));
        assert!(http_base("127.0.0.1:9090").is_err());
        assert!(http_base("http://u@h:1").is_err());
        assert!(service_authority("http://h:1/random").is_err());
        assert_eq!(service_authority("http://h:1").unwrap().as_str(), "h:1");
    }

    #[test]
    fn times_take_every_form_the_flags_name() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(10_000);
        assert_eq!(time_before("now", now).unwrap(), 10_000.0);
        assert_eq!(time_before("-1h", now).unwrap(), 6_400.0);
        assert_eq!(time_before("5000", now).unwrap(), 5_000.0);
        assert!(time_before("yesterday", now).unwrap_err().contains("-2h"));
    }
}
