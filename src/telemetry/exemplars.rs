//! Request ids and the exemplars that carry them: the bounded, non-label place for the
//! high-cardinality values (request id, user id) that lead from a metric to the requests
//! behind it.
//!
//! See [`RequestContext`]: what the golden-signal layer knows of every request, and what a
//! histogram bucket or the error counter keeps of the last one that landed there. User ids
//! never become labels: one exemplar per bucket costs the same with 10 users as with 10
//! million. Everything here is inline and `Copy` (no allocation per request), because it
//! runs on every request (docs/benchmarks.md has the cost).

use http::{HeaderName, HeaderValue};
use prometheus_client::encoding::{EncodeLabel, EncodeLabelSet, LabelSetEncoder};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The header that carries a request id in and out.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id kept from a client: with a user id of up to [`MAX_USER_ID`] characters
/// and the two label names, an exemplar stays under OpenMetrics's 128-character limit, past
/// which Prometheus drops it.
pub const MAX_REQUEST_ID: usize = 40;

/// Longest user id: the service's own rule for the `user` of `/random`, `/login`, `/predict`.
pub const MAX_USER_ID: usize = 64;

/// A short ASCII string kept inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Inline<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> Inline<N> {
    /// `s` when it is 1 to N of `[A-Za-z0-9_.-]` and the `extra` bytes.
    fn checked(s: &[u8], extra: &[u8]) -> Option<Self> {
        let ok = (1..=N).contains(&s.len())
            && s.iter().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') || extra.contains(b)
            });
        ok.then(|| {
            let mut bytes = [0; N];
            bytes[..s.len()].copy_from_slice(s);
            Self {
                len: s.len() as u8,
                bytes,
            }
        })
    }

    fn as_str(&self) -> &str {
        // Only ASCII was let in.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl<const N: usize> std::fmt::Debug for Inline<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

/// A user id as the service accepts it: 1–64 of `[A-Za-z0-9_.-]`, bounded and plain since it
/// reaches logs, exemplars and fault decisions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct UserId(Inline<MAX_USER_ID>);

impl UserId {
    /// `user` when it is a valid user id.
    pub fn new(user: &str) -> Option<Self> {
        Inline::checked(user.as_bytes(), b"").map(Self)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The `user` query parameter, when it is a valid user id. Scanned by hand: splitting the
    /// query on `&` cost twice as many instructions, on every request.
    pub fn from_query(query: &str) -> Option<Self> {
        let q = query.as_bytes();
        let start = if q.starts_with(b"user=") {
            5
        } else {
            q.windows(6).position(|w| w == b"&user=")? + 6
        };
        let rest = &q[start..];
        let end = rest.iter().position(|&b| b == b'&').unwrap_or(rest.len());
        Inline::checked(&rest[..end], b"").map(Self)
    }
}

/// Whether `user` is a valid user id (see [`UserId`]).
pub fn valid_user(user: &str) -> bool {
    UserId::new(user).is_some()
}

/// A request's id: the client's `x-request-id` when it is plain and short, else one made here.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RequestId {
    /// Made here: a per-process random prefix and a counter, written as 16 hex digits.
    Made(u64),
    /// Given by the client.
    Given(GivenId),
}

/// A client's request id, as kept (see [`RequestId::Given`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct GivenId(Inline<MAX_REQUEST_ID>);

impl RequestId {
    /// The client's id if it cannot break a log line or an exemplar, else a new one.
    pub fn from_header(header: Option<&HeaderValue>) -> Self {
        header
            .and_then(|h| Inline::checked(h.as_bytes(), b":"))
            .map_or_else(Self::fresh, |g| Self::Given(GivenId(g)))
    }

    /// A new id: unique within a run, and across restarts with high probability; a counter is
    /// far cheaper than a UUID from the OS.
    pub fn fresh() -> Self {
        static PREFIX: OnceLock<u64> = OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let prefix = *PREFIX.get_or_init(|| u64::from(rand::random::<u32>()) << 32);
        Self::Made(prefix | (NEXT.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff))
    }

    /// Calls `f` with the id as text (a made id is written on the stack, not allocated).
    pub fn with_str<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            Self::Made(n) => {
                let mut hex = [0u8; 16];
                for (i, b) in hex.iter_mut().enumerate() {
                    *b = b"0123456789abcdef"[((n >> (60 - 4 * i)) & 0xf) as usize];
                }
                f(std::str::from_utf8(&hex).unwrap_or("0"))
            }
            Self::Given(g) => f(g.0.as_str()),
        }
    }

    /// The id as a header value.
    pub fn header_value(&self) -> HeaderValue {
        self.with_str(HeaderValue::from_str)
            .unwrap_or(HeaderValue::from_static("0"))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with_str(|s| f.write_str(s))
    }
}

