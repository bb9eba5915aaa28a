//! One scenario per risk limit: each is triggered on purpose, refuses with
//! the right rule and values, is journaled, and the strategy is told.

use crate::util::*;

/// The refusal entries' rules, and that the strategy heard of each.
#[track_caller]
fn assert_refused(out: &std::process::Output, entries: &[serde_json::Value], rule: &str) {
    ok(out);
    assert!(
        refusal_rules(entries).contains(&rule.to_string()),
        "no {rule} refusal in {:?}",
        refusal_rules(entries)
    );
    assert!(
        stderr(out).contains(&format!("event rejected {rule}")),
        "strategy was not told:\n{}",
        stderr(out)
    );
}

#[test]
fn max_order_notional_refuses_a_large_order() {
    let dir = scratch();
    let data = bars_csv(dir.path(), "X.csv", DAY, &flat(4, 100.0));
    let (out, e) = scripted(
        dir.path(),
        &[&data],
        "0 buy 0 20; 1 buy 0 5",
        &["risk.max_order_notional=1000"],
    );
    assert_refused(&out, &e, "max-order-notional");
    let r = &of_kind(&e, "refusal")[0];
    assert_eq!(r["detail"], "order notional 2000.00 exceeds 1000.00");
    assert_eq!(of_kind(&e, "fill").len(), 1, "the small order still fills");
}

#[test]
fn max_position_refuses_a_position_above_20_percent_by_default() {
    let dir = scratch();
    let data = bars_csv(dir.path(), "X.csv", DAY, &flat(4, 100.0));
    let (out, e) = scripted(dir.path(), &[&data], "0 weight 0 0.5; 1 weight 0 0.2", &[]);
    assert_refused(&out, &e, "max-position");
    assert!(
        of_kind(&e, "refusal")[0]["detail"]
            .as_str()
            .unwrap()
            .contains("would exceed 20% of equity 100000.00 = 20000.00")
    );
    assert_eq!(of_kind(&e, "fill").len(), 1, "exactly 20% passes");
}

#[test]
fn max_gross_exposure_counts_every_symbol() {
    let dir = scratch();
    let a = bars_csv(dir.path(), "A.csv", DAY, &flat(4, 10.0));
    let b = bars_csv(dir.path(), "B.csv", DAY, &flat(4, 10.0));
    let set = ["risk.max_position=0.6", "risk.max_gross_exposure=1.0"];
    let (out, e) = scripted(
        dir.path(),
        &[&a, &b],
        "0 weight 0 0.6; 3 weight 1 0.6",
        &set,
    );
    assert_refused(&out, &e, "max-gross-exposure");
    // 0.6 of equity in B alone is within both limits: refused only
    // because A's 60,000 counts too. A's order filled; B's alone refused.
    assert_eq!(refusal_rules(&e), ["max-gross-exposure"]);
    let r = &of_kind(&e, "refusal")[0];
    assert_eq!(
        r["detail"],
        "gross exposure 120000.00 would exceed 1.00 × equity = 100000.00"
    );
    let fills = of_kind(&e, "fill");
    assert_eq!(fills.len(), 1, "{fills:?}");
    assert_eq!(
        (&fills[0]["fill"]["symbol"], &fills[0]["fill"]["quantity"]),
        (&serde_json::json!(0), &serde_json::json!(6000.0))
    );
}

#[test]
fn max_open_positions_refuses_a_new_symbol() {
    let dir = scratch();
    let a = bars_csv(dir.path(), "A.csv", DAY, &flat(4, 10.0));
    let b = bars_csv(dir.path(), "B.csv", DAY, &flat(4, 10.0));
    let (out, e) = scripted(
        dir.path(),
        &[&a, &b],
        "0 buy 0 10; 2 buy 0 10; 3 buy 1 10",
        &["risk.max_open_positions=1"],
    );
    assert_refused(&out, &e, "max-open-positions");
    // Adding to the symbol already held passes; only the new symbol is
    // refused.
    assert_eq!(refusal_rules(&e), ["max-open-positions"]);
    let r = &of_kind(&e, "refusal")[0];
    assert_eq!(r["detail"], "1 positions open (limit 1)");
    let fills: Vec<_> = of_kind(&e, "fill")
        .iter()
        .map(|f| (f["fill"]["symbol"].clone(), f["fill"]["quantity"].clone()))
        .collect();
    assert_eq!(
        fills,
        [
            (serde_json::json!(0), serde_json::json!(10.0)),
            (serde_json::json!(0), serde_json::json!(10.0))
        ]
    );
}

