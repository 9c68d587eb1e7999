//! Drift of the model's inputs and scores against the training reference: the population
//! stability index (PSI) and the two-sample Kolmogorov–Smirnov statistic (KS), computed over a
//! sliding window of recent values.
//!
//! The maths are plain functions ([`decile_edges`], [`shares`], [`psi`], [`ks_two_sample`]),
//! checked against SciPy and NumPy on stored data (`tests/fixtures/drift.json`, written by
//! `scripts/drift-fixture.py`). [`DriftMonitor`] keeps the windows: per feature the last
//! [`WINDOW_CAPACITY`] values, none older than [`WINDOW`], so memory is bounded and the noise
//! of the statistics is the same at any request rate.

use super::features::{Employment, Features, Region, CATEGORICAL, NUMERIC};
use super::reference::{Numeric, Reference};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Shares below this are raised to it before PSI takes their logarithm, so an empty bin costs
/// a large but finite amount (the usual convention; NumPy fixture uses the same).
pub(crate) const PSI_FLOOR: f64 = 1e-4;
/// Oldest value a window keeps, so a quiet service does not report old traffic for ever.
pub(crate) const WINDOW: Duration = Duration::from_secs(600);
/// Values a window keeps; past it the oldest go first. 500 values put the PSI of an
/// undrifted feature near 0.02 (under 0.1 in all of 20,000 simulated windows) and take
/// under 3 minutes to renew at the default load (3 predictions/s).
pub(crate) const WINDOW_CAPACITY: usize = 500;
/// Fewest values a window must hold before PSI and KS are computed (NaN below): with fewer,
/// the noise alone is too large to mean anything. Alerts ask for more (see the rules).
pub(crate) const MIN_SAMPLES: usize = 100;
/// The feature name the score's drift is exported under.
pub(crate) const SCORE: &str = "score";

/// The `q` quantile of sorted values, interpolating linearly between order statistics
/// (Hyndman and Fan's type 7, NumPy's default), with NumPy's way of interpolating so the
/// fixture's edges match to the last bit. NaN for no values.
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * q;
    let lo = (h.floor() as usize).min(n - 1);
    let hi = (lo + 1).min(n - 1);
    let (a, b, t) = (sorted[lo], sorted[hi], h - lo as f64);
    let diff = b - a;
    // NumPy's _lerp: from the nearer end, so t = 1 gives b exactly.
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// The inner edges of ten equal-population bins (the deciles), duplicates removed: bin `i`
/// holds the values with exactly `i` edges at or below them.
pub(crate) fn decile_edges(values: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = (1..10)
        .map(|i| quantile_sorted(&sorted, f64::from(i) / 10.0))
        .collect();
    edges.dedup();
    edges
}

/// The bin of `x` for `edges`: how many edges are at or below it.
pub(crate) fn bin(edges: &[f64], x: f64) -> usize {
    edges.partition_point(|e| *e <= x)
}

/// The share of `values` in each bin of `edges` (`edges.len() + 1` bins); zeros for no values.
pub(crate) fn shares(edges: &[f64], values: &[f64]) -> Vec<f64> {
    let mut counts = vec![0u64; edges.len() + 1];
    for v in values {
        counts[bin(edges, *v)] += 1;
    }
    to_shares(&counts)
}

/// Counts divided by their total; zeros for a zero total.
pub(crate) fn to_shares(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    counts
        .iter()
        .map(|c| {
            if total == 0 {
                0.0
            } else {
                *c as f64 / total as f64
            }
        })
        .collect()
}

