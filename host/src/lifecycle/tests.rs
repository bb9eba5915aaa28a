//! The lifecycle's edges and gates, criterion by criterion.

use super::*;
use Stage::*;

#[test]
fn only_the_documented_edges_exist() {
    let all = [Draft, Testing, Paper, Live, Paused, Deprecated];
    let moves = [Move::Promote, Move::Pause, Move::Resume, Move::Deprecate];
    let mut legal = Vec::new();
    for from in all {
        for mv in moves {
            if let Ok(to) = next(from, mv, Some(Live)) {
                legal.push((from, mv, to));
            }
        }
    }
    assert_eq!(
        legal,
        vec![
            (Draft, Move::Promote, Testing),
            (Draft, Move::Deprecate, Deprecated),
            (Testing, Move::Promote, Paper),
            (Testing, Move::Deprecate, Deprecated),
            (Paper, Move::Promote, Live),
            (Paper, Move::Pause, Paused),
            (Paper, Move::Deprecate, Deprecated),
            (Live, Move::Pause, Paused),
            (Paused, Move::Resume, Live),
            (Paused, Move::Deprecate, Deprecated),
        ]
    );
    assert_eq!(next(Paused, Move::Resume, Some(Paper)), Ok(Paper));
    assert_eq!(
        next(Live, Move::Deprecate, None).unwrap_err().to_string(),
        "cannot deprecate a deployment in LIVE: pause it first"
    );
}

fn evidence(years: f64, sharpe: f64, dd: f64, trades: u64) -> BacktestEvidence {
    BacktestEvidence {
        plugin: "p@1.0.0".into(),
        lookahead: false,
        data: vec![],
        bars: 1000,
        years,
        sharpe,
        max_drawdown: dd,
        trades,
        win_rate: Some(0.5),
        faulted: false,
        walk_forward: None,
        monte_carlo: None,
    }
}

#[test]
fn walk_forward_and_monte_carlo_gates_apply_when_configured() {
    let good = evidence(5.0, 1.5, 0.1, 30);
    // Not configured: not asked for.
    let r = gate(
        Testing,
        &GateConfig::default(),
        Some(&good),
        None,
        "p@1.0.0",
    );
    assert!(r.criteria.iter().all(|c| c.pass));
    assert!(
        !r.criteria
            .iter()
            .any(|c| c.name.starts_with("walk-forward"))
    );
    let g = GateConfig {
        min_walk_forward_sharpe: Some(0.5),
        min_walk_forward_efficiency: Some(0.5),
        max_monte_carlo_drawdown: Some(0.25),
        ..GateConfig::default()
    };
    // Configured and missing: refused, saying so.
    let r = gate(Testing, &g, Some(&good), None, "p@1.0.0");
    let missing: Vec<(&str, &str)> = r
        .criteria
        .iter()
        .filter(|c| !c.pass)
        .map(|c| (c.name.as_str(), c.value.as_str()))
        .collect();
    assert_eq!(
        missing,
        vec![
            ("walk-forward out-of-sample Sharpe", "missing"),
            ("walk-forward efficiency", "missing"),
            ("walk-forward trades in its thinnest window", "missing"),
            ("Monte Carlo 95th-percentile drawdown", "missing"),
        ]
    );
    let with = BacktestEvidence {
        walk_forward: Some(WalkForwardEvidence {
            spans: "3y/1y".into(),
            windows: 6,
            grid: vec![],
            sharpe: 0.68,
            efficiency: 0.40,
            min_window_trades: Some(12),
        }),
        monte_carlo: Some(MonteCarloEvidence {
            runs: 10_000,
            method: "trades".into(),
            seed: 0,
            p95_drawdown: 0.18,
        }),
        ..good
    };
    let r = gate(Testing, &g, Some(&with), None, "p@1.0.0");
    let failed: Vec<&str> = r
        .criteria
        .iter()
        .filter(|c| !c.pass)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, vec!["walk-forward efficiency"], "0.40 < 0.50");
}

#[test]
fn testing_gate_checks_every_criterion_against_its_threshold() {
    let g = GateConfig::default();
    assert!(
        gate(
            Testing,
            &g,
            Some(&evidence(3.5, 1.2, 0.1, 4)),
            None,
            "p@1.0.0"
        )
        .ready()
    );
    let r = gate(
        Testing,
        &g,
        Some(&evidence(2.0, 0.8, 0.25, 0)),
        None,
        "p@1.0.0",
    );
    let failed: Vec<_> = r
        .criteria
        .iter()
        .filter(|c| !c.pass)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        failed,
        vec![
            "backtest years",
            "backtest Sharpe",
            "backtest max drawdown",
            "backtest trades"
        ]
    );
    let none = gate(Testing, &g, None, None, "p@1.0.0");
    assert!(!none.ready() && none.criteria.iter().all(|c| c.value == "missing"));
    assert!(
        r.table().contains("[FAIL] backtest Sharpe"),
        "{}",
        r.table()
    );
}

