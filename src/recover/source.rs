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
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Most points the reset-detecting subquery asks for.
pub const MAX_POINTS: u64 = 200;

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
pub struct Query {
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

/// A Prometheus HTTP API client.
#[derive(Debug, Clone)]
pub struct Prometheus {
    client: reqwest::Client,
    base: String,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    data: Option<serde_json::Value>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct RawSeries {
    metric: BTreeMap<String, String>,
    value: Option<(f64, String)>,
    values: Option<Vec<(f64, String)>>,
    histogram: Option<(f64, RawHistogram)>,
    histograms: Option<Vec<(f64, RawHistogram)>>,
}

/// A native histogram as the API writes it; buckets are `[boundary_rule, lower, upper, count]`.
#[derive(Debug, Clone, Deserialize)]
pub struct RawHistogram {
    count: String,
    sum: String,
    #[serde(default)]
    buckets: Vec<(u8, String, String, String)>,
}

/// One series' samples: label set and (timestamp, value) points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Labels, `__name__` included.
    pub labels: BTreeMap<String, String>,
    /// Points in time order.
    pub points: Vec<(f64, Sample)>,
}

/// One sample.
#[derive(Debug, Clone)]
pub enum Sample {
    /// A float (counter) sample.
    Float(f64),
    /// A native histogram sample.
    Native(RawHistogram),
}

fn num(s: &str) -> f64 {
    s.parse::<f64>().unwrap_or(f64::NAN)
}

/// The innermost cause of an error, on one line.
fn reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string().replace('\n', " ")
}

impl Prometheus {
    /// A client of the Prometheus at `base` (e.g. `http://127.0.0.1:9090`).
    pub fn new(base: &str) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::Unreachable {
                url: base.to_string(),
                reason: reason(&e),
            })?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// GETs an API path; returns its `data` (an object for queries, an array for series).
    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<serde_json::Value, Error> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .client
            .get(&url)
            .query(params)
            .send()
            .await
            .map_err(|e| Error::Unreachable {
                url: self.base.clone(),
                reason: reason(&e),
            })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| Error::Unreachable {
            url: self.base.clone(),
            reason: reason(&e),
        })?;
        let what = params
            .iter()
            .find(|(k, _)| *k == "query" || *k == "match[]")
            .map_or(String::new(), |(_, q)| q.clone());
        let env: Envelope = serde_json::from_slice(&body).map_err(|_| Error::NotPrometheus {
            url: self.base.clone(),
            status: status.as_u16(),
        })?;
        if env.status != "success" {
            return Err(Error::Query {
                url: self.base.clone(),
                query: what,
                message: env
                    .error
                    .unwrap_or_else(|| format!("HTTP {status}"))
                    .replace('\n', " "),
            });
        }
        env.data.ok_or(Error::NotPrometheus {
            url: self.base.clone(),
            status: status.as_u16(),
        })
    }

    /// Evaluates `query` at `time`; returns its vector or matrix result as series.
    pub async fn query(&self, query: &str, time: f64) -> Result<Vec<Series>, Error> {
        let data = self
            .get(
                "/api/v1/query",
                &[("query", query.to_string()), ("time", format!("{time:.3}"))],
            )
            .await?;
        self.series_of(query, data)
    }

    /// Evaluates `query` from `start` to `end` every `step` seconds (a range query).
    pub async fn query_range(
        &self,
        query: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<Vec<Series>, Error> {
        let data = self
            .get(
                "/api/v1/query_range",
                &[
                    ("query", query.to_string()),
                    ("start", format!("{start:.3}")),
                    ("end", format!("{end:.3}")),
                    ("step", format!("{step:.3}")),
                ],
            )
            .await?;
        self.series_of(query, data)
    }

    /// Turns a query's `data` into series.
    fn series_of(&self, query: &str, data: serde_json::Value) -> Result<Vec<Series>, Error> {
        let result = data.get("result").cloned().unwrap_or_default();
        let raw: Vec<RawSeries> = serde_json::from_value(result).map_err(|e| Error::Query {
            url: self.base.clone(),
            query: query.to_string(),
            message: format!("unexpected result shape: {e}"),
        })?;
        Ok(raw
            .into_iter()
            .map(|r| {
                let mut points: Vec<(f64, Sample)> = Vec::new();
                if let Some((t, v)) = r.value {
                    points.push((t, Sample::Float(num(&v))));
                }
                for (t, v) in r.values.unwrap_or_default() {
                    points.push((t, Sample::Float(num(&v))));
                }
                if let Some((t, h)) = r.histogram {
                    points.push((t, Sample::Native(h)));
                }
                for (t, h) in r.histograms.unwrap_or_default() {
                    points.push((t, Sample::Native(h)));
                }
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                Series {
                    labels: r.metric,
                    points,
                }
            })
            .collect())
    }

    /// Whether any series matches `selector` anywhere in Prometheus's storage.
    pub async fn exists(&self, selector: &str) -> Result<bool, Error> {
        let data = self
            .get("/api/v1/series", &[("match[]", selector.to_string())])
            .await?;
        Ok(data.as_array().is_some_and(|a| !a.is_empty()))
    }

    /// Fetches a `GET` JSON document from another service (the truth), with a short timeout.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let resp = self
            .client
            .get(url)
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .map_err(|e| reason(&e))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        resp.json::<T>().await.map_err(|e| reason(&e))
    }
}