/// Issue 26 (item 8): never risk more than a share of equity on one
/// trade. With `max_risk_per_trade = 0.01` on 100,000: an entry without a
/// stop is refused; 100 units 1 from their stop (a loss of 100) pass; 150
/// units 20 from it (3,000) are refused; the stop cannot be moved 20 away
/// (by a change or by an intent that only changes the stop) or cancelled
/// either — it stays where it was; the exit needs no stop.
#[test]
fn max_risk_per_trade_weighs_the_loss_at_the_stop() {
    let dir = scratch();
    let data = bars_csv(dir.path(), "X.csv", DAY, &flat(10, 100.0));
    let (out, e) = scripted(
        dir.path(),
        &[&data],
        "0 qty 0 100; 2 qty 0 100 sle=1; 3 stop 0 80; 4 qty 0 150 sle=20; 5 qty 0 100 sle=30; \
         6 cancel-stop 0; 7 close 0",
        &["risk.max_risk_per_trade=0.01"],
    );
    ok(&out);
    assert_eq!(refusal_rules(&e), ["max-risk-per-trade"; 5]);
    let details: Vec<_> = of_kind(&e, "refusal")
        .iter()
        .map(|r| r["detail"].as_str().unwrap().to_string())
        .collect();
    assert!(
        details[0].starts_with("no stop-loss: the loss of a position of 100 is unbounded"),
        "{details:?}"
    );
    assert_eq!(
        details[1..],
        [
            "a loss of 2000.00 at the stop 80 would exceed 1.00% of equity 100000.00 = 1000.00",
            "a loss of 3000.00 at the stop 80 would exceed 1.00% of equity 100000.00 = 1000.00",
            // An intent that only changes the stop is weighed too.
            "a loss of 3000.00 at the stop 70 would exceed 1.00% of equity 100000.00 = 1000.00",
            "no stop-loss: the loss of a position of 100 is unbounded (limit 1.00% of equity)",
        ]
    );
    // The stop never left 99: one stop order, never re-priced.
    let stops: Vec<_> = of_kind(&e, "order")
        .iter()
        .filter(|o| o["order"]["origin"] == "stop-loss")
        .map(|o| o["order"]["kind"].clone())
        .collect();
    assert_eq!(stops, [serde_json::json!({"stop-loss": 99.0})]);
    let fills: Vec<_> = of_kind(&e, "fill")
        .iter()
        .map(|f| {
            (
                f["fill"]["side"].clone(),
                f["fill"]["quantity"].clone(),
                f["fill"]["origin"].clone(),
            )
        })
        .collect();
    assert_eq!(
        fills,
        [
            (
                serde_json::json!("buy"),
                serde_json::json!(100.0),
                serde_json::json!("strategy")
            ),
            (
                serde_json::json!("sell"),
                serde_json::json!(100.0),
                serde_json::json!("strategy")
            ),
        ]
    );
}

#[test]
fn max_orders_per_day_counts_within_a_utc_day_and_resets() {
    let dir = scratch();
    // 1,500 minute bars: a day boundary falls at bar 1,440.
    let data = bars_csv(dir.path(), "X.csv", MINUTE, &flat(1500, 10.0));
    let (out, e) = scripted(
        dir.path(),
        &[&data],
        "0 buy 0 1; 1 buy 0 1; 2 buy 0 1; 1445 buy 0 1",
        &["risk.max_orders_per_day=2"],
    );
    assert_refused(&out, &e, "max-orders-per-day");
    assert_eq!(refusal_rules(&e), vec!["max-orders-per-day"]);
    assert_eq!(
        of_kind(&e, "fill").len(),
        3,
        "two on day one, one the next day"
    );
}

