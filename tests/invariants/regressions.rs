//! One test per hole found in the risk engine (issue 8), each a scenario an
//! adversarial strategy can drive, and each failing before its fix.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sandbar::engine::{Engine, EngineConfig, PlannedSwap, StrategyDriver};
use sandbar::execution::{Origin, SimConfig, SimulatedVenue};
use sandbar::feed::RecordedFeed;
use sandbar::journal::Entry;
use sandbar::market::{Bar, Recording};
use sandbar::risk::{RiskConfig, Rule, TradingState};
use sandbar::runtime::{AccountView, CallError, Delivery, Event, Fault, Intent, Side};

use crate::check::assert_invariants;
use crate::script::*;

fn refusals(journal: &[Entry]) -> Vec<Rule> {
    journal
        .iter()
        .filter_map(|e| match e {
            Entry::Refusal { rule, .. } => Some(*rule),
            _ => None,
        })
        .collect()
}

fn fills(journal: &[Entry]) -> Vec<&sandbar::execution::FillReport> {
    journal
        .iter()
        .filter_map(|e| match e {
            Entry::Fill { fill, .. } => Some(fill),
            _ => None,
        })
        .collect()
}

#[test]
fn an_absurd_limit_price_is_valued_at_what_the_order_can_cost() {
    // Issue 8.1: a sell limit at 0.0001 on a 100-priced symbol was valued at
    // 0.0001 and then filled at the open like a market order.
    let rec = flat(1, 6, 100.0, 1_000_000.0);
    let setup = Setup::default();
    let (out, journal) = run(
        &rec,
        &[at(0, limit(0, Side::Sell, 200_000_000.0, 0.0001))],
        &setup,
    );
    assert_eq!(refusals(&journal), vec![Rule::MaxPosition]);
    assert!(fills(&journal).is_empty());
    assert_eq!(out.ledger.position(0), 0.0);
    assert_invariants(&rec, setup.risk, setup.cash, 1.0, &out, &journal);
}

#[test]
fn a_marketable_buy_limit_far_above_the_price_is_valued_at_its_limit() {
    let rec = flat(1, 4, 100.0, 1_000_000.0);
    // 150 units: 15,000 at the close (passes 20%), 30,000 at its 200 limit.
    let setup = Setup::default();
    let (_, journal) = run(&rec, &[at(0, limit(0, Side::Buy, 150.0, 200.0))], &setup);
    assert_eq!(refusals(&journal), vec![Rule::MaxPosition]);
}

#[test]
fn orders_not_yet_filled_count_toward_gross_exposure() {
    // Issue 8.2: five 20% targets on five symbols in one bar, gross limit 50%.
    let rec = flat(5, 4, 100.0, 1_000_000.0);
    let setup = Setup {
        risk: RiskConfig {
            max_gross_exposure: 0.5,
            ..RiskConfig::default()
        },
        ..Setup::default()
    };
    // Decided on bar 4, the first bar at which all five symbols have a price.
    let steps: Vec<Step> = (0..5).map(|s| at(4, weight(s, 0.2))).collect();
    let (out, journal) = run(&rec, &steps, &setup);
    assert_eq!(
        refusals(&journal),
        vec![Rule::MaxGrossExposure; 3],
        "two 20% orders fit in 50%, the next three do not"
    );
    assert_eq!(out.ledger.open_positions(), 2);
    assert_invariants(&rec, setup.risk, setup.cash, 1.0, &out, &journal);
}

#[test]
fn orders_not_yet_filled_count_toward_open_positions_and_notional() {
    let rec = flat(3, 4, 100.0, 1_000_000.0);
    let setup = Setup {
        risk: RiskConfig {
            max_open_positions: 2,
            ..RiskConfig::default()
        },
        ..Setup::default()
    };
    let steps: Vec<Step> = (0..3).map(|s| at(2, buy(s, 10.0))).collect();
    let (_, journal) = run(&rec, &steps, &setup);
    assert_eq!(refusals(&journal), vec![Rule::MaxOpenPositions]);
}

