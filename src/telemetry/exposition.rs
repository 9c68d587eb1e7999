//! `/metrics`: encodes the registries in the format the scraper asks for.
//!
//! Three formats, chosen by the `Accept` header with its q-values:
//! - Prometheus protobuf (delimited `MetricFamily`), the only one that carries native
//!   histograms; a Prometheus with `--enable-feature=native-histograms` asks for it first;
//! - OpenMetrics text 1.0;
//! - Prometheus text 0.0.4, the default.
//!
//! The summary families are appended by hand in each format, because prometheus-client has no
//! summary type; forgetting the protobuf side would make them vanish from native scrapes.

use super::summary::{SummarySnapshot, WindowedSummary};
use super::Metrics;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model as pb;
use prometheus_client::encoding::{prometheus_protobuf, prometheus_text, text};
use prost::Message;
use std::fmt::Write;
use std::sync::Arc;

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4.
    Text,
    /// OpenMetrics text 1.0.0.
    OpenMetrics,
    /// Prometheus protobuf, length-delimited `MetricFamily` messages.
    Protobuf,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Text => prometheus_text::CONTENT_TYPE,
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Protobuf => {
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
            }
        }
    }

    /// Picks the format with the highest q-value in an `Accept` header; text when none fits.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::Text;
        };
        let mut best = (Self::Text, 0.0f32);
        for item in accept.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let params: Vec<(String, String)> = parts
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((
                        k.trim().to_ascii_lowercase(),
                        v.trim().trim_matches('"').to_string(),
                    ))
                })
                .collect();
            let param = |k: &str| {
                params
                    .iter()
                    .find(|(pk, _)| pk == k)
                    .map(|(_, v)| v.as_str())
            };
            let q = param("q")
                .and_then(|v| v.parse::<f32>().ok())
                .unwrap_or(1.0);
            let format = match media.as_str() {
                "application/vnd.google.protobuf"
                    if param("proto") == Some("io.prometheus.client.MetricFamily")
                        && param("encoding") == Some("delimited") =>
                {
                    Self::Protobuf
                }
                "application/openmetrics-text" => Self::OpenMetrics,
                "text/plain" | "*/*" | "text/*" => Self::Text,
                _ => continue,
            };
            if q > best.1 {
                best = (format, q);
            }
        }
        best.0
    }
}

impl Metrics {
    /// Encodes every family in `format`.
    pub fn encode(&self, format: Format) -> Result<Vec<u8>, std::fmt::Error> {
        let snapshots: Vec<(&WindowedSummary, SummarySnapshot)> = self
            .summaries
            .iter()
            .map(|s| (s.as_ref(), s.snapshot()))
            .collect();
        match format {
            Format::Text => {
                let mut out = String::with_capacity(32 * 1024);
                prometheus_text::encode(&mut out, &self.registry)?;
                for (s, snap) in &snapshots {
                    write_summary_text(&mut out, s, snap, false)?;
                }
                Ok(out.into_bytes())
            }
            Format::OpenMetrics => {
                let mut out = String::with_capacity(32 * 1024);
                text::encode_registry(&mut out, &self.registry)?;
                for (s, snap) in &snapshots {
                    write_summary_text(&mut out, s, snap, true)?;
                }
                text::encode_eof(&mut out)?;
                Ok(out.into_bytes())
            }
            Format::Protobuf => {
                let mut families = prometheus_protobuf::encode(&self.registry)?;
                families.extend(prometheus_protobuf::encode(&self.native)?);
                families.extend(snapshots.iter().map(|(s, snap)| summary_family(s, snap)));
                let mut out = Vec::with_capacity(32 * 1024);
                for family in families {
                    family
                        .encode_length_delimited(&mut out)
                        .map_err(|_| std::fmt::Error)?;
                }
                Ok(out)
            }
        }
    }
}

/// Writes Prometheus's float syntax (`NaN`, `+Inf`), which differs from Rust's for infinities.
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

fn write_summary_text(
    out: &mut String,
    s: &WindowedSummary,
    snap: &SummarySnapshot,
    openmetrics: bool,
) -> std::fmt::Result {
    let name = s.name;
    writeln!(out, "# HELP {name} {}.", s.help)?;
    writeln!(out, "# TYPE {name} summary")?;
    if openmetrics {
        if let Some(unit) = name.rsplit('_').next().filter(|u| *u == "seconds") {
            writeln!(out, "# UNIT {name} {unit}")?;
        }
    }
    for (q, v) in &snap.quantiles {
        writeln!(out, "{name}{{quantile=\"{q}\"}} {}", float(*v))?;
    }
    writeln!(out, "{name}_sum {}", float(snap.sum))?;
    writeln!(out, "{name}_count {}", snap.count)
}

fn summary_family(s: &WindowedSummary, snap: &SummarySnapshot) -> pb::MetricFamily {
    pb::MetricFamily {
        name: s.name.to_string(),
        help: format!("{}.", s.help),
        r#type: pb::MetricType::Summary as i32,
        metric: vec![pb::Metric {
            summary: Some(pb::Summary {
                sample_count: snap.count,
                sample_sum: snap.sum,
                quantile: snap
                    .quantiles
                    .iter()
                    .map(|(q, v)| pb::Quantile {
                        quantile: *q,
                        value: *v,
                    })
                    .collect(),
                start_timestamp: None,
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// `GET /metrics`.
pub async fn handler(State(metrics): State<Arc<Metrics>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    match metrics.encode(format) {
        Ok(body) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        Err(_) => {
            tracing::error!(?format, "Encoding metrics failed.");
            (StatusCode::INTERNAL_SERVER_ERROR, "metrics encoding failed").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_like_prometheus_asks() {
        let native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(native)), Format::Protobuf);
        let classic = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(classic)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("text/html")), Format::Text);
        assert_eq!(
            Format::negotiate(Some("application/vnd.google.protobuf;proto=other")),
            Format::Text
        );
    }
}
