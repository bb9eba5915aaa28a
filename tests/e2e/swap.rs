//! Hot-swap between plugin versions at a bar boundary: state crosses over,
//! no bar is missed or delivered twice, a bad new version is rolled back or
//! never put in service, and all of it is journaled.

use crate::util::*;

fn counter_run(bars: usize, extra: &[&str]) -> (std::process::Output, Vec<serde_json::Value>) {
    let dir = scratch();
    let data = bars_csv(dir.path(), "X.csv", MINUTE, &flat(bars, 100.0));
    let journal = dir.path().join("j.redb");
    let mut args = vec![
        "replay",
        "--plugin",
        plugins::COUNTER_V1,
        "--data",
        data.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--set",
        "risk.max_orders_per_day=100000",
        "--set",
        "risk.max_position=1",
    ];
    args.extend_from_slice(extra);
    let out = sandbar(&args);
    (out, journal_entries(&journal))
}

/// (seq, reason, plugin) of every intent.
fn intents(entries: &[serde_json::Value]) -> Vec<(u64, String, String)> {
    of_kind(entries, "intent")
        .iter()
        .map(|i| {
            (
                i["seq"].as_u64().unwrap(),
                i["reason"].as_str().unwrap().into(),
                i["plugin"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn a_swap_carries_the_count_across_and_v2_sees_where_it_came_from() {
    let swap = format!("25={}", plugins::COUNTER_V2);
    let (out, e) = counter_run(60, &["--swap-at", &swap]);
    ok(&out);
    let swaps = of_kind(&e, "swap");
    assert_eq!(swaps.len(), 1);
    assert_eq!(
        (
            swaps[0]["seq"].as_u64(),
            swaps[0]["from"].as_str(),
            swaps[0]["to"].as_str()
        ),
        (Some(25), Some("counter@1.0.0"), Some("counter@2.0.0"))
    );
    let got = intents(&e);
    let want: Vec<(u64, String, String)> = vec![
        (9, "v1 count 10".into(), "counter@1.0.0".into()),
        (19, "v1 count 20".into(), "counter@1.0.0".into()),
        (
            29,
            "v2 count 30 (restored from 1.0.0)".into(),
            "counter@2.0.0".into(),
        ),
        (
            39,
            "v2 count 40 (restored from 1.0.0)".into(),
            "counter@2.0.0".into(),
        ),
        (
            49,
            "v2 count 50 (restored from 1.0.0)".into(),
            "counter@2.0.0".into(),
        ),
        (
            59,
            "v2 count 60 (restored from 1.0.0)".into(),
            "counter@2.0.0".into(),
        ),
    ];
    assert_eq!(got, want);
    // Orders and fills name the version that produced them.
    let fills = of_kind(&e, "fill");
    assert_eq!(fills.first().unwrap()["plugin"], "counter@1.0.0");
    assert_eq!(fills.last().unwrap()["plugin"], "counter@2.0.0");
    let meta = stdout(&sandbar(["--version"]));
    assert!(meta.starts_with("sandbar "));
}

#[test]
fn a_swap_at_k_decides_exactly_like_v1_to_k_then_v2_from_v1s_state() {
    use sandbar::runtime::{InitConfig, Runtime};
    let k = 37usize;
    let swap = format!("{k}={}", plugins::COUNTER_V2);
    let (out, e) = counter_run(100, &["--swap-at", &swap]);
    ok(&out);
    let through_engine: Vec<(u64, String)> =
        intents(&e).into_iter().map(|(s, r, _)| (s, r)).collect();

    // The same decisions computed directly against the instances, no engine.
    let rt = Runtime::new(None).unwrap();
    let bars: Vec<sandbar::market::Bar> = (0..100)
        .map(|i| sandbar::market::Bar {
            symbol: 0,
            time_ms: i,
            open: 100.0,
            high: 100.0,
            low: 100.0,
            close: 100.0,
            volume: 1e6,
        })
        .collect();
    let init = |path: &str| {
        let p = rt.load(std::path::Path::new(path)).unwrap();
        let mut inst = rt.instantiate(&p, Default::default(), 0).unwrap();
        let params = sandbar::params::resolve(inst.description(), &[]).unwrap();
        inst.init(&InitConfig {
            params,
            symbols: vec!["X".into()],
            seed: 0,
        })
        .unwrap();
        inst
    };
    let mut v1 = init(plugins::COUNTER_V1);
    let mut direct = Vec::new();
    for (i, b) in bars[..k].iter().enumerate() {
        let mut out = Vec::new();
        v1.on_bars(std::slice::from_ref(b), &[], &mut out).unwrap();
        direct.extend(out.into_iter().map(|x| (i as u64, x.reason)));
    }
    let mut v2 = init(plugins::COUNTER_V2);
    v2.restore("1.0.0", &v1.snapshot().unwrap()).unwrap();
    for (i, b) in bars.iter().enumerate().skip(k) {
        let mut out = Vec::new();
        v2.on_bars(std::slice::from_ref(b), &[], &mut out).unwrap();
        direct.extend(out.into_iter().map(|x| (i as u64, x.reason)));
    }
    assert_eq!(through_engine, direct);

    // And the swap run is itself deterministic.
    let (_, again) = counter_run(100, &["--swap-at", &swap]);
    assert_eq!(e, again);
}

#[test]
fn many_swaps_under_a_fast_batched_feed_lose_and_repeat_no_bar() {
    // Swap back and forth at boundaries that do not line up with batches.
    let mut args: Vec<String> = vec!["--delivery".into(), "batched".into()];
    for (i, at) in [1000u64, 1500, 4097, 4098, 9000, 15_001, 20_000]
        .iter()
        .enumerate()
    {
        let plugin = if i % 2 == 0 {
            plugins::COUNTER_V2
        } else {
            plugins::COUNTER_V1
        };
        args.extend(["--swap-at".into(), format!("{at}={plugin}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, e) = counter_run(25_000, &args);
    ok(&out);
    assert_eq!(of_kind(&e, "swap").len(), 7);
    let got = intents(&e);
    assert_eq!(got.len(), 2500, "one intent every tenth bar");
    for (seq, reason, _) in &got {
        // The count always equals the bars seen: none missed, none twice.
        let count: u64 = reason.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert_eq!(count, seq + 1, "{reason} at bar {seq}");
    }
}

#[test]
fn a_v2_that_traps_two_bars_after_the_swap_is_rolled_back_and_v1_continues() {
    let swap = format!("25={}", plugins::COUNTER_V2);
    let (out, e) = counter_run(60, &["--swap-at", &swap, "--swap-param", "trap_after=2"]);
    ok(&out);
    let rb = of_kind(&e, "rollback");
    assert_eq!(rb.len(), 1);
    assert_eq!(
        (
            rb[0]["seq"].as_u64(),
            rb[0]["from"].as_str(),
            rb[0]["to"].as_str()
        ),
        (Some(26), Some("counter@2.0.0"), Some("counter@1.0.0"))
    );
    assert!(
        rb[0]["cause"]
            .as_str()
            .unwrap()
            .contains("panic: panicked at plugins/counter-v2/src/lib.rs"),
        "{}",
        rb[0]
    );
    // v1 resumes with the state it had at the swap (count 25) from bar 26 on:
    // the one bar v2 served is not replayed to it.
    let after: Vec<_> = intents(&e).into_iter().filter(|i| i.0 > 26).collect();
    assert_eq!(
        after[0],
        (30, "v1 count 30".to_string(), "counter@1.0.0".to_string())
    );
    assert!(of_kind(&e, "fault").is_empty());
}

#[test]
fn a_fault_after_the_rollback_window_faults_the_deployment() {
    let swap = format!("25={}", plugins::COUNTER_V2);
    let (out, e) = counter_run(
        60,
        &[
            "--swap-at",
            &swap,
            "--swap-param",
            "trap_after=10",
            "--set",
            "swap.rollback_window=5",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(of_kind(&e, "swap-committed")[0]["seq"], 30);
    assert_eq!(of_kind(&e, "fault")[0]["seq"], 34);
    assert!(of_kind(&e, "rollback").is_empty());
}

#[test]
fn a_v2_whose_restore_rejects_the_state_is_never_put_in_service() {
    let swap = format!("25={}", plugins::COUNTER_V2);
    let (out, e) = counter_run(
        60,
        &["--swap-at", &swap, "--swap-param", "reject_restore=true"],
    );
    ok(&out);
    let refused = of_kind(&e, "swap-refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(
        refused[0]["reason"],
        "counter@2.0.0 refused the state of counter@1.0.0: strategy refused: v2 cannot read state from 1.0.0"
    );
    assert!(of_kind(&e, "swap").is_empty());
    assert!(intents(&e).iter().all(|i| i.2 == "counter@1.0.0"));
    assert_eq!(intents(&e).len(), 6);
}

#[test]
fn a_shadow_candidate_is_compared_bar_by_bar_and_keeps_its_own_books() {
    let dir = scratch();
    let goog = plugins::shared_data("goog-daily-2004-2013.csv");
    let journal = dir.path().join("serving.redb");
    let shadow_journal = dir.path().join("shadow.redb");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "replay",
            "--plugin",
            plugins::SMA_CROSS,
            "--data",
            goog.to_str().unwrap(),
            "--shadow",
            plugins::SMA_CROSS,
        ];
        args.extend_from_slice(extra);
        let out = sandbar(&args);
        ok(&out);
        stdout(&out)
    };
    let same = run(&[]);
    assert!(same.contains("bars agreeing 2148, differing 0"), "{same}");

    let report = run(&[
        "--shadow-param",
        "fast=12",
        "--journal",
        journal.to_str().unwrap(),
        "--shadow-journal",
        shadow_journal.to_str().unwrap(),
    ]);
    assert!(report.contains("shadow sma-cross@0.1.0 ("), "{report}");
    assert!(
        report.contains("trades                   32             33"),
        "{report}"
    );
    assert!(
        report
            .contains("bar 81: serving nothing | candidate goog-daily-2004-2013 TargetWeight(0.2)"),
        "{report}"
    );
    // The serving journal is untouched by the shadow: the candidate's
    // intents live only in its own journal.
    let serving = journal_entries(&journal);
    assert!(of_kind(&serving, "intent").iter().all(|i| i["seq"] != 81));
    let shadow = journal_entries(&shadow_journal);
    assert!(of_kind(&shadow, "intent").iter().any(|i| i["seq"] == 81));
}

#[test]
fn a_drawdown_since_the_swap_beyond_the_limit_rolls_back() {
    let dir = scratch();
    let mut bars = flat(5, 100.0);
    bars.push((100.0, 100.0, 90.0, 90.0)); // −10% on a full position, after the swap at bar 4
    bars.extend(flat(5, 90.0));
    let data = bars_csv(dir.path(), "X.csv", DAY, &bars);
    let journal = dir.path().join("j.redb");
    let swap = format!("4={}", plugins::SCRIPTED);
    let out = sandbar([
        "replay",
        "--plugin",
        plugins::SCRIPTED,
        "--data",
        data.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--param",
        "script=0 weight 0 1",
        "--swap-at",
        &swap,
        "--swap-param",
        "script=",
        "--set",
        "risk.max_position=1",
        "--set",
        "risk.daily_loss_limit=1",
        "--set",
        "risk.max_drawdown=1",
        "--set",
        "swap.rollback_drawdown=0.05",
    ]);
    ok(&out);
    let e = journal_entries(&journal);
    assert_eq!(of_kind(&e, "swap")[0]["seq"], 4);
    let rb = of_kind(&e, "rollback");
    assert_eq!(rb.len(), 1, "{e:#?}");
    assert_eq!(rb[0]["seq"], 6, "the first boundary after the drop");
    assert!(
        rb[0]["cause"]
            .as_str()
            .unwrap()
            .starts_with("drawdown since the swap 10.00% reached the rollback limit 5.00%"),
        "{}",
        rb[0]
    );
}