#[test]
fn evidence_counts_only_for_its_own_version_and_without_look_ahead() {
    // Issue 8.9: a later version inherited the evidence of an earlier one.
    let g = GateConfig::default();
    let b = evidence(3.5, 1.2, 0.1, 4);
    let r = gate(Testing, &g, Some(&b), None, "p@2.0.0");
    assert!(!r.ready());
    assert!(
        r.table().contains("[FAIL] backtest of this version"),
        "{}",
        r.table()
    );
    let batched = BacktestEvidence {
        lookahead: true,
        ..b
    };
    let r = gate(Testing, &g, Some(&batched), None, "p@1.0.0");
    assert!(!r.ready());
    assert!(
        r.table().contains("[FAIL] backtest without look-ahead"),
        "{}",
        r.table()
    );
}

#[test]
fn paper_gate_compares_paper_with_backtest_sharpe() {
    let g = GateConfig::default();
    let b = evidence(3.5, 2.0, 0.1, 4);
    let p = PaperEvidence {
        plugin: "p@1.0.0".into(),
        days: 20.0,
        trades: 6,
        sharpe: 1.5,
        slippage_bps: 4.0,
        faults: 0,
        replay: None,
        venue: None,
        max_drawdown: Some(0.08),
        win_rate: Some(0.55),
        interval_ms: None,
    };
    // Without the comparison on its own bars, not ready.
    let r = gate(Paper, &g, Some(&b), Some(&p), "p@1.0.0");
    let failed: Vec<&str> = r
        .criteria
        .iter()
        .filter(|c| !c.pass)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        failed,
        vec!["paper vs replay of its bars: Sharpe deviation"]
    );
    let check = |plugin: &str, deviation: f64| Comparison {
        plugin: plugin.into(),
        bars: 100,
        stopped_at: None,
        paper_fills: 4,
        replay_fills: 4,
        matching_fills: 4,
        first_difference: None,
        max_price_difference_bps: 0.0,
        slippage: (0.0, 0.0),
        pnl: (10.0, 10.0),
        sharpe: (1.5, 1.5),
        sharpe_deviation: deviation,
    };
    let p = PaperEvidence {
        replay: Some(check("p@1.0.0", 0.0)),
        ..p
    };
    assert!(gate(Paper, &g, Some(&b), Some(&p), "p@1.0.0").ready());
    let other = PaperEvidence {
        replay: Some(check("p@0.9.0", 0.0)),
        ..p.clone()
    };
    assert!(
        !gate(Paper, &g, Some(&b), Some(&other), "p@1.0.0").ready(),
        "another version's comparison"
    );
    let far = PaperEvidence {
        replay: Some(check("p@1.0.0", 0.31)),
        ..p.clone()
    };
    assert!(
        !gate(Paper, &g, Some(&b), Some(&far), "p@1.0.0").ready(),
        "31% > 30%"
    );
    let weak = PaperEvidence { sharpe: 1.2, ..p };
    assert!(
        !gate(Paper, &g, Some(&b), Some(&weak), "p@1.0.0").ready(),
        "1.2 / 2.0 = 60% < 70%"
    );
    assert!(!gate(Paper, &g, Some(&b), None, "p@1.0.0").ready());
}

#[test]
fn a_gate_that_asks_for_a_brokers_paper_account_refuses_the_simulated_one() {
    let g = GateConfig {
        paper_on_broker: true,
        max_replay_sharpe_deviation: f64::MAX,
        ..GateConfig::default()
    };
    let b = evidence(3.5, 2.0, 0.1, 4);
    let simulated = PaperEvidence {
        plugin: "p@1.0.0".into(),
        days: 20.0,
        trades: 6,
        sharpe: 1.5,
        slippage_bps: 0.0,
        faults: 0,
        replay: None,
        venue: None,
        max_drawdown: Some(0.08),
        win_rate: Some(0.55),
        interval_ms: None,
    };
    let r = gate(Paper, &g, Some(&b), Some(&simulated), "p@1.0.0");
    let failed: Vec<(&str, &str)> = r
        .criteria
        .iter()
        .filter(|c| !c.pass)
        .map(|c| (c.name.as_str(), c.value.as_str()))
        .collect();
    assert_eq!(
        failed,
        vec![
            ("paper vs replay of its bars: Sharpe deviation", "missing"),
            ("paper on a broker's paper account", "the simulated venue")
        ]
    );
    let broker = PaperEvidence {
        venue: Some("alpaca-paper".into()),
        ..simulated.clone()
    };
    let r = gate(Paper, &g, Some(&b), Some(&broker), "p@1.0.0");
    assert!(
        r.criteria
            .iter()
            .any(|c| c.name == "paper on a broker's paper account"
                && c.pass
                && c.value == "alpaca-paper")
    );
    let unasked = GateConfig {
        paper_on_broker: false,
        ..g
    };
    let r = gate(Paper, &unasked, Some(&b), Some(&simulated), "p@1.0.0");
    assert!(
        r.criteria
            .iter()
            .all(|c| c.name != "paper on a broker's paper account")
    );
}

