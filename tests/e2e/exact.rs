//! Exact batching (contract 0.2.0): many bars per call, and the journal and
//! report that one call per bar gives — every entry, every key — on the real
//! recordings, for every example strategy and for scenarios built to cut
//! windows (resting orders, partial fills, risk transitions, a hot-swap
//! with rollback, several symbols). A strategy that reads ahead cannot act
//! on what it read before the bar it read it on, and components of contract
//! 0.1.0 keep running.

use std::path::Path;

use crate::util::*;

const RECORDINGS: [&str; 3] = [
    "goog-daily-2004-2013.csv",
    "binance-btcusdt-1m-2024-01.csv",
    "btcusd-monthly-2012-2024.csv",
];

/// One replay: (report, run metadata, entries as JSON lines).
fn replay(dir: &Path, mode: &str, args: &[&str]) -> (String, serde_json::Value, Vec<String>) {
    let journal = dir.join(format!("{mode}.redb"));
    let _ = std::fs::remove_file(&journal);
    let mut all: Vec<&str> = vec![
        "replay",
        "--delivery",
        mode,
        "--journal",
        journal.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = sandbar(&all);
    ok(&out);
    let export = sandbar(["journal".as_ref(), journal.as_os_str()]);
    ok(&export);
    let text = stdout(&export);
    let mut lines = text.lines();
    let meta: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    (stdout(&out), meta, lines.map(str::to_string).collect())
}

/// Replay per-bar and exact; assert they agree entry for entry (the run
/// metadata differs only in naming the delivery) and return the entries.
#[track_caller]
fn agree(args: &[&str]) -> Vec<serde_json::Value> {
    let dir = scratch();
    let (report_p, mut meta_p, per_bar) = replay(dir.path(), "per-bar", args);
    let (report_e, mut meta_e, exact) = replay(dir.path(), "exact", args);
    assert_eq!(meta_p["run"]["delivery"], "per-bar");
    assert_eq!(meta_e["run"]["delivery"], "exact");
    meta_p["run"]["delivery"] = "".into();
    meta_e["run"]["delivery"] = "".into();
    assert_eq!(meta_p, meta_e, "{args:?}");
    assert_eq!(per_bar.len(), exact.len(), "{args:?}: entry counts");
    if let Some(i) = (0..per_bar.len()).find(|&i| per_bar[i] != exact[i]) {
        panic!(
            "{args:?}: entry {i} differs:\n per-bar {}\n exact   {}",
            per_bar[i], exact[i]
        );
    }
    assert_eq!(report_p, report_e, "{args:?}: reports");
    per_bar
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_example_strategy_writes_the_same_journal_either_way_on_the_real_recordings() {
    for plugin in [
        plugins::SMA_CROSS,
        plugins::RSI_REVERSION,
        plugins::DONCHIAN_BREAKOUT,
        plugins::COUNTER_V1,
    ] {
        let mut decided = 0;
        for data in RECORDINGS {
            let data = plugins::shared_data(data);
            let e = agree(&["--plugin", plugin, "--data", data.to_str().unwrap()]);
            decided += of_kind(&e, "intent").len();
        }
        assert!(decided > 20, "{plugin} decided {decided} times");
    }
}

#[test]
fn a_strategy_that_reads_its_account_on_every_bar_sees_the_same_account_either_way() {
    // `equity_step`: the scripted fixture trades on its equity's moves and
    // writes the equity, unrealised PnL and cash it read into each reason.
    for (data, step) in [
        ("goog-daily-2004-2013.csv", "50"),
        ("binance-btcusdt-1m-2024-01.csv", "5"),
    ] {
        let data = plugins::shared_data(data);
        let e = agree(&[
            "--plugin",
            plugins::SCRIPTED,
            "--param",
            &format!("equity_step={step}"),
            "--data",
            data.to_str().unwrap(),
            "--set",
            "risk.max_orders_per_day=none",
            "--set",
            "risk.max_consecutive_losses=none",
            "--set",
            "risk.daily_loss_limit=none",
            "--set",
            "risk.max_drawdown=none",
        ]);
        let reads = of_kind(&e, "intent")
            .iter()
            .filter(|i| i["reason"].as_str().unwrap().contains("unrealised"))
            .count();
        assert!(reads > 50, "{reads} decisions on the account read");
    }
}

#[test]
fn resting_orders_partial_fills_and_risk_transitions_cut_windows_exactly() {
    let goog = plugins::shared_data("goog-daily-2004-2013.csv");
    let goog = goog.to_str().unwrap();
    // Resting limits far from and near the market, stops and targets that
    // trigger much later, with partial fills of a tenth of a bar's volume.
    let e = agree(&[
        "--plugin",
        plugins::SCRIPTED,
        "--param",
        "script=3 limit-buy 0 40 150; 10 limit-buy 0 20 400; 30 buy 0 100 sl=150 tp=260; \
               400 weight 0 0.2 sl=300; 700 limit-sell 0 30 800; 900 weight 0 -0.1 tp=400 sl=700",
        "--data",
        goog,
        "--set",
        "execution.max_volume_share=0.000001",
    ]);
    let (orders, fills) = (of_kind(&e, "order").len(), of_kind(&e, "fill").len());
    assert!(
        fills > orders,
        "partial fills: {fills} fills of {orders} orders"
    );
    let origins: Vec<&str> = of_kind(&e, "fill")
        .iter()
        .map(|f| f["fill"]["origin"].as_str().unwrap_or_default())
        .collect();
    assert!(
        origins
            .iter()
            .any(|o| *o == "stop-loss" || *o == "take-profit"),
        "a protective order filled: {origins:?}"
    );
    // Daily loss, a drawdown halt with its flatten, losing streaks: every
    // kind of risk transition, on a strategy that trades on its equity.
    let e = agree(&[
        "--plugin",
        plugins::SCRIPTED,
        "--param",
        "equity_step=20",
        "--data",
        goog,
        "--set",
        "risk.daily_loss_limit=0.0005",
        "--set",
        "risk.max_consecutive_losses=3",
        "--set",
        "risk.max_drawdown=0.008",
        "--set",
        "risk.max_orders_per_day=none",
    ]);
    let states: Vec<String> = of_kind(&e, "state")
        .iter()
        .map(|s| s["change"]["to"].as_str().unwrap().to_string())
        .collect();
    for s in ["REDUCING", "HALTED"] {
        assert!(states.iter().any(|t| t == s), "{s} in {states:?}");
    }
}

#[test]
fn a_hot_swap_with_rollback_and_several_symbols_write_the_same_journal_either_way() {
    let goog = plugins::shared_data("goog-daily-2004-2013.csv");
    let btc = plugins::shared_data("btcusd-monthly-2012-2024.csv");
    // Version 2 takes over at bar 300 and panics 40 bars later, inside its
    // rollback window: version 1 comes back with its state.
    let e = agree(&[
        "--plugin",
        plugins::COUNTER_V1,
        "--data",
        goog.to_str().unwrap(),
        "--swap-at",
        &format!("300={}", plugins::COUNTER_V2),
        "--swap-param",
        "trap_after=40",
    ]);
    assert_eq!(of_kind(&e, "swap").len(), 1);
    assert_eq!(of_kind(&e, "rollback").len(), 1, "rolled back");
    // Two recordings of two symbols merged by time.
    let e = agree(&[
        "--plugin",
        plugins::SMA_CROSS,
        "--param",
        "fast=3",
        "--param",
        "slow=8",
        "--data",
        goog.to_str().unwrap(),
        "--data",
        btc.to_str().unwrap(),
    ]);
    let symbols: std::collections::BTreeSet<u64> = of_kind(&e, "fill")
        .iter()
        .map(|f| f["fill"]["symbol"].as_u64().unwrap())
        .collect();
    assert!(symbols.len() == 2, "both symbols traded: {symbols:?}");
}

#[test]
fn a_strategy_that_reads_ahead_only_ever_acts_after_the_bars_it_read() {
    // hostile-peek pulls the next bar before deciding on the current one and
    // tags its intent as decided on the current one. The host files every
    // intent under the last bar pulled: the order is decided on the bar it
    // peeked at and fills after it, so it trades on nothing it did not see.
    let dir = scratch();
    let data = plugins::shared_data("goog-daily-2004-2013.csv");
    let (_, _, lines) = replay(
        dir.path(),
        "exact",
        &[
            "--plugin",
            plugins::HOSTILE_PEEK,
            "--data",
            data.to_str().unwrap(),
        ],
    );
    let e: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let intents = of_kind(&e, "intent");
    assert!(intents.len() > 100, "{} intents", intents.len());
    for i in &intents {
        let read: i64 = i["reason"]
            .as_str()
            .unwrap()
            .strip_prefix("read up to ")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            i["time_ms"].as_i64(),
            Some(read),
            "decided on the bar it read: {i}"
        );
    }
    let fills = of_kind(&e, "fill");
    assert!(!fills.is_empty());
    let orders = of_kind(&e, "order");
    for f in fills {
        let order = orders
            .iter()
            .find(|o| o["order"]["id"] == f["fill"]["order_id"])
            .expect("every fill has its order");
        assert!(
            f["fill"]["time_ms"].as_i64() > order["order"]["decided_ms"].as_i64(),
            "filled after the bar it was decided on: {f}"
        );
    }
    // The other leak: a window that ends says the next bar is special (an
    // order of the strategy's will trigger, a risk state will change). A
    // strategy that acts on that, on the bar it is on, is faulted there.
    let out = sandbar([
        "replay",
        "--delivery",
        "exact",
        "--plugin",
        plugins::HOSTILE_PEEK,
        "--param",
        "act_on_end=true",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("returned 1 decision(s) after `next-bar` answered none"),
        "{}",
        stderr(&out)
    );
    // One bar per call (per-bar delivery) there is nothing to read ahead.
    let (_, _, lines) = replay(
        dir.path(),
        "per-bar",
        &[
            "--plugin",
            plugins::HOSTILE_PEEK,
            "--data",
            data.to_str().unwrap(),
        ],
    );
    assert!(!lines.iter().any(|l| l.contains("\"intent\"")));
}

#[test]
fn components_of_contract_0_1_0_still_load_and_run_per_bar() {
    let old = plugins::fixture("contract-0.1.0/sma_cross.wasm");
    let out = sandbar(["describe".as_ref(), old.as_os_str()]);
    ok(&out);
    assert!(
        stdout(&out)
            .starts_with("sma-cross@0.1.0 (sdk 0.1.0, sandbar:strategy@0.1.0, per-bar delivery)"),
        "{}",
        stdout(&out)
    );
    // The same strategy built today (0.3.0, exact by default) and as built
    // against 0.1.0 (per-bar, whatever is asked) trade identically.
    let dir = scratch();
    let data = plugins::shared_data("goog-daily-2004-2013.csv");
    let (_, meta_old, old_entries) = replay(
        dir.path(),
        "exact",
        &[
            "--plugin",
            old.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
    );
    assert_eq!(meta_old["run"]["contract"], "sandbar:strategy@0.1.0");
    let new_dir = scratch();
    let (_, meta_new, new_entries) = replay(
        new_dir.path(),
        "exact",
        &[
            "--plugin",
            plugins::SMA_CROSS,
            "--data",
            data.to_str().unwrap(),
        ],
    );
    assert_eq!(meta_new["run"]["contract"], "sandbar:strategy@0.3.0");
    assert!(old_entries.len() > 100);
    assert_eq!(old_entries, new_entries);
    // The registry says which contract each version implements.
    let reg = dir.path().join("registry.redb");
    let r = reg.to_str().unwrap();
    ok(&sandbar([
        "plugin",
        "add",
        old.to_str().unwrap(),
        "--registry",
        r,
    ]));
    ok(&sandbar([
        "plugin",
        "add",
        plugins::COUNTER_V1,
        "--registry",
        r,
    ]));
    let list = stdout(&sandbar(["plugin", "list", "--registry", r]));
    let line = |name: &str| {
        list.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} in {list}"))
            .to_string()
    };
    assert!(
        line("sma-cross").contains("sandbar:strategy@0.1.0"),
        "{list}"
    );
    assert!(line("counter").contains("sandbar:strategy@0.3.0"), "{list}");
}

#[test]
fn components_of_contract_0_2_0_still_load_and_run_in_exact_windows() {
    let old = plugins::fixture("contract-0.2.0/sma_cross.wasm");
    let out = sandbar(["describe".as_ref(), old.as_os_str()]);
    ok(&out);
    assert!(
        stdout(&out)
            .starts_with("sma-cross@0.1.0 (sdk 0.1.0, sandbar:strategy@0.2.0, exact delivery)"),
        "{}",
        stdout(&out)
    );
    // Built against 0.2.0 (committed as built) and today against 0.3.0:
    // the same journal, entry for entry.
    let data = plugins::shared_data("goog-daily-2004-2013.csv");
    let run = |plugin: &std::path::Path| {
        let dir = scratch();
        let (_, meta, entries) = replay(
            dir.path(),
            "exact",
            &[
                "--plugin",
                plugin.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
            ],
        );
        (meta["run"]["contract"].clone(), entries)
    };
    let (contract_old, old_entries) = run(&old);
    let (contract_new, new_entries) = run(std::path::Path::new(plugins::SMA_CROSS));
    assert_eq!(contract_old, "sandbar:strategy@0.2.0");
    assert_eq!(contract_new, "sandbar:strategy@0.3.0");
    assert!(old_entries.len() > 100);
    assert_eq!(old_entries, new_entries);
}
