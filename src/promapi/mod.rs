//! The client of the Prometheus HTTP API (Prometheus itself, or VictoriaMetrics, which answers
//! the same API), shared by `recover` and `report`.
//!
//! See [`Client`]. Its [`Error`]s name the URL and the cause but no flag: the command that
//! asked knows which of its flags set the URL (`recover --prometheus`, `report --store`) and
//! adds that hint where it maps the error.

use crate::api::error::innermost;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Longest wait for one API answer: a subquery over a day of raw samples takes seconds.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the connection: a local store that does not answer by then is not there.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the API gave no answer; each is one line for the terminal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP client could not be set up (no TLS backend, say).
    #[error("cannot set up an HTTP client for {url}: {reason}")]
    Setup {
        /// The URL it was for.
        url: String,
        /// The innermost cause.
        reason: String,
    },
    /// No answer.
    #[error("cannot reach Prometheus at {url}: {reason}")]
    Unreachable {
        /// Its URL.
        url: String,
        /// The innermost cause.
        reason: String,
    },
    /// Something answered that is not the Prometheus API.
    #[error("{url} answered HTTP {status} without a Prometheus API response")]
    NotPrometheus {
        /// Its URL.
        url: String,
        /// HTTP status.
        status: u16,
    },
    /// The API refused a query.
    #[error("Prometheus at {url} refused `{query}`: {message}")]
    Query {
        /// Its URL.
        url: String,
        /// The query.
        query: String,
        /// Its error text.
        message: String,
    },
}

impl Error {
    /// What to check, appended to the message by a command whose `flag` gave the URL.
    pub fn hint(&self, flag: &str) -> String {
        match self {
            Self::Unreachable { .. } => " (is it running? `monlab up` starts one)".into(),
            Self::NotPrometheus { .. } => format!(": is {flag} the right URL?"),
            Self::Setup { .. } | Self::Query { .. } => String::new(),
        }
    }
}

/// The exemplars of one series, as `/api/v1/query_exemplars` returns them.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ExemplarSeries {
    /// Its exemplars, oldest first.
    #[serde(default)]
    pub exemplars: Vec<Exemplar>,
}

/// One exemplar: its own labels, the value it was recorded with, and when.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Exemplar {
    /// The exemplar's labels (`request_id`, `user_id`).
    pub labels: BTreeMap<String, String>,
    /// The observed value, as Prometheus writes it.
    pub value: String,
    /// Unix seconds.
    pub timestamp: f64,
}

/// A Prometheus HTTP API client.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
}

/// One series' samples: label set and (timestamp, value) points.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    /// Labels, `__name__` included.
    pub labels: BTreeMap<String, String>,
    /// Points in time order.
    pub points: Vec<(f64, Sample)>,
}

/// One sample.
#[derive(Debug, Clone)]
pub(crate) enum Sample {
    /// A float (counter, gauge) sample.
    Float(f64),
    /// A native histogram sample.
    Native(NativeHistogram),
}

/// A native histogram sample, its numbers parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NativeHistogram {
    /// Observations counted.
    pub count: f64,
    /// Sum of the observations.
    pub sum: f64,
    /// The buckets that hold observations.
    pub buckets: Vec<NativeBucket>,
}

/// One bucket of a native histogram (which boundary is inclusive is not kept: no reader needs it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NativeBucket {
    /// Lower edge.
    pub lower: f64,
    /// Upper edge.
    pub upper: f64,
    /// Observations in it.
    pub count: f64,
}

/// The API's answer around its `data`.
#[derive(Deserialize)]
struct Envelope {
    status: String,
    data: Option<serde_json::Value>,
    error: Option<String>,
}

/// One series of a query's `result`, as the API writes it (vector, matrix, native or float).
#[derive(Deserialize)]
struct RawSeries {
    metric: BTreeMap<String, String>,
    value: Option<(f64, String)>,
    values: Option<Vec<(f64, String)>>,
    histogram: Option<(f64, RawHistogram)>,
    histograms: Option<Vec<(f64, RawHistogram)>>,
}

