//! A summary metric: client-side quantiles over a sliding time window.
//!
//! prometheus-client has no summary type, so this module keeps one and encodes it in all three
//! exposition formats itself (see `exposition`). Quantiles come from log-spaced buckets with 1%
//! relative accuracy (the DDSketch idea), kept per time slice so old observations age out by
//! dropping a slice instead of storing every sample. `_sum` and `_count` are cumulative, as
//! Prometheus expects of a summary.

use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// Relative accuracy of a reported quantile.
const ALPHA: f64 = 0.01;
/// Smallest and largest value resolved; values outside land in the edge buckets.
const MIN_VALUE: f64 = 1e-6;
const MAX_VALUE: f64 = 1e5;

/// Quantiles over the last `window`, plus cumulative sum and count. Values must be >= 0.
#[derive(Debug)]
pub(crate) struct WindowedSummary {
    /// Metric name, with unit suffix, without `_sum`/`_count`.
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// The quantiles reported, each in (0, 1).
    pub quantiles: &'static [f64],
    state: Mutex<State>,
    slice_len: Duration,
    ln_gamma: f64,
    offset: i32,
    len: usize,
}

#[derive(Debug)]
struct State {
    slices: Vec<Vec<u32>>,
    zeros: Vec<u64>,
    current: usize,
    slice_start: Instant,
    sum: f64,
    count: u64,
}

/// What a scrape reads: (quantile, value) pairs, sum and count.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SummarySnapshot {
    /// (quantile, value); the value is NaN when the window is empty.
    pub quantiles: Vec<(f64, f64)>,
    /// Sum of all observations ever made.
    pub sum: f64,
    /// Number of observations ever made.
    pub count: u64,
}

impl WindowedSummary {
    /// A summary over `window`, aged out in `slices` steps.
    pub(crate) fn new(
        name: &'static str,
        help: &'static str,
        quantiles: &'static [f64],
        window: Duration,
        slices: usize,
    ) -> Self {
        let gamma = (1.0 + ALPHA) / (1.0 - ALPHA);
        let ln_gamma = gamma.ln();
        let lo = (MIN_VALUE.ln() / ln_gamma).floor() as i32;
        let hi = (MAX_VALUE.ln() / ln_gamma).ceil() as i32;
        let len = (hi - lo + 1) as usize;
        let slices = slices.max(1);
        Self {
            name,
            help,
            quantiles,
            state: Mutex::new(State {
                slices: vec![vec![0; len]; slices],
                zeros: vec![0; slices],
                current: 0,
                slice_start: Instant::now(),
                sum: 0.0,
                count: 0,
            }),
            slice_len: window / slices as u32,
            ln_gamma,
            offset: lo,
            len,
        }
    }

    fn index(&self, v: f64) -> usize {
        let i = (v.clamp(MIN_VALUE, MAX_VALUE).ln() / self.ln_gamma).ceil() as i32 - self.offset;
        (i.max(0) as usize).min(self.len - 1)
    }

    fn value_at(&self, index: usize) -> f64 {
        // The midpoint (in relative terms) of bucket (gamma^(i-1), gamma^i].
        let i = (index as i32 + self.offset) as f64;
        2.0 * (i * self.ln_gamma).exp() / (1.0 + self.ln_gamma.exp())
    }

    /// Drops slices older than the window.
    fn rotate(&self, s: &mut State, now: Instant) {
        let n = s.slices.len();
        let mut steps = 0;
        while now.duration_since(s.slice_start) >= self.slice_len && steps <= n {
            s.current = (s.current + 1) % n;
            let cur = s.current;
            s.slices[cur].iter_mut().for_each(|c| *c = 0);
            s.zeros[cur] = 0;
            s.slice_start += self.slice_len;
            steps += 1;
        }
        if steps > n {
            // Idle for longer than the window: everything is already cleared.
            s.slice_start = now;
        }
    }

    /// Records one value (negative and NaN values are ignored: this summary is for durations).
    pub(crate) fn observe(&self, v: f64) {
        if v.is_nan() || v < 0.0 {
            return;
        }
        let index = self.index(v);
        let mut s = self.state.lock();
        self.rotate(&mut s, Instant::now());
        let cur = s.current;
        if v == 0.0 {
            s.zeros[cur] += 1;
        } else {
            s.slices[cur][index] = s.slices[cur][index].saturating_add(1);
        }
        s.sum += v;
        s.count += 1;
    }

    /// Reads the quantiles of the current window and the cumulative sum and count.
    pub(crate) fn snapshot(&self) -> SummarySnapshot {
        let mut s = self.state.lock();
        self.rotate(&mut s, Instant::now());
        let mut merged = vec![0u64; self.len];
        for slice in &s.slices {
            for (m, c) in merged.iter_mut().zip(slice) {
                *m += u64::from(*c);
            }
        }
        let zeros: u64 = s.zeros.iter().sum();
        let total = zeros + merged.iter().sum::<u64>();
        let quantiles = self
            .quantiles
            .iter()
            .map(|&q| {
                if total == 0 {
                    return (q, f64::NAN);
                }
                // Rank of the q-quantile among `total` sorted values (nearest rank).
                let rank = ((q * total as f64).ceil() as u64).max(1);
                if rank <= zeros {
                    return (q, 0.0);
                }
                let mut seen = zeros;
                for (i, c) in merged.iter().enumerate() {
                    seen += c;
                    if seen >= rank {
                        return (q, self.value_at(i));
                    }
                }
                (q, self.value_at(self.len - 1))
            })
            .collect();
        SummarySnapshot {
            quantiles,
            sum: s.sum,
            count: s.count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_relative_accuracy() {
        let s = WindowedSummary::new("t", "t", &[0.5, 0.9, 0.99], Duration::from_secs(60), 6);
        for i in 1..=10_000 {
            s.observe(i as f64 / 1000.0);
        }
        let snap = s.snapshot();
        for ((q, got), want) in snap.quantiles.iter().zip([5.0, 9.0, 9.9]) {
            assert!(
                (got / want - 1.0).abs() <= ALPHA * 1.01,
                "q{q}: got {got}, want {want}"
            );
        }
        assert_eq!(snap.count, 10_000);
        assert!((snap.sum - 50_005.0).abs() < 1e-6);
    }

    #[test]
    fn empty_window_reports_nan_but_keeps_totals() {
        let s = WindowedSummary::new("t", "t", &[0.5], Duration::from_millis(60), 3);
        s.observe(1.0);
        s.observe(0.0);
        std::thread::sleep(Duration::from_millis(150));
        let snap = s.snapshot();
        assert!(snap.quantiles[0].1.is_nan());
        assert_eq!(snap.count, 2);
        assert_eq!(snap.sum, 1.0);
    }

    #[test]
    fn zeros_are_counted() {
        let s = WindowedSummary::new("t", "t", &[0.5, 0.99], Duration::from_secs(60), 6);
        for _ in 0..60 {
            s.observe(0.0);
        }
        for _ in 0..40 {
            s.observe(2.0);
        }
        let snap = s.snapshot();
        assert_eq!(snap.quantiles[0].1, 0.0);
        assert!((snap.quantiles[1].1 / 2.0 - 1.0).abs() <= ALPHA * 1.01);
    }
}
