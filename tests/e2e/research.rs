//! Research commands: `sandbar sweep` (every combination of a grid, each
//! run exactly the replay `sandbar replay` makes with those parameters) and
//! `sandbar monte-carlo` (a run's trades or returns resampled, seeded).

use crate::util::*;

fn csv_rows(path: &std::path::Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|rec| {
            header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(String::from))
                .collect()
        })
        .collect()
}

#[test]
fn every_combination_is_run_and_each_is_the_replay_of_those_parameters() {
    let dir = scratch();
    let data = plugins::shared_data("goog-daily-2004-2013.csv");
    let out = dir.path().join("sweep.csv");
    let o = sandbar([
        "sweep".as_ref(),
        "--plugin".as_ref(),
        plugins::SMA_CROSS.as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--grid".as_ref(),
        "fast=5..15:5".as_ref(),
        "--grid".as_ref(),
        "slow=20,40".as_ref(),
        "--jobs".as_ref(),
        "2".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    ok(&o);
    assert!(stdout(&o).contains("6 runs of 2148 bars"), "{}", stdout(&o));
    // The best is deflated by the number and spread of the trials.
    let dsr: f64 = stdout(&o)
        .split("Deflated Sharpe Ratio of the best of 6 trials (")
        .nth(1)
        .and_then(|t| t.split("): ").nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{}", stdout(&o)));
    assert!((0.0..=1.0).contains(&dsr), "{dsr}");
    let pbo: f64 = stdout(&o)
        .split("Probability of Backtest Overfitting (CSCV, 16 blocks, 12870 splits): ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{}", stdout(&o)));
    assert!((0.0..=1.0).contains(&pbo), "{pbo}");
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 6);
    let combos: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["fast"].clone(), r["slow"].clone()))
        .collect();
    assert_eq!(combos[0], ("5".into(), "20".into()));
    assert_eq!(combos[5], ("15".into(), "40".into()));
    for (fast, slow) in [("5", "20"), ("15", "40"), ("10", "40")] {
        let json = dir.path().join("replay.json");
        ok(&sandbar([
            "replay".as_ref(),
            "--plugin".as_ref(),
            plugins::SMA_CROSS.as_ref(),
            "--data".as_ref(),
            data.as_os_str(),
            "--param".as_ref(),
            format!("fast={fast}").as_ref(),
            "--param".as_ref(),
            format!("slow={slow}").as_ref(),
            "--json".as_ref(),
            json.as_os_str(),
        ]));
        let replay: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let row = rows
            .iter()
            .find(|r| r["fast"] == fast && r["slow"] == slow)
            .unwrap();
        // Compared as the same text, digit for digit (serde_json's own
        // float parsing is not exact to the last bit, so both go through it).
        for k in [
            "total_return",
            "sharpe",
            "max_drawdown",
            "trades",
            "final_equity",
            "orders",
        ] {
            let csv: serde_json::Value = serde_json::from_str(&row[k]).unwrap();
            assert_eq!(csv, replay[k], "fast={fast} slow={slow}: {k}");
        }
    }
    // Ranked by the metric asked for, best first.
    let text = stdout(&o);
    let ranked: Vec<f64> = text
        .lines()
        .skip_while(|l| !l.starts_with("rank"))
        .skip(1)
        .take_while(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| l.split_whitespace().nth(3).unwrap().parse().unwrap())
        .collect();
    assert_eq!(ranked.len(), 6);
    assert!(ranked.windows(2).all(|w| w[0] >= w[1]), "{ranked:?}");
}