/// A native histogram as the API writes it; buckets are `[boundary_rule, lower, upper, count]`.
#[derive(Deserialize)]
struct RawHistogram {
    count: String,
    sum: String,
    #[serde(default)]
    buckets: Vec<(u8, String, String, String)>,
}

impl From<RawHistogram> for NativeHistogram {
    fn from(h: RawHistogram) -> Self {
        Self {
            count: value(&h.count),
            sum: value(&h.sum),
            buckets: h
                .buckets
                .iter()
                .map(|(_rule, lower, upper, count)| NativeBucket {
                    lower: value(lower),
                    upper: value(upper),
                    count: value(count),
                })
                .collect(),
        }
    }
}

impl RawSeries {
    /// Its points of every kind, in time order.
    fn into_series(self) -> Series {
        let floats = self
            .value
            .into_iter()
            .chain(self.values.unwrap_or_default());
        let natives = self
            .histogram
            .into_iter()
            .chain(self.histograms.unwrap_or_default());
        let mut points: Vec<(f64, Sample)> = floats
            .map(|(t, v)| (t, Sample::Float(value(&v))))
            .chain(natives.map(|(t, h)| (t, Sample::Native(h.into()))))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        Series {
            labels: self.metric,
            points,
        }
    }
}

/// A number as the API writes it (`"0.25"`, `"+Inf"`, `"NaN"`), also in an `le` label;
/// anything else is NaN.
pub(crate) fn value(s: &str) -> f64 {
    s.parse::<f64>().unwrap_or(f64::NAN)
}

/// Quotes a label value for PromQL.
pub(crate) fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Client {
    /// A client of the API at `base` (e.g. `http://127.0.0.1:9090`).
    pub(crate) fn new(base: &str) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| Error::Setup {
                url: base.to_string(),
                reason: innermost(&e),
            })?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// The base URL.
    pub(crate) fn url(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, e: &reqwest::Error) -> Error {
        Error::Unreachable {
            url: self.base.clone(),
            reason: innermost(e),
        }
    }

    /// GETs an API path; returns its `data` (an object for queries, an array for series).
    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<serde_json::Value, Error> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .query(params)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| self.unreachable(&e))?;
        let not_prometheus = || Error::NotPrometheus {
            url: self.base.clone(),
            status: status.as_u16(),
        };
        let env: Envelope = serde_json::from_slice(&body).map_err(|_| not_prometheus())?;
        if env.status != "success" {
            let query = params
                .iter()
                .find(|(k, _)| *k == "query" || *k == "match[]")
                .map_or(String::new(), |(_, q)| q.clone());
            return Err(Error::Query {
                url: self.base.clone(),
                query,
                message: env
                    .error
                    .unwrap_or_else(|| format!("HTTP {status}"))
                    .replace('\n', " "),
            });
        }
        env.data.ok_or_else(not_prometheus)
    }

    /// Evaluates `query` at `time`; returns its vector or matrix result as series.
    pub(crate) async fn query(&self, query: &str, time: f64) -> Result<Vec<Series>, Error> {
        let data = self
            .get(
                "/api/v1/query",
                &[("query", query.to_string()), ("time", format!("{time:.3}"))],
            )
            .await?;
        self.series_of(query, data)
    }

    /// Evaluates `query` from `start` to `end` every `step` seconds (a range query).
    pub(crate) async fn query_range(
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
        parse_result(data).map_err(|e| Error::Query {
            url: self.base.clone(),
            query: query.to_string(),
            message: format!("unexpected result shape: {e}"),
        })
    }

    /// The exemplars of the series `selector` matches between `start` and `end`
    /// (`/api/v1/query_exemplars`).
    pub(crate) async fn query_exemplars(
        &self,
        selector: &str,
        start: f64,
        end: f64,
    ) -> Result<Vec<ExemplarSeries>, Error> {
        let data = self
            .get(
                "/api/v1/query_exemplars",
                &[
                    ("query", selector.to_string()),
                    ("start", format!("{start:.3}")),
                    ("end", format!("{end:.3}")),
                ],
            )
            .await?;
        serde_json::from_value(data).map_err(|e| self.shape(selector, &e))
    }

    /// The command-line flags the server runs with (`/api/v1/status/flags`).
    pub(crate) async fn flags(&self) -> Result<BTreeMap<String, String>, Error> {
        let data = self.get("/api/v1/status/flags", &[]).await?;
        serde_json::from_value(data).map_err(|e| self.shape("/api/v1/status/flags", &e))
    }

    fn shape(&self, query: &str, e: &serde_json::Error) -> Error {
        Error::Query {
            url: self.base.clone(),
            query: query.to_string(),
            message: format!("unexpected result shape: {e}"),
        }
    }

    /// Whether any series matches `selector` anywhere in the store.
    pub(crate) async fn exists(&self, selector: &str) -> Result<bool, Error> {
        let data = self
            .get("/api/v1/series", &[("match[]", selector.to_string())])
            .await?;
        Ok(data.as_array().is_some_and(|a| !a.is_empty()))
    }
}