/// Quotes a label value for PromQL.
fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
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
pub fn selector(source: Source, metric: Metric, q: &Query) -> String {
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
pub async fn fetch(
    prom: &Prometheus,
    source: Source,
    metric: Metric,
    q: &Query,
) -> Result<Observed, Error> {
    let sel = selector(source, metric, q);
    let window_ms = ((q.end - q.start) * 1000.0).round().max(1.0) as u64;
    let step_ms = (window_ms / MAX_POINTS).max(1000);
    let sub = format!("{sel}[{window_ms}ms:{step_ms}ms]");
    let (at_start, during, at_end) = tokio::try_join!(
        prom.query(&sel, q.start),
        prom.query(&sub, q.end),
        prom.query(&sel, q.end),
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
    if !seen_in_window {
        let exists = prom.exists(&sel).await?;
        return Err(if exists {
            Error::NoData {
                series: source.series(metric).to_string(),
                start: q.start,
                end: q.end,
                detail: "no samples in the window".into(),
            }
        } else {
            Error::Absent {
                url: prom.url().to_string(),
                selector: sel,
            }
        });
    }

    let mut notes = Vec::new();
    let mut instances = Vec::new();
    let mut resets = 0;
    let mut per_instance: Vec<Delta> = Vec::new();
    for (labels, timeline) in timelines {
        let delta = timeline.increase();
        resets += delta.resets;
        instances.push(
            labels
                .get("instance")
                .cloned()
                .unwrap_or_else(|| "(no instance label)".into()),
        );
        per_instance.push(delta);
    }
    let merged = merge(source, per_instance, &mut notes)?;
    if merged.count <= 0.0 {
        return Err(Error::NoData {
            series: source.series(metric).to_string(),
            start: q.start,
            end: q.end,
            detail: "the series exist, but their count did not grow".into(),
        });
    }
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
    }
    .map_err(|e| {
        Error::Inconsistent(format!(
            "the {} buckets of {} do not form one histogram ({e}); the instances may use \
             different bucket layouts: pick one with --instance",
            source.word(),
            source.series(metric)
        ))
    })?;
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
        resets,
        notes,
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
                    let le = num(le);
                    snap.buckets.insert((le.to_bits(), le.to_bits()), v);
                }
            }
            Sample::Native(h) => {
                snap.count = Some(num(&h.count));
                snap.sum = Some(num(&h.sum));
                for (_rule, lower, upper, count) in h.buckets {
                    snap.buckets
                        .insert((num(&lower).to_bits(), num(&upper).to_bits()), num(&count));
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
    fn native_samples_parse_and_subtract_by_bucket() {
        let json = serde_json::json!([{
            "metric": {"__name__": "n", "instance": "a"},
            "histograms": [
                [1.0, {"count": "3", "sum": "3.3", "buckets": [[0, "1", "1.1", "2"], [0, "1.1", "1.2", "1"]]}],
                [2.0, {"count": "6", "sum": "-1", "buckets": [[0, "1", "1.1", "2"], [1, "-2", "-1.9", "3"], [0, "1.1", "1.2", "1"]]}]
            ]
        }]);
        let raw: Vec<RawSeries> = serde_json::from_value(json).unwrap();
        let mut t = Timeline::default();
        for r in raw {
            for (time, h) in r.histograms.unwrap() {
                t.add(1, time, "n", None, Sample::Native(h));
            }
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
