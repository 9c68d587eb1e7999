//! Probability distributions: the ones the service draws from and the ones `recover` fits.
//!
//! A [`Distribution`] is a validated value: every constructor path (the spec parser, serde)
//! checks parameters, so code that holds one never meets a negative scale. Sampling goes
//! through [`Sampler`] (rand_distr); the maths (CDF, quantile, density) through statrs.

mod spec;

pub use spec::SpecError;

use rand::Rng;
use rand_distr::Distribution as _;
use statrs::distribution::{Continuous, ContinuousCDF};

/// A distribution family with its parameters, or a weighted mixture of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    /// Always the same value.
    Constant {
        /// The value.
        value: f64,
    },
    /// Uniform on `[low, high)`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound (greater than `low`).
        high: f64,
    },
    /// Normal (Gaussian).
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation (positive).
        std_dev: f64,
    },
    /// Log-normal: `exp(X)` with `X ~ Normal(mu, sigma)`.
    LogNormal {
        /// Mean of the logarithm.
        mu: f64,
        /// Standard deviation of the logarithm (positive).
        sigma: f64,
    },
    /// Exponential with the given rate (events per unit).
    Exponential {
        /// Rate, the inverse of the mean (positive).
        rate: f64,
    },
    /// Gamma with shape and scale (mean = shape × scale).
    Gamma {
        /// Shape (positive).
        shape: f64,
        /// Scale (positive).
        scale: f64,
    },
    /// A weighted mixture; weights are normalised to sum to 1.
    Mixture(Vec<Component>),
}

/// One weighted part of a mixture.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Weight, normalised so that a mixture's weights sum to 1.
    pub weight: f64,
    /// The component distribution.
    pub dist: Distribution,
}

/// The families that have closed-form parameters (everything but a mixture).
pub const FAMILIES: [&str; 6] = [
    "constant",
    "uniform",
    "normal",
    "lognormal",
    "exponential",
    "gamma",
];

