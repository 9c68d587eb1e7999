//! The model's inputs: four numeric and two categorical features.
//!
//! A request must name every feature; a value may be `null` when upstream has none (it is then
//! imputed and counted as missing). Unknown fields, wrong types and unknown categories are
//! refused with the field named, and unknown categories are counted, never used as labels.

use serde::{Deserialize, Serialize};

/// Numeric feature names, in model order.
pub(crate) const NUMERIC: [&str; 4] = ["age", "income", "debt_ratio", "credit_history_months"];
/// Categorical feature names.
pub(crate) const CATEGORICAL: [&str; 2] = ["employment", "region"];

/// Employment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Employment {
    /// Salaried.
    Employed,
    /// Own business.
    SelfEmployed,
    /// Without work.
    Unemployed,
    /// In education.
    Student,
}

impl Employment {
    /// Every value, in the order the model's one-hot encoding uses.
    pub const ALL: [Self; 4] = [
        Self::Employed,
        Self::SelfEmployed,
        Self::Unemployed,
        Self::Student,
    ];
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Employed => "employed",
            Self::SelfEmployed => "self_employed",
            Self::Unemployed => "unemployed",
            Self::Student => "student",
        }
    }
}

/// Region of residence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// North.
    North,
    /// South.
    South,
    /// East.
    East,
    /// West.
    West,
}

impl Region {
    /// Every value, in one-hot order.
    pub const ALL: [Self; 4] = [Self::North, Self::South, Self::East, Self::West];
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::North => "north",
            Self::South => "south",
            Self::East => "east",
            Self::West => "west",
        }
    }
}

/// One applicant; `None` is a value upstream did not have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// Age in years, 18–100.
    pub age: Option<f64>,
    /// Yearly income, 0–10,000,000.
    pub income: Option<f64>,
    /// Debt payments over income, 0–5.
    pub debt_ratio: Option<f64>,
    /// Length of credit history in months, 0–1200.
    pub credit_history_months: Option<f64>,
    /// Employment status.
    pub employment: Option<Employment>,
    /// Region.
    pub region: Option<Region>,
}

