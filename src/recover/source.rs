//! Bucket counts over a window, read from Prometheus's HTTP API.
//!
//! See [`fetch`]. The counts are the exact increase of each counter between the window's start
//! and end, computed here from the stored samples rather than with PromQL's `increase()`:
//! `increase()` extrapolates to the window edges, which turns whole counts into fractions
//! (a burst of 400 requests read back as 177.7) and scales each bucket series by its own
//! factor where series started at different times. For a fit that states how many samples it
//! rests on, and whose standard errors and G-test assume whole multinomial counts, we want the
//! counts as they were. Three instant queries per source give them:
//! - the counters at the start (the baseline; a series that did not exist yet starts at 0,
//!   as every counter of a freshly started process does),
//! - a subquery of at most [`MAX_POINTS`] points over the window, to see counter resets
//!   (a restarted service) without pulling every raw sample of a long window,
//! - the counters at the end.
//!
//! Between two points the increase is the difference, or, after a reset (the count or any bucket
//! fell), the new value, the same rule Prometheus applies. What the equivalent PromQL
//! is — `sum by (le) (increase(<name>_bucket[W]))` — is shown in docs/recovering-distributions.md.

use super::binned::{Bin, Histogram};
use super::{Error, Metric};
use crate::promapi::{self, quote, Sample};
use std::collections::{BTreeMap, BTreeSet};

/// Most points the reset-detecting subquery asks for.
pub(crate) const MAX_POINTS: u64 = 200;

/// Which kind of histogram the counts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A native histogram (exponential buckets, schema 5 in monlab).
    Native,
    /// A classic histogram (`_bucket{le=…}` series).
    Classic,
}

impl Source {
    /// The word used in reports.
    pub fn word(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Classic => "classic",
        }
    }

    /// The series name of `metric` in this source.
    pub fn series(self, metric: Metric) -> &'static str {
        match (self, metric) {
            (Self::Native, Metric::Value) => "monlab_random_value_native",
            (Self::Native, Metric::Delay) => "monlab_random_delay_native_seconds",
            (Self::Classic, Metric::Value) => "monlab_random_value",
            (Self::Classic, Metric::Delay) => "monlab_random_delay_seconds",
        }
    }
}

/// Which series to read and when.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    /// `job` label value.
    pub job: String,
    /// `instance` label value; `None` sums over every instance of the job.
    pub instance: Option<String>,
    /// Window start, Unix seconds.
    pub start: f64,
    /// Window end, Unix seconds.
    pub end: f64,
}

/// What one source holds for one metric over the window.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Native or classic.
    pub source: Source,
    /// The series name.
    pub series: String,
    /// The instances summed.
    pub instances: Vec<String>,
    /// The bucket counts.
    pub histogram: Histogram,
    /// Observations counted (`_count` increase).
    pub count: f64,
    /// Counter resets seen in the window, over all instances.
    pub resets: u32,
    /// Anything the reader of the report should know about how the counts were put together.
    pub notes: Vec<String>,
}

/// The label matchers of a query, without braces.
fn matchers(q: &Query) -> String {
    let mut m = format!("job={}", quote(&q.job));
    if let Some(i) = &q.instance {
        m.push_str(&format!(", instance={}", quote(i)));
    }
    m
}

/// The selector of every series `source` keeps for `metric`.
pub(crate) fn selector(source: Source, metric: Metric, q: &Query) -> String {
    let name = source.series(metric);
    match source {
        Source::Native => format!("{name}{{{}}}", matchers(q)),
        Source::Classic => format!(
            "{{__name__=~{}, {}}}",
            quote(&format!("{name}_bucket|{name}_sum|{name}_count")),
            matchers(q)
        ),
    }
}

/// Reads the counts of `metric` from `source` over the window.
///
/// Errors: [`Error::Absent`] when Prometheus has never stored the series,
/// [`Error::NoData`] when it has, but nothing was observed in the window.
pub(crate) async fn fetch(
    prom: &promapi::Client,
    source: Source,
    metric: Metric,
    q: &Query,
) -> Result<Observed, Error> {
    let sel = selector(source, metric, q);
    let Some(timelines) = read_timelines(prom, &sel, q).await? else {
        return Err(why_empty(prom, source, metric, q, sel).await);
    };
    let mut notes = Vec::new();
    let (instances, per_instance): (Vec<String>, Vec<Delta>) = timelines
        .into_iter()
        .map(|(labels, timeline)| (instance_name(&labels), timeline.increase()))
        .unzip();
    let merged = merge(source, per_instance, &mut notes)?;
    if merged.count <= 0.0 {
        return Err(Error::NoData {
            series: source.series(metric).to_string(),
            start: q.start,
            end: q.end,
            detail: "the series exist, but their count did not grow".into(),
        });
    }
    let histogram = histogram_of(source, metric, &merged)?;
    if (histogram.total() - merged.count).abs() > 0.5 {
        notes.push(format!(
            "the buckets count {} observations but the count says {}",
            histogram.total(),
            merged.count
        ));
    }
    Ok(Observed {
        source,
        series: source.series(metric).to_string(),
        instances,
        histogram,
        count: merged.count,
        resets: merged.resets,
        notes,
    })
}

