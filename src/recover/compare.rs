//! How far a recovery is from the truth: distances between CDFs and parameter errors.
//!
//! See [`accuracy`]. Two distances, because they answer different questions:
//! - Kolmogorov–Smirnov, `sup |F − G|`: the largest error in any probability read off the
//!   recovered distribution (a quantile's rank, an SLO share). Scale-free, in [0, 1].
//! - Wasserstein-1, `∫ |F − G| dx`: how far mass has to move, in the metric's own unit (a
//!   shifted mean shows up here in full even where KS stays small). Also given per standard
//!   deviation of the truth, to compare across metrics.
//!
//! Suprema and integrals are taken on a grid made of every bucket edge, points inside every
//! bucket and a dense set of the truth's quantiles, so both the piecewise-linear recovered CDF
//! and the smooth true one are followed closely.

use super::binned::Histogram;
use super::fit::{Family, Fits};
use crate::distribution::Distribution;
use serde::Serialize;

/// Distances and errors of one recovery against the truth.
#[derive(Debug, Clone, Serialize)]
pub struct Accuracy {
    /// KS distance between the recovered CDF (interpolated in buckets) and the true CDF.
    pub ks: f64,
    /// KS distance at bucket edges only, where the recovered CDF is exactly the counted share.
    pub ks_at_edges: f64,
    /// Wasserstein-1 distance between the recovered and the true CDF, in the metric's unit.
    pub wasserstein: f64,
    /// The same divided by the true standard deviation.
    pub wasserstein_per_sd: f64,
    /// KS distance between the chosen fitted family and the truth.
    pub fit_ks: Option<f64>,
    /// Relative error of the mean from `_sum / _count`.
    pub mean_error: f64,
    /// Relative error of the binned standard deviation.
    pub std_dev_error: f64,
    /// Whether the chosen family is the truth's; `None` when the truth is no single family.
    pub family_found: Option<bool>,
    /// Errors of the parameters fitted in the truth's family.
    pub params: Vec<ParamError>,
    /// Why there are no parameter errors, when there are none.
    pub note: Option<String>,
}

/// One parameter against its true value.
#[derive(Debug, Clone, Serialize)]
pub struct ParamError {
    /// Parameter name.
    pub name: &'static str,
    /// True value.
    pub truth: f64,
    /// Fitted value.
    pub estimate: f64,
    /// Standard error of the estimate.
    pub std_error: Option<f64>,
    /// (estimate − truth) / |truth|; `None` when the truth is 0.
    pub relative_error: Option<f64>,
    /// (estimate − truth) / standard error: within ±2 about 95% of the time if the error is
    /// sampling noise alone.
    pub z: Option<f64>,
}

/// Compares a recovered histogram and its fits with the true distribution.
pub(crate) fn accuracy(h: &Histogram, fits: &Fits, truth: &Distribution) -> Accuracy {
    let grid = grid(h, truth);
    let (ks, wasserstein) = distances(&grid, |x| h.cdf(x), |x| truth.cdf(x));
    let ks_at_edges = h
        .bins()
        .iter()
        .zip(h.cdf_at_uppers())
        .filter(|(b, _)| b.upper.is_finite())
        .map(|(b, f)| (f - truth.cdf(b.upper)).abs())
        .fold(0.0, f64::max);
    let sd = truth.variance().sqrt();
    let fit_ks = fits.chosen().map(|f| ks_between(&f.dist, truth));
    let rel = |est: f64, want: f64| (est - want) / want.abs();
    let (family_found, params, note) = match Family::of(truth) {
        None => (
            None,
            Vec::new(),
            Some(format!(
                "the truth is a {}: no single family has its parameters",
                truth.family()
            )),
        ),
        Some(family) => match fits.get(family) {
            None => (
                Some(false),
                Vec::new(),
                Some(format!("{} could not be fitted", family.name())),
            ),
            Some(fit) => (
                Some(fits.chosen().is_some_and(|c| c.family == family)),
                truth
                    .params()
                    .into_iter()
                    .zip(&fit.params)
                    .map(|((name, want), got)| ParamError {
                        name,
                        truth: want,
                        estimate: got.value,
                        std_error: got.std_error,
                        relative_error: (want != 0.0).then(|| rel(got.value, want)),
                        z: got
                            .std_error
                            .filter(|s| *s > 0.0)
                            .map(|s| (got.value - want) / s),
                    })
                    .collect(),
                None,
            ),
        },
    };
    Accuracy {
        ks,
        ks_at_edges,
        wasserstein,
        wasserstein_per_sd: wasserstein / sd,
        fit_ks,
        mean_error: rel(h.mean(), truth.mean()),
        std_dev_error: rel(h.std_dev(), sd),
        family_found,
        params,
        note,
    }
}

/// Points where two CDFs are compared: the truth's quantiles, and each bucket's edges and
/// 16 points inside it.
fn grid(h: &Histogram, truth: &Distribution) -> Vec<f64> {
    let mut xs = quantile_grid(truth, 2000);
    for b in h.bins() {
        for x in [b.lower, b.upper] {
            if x.is_finite() {
                xs.push(x);
                // Just left of an edge, to catch the jump of an open bucket's mass.
                xs.push(x - (x.abs() * 1e-12).max(1e-300));
            }
        }
        if b.is_finite() {
            for i in 1..16 {
                xs.push(b.lower + (b.upper - b.lower) * i as f64 / 16.0);
            }
        }
    }
    xs.retain(|x| x.is_finite());
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    xs
}

