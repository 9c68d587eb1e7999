//! The command line's contract: bad input exits 2 with one readable line.

use crate::harness::{temp_dir, write_file};
use crate::support::command::run_monlab;
use crate::support::files::repo_path;

/// Runs monlab with `args`, asserts exit status 2 and one non-empty line on stderr; returns it.
fn refused_in_one_line(args: &[&str]) -> String {
    let ran = run_monlab(args, &[]);
    let stderr = ran.stderr;
    assert_eq!(ran.code, 2, "{args:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
    lines[0].to_string()
}

#[test]
fn bad_flags_env_and_files_exit_2_with_one_line() {
    let dir = temp_dir("monlab-cli");
    let bad_toml = write_file(dir.path(), "bad.toml", "[server\nlisten = 1\n");
    let typo = write_file(
        dir.path(),
        "typo.toml",
        "[random]\ndelay_dist = \"exponential(rate=1)\"\n",
    );
    let bad_value = write_file(
        dir.path(),
        "value.toml",
        "[server]\nconcurrency_limit = -3\n",
    );
    let bad_toml = bad_toml.to_str().unwrap();
    let typo = typo.to_str().unwrap();
    let bad_value = bad_value.to_str().unwrap();
    let scenario = repo_path("scenarios/three-incidents.toml")
        .display()
        .to_string();
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (vec!["serve", "--listen", "localhost"], vec![], "--listen"),
        // Every path that plays a scenario takes --resolve-wait, and only with a scenario.
        (
            vec!["load", "--duration", "1s", "--resolve-wait", "1m"],
            vec![],
            "--resolve-wait needs --scenario",
        ),
        (
            vec!["up", "--resolve-wait", "1m"],
            vec![],
            "--resolve-wait needs --scenario",
        ),
        (
            vec!["up", "--scenario", &scenario, "--resolve-wait", "soon"],
            vec![],
            "invalid --resolve-wait 'soon'",
        ),
        (
            vec![
                "load",
                "--duration",
                "1s",
                "--scenario",
                &scenario,
                "--token",
                "t",
                "--resolve-wait",
                "soon",
            ],
            vec![],
            "invalid --resolve-wait 'soon'",
        ),
        (vec!["serve", "--bogus"], vec![], "--bogus"),
        (vec!["nonsense"], vec![], "nonsense"),
        (
            vec!["serve"],
            vec![("MONLAB_DELAY", "normal(mean=-1, std_dev=1)")],
            "MONLAB_DELAY",
        ),
        (
            vec!["serve"],
            vec![("MONLAB_SEED", "minus one")],
            "MONLAB_SEED",
        ),
        // A variable is named as the command that was run reads it: load's --seed is
        // MONLAB_LOAD_SEED, incident's global --url is MONLAB_URL.
        (
            vec!["load", "--duration", "1s"],
            vec![("MONLAB_LOAD_SEED", "minus one")],
            "invalid MONLAB_LOAD_SEED 'minus one'",
        ),
        (
            vec!["incident", "list"],
            vec![("MONLAB_URL", "ftp://x")],
            "invalid MONLAB_URL 'ftp://x'",
        ),
        (
            vec!["serve", "--value", "weibull(k=1)"],
            vec![],
            "unknown distribution 'weibull'",
        ),
        (vec!["serve", "--max-delay", "0s"], vec![], "--max-delay"),
        (
            vec!["serve", "--config", bad_toml],
            vec![],
            "not valid TOML at line 1",
        ),
        (
            vec!["serve", "--config", typo],
            vec![],
            "unknown setting random.delay_dist",
        ),
        (
            vec!["serve", "--config", bad_value],
            vec![],
            "server.concurrency_limit",
        ),
        (
            vec!["serve", "--config", "/no/such/file.toml"],
            vec![],
            "cannot read config file",
        ),
        (
            vec!["serve"],
            vec![("MONLAB_CONFIG", "/no/such/file.toml")],
            "/no/such/file.toml",
        ),
    ];
    for (args, env, names) in cases {
        let ran = run_monlab(&args, &env);
        let (code, stderr) = (ran.code, ran.stderr);
        assert_eq!(code, 2, "{args:?} {env:?}: exit {code}, stderr {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        // A command line clap cannot parse gets clap's whole message (the error, then usage
        // and tips); a value monlab refuses gets one line.
        if stderr.contains("Usage:") {
            assert!(lines[0].starts_with("error: "), "{args:?}: {stderr}");
        } else {
            assert_eq!(lines.len(), 1, "{args:?} {env:?}: not one line: {stderr}");
        }
        assert!(
            lines[0].contains(names),
            "{args:?}: {:?} lacks {names:?}",
            lines[0]
        );
    }
}

#[test]
fn command_line_mistakes_get_clap_whole_message_and_exit_2() {
    // (arguments, what the message must say beyond its first line)
    let cases: [(&[&str], &[&str]); 4] = [
        (&[], &["Usage:", "serve", "incident", "report"]),
        (&["incident", "start"], &["<NAME>"]),
        (&["up", "--replica", "3"], &["--replicas"]),
        (&["serve", "--bogus"], &["Usage:", "--help"]),
    ];
    for (args, says) in cases {
        let ran = run_monlab(args, &[]);
        let (code, stderr) = (ran.code, ran.stderr);
        assert_eq!(code, 2, "{args:?}: exit {code}, stderr {stderr}");
        for s in says {
            assert!(stderr.contains(s), "{args:?}: {s:?} missing from {stderr}");
        }
    }
}

#[test]
fn negative_numbers_reach_the_check_that_names_the_flag() {
    let ran = run_monlab(&["up", "--load-rate", "-5"], &[]);
    let (code, stderr) = (ran.code, ran.stderr);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("invalid --load-rate '-5'") && !stderr.contains("unexpected argument"),
        "{stderr}"
    );
}

