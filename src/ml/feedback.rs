//! Feedback: the true outcome of a prediction, arriving late, and the quality it reveals.
//!
//! [`PredictionStore`] remembers the most recent predictions (at most
//! [`STORE_CAPACITY`]; the oldest are forgotten first) so that `POST /feedback` can find what
//! was answered. [`QualityWindow`] keeps the labelled model predictions of the last
//! [`QUALITY_WINDOW`] and computes accuracy, precision, recall and the expected calibration
//! error over them. The positive class is "defaults" (the model's decline).

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Predictions remembered for feedback: about 18 hours at the default 3 predictions/s, or
/// 3 minutes at 1,000/s; about 40 bytes each.
pub(crate) const STORE_CAPACITY: usize = 200_000;
/// How far back the decided cohort's quality window reaches, the same as the alert rules'
/// 5-minute window.
pub(crate) const QUALITY_WINDOW: Duration = Duration::from_secs(300);
/// How far back the holdout's quality window reaches: the holdout is a small share, and an
/// hour of its labels (about 200 at 3 predictions/s and a 2% holdout) measures accuracy to
/// about ±0.03.
pub(crate) const HOLDOUT_QUALITY_WINDOW: Duration = Duration::from_secs(3600);
/// Most labels a quality window keeps (beyond it the oldest go first, so at very high rates
/// a window covers less than its duration).
pub(crate) const QUALITY_CAPACITY: usize = 20_000;
/// Equal-width score bins of the calibration error.
pub(crate) const CALIBRATION_BINS: usize = 10;

/// What was answered for one prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Answered {
    /// The model's score; `None` when the fallback answered.
    pub score: Option<f64>,
    /// Whether the model (or the fallback) declined, on its own.
    pub declined: bool,
    /// Whether the prediction was in the holdout: approved whatever was decided.
    pub holdout: bool,
    /// When it was answered.
    pub at: Instant,
}

/// A decision as the API and the metrics write it: `decline` or `approve`.
pub(crate) fn decision(declines: bool) -> &'static str {
    if declines {
        "decline"
    } else {
        "approve"
    }
}

impl Answered {
    /// Whether the applicant was told no: declined and not in the holdout. Such an
    /// application never gets an outcome.
    pub fn answered_decline(&self) -> bool {
        self.declined && !self.holdout
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    seq: u64,
    answered: Answered,
    labelled: bool,
}

/// Why feedback was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedbackError {
    /// Not an id this service hands out.
    #[error("prediction_id must look like p followed by 18 hexadecimal digits")]
    Malformed,
    /// Never issued by this process, or already forgotten.
    #[error("no recent prediction has this id (unknown, or older than the last {STORE_CAPACITY})")]
    Unknown,
    /// A label was already recorded for it.
    #[error("feedback for this prediction was already recorded")]
    AlreadyLabelled,
    /// The applicant was declined (outside the holdout), so no outcome can exist: a label
    /// for it would be made up.
    #[error("prediction {0} was declined: a declined application never gets an outcome")]
    Declined(String),
}

#[derive(Debug)]
struct Ring {
    next: u64,
    slots: Vec<Slot>,
}

/// The most recent predictions, by id. Ids are `p` + this process's random prefix (8 hex
/// digits) + a sequence number (10 hex digits), so lookups are a slot index, not a hash, and
/// ids from before a restart are recognised as unknown.
#[derive(Debug)]
pub struct PredictionStore {
    prefix: u32,
    capacity: usize,
    ring: Mutex<Ring>,
}