#[test]
fn a_bar_touching_stop_and_target_fills_only_the_stop() {
    // Issue 8.3: both filled (long 10 → short 10), then both were re-placed
    // on the short and filled again.
    let rec = daily(&[
        (100.0, 100.0, 100.0, 100.0, 1e6),
        (100.0, 100.0, 100.0, 100.0, 1e6), // the buy fills at this open
        (100.0, 111.0, 89.0, 100.0, 1e6),  // touches both
        (100.0, 111.0, 89.0, 100.0, 1e6),
        (100.0, 100.0, 100.0, 100.0, 1e6),
    ]);
    let setup = Setup::default();
    let step = at(0, protect(buy(0, 10.0), Some(90.0), Some(110.0)));
    let (out, journal) = run(&rec, &[step], &setup);
    let f = fills(&journal);
    assert_eq!(f.len(), 2, "the entry and the stop: {f:#?}");
    assert_eq!((f[1].origin, f[1].price), (Origin::StopLoss, 90.0));
    assert_eq!(out.ledger.position(0), 0.0);
    assert_invariants(&rec, setup.risk, setup.cash, 1.0, &out, &journal);
}

#[test]
fn a_target_gapped_through_at_the_open_wins_over_an_intrabar_stop() {
    let rec = daily(&[
        (100.0, 100.0, 100.0, 100.0, 1e6),
        (100.0, 100.0, 100.0, 100.0, 1e6),
        (112.0, 113.0, 85.0, 100.0, 1e6), // opens above the target
        (100.0, 100.0, 100.0, 100.0, 1e6),
    ]);
    let step = at(0, protect(buy(0, 10.0), Some(90.0), Some(110.0)));
    let (out, journal) = run(&rec, &[step], &Setup::default());
    let f = fills(&journal);
    assert_eq!(f.len(), 2);
    assert_eq!((f[1].origin, f[1].price), (Origin::TakeProfit, 112.0));
    assert_eq!(out.ledger.position(0), 0.0);
}

#[test]
fn a_reducing_order_and_a_stop_in_one_bar_never_flip_the_position() {
    // Long 10 with a stop at 95; the strategy sells 10 at market and the
    // next bar gaps through the stop: only 10 may be sold in all.
    let rec = daily(&[
        (100.0, 100.0, 100.0, 100.0, 1e6),
        (100.0, 100.0, 100.0, 100.0, 1e6),
        (100.0, 100.0, 100.0, 100.0, 1e6),
        (90.0, 91.0, 89.0, 90.0, 1e6),
        (90.0, 90.0, 90.0, 90.0, 1e6),
    ]);
    let steps = [
        at(0, protect(buy(0, 10.0), Some(95.0), None)),
        at(2, sell(0, 10.0)),
    ];
    let setup = Setup::default();
    let (out, journal) = run(&rec, &steps, &setup);
    assert_eq!(out.ledger.position(0), 0.0, "{:#?}", fills(&journal));
    assert_invariants(&rec, setup.risk, setup.cash, 1.0, &out, &journal);
}

#[test]
fn protection_of_a_long_is_dropped_when_the_strategy_flips_short() {
    let rec = flat(1, 6, 100.0, 1e6);
    let steps = [
        at(0, protect(buy(0, 10.0), Some(90.0), Some(110.0))),
        at(
            2,
            intent(0, sandbar::runtime::Action::TargetQuantity(-10.0)),
        ),
    ];
    let setup = Setup::default();
    let (out, journal) = run(&rec, &steps, &setup);
    // A buy stop at 90 and a buy limit at 110 on a 100-priced short would
    // both fill at once: they must not exist.
    assert_eq!(out.ledger.position(0), -10.0, "{:#?}", fills(&journal));
    assert_invariants(&rec, setup.risk, setup.cash, 1.0, &out, &journal);
}

#[test]
fn a_zero_close_from_a_feed_cannot_size_an_order() {
    // Issue 8.6: a close of 0 made a weight intent an infinite quantity.
    let rec = daily(&[
        (100.0, 100.0, 0.0, 0.0, 1e6),
        (100.0, 100.0, 100.0, 100.0, 1e6),
        (100.0, 100.0, 100.0, 100.0, 1e6),
    ]);
    let setup = Setup::default();
    let (out, journal) = run(&rec, &[at(0, weight(0, 0.2))], &setup);
    assert_eq!(refusals(&journal), vec![Rule::InvalidIntent]);
    assert!(out.ledger.cash.is_finite() && out.ledger.position(0) == 0.0);
}

#[test]
fn zero_volume_bars_fill_nothing_and_orders_wait_for_volume() {
    // The documented rule: nothing trades on a bar that traded nothing.
    let rec = daily(&[
        (100.0, 100.0, 100.0, 100.0, 1e6),
        (101.0, 101.0, 101.0, 101.0, 0.0),
        (102.0, 102.0, 102.0, 102.0, 1e6),
    ]);
    let (_, journal) = run(&rec, &[at(0, buy(0, 10.0))], &Setup::default());
    let f = fills(&journal);
    assert_eq!((f.len(), f[0].price), (1, 102.0));
}

