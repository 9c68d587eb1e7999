//! Durations on the wire: text such as `250ms`, `90s` or `5m` in JSON and TOML, a
//! [`Duration`] everywhere else. They are parsed once, where they are read (serde, clap).

use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

/// Parses a duration such as `10s`, `250ms` or `5m`.
pub fn parse(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw)
        .map_err(|e| format!("{e}; expected a duration such as 250ms, 10s or 5m"))
}

/// The text of a duration, which [`parse`] reads back: `5m`, `1m 30s`, `250ms`.
pub fn format(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// `#[serde(with = "crate::api::duration::text")]` for a [`Duration`] field.
pub mod text {
    use super::*;

    /// Writes the text form.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    /// Reads the text form.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let raw = String::deserialize(d)?;
        parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// `#[serde(default, with = "crate::api::duration::option")]` for an `Option<Duration>` field.
pub mod option {
    use super::*;

    /// Writes the text form, or nothing.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&format(*d)),
            None => s.serialize_none(),
        }
    }

    /// Reads the text form; `null` is none.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|raw| parse(&raw).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_reads_back_to_the_same_duration() {
        for d in [
            Duration::from_secs(300),
            Duration::from_secs(90),
            Duration::from_millis(250),
        ] {
            assert_eq!(parse(&format(d)), Ok(d));
        }
        assert_eq!(format(Duration::from_secs(300)), "5m");
        assert!(parse("soon").unwrap_err().contains("such as 250ms"));
    }
}