/// The series of a query's `data` (its `result`; none when it has no result).
fn parse_result(data: serde_json::Value) -> Result<Vec<Series>, serde_json::Error> {
    let result = data.get("result").cloned().unwrap_or_default();
    let raw: Vec<RawSeries> = serde_json::from_value(result)?;
    Ok(raw.into_iter().map(RawSeries::into_series).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_of_every_kind_parse_in_time_order() {
        let data = serde_json::json!({"resultType": "matrix", "result": [
            {"metric": {"__name__": "f", "le": "+Inf"}, "values": [[2.0, "NaN"], [1.0, "+Inf"]]},
            {"metric": {"__name__": "v"}, "value": [3.5, "0.25"]},
            {"metric": {"__name__": "n", "instance": "a"}, "histograms": [
                [2.0, {"count": "6", "sum": "-1", "buckets": [[1, "-2", "-1.9", "3"]]}],
                [1.0, {"count": "3", "sum": "3.3"}]
            ]}
        ]});
        let s = parse_result(data).unwrap();
        assert_eq!(s.len(), 3);
        match &s[0].points[..] {
            [(1.0, Sample::Float(a)), (2.0, Sample::Float(b))] => {
                assert_eq!(*a, f64::INFINITY);
                assert!(b.is_nan());
            }
            other => panic!("float points out of order: {other:?}"),
        }
        assert!(matches!(s[1].points[..], [(3.5, Sample::Float(x))] if x == 0.25));
        let natives: Vec<(f64, NativeHistogram)> = s[2]
            .points
            .iter()
            .map(|(t, v)| match v {
                Sample::Native(h) => (*t, h.clone()),
                Sample::Float(_) => unreachable!(),
            })
            .collect();
        assert_eq!(natives[0].0, 1.0);
        assert!(natives[0].1.buckets.is_empty());
        assert_eq!(
            natives[1],
            (
                2.0,
                NativeHistogram {
                    count: 6.0,
                    sum: -1.0,
                    buckets: vec![NativeBucket {
                        lower: -2.0,
                        upper: -1.9,
                        count: 3.0
                    }]
                }
            )
        );
    }

    #[test]
    fn messages_name_no_flag_and_hints_name_the_callers() {
        let e = Error::NotPrometheus {
            url: "http://127.0.0.1:8080".into(),
            status: 404,
        };
        assert!(!e.to_string().contains("--"), "{e}");
        assert_eq!(e.hint("--store"), ": is --store the right URL?");
        let e = Error::Unreachable {
            url: "http://127.0.0.1:1".into(),
            reason: "Connection refused".into(),
        };
        assert!(!format!("{e}{}", e.hint("--store")).contains("--"));
    }

    #[test]
    fn label_values_are_quoted() {
        assert_eq!(quote(r#"mon"lab\"#), r#""mon\"lab\\""#);
    }
}
