//! A distribution rebuilt from bucket counts: CDF, density, quantiles and moments.
//!
//! See [`Histogram`] for details. The one modelling assumption is that observations spread
//! evenly within a bucket (piecewise-constant density, piecewise-linear CDF). That is what
//! Prometheus's `histogram_quantile` assumes for classic buckets and, in 2.42, for native ones
//! too; we use it for native buckets as well, although their boundaries are log-spaced, because
//! at schema 5 a bucket spans 2.2% of its value: log-linear and linear interpolation then differ
//! by less than 0.3% of one bucket's count, far below sampling noise, and one model keeps the CDF,
//! the density and the quantiles of negative, zero and positive buckets consistent with each
//! other and with what the Prometheus UI shows. A bucket that is open on one side (classic `+Inf`,
//! or the lowest bucket of a value) has no width: its mass is placed at its finite edge, as
//! `histogram_quantile` does.

use serde::Serialize;

/// One bucket: `count` observations between `lower` and `upper`.
///
/// `lower` may be `-inf` and `upper` `+inf` (open buckets). Whether an edge itself belongs to
/// the bucket does not matter for continuous data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bin {
    /// Lower edge (`-inf` for an open lowest bucket).
    pub lower: f64,
    /// Upper edge (`+inf` for the `+Inf` bucket).
    pub upper: f64,
    /// Observations in the bucket (an increase, so an exact whole number from our sources).
    pub count: f64,
}

impl Bin {
    /// Whether both edges are finite.
    pub fn is_finite(&self) -> bool {
        self.lower.is_finite() && self.upper.is_finite()
    }

    /// Width of a finite bucket (0 for an open one, whose mass sits at its finite edge).
    pub fn width(&self) -> f64 {
        if self.is_finite() {
            self.upper - self.lower
        } else {
            0.0
        }
    }

    /// Where the mass of the bucket sits on average under the even-spread assumption.
    fn centre(&self) -> f64 {
        match (self.lower.is_finite(), self.upper.is_finite()) {
            (true, true) => 0.5 * (self.lower + self.upper),
            (false, true) => self.upper,
            (true, false) => self.lower,
            (false, false) => f64::NAN,
        }
    }
}

/// Why bucket counts cannot form a histogram.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BinError {
    /// Edges are NaN, reversed, or buckets overlap or are out of order.
    #[error("bucket ({lower}, {upper}] is out of order or overlaps its neighbour")]
    Layout {
        /// Lower edge.
        lower: f64,
        /// Upper edge.
        upper: f64,
    },
    /// A negative or non-finite count.
    #[error("bucket ({lower}, {upper}] has an invalid count {count}")]
    Count {
        /// Lower edge.
        lower: f64,
        /// Upper edge.
        upper: f64,
        /// The count.
        count: f64,
    },
}

/// Bucket counts with the exact count and sum of the observations.
///
/// Buckets are sorted and do not overlap; gaps between them hold no observations (native
/// histograms list only the buckets that were used).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bins: Vec<Bin>,
    total: f64,
    sum: f64,
}

impl Histogram {
    /// Builds a histogram from sorted, non-overlapping buckets and the `_sum` of observations.
    pub fn new(bins: Vec<Bin>, sum: f64) -> Result<Self, BinError> {
        let mut prev_upper = f64::NEG_INFINITY;
        for b in &bins {
            let ordered = b.lower < b.upper && b.lower >= prev_upper && !b.upper.is_nan();
            if !ordered {
                return Err(BinError::Layout {
                    lower: b.lower,
                    upper: b.upper,
                });
            }
            if !(b.count.is_finite() && b.count >= 0.0) {
                return Err(BinError::Count {
                    lower: b.lower,
                    upper: b.upper,
                    count: b.count,
                });
            }
            prev_upper = b.upper;
        }
        let total = bins.iter().map(|b| b.count).sum();
        Ok(Self { bins, total, sum })
    }