/// `n` quantiles of `d` from 1e-6 to 1 − 1e-6, evenly spaced in probability.
fn quantile_grid(d: &Distribution, n: usize) -> Vec<f64> {
    (0..=n)
        .map(|i| d.quantile(1e-6 + (1.0 - 2e-6) * i as f64 / n as f64))
        .collect()
}

/// KS and Wasserstein-1 of two CDFs over a sorted grid (trapezoid rule for the integral).
fn distances(xs: &[f64], f: impl Fn(f64) -> f64, g: impl Fn(f64) -> f64) -> (f64, f64) {
    let gaps: Vec<f64> = xs.iter().map(|&x| (f(x) - g(x)).abs()).collect();
    let ks = gaps.iter().copied().fold(0.0, f64::max);
    let w1 = xs
        .windows(2)
        .zip(gaps.windows(2))
        .map(|(x, d)| (x[1] - x[0]) * 0.5 * (d[0] + d[1]))
        .sum();
    (ks, w1)
}

/// KS distance between two distributions.
pub(crate) fn ks_between(a: &Distribution, b: &Distribution) -> f64 {
    let mut xs = quantile_grid(a, 2000);
    xs.extend(quantile_grid(b, 2000));
    xs.retain(|x| x.is_finite());
    xs.sort_by(f64::total_cmp);
    distances(&xs, |x| a.cdf(x), |x| b.cdf(x)).0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wasserstein-1 distance between two distributions.
    fn wasserstein_between(a: &Distribution, b: &Distribution) -> f64 {
        let mut xs = quantile_grid(a, 2000);
        xs.extend(quantile_grid(b, 2000));
        xs.retain(|x| x.is_finite());
        xs.sort_by(f64::total_cmp);
        distances(&xs, |x| a.cdf(x), |x| b.cdf(x)).1
    }
    use crate::recover::binned::Bin;
    use crate::recover::fit::fit_all;

    fn d(s: &str) -> Distribution {
        Distribution::parse(s).unwrap()
    }

    #[test]
    fn distances_between_known_distributions() {
        let a = d("normal(mean=0, std_dev=1)");
        assert_eq!(ks_between(&a, &a), 0.0);
        // Shifted by 0.1: KS = 2Φ(0.05) − 1, W1 = the shift.
        let b = d("normal(mean=0.1, std_dev=1)");
        assert!((ks_between(&a, &b) - 0.039_878).abs() < 1e-4);
        assert!((wasserstein_between(&a, &b) - 0.1).abs() < 1e-3);
        // Scaled by 2: W1 = (2 − 1) E|Z| = √(2/π).
        let c = d("normal(mean=0, std_dev=2)");
        assert!((wasserstein_between(&a, &c) - (2.0 / std::f64::consts::PI).sqrt()).abs() < 2e-3);
    }

    #[test]
    fn exact_fine_buckets_are_close_to_the_truth_and_coarse_ones_are_not() {
        let truth = d("lognormal(mu=-3.2, sigma=0.5)");
        let hist = |edges: &[f64]| {
            let mut bins = vec![Bin {
                lower: 0.0,
                upper: edges[0],
                count: 1e6 * truth.cdf(edges[0]),
            }];
            for w in edges.windows(2) {
                bins.push(Bin {
                    lower: w[0],
                    upper: w[1],
                    count: 1e6 * (truth.cdf(w[1]) - truth.cdf(w[0])),
                });
            }
            bins.push(Bin {
                lower: *edges.last().unwrap(),
                upper: f64::INFINITY,
                count: 1e6 * (1.0 - truth.cdf(*edges.last().unwrap())),
            });
            Histogram::new(bins, 1e6 * truth.mean()).unwrap()
        };
        // Schema-5-like buckets (2.2% apart).
        let fine: Vec<f64> = (0..400)
            .map(|i| 0.003 * 2f64.powf(i as f64 / 32.0))
            .collect();
        let h = hist(&fine);
        let a = accuracy(&h, &fit_all(&h), &truth);
        assert!(a.ks < 1e-3 && a.ks_at_edges < 1e-9, "{a:?}");
        assert_eq!(a.family_found, Some(true));
        assert!(a
            .params
            .iter()
            .all(|p| p.relative_error.unwrap().abs() < 1e-4));
        // Prometheus's default buckets: interpolation within 5–10 ms wide buckets costs KS.
        let coarse = [
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let h = hist(&coarse);
        let a = accuracy(&h, &fit_all(&h), &truth);
        assert!(a.ks > 0.02 && a.ks_at_edges < 1e-9, "{a:?}");
        // The parametric fit still lands on the truth from exact counts.
        assert!(a.fit_ks.unwrap() < 1e-3, "{a:?}");
    }

    #[test]
    fn a_mixture_truth_has_no_parameter_errors_but_distances() {
        let truth = d("mixture(0.5*normal(mean=0, std_dev=1), 0.5*normal(mean=6, std_dev=1))");
        let edges: Vec<f64> = (0..=60).map(|i| -4.0 + i as f64 * 0.25).collect();
        let bins = edges
            .windows(2)
            .map(|w| Bin {
                lower: w[0],
                upper: w[1],
                count: 1e5 * (truth.cdf(w[1]) - truth.cdf(w[0])),
            })
            .collect();
        let h = Histogram::new(bins, 1e5 * truth.mean()).unwrap();
        let a = accuracy(&h, &fit_all(&h), &truth);
        assert_eq!(a.family_found, None);
        assert!(a.params.is_empty() && a.note.is_some());
        assert!(a.ks < 0.005, "{a:?}");
        assert!(a.fit_ks.unwrap() > 0.05, "{a:?}");
    }
}
