//! The model's inputs: four numeric and two categorical features.
//!
//! A request must name every feature; a value may be `null` when upstream has none (it is then
//! imputed and counted as missing). Unknown fields, wrong types and unknown categories are
//! refused with the field named, and unknown categories are counted, never used as labels.

use serde::{Deserialize, Serialize};

/// Numeric feature names, in model order.
pub const NUMERIC: [&str; 4] = ["age", "income", "debt_ratio", "credit_history_months"];
/// Categorical feature names.
pub const CATEGORICAL: [&str; 2] = ["employment", "region"];

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
pub fn range(feature: &str) -> (f64, f64) {
    match feature {
        "age" => (18.0, 100.0),
        "income" => (0.0, 10_000_000.0),
        "debt_ratio" => (0.0, 5.0),
        _ => (0.0, 1200.0),
    }
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Invalid {
    /// Not a JSON object.
    NotAnObject,
    /// A feature key is absent.
    Missing(&'static str),
    /// A key that is not a feature.
    Unknown(String),
    /// Wrong JSON type (e.g. a string for a number).
    WrongType(&'static str),
    /// A number outside the allowed range.
    OutOfRange(&'static str, f64),
    /// A category the model does not know.
    UnknownCategory(&'static str),
}

impl Invalid {
    /// The field to blame.
    pub fn field(&self) -> String {
        match self {
            Self::NotAnObject => "body".into(),
            Self::Missing(f)
            | Self::WrongType(f)
            | Self::OutOfRange(f, _)
            | Self::UnknownCategory(f) => (*f).into(),
            Self::Unknown(f) => f.chars().take(64).collect(),
        }
    }

    /// A one-line message naming the field.
    pub fn message(&self) -> String {
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

/// Parses and validates the features of a request body; `extra` keys (like `user`) are allowed.
pub fn parse(body: &serde_json::Value, extra: &[&str]) -> Result<Features, Invalid> {
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
}