#[test]
fn entering_reducing_cancels_orders_that_add_risk() {
    // Issue 8.7: a limit placed while ACTIVE still filled in REDUCING.
    let hour = 3_600_000;
    let bar = |symbol, h: i64, o: f64, hi: f64, lo: f64, c: f64| Bar {
        symbol,
        time_ms: h * hour,
        open: o,
        high: hi,
        low: lo,
        close: c,
        volume: 1e6,
    };
    let rec = Recording {
        symbols: vec!["A".into(), "B".into()],
        bars: vec![
            bar(0, 0, 100.0, 100.0, 100.0, 100.0),
            bar(1, 0, 100.0, 100.0, 100.0, 100.0),
            bar(0, 1, 100.0, 100.0, 100.0, 100.0), // A bought here
            bar(1, 1, 100.0, 100.0, 100.0, 100.0),
            bar(0, 2, 95.0, 95.0, 95.0, 95.0), // −5% of equity: REDUCING
            bar(1, 2, 100.0, 100.0, 100.0, 100.0),
            bar(1, 3, 60.0, 60.0, 40.0, 50.0), // would fill the limit
            bar(0, 3, 95.0, 95.0, 95.0, 95.0),
        ],
    };
    let setup = Setup {
        risk: RiskConfig {
            max_position: 1.0,
            max_gross_exposure: 2.0,
            ..RiskConfig::default()
        },
        ..Setup::default()
    };
    let steps = [
        at(0, weight(0, 1.0)),
        at(1, limit(1, Side::Buy, 100.0, 50.0)),
    ];
    let (out, journal) = run(&rec, &steps, &setup);
    assert_eq!(out.state, TradingState::Reducing);
    assert_eq!(out.ledger.position(1), 0.0, "{:#?}", fills(&journal));
    assert!(
        journal
            .iter()
            .any(|e| matches!(e, Entry::Cancel { reason, .. } if reason.contains("REDUCING")))
    );
    assert_invariants(&rec, setup.risk, setup.cash, 1.0, &out, &journal);
}

#[test]
fn halting_flattens_with_orders_that_only_reduce() {
    let rec = daily(&[
        (100.0, 100.0, 100.0, 100.0, 1e6),
        (100.0, 100.0, 100.0, 100.0, 1e6),
        (80.0, 80.0, 80.0, 80.0, 1e6), // −20% on a full position: HALTED
        (80.0, 80.0, 80.0, 80.0, 1e6),
        (80.0, 80.0, 80.0, 80.0, 1e6),
    ]);
    let setup = Setup {
        risk: RiskConfig {
            max_position: 1.0,
            ..RiskConfig::default()
        },
        ..Setup::default()
    };
    let steps = [
        at(0, weight(0, 1.0)),
        at(2, weight(0, 1.0)),
        at(3, buy(0, 1.0)),
    ];
    let (out, journal) = run(&rec, &steps, &setup);
    assert_eq!(out.state, TradingState::Halted);
    assert_eq!(out.ledger.position(0), 0.0);
    assert_invariants(&rec, setup.risk, setup.cash, 1.0, &out, &journal);
}

/// A strategy whose snapshot traps, counting the calls made after it.
struct BrokenOnSnapshot {
    view: AccountView,
    broken: bool,
    calls_after: Arc<AtomicU32>,
}