/// Population stability index of `actual` shares against `expected` shares, bin by bin:
/// Σ (a − e)·ln(a / e), each share floored at [`PSI_FLOOR`]. 0 means the same distribution;
/// the usual reading is below 0.1 stable, 0.1–0.25 a moderate shift, above 0.25 a large one.
pub(crate) fn psi(expected: &[f64], actual: &[f64]) -> f64 {
    expected
        .iter()
        .zip(actual)
        .map(|(e, a)| {
            let (e, a) = (e.max(PSI_FLOOR), a.max(PSI_FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// The two-sample Kolmogorov–Smirnov statistic of two sorted samples: the largest distance
/// between their empirical distribution functions, as `scipy.stats.ks_2samp` computes it
/// (ties handled by comparing both functions after every value equal to the current one).
/// NaN when either sample is empty.
pub(crate) fn ks_two_sample(a: &[f64], b: &[f64]) -> f64 {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return f64::NAN;
    }
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < n && j < m {
        let x = a[i].min(b[j]);
        while i < n && a[i] <= x {
            i += 1;
        }
        while j < m && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n as f64 - j as f64 / m as f64).abs());
    }
    // Once one sample is used up its function is 1 and the other's only climbs towards it.
    d
}

/// PSI and KS of one window against its reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drift {
    /// Values in the window.
    pub samples: usize,
    /// Population stability index; NaN below [`MIN_SAMPLES`].
    pub psi: f64,
    /// Two-sample KS statistic; NaN below [`MIN_SAMPLES`] and for categorical features.
    pub ks: f64,
}

/// Drift of numeric `values` (any order) against a numeric reference.
pub(crate) fn numeric_drift(reference: &Numeric, values: &mut [f64]) -> Drift {
    let samples = values.len();
    if samples < MIN_SAMPLES {
        return Drift {
            samples,
            psi: f64::NAN,
            ks: f64::NAN,
        };
    }
    values.sort_by(f64::total_cmp);
    Drift {
        samples,
        psi: psi(&reference.shares, &shares(&reference.edges, values)),
        ks: ks_two_sample(&reference.sample, values),
    }
}

/// Drift of categorical counts (in the reference's category order) against its shares.
pub(crate) fn categorical_drift(expected: &[f64], counts: &[u64]) -> Drift {
    let samples = counts.iter().sum::<u64>() as usize;
    Drift {
        samples,
        psi: if samples < MIN_SAMPLES {
            f64::NAN
        } else {
            psi(expected, &to_shares(counts))
        },
        ks: f64::NAN,
    }
}

/// Recent values with their arrival time: the last [`WINDOW`], at most [`WINDOW_CAPACITY`].
#[derive(Debug, Default)]
struct Window<T> {
    values: VecDeque<(Instant, T)>,
}

impl<T: Copy> Window<T> {
    fn push(&mut self, now: Instant, v: T) {
        if self.values.len() == WINDOW_CAPACITY {
            self.values.pop_front();
        }
        self.values.push_back((now, v));
    }

    fn prune(&mut self, now: Instant, window: Duration) {
        while self
            .values
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > window)
        {
            self.values.pop_front();
        }
    }

    fn values(&self) -> impl Iterator<Item = T> + '_ {
        self.values.iter().map(|(_, v)| *v)
    }
}

#[derive(Debug, Default)]
struct Windows {
    numeric: [Window<f64>; 4],
    score: Window<f64>,
    employment: Window<u8>,
    region: Window<u8>,
}

/// The drift of every feature and of the score, in export order: the numeric features, the
/// categorical ones, then `score`.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftReport {
    /// `(feature, drift)`; feature names from the fixed lists, plus [`SCORE`].
    pub features: Vec<(&'static str, Drift)>,
}

/// The sliding windows of recent inputs and scores, compared against a reference on demand.
#[derive(Debug)]
pub struct DriftMonitor {
    reference: Reference,
    windows: Mutex<Windows>,
    window: Duration,
}

impl DriftMonitor {
    /// A monitor comparing the last [`WINDOW`] against `reference`.
    pub fn new(reference: Reference) -> Self {
        Self::with_window(reference, WINDOW)
    }

    /// A monitor whose windows hold the last `window` (the time warp shortens it).
    pub fn with_window(reference: Reference, window: Duration) -> Self {
        Self {
            reference,
            windows: Mutex::default(),
            window,
        }
    }

    /// The reference it compares against.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// Adds one accepted request's features (missing values are not drift: they are counted
    /// apart) and, when the model answered, its score.
    pub fn observe(&self, now: Instant, f: &Features, score: Option<f64>) {
        let mut w = self.windows.lock();
        for (i, v) in f.numeric().into_iter().enumerate() {
            if let Some(v) = v {
                w.numeric[i].push(now, v);
            }
        }
        if let Some(e) = f.employment {
            let i = Employment::ALL.iter().position(|x| *x == e).unwrap_or(0);
            w.employment.push(now, i as u8);
        }
        if let Some(r) = f.region {
            let i = Region::ALL.iter().position(|x| *x == r).unwrap_or(0);
            w.region.push(now, i as u8);
        }
        if let Some(s) = score {
            w.score.push(now, s);
        }
    }

