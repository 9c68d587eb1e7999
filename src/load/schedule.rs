//! When each request is meant to leave: the open-loop arrival schedule.
//!
//! Times are offsets from the start of the run, computed from the request's index (constant)
//! or from a running sum of exponential gaps (poisson), never from when the previous request
//! actually left. A slow server therefore cannot slow the schedule down, which is what makes
//! the load open-loop. See [`Schedule`].

use rand::rngs::SmallRng;
use rand_distr::{Distribution, Exp1};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How arrivals are spaced in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Arrivals {
    /// Exactly `1/rate` apart: easy to reason about, and what the accuracy benchmark uses.
    Constant,
    /// Independent users: exponential gaps with mean `1/rate`, so bursts happen as in production.
    Poisson,
}

impl Arrivals {
    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Constant => "constant",
            Self::Poisson => "poisson",
        }
    }
}

impl fmt::Display for Arrivals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Arrivals {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "constant" => Ok(Self::Constant),
            "poisson" => Ok(Self::Poisson),
            _ => Err("expected constant or poisson".into()),
        }
    }
}

/// The intended send times of one run, in order, as seconds from its start.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    arrivals: Arrivals,
    rate: f64,
    index: u64,
    clock: f64,
    rng: SmallRng,
}

impl Schedule {
    /// A schedule of `rate` arrivals per second; `rate` must be finite and greater than zero
    /// (the config guarantees it).
    pub(crate) fn new(arrivals: Arrivals, rate: f64, rng: SmallRng) -> Self {
        Self {
            arrivals,
            rate,
            index: 0,
            clock: 0.0,
            rng,
        }
    }

    /// The next intended send time, in seconds from the start of the run.
    pub(crate) fn next_offset(&mut self) -> f64 {
        let t = match self.arrivals {
            // From the index, not by adding 1/rate each time, so rounding never accumulates.
            Arrivals::Constant => self.index as f64 / self.rate,
            Arrivals::Poisson => {
                let gap: f64 = Exp1.sample(&mut self.rng);
                self.clock += gap / self.rate;
                self.clock
            }
        };
        self.index += 1;
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn offsets(arrivals: Arrivals, rate: f64, n: usize) -> Vec<f64> {
        let mut s = Schedule::new(arrivals, rate, SmallRng::seed_from_u64(7));
        (0..n).map(|_| s.next_offset()).collect()
    }

    #[test]
    fn constant_spacing_is_exact() {
        let rate = 20_000.0;
        let t = offsets(Arrivals::Constant, rate, 1_000_001);
        for (i, &x) in t.iter().enumerate() {
            assert_eq!(x, i as f64 / rate);
        }
        // A million arrivals later there is no drift at all: the millionth is at 50 s exactly.
        assert_eq!(t[1_000_000], 50.0);
        assert!(t
            .windows(2)
            .all(|w| ((w[1] - w[0]) - 1.0 / rate).abs() < 1e-9));
    }

    #[test]
    fn poisson_gaps_have_the_exponential_mean_and_variance() {
        let rate = 1_000.0;
        let n = 200_000;
        let t = offsets(Arrivals::Poisson, rate, n + 1);
        let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|&g| g >= 0.0));
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (gaps.len() - 1) as f64;
        // Standard errors at n = 200k: 0.22% for the mean, about 0.5% for the variance.
        assert!(
            (mean * rate - 1.0).abs() < 0.01,
            "mean gap {mean} vs {}",
            1.0 / rate
        );
        assert!(
            (var * rate * rate - 1.0).abs() < 0.03,
            "gap variance {var} vs {}",
            1.0 / (rate * rate)
        );
        // Counts per 10 ms window are Poisson(10): variance equals the mean.
        let windows = (t[n] / 0.01) as usize;
        let mut counts = vec![0u32; windows];
        for &x in &t {
            if let Some(c) = counts.get_mut((x / 0.01) as usize) {
                *c += 1;
            }
        }
        let m = counts.iter().map(|&c| f64::from(c)).sum::<f64>() / windows as f64;
        let v = counts
            .iter()
            .map(|&c| (f64::from(c) - m).powi(2))
            .sum::<f64>()
            / (windows - 1) as f64;
        assert!((v / m - 1.0).abs() < 0.05, "dispersion {}", v / m);
    }

    #[test]
    fn arrivals_parse_from_their_flag_values() {
        assert_eq!("constant".parse(), Ok(Arrivals::Constant));
        assert_eq!("poisson".parse(), Ok(Arrivals::Poisson));
        assert!("weird".parse::<Arrivals>().is_err());
    }
}
