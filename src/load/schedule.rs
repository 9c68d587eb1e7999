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
use std::time::Duration;

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

/// How the rate varies over a run. `--rate` is always the peak, so a shaped load never
/// sends faster than a flat one at the same `--rate` (the time warp's load limit holds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// The same rate all the time.
    Flat,
    /// A day of traffic compressed into `period`: the rate follows a cosine from
    /// [`DIURNAL_LOW`] of the peak at the start ("midnight") to [`DIURNAL_HIGH`] at half the
    /// period ("noon"), and every [`BURST_EVERY`] of system time a burst of [`BURST_FOR`]
    /// multiplies it by [`BURST_FACTOR`], capped at the peak.
    Diurnal {
        /// The length of one day (24h for a real one).
        #[serde(with = "crate::api::duration::text")]
        period: Duration,
        /// How often a burst comes (system time until warped).
        #[serde(with = "crate::api::duration::text")]
        burst_every: Duration,
        /// How long a burst lasts.
        #[serde(with = "crate::api::duration::text")]
        burst_for: Duration,
    },
}

/// The night's rate, as a share of the peak.
pub(crate) const DIURNAL_LOW: f64 = 0.25;
/// Noon's rate, as a share of the peak; bursts lift it the rest of the way.
pub(crate) const DIURNAL_HIGH: f64 = 0.8;
/// How much a burst multiplies the rate by (at noon it reaches the peak).
pub(crate) const BURST_FACTOR: f64 = 1.25;
/// How often a burst comes, in system time: not a divisor of an hour, so bursts fall at every
/// phase of the scrape and evaluation cycles.
pub(crate) const BURST_EVERY: Duration = Duration::from_secs(37 * 60);
/// How long a burst lasts: longer than the 1-minute paging windows, shorter than `for` + a window.
pub(crate) const BURST_FOR: Duration = Duration::from_secs(3 * 60);

impl Shape {
    /// A diurnal shape of one `period`, with the standard bursts.
    pub fn diurnal(period: Duration) -> Self {
        Self::Diurnal {
            period,
            burst_every: BURST_EVERY,
            burst_for: BURST_FOR,
        }
    }

    /// The share of the peak rate at `t` seconds from the start, in (0, 1].
    pub fn factor(self, t: f64) -> f64 {
        match self {
            Self::Flat => 1.0,
            Self::Diurnal {
                period,
                burst_every,
                burst_for,
            } => {
                let phase = t / period.as_secs_f64() * std::f64::consts::TAU;
                let day = DIURNAL_LOW + (DIURNAL_HIGH - DIURNAL_LOW) * (1.0 - phase.cos()) / 2.0;
                let burst = t.rem_euclid(burst_every.as_secs_f64()) < burst_for.as_secs_f64();
                if burst {
                    (day * BURST_FACTOR).min(1.0)
                } else {
                    day
                }
            }
        }
    }

    /// The same shape in the time warp's wall time: every duration K times shorter.
    pub fn warped(self, speed: crate::warp::Speed) -> Self {
        match self {
            Self::Flat => Self::Flat,
            Self::Diurnal {
                period,
                burst_every,
                burst_for,
            } => Self::Diurnal {
                period: speed.scale(period),
                burst_every: speed.scale(burst_every),
                burst_for: speed.scale(burst_for),
            },
        }
    }

    /// Parses `flat`, `diurnal` (a 24h day) or `diurnal:PERIOD` (e.g. `diurnal:6h`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad =
            || format!("expected flat, diurnal or diurnal:PERIOD (e.g. diurnal:6h), got {text:?}");
        match text.split_once(':') {
            None if text == "flat" => Ok(Self::Flat),
            None if text == "diurnal" => Ok(Self::diurnal(Duration::from_secs(24 * 3600))),
            Some(("diurnal", p)) => {
                let period = crate::api::duration::parse(p).map_err(|_| bad())?;
                if period < Duration::from_secs(60) {
                    return Err(format!("a diurnal period must be at least 1m, got {p}"));
                }
                Ok(Self::diurnal(period))
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flat => f.write_str("flat"),
            Self::Diurnal { period, .. } => {
                write!(f, "diurnal:{}", crate::warp::format_duration(*period))
            }
        }
    }
}