    /// Drops what fell out of the window and computes every feature's drift. Sorting happens
    /// on copies outside the lock, so requests are held up only for the copy.
    pub fn report(&self, now: Instant) -> DriftReport {
        let (mut numeric, mut score, employment, region) = {
            let mut w = self.windows.lock();
            for win in w.numeric.iter_mut() {
                win.prune(now, self.window);
            }
            w.score.prune(now, self.window);
            w.employment.prune(now, self.window);
            w.region.prune(now, self.window);
            let numeric: Vec<Vec<f64>> = w.numeric.iter().map(|x| x.values().collect()).collect();
            let count = |win: &Window<u8>| {
                let mut c = [0u64; 4];
                for i in win.values() {
                    c[usize::from(i)] += 1;
                }
                c
            };
            (
                numeric,
                w.score.values().collect::<Vec<f64>>(),
                count(&w.employment),
                count(&w.region),
            )
        };
        let mut features = Vec::with_capacity(NUMERIC.len() + CATEGORICAL.len() + 1);
        for (i, name) in NUMERIC.iter().enumerate() {
            features.push((
                *name,
                numeric_drift(self.reference.numeric(name), &mut numeric[i]),
            ));
        }
        features.push((
            "employment",
            categorical_drift(&self.reference.category_shares("employment"), &employment),
        ));
        features.push((
            "region",
            categorical_drift(&self.reference.category_shares("region"), &region),
        ));
        features.push((SCORE, numeric_drift(&self.reference.score, &mut score)));
        DriftReport { features }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Case {
        name: String,
        reference: Vec<f64>,
        window: Vec<f64>,
        edges: Vec<f64>,
        reference_shares: Vec<f64>,
        window_shares: Vec<f64>,
        psi: f64,
        ks: f64,
    }

    #[derive(Deserialize)]
    struct Categorical {
        expected: Vec<f64>,
        counts: Vec<u64>,
        psi: f64,
    }

    #[derive(Deserialize)]
    struct Fixture {
        numeric: Vec<Case>,
        categorical: Vec<Categorical>,
    }

    /// The figures SciPy and NumPy computed on the same data (scripts/drift-fixture.py).
    #[test]
    fn psi_and_ks_match_scipy_on_the_fixture() {
        let fx: Fixture =
            serde_json::from_str(include_str!("../../tests/fixtures/drift.json")).unwrap();
        assert!(fx.numeric.len() >= 4);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
        for c in &fx.numeric {
            let edges = decile_edges(&c.reference);
            assert_eq!(edges.len(), c.edges.len(), "{}: edges {edges:?}", c.name);
            for (a, b) in edges.iter().zip(&c.edges) {
                assert!(close(*a, *b), "{}: edge {a} vs numpy {b}", c.name);
            }
            let ref_shares = shares(&c.edges, &c.reference);
            let win_shares = shares(&c.edges, &c.window);
            for (got, want) in [
                (&ref_shares, &c.reference_shares),
                (&win_shares, &c.window_shares),
            ] {
                assert_eq!(got.len(), want.len(), "{}", c.name);
                for (a, b) in got.iter().zip(want.iter()) {
                    assert!(close(*a, *b), "{}: share {a} vs numpy {b}", c.name);
                }
            }
            let got = psi(&ref_shares, &win_shares);
            assert!(
                close(got, c.psi),
                "{}: psi {got} vs numpy {}",
                c.name,
                c.psi
            );
            let (mut a, mut b) = (c.reference.clone(), c.window.clone());
            a.sort_by(f64::total_cmp);
            b.sort_by(f64::total_cmp);
            let got = ks_two_sample(&a, &b);
            assert!(close(got, c.ks), "{}: ks {got} vs scipy {}", c.name, c.ks);
        }
        for c in &fx.categorical {
            let got = psi(&c.expected, &to_shares(&c.counts));
            assert!(
                close(got, c.psi),
                "categorical psi {got} vs numpy {}",
                c.psi
            );
        }
    }

    #[test]
    fn identical_samples_do_not_drift_and_disjoint_ones_drift_fully() {
        let a: Vec<f64> = (0..1000).map(f64::from).collect();
        assert_eq!(ks_two_sample(&a, &a), 0.0);
        let e = decile_edges(&a);
        assert_eq!(psi(&shares(&e, &a), &shares(&e, &a)), 0.0);
        let b: Vec<f64> = (2000..2500).map(f64::from).collect();
        assert_eq!(ks_two_sample(&a, &b), 1.0);
        assert!(psi(&shares(&e, &a), &shares(&e, &b)) > 5.0);
        assert!(ks_two_sample(&a, &[]).is_nan());
        assert_eq!(bin(&[1.0, 2.0], 1.0), 1);
        assert_eq!(bin(&[1.0, 2.0], 0.5), 0);
        assert_eq!(bin(&[1.0, 2.0], 7.0), 2);
    }

    #[test]
    fn windows_forget_old_values_and_stay_bounded() {
        let m = DriftMonitor::new(Reference::shipped().clone());
        let t0 = Instant::now();
        let g = crate::ml::dataset::Generator::default();
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
        for i in 0..600u64 {
            let f = g.features(&mut rng);
            m.observe(t0 + Duration::from_millis(i * 100), &f, Some(0.2));
        }
        let r = m.report(t0 + Duration::from_secs(60));
        let (name, age) = r.features[0];
        // Only the last WINDOW_CAPACITY stay.
        assert_eq!((name, age.samples), ("age", WINDOW_CAPACITY));
        assert!(age.psi < 0.1 && age.ks < 0.1, "{age:?}");
        // The constant score is as far from the reference as a score can be.
        let score = r.features.last().unwrap().1;
        assert!(score.psi > 1.0 && score.ks > 0.4, "{score:?}");
        // The kept values arrived from 10 s to 59.9 s; at WINDOW + 30 s those before 30 s left.
        let later = m.report(t0 + WINDOW + Duration::from_secs(30));
        assert_eq!(later.features[0].1.samples, 300);
        let gone = m.report(t0 + WINDOW + Duration::from_secs(61));
        assert_eq!(gone.features[0].1.samples, 0);
        assert!(gone.features[0].1.psi.is_nan());
        let mut w = Window::default();
        for i in 0..(WINDOW_CAPACITY + 10) {
            w.push(t0, i as f64);
        }
        assert_eq!(w.values.len(), WINDOW_CAPACITY);
        assert_eq!(w.values.front().unwrap().1, 10.0);
    }
}