/// Who made a request and under which id: what the golden-signal layer knows of each request,
/// and the label set of an exemplar (`request_id`, and `user_id` when the request named one).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RequestContext {
    /// The request's id.
    pub request_id: RequestId,
    /// The user the request named (query string, or the body of `/login` and `/predict`).
    pub user_id: Option<UserId>,
}

impl EncodeLabelSet for RequestContext {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        self.request_id
            .with_str(|id| ("request_id", id).encode(encoder.encode_label()))?;
        if let Some(user) = &self.user_id {
            ("user_id", user.as_str()).encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

tokio::task_local! {
    /// The request being polled, for handlers that put its ids on their own exemplars.
    static CURRENT: RequestContext;
}

/// The request the golden-signal layer is polling now (with exemplars on), if any.
pub fn current() -> Option<RequestContext> {
    CURRENT.try_with(|c| *c).ok()
}

/// Runs `f` (one poll of the request's future) with `ctx` as [`current`]. A task-local set
/// per poll is a copy on the stack; the request's extensions would cost a map and its growth.
pub(crate) fn scope<R>(ctx: RequestContext, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(ctx, f)
}

/// The user a handler found in a request's body, put in the response's extensions so the
/// golden-signal layer names the user of requests whose query string does not.
#[derive(Debug, Clone, Copy)]
pub struct RequestUser(pub UserId);

impl RequestUser {
    /// The extension for `user` when it is a valid user id.
    pub fn of(user: &str) -> Option<axum::Extension<Self>> {
        UserId::new(user).map(|u| axum::Extension(Self(u)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::exposition::Format;
    use crate::telemetry::http::HttpTelemetry;
    use crate::telemetry::Metrics;
    use std::sync::Arc;

    fn header(v: &[u8]) -> HeaderValue {
        HeaderValue::from_bytes(v).unwrap()
    }

    #[test]
    fn keeps_plain_ids_and_users_and_replaces_the_rest() {
        let id = RequestId::from_header(Some(&header(b"abc-123:4")));
        assert_eq!(id.to_string(), "abc-123:4");
        for (q, user) in [
            ("x=1&user=u7", Some("u7")),
            ("user=u8&x=1", Some("u8")),
            ("xuser=u9", None),
            ("user=", None),
            ("x=1", None),
        ] {
            assert_eq!(
                UserId::from_query(q).as_ref().map(UserId::as_str),
                user,
                "{q}"
            );
        }
        let long = "a".repeat(MAX_REQUEST_ID + 1);
        for bad in [&b"has space"[..], b"", long.as_bytes(), b"quote\""] {
            let id = RequestId::from_header(HeaderValue::from_bytes(bad).ok().as_ref());
            assert!(matches!(id, RequestId::Made(_)), "{bad:?}");
            assert_eq!(id.to_string().len(), 16);
        }
        assert!(UserId::from_query("user=bad%20id").is_none());
        assert!(UserId::new(&"u".repeat(MAX_USER_ID + 1)).is_none());
        let (a, b) = (RequestId::fresh(), RequestId::fresh());
        assert_ne!(a, b);
        assert!(a.to_string().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a.header_value(), a.to_string().as_str());
        // The largest exemplar fits OpenMetrics's 128-character label-set limit.
        let longest = "request_id".len() + MAX_REQUEST_ID + "user_id".len() + MAX_USER_ID;
        assert!(longest <= 128, "{longest}");
    }

    fn exposition(exemplars: bool) -> (String, Vec<u8>) {
        let cfg = crate::service::ServeConfig {
            exemplars,
            ..Default::default()
        };
        let metrics = Arc::new(Metrics::new(
            &cfg.metrics(),
            &crate::incident::Faults::default(),
        ));
        let t = HttpTelemetry::new(metrics.clone(), &["/random"]);
        // A thousand users, each with its own request: with user ids as labels this would be
        // a thousand series per bucket.
        for u in 0..1000 {
            let ctx = t.context(
                Some(&header(format!("r{u}").as_bytes())),
                Some(&format!("user=u{u}")),
            );
            metrics.random.observe(1.0, 0.01 * f64::from(u), Some(ctx));
            let code = if u % 10 == 0 { 500 } else { 200 };
            let kind = (code == 500).then_some(crate::telemetry::labels::ErrorKind::Internal);
            t.start(&http::Method::GET, "/random", ctx)
                .finish(code, kind);
        }
        let text = String::from_utf8(metrics.encode(Format::OpenMetrics).unwrap()).unwrap();
        (text, metrics.encode(Format::Protobuf).unwrap())
    }

    /// The series in an OpenMetrics exposition (hash-map order varies between registries).
    fn samples(text: &str) -> std::collections::BTreeSet<&str> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(" # ").next().unwrap().rsplit_once(' ').unwrap().0)
            .collect()
    }

    #[test]
    fn exemplars_add_no_series_and_travel_in_both_formats() {
        let (on, on_pb) = exposition(true);
        let (off, off_pb) = exposition(false);
        let (on_series, off_series) = (samples(&on), samples(&off));
        assert!(on_series.len() > 100, "{}", on_series.len());
        assert!(
            on_series == off_series,
            "series differ: {:?}",
            on_series
                .symmetric_difference(&off_series)
                .collect::<Vec<_>>()
        );
        assert!(!off.contains("request_id"));
        // The last request of the largest delay bucket, and the last failed one.
        assert!(
            on.contains(r#"# {request_id="r999",user_id="u999"} 9.99"#),
            "{on}"
        );
        assert!(
            on.contains(r#"monlab_http_errors_total{route="/random",kind="internal"} 100 # {request_id="r990",user_id="u990"} 1.0"#),
            "{on}"
        );
        let pb = String::from_utf8_lossy(&on_pb);
        assert!(pb.contains("request_id") && pb.contains("u999"));
        assert!(!String::from_utf8_lossy(&off_pb).contains("request_id"));
    }

    /// The layer names the request, returns its id, and `/random`'s handler puts the same
    /// ids on the delay histogram's exemplar.
    #[tokio::test]
    async fn the_delay_exemplar_names_the_request_the_layer_named() {
        use tower::ServiceExt;
        let state = crate::service::AppState::new(&crate::service::ServeConfig::default());
        let app = crate::service::measured(&state, crate::service::router(state.clone()), None);
        let req = |id: Option<&str>| {
            let mut b = axum::extract::Request::builder().uri("/random?user=u9");
            if let Some(id) = id {
                b = b.header(REQUEST_ID_HEADER, id);
            }
            b.body(axum::body::Body::empty()).unwrap()
        };
        let res = app
            .clone()
            .oneshot(req(Some("delay-test-1")))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()[REQUEST_ID_HEADER], "delay-test-1");
        let text = String::from_utf8(state.metrics.encode(Format::OpenMetrics).unwrap()).unwrap();
        let delay = text
            .lines()
            .find(|l| l.starts_with("monlab_random_delay_seconds_bucket") && l.contains(" # {"))
            .unwrap_or_else(|| panic!("no delay exemplar in {text}"));
        assert!(
            delay.contains(r#"# {request_id="delay-test-1",user_id="u9"}"#),
            "{delay}"
        );
        // Without a header the layer makes an id, and a bad one is replaced.
        for given in [None, Some("bad id")] {
            let res = app.clone().oneshot(req(given)).await.unwrap();
            let id = res.headers()[REQUEST_ID_HEADER].to_str().unwrap();
            assert_eq!(id.len(), 16, "{id}");
        }
    }

    /// With an access log, each answer is one JSON line naming the request and its user,
    /// including users named in a body (`/login`).
    #[tokio::test]
    async fn the_access_log_writes_one_json_line_per_answer() {
        use crate::telemetry::access_log::{AccessLog, AccessLogTarget};
        use tower::ServiceExt;
        let dir = std::env::temp_dir().join(format!("monlab-access-{}", std::process::id()));
        let path = dir.join("access.log");
        let log = AccessLog::open(&AccessLogTarget::File(path.clone())).unwrap();
        let state = crate::service::AppState::new(&crate::service::ServeConfig::default());
        let app =
            crate::service::measured(&state, crate::service::router(state.clone()), Some(log));
        let get = axum::extract::Request::builder()
            .uri("/random?user=u1")
            .header(REQUEST_ID_HEADER, "log-1")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(app.clone().oneshot(get).await.unwrap().status(), 200);
        let login = axum::extract::Request::builder()
            .method("POST")
            .uri("/login")
            .header("content-type", "application/json")
            .header(REQUEST_ID_HEADER, "log-2")
            .body(axum::body::Body::from(r#"{"user":"u2","token":"wrong"}"#))
            .unwrap();
        let status = app.oneshot(login).await.unwrap().status();
        // The writer thread writes soon after; wait for both lines (bounded).
        let mut text = String::new();
        for _ in 0..500 {
            text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.lines().count() >= 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let _ = std::fs::remove_dir_all(&dir);
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["request_id"], "log-1");
        assert_eq!(lines[0]["route"], "/random");
        assert_eq!(lines[0]["status"], 200);
        assert_eq!(lines[0]["user_id"], "u1");
        assert!(lines[0]["latency_seconds"].as_f64().unwrap() >= 0.0);
        assert_eq!(lines[1]["request_id"], "log-2");
        assert_eq!(lines[1]["status"], status.as_u16());
        assert_eq!(lines[1]["user_id"], "u2");
    }
}