impl PredictionStore {
    /// An empty store with a random id prefix, keeping `capacity` predictions (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self::with_prefix(rand::random(), capacity)
    }

    /// An empty store with a given prefix (tests).
    pub fn with_prefix(prefix: u32, capacity: usize) -> Self {
        Self {
            prefix,
            capacity: capacity.max(1),
            ring: Mutex::new(Ring {
                next: 0,
                slots: Vec::new(),
            }),
        }
    }

    /// Remembers a prediction and returns its id; the oldest one is forgotten when full.
    pub fn insert(&self, answered: Answered) -> String {
        let mut ring = self.ring.lock();
        // The sequence number is taken under the lock, so slots fill in order.
        let seq = ring.next;
        ring.next += 1;
        let slot = Slot {
            seq,
            answered,
            labelled: false,
        };
        let i = (seq % self.capacity as u64) as usize;
        if i == ring.slots.len() {
            ring.slots.push(slot);
        } else {
            ring.slots[i] = slot;
        }
        drop(ring);
        format!("p{:08x}{:010x}", self.prefix, seq)
    }

    /// Predictions remembered now.
    pub fn len(&self) -> usize {
        self.ring.lock().slots.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks the prediction `id` as labelled and returns what was answered. A declined
    /// prediction is refused and stays unlabelled.
    pub fn label(&self, id: &str) -> Result<Answered, FeedbackError> {
        let hex = id
            .strip_prefix('p')
            .filter(|h| h.len() == 18 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or(FeedbackError::Malformed)?;
        let prefix = u32::from_str_radix(&hex[..8], 16).map_err(|_| FeedbackError::Malformed)?;
        let seq = u64::from_str_radix(&hex[8..], 16).map_err(|_| FeedbackError::Malformed)?;
        if prefix != self.prefix {
            return Err(FeedbackError::Unknown);
        }
        let mut ring = self.ring.lock();
        let i = (seq % self.capacity as u64) as usize;
        let slot = ring
            .slots
            .get_mut(i)
            .filter(|s| s.seq == seq)
            .ok_or(FeedbackError::Unknown)?;
        if slot.labelled {
            return Err(FeedbackError::AlreadyLabelled);
        }
        if slot.answered.answered_decline() {
            return Err(FeedbackError::Declined(id.to_string()));
        }
        slot.labelled = true;
        Ok(slot.answered)
    }
}

/// Quality of the labelled model predictions in a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Labels in the window.
    pub labels: usize,
    /// Share of decisions that matched the outcome.
    pub accuracy: f64,
    /// Of the declined, the share who defaulted; NaN with no declines.
    pub precision: f64,
    /// Of those who defaulted, the share declined; NaN with no defaults.
    pub recall: f64,
    /// Expected calibration error: over [`CALIBRATION_BINS`] equal-width score bins, the
    /// label-weighted mean of |mean score − default rate|. 0 for a calibrated model.
    pub calibration_error: f64,
}

#[derive(Debug, Clone, Copy)]
struct Labelled {
    at: Instant,
    score: f64,
    declined: bool,
    defaulted: bool,
}

/// The labelled model predictions of the last [`QUALITY_WINDOW`] (shorter under the time
/// warp), at most [`QUALITY_CAPACITY`]; the window is by feedback time.
#[derive(Debug)]
pub struct QualityWindow {
    labels: Mutex<VecDeque<Labelled>>,
    window: Duration,
}

impl Default for QualityWindow {
    fn default() -> Self {
        Self::with_window(QUALITY_WINDOW)
    }
}

impl QualityWindow {
    /// An empty window holding the labels of the last `window`.
    pub fn with_window(window: Duration) -> Self {
        Self {
            labels: Mutex::default(),
            window,
        }
    }

    /// Adds one label of a model prediction.
    pub fn push(&self, now: Instant, score: f64, declined: bool, defaulted: bool) {
        let mut l = self.labels.lock();
        if l.len() == QUALITY_CAPACITY {
            l.pop_front();
        }
        l.push_back(Labelled {
            at: now,
            score,
            declined,
            defaulted,
        });
    }