/// The timeline of every instance (label set without name and `le`) from three queries: the
/// counters at the start, the subquery over the window, the counters at the end. `None` when
/// the window holds no sample at all.
async fn read_timelines(
    prom: &promapi::Client,
    sel: &str,
    q: &Query,
) -> Result<Option<BTreeMap<BTreeMap<String, String>, Timeline>>, Error> {
    let window_ms = ((q.end - q.start) * 1000.0).round().max(1.0) as u64;
    let step_ms = (window_ms / MAX_POINTS).max(1000);
    let sub = format!("{sel}[{window_ms}ms:{step_ms}ms]");
    let (at_start, during, at_end) = tokio::try_join!(
        prom.query(sel, q.start),
        prom.query(&sub, q.end),
        prom.query(sel, q.end),
    )?;
    let mut timelines: BTreeMap<BTreeMap<String, String>, Timeline> = BTreeMap::new();
    let mut seen_in_window = false;
    for (phase, series) in [(0, at_start), (1, during), (2, at_end)] {
        for s in series {
            if phase > 0 && !s.points.is_empty() {
                seen_in_window = true;
            }
            let mut key = s.labels.clone();
            let name = key.remove("__name__").unwrap_or_default();
            let le = key.remove("le");
            let t = timelines.entry(key).or_default();
            for (time, sample) in s.points {
                // Subquery points at or before the start duplicate the baseline; skip them.
                if phase == 1 && (time <= q.start || time >= q.end) {
                    continue;
                }
                t.add(phase, time, &name, le.as_deref(), sample);
            }
        }
    }
    Ok(seen_in_window.then_some(timelines))
}

/// Why a window without samples is empty: the series exist but saw nothing
/// ([`Error::NoData`]), or were never stored ([`Error::Absent`]).
async fn why_empty(
    prom: &promapi::Client,
    source: Source,
    metric: Metric,
    q: &Query,
    sel: String,
) -> Error {
    match prom.exists(&sel).await {
        Ok(true) => Error::NoData {
            series: source.series(metric).to_string(),
            start: q.start,
            end: q.end,
            detail: "no samples in the window".into(),
        },
        Ok(false) => Error::Absent {
            url: prom.url().to_string(),
            selector: sel,
        },
        Err(e) => e.into(),
    }
}

/// The `instance` label of a timeline, as the report lists it.
fn instance_name(labels: &BTreeMap<String, String>) -> String {
    labels
        .get("instance")
        .cloned()
        .unwrap_or_else(|| "(no instance label)".into())
}

/// The histogram the summed counts make: classic cumulative counts up to `+Inf`, or native
/// buckets by their edges.
fn histogram_of(source: Source, metric: Metric, merged: &Delta) -> Result<Histogram, Error> {
    let floor = (metric == Metric::Delay).then_some(0.0);
    let histogram = match source {
        Source::Classic => {
            let mut cum: Vec<(f64, f64)> = merged
                .buckets
                .iter()
                .map(|(k, v)| (f64::from_bits(k.1), *v))
                .collect();
            cum.sort_by(|a, b| a.0.total_cmp(&b.0));
            if cum.last().is_none_or(|(le, _)| *le != f64::INFINITY) {
                return Err(Error::Inconsistent(format!(
                    "{} has no le=\"+Inf\" bucket in the window",
                    source.series(metric)
                )));
            }
            Histogram::from_cumulative(&cum, merged.sum, floor)
        }
        Source::Native => {
            let mut bins: Vec<Bin> = merged
                .buckets
                .iter()
                .map(|(k, v)| Bin {
                    lower: f64::from_bits(k.0),
                    upper: f64::from_bits(k.1),
                    count: *v,
                })
                .filter(|b| b.count > 0.0)
                .collect();
            bins.sort_by(|a, b| a.lower.total_cmp(&b.lower));
            Histogram::new(bins, merged.sum)
        }
    };
    histogram.map_err(|e| {
        Error::Inconsistent(format!(
            "the {} buckets of {} do not form one histogram ({e}); the instances may use \
             different bucket layouts: pick one with --instance",
            source.word(),
            source.series(metric)
        ))
    })
}

