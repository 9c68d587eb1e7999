//! The one-line spec syntax for distributions, used by flags, environment and config files.
//!
//! ```text
//! normal(mean=100, std_dev=15)        lognormal(mu=-3.2, sigma=0.5)
//! exponential(rate=20)                gamma(shape=2, scale=0.025)
//! uniform(low=0, high=1)              constant(value=0.05)
//! mixture(0.7*normal(mean=0, std_dev=1), 0.3*normal(mean=6, std_dev=2))
//! ```
//! Parsing and printing round-trip, so a spec printed by `/distributions` can be fed back.

use super::{Component, Distribution};
use std::fmt;

/// A spec that does not parse or whose parameters are invalid; the text says which.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(String);

impl SpecError {
    pub(super) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Parses and validates a spec.
pub(super) fn parse(text: &str) -> Result<Distribution, SpecError> {
    let mut p = Parser { s: text, pos: 0 };
    let dist = p.dist()?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(SpecError::new(format!(
            "unexpected '{}' after the distribution in '{text}'",
            &p.s[p.pos..]
        )));
    }
    dist.validate()?;
    Ok(normalise(dist))
}

/// Scales mixture weights to sum to 1, so equal mixtures compare equal.
fn normalise(dist: Distribution) -> Distribution {
    match dist {
        Distribution::Mixture(parts) => {
            let total: f64 = parts.iter().map(|p| p.weight).sum();
            Distribution::Mixture(
                parts
                    .into_iter()
                    .map(|p| Component {
                        weight: p.weight / total,
                        dist: normalise(p.dist),
                    })
                    .collect(),
            )
        }
        other => other,
    }
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.s[self.pos..].starts_with(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.s[self.pos..].starts_with(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, after: &str) -> Result<(), SpecError> {
        self.expect_one_of(c, &format!("'{c}'"), after)
    }

    /// Like `expect`, naming every token that would have fitted (`wanted`) in the error.
    fn expect_one_of(&mut self, c: char, wanted: &str, after: &str) -> Result<(), SpecError> {
        if self.eat(c) {
            Ok(())
        } else {
            let rest = &self.s[self.pos..];
            let found = if rest.is_empty() {
                "the end".to_string()
            } else {
                format!("'{rest}'")
            };
            Err(SpecError::new(format!(
                "expected {wanted} {after} in '{}', found {found}",
                self.s
            )))
        }
    }

    fn ident(&mut self) -> &str {
        self.skip_ws();
        let start = self.pos;
        while self.s[self.pos..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn number(&mut self, what: &str) -> Result<f64, SpecError> {
        self.skip_ws();
        let start = self.pos;
        while self.s[self.pos..]
            .starts_with(|c: char| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        {
            self.pos += 1;
        }
        let raw = &self.s[start..self.pos];
        raw.parse::<f64>().map_err(|_| {
            SpecError::new(format!(
                "{what} must be a number, got '{}'",
                if raw.is_empty() {
                    &self.s[start..]
                } else {
                    raw
                }
            ))
        })
    }

    fn dist(&mut self) -> Result<Distribution, SpecError> {
        let name = self.ident().to_ascii_lowercase();
        if name.is_empty() {
            return Err(SpecError::new(format!(
                "expected a distribution name (one of {}, mixture) in '{}'",
                super::FAMILIES.join(", "),
                self.s
            )));
        }
        self.expect('(', &format!("after '{name}'"))?;
        if name == "mixture" {
            return self.mixture();
        }
        let allowed: &[&str] = match name.as_str() {
            "constant" => &["value"],
            "uniform" => &["low", "high"],
            "normal" => &["mean", "std_dev"],
            "lognormal" => &["mu", "sigma"],
            "exponential" => &["rate"],
            "gamma" => &["shape", "scale"],
            _ => {
                return Err(SpecError::new(format!(
                    "unknown distribution '{name}' (expected one of {}, mixture)",
                    super::FAMILIES.join(", ")
                )))
            }
        };
        let mut values: Vec<Option<f64>> = vec![None; allowed.len()];
        if !self.eat(')') {
            loop {
                let key = self.ident().to_string();
                let Some(slot) = allowed.iter().position(|a| *a == key) else {
                    return Err(SpecError::new(format!(
                        "unknown parameter '{key}' for {name} (expected {})",
                        allowed.join(", ")
                    )));
                };
                self.expect('=', &format!("after '{key}'"))?;
                if values[slot].is_some() {
                    return Err(SpecError::new(format!("{name}: {key} is given twice")));
                }
                values[slot] = Some(self.number(&format!("{name}: {key}"))?);
                if self.eat(')') {
                    break;
                }
                self.expect_one_of(',', "',' or ')'", "after a parameter")?;
            }
        }
        let mut got = Vec::with_capacity(allowed.len());
        for (key, value) in allowed.iter().zip(values) {
            got.push(value.ok_or_else(|| {
                SpecError::new(format!(
                    "{name}: missing parameter {key} (expected {})",
                    allowed.join(", ")
                ))
            })?);
        }
        Ok(match name.as_str() {
            "constant" => Distribution::Constant { value: got[0] },
            "uniform" => Distribution::Uniform {
                low: got[0],
                high: got[1],
            },
            "normal" => Distribution::Normal {
                mean: got[0],
                std_dev: got[1],
            },
            "lognormal" => Distribution::LogNormal {
                mu: got[0],
                sigma: got[1],
            },
            "exponential" => Distribution::Exponential { rate: got[0] },
            _ => Distribution::Gamma {
                shape: got[0],
                scale: got[1],
            },
        })
    }

    fn mixture(&mut self) -> Result<Distribution, SpecError> {
        let mut parts = Vec::new();
        loop {
            let weight = self.number("mixture: weight")?;
            self.expect('*', "between a mixture weight and its distribution")?;
            let dist = self.dist()?;
            parts.push(Component { weight, dist });
            if self.eat(')') {
                return Ok(Distribution::Mixture(parts));
            }
            self.expect_one_of(',', "',' or ')'", "after a mixture component")?;
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Distribution::Mixture(parts) = self {
            write!(f, "mixture(")?;
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    write!(f, ", ")?;
                }
                write!(f, "{}*{}", p.weight, p.dist)?;
            }
            return write!(f, ")");
        }
        write!(f, "{}(", self.family())?;
        for (i, (k, v)) in self.params().iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{k}={v}")?;
        }
        write!(f, ")")
    }
}

impl std::str::FromStr for Distribution {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl serde::Serialize for Distribution {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Distribution {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for spec in [
            "normal(mean=100, std_dev=15)",
            "lognormal(mu=-3.2, sigma=0.5)",
            "exponential(rate=20)",
            "gamma(shape=2, scale=0.025)",
            "uniform(low=0, high=1)",
            "constant(value=0.05)",
            "mixture(0.7*normal(mean=0, std_dev=1), 0.3*normal(mean=6, std_dev=2))",
        ] {
            let d = parse(spec).unwrap();
            assert_eq!(d.to_string(), spec);
            assert_eq!(parse(&d.to_string()).unwrap(), d);
        }
    }

    #[test]
    fn whitespace_and_case_are_forgiven_and_weights_normalised() {
        let d = parse(" Mixture( 1 * constant(value=1) , 3*constant( value = 2 ) ) ").unwrap();
        assert_eq!(
            d.to_string(),
            "mixture(0.25*constant(value=1), 0.75*constant(value=2))"
        );
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let cases = [
            (
                "normal(mean=1, std_dev=-2)",
                "std_dev must be a finite number > 0",
            ),
            ("normal(mean=1)", "missing parameter std_dev"),
            ("normal(mean=1, sd=2)", "unknown parameter 'sd' for normal"),
            ("cauchy(x=1)", "unknown distribution 'cauchy'"),
            (
                "gamma(shape=0, scale=1)",
                "shape must be a finite number > 0",
            ),
            ("uniform(low=2, high=1)", "high must be greater than low"),
            (
                "exponential(rate=abc)",
                "exponential: rate must be a number, got 'abc",
            ),
            (
                "normal(mean=1, std_dev=2",
                "expected ',' or ')' after a parameter",
            ),
            ("normal(mean=1, std_dev=2) x", "unexpected 'x'"),
            ("mixture()", "mixture: weight must be a number"),
            (
                "mixture(-1*constant(value=1))",
                "weights must be finite numbers > 0",
            ),
            ("normal(mean=1, mean=2)", "mean is given twice"),
            ("", "expected a distribution name"),
        ];
        for (spec, want) in cases {
            let err = parse(spec).unwrap_err().to_string();
            assert!(err.contains(want), "{spec:?}: {err:?} lacks {want:?}");
        }
    }
}