impl StrategyDriver for BrokenOnSnapshot {
    fn version(&self) -> String {
        "1.0.0".into()
    }
    fn view_mut(&mut self) -> &mut AccountView {
        &mut self.view
    }
    fn on_bars(&mut self, _: &[Bar], _: &[Event], _: &mut Vec<Intent>) -> Result<(), CallError> {
        if self.broken {
            self.calls_after.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, CallError> {
        self.broken = true;
        Err(Fault::Trap {
            kind: "wasm `unreachable` instruction executed".into(),
            frames: vec![],
        }
        .into())
    }
    fn restore(&mut self, _: &str, _: &[u8]) -> Result<(), CallError> {
        Ok(())
    }
}

#[test]
fn an_instance_that_traps_while_snapshotting_is_never_called_again() {
    // Issue 8.10: the faulted instance kept serving after a refused swap.
    let rec = flat(1, 6, 100.0, 1e6);
    let calls_after = Arc::new(AtomicU32::new(0));
    let mut journal: Vec<Entry> = Vec::new();
    let cfg = EngineConfig {
        initial_cash: 100_000.0,
        risk: RiskConfig::default(),
        batch_size: 1,
        delivery: Delivery::PerBar,
        plugin_label: "broken@1.0.0".into(),
        rollback_window: 100,
        rollback_drawdown: None,
        pause_drawdown: None,
        final_entry: true,
        warmup: 0,
    };
    let mut engine = Engine::new(
        cfg,
        rec.symbols.clone(),
        Box::new(BrokenOnSnapshot {
            view: AccountView::default(),
            broken: false,
            calls_after: calls_after.clone(),
        }),
        SimulatedVenue::new(SimConfig::default()),
        &mut journal,
    );
    engine.schedule_swap(PlannedSwap {
        at_seq: 2,
        driver: Box::new(Script::new(&[], false)),
        label: "script@2.0.0".into(),
    });
    let out = engine
        .run(&mut RecordedFeed::new(rec), &mut |_| {})
        .unwrap();
    assert_eq!(
        calls_after.load(Ordering::SeqCst),
        0,
        "the trapped instance was called again"
    );
    let fault = out.fault.expect("the run ends with the fault");
    assert_eq!(fault.seq, 2);
    assert!(
        journal
            .iter()
            .any(|e| matches!(e, Entry::SwapRefused { .. }))
    );
}

#[test]
fn batched_delivery_says_it_allowed_look_ahead() {
    // Issue 8.8: the strategy holds the whole batch before deciding.
    let rec = flat(1, 10, 100.0, 1e6);
    let batched = Setup {
        delivery: Delivery::Batched,
        batch_size: 4,
        ..Setup::default()
    };
    let (out, _) = run(&rec, &[], &batched);
    assert!(
        out.lookahead,
        "a batch of 4 bars lets bar 0's decision see bar 3"
    );
    let (out, _) = run(&rec, &[], &Setup::default());
    assert!(!out.lookahead);
}

#[test]
fn a_state_change_caused_by_one_fill_stops_the_next_fill_in_the_same_bar() {
    // Found by the properties: a target closed a short at the open for a
    // small loss (commission), the loss streak moved the account to
    // REDUCING, and a risk-adding market order executing at the same open
    // still filled, because the venue had computed every fill of the bar at
    // once. Fills now come one at a time.
    let rec = daily(&[
        (100.0, 100.0, 100.0, 100.0, 1e6),
        (100.0, 100.0, 100.0, 100.0, 1e6), // the short fills; its target is placed
        (100.0, 100.0, 100.0, 100.0, 1e6), // the target fills at the open, then the sell would
        (100.0, 100.0, 100.0, 100.0, 1e6),
    ]);
    let setup = Setup {
        risk: RiskConfig {
            max_position: 1.0,
            max_consecutive_losses: 1,
            ..RiskConfig::default()
        },
        sim: SimConfig {
            commission_percent: 0.1,
            ..SimConfig::default()
        },
        ..Setup::default()
    };
    let steps = [
        at(0, protect(weight(0, -0.5), None, Some(114.0))),
        at(1, sell(0, 1.0)),
    ];
    let (out, journal) = run(&rec, &steps, &setup);
    assert_eq!(out.ledger.position(0), 0.0, "{:#?}", fills(&journal));
    assert!(
        journal
            .iter()
            .any(|e| matches!(e, Entry::Cancel { reason, .. } if reason.contains("REDUCING")))
    );
    assert_invariants(&rec, setup.risk, setup.cash, 1.0, &out, &journal);
}

#[test]
fn a_flip_and_a_protective_stop_in_one_bar_never_exceed_the_approved_position() {
    // Found by the properties: short 781 with a buy stop at 60; the strategy
    // flips to +375 with a buy of 1,156. The next open triggers the stop
    // (covering the short) and then the flip order opened 1,156 long. A flip
    // is now a reduce-only close plus the approved new position.
    let rec = flat(1, 4, 100.0, 1e6);
    let setup = Setup {
        risk: RiskConfig {
            max_position: 0.9,
            ..RiskConfig::default()
        },
        ..Setup::default()
    };
    let steps = [
        at(0, protect(sell(0, 781.0), Some(60.0), None)),
        at(1, weight(0, 0.375)),
    ];
    let (out, journal) = run(&rec, &steps, &setup);
    assert_eq!(out.ledger.position(0), 375.0, "{:#?}", fills(&journal));
    assert_invariants(&rec, setup.risk, setup.cash, 1.0, &out, &journal);
}
