//! `monlab recover` against a real Prometheus with native histograms: a seeded service with
//! non-default distributions gets a few thousand requests, and the families and parameters
//! come back within what the sample size allows; every failure is one line with exit 2.

use crate::harness::{drive, free_port, Stack};
use crate::support::command::{run_monlab, Ran};
use serde_json::Value;
use std::time::Duration;

const VALUE: &str = "lognormal(mu=2, sigma=0.4)";
const DELAY: &str = "gamma(shape=3, scale=0.002)";
const REQUESTS: usize = 4000;

/// Runs `monlab recover <args>`.
fn recover(args: &[&str]) -> Ran {
    run_monlab(&[&["recover"], args].concat(), &[])
}

/// Standard errors of the continuous-data MLE for n observations, from the Fisher information:
/// log-normal σ/√n and σ/√(2n); gamma from [[ψ′(k), 1/θ], [1/θ, k/θ²]].
fn theoretical_se(family: &str, params: &[f64], n: f64) -> Vec<f64> {
    match family {
        "lognormal" => vec![params[1] / n.sqrt(), params[1] / (2.0 * n).sqrt()],
        "gamma" => {
            let (k, theta) = (params[0], params[1]);
            // ψ′(k) by its series Σ 1/(k+i)², tail closed with 1/(k+N) + 1/(2(k+N)²).
            let m = 10_000.0;
            let trigamma = (0..10_000)
                .map(|i| 1.0 / (k + i as f64).powi(2))
                .sum::<f64>()
                + 1.0 / (k + m)
                + 1.0 / (2.0 * (k + m).powi(2));
            let det = k * trigamma - 1.0;
            vec![
                (k / (n * det)).sqrt(),
                (trigamma * theta * theta / (n * det)).sqrt(),
            ]
        }
        other => panic!("no Fisher information written for {other}"),
    }
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_families_and_parameters_from_native_and_classic_histograms() {
    let stack = Stack::start(&["--value", VALUE, "--delay", DELAY, "--seed", "7"]);
    stack.wait_for_target_up().await;
    let statuses = drive(&stack.monlab.url("/random"), 500.0, REQUESTS).await;
    assert!(
        statuses.iter().all(|s| *s == 200),
        "not every request succeeded"
    );
    let want = REQUESTS.to_string();
    stack
        .wait_until(
            "every observation scraped",
            r#"sum(monlab_random_value_count{job="monlab"})"#,
            Duration::from_secs(20),
            |r| r.first().and_then(|s| s["value"][1].as_str()) == Some(want.as_str()),
        )
        .await;
    let dir = crate::harness::temp_dir("monlab-recover");
    let picture = dir.path().join("recovered.png");
    let out = recover(&[
        "--prometheus",
        &stack.prom_url,
        "--window",
        "5m",
        "--json",
        "--plot",
        picture.to_str().unwrap(),
    ])
    .success();
    let report: Value = serde_json::from_str(&out).expect("recover --json prints JSON");
    assert_eq!(report["truth"]["known"], true, "{}", report["truth"]);
    assert!(report["truth"]["origin"]
        .as_str()
        .unwrap()
        .contains(&stack.monlab.addr.to_string()));

    for (metric, truth, family) in [("value", VALUE, "lognormal"), ("delay", DELAY, "gamma")] {
        let m = report["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == metric)
            .unwrap_or_else(|| panic!("no {metric} in the report"));
        assert_eq!(m["truth"], truth);
        let recoveries = m["recoveries"].as_array().unwrap();
        let sources: Vec<&str> = recoveries
            .iter()
            .map(|r| r["source"].as_str().unwrap())
            .collect();
        assert_eq!(
            sources,
            ["native", "classic"],
            "{metric}: native leads, classic compared"
        );
        let true_params: Vec<f64> = monlab::distribution::Distribution::parse(truth)
            .unwrap()
            .params()
            .iter()
            .map(|p| p.1)
            .collect();
        let n = REQUESTS as f64;
        let se = theoretical_se(family, &true_params, n);
        for r in recoveries {
            let source = r["source"].as_str().unwrap();
            let what = format!("{metric} from {source}");
            // Exact counts, not extrapolated ones.
            assert_eq!(num(&r["samples"]), n, "{what}");
            assert_eq!(
                r["fits"]["fits"][0]["family"], family,
                "{what}: {}",
                r["fits"]
            );
            let a = &r["accuracy"];
            assert_eq!(a["family_found"], true, "{what}");
            // KS: the 1% critical value for n samples, plus room for interpolation in buckets.
            let ks_limit = 1.63 / n.sqrt() + 0.005;
            assert!(
                num(&a["ks"]) < ks_limit,
                "{what}: KS {} >= {ks_limit}",
                a["ks"]
            );
            for (i, p) in a["params"].as_array().unwrap().iter().enumerate() {
                let error = num(&p["estimate"]) - num(&p["truth"]);
                assert!(
                    error.abs() < 4.0 * se[i],
                    "{what} {}: error {error} beyond 4 standard errors ({})",
                    p["name"],
                    se[i]
                );
                // The Hessian's standard error agrees with the Fisher information; binning at
                // these widths costs little information.
                let reported = num(&p["std_error"]);
                assert!(
                    (reported / se[i] - 1.0).abs() < 0.25,
                    "{what} {}: reported SE {reported} vs theory {}",
                    p["name"],
                    se[i]
                );
            }
        }
    }
    let png = std::fs::read(&picture).expect("the picture was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_is_one_line_and_exit_2() {
    let stack = Stack::start(&["--delay", "constant(value=0.001)", "--seed", "1"]);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    stack.wait_for_target_up().await;
    let statuses = drive(&stack.monlab.url("/random"), 100.0, 20).await;
    assert!(statuses.iter().all(|s| *s == 200));
    stack
        .wait_until(
            "observations scraped",
            r#"sum(monlab_random_value_count{job="monlab"})"#,
            Duration::from_secs(20),
            |r| r.first().and_then(|s| s["value"][1].as_str()) == Some("20"),
        )
        .await;
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let service = stack.monlab.url("");
    let prom = stack.prom_url.as_str();
    let end = before.to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--prometheus", &nobody], "cannot reach Prometheus"),
        (
            vec!["--prometheus", &service],
            "without a Prometheus API response",
        ),
        (vec!["--prometheus", prom, "--job", "nope"], "has no series"),
        (
            vec!["--prometheus", prom, "--min-samples", "100"],
            "only 20 observations of monlab_random_value_native",
        ),
        (
            vec!["--prometheus", prom, "--end", &end, "--window", "10m"],
            "no observations of monlab_random_value_native between",
        ),
        (
            vec![
                "--prometheus",
                prom,
                "--min-samples",
                "20",
                "--truth-url",
                &nobody,
            ],
            "cannot read the true distributions",
        ),
        (vec!["--window", "soon"], "invalid --window 'soon'"),
        (vec!["--metric", "latency"], "invalid --metric"),
    ];
    for (args, want) in cases {
        let Ran {
            code,
            stdout: out,
            stderr: err,
            ..
        } = recover(&args);
        assert_eq!(code, 2, "{args:?}: exit {code}, stderr {err}");
        assert!(err.contains(want), "{args:?}: {err:?} lacks {want:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err:?}");
        assert!(out.is_empty(), "{args:?} printed {out:?}");
    }
    // With the threshold lowered the same 20 observations are answered, truth included.
    let out = recover(&[
        "--prometheus",
        prom,
        "--min-samples",
        "20",
        "--metric",
        "value",
    ])
    .success();
    assert!(out.contains("samples    20 in"), "{out}");
}