#[test]
fn daily_loss_limit_moves_to_reducing_until_the_next_day() {
    let dir = scratch();
    let mut bars = flat(3, 100.0);
    bars.push((100.0, 100.0, 85.0, 85.0)); // 20% position × −15% = −3% equity
    bars.extend(flat(1440, 85.0));
    let data = bars_csv(dir.path(), "X.csv", MINUTE, &bars);
    let script = "0 weight 0 0.2; 5 buy 0 1; 6 sell 0 10; 1442 buy 0 1";
    let (out, e) = scripted(dir.path(), &[&data], script, &[]);
    assert_refused(&out, &e, "reducing-only");
    let states = of_kind(&e, "state");
    assert_eq!(states[0]["change"]["to"], "REDUCING");
    assert!(
        states[0]["change"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("daily-loss-limit")
    );
    assert_eq!(
        states[1]["change"]["to"], "ACTIVE",
        "lifted the next trading day"
    );
    assert_eq!(
        refusal_rules(&e),
        vec!["reducing-only"],
        "the reducing sell and next-day buy pass"
    );
}

#[test]
fn max_drawdown_halts_and_flattens_everything() {
    let dir = scratch();
    let mut bars = flat(3, 100.0);
    bars.push((100.0, 100.0, 60.0, 60.0)); // 30% position × −40% = −12% from peak
    bars.extend(flat(4, 60.0));
    let data = bars_csv(dir.path(), "X.csv", DAY, &bars);
    let (out, e) = scripted(
        dir.path(),
        &[&data],
        "0 weight 0 0.3; 5 buy 0 1",
        &["risk.max_position=0.5"],
    );
    assert_refused(&out, &e, "halted");
    let states = of_kind(&e, "state");
    assert_eq!(states[0]["change"]["to"], "HALTED");
    assert!(
        states[0]["change"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("max-drawdown")
    );
    let fills = of_kind(&e, "fill");
    assert_eq!(fills.last().unwrap()["fill"]["origin"], "risk-flatten");
    // Issue 10: the report says when and why.
    let report = stdout(&out);
    assert!(
        report.contains("Risk states:\n  HALTED at 2024-01-04: max-drawdown: equity 88000.00 is 12.00% below peak 100000.00"),
        "{report}"
    );
    assert!(
        report.contains("halted ×1 (entries 1, exits 0): trading is halted"),
        "{report}"
    );
    let last = e.last().unwrap();
    assert_eq!(
        last["final"]["positions"].as_array().unwrap().len(),
        0,
        "flat at the end: {last}"
    );
}

#[test]
fn consecutive_losing_trades_pause_new_risk() {
    let dir = scratch();
    // Buy at 100, close at 99, three times: three losing round trips.
    let mut bars = Vec::new();
    for _ in 0..3 {
        bars.push((100.0, 100.0, 100.0, 100.0));
        bars.push((100.0, 100.0, 100.0, 100.0));
        bars.push((99.0, 99.0, 99.0, 99.0));
    }
    bars.extend(flat(3, 99.0));
    let data = bars_csv(dir.path(), "X.csv", MINUTE, &bars);
    let script = "0 buy 0 10; 1 close 0; 3 buy 0 10; 4 close 0; 6 buy 0 10; 7 close 0; 9 buy 0 1";
    let (out, e) = scripted(
        dir.path(),
        &[&data],
        script,
        &["risk.max_consecutive_losses=3"],
    );
    assert_refused(&out, &e, "reducing-only");
    let states = of_kind(&e, "state");
    assert!(
        states[0]["change"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("consecutive-losses: 3 losing trades")
    );
}

#[test]
fn malformed_intents_are_refused_one_by_one_and_the_run_continues() {
    let dir = scratch();
    let data = bars_csv(dir.path(), "X.csv", DAY, &flat(4, 100.0));
    let (out, e) = scripted(
        dir.path(),
        &[&data],
        "0 buy 7 1; 0 buy 0 -5; 0 limit-buy 0 1 0; 1 buy 0 1",
        &[],
    );
    ok(&out);
    let details: Vec<&str> = of_kind(&e, "refusal")
        .iter()
        .map(|r| r["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        details,
        vec![
            "unknown symbol id 7 (this run has 1 symbols)",
            "quantity -5 is not a positive finite number",
            "limit price 0 is not a positive finite number"
        ]
    );
    assert_eq!(refusal_rules(&e), vec!["invalid-intent"; 3]);
    assert_eq!(of_kind(&e, "fill").len(), 1);
}

#[test]
fn limits_come_from_a_toml_file_and_bad_values_are_named() {
    let dir = scratch();
    let data = bars_csv(dir.path(), "X.csv", DAY, &flat(4, 100.0));
    let cfg = dir.path().join("risk.toml");
    std::fs::write(&cfg, "[risk]\nmax_position = 0.05\n").unwrap();
    let out = sandbar([
        "replay",
        "--plugin",
        plugins::SCRIPTED,
        "--data",
        data.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--param",
        "script=0 weight 0 0.1",
    ]);
    ok(&out);
    assert!(
        stdout(&out).contains("Orders / refusals      0 / 1"),
        "{}",
        stdout(&out)
    );
    std::fs::write(&cfg, "[risk]\nmax_postion = 0.05\n").unwrap();
    let out = sandbar([
        "replay",
        "--plugin",
        plugins::SCRIPTED,
        "--data",
        data.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("risk.toml") && err.contains("unknown field `max_postion`"),
        "{err}"
    );
}

/// Issue 8, reproduced as reported: the scripted plugin through the binary.
mod adversarial {
    use crate::util::*;

    #[test]
    fn a_sell_limit_at_0_0001_is_valued_at_the_market_and_refused() {
        let dir = scratch();
        let data = bars_csv(dir.path(), "X.csv", DAY, &flat(6, 100.0));
        let (out, e) = scripted(dir.path(), &[&data], "0 limit-sell 0 200000000 0.0001", &[]);
        ok(&out);
        assert_eq!(refusal_rules(&e), vec!["max-position"]);
        let detail = of_kind(&e, "refusal")[0]["detail"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            detail.starts_with("position value 20000000000.00 would exceed 20%"),
            "{detail}"
        );
        assert!(of_kind(&e, "fill").is_empty());
    }

    #[test]
    fn five_targets_in_one_bar_count_each_other_against_gross_exposure() {
        let dir = scratch();
        let files: Vec<_> = (0..5)
            .map(|i| bars_csv(dir.path(), &format!("S{i}.csv"), DAY, &flat(4, 100.0)))
            .collect();
        let paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
        // Bar 4 is the first at which all five symbols have a price.
        let script = (0..5)
            .map(|s| format!("4 weight {s} 0.2"))
            .collect::<Vec<_>>()
            .join(";");
        let (out, e) = scripted(
            dir.path(),
            &paths,
            &script,
            &["risk.max_gross_exposure=0.5"],
        );
        ok(&out);
        assert_eq!(refusal_rules(&e), vec!["max-gross-exposure"; 3]);
        assert_eq!(of_kind(&e, "fill").len(), 2);
    }

    #[test]
    fn stop_and_target_touched_in_one_bar_fill_only_the_stop() {
        let dir = scratch();
        let mut bars = flat(2, 100.0);
        bars.push((100.0, 111.0, 89.0, 100.0));
        bars.extend(flat(2, 100.0));
        let data = bars_csv(dir.path(), "X.csv", DAY, &bars);
        let (out, e) = scripted(dir.path(), &[&data], "0 buy 0 10 sl=90 tp=110", &[]);
        ok(&out);
        let fills: Vec<_> = of_kind(&e, "fill")
            .iter()
            .map(|f| {
                (
                    f["fill"]["origin"].as_str().unwrap().to_string(),
                    f["fill"]["price"].as_f64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            fills,
            vec![
                ("strategy".to_string(), 100.0),
                ("stop-loss".to_string(), 90.0)
            ]
        );
    }
}

#[test]
fn a_refused_exit_is_counted_apart_from_refused_entries() {
    // Issue 24: the refusal table tells exits (an order that only reduces a
    // position: one the strategy could not close) from entries. Halted at
    // bar 3, the host's flatten waits for bar 4's open: the strategy's own
    // close on bar 3 is an exit refused, its buy on bar 5 an entry.
    let dir = scratch();
    let mut bars = flat(3, 100.0);
    bars.push((100.0, 100.0, 60.0, 60.0));
    bars.extend(flat(4, 60.0));
    let data = bars_csv(dir.path(), "X.csv", DAY, &bars);
    let (out, e) = scripted(
        dir.path(),
        &[&data],
        "0 weight 0 0.3; 3 close 0; 5 buy 0 1",
        &["risk.max_position=0.5"],
    );
    ok(&out);
    assert_eq!(refusal_rules(&e), vec!["halted", "halted"]);
    // The marker follows the refusal it qualifies: the close's, not the buy's.
    let kinds: Vec<(String, u64)> = e
        .iter()
        .filter_map(|x| {
            let (k, v) = x.as_object()?.iter().next()?;
            matches!(k.as_str(), "refusal" | "refused-exit")
                .then(|| (k.clone(), v["seq"].as_u64().unwrap()))
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("refusal".to_string(), 3),
            ("refused-exit".to_string(), 3),
            ("refusal".to_string(), 5)
        ]
    );
    let report = stdout(&out);
    assert!(
        report.contains("halted ×2 (entries 1, exits 1): trading is halted"),
        "{report}"
    );
    // The page rebuilt from the journal counts the same.
    let page = dir.path().join("run.html");
    let journal = dir.path().join("scripted.redb");
    ok(&sandbar([
        "journal".as_ref(),
        journal.as_os_str(),
        "--html".as_ref(),
        page.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
    ]));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("<b>halted ×2</b> (entries 1, exits 1)"),
        "{html}"
    );
}

#[test]
fn a_run_whose_every_intent_is_refused_says_so_and_why() {
    // Issue 10: 0 trades, exit 0, and the reason only in the journal.
    let dir = scratch();
    let data = bars_csv(dir.path(), "X.csv", DAY, &flat(6, 100.0));
    let (out, _) = scripted(
        dir.path(),
        &[&data],
        "0 weight 0 0.25; 2 weight 0 0.25",
        &[],
    );
    ok(&out);
    let report = stdout(&out);
    assert!(
        report.contains(
            "max-position ×2 (entries 2, exits 0): position value 25000.00 would exceed 20% of equity 100000.00 = 20000.00"
        ),
        "{report}"
    );
    assert!(
        report.contains("WARNING: the strategy asked 2 time(s) and no intent was approved (most often max-position"),
        "{report}"
    );
}

#[test]
fn every_limit_can_be_switched_off_with_none() {
    // Issue 10: `none` was a type error over two lines and `0` refuses everything.
    let dir = scratch();
    let data = bars_csv(dir.path(), "X.csv", DAY, &flat(6, 100.0));
    let all_off = [
        "risk.max_order_notional=none",
        "risk.max_position=none",
        "risk.max_gross_exposure=none",
        "risk.max_open_positions=none",
        "risk.max_orders_per_day=off",
        "risk.daily_loss_limit=none",
        "risk.max_drawdown=none",
        "risk.max_consecutive_losses=none",
    ];
    let (out, e) = scripted(dir.path(), &[&data], "0 weight 0 3; 1 weight 0 5", &all_off);
    ok(&out);
    assert!(refusal_rules(&e).is_empty(), "{:?}", refusal_rules(&e));
    assert_eq!(of_kind(&e, "fill").len(), 2);
    let (out, _) = scripted(
        dir.path(),
        &[&data],
        "0 weight 0 0.1",
        &["risk.max_position=lots"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "error: config command-line overrides: `lots` is neither a number nor `none` (which switches the limit off) in `risk.max_position`"
    );
}
