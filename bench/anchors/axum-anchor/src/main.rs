//! A benchmark anchor: what a Rust user would write instead of monlab's telemetry. It serves
//! monlab's `/random` contract (`{"value", "delay_seconds"}` after a delay) on axum, with the
//! golden signals from the `axum-prometheus` crate (request counter by method, endpoint and
//! status; duration histogram; pending gauge) plus a histogram of the value, all on
//! `/metrics`. With `--bare` it runs with no metrics layer, no recorder and no value histogram:
//! the "no instrumentation at all" reference.
//!
//! Run with `axum-anchor --listen 127.0.0.1:0 [--bare] [--delay exp:0.05|const:30|0]`; it
//! prints `listening on ADDR` once it accepts connections. bench/run builds and starts it.

use axum::routing::get;
use axum::{Json, Router};
use axum_prometheus::{PrometheusMetricLayerBuilder, AXUM_HTTP_REQUESTS_DURATION_SECONDS};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use rand::Rng;
use rand_distr::{Distribution, Exp, Normal};
use serde::Serialize;
use std::time::Duration;

/// Bounds of the duration histogram: the same as monlab's fixed SLO boundaries.
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Clone, Copy)]
enum Delay {
    None,
    Constant(f64),
    Exponential(Exp<f64>),
}

impl Delay {
    fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("bad --delay {s:?}: want 0, const:SECONDS or exp:MEAN_SECONDS");
        match s.split_once(':') {
            None if s == "0" => Ok(Self::None),
            Some(("const", v)) => v.parse().map(Self::Constant).map_err(|_| bad()),
            Some(("exp", v)) => {
                let mean: f64 = v.parse().map_err(|_| bad())?;
                Exp::new(1.0 / mean)
                    .map(Self::Exponential)
                    .map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    }

    fn draw(&self, rng: &mut impl Rng) -> f64 {
        match self {
            Self::None => 0.0,
            Self::Constant(v) => *v,
            Self::Exponential(e) => e.sample(rng),
        }
    }
}

#[derive(Serialize)]
struct Answer {
    value: f64,
    delay_seconds: f64,
}

async fn random(delay: Delay, value: Normal<f64>, instrumented: bool) -> Json<Answer> {
    let (v, d) = {
        let mut rng = rand::rng();
        (value.sample(&mut rng), delay.draw(&mut rng))
    };
    if d > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(d)).await;
    }
    if instrumented {
        metrics::histogram!("random_value").record(v);
    }
    Json(Answer {
        value: v,
        delay_seconds: d,
    })
}

struct Args {
    listen: String,
    bare: bool,
    delay: Delay,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        listen: "127.0.0.1:0".into(),
        bare: false,
        delay: Delay::None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bare" => out.bare = true,
            "--listen" => out.listen = it.next().ok_or("--listen needs an address")?,
            "--delay" => out.delay = Delay::parse(&it.next().ok_or("--delay needs a value")?)?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(out)
}

#[tokio::main]
async fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("axum-anchor: {e}");
            std::process::exit(2);
        }
    };
    let value = Normal::new(100.0, 15.0).expect("valid normal");
    let delay = args.delay;
    let instrumented = !args.bare;
    let app = Router::new().route("/random", get(move || random(delay, value, instrumented)));
    let app = if instrumented {
        // Buckets as a user following the crate's builder example would set them: the
        // duration histogram's, and equal-width ones for the value (as monlab's, 50..150).
        let value_buckets: Vec<f64> = (0..=50).map(|i| 50.0 + 2.0 * f64::from(i)).collect();
        let (layer, handle) = PrometheusMetricLayerBuilder::new()
            .with_metrics_from_fn(|| {
                PrometheusBuilder::new()
                    .set_buckets_for_metric(
                        Matcher::Full(AXUM_HTTP_REQUESTS_DURATION_SECONDS.to_string()),
                        &DURATION_BUCKETS,
                    )
                    .and_then(|b| {
                        b.set_buckets_for_metric(
                            Matcher::Full("random_value".into()),
                            &value_buckets,
                        )
                    })
                    .expect("valid buckets")
                    .install_recorder()
                    .expect("first recorder")
            })
            .build_pair();
        // install_recorder spawns no upkeep task; the exporter's docs ask for one.
        let upkeep = handle.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                upkeep.run_upkeep();
            }
        });
        app.route("/metrics", get(move || async move { handle.render() }))
            .layer(layer)
    } else {
        app
    };
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("axum-anchor: cannot listen on {}: {e}", args.listen);
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().expect("bound socket has an address");
    println!("listening on {addr}");
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("axum-anchor: {e}");
        std::process::exit(1);
    }
}