/// Allowed range of each numeric feature; a value outside is refused and counted.
pub(crate) fn range(feature: &str) -> (f64, f64) {
    match feature {
        "age" => (18.0, 100.0),
        "income" => (0.0, 10_000_000.0),
        "debt_ratio" => (0.0, 5.0),
        _ => (0.0, 1200.0),
    }
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Invalid {
    /// Not a JSON object.
    NotAnObject,
    /// A feature key is absent.
    Missing(&'static str),
    /// A key that is not a feature.
    Unknown(String),
    /// Wrong JSON type (e.g. a string for a number).
    WrongType(&'static str),
    /// NaN or an infinity (JSON has neither, but clients write `NaN`, `Infinity`, `1e999`).
    NotFinite(&'static str),
    /// A number outside the allowed range.
    OutOfRange(&'static str, f64),
    /// A category the model does not know.
    UnknownCategory(&'static str),
}

impl Invalid {
    /// The field to blame.
    pub(crate) fn field(&self) -> String {
        match self {
            Self::NotAnObject => "body".into(),
            Self::Missing(f)
            | Self::WrongType(f)
            | Self::NotFinite(f)
            | Self::OutOfRange(f, _)
            | Self::UnknownCategory(f) => (*f).into(),
            Self::Unknown(f) => f.chars().take(64).collect(),
        }
    }

    /// A one-line message naming the field.
    pub(crate) fn message(&self) -> String {
        match self {
            Self::NotAnObject => "body must be a JSON object of features".into(),
            Self::Missing(f) => {
                format!("feature {f} is missing (send null when the value is unknown)")
            }
            Self::Unknown(f) => format!(
                "unknown field {:?} (features are {}, {})",
                f.chars().take(64).collect::<String>(),
                NUMERIC.join(", "),
                CATEGORICAL.join(", ")
            ),
            Self::WrongType(f) if CATEGORICAL.contains(f) => {
                format!("{f} must be a string or null")
            }
            Self::WrongType(f) => format!("{f} must be a finite number or null"),
            Self::NotFinite(f) => {
                format!("{f} must be a finite number or null, not NaN or an infinity")
            }
            Self::OutOfRange(f, v) => {
                let (lo, hi) = range(f);
                format!("{f} must be between {lo} and {hi}, got {v}")
            }
            Self::UnknownCategory(f) => {
                let known: Vec<&str> = if *f == "employment" {
                    Employment::ALL.iter().map(|e| e.as_str()).collect()
                } else {
                    Region::ALL.iter().map(|r| r.as_str()).collect()
                };
                format!("{f} must be one of {}", known.join(", "))
            }
        }
    }
}

/// What [`parse_body`] puts in place of a non-finite number, so validation can name the field.
const NON_FINITE: &str = "\u{1}non-finite number: ";

/// Parses a JSON body, also when it holds the non-finite numbers JSON does not allow but
/// clients send anyway (`NaN`, `Infinity`, `-Infinity` as Python's `json` writes them, or a
/// number too large for a double such as `1e999`). Each becomes a marker string that
/// [`parse`] refuses as [`Invalid::NotFinite`], naming the field. Anything else that is not
/// JSON stays an error.
pub(crate) fn parse_body(bytes: &[u8]) -> Result<serde_json::Value, serde_json::Error> {
    let first = match serde_json::from_slice(bytes) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    if !first.is_syntax() {
        return Err(first);
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(first);
    };
    let rewritten = mark_non_finite(text);
    if rewritten == text {
        return Err(first);
    }
    serde_json::from_str(&rewritten).map_err(|_| first)
}

/// Replaces, outside strings, the tokens NaN, Infinity (signed or not) and numbers that
/// overflow a double by the marker string.
fn mark_non_finite(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    let (mut i, mut copied) = (0, 0);
    let mut in_string = false;
    while i < b.len() {
        let c = b[i];
        if in_string {
            match c {
                b'\\' => i += 2,
                b'"' => {
                    in_string = false;
                    i += 1;
                }
                _ => i += 1,
            }
            continue;
        }
        if c == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let starts_token = c.is_ascii_alphanumeric() || c == b'-' || c == b'+' || c == b'.';
        if !starts_token {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b"-+.".contains(&b[i])) {
            i += 1;
        }
        let token = &text[start..i];
        let bare = token.trim_start_matches(['-', '+']);
        let non_finite = matches!(bare, "NaN" | "nan" | "Infinity" | "inf" | "Inf")
            || (bare.starts_with(|ch: char| ch.is_ascii_digit())
                && token.parse::<f64>().is_ok_and(|x| x.is_infinite()));
        if non_finite {
            out.push_str(&text[copied..start]);
            out.push('"');
            out.push_str(&NON_FINITE.replace('\u{1}', "\\u0001"));
            out.push_str(token);
            out.push('"');
            copied = i;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Parses and validates the features of a request body; `extra` keys (like `user`) are allowed.
pub(crate) fn parse(body: &serde_json::Value, extra: &[&str]) -> Result<Features, Invalid> {
    let obj = body.as_object().ok_or(Invalid::NotAnObject)?;
    for key in obj.keys() {
        let known = NUMERIC.contains(&key.as_str())
            || CATEGORICAL.contains(&key.as_str())
            || extra.contains(&key.as_str());
        if !known {
            return Err(Invalid::Unknown(key.clone()));
        }
    }
    let number = |f: &'static str| -> Result<Option<f64>, Invalid> {
        match obj.get(f) {
            None => Err(Invalid::Missing(f)),
            Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) if s.starts_with(NON_FINITE) => {
                Err(Invalid::NotFinite(f))
            }
            Some(v) => {
                let x = v
                    .as_f64()
                    .filter(|x| x.is_finite())
                    .ok_or(Invalid::WrongType(f))?;
                let (lo, hi) = range(f);
                if (lo..=hi).contains(&x) {
                    Ok(Some(x))
                } else {
                    Err(Invalid::OutOfRange(f, x))
                }
            }
        }
    };
    let category = |f: &'static str| -> Result<Option<&str>, Invalid> {
        match obj.get(f) {
            None => Err(Invalid::Missing(f)),
            Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(Invalid::WrongType(f)),
        }
    };
    let employment = match category("employment")? {
        None => None,
        Some(s) => Some(
            Employment::ALL
                .into_iter()
                .find(|e| e.as_str() == s)
                .ok_or(Invalid::UnknownCategory("employment"))?,
        ),
    };
    let region = match category("region")? {
        None => None,
        Some(s) => Some(
            Region::ALL
                .into_iter()
                .find(|r| r.as_str() == s)
                .ok_or(Invalid::UnknownCategory("region"))?,
        ),
    };
    Ok(Features {
        age: number("age")?,
        income: number("income")?,
        debt_ratio: number("debt_ratio")?,
        credit_history_months: number("credit_history_months")?,
        employment,
        region,
    })
}

impl Features {
    /// The numeric features in [`NUMERIC`] order.
    pub fn numeric(&self) -> [Option<f64>; 4] {
        [
            self.age,
            self.income,
            self.debt_ratio,
            self.credit_history_months,
        ]
    }

    /// The numeric feature at `index` of [`NUMERIC`], to change it; panics past the list,
    /// which would be a bug (indices come from the fixed list).
    pub fn numeric_mut(&mut self, index: usize) -> &mut Option<f64> {
        match index {
            0 => &mut self.age,
            1 => &mut self.income,
            2 => &mut self.debt_ratio,
            3 => &mut self.credit_history_months,
            _ => panic!("no numeric feature {index}"),
        }
    }

    /// Sets the feature called `name` to missing (unknown names change nothing).
    pub fn clear(&mut self, name: &str) {
        match name {
            "employment" => self.employment = None,
            "region" => self.region = None,
            other => {
                if let Some(i) = NUMERIC.iter().position(|n| *n == other) {
                    *self.numeric_mut(i) = None;
                }
            }
        }
    }

    /// The body a client sends for these features.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "age": self.age, "income": self.income, "debt_ratio": self.debt_ratio,
            "credit_history_months": self.credit_history_months,
            "employment": self.employment.map(Employment::as_str),
            "region": self.region.map(Region::as_str),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok() -> serde_json::Value {
        json!({"age": 35, "income": 52000.0, "debt_ratio": 0.3, "credit_history_months": 48,
               "employment": "employed", "region": "north"})
    }

    #[test]
    fn parses_and_accepts_nulls() {
        let f = parse(&ok(), &[]).unwrap();
        assert_eq!(f.age, Some(35.0));
        let mut b = ok();
        b["income"] = json!(null);
        b["region"] = json!(null);
        let f = parse(&b, &[]).unwrap();
        assert_eq!((f.income, f.region), (None, None));
        assert_eq!(parse(&f.to_json(), &[]).unwrap(), f);
    }

    #[test]
    fn refuses_with_the_field_named() {
        let with = |k: &str, v: serde_json::Value| {
            let mut b = ok();
            b[k] = v;
            parse(&b, &["user"]).unwrap_err()
        };
        assert_eq!(with("age", json!("old")), Invalid::WrongType("age"));
        assert_eq!(with("age", json!(7)), Invalid::OutOfRange("age", 7.0));
        assert_eq!(
            with("employment", json!("pirate")),
            Invalid::UnknownCategory("employment")
        );
        assert_eq!(with("region", json!(3)), Invalid::WrongType("region"));
        assert_eq!(with("colour", json!(1)), Invalid::Unknown("colour".into()));
        let mut b = ok();
        b.as_object_mut().unwrap().remove("debt_ratio");
        assert_eq!(parse(&b, &[]).unwrap_err(), Invalid::Missing("debt_ratio"));
        assert_eq!(parse(&json!([1]), &[]).unwrap_err(), Invalid::NotAnObject);
        assert!(parse(
            &{
                let mut b = ok();
                b["user"] = json!("u1");
                b
            },
            &["user"]
        )
        .is_ok());
        assert!(Invalid::UnknownCategory("region")
            .message()
            .contains("north"));
    }

    #[test]
    fn non_finite_numbers_are_named_not_rejected_as_syntax() {
        let body = br#"{"age": NaN, "income": 1, "debt_ratio": 0.2, "credit_history_months": 3,
                         "employment": "employed", "region": "north", "user": "Infinity"}"#;
        let v = parse_body(body).unwrap();
        // The string "Infinity" inside quotes is left alone.
        assert_eq!(v["user"], "Infinity");
        assert_eq!(parse(&v, &["user"]).unwrap_err(), Invalid::NotFinite("age"));
        for token in ["Infinity", "-Infinity", "1e999", "-1e400"] {
            let text = format!(r#"{{"income": {token}}}"#);
            let v = parse_body(text.as_bytes()).unwrap();
            let mut b = ok();
            b["income"] = v["income"].clone();
            assert_eq!(
                parse(&b, &[]).unwrap_err(),
                Invalid::NotFinite("income"),
                "{token}"
            );
        }
        assert!(Invalid::NotFinite("age").message().contains("age"));
        assert!(parse_body(b"{not json").is_err());
        assert!(parse_body(br#"{"a": nope}"#).is_err());
        assert_eq!(parse_body(b"[1.5e3]").unwrap(), json!([1500.0]));
    }
}