/// A bucket's identity: `(lower, upper)` bits; classic buckets use `(le, le)`.
type BucketKey = (u64, u64);

/// Counters of one instance at one moment.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    count: Option<f64>,
    sum: Option<f64>,
    buckets: BTreeMap<BucketKey, f64>,
}

/// Snapshots of one instance in time order: baseline, window points, end.
#[derive(Debug, Default)]
struct Timeline {
    baseline: Option<Snapshot>,
    points: BTreeMap<u64, Snapshot>,
}

impl Timeline {
    fn add(&mut self, phase: u8, time: f64, name: &str, le: Option<&str>, sample: Sample) {
        let snap = if phase == 0 {
            self.baseline.get_or_insert_with(Snapshot::default)
        } else {
            // Timestamps are the evaluation times of the queries (ms precision), shared by every
            // series of a scrape, which is what lines a bucket up with its count.
            self.points
                .entry((time * 1000.0).round() as u64)
                .or_default()
        };
        match sample {
            Sample::Float(v) => {
                if name.ends_with("_count") {
                    snap.count = Some(v);
                } else if name.ends_with("_sum") {
                    snap.sum = Some(v);
                } else if let Some(le) = le {
                    let le = promapi::value(le);
                    snap.buckets.insert((le.to_bits(), le.to_bits()), v);
                }
            }
            Sample::Native(h) => {
                snap.count = Some(h.count);
                snap.sum = Some(h.sum);
                for b in h.buckets {
                    snap.buckets
                        .insert((b.lower.to_bits(), b.upper.to_bits()), b.count);
                }
            }
        }
    }

    /// The exact increase over the timeline, with resets.
    fn increase(self) -> Delta {
        let mut delta = Delta::default();
        // A series that did not exist at the start began at zero inside the window.
        let mut prev = self.baseline.unwrap_or(Snapshot {
            count: Some(0.0),
            sum: Some(0.0),
            buckets: BTreeMap::new(),
        });
        for (_, cur) in self.points {
            let (Some(count), Some(sum)) = (cur.count, cur.sum) else {
                continue;
            };
            let prev_count = prev.count.unwrap_or(0.0);
            let fell = count < prev_count
                || prev
                    .buckets
                    .iter()
                    .any(|(k, v)| cur.buckets.get(k).is_none_or(|c| c < v));
            if fell {
                delta.resets += 1;
                delta.count += count;
                delta.sum += sum;
                for (k, v) in &cur.buckets {
                    *delta.buckets.entry(*k).or_default() += v;
                }
            } else {
                delta.count += count - prev_count;
                delta.sum += sum - prev.sum.unwrap_or(0.0);
                for (k, v) in &cur.buckets {
                    *delta.buckets.entry(*k).or_default() +=
                        v - prev.buckets.get(k).copied().unwrap_or(0.0);
                }
            }
            prev = cur;
        }
        delta
    }
}

/// The increase of one instance's counters.
#[derive(Debug, Default, Clone)]
struct Delta {
    count: f64,
    sum: f64,
    buckets: BTreeMap<BucketKey, f64>,
    resets: u32,
}

