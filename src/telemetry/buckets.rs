//! Bucket layouts, derived from the configured distributions.
//!
//! A classic histogram can only be read back at its bucket boundaries, so where the boundaries
//! sit decides how well `recover` can rebuild a distribution from Prometheus:
//! - the value gets equal-width buckets over the range that holds 99.9% of its mass, so a
//!   binned maximum-likelihood fit sees the shape evenly and the tails fall in the edge buckets;
//! - the delay gets log-spaced buckets over the same 99.9% range, because delays are skewed
//!   and what matters is relative precision (1 ms of error at 5 ms is not 1 ms at 2 s);
//! - request durations keep fixed SLO-friendly boundaries (alert rules use `le="0.25"` and
//!   `le="1"`) and add log-spaced ones over the configured delay range so quantiles interpolate
//!   within a narrow bucket.

use crate::distribution::Distribution;

/// Buckets per layout for value and delay: fine enough for recovery, cheap enough to store.
const RECOVERY_BUCKETS: usize = 48;

/// Boundaries every request-duration histogram has, whatever the delay; the rules rely on them.
pub const SLO_BOUNDARIES: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Rounds to `digits` significant digits, so boundaries print short (`0.0413`, not `0.041287…`).
fn round_sig(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// The smallest of 1, 2, 2.5, 5 × 10^k that is at least `x`.
fn nice_width(x: f64) -> f64 {
    let exp = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * exp)
        .find(|w| *w >= x * (1.0 - 1e-12))
        .unwrap_or(10.0 * exp)
}

/// Equal-width buckets over the value's central 99.9%.
pub fn value_buckets(dist: &Distribution) -> Vec<f64> {
    let (mut lo, mut hi) = (dist.quantile(0.0005), dist.quantile(0.9995));
    if hi - lo < 1e-9 {
        let pad = (lo.abs() * 0.05).max(0.5);
        lo -= pad;
        hi += pad;
    }
    let width = nice_width((hi - lo) / RECOVERY_BUCKETS as f64);
    let start = (lo / width).floor() * width;
    (0..=RECOVERY_BUCKETS * 2)
        .map(|i| round_sig(start + i as f64 * width, 10))
        .take_while(|b| *b < hi + width)
        .collect()
}

/// Log-spaced buckets over the delay's central 99.9%.
pub fn delay_buckets(dist: &Distribution) -> Vec<f64> {
    let lo = dist.quantile(0.0005).max(1e-4);
    let hi = (dist.quantile(0.9995) * 1.5).max(lo * 10.0);
    log_spaced(lo, hi, RECOVERY_BUCKETS, 3)
}

/// SLO boundaries plus log-spaced ones over the delay's range, sorted and deduplicated.
pub fn duration_buckets(delay: &Distribution) -> Vec<f64> {
    let lo = delay.quantile(0.01).max(1e-3);
    let hi = (delay.quantile(0.999) * 2.0).max(lo * 4.0);
    let mut all: Vec<f64> = SLO_BOUNDARIES.to_vec();
    // Cover long configured delays beyond the fixed top boundary.
    let mut top = 60.0;
    while top < hi {
        all.push(top);
        top *= 2.0;
    }
    // A derived boundary within 5% of a fixed one adds nothing; the fixed one stays.
    for b in log_spaced(lo, hi, 12, 2) {
        if all.iter().all(|s| (b / s - 1.0).abs() >= 0.05) {
            all.push(b);
        }
    }
    all.sort_by(f64::total_cmp);
    all
}

fn log_spaced(lo: f64, hi: f64, n: usize, digits: i32) -> Vec<f64> {
    let step = (hi / lo).ln() / (n - 1) as f64;
    let mut out: Vec<f64> = (0..n)
        .map(|i| round_sig(lo * (step * i as f64).exp(), digits))
        .collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Distribution {
        s.parse().unwrap()
    }

    #[test]
    fn value_buckets_cover_the_mass_evenly() {
        let dist = d("normal(mean=100, std_dev=15)");
        let b = value_buckets(&dist);
        assert!(b.len() >= 40 && b.len() <= 100, "{} buckets", b.len());
        assert!(dist.cdf(b[0]) < 0.001 && dist.cdf(*b.last().unwrap()) > 0.999);
        let widths: Vec<f64> = b.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(widths.iter().all(|w| (w - widths[0]).abs() < 1e-9));
    }

    #[test]
    fn constant_value_gets_a_range() {
        let b = value_buckets(&d("constant(value=5)"));
        assert!(b[0] < 5.0 && *b.last().unwrap() > 5.0);
    }

    #[test]
    fn delay_buckets_are_log_spaced_and_cover() {
        let dist = d("lognormal(mu=-3.2, sigma=0.5)");
        let b = delay_buckets(&dist);
        assert!(dist.cdf(b[0]) < 0.001 && dist.cdf(*b.last().unwrap()) > 0.9995);
        let r1 = b[1] / b[0];
        let r2 = b[b.len() - 1] / b[b.len() - 2];
        assert!((r1 / r2 - 1.0).abs() < 0.05);
    }

    #[test]
    fn duration_buckets_keep_slo_boundaries_and_cover_long_delays() {
        let b = duration_buckets(&d("uniform(low=100, high=200)"));
        for slo in [0.25, 1.0] {
            assert!(b.contains(&slo));
        }
        assert!(*b.last().unwrap() >= 200.0);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
    }
}