#[test]
fn the_references_paper_criteria_bind_drawdown_win_rate_sharpe_and_length_by_frequency() {
    // (The comparison with the replay of its own bars has its own test.)
    let g = GateConfig::default();
    // A backtest Sharpe of 0.6 (a forced TESTING gate): the ratio alone
    // would let a paper Sharpe of 0.42 through.
    let b = evidence(3.5, 0.6, 0.1, 40);
    let minute = PaperEvidence {
        plugin: "p@1.0.0".into(),
        days: 29.0,
        trades: 30,
        sharpe: 0.9,
        slippage_bps: 2.0,
        faults: 0,
        replay: None,
        venue: None,
        max_drawdown: Some(0.08),
        win_rate: Some(0.55),
        interval_ms: Some(60_000),
    };
    let failed = |p: &PaperEvidence, g: &GateConfig| -> Vec<(String, String, String)> {
        gate(Paper, g, Some(&b), Some(p), "p@1.0.0")
            .criteria
            .iter()
            .filter(|c| !c.pass && !c.name.starts_with("paper vs replay"))
            .map(|c| (c.name.clone(), c.value.clone(), c.threshold.clone()))
            .collect()
    };
    // 29 days of minute bars: intraday wants a month (the table, not the 14-day floor).
    assert_eq!(
        failed(&minute, &g),
        vec![(
            "days traded in PAPER".into(),
            "29.00".into(),
            "≥ 30 (intraday bars)".into()
        )]
    );
    assert!(
        failed(
            &PaperEvidence {
                days: 30.0,
                ..minute.clone()
            },
            &g
        )
        .is_empty()
    );
    let by_floor = GateConfig {
        paper_days_by_frequency: false,
        ..g
    };
    assert!(
        failed(&minute, &by_floor).is_empty(),
        "off: 14 days suffice"
    );
    let daily = PaperEvidence {
        days: 59.0,
        interval_ms: Some(86_400_000),
        ..minute.clone()
    };
    assert_eq!(failed(&daily, &g)[0].2, "≥ 60 (daily bars)");
    let month = PaperEvidence {
        days: 30.0,
        ..minute.clone()
    };
    for (p, name) in [
        (
            PaperEvidence {
                max_drawdown: Some(0.16),
                ..month.clone()
            },
            "paper max drawdown",
        ),
        (
            PaperEvidence {
                max_drawdown: None,
                ..month.clone()
            },
            "paper max drawdown",
        ),
        (
            PaperEvidence {
                win_rate: Some(0.39),
                ..month.clone()
            },
            "paper vs backtest win rate difference",
        ),
        (
            PaperEvidence {
                win_rate: Some(0.61),
                ..month.clone()
            },
            "paper vs backtest win rate difference",
        ),
        (
            PaperEvidence {
                sharpe: 0.49,
                ..month.clone()
            },
            "paper Sharpe",
        ),
    ] {
        let f = failed(&p, &g);
        assert_eq!(f.len(), 1, "{name}: {f:?}");
        assert_eq!(f[0].0, name);
    }
    // 0.6 is within 0.10 of 0.5; 0.15 drawdown is at the limit.
    let edge = PaperEvidence {
        win_rate: Some(0.6),
        max_drawdown: Some(0.15),
        ..month
    };
    assert!(failed(&edge, &g).is_empty());
}

#[test]
fn a_walk_forward_with_a_window_of_too_few_trades_does_not_pass() {
    let walked = |trades: u64| BacktestEvidence {
        walk_forward: Some(WalkForwardEvidence {
            spans: "1y/3m".into(),
            windows: 4,
            grid: vec![],
            sharpe: 1.0,
            efficiency: 0.8,
            min_window_trades: Some(trades),
        }),
        ..evidence(5.0, 1.5, 0.1, 40)
    };
    let g = GateConfig::default();
    let r = gate(Testing, &g, Some(&walked(9)), None, "p@1.0.0");
    let failed: Vec<&str> = r
        .criteria
        .iter()
        .filter(|c| !c.pass)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, vec!["walk-forward trades in its thinnest window"]);
    assert!(gate(Testing, &g, Some(&walked(10)), None, "p@1.0.0").ready());
}