    /// Builds buckets from classic cumulative counts: `(le, observations <= le)`, sorted by `le`,
    /// the last one `+Inf`. `floor` is a known lower bound of the data (0 for delays), which
    /// closes the lowest bucket; without it the lowest bucket is open.
    pub fn from_cumulative(
        cumulative: &[(f64, f64)],
        sum: f64,
        floor: Option<f64>,
    ) -> Result<Self, BinError> {
        let mut bins = Vec::with_capacity(cumulative.len());
        let mut prev_le = f64::NEG_INFINITY;
        let mut prev_count = 0.0;
        for &(le, cum) in cumulative {
            let lower = match floor {
                Some(f) if prev_le == f64::NEG_INFINITY && f < le => f,
                _ => prev_le,
            };
            // Cumulative counts never fall; a tiny negative difference could only come from
            // floating-point sums over instances, so it is treated as zero.
            let count = (cum - prev_count).max(0.0);
            bins.push(Bin {
                lower,
                upper: le,
                count,
            });
            prev_le = le;
            prev_count = prev_count.max(cum);
        }
        Self::new(bins, sum)
    }

    /// The buckets.
    pub fn bins(&self) -> &[Bin] {
        &self.bins
    }

    /// Observations counted by the buckets.
    pub fn total(&self) -> f64 {
        self.total
    }

    /// Sum of the observations (`_sum`).
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// The exact mean, `_sum / _count`.
    pub fn mean(&self) -> f64 {
        self.sum / self.total
    }

    /// Share of observations in open buckets, whose position within the bucket is unknown.
    pub fn open_share(&self) -> f64 {
        self.bins
            .iter()
            .filter(|b| !b.is_finite())
            .map(|b| b.count)
            .sum::<f64>()
            / self.total
    }

    /// P(X <= x) under the even-spread assumption.
    pub fn cdf(&self, x: f64) -> f64 {
        if self.total <= 0.0 {
            return f64::NAN;
        }
        let mut below = 0.0;
        for b in &self.bins {
            if x >= b.upper {
                below += b.count;
                continue;
            }
            if x > b.lower && b.is_finite() {
                below += b.count * (x - b.lower) / (b.upper - b.lower);
            } else if x >= b.lower && b.lower.is_finite() && !b.upper.is_finite() {
                // The +Inf bucket's mass sits at its lower edge.
                below += b.count;
            }
            break;
        }
        (below / self.total).clamp(0.0, 1.0)
    }

    /// The share of observations at or below each bucket's upper edge, exactly as counted.
    pub fn cdf_at_uppers(&self) -> Vec<f64> {
        let mut cum = 0.0;
        self.bins
            .iter()
            .map(|b| {
                cum += b.count;
                cum / self.total
            })
            .collect()
    }

    /// Mean density of each finite bucket: share of observations per unit of x.
    pub fn densities(&self) -> Vec<Option<f64>> {
        self.bins
            .iter()
            .map(|b| b.is_finite().then(|| b.count / (self.total * b.width())))
            .collect()
    }

    /// The smallest x with P(X <= x) >= p, for p in (0, 1]; `None` for an empty histogram.
    ///
    /// Linear within a bucket; at a bucket edge whose cumulative share is exactly p, the edge.
    /// When p falls in an open bucket the finite edge is returned and `open` is set.
    pub fn quantile(&self, p: f64) -> Option<Quantile> {
        if self.total <= 0.0 || !(p > 0.0 && p <= 1.0) {
            return None;
        }
        let target = p * self.total;
        let mut cum = 0.0;
        for b in &self.bins {
            if b.count <= 0.0 {
                continue;
            }
            // The last bucket takes whatever rounding leaves over.
            if cum + b.count >= target * (1.0 - 1e-12) {
                let frac = ((target - cum) / b.count).clamp(0.0, 1.0);
                return Some(match (b.lower.is_finite(), b.upper.is_finite()) {
                    (true, true) => Quantile {
                        p,
                        x: b.lower + frac * (b.upper - b.lower),
                        open: false,
                    },
                    (false, true) => Quantile {
                        p,
                        x: b.upper,
                        open: true,
                    },
                    (true, false) => Quantile {
                        p,
                        x: b.lower,
                        open: true,
                    },
                    (false, false) => return None,
                });
            }
            cum += b.count;
        }
        self.bins
            .iter()
            .rev()
            .find(|b| b.count > 0.0)
            .map(|b| Quantile {
                p,
                x: if b.upper.is_finite() {
                    b.upper
                } else {
                    b.lower
                },
                open: !b.upper.is_finite(),
            })
    }