impl Distribution {
    /// Parses a spec such as `normal(mean=100, std_dev=15)`; see [`spec`](self) for the grammar.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        spec::parse(text)
    }

    /// The family name as written in specs.
    pub fn family(&self) -> &'static str {
        match self {
            Self::Constant { .. } => "constant",
            Self::Uniform { .. } => "uniform",
            Self::Normal { .. } => "normal",
            Self::LogNormal { .. } => "lognormal",
            Self::Exponential { .. } => "exponential",
            Self::Gamma { .. } => "gamma",
            Self::Mixture(_) => "mixture",
        }
    }

    /// The named parameters in spec order (empty for a mixture).
    pub fn params(&self) -> Vec<(&'static str, f64)> {
        match *self {
            Self::Constant { value } => vec![("value", value)],
            Self::Uniform { low, high } => vec![("low", low), ("high", high)],
            Self::Normal { mean, std_dev } => vec![("mean", mean), ("std_dev", std_dev)],
            Self::LogNormal { mu, sigma } => vec![("mu", mu), ("sigma", sigma)],
            Self::Exponential { rate } => vec![("rate", rate)],
            Self::Gamma { shape, scale } => vec![("shape", shape), ("scale", scale)],
            Self::Mixture(_) => Vec::new(),
        }
    }

    /// Checks the parameters; the error names the parameter and what is allowed.
    pub fn validate(&self) -> Result<(), SpecError> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(SpecError::new(format!(
                    "{}: {name} must be a finite number > 0, got {v}",
                    self.family()
                )))
            }
        };
        let finite = |name: &str, v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(SpecError::new(format!(
                    "{}: {name} must be a finite number, got {v}",
                    self.family()
                )))
            }
        };
        match *self {
            Self::Constant { value } => finite("value", value),
            Self::Uniform { low, high } => {
                finite("low", low)?;
                finite("high", high)?;
                if high <= low {
                    return Err(SpecError::new(format!(
                        "uniform: high must be greater than low, got low={low} high={high}"
                    )));
                }
                Ok(())
            }
            Self::Normal { mean, std_dev } => {
                finite("mean", mean)?;
                positive("std_dev", std_dev)
            }
            Self::LogNormal { mu, sigma } => {
                finite("mu", mu)?;
                positive("sigma", sigma)
            }
            Self::Exponential { rate } => positive("rate", rate),
            Self::Gamma { shape, scale } => {
                positive("shape", shape)?;
                positive("scale", scale)
            }
            Self::Mixture(ref parts) => {
                if parts.is_empty() {
                    return Err(SpecError::new("mixture: needs at least one component"));
                }
                for part in parts {
                    if !(part.weight.is_finite() && part.weight > 0.0) {
                        return Err(SpecError::new(format!(
                            "mixture: weights must be finite numbers > 0, got {}",
                            part.weight
                        )));
                    }
                    part.dist.validate()?;
                }
                Ok(())
            }
        }
    }

    /// Checks that draws are never negative, as a delay must be.
    ///
    /// A normal is accepted when its mean is at least six standard deviations above zero
    /// (a negative draw then has probability below 1e-9 and is clamped to zero).
    pub fn validate_non_negative(&self) -> Result<(), SpecError> {
        match *self {
            Self::Constant { value } if value < 0.0 => Err(SpecError::new(format!(
                "constant: value must be >= 0 for a delay, got {value}"
            ))),
            Self::Uniform { low, .. } if low < 0.0 => Err(SpecError::new(format!(
                "uniform: low must be >= 0 for a delay, got {low}"
            ))),
            Self::Normal { mean, std_dev } if mean < 6.0 * std_dev => Err(SpecError::new(format!(
                "normal: a delay must not go below zero, so mean must be >= 6 × std_dev \
                 (got mean={mean}, std_dev={std_dev}); lognormal or gamma fit delays better"
            ))),
            Self::Mixture(ref parts) => parts
                .iter()
                .try_for_each(|p| p.dist.validate_non_negative()),
            _ => Ok(()),
        }
    }

    /// The expected value.
    pub fn mean(&self) -> f64 {
        match *self {
            Self::Constant { value } => value,
            Self::Uniform { low, high } => (low + high) / 2.0,
            Self::Normal { mean, .. } => mean,
            Self::LogNormal { mu, sigma } => (mu + sigma * sigma / 2.0).exp(),
            Self::Exponential { rate } => 1.0 / rate,
            Self::Gamma { shape, scale } => shape * scale,
            Self::Mixture(ref parts) => parts.iter().map(|p| p.weight * p.dist.mean()).sum(),
        }
    }

    /// The variance.
    pub fn variance(&self) -> f64 {
        match *self {
            Self::Constant { .. } => 0.0,
            Self::Uniform { low, high } => (high - low).powi(2) / 12.0,
            Self::Normal { std_dev, .. } => std_dev * std_dev,
            Self::LogNormal { mu, sigma } => {
                let s2 = sigma * sigma;
                (s2.exp() - 1.0) * (2.0 * mu + s2).exp()
            }
            Self::Exponential { rate } => 1.0 / (rate * rate),
            Self::Gamma { shape, scale } => shape * scale * scale,
            Self::Mixture(ref parts) => {
                // Law of total variance: E[Var] + Var[E].
                let mean = self.mean();
                parts
                    .iter()
                    .map(|p| p.weight * (p.dist.variance() + (p.dist.mean() - mean).powi(2)))
                    .sum()
            }
        }
    }

    /// P(X <= x).
    pub fn cdf(&self, x: f64) -> f64 {
        match *self {
            Self::Constant { value } => {
                if x >= value {
                    1.0
                } else {
                    0.0
                }
            }
            Self::Uniform { low, high } => ((x - low) / (high - low)).clamp(0.0, 1.0),
            Self::Normal { mean, std_dev } => {
                statrs::distribution::Normal::new(mean, std_dev).map_or(f64::NAN, |d| d.cdf(x))
            }
            Self::LogNormal { mu, sigma } => {
                if x <= 0.0 {
                    0.0
                } else {
                    statrs::distribution::LogNormal::new(mu, sigma).map_or(f64::NAN, |d| d.cdf(x))
                }
            }
            Self::Exponential { rate } => {
                if x <= 0.0 {
                    0.0
                } else {
                    1.0 - (-rate * x).exp()
                }
            }
            Self::Gamma { shape, scale } => {
                if x <= 0.0 {
                    0.0
                } else {
                    statrs::function::gamma::gamma_lr(shape, x / scale)
                }
            }
            Self::Mixture(ref parts) => parts.iter().map(|p| p.weight * p.dist.cdf(x)).sum(),
        }
    }

    /// The density at `x` (0 for a constant, whose mass is a point).
    pub fn pdf(&self, x: f64) -> f64 {
        match *self {
            Self::Constant { .. } => 0.0,
            Self::Uniform { low, high } => {
                if (low..high).contains(&x) {
                    1.0 / (high - low)
                } else {
                    0.0
                }
            }
            Self::Normal { mean, std_dev } => {
                statrs::distribution::Normal::new(mean, std_dev).map_or(f64::NAN, |d| d.pdf(x))
            }
            Self::LogNormal { mu, sigma } => {
                if x <= 0.0 {
                    0.0
                } else {
                    statrs::distribution::LogNormal::new(mu, sigma).map_or(f64::NAN, |d| d.pdf(x))
                }
            }
            Self::Exponential { rate } => {
                if x < 0.0 {
                    0.0
                } else {
                    rate * (-rate * x).exp()
                }
            }
            Self::Gamma { shape, scale } => {
                if x <= 0.0 {
                    0.0
                } else {
                    statrs::distribution::Gamma::new(shape, 1.0 / scale)
                        .map_or(f64::NAN, |d| d.pdf(x))
                }
            }
            Self::Mixture(ref parts) => parts.iter().map(|p| p.weight * p.dist.pdf(x)).sum(),
        }
    }

    /// The smallest x with P(X <= x) >= p, for p in (0, 1).
    pub fn quantile(&self, p: f64) -> f64 {
        let p = p.clamp(1e-15, 1.0 - 1e-15);
        match *self {
            Self::Constant { value } => value,
            Self::Uniform { low, high } => low + p * (high - low),
            Self::Normal { mean, std_dev } => statrs::distribution::Normal::new(mean, std_dev)
                .map_or(f64::NAN, |d| d.inverse_cdf(p)),
            Self::LogNormal { mu, sigma } => statrs::distribution::LogNormal::new(mu, sigma)
                .map_or(f64::NAN, |d| d.inverse_cdf(p)),
            Self::Exponential { rate } => -(1.0 - p).ln() / rate,
            Self::Gamma { .. } | Self::Mixture(_) => self.quantile_by_bisection(p),
        }
    }

    /// Inverts the CDF numerically, for families without a closed-form quantile.
    fn quantile_by_bisection(&self, p: f64) -> f64 {
        let (mut lo, mut hi) = self.bracket();
        // Widen until the bracket holds p (heavy tails).
        for _ in 0..200 {
            if self.cdf(lo) <= p {
                break;
            }
            lo -= (hi - lo).max(1.0);
        }
        for _ in 0..200 {
            if self.cdf(hi) >= p {
                break;
            }
            hi += (hi - lo).max(1.0);
        }
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if self.cdf(mid) < p {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo <= 1e-12 * hi.abs().max(1e-300) {
                break;
            }
        }
        hi
    }

    /// A starting interval for bisection: mean ± 10 standard deviations, cut at the support.
    fn bracket(&self) -> (f64, f64) {
        let mean = self.mean();
        let sd = self.variance().sqrt().max(1e-9);
        let lo = if self.is_non_negative() {
            0.0
        } else {
            mean - 10.0 * sd
        };
        (lo, mean + 10.0 * sd)
    }

    /// Whether every draw is >= 0 by the family's support.
    pub fn is_non_negative(&self) -> bool {
        match *self {
            Self::Constant { value } => value >= 0.0,
            Self::Uniform { low, .. } => low >= 0.0,
            Self::Normal { .. } => false,
            Self::LogNormal { .. } | Self::Exponential { .. } | Self::Gamma { .. } => true,
            Self::Mixture(ref parts) => parts.iter().all(|p| p.dist.is_non_negative()),
        }
    }

    /// Builds the sampler; the distribution must be valid.
    pub fn sampler(&self) -> Sampler {
        // Parameters were validated when the distribution was built, so the constructors below
        // cannot fail; the fallbacks only keep this function total.
        match *self {
            Self::Constant { value } => Sampler::Constant(value),
            Self::Uniform { low, high } => {
                rand_distr::Uniform::new(low, high).map_or(Sampler::Constant(low), Sampler::Uniform)
            }
            Self::Normal { mean, std_dev } => rand_distr::Normal::new(mean, std_dev)
                .map_or(Sampler::Constant(mean), Sampler::Normal),
            Self::LogNormal { mu, sigma } => rand_distr::LogNormal::new(mu, sigma)
                .map_or(Sampler::Constant(mu.exp()), Sampler::LogNormal),
            Self::Exponential { rate } => rand_distr::Exp::new(rate)
                .map_or(Sampler::Constant(1.0 / rate), Sampler::Exponential),
            Self::Gamma { shape, scale } => rand_distr::Gamma::new(shape, scale)
                .map_or(Sampler::Constant(shape * scale), Sampler::Gamma),
            Self::Mixture(ref parts) => {
                match rand_distr::weighted::WeightedIndex::new(parts.iter().map(|p| p.weight)) {
                    Ok(index) => {
                        Sampler::Mixture(index, parts.iter().map(|p| p.dist.sampler()).collect())
                    }
                    Err(_) => Sampler::Constant(self.mean()),
                }
            }
        }
    }
}