#[test]
fn a_combination_the_strategy_refuses_is_reported_not_a_crash_and_samples_are_seeded() {
    let dir = scratch();
    let data = plugins::shared_data("goog-daily-2004-2013.csv");
    let out = dir.path().join("sweep.json");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "sweep",
            "--plugin",
            plugins::SMA_CROSS,
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = sandbar(&args);
        ok(&o);
        let v: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        (stdout(&o), v)
    };
    // sma-cross refuses fast ≥ slow in init.
    let (text, rows) = run(&["--grid", "fast=20..40:10", "--grid", "slow=30"]);
    assert_eq!(rows.len(), 3);
    let refused: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| !r["error"].as_str().unwrap().is_empty())
        .collect();
    assert_eq!(refused.len(), 2, "{rows:?}");
    assert!(
        refused[0]["error"]
            .as_str()
            .unwrap()
            .contains("refused its parameters: parameter `fast`: must be below slow"),
        "{refused:?}"
    );
    assert!(text.contains("2 without a result"), "{text}");
    assert!(
        text.contains("first run without a result (fast=30 slow=30): ")
            && text.contains("must be below slow"),
        "{text}"
    );
    // When no run has a result the sweep fails, naming why.
    let o = sandbar([
        "sweep",
        "--plugin",
        plugins::SMA_CROSS,
        "--data",
        data.to_str().unwrap(),
        "--grid",
        "fast=40..50:10",
        "--grid",
        "slow=30",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("every run was without a result; the first (fast=40 slow=30)"),
        "{}",
        stderr(&o)
    );
    // A typo for a range is refused before any run, not run and refused.
    let o = sandbar([
        "sweep",
        "--plugin",
        plugins::SMA_CROSS,
        "--data",
        data.to_str().unwrap(),
        "--grid",
        "fast=30-120",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("--grid fast=30-120: parameter `fast` of sma-cross@")
            && stderr(&o).contains(
                "\"30-120\" is not a valid integer; a range is written fast=start..end:step"
            ),
        "{}",
        stderr(&o)
    );
    assert!(!stdout(&o).contains("runs of"), "{}", stdout(&o));
    // A random sample of the declared ranges: the same seed, the same runs.
    let grid = [
        "--grid", "fast", "--grid", "slow", "--random", "6", "--seed", "11",
    ];
    let (_, a) = run(&grid);
    let (_, b) = run(&grid);
    let params = |rows: &[serde_json::Value]| -> Vec<(String, String)> {
        rows.iter()
            .map(|r| (r["fast"].to_string(), r["slow"].to_string()))
            .collect()
    };
    assert_eq!(a.len(), 6);
    assert_eq!(params(&a), params(&b));
    // An axis that names nothing declared is an error naming what is.
    let o = sandbar([
        "sweep",
        "--plugin",
        plugins::SMA_CROSS,
        "--data",
        data.to_str().unwrap(),
        "--grid",
        "speed=1..3",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("has no parameter `speed` (it declares: fast, slow, weight)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn monte_carlo_of_a_journal_resamples_the_trades_the_run_made() {
    // The journal's fills, booked again, give the engine's own round trips:
    // the simulation from the journal equals the one from a fresh replay,
    // path for path (same seed), and a seed makes it reproducible.
    let dir = scratch();
    let data = plugins::shared_data("goog-daily-2004-2013.csv");
    let journal = dir.path().join("run.redb");
    ok(&sandbar([
        "replay".as_ref(),
        "--plugin".as_ref(),
        plugins::SMA_CROSS.as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--journal".as_ref(),
        journal.as_os_str(),
    ]));
    let summary = |args: &[&std::ffi::OsStr], name: &str| {
        let out = dir.path().join(name);
        let mut all: Vec<&std::ffi::OsStr> = vec!["monte-carlo".as_ref()];
        all.extend_from_slice(args);
        for a in ["--runs", "3000", "--seed", "5", "--json"] {
            all.push(std::ffi::OsStr::new(a));
        }
        all.push(out.as_os_str());
        let o = sandbar(&all);
        ok(&o);
        (stdout(&o), std::fs::read_to_string(&out).unwrap())
    };
    let (text, from_journal) = summary(&[journal.as_os_str()], "a.json");
    let (_, from_replay) = summary(
        &[
            "--plugin".as_ref(),
            plugins::SMA_CROSS.as_ref(),
            "--data".as_ref(),
            data.as_os_str(),
        ],
        "b.json",
    );
    assert_eq!(from_journal, from_replay);
    let (_, again) = summary(&[journal.as_os_str()], "c.json");
    assert_eq!(from_journal, again);
    assert!(text.contains("3000 paths of 32 trades, seed 5"), "{text}");
    // The default threshold is the run's risk limit (10% drawdown).
    assert!(text.contains("P(max drawdown ≥ 10.00%)"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&from_journal).unwrap();
    let f = &v["final_equity"];
    assert!(f["p5"].as_f64() < f["p50"].as_f64() && f["p50"].as_f64() < f["p95"].as_f64());
    // Returns need the equity curve, which a journal does not keep.
    let o = sandbar([
        "monte-carlo".as_ref(),
        journal.as_os_str(),
        "--method".as_ref(),
        "block".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--method block needs --plugin and --data"),
        "{}",
        stderr(&o)
    );
}

fn walk_forward(extra: &[&str]) -> (std::process::Output, serde_json::Value, tempfile::TempDir) {
    let dir = scratch();
    let data = plugins::shared_data("goog-daily-2004-2013.csv");
    let (json, equity) = (dir.path().join("wf.json"), dir.path().join("wf.csv"));
    let mut args: Vec<std::ffi::OsString> = [
        "walk-forward",
        "--plugin",
        plugins::SMA_CROSS,
        "--data",
        data.to_str().unwrap(),
        "--grid",
        "fast=5..20:5",
        "--grid",
        "slow=20..60:20",
        "--train",
        "3y",
        "--test",
        "1y",
        "--out",
        json.to_str().unwrap(),
        "--equity",
        equity.to_str().unwrap(),
    ]
    .iter()
    .map(Into::into)
    .collect();
    args.extend(extra.iter().map(Into::into));
    let o = sandbar(args);
    ok(&o);
    let v = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (o, v, dir)
}

#[test]
fn walk_forward_chooses_by_a_sweep_of_each_training_span_and_trades_only_after_it() {
    let (o, v, dir) = walk_forward(&[]);
    let windows = v["windows"].as_array().unwrap();
    // GOOG from 2004-08-19 to 2013-03-01: six one-year test spans after
    // three-year training spans, the last cut short by the data.
    assert_eq!(windows.len(), 6, "{}", stdout(&o));
    assert_eq!(windows[0]["train"][0], "2004-08-19");
    assert_eq!(windows[0]["test"][0], "2007-08-19");
    assert_eq!(windows[5]["test"][1], "2013-03-01");
    for w in windows.windows(2) {
        assert_eq!(w[0]["test"][1], w[1]["test"][0], "test spans tile");
        assert_eq!(
            w[0]["train"][1], w[0]["test"][0],
            "tested right after training"
        );
    }
    // Window 1's choice is exactly the best of a sweep on its training span alone.
    let all = std::fs::read_to_string(plugins::shared_data("goog-daily-2004-2013.csv")).unwrap();
    let span = |w: &serde_json::Value| {
        let (from, to) = (
            w["train"][0].as_str().unwrap(),
            w["train"][1].as_str().unwrap(),
        );
        let mut lines = all.lines();
        let mut text = format!("{}\n", lines.next().unwrap());
        for l in lines.filter(|l| &l[..10] >= from && &l[..10] < to) {
            text.push_str(l);
            text.push('\n');
        }
        text
    };
    let sub = dir.path().join("train");
    std::fs::create_dir_all(&sub).unwrap();
    let slice = sub.join("goog-daily-2004-2013.csv");
    std::fs::write(&slice, span(&windows[1])).unwrap();
    let out = dir.path().join("sweep.csv");
    ok(&sandbar([
        "sweep".as_ref(),
        "--plugin".as_ref(),
        plugins::SMA_CROSS.as_ref(),
        "--data".as_ref(),
        slice.as_os_str(),
        "--grid".as_ref(),
        "fast=5..20:5".as_ref(),
        "--grid".as_ref(),
        "slow=20..60:20".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]));
    let rows = csv_rows(&out);
    let best = rows
        .iter()
        .filter(|r| r["error"].is_empty())
        .max_by(|a, b| {
            let s = |r: &std::collections::BTreeMap<String, String>| {
                r["sharpe"].parse::<f64>().unwrap()
            };
            s(a).total_cmp(&s(b))
        })
        .unwrap();
    let chosen: Vec<&str> = windows[1]["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        chosen,
        vec![
            format!("fast={}", best["fast"]),
            format!("slow={}", best["slow"])
        ]
    );
    let is = windows[1]["in_sample"].as_f64().unwrap();
    assert!(
        (is - best["sharpe"].parse::<f64>().unwrap()).abs() < 1e-9,
        "{is} vs {}",
        best["sharpe"]
    );
    // Out of sample means after the training span: the stitched curve
    // starts at the first test span and nothing is traded before it.
    let curve = std::fs::read_to_string(dir.path().join("wf.csv")).unwrap();
    let first = curve.lines().nth(1).unwrap();
    assert!(first.starts_with("2007-08-20"), "{first}");
    assert_eq!(
        first.split(',').nth(1).unwrap().parse::<f64>().unwrap(),
        100_000.0
    );
    // The stitched report adds up the windows.
    let trades: u64 = windows.iter().map(|w| w["trades"].as_u64().unwrap()).sum();
    assert_eq!(v["out_of_sample"]["trades"].as_u64(), Some(trades));
    let wfe = v["walk_forward_efficiency"].as_f64().unwrap();
    let mean_is: f64 = windows
        .iter()
        .map(|w| w["in_sample_cagr"].as_f64().unwrap())
        .sum::<f64>()
        / 6.0;
    assert!((wfe - v["out_of_sample"]["cagr"].as_f64().unwrap() / mean_is).abs() < 1e-12);
    assert!(
        stdout(&o).contains("walk-forward efficiency: "),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("parameter fast: "), "{}", stdout(&o));
    for w in windows {
        let dsr = w["deflated_sharpe"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&dsr), "{w}");
    }
}

#[test]
fn anchored_walk_forward_trains_from_the_first_bar_and_a_span_too_long_is_named() {
    let (_, v, _dir) = walk_forward(&["--anchored"]);
    let windows = v["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 6);
    assert!(windows.iter().all(|w| w["train"][0] == "2004-08-19"));
    assert_eq!(windows[5]["train"][1], "2012-08-19");
    let data = plugins::shared_data("goog-daily-2004-2013.csv");
    let o = sandbar([
        "walk-forward".as_ref(),
        "--plugin".as_ref(),
        plugins::SMA_CROSS.as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--grid".as_ref(),
        "fast=5,10".as_ref(),
        "--train".as_ref(),
        "20y".as_ref(),
        "--test".as_ref(),
        "1y".as_ref(),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(
            "the data runs from 2004-08-19 to 2013-03-01: no room for a 20y training span"
        ),
        "{}",
        stderr(&o)
    );
    let o = sandbar([
        "walk-forward".as_ref(),
        "--plugin".as_ref(),
        plugins::SMA_CROSS.as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--grid".as_ref(),
        "fast=5,10".as_ref(),
        "--train".as_ref(),
        "3 years".as_ref(),
        "--test".as_ref(),
        "1y".as_ref(),
    ]);
    assert!(stderr(&o).contains("--train"), "{}", stderr(&o));
}

/// `sandbar` with extra environment.
fn sandbar_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(SANDBAR)
        .args(args)
        .envs(env.iter().copied())
        .env(
            "SANDBAR_CACHE_DIR",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbar-cache"),
        )
        .output()
        .unwrap()
}

#[test]
fn a_sweep_run_as_shards_merges_into_exactly_the_single_process_result() {
    let dir = scratch();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let data = plugins::shared_data("goog-daily-2004-2013.csv");
    let base = [
        "sweep",
        "--plugin",
        plugins::SMA_CROSS,
        "--data",
        data.to_str().unwrap(),
        "--grid",
        "fast=5..50:5",
        "--grid",
        "slow=20..200:10",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let single = sandbar_env(
        &with(&["--out", &d("single.csv")])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &[],
    );
    ok(&single);
    ok(&sandbar(with(&["--out", &d("single.json")])));
    // Three shards as separate processes, each told its index the way a
    // Kubernetes Indexed Job tells its pods.
    for i in 0..3 {
        let index = i.to_string();
        let o = sandbar_env(
            &with(&["--shard", "3", "--out", &d("shard-{shard}.bin")])
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            &[("JOB_COMPLETION_INDEX", &index)],
        );
        ok(&o);
        assert!(
            stdout(&o).contains(&format!("shard {i}/3: ")),
            "{}",
            stdout(&o)
        );
    }
    let shards: Vec<String> = (0..3).map(|i| d(&format!("shard-{i}.bin"))).collect();
    let merge = |extra: &[&str]| {
        let mut args = vec!["sweep", "merge"];
        args.extend(shards.iter().map(String::as_str));
        args.extend(extra);
        sandbar(args)
    };
    let merged = merge(&["--out", &d("merged.csv")]);
    ok(&merged);
    ok(&merge(&["--out", &d("merged.json")]));
    for ext in ["csv", "json"] {
        let (a, b) = (d(&format!("single.{ext}")), d(&format!("merged.{ext}")));
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "merged.{ext} differs from the single-process sweep's"
        );
    }
    // The ranking and the overfitting statistics too.
    let tail = |o: &std::process::Output| stdout(o).lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(tail(&merged), tail(&single));
    assert!(stdout(&merged).starts_with("sma-cross@0.1.0: 190 runs merged from 3 shards"));

    // What merge refuses: a shard missing or twice, another sweep's shard, not a shard.
    let o = sandbar(["sweep", "merge", &shards[0], &shards[1]]);
    assert!(
        stderr(&o).contains("shard 2/3 is missing"),
        "{}",
        stderr(&o)
    );
    let o = sandbar([
        "sweep", "merge", &shards[0], &shards[0], &shards[1], &shards[2],
    ]);
    assert!(
        stderr(&o).contains("shard 0/3 given twice"),
        "{}",
        stderr(&o)
    );
    let other: Vec<String> = [
        "sweep",
        "--plugin",
        plugins::SMA_CROSS,
        "--data",
        data.to_str().unwrap(),
        "--grid",
        "fast=5..50:5",
        "--shard",
        "1/3",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([d("other.bin")])
    .collect();
    ok(&sandbar(other));
    let o = sandbar(["sweep", "merge", &shards[0], &d("other.bin"), &shards[2]]);
    assert!(
        stderr(&o).contains("is not a shard of the same sweep")
            && stderr(&o).contains("its grid differs"),
        "{}",
        stderr(&o)
    );
    let o = sandbar(["sweep", "merge", &d("single.csv")]);
    assert!(stderr(&o).contains("not a shard file"), "{}", stderr(&o));
    let o = sandbar_env(
        &[
            "sweep",
            "--plugin",
            plugins::SMA_CROSS,
            "--data",
            data.to_str().unwrap(),
            "--grid",
            "fast",
            "--shard",
            "3",
            "--out",
            "x.bin",
        ],
        &[],
    );
    assert!(
        stderr(&o).contains("JOB_COMPLETION_INDEX"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_kubernetes_indexed_job_for_sweeps_validates_against_the_kubernetes_schema() {
    // `kubernetes-validate` bundles the schemas (offline); installed from
    // PyPI when missing, as the README's test command does its own setup.
    let present = || {
        std::process::Command::new("kubernetes-validate")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !present() {
        let s = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "kubernetes-validate"])
            .status();
        assert!(
            s.is_ok_and(|s| s.success()),
            "pip install kubernetes-validate failed"
        );
    }
    let manifest = std::path::Path::new(plugins::REPO).join("host/deploy/sweep-indexed-job.yaml");
    let o = std::process::Command::new("kubernetes-validate")
        .arg("--strict")
        .arg(&manifest)
        .output()
        .expect("kubernetes-validate");
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let text = std::fs::read_to_string(&manifest).unwrap();
    for needed in [
        "completionMode: Indexed",
        "completions: 8",
        "parallelism: 8",
        "backoffLimitPerIndex: 2",
        "restartPolicy: Never",
        "readOnly: true",
        "- --shard\n            - \"8\"",
        "/results/shard-{shard}.bin",
    ] {
        assert!(text.contains(needed), "the manifest lacks {needed}");
    }
}

#[test]
fn a_paper_run_replayed_on_its_own_bars_fills_the_same_and_the_live_gate_reads_it() {
    let (mut f, csv, s) = crate::service::paper_on_btc(1500);
    let journal = s["journal"].as_str().unwrap().to_string();
    f.terminate();
    let json = f.dir.path().join("compare.json");
    let out = f.ok(&[
        "deploy",
        "compare",
        "p",
        "--journal",
        &journal,
        "--record",
        "--json",
        json.to_str().unwrap(),
    ]);
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // The same engine on the same bars: every fill the same, to the price.
    let fills = c["paper_fills"].as_u64().unwrap();
    assert!(fills > 4, "{out}");
    assert_eq!(c["replay_fills"].as_u64(), Some(fills), "{out}");
    assert_eq!(c["matching_fills"].as_u64(), Some(fills), "{out}");
    assert!(c["first_difference"].is_null(), "{out}");
    assert_eq!(c["sharpe_deviation"].as_f64(), Some(0.0), "{out}");
    assert_eq!(c["pnl"][0], c["pnl"][1], "{out}");
    // No operator command: every bar the deployment processed is compared.
    assert!(c["stopped_at"].is_null(), "{c}");
    assert_eq!(c["bars"].as_u64(), Some(1500), "{c}");
    assert!(
        out.contains(&format!(
            "fills: paper {fills}, replay {fills}, the same {fills}"
        )),
        "{out}"
    );
    assert!(out.contains("kept with p's paper evidence"), "{out}");
    // The PAPER → LIVE gate reads it.
    let gate = stderr(&f.cmd(&["deploy", "promote", "p"]));
    assert!(
        gate.contains(
            "[pass] paper vs replay of its bars: Sharpe deviation        0.00%  (needs ≤ 30.00%)"
        ),
        "{gate}"
    );
    // Another deployment's or a replay's journal is refused.
    let other = f.dir.path().join("replay.redb");
    ok(&sandbar([
        "replay".as_ref(),
        "--plugin".as_ref(),
        plugins::SMA_CROSS.as_ref(),
        "--data".as_ref(),
        csv.as_os_str(),
        "--journal".as_ref(),
        other.as_os_str(),
    ]));
    let o = f.cmd(&[
        "deploy",
        "compare",
        "p",
        "--journal",
        other.to_str().unwrap(),
    ]);
    assert!(
        stderr(&o).contains("is not a paper journal of deployment `p`"),
        "{}",
        stderr(&o)
    );
}

#[test]
#[cfg(unix)]
fn output_into_a_closed_pipe_ends_the_command_quietly_not_in_a_panic() {
    // `sandbar sweep … | head -1`: the reader is gone before the ranking is written.
    use std::os::unix::process::ExitStatusExt;
    let data = plugins::shared_data("goog-daily-2004-2013.csv");
    let mut child = std::process::Command::new(SANDBAR)
        .args([
            "sweep",
            "--plugin",
            plugins::SMA_CROSS,
            "--data",
            data.to_str().unwrap(),
            "--grid",
            "fast=5,10",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        out.status.signal(),
        Some(13),
        "ended by SIGPIPE, as Unix tools do: {:?}",
        out.status
    );
}