    /// Standard deviation from the buckets with Sheppard's correction.
    ///
    /// Grouping every observation at its bucket's centre inflates the variance by about
    /// h²/12 for a bucket of width h when the density is smooth across the bucket; the
    /// correction subtracts the count-weighted h²/12 (the classic form for equal widths, its
    /// natural extension for log-spaced ones). Open buckets count at their finite edge, so
    /// their share ([`open_share`](Self::open_share)) makes the estimate a little low.
    pub fn std_dev(&self) -> f64 {
        let n = self.total;
        let mut m1 = 0.0;
        let mut widths = 0.0;
        for b in self.bins.iter().filter(|b| b.count > 0.0) {
            m1 += b.count * b.centre();
            widths += b.count * b.width().powi(2) / 12.0;
        }
        let mean = m1 / n;
        let grouped: f64 = self
            .bins
            .iter()
            .filter(|b| b.count > 0.0)
            .map(|b| b.count * (b.centre() - mean).powi(2))
            .sum::<f64>()
            / n;
        let corrected = grouped - widths / n;
        // With very few, wide buckets the correction can exceed the grouped variance; the
        // grouped value is then the better (if biased) answer than a square root of nothing.
        if corrected > 0.0 {
            corrected.sqrt()
        } else {
            grouped.sqrt()
        }
    }

    /// Mean and standard deviation of ln(x) from the buckets (for starting a log-normal fit);
    /// `None` when some observations are not positive.
    pub fn log_moments(&self) -> Option<(f64, f64)> {
        let mut n = 0.0;
        let mut s1 = 0.0;
        let mut s2 = 0.0;
        for b in self.bins.iter().filter(|b| b.count > 0.0) {
            let c = b.centre();
            let centre = if b.is_finite() && b.lower > 0.0 {
                (b.lower * b.upper).sqrt()
            } else if c > 0.0 {
                c
            } else if b.upper > 0.0 && b.upper.is_finite() {
                // A bucket that starts at zero: half its upper edge, a rough centre in log terms.
                b.upper / 2.0
            } else {
                return None;
            };
            let l = centre.ln();
            n += b.count;
            s1 += b.count * l;
            s2 += b.count * l * l;
        }
        if n <= 0.0 {
            return None;
        }
        let mean = s1 / n;
        let var = (s2 / n - mean * mean).max(0.0);
        Some((mean, var.sqrt()))
    }

    /// The lowest and highest finite edge of a non-empty bucket (the observed range).
    pub fn range(&self) -> Option<(f64, f64)> {
        let first = self.bins.iter().find(|b| b.count > 0.0)?;
        let last = self.bins.iter().rev().find(|b| b.count > 0.0)?;
        let lo = if first.lower.is_finite() {
            first.lower
        } else {
            first.upper
        };
        let hi = if last.upper.is_finite() {
            last.upper
        } else {
            last.lower
        };
        (lo.is_finite() && hi.is_finite()).then_some((lo, hi))
    }

    /// The whole line cut into cells: the buckets plus the empty gaps and outer ranges
    /// between and around them, so that the cells' probabilities under any model sum to 1.
    pub fn cells(&self) -> Vec<Bin> {
        let mut out = Vec::with_capacity(self.bins.len() * 2 + 2);
        let mut prev = f64::NEG_INFINITY;
        for b in &self.bins {
            if b.lower > prev {
                out.push(Bin {
                    lower: prev,
                    upper: b.lower,
                    count: 0.0,
                });
            }
            out.push(*b);
            prev = b.upper;
        }
        if prev < f64::INFINITY {
            out.push(Bin {
                lower: prev,
                upper: f64::INFINITY,
                count: 0.0,
            });
        }
        out
    }
}