/// Sums instances. Classic cumulative counts add up only at boundaries every instance has, so
/// other boundaries are dropped (with a note); native buckets add up by their edges.
fn merge(source: Source, parts: Vec<Delta>, notes: &mut Vec<String>) -> Result<Delta, Error> {
    let mut out = Delta::default();
    let common: Option<BTreeSet<BucketKey>> = match source {
        Source::Classic => parts
            .iter()
            .map(|d| d.buckets.keys().copied().collect::<BTreeSet<_>>())
            .reduce(|a, b| a.intersection(&b).copied().collect()),
        Source::Native => None,
    };
    let mut dropped = BTreeSet::new();
    for d in parts {
        out.count += d.count;
        out.sum += d.sum;
        out.resets += d.resets;
        for (k, v) in d.buckets {
            if common.as_ref().is_some_and(|c| !c.contains(&k)) {
                dropped.insert(k);
                continue;
            }
            *out.buckets.entry(k).or_default() += v;
        }
    }
    if !dropped.is_empty() {
        notes.push(format!(
            "{} classic boundaries not shared by every instance were left out",
            dropped.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promapi::{NativeBucket, NativeHistogram};

    fn float(t: &mut Timeline, phase: u8, time: f64, count: f64, sum: f64, buckets: &[(f64, f64)]) {
        t.add(phase, time, "x_count", None, Sample::Float(count));
        t.add(phase, time, "x_sum", None, Sample::Float(sum));
        for (le, v) in buckets {
            t.add(
                phase,
                time,
                "x_bucket",
                Some(&le.to_string()),
                Sample::Float(*v),
            );
        }
    }

    #[test]
    fn increase_is_exact_and_survives_a_restart() {
        let mut t = Timeline::default();
        let inf = f64::INFINITY;
        float(&mut t, 0, 100.0, 10.0, 5.0, &[(1.0, 4.0), (inf, 10.0)]);
        float(&mut t, 1, 110.0, 30.0, 20.0, &[(1.0, 10.0), (inf, 30.0)]);
        // Restart: the counters start again from zero and reach 7 by the next point.
        float(&mut t, 1, 120.0, 7.0, -3.0, &[(1.0, 7.0), (inf, 7.0)]);
        float(&mut t, 2, 130.0, 9.0, -2.0, &[(1.0, 8.0), (inf, 9.0)]);
        let d = t.increase();
        assert_eq!(d.resets, 1);
        assert_eq!(d.count, 20.0 + 7.0 + 2.0);
        // The sum may fall without a reset (negative values); only the count decides.
        assert_eq!(d.sum, 15.0 + -3.0 + 1.0);
        let le1 = (1f64.to_bits(), 1f64.to_bits());
        assert_eq!(d.buckets[&le1], 6.0 + 7.0 + 1.0);
    }

    #[test]
    fn a_series_born_in_the_window_starts_from_zero() {
        let mut t = Timeline::default();
        float(&mut t, 1, 110.0, 3.0, 1.5, &[(f64::INFINITY, 3.0)]);
        float(&mut t, 2, 120.0, 5.0, 2.5, &[(f64::INFINITY, 5.0)]);
        let d = t.increase();
        assert_eq!((d.count, d.sum, d.resets), (5.0, 2.5, 0));
    }

    #[test]
    fn native_samples_subtract_by_bucket() {
        let bucket = |lower: f64, upper: f64, count: f64| NativeBucket {
            lower,
            upper,
            count,
        };
        let samples = [
            (
                1.0,
                3.0,
                3.3,
                vec![bucket(1.0, 1.1, 2.0), bucket(1.1, 1.2, 1.0)],
            ),
            (
                2.0,
                6.0,
                -1.0,
                vec![
                    bucket(1.0, 1.1, 2.0),
                    bucket(-2.0, -1.9, 3.0),
                    bucket(1.1, 1.2, 1.0),
                ],
            ),
        ];
        let mut t = Timeline::default();
        for (time, count, sum, buckets) in samples {
            let h = NativeHistogram {
                count,
                sum,
                buckets,
            };
            t.add(1, time, "n", None, Sample::Native(h));
        }
        let d = t.increase();
        assert_eq!(d.count, 6.0);
        let neg = ((-2f64).to_bits(), (-1.9f64).to_bits());
        assert_eq!(d.buckets[&neg], 3.0);
        assert_eq!(d.resets, 0);
    }

    #[test]
    fn classic_instances_add_up_on_shared_boundaries() {
        let k = |x: f64| (x.to_bits(), x.to_bits());
        let a = Delta {
            count: 10.0,
            sum: 1.0,
            buckets: [(k(1.0), 4.0), (k(2.0), 8.0), (k(f64::INFINITY), 10.0)].into(),
            resets: 0,
        };
        let b = Delta {
            count: 5.0,
            sum: 2.0,
            buckets: [(k(1.0), 1.0), (k(f64::INFINITY), 5.0)].into(),
            resets: 1,
        };
        let mut notes = Vec::new();
        let m = merge(Source::Classic, vec![a, b], &mut notes).unwrap();
        assert_eq!(m.buckets.len(), 2);
        assert_eq!(m.buckets[&k(1.0)], 5.0);
        assert_eq!(m.buckets[&k(f64::INFINITY)], 15.0);
        assert_eq!((m.count, m.resets), (15.0, 1));
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn selectors_quote_label_values() {
        let q = Query {
            job: "mon\"lab".into(),
            instance: Some("127.0.0.1:8080".into()),
            start: 0.0,
            end: 1.0,
        };
        assert_eq!(
            selector(Source::Native, Metric::Delay, &q),
            r#"monlab_random_delay_native_seconds{job="mon\"lab", instance="127.0.0.1:8080"}"#
        );
        assert!(selector(Source::Classic, Metric::Value, &q)
            .starts_with(r#"{__name__=~"monlab_random_value_bucket|monlab_random_value_sum|"#));
    }
}