#[test]
fn a_speed_out_of_range_or_beyond_the_machine_is_refused_in_one_line() {
    let cases: [(&[&str], &str); 6] = [
        (&["serve", "--speed", "0"], "from 1 to 60"),
        (
            &["load", "--speed", "61", "--duration", "1s"],
            "from 1 to 60",
        ),
        (&["up", "--speed", "fast"], "from 1 to 60"),
        // 50 requests/s at 60x would be 3,000/s on the wall clock.
        (&["up", "--speed", "60", "--load-rate", "50"], "--load-rate"),
        // The game day's two loads are held to the same limit.
        (
            &["gameday", "--speed", "60", "--load-rate", "40"],
            "--load-rate",
        ),
        (
            &["gameday", "--speed", "60", "--baseline-peak", "40"],
            "--baseline-peak",
        ),
    ];
    for (args, names) in cases {
        let line = refused_in_one_line(args);
        assert!(
            line.contains("--speed") && line.contains(names),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn gameday_and_load_shape_refuse_unknown_names_in_one_line() {
    let cases: [(&[&str], &str); 3] = [
        (
            &["gameday", "--incidents", "auth-down,nope"],
            "unknown incident \"nope\"",
        ),
        (
            &["gameday", "--ladder", "slow"],
            "unknown incident \"slow\"",
        ),
        (
            &["load", "--shape", "ramp", "--duration", "1s"],
            "diurnal:PERIOD",
        ),
    ];
    for (args, names) in cases {
        let line = refused_in_one_line(args);
        assert!(line.contains(names), "{args:?}: {line}");
    }
}

#[test]
fn help_and_version_exit_0() {
    for args in [vec!["--help"], vec!["--version"], vec!["serve", "--help"]] {
        assert_eq!(run_monlab(&args, &[]).code, 0, "{args:?}");
    }
}

#[test]
fn an_address_in_use_fails_with_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let ran = run_monlab(&["serve", "--listen", &addr], &[]);
    assert_eq!(ran.code, 1);
    assert!(ran.stderr.contains("cannot listen on"), "{ran:?}");
}

#[test]
fn report_refuses_bad_periods_and_missing_stores_in_one_line() {
    let cases: [(&[&str], &str); 4] = [
        (&["report", "--from", "yesterday"], "such as -2h"),
        (
            &["report", "--from", "-10m", "--to", "-20m"],
            "at least one minute long",
        ),
        (
            &["report", "--from", "-1h", "--to", "2999-01-01T00:00:00Z"],
            "in the future",
        ),
        (
            &["report", "--from", "-1h", "--store", "http://127.0.0.1:1"],
            "cannot reach Prometheus at http://127.0.0.1:1",
        ),
    ];
    for (args, names) in cases {
        let line = refused_in_one_line(args);
        assert!(line.contains(names), "{args:?}: {line}");
    }
}

#[test]
fn gameday_merge_makes_one_sample_of_game_days_run_apart() {
    let dir = temp_dir("monlab-merge");
    let results = dir.path().join("results");
    let doc = dir.path().join("detection.md");
    let a = repo_path("bench/results/detection-20261206T092041Z-after.json");
    let b = repo_path("bench/results/detection-20261206T103436Z-issue19.json");
    let ran = run_monlab(
        &[
            "gameday",
            "--merge",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
            "--doc",
            doc.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.contains("2 parts, 53 trials"), "{}", ran.stdout);
    let file = std::fs::read_dir(&results)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("-merged.json"))
        .expect("a -merged.json results file");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    // 3 + 6 system-hours of baseline; the parts' seeds kept.
    assert_eq!(r["baseline_seconds"].as_f64(), Some(32400.0));
    let seeds: Vec<u64> = r["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, [23, 43]);
    let page = std::fs::read_to_string(&doc).unwrap();
    assert!(page.contains("in 2 game days run side by side"), "{page}");
    assert!(
        page.contains("| declined-group | minor | 3/3 (100 %) |"),
        "{page}"
    );
    assert!(doc.with_extension("png").is_file());

    // Parts that are not one sample, or not results at all, are refused in one line.
    let k15 = repo_path("bench/results/detection-20261206T095651Z-slow-users-k15.json");
    let readme = repo_path("README.md");
    let missing = dir.path().join("missing.json");
    let cases: [(&[&str], &str); 4] = [
        (&[a.to_str().unwrap(), k15.to_str().unwrap()], "--speed 15"),
        (
            &[a.to_str().unwrap(), readme.to_str().unwrap()],
            "is not the results",
        ),
        (
            &[a.to_str().unwrap(), missing.to_str().unwrap()],
            "cannot read",
        ),
        (&[a.to_str().unwrap(), a.to_str().unwrap()], "same game day"),
    ];
    for (files, names) in cases {
        let mut args = vec!["gameday", "--merge"];
        args.extend(files);
        let line = refused_in_one_line(&args);
        assert!(line.contains(names), "{files:?}: {line}");
    }
    // One file is not a merge, and a merge runs nothing, so a run's flags do not go with it:
    // clap's usage errors (exit 2).
    let a = a.to_str().unwrap();
    for (args, names) in [
        (
            &["gameday", "--merge", a][..],
            "2 values required by '--merge",
        ),
        (
            &[
                "gameday",
                "--speed",
                "10",
                "--merge",
                a,
                b.to_str().unwrap(),
            ][..],
            "'--speed <K>' cannot be used with '--merge",
        ),
    ] {
        let ran = run_monlab(args, &[]);
        assert_eq!(ran.code, 2, "{args:?}: {}", ran.stderr);
        assert!(ran.stderr.contains(names), "{args:?}: {}", ran.stderr);
    }
}