/// One quantile of a [`Histogram`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quantile {
    /// The probability.
    pub p: f64,
    /// The value.
    pub x: f64,
    /// Whether p fell in an open bucket (x is then only a bound).
    pub open: bool,
}

/// The quantiles every report shows.
pub(crate) const REPORTED_QUANTILES: [f64; 9] =
    [0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::Distribution;
    use rand::{Rng, SeedableRng};

    fn bins(edges: &[f64], counts: &[f64]) -> Vec<Bin> {
        edges
            .windows(2)
            .zip(counts)
            .map(|(w, &count)| Bin {
                lower: w[0],
                upper: w[1],
                count,
            })
            .collect()
    }

    #[test]
    fn quantiles_at_bucket_edges_are_the_edges() {
        // Edges 0,1,2,3,4 with 10, 30, 0, 60 observations: F(1)=0.1, F(2)=0.4, F(3)=0.4, F(4)=1.
        let h = Histogram::new(bins(&[0., 1., 2., 3., 4.], &[10., 30., 0., 60.]), 0.0).unwrap();
        assert_eq!(h.quantile(0.1).unwrap().x, 1.0);
        // 0.4 is reached at 2 and stays flat over the empty bucket: the smallest x is 2.
        assert_eq!(h.quantile(0.4).unwrap().x, 2.0);
        assert_eq!(h.quantile(1.0).unwrap().x, 4.0);
        // Inside buckets: linear.
        assert!((h.quantile(0.25).unwrap().x - 1.5).abs() < 1e-12);
        assert!((h.quantile(0.7).unwrap().x - 3.5).abs() < 1e-12);
        assert!((h.quantile(0.05).unwrap().x - 0.5).abs() < 1e-12);
        for (x, want) in [
            (0.0, 0.0),
            (1.0, 0.1),
            (2.0, 0.4),
            (2.5, 0.4),
            (3.0, 0.4),
            (4.0, 1.0),
        ] {
            assert!((h.cdf(x) - want).abs() < 1e-12, "cdf({x})={}", h.cdf(x));
        }
        assert!(h.quantile(0.0).is_none() && h.quantile(1.5).is_none());
    }

    #[test]
    fn open_buckets_put_their_mass_at_the_finite_edge() {
        let h = Histogram::from_cumulative(
            &[(1.0, 5.0), (2.0, 50.0), (3.0, 95.0), (f64::INFINITY, 100.0)],
            0.0,
            None,
        )
        .unwrap();
        assert_eq!(h.bins()[0].lower, f64::NEG_INFINITY);
        let q = h.quantile(0.01).unwrap();
        assert_eq!((q.x, q.open), (1.0, true));
        let q = h.quantile(0.99).unwrap();
        assert_eq!((q.x, q.open), (3.0, true));
        assert!(!h.quantile(0.5).unwrap().open);
        assert!((h.open_share() - 0.10).abs() < 1e-12);
        assert_eq!(h.cdf(0.5), 0.0);
        assert_eq!(h.cdf(3.0), 1.0);
        // A floor closes the lowest bucket: delays are never negative.
        let h = Histogram::from_cumulative(&[(1.0, 5.0), (f64::INFINITY, 10.0)], 0.0, Some(0.0))
            .unwrap();
        assert_eq!(h.bins()[0].lower, 0.0);
        assert!((h.quantile(0.25).unwrap().x - 0.5).abs() < 1e-12);
    }

    #[test]
    fn bad_layouts_are_refused() {
        assert!(Histogram::new(bins(&[0., 1.], &[-1.]), 0.0).is_err());
        let overlapping = vec![
            Bin {
                lower: 0.0,
                upper: 2.0,
                count: 1.0,
            },
            Bin {
                lower: 1.0,
                upper: 3.0,
                count: 1.0,
            },
        ];
        assert!(Histogram::new(overlapping, 0.0).is_err());
    }

    /// Exact expected counts of `dist` in buckets `edges`, scaled to `n`.
    fn exact(dist: &Distribution, edges: &[f64], n: f64) -> Histogram {
        let b: Vec<Bin> = edges
            .windows(2)
            .map(|w| Bin {
                lower: w[0],
                upper: w[1],
                count: n * (dist.cdf(w[1]) - dist.cdf(w[0])),
            })
            .collect();
        Histogram::new(b, n * dist.mean()).unwrap()
    }

    #[test]
    fn sheppard_corrected_sd_is_close_for_coarse_equal_buckets() {
        let d = Distribution::parse("normal(mean=10, std_dev=2)").unwrap();
        // Buckets one standard deviation wide: the grouped sd is 2.08, corrected 2.00.
        let edges: Vec<f64> = (0..=20).map(|i| -10.0 + 2.0 * i as f64).collect();
        let h = exact(&d, &edges, 1e6);
        assert!((h.std_dev() - 2.0).abs() < 0.005, "sd {}", h.std_dev());
        assert!((h.mean() - 10.0).abs() < 1e-9);
    }

    /// Property: on random layouts and counts, the CDF never falls, stays in [0, 1], equals
    /// the exact shares at upper edges, and quantile and CDF invert each other inside buckets.
    #[test]
    fn cdf_and_quantile_are_consistent_on_random_histograms() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for _ in 0..300 {
            let k = rng.random_range(1..30);
            let mut x = rng.random_range(-100.0..100.0);
            let mut b = Vec::new();
            for _ in 0..k {
                // Sometimes a gap, as native histograms have.
                if rng.random_bool(0.2) {
                    x += rng.random_range(0.1..5.0);
                }
                let w = rng.random_range(0.01..10.0);
                let count = if rng.random_bool(0.2) {
                    0.0
                } else {
                    rng.random_range(1..1000) as f64
                };
                b.push(Bin {
                    lower: x,
                    upper: x + w,
                    count,
                });
                x += w;
            }
            let Ok(h) = Histogram::new(b.clone(), 0.0) else {
                panic!("valid layout refused: {b:?}")
            };
            if h.total() == 0.0 {
                continue;
            }
            let exact = h.cdf_at_uppers();
            for (bin, f) in h.bins().iter().zip(&exact) {
                assert!((h.cdf(bin.upper) - f).abs() < 1e-9);
            }
            let mut prev = 0.0;
            for i in 0..=200 {
                let xi = b[0].lower - 1.0 + (x - b[0].lower + 2.0) * i as f64 / 200.0;
                let f = h.cdf(xi);
                assert!((0.0..=1.0).contains(&f) && f >= prev - 1e-12);
                prev = f;
            }
            for i in 1..=100 {
                let p = i as f64 / 100.0;
                let q = h.quantile(p).unwrap();
                assert!(
                    (h.cdf(q.x) - p).abs() < 1e-9,
                    "cdf(quantile({p})) = {}",
                    h.cdf(q.x)
                );
                // Left-continuous inverse: just to the left the CDF is below p, even where
                // an empty bucket or a gap keeps it flat at p.
                assert!(
                    h.cdf(q.x - 1e-4) < p,
                    "quantile({p}) = {} is not the smallest",
                    q.x
                );
            }
        }
    }

    #[test]
    fn cells_cover_the_line() {
        let h = Histogram::new(
            vec![
                Bin {
                    lower: 1.0,
                    upper: 2.0,
                    count: 3.0,
                },
                Bin {
                    lower: 4.0,
                    upper: 5.0,
                    count: 1.0,
                },
            ],
            9.0,
        )
        .unwrap();
        let c = h.cells();
        assert_eq!(c.len(), 5);
        assert_eq!(c[0].lower, f64::NEG_INFINITY);
        assert_eq!(c[2].lower, 2.0);
        assert_eq!(c[2].upper, 4.0);
        assert_eq!(c[4].upper, f64::INFINITY);
        assert!(c.windows(2).all(|w| w[0].upper == w[1].lower));
    }
}
