//! The synthetic credit-risk population: how applicants and their outcomes are generated.
//!
//! This is the written-down truth the model is trained on and the load generator draws from:
//! - age ~ Normal(40, 12) clipped to [18, 90]
//! - income ~ LogNormal(ln 45,000, 0.5)
//! - debt_ratio ~ Beta(2, 5)
//! - credit_history_months ~ Gamma(shape 2, scale 40), capped at 600
//! - employment: employed 70%, self-employed 15%, unemployed 10%, student 5%
//! - region: north 30%, south 30%, east 20%, west 20% (no effect on the outcome: a distractor)
//! - default ~ Bernoulli(sigmoid(z)) with
//!   z = −1.2 + 4.0·(debt_ratio − 0.3) − 0.9·ln(income / 45,000) − 0.008·(history − 80)
//!   − 0.02·(age − 40) + 0.4·[self-employed] + 1.6·[unemployed] + 0.8·[student]
//!
//! Under the `concept-drift` incident a recession changes the relation, not the applicants:
//! z = −0.4 + 1.0·(debt_ratio − 0.3) + 0.03·(age − 40) + 1.2·[self-employed]
//! \+ 0.6·[unemployed] + 1.5·[student]. Defaults rise from about 30% to 48%, debt matters
//! less, income and credit history no longer protect, and older applicants are riskier
//! ([`RECESSION_COEFFICIENTS`]).

use super::features::{Employment, Features, Region};
use rand::Rng;
use rand_distr::{Beta, Distribution, Gamma, LogNormal, Normal};

/// The true coefficients of the outcome, in the order of [`TRUE_COEFFICIENTS`]'s doc.
/// (intercept, debt_ratio, ln income ratio, history, age, self-employed, unemployed, student)
pub const TRUE_COEFFICIENTS: [f64; 8] = [-1.2, 4.0, -0.9, -0.008, -0.02, 0.4, 1.6, 0.8];

/// The coefficients of the relation during the `concept-drift` incident, in the order of
/// [`TRUE_COEFFICIENTS`]. With them the shipped model's accuracy falls from about 0.75 to
/// about 0.54 while its inputs, scores and decisions stay as they were.
pub const RECESSION_COEFFICIENTS: [f64; 8] = [-0.4, 1.0, 0.0, 0.0, 0.03, 1.2, 0.6, 1.5];

/// Which relation between features and outcome holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Regime {
    /// The relation the model was trained on ([`TRUE_COEFFICIENTS`]).
    #[default]
    Normal,
    /// The `concept-drift` incident ([`RECESSION_COEFFICIENTS`]).
    Recession,
}

impl Regime {
    /// The coefficients of this regime.
    pub fn coefficients(self) -> &'static [f64; 8] {
        match self {
            Self::Normal => &TRUE_COEFFICIENTS,
            Self::Recession => &RECESSION_COEFFICIENTS,
        }
    }
}

/// Rounds a numeric feature the way the population writes it (whole years and months,
/// incomes to 100, debt ratios to 0.001) and keeps it in the range requests may carry.
pub fn round_like_population(feature: &str, x: f64) -> f64 {
    let (lo, hi) = super::features::range(feature);
    let x = match feature {
        "income" => (x / 100.0).round() * 100.0,
        "debt_ratio" => (x * 1000.0).round() / 1000.0,
        _ => x.round(),
    };
    x.clamp(lo, hi)
}

/// Draws applicants and outcomes from the population.
#[derive(Debug, Clone)]
pub struct Generator {
    age: Normal<f64>,
    income: LogNormal<f64>,
    debt: Beta<f64>,
    history: Gamma<f64>,
}

impl Default for Generator {
    fn default() -> Self {
        // The parameters are constants known to be valid.
        Self {
            age: Normal::new(40.0, 12.0).expect("valid normal"),
            income: LogNormal::new(45_000f64.ln(), 0.5).expect("valid lognormal"),
            debt: Beta::new(2.0, 5.0).expect("valid beta"),
            history: Gamma::new(2.0, 40.0).expect("valid gamma"),
        }
    }
}

/// The logistic function.
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Generator {
    /// Draws one applicant.
    pub fn features<R: Rng + ?Sized>(&self, rng: &mut R) -> Features {
        let employment = match rng.random::<f64>() {
            u if u < 0.70 => Employment::Employed,
            u if u < 0.85 => Employment::SelfEmployed,
            u if u < 0.95 => Employment::Unemployed,
            _ => Employment::Student,
        };
        let region = match rng.random::<f64>() {
            u if u < 0.3 => Region::North,
            u if u < 0.6 => Region::South,
            u if u < 0.8 => Region::East,
            _ => Region::West,
        };
        Features {
            age: Some(self.age.sample(rng).clamp(18.0, 90.0).round()),
            income: Some((self.income.sample(rng) / 100.0).round() * 100.0),
            debt_ratio: Some((self.debt.sample(rng) * 1000.0).round() / 1000.0),
            credit_history_months: Some(self.history.sample(rng).min(600.0).round()),
            employment: Some(employment),
            region: Some(region),
        }
    }

    /// The probability of default under `regime`.
    pub fn default_probability_in(regime: Regime, f: &Features) -> f64 {
        let c = regime.coefficients();
        let e = f.employment.unwrap_or(Employment::Employed);
        let z = c[0]
            + c[1] * (f.debt_ratio.unwrap_or(0.3) - 0.3)
            + c[2] * (f.income.unwrap_or(45_000.0).max(1.0) / 45_000.0).ln()
            + c[3] * (f.credit_history_months.unwrap_or(80.0) - 80.0)
            + c[4] * (f.age.unwrap_or(40.0) - 40.0)
            + c[5] * f64::from(e == Employment::SelfEmployed)
            + c[6] * f64::from(e == Employment::Unemployed)
            + c[7] * f64::from(e == Employment::Student);
        sigmoid(z)
    }

    /// Draws one applicant and whether they default.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> (Features, bool) {
        let f = self.features(rng);
        let label = Self::outcome(Regime::Normal, &f, rng);
        (f, label)
    }

    /// Draws whether an applicant with features `f` defaults under `regime`.
    pub fn outcome<R: Rng + ?Sized>(regime: Regime, f: &Features, rng: &mut R) -> bool {
        rng.random::<f64>() < Self::default_probability_in(regime, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn population_matches_its_description() {
        let g = Generator::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let n = 50_000;
        let rows: Vec<(Features, bool)> = (0..n).map(|_| g.sample(&mut rng)).collect();
        let mean =
            |f: &dyn Fn(&Features) -> f64| rows.iter().map(|(x, _)| f(x)).sum::<f64>() / n as f64;
        assert!((mean(&|x| x.age.unwrap()) - 40.0).abs() < 0.5);
        assert!((mean(&|x| x.debt_ratio.unwrap()) - 2.0 / 7.0).abs() < 0.005);
        let unemployed = rows
            .iter()
            .filter(|(x, _)| x.employment == Some(Employment::Unemployed))
            .count() as f64
            / n as f64;
        assert!((unemployed - 0.10).abs() < 0.01);
        let default_rate = rows.iter().filter(|(_, y)| *y).count() as f64 / n as f64;
        assert!(
            (0.15..0.40).contains(&default_rate),
            "default rate {default_rate}"
        );
    }
}