/// Draws values of a [`Distribution`]; built once, used for every request.
#[derive(Debug, Clone)]
pub enum Sampler {
    /// Always this value.
    Constant(f64),
    /// Uniform.
    Uniform(rand_distr::Uniform<f64>),
    /// Normal.
    Normal(rand_distr::Normal<f64>),
    /// Log-normal.
    LogNormal(rand_distr::LogNormal<f64>),
    /// Exponential.
    Exponential(rand_distr::Exp<f64>),
    /// Gamma.
    Gamma(rand_distr::Gamma<f64>),
    /// Picks a component by weight, then draws from it.
    Mixture(rand_distr::weighted::WeightedIndex<f64>, Vec<Sampler>),
}

impl Sampler {
    /// Draws one value.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self {
            Self::Constant(v) => *v,
            Self::Uniform(d) => d.sample(rng),
            Self::Normal(d) => d.sample(rng),
            Self::LogNormal(d) => d.sample(rng),
            Self::Exponential(d) => d.sample(rng),
            Self::Gamma(d) => d.sample(rng),
            Self::Mixture(index, parts) => parts[index.sample(rng)].sample(rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn moments(d: &Distribution, n: usize) -> (f64, f64) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let s = d.sampler();
        let xs: Vec<f64> = (0..n).map(|_| s.sample(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        (mean, var)
    }

    /// Sample mean and variance agree with the family's within about 5 standard errors.
    #[test]
    fn sample_moments_match_parameters() {
        let n = 200_000;
        for spec in [
            "uniform(low=2, high=5)",
            "normal(mean=100, std_dev=15)",
            "lognormal(mu=-3.2, sigma=0.5)",
            "exponential(rate=20)",
            "gamma(shape=2, scale=0.025)",
            "mixture(0.7*normal(mean=0, std_dev=1), 0.3*normal(mean=6, std_dev=2))",
        ] {
            let d = Distribution::parse(spec).unwrap();
            let (mean, var) = moments(&d, n);
            let se_mean = (d.variance() / n as f64).sqrt();
            assert!(
                (mean - d.mean()).abs() < 5.0 * se_mean,
                "{spec}: sample mean {mean} vs {}",
                d.mean()
            );
            // The variance of the sample variance needs the fourth moment; 3% is > 5 SE here.
            assert!(
                (var / d.variance() - 1.0).abs() < 0.03,
                "{spec}: sample variance {var} vs {}",
                d.variance()
            );
        }
    }

    #[test]
    fn constant_is_constant() {
        let d = Distribution::parse("constant(value=0.25)").unwrap();
        assert_eq!(moments(&d, 100), (0.25, 0.0));
    }

    #[test]
    fn quantile_inverts_cdf() {
        for spec in [
            "normal(mean=100, std_dev=15)",
            "lognormal(mu=-3.2, sigma=0.5)",
            "exponential(rate=20)",
            "gamma(shape=2, scale=0.025)",
            "uniform(low=-1, high=1)",
            "mixture(0.5*normal(mean=0, std_dev=1), 0.5*normal(mean=10, std_dev=1))",
        ] {
            let d = Distribution::parse(spec).unwrap();
            for p in [0.001, 0.1, 0.5, 0.9, 0.999] {
                let x = d.quantile(p);
                assert!(
                    (d.cdf(x) - p).abs() < 1e-7,
                    "{spec} p={p}: cdf(q)={}",
                    d.cdf(x)
                );
            }
        }
    }

    #[test]
    fn pdf_integrates_to_cdf() {
        let d = Distribution::parse("gamma(shape=3, scale=2)").unwrap();
        let (a, b, n) = (0.5, 9.0, 20_000);
        let h = (b - a) / n as f64;
        let integral: f64 = (0..n).map(|i| d.pdf(a + (i as f64 + 0.5) * h) * h).sum();
        assert!((integral - (d.cdf(b) - d.cdf(a))).abs() < 1e-6);
    }

    #[test]
    fn delays_must_not_go_negative() {
        for bad in [
            "normal(mean=0.05, std_dev=0.02)",
            "uniform(low=-0.1, high=0.2)",
            "constant(value=-1)",
            "mixture(0.5*exponential(rate=1), 0.5*uniform(low=-1, high=1))",
        ] {
            let d = Distribution::parse(bad).unwrap();
            assert!(
                d.validate_non_negative().is_err(),
                "{bad} accepted as a delay"
            );
        }
        let ok = Distribution::parse("normal(mean=1, std_dev=0.1)").unwrap();
        assert!(ok.validate_non_negative().is_ok());
    }
}