    /// Forgets labels older than the window and computes the quality of the rest; every
    /// ratio is NaN without labels.
    pub fn quality(&self, now: Instant) -> Quality {
        let labels: Vec<Labelled> = {
            let mut l = self.labels.lock();
            while l
                .front()
                .is_some_and(|x| now.saturating_duration_since(x.at) > self.window)
            {
                l.pop_front();
            }
            l.iter().copied().collect()
        };
        quality(&labels)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

fn quality(labels: &[Labelled]) -> Quality {
    let n = labels.len();
    let tp = labels.iter().filter(|l| l.declined && l.defaulted).count();
    let declined = labels.iter().filter(|l| l.declined).count();
    let defaulted = labels.iter().filter(|l| l.defaulted).count();
    let correct = labels.iter().filter(|l| l.declined == l.defaulted).count();
    let mut bins = [(0usize, 0.0f64, 0usize); CALIBRATION_BINS];
    for l in labels {
        let b = ((l.score * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1);
        bins[b].0 += 1;
        bins[b].1 += l.score;
        bins[b].2 += usize::from(l.defaulted);
    }
    let calibration_error = if n == 0 {
        f64::NAN
    } else {
        bins.iter()
            .filter(|b| b.0 > 0)
            .map(|(k, sum, pos)| {
                let k = *k as f64;
                (k / n as f64) * (sum / k - *pos as f64 / k).abs()
            })
            .sum()
    };
    Quality {
        labels: n,
        accuracy: ratio(correct, n),
        precision: ratio(tp, declined),
        recall: ratio(tp, defaulted),
        calibration_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(score: f64) -> Answered {
        Answered {
            score: Some(score),
            declined: score >= 0.5,
            holdout: false,
            at: Instant::now(),
        }
    }

    #[test]
    fn ids_find_their_prediction_once_and_old_ones_are_forgotten() {
        let s = PredictionStore::with_prefix(0xabcd, 3);
        let ids: Vec<String> = (0..4)
            .map(|i| s.insert(answered(f64::from(i) / 4.0)))
            .collect();
        assert_eq!(ids[1], "p0000abcd0000000001");
        assert_eq!(s.len(), 3);
        // The first was pushed out by the fourth.
        assert_eq!(s.label(&ids[0]), Err(FeedbackError::Unknown));
        assert_eq!(s.label(&ids[1]).unwrap().score, Some(0.25));
        assert_eq!(s.label(&ids[1]), Err(FeedbackError::AlreadyLabelled));
        // 0.5 was declined: refused, and refused again (it never becomes labelled).
        for _ in 0..2 {
            assert_eq!(
                s.label(&ids[2]),
                Err(FeedbackError::Declined(ids[2].clone()))
            );
        }
        for bad in [
            "",
            "p",
            "x0000abcd0000000001",
            "p0000abcd00000000zz",
            "p0000abcd1",
        ] {
            assert_eq!(s.label(bad), Err(FeedbackError::Malformed), "{bad}");
        }
        // The store keeps the holdout flag beside the model's own decision.
        let held = s.insert(Answered {
            holdout: true,
            ..answered(0.9)
        });
        let a = s.label(&held).unwrap();
        assert!(a.declined && a.holdout && !a.answered_decline());
        // Another process's prefix, or a sequence number never issued.
        assert_eq!(s.label("p0000abce0000000001"), Err(FeedbackError::Unknown));
        assert_eq!(s.label("p0000abcd0000000009"), Err(FeedbackError::Unknown));
    }

    #[test]
    fn quality_counts_decisions_against_outcomes() {
        let w = QualityWindow::default();
        let t0 = Instant::now();
        // Two true declines, one false decline, one missed default, four true approvals.
        for (score, declined, defaulted) in [
            (0.85, true, true),
            (0.75, true, true),
            (0.65, true, false),
            (0.15, false, true),
            (0.15, false, false),
            (0.15, false, false),
            (0.05, false, false),
            (0.05, false, false),
        ] {
            w.push(t0, score, declined, defaulted);
        }
        let q = w.quality(t0);
        assert_eq!(q.labels, 8);
        assert_eq!(q.accuracy, 6.0 / 8.0);
        assert_eq!(q.precision, 2.0 / 3.0);
        assert_eq!(q.recall, 2.0 / 3.0);
        // Bins: 0.85 → |0.85−1|, 0.75 → |0.75−1|, 0.65 → |0.65−0|, 0.15 ×3 → |0.15−1/3|,
        // 0.05 ×2 → |0.05−0|; weighted by 1/8 each.
        let want = (0.15 + 0.25 + 0.65 + 3.0 * (1.0f64 / 3.0 - 0.15) + 2.0 * 0.05) / 8.0;
        assert!((q.calibration_error - want).abs() < 1e-12, "{q:?}");
        let later = w.quality(t0 + QUALITY_WINDOW + Duration::from_secs(1));
        assert_eq!(later.labels, 0);
        assert!(later.accuracy.is_nan() && later.calibration_error.is_nan());
    }
}