/// The intended send times of one run, in order, as seconds from its start.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    arrivals: Arrivals,
    rate: f64,
    shape: Shape,
    index: u64,
    clock: f64,
    rng: SmallRng,
}

impl Schedule {
    /// A schedule whose rate at `t` is `rate × shape.factor(t)`: the arrivals of the peak
    /// rate, each kept with that share as its probability (thinning, which turns Poisson
    /// arrivals of the peak into Poisson arrivals of the varying rate). `rate` must be finite
    /// and greater than zero (the config guarantees it).
    pub(crate) fn shaped(arrivals: Arrivals, rate: f64, shape: Shape, rng: SmallRng) -> Self {
        Self {
            arrivals,
            rate,
            shape,
            index: 0,
            clock: 0.0,
            rng,
        }
    }

    /// The next intended send time, in seconds from the start of the run.
    pub(crate) fn next_offset(&mut self) -> f64 {
        loop {
            let t = self.next_peak_offset();
            // A flat load draws nothing here, so its seeded runs stay as they were.
            if self.shape == Shape::Flat {
                return t;
            }
            let keep: f64 = rand::Rng::random(&mut self.rng);
            if keep < self.shape.factor(t) {
                return t;
            }
        }
    }

    /// The next arrival at the peak rate.
    fn next_peak_offset(&mut self) -> f64 {
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
        let mut s = Schedule::shaped(arrivals, rate, Shape::Flat, SmallRng::seed_from_u64(7));
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
    fn a_diurnal_load_follows_its_day_and_bursts() {
        let day = Duration::from_secs(6 * 3600);
        let shape = Shape::diurnal(day);
        assert_eq!(shape.factor(0.0), DIURNAL_LOW * BURST_FACTOR); // a burst at midnight
        assert!((shape.factor(day.as_secs_f64() / 2.0) - DIURNAL_HIGH).abs() < 1e-12);
        let peak = (0..200_000)
            .map(|i| shape.factor(f64::from(i) * 0.108))
            .fold(0.0, f64::max);
        assert!(peak <= 1.0 && peak > 0.99, "peak {peak}");
        // Arrivals per 10-minute bin match the rate integrated over the bin.
        let rate = 50.0;
        let mut s = Schedule::shaped(Arrivals::Poisson, rate, shape, SmallRng::seed_from_u64(3));
        let bin = 600.0;
        let mut counts = vec![0u32; (day.as_secs_f64() / bin) as usize];
        loop {
            let t = s.next_offset();
            match counts.get_mut((t / bin) as usize) {
                Some(c) => *c += 1,
                None => break,
            }
        }
        for (i, &c) in counts.iter().enumerate() {
            let expected: f64 = (0..600)
                .map(|j| rate * shape.factor(i as f64 * bin + f64::from(j) + 0.5))
                .sum();
            // Poisson counts: within 5 standard deviations.
            let z = (f64::from(c) - expected) / expected.sqrt();
            assert!(
                z.abs() < 5.0,
                "bin {i}: {c} arrivals, expected {expected:.0}"
            );
        }
        // Night is a quarter of the peak, noon most of it: the ramp is there.
        assert!(counts[0] < counts[counts.len() / 2] / 2, "{counts:?}");
        // The warp shortens the day and its bursts, not the shares.
        let fast = shape.warped(crate::warp::Speed::new(60).unwrap());
        assert_eq!(fast.factor(180.0), shape.factor(180.0 * 60.0));
    }

    #[test]
    fn shapes_parse_from_their_flag_values() {
        assert_eq!(Shape::parse("flat"), Ok(Shape::Flat));
        assert_eq!(
            Shape::parse("diurnal"),
            Ok(Shape::diurnal(Duration::from_secs(86_400)))
        );
        assert_eq!(
            Shape::parse("diurnal:6h"),
            Ok(Shape::diurnal(Duration::from_secs(21_600)))
        );
        assert_eq!(
            Shape::parse("diurnal:6h").unwrap().to_string(),
            "diurnal:6h"
        );
        for bad in ["ramp", "diurnal:soon", "diurnal:10s", "flat:1h"] {
            assert!(Shape::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arrivals_parse_from_their_flag_values() {
        assert_eq!("constant".parse(), Ok(Arrivals::Constant));
        assert_eq!("poisson".parse(), Ok(Arrivals::Poisson));
        assert!("weird".parse::<Arrivals>().is_err());
    }
}
