//! The per-request metric work and the `/metrics` encoder, measured with criterion.
//!
//! Run with `cargo bench --bench hot_path` (bench/run does, and reads the estimates from
//! `target/criterion`). Groups:
//! - `per_request`: what the golden-signal middleware does for one request (labels resolved
//!   from the method and the matched route template, in-flight gauge, duration histogram,
//!   request counter) through monlab's real [`HttpTelemetry`], beside a hand-rolled baseline
//!   of plain atomics doing the same updates on pre-resolved cells: the physical floor.
//! - `per_request_2_threads`: the same on two threads at once, as a 2-core server runs it;
//!   shared cache lines (locks, reference counts) show here and not on one thread.
//! - `random_observe`: `/random`'s own distributions (classic, native, summary), for scale.
//! - `encode_10k_series`: `Metrics::encode` with at least 10,000 series, text and protobuf.

use criterion::{criterion_group, criterion_main, Criterion};
use monlab::api::routes;
use monlab::incident::Faults;
use monlab::service::ServeConfig;
use monlab::telemetry::buckets::duration_buckets;
use monlab::telemetry::exposition::Format;
use monlab::telemetry::http::HttpTelemetry;
use monlab::telemetry::Metrics;
use std::hint::black_box;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A histogram of plain atomics: one cell per bucket, the sum as f64 bits.
struct AtomicHistogram {
    bounds: Vec<f64>,
    buckets: Vec<AtomicU64>,
    sum: AtomicU64,
    count: AtomicU64,
}

impl AtomicHistogram {
    fn new(bounds: Vec<f64>) -> Self {
        let buckets = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            bounds,
            buckets,
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn observe(&self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Relaxed);
        let _ = self.sum.fetch_update(Relaxed, Relaxed, |bits| {
            Some((f64::from_bits(bits) + v).to_bits())
        });
        self.count.fetch_add(1, Relaxed);
    }
}

/// The floor: the golden signals of one route as plain atomics, labels resolved in advance.
struct Baseline {
    in_flight: AtomicI64,
    requests: AtomicU64,
    duration: AtomicHistogram,
}

impl Baseline {
    fn request(&self) {
        self.in_flight.fetch_add(1, Relaxed);
        let start = Instant::now();
        self.duration.observe(start.elapsed().as_secs_f64());
        self.requests.fetch_add(1, Relaxed);
        self.in_flight.fetch_sub(1, Relaxed);
    }
}

fn metrics() -> (Arc<Metrics>, ServeConfig) {
    let cfg = ServeConfig::default();
    (
        Arc::new(Metrics::new(&cfg.metrics(), &Faults::default())),
        cfg,
    )
}

/// One request as the middleware sees it: GET on `/random?user=u7` (its template found from
/// the path, its id made and its user read, as for every request), answered 200.
fn monlab_request(t: &HttpTelemetry) {
    let ctx = t.context(None, black_box(Some("user=u7")));
    let m = t.start(black_box(&http::Method::GET), black_box("/random"), ctx);
    m.finish(black_box(200), None);
}

fn per_request(c: &mut Criterion) {
    let (metrics, cfg) = metrics();
    let telemetry = HttpTelemetry::new(metrics, routes::ALL);
    let baseline = Baseline {
        in_flight: AtomicI64::new(0),
        requests: AtomicU64::new(0),
        duration: AtomicHistogram::new(duration_buckets(&cfg.random.delay)),
    };
    let mut g = c.benchmark_group("per_request");
    g.bench_function("atomics", |b| b.iter(|| baseline.request()));
    g.bench_function("monlab", |b| b.iter(|| monlab_request(&telemetry)));
    let off = HttpTelemetry::new(
        Arc::new(Metrics::new(
            &ServeConfig {
                exemplars: false,
                ..ServeConfig::default()
            }
            .metrics(),
            &Faults::default(),
        )),
        routes::ALL,
    );
    g.bench_function("monlab_exemplars_off", |b| b.iter(|| monlab_request(&off)));
    g.finish();

    // Two threads share the same series, as a two-worker runtime does under load; the time
    // per iteration is wall time over all requests of both threads.
    let mut g = c.benchmark_group("per_request_2_threads");
    g.bench_function("atomics", |b| {
        b.iter_custom(|iters| on_two_threads(iters, || baseline.request()))
    });
    g.bench_function("monlab", |b| {
        b.iter_custom(|iters| on_two_threads(iters, || monlab_request(&telemetry)))
    });
    g.finish();
}

fn on_two_threads(iters: u64, f: impl Fn() + Sync) -> Duration {
    let barrier = std::sync::Barrier::new(2);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..iters.div_ceil(2) {
                    f();
                }
            });
        }
    });
    start.elapsed()
}

fn random_observe(c: &mut Criterion) {
    let (metrics, _) = metrics();
    c.bench_function("random_observe/monlab", |b| {
        b.iter(|| {
            metrics
                .random
                .observe(black_box(101.5), black_box(0.042), None)
        })
    });
}

/// Metrics holding at least `want` series (sample lines in the text format): every method on
/// every route with a duration histogram, then request counters over more and more codes.
fn metrics_with_series(want: usize) -> (Arc<Metrics>, usize) {
    const METHODS: [http::Method; 8] = [
        http::Method::GET,
        http::Method::POST,
        http::Method::PUT,
        http::Method::DELETE,
        http::Method::PATCH,
        http::Method::HEAD,
        http::Method::OPTIONS,
        http::Method::TRACE,
    ];
    let (metrics, _) = metrics();
    let telemetry = HttpTelemetry::new(metrics.clone(), routes::ALL);
    let count = |m: &Metrics| {
        let text = m.encode(Format::Text).expect("text encodes");
        String::from_utf8_lossy(&text)
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count()
    };
    let mut code = 200u16;
    loop {
        for method in &METHODS {
            for route in routes::ALL {
                let ctx = telemetry.context(None, None);
                telemetry.start(method, route, ctx).finish(code, None);
            }
            let ctx = telemetry.context(None, None);
            telemetry
                .start(method, "/no/such/path", ctx)
                .finish(code, None);
        }
        let n = count(&metrics);
        if n >= want {
            return (metrics, n);
        }
        code += 1;
    }
}

fn encode(c: &mut Criterion) {
    let (metrics, series) = metrics_with_series(10_000);
    let mut g = c.benchmark_group("encode_10k_series");
    for (name, format) in [("text", Format::Text), ("protobuf", Format::Protobuf)] {
        let bytes = metrics.encode(format).expect("encodes").len();
        eprintln!("encode_10k_series/{name}: {series} series, {bytes} bytes");
        g.bench_function(name, |b| {
            b.iter(|| metrics.encode(format).expect("encodes"))
        });
    }
    g.finish();
}

criterion_group!(benches, per_request, random_observe, encode);
criterion_main!(benches);
