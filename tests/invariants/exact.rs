//! Exact batching against per-bar delivery where a window could most easily
//! be wrong: risk states that change on bars that fill nothing (a drawdown
//! halt and a daily-loss REDUCING reached by marks alone, ACTIVE again at a
//! day roll), and resting orders that trigger many quiet bars after they
//! were placed. Each must cut the window exactly there; the journals must
//! be identical, bit for bit, with the account the script read in every
//! reason.

use sandbar::journal::Entry;
use sandbar::market::{Bar, Recording};
use sandbar::risk::{RiskConfig, TradingState};
use sandbar::runtime::{Delivery, Side};

use crate::script::*;

/// One symbol, a bar an hour from midnight, moving by `step` (a fraction)
/// each bar; volume everywhere.
fn drifting(n: usize, step: f64) -> Recording {
    let mut price = 100.0;
    let bars = (0..n)
        .map(|i| {
            let open = price;
            price *= 1.0 + step;
            Bar {
                symbol: 0,
                time_ms: i as i64 * 3_600_000,
                open,
                high: open.max(price),
                low: open.min(price),
                close: price,
                volume: 1e6,
            }
        })
        .collect();
    Recording {
        symbols: vec!["X".into()],
        bars,
    }
}

/// Run per-bar and exact; the journals must be equal; returns per-bar's.
fn same_both_ways(rec: &Recording, steps: &[Step], risk: RiskConfig) -> Vec<Entry> {
    let per_bar = Setup {
        risk,
        reads_view: true,
        ..Setup::default()
    };
    let exact = Setup {
        delivery: Delivery::Exact,
        ..per_bar.clone()
    };
    let (_, a) = run(rec, steps, &per_bar);
    let (_, b) = run(rec, steps, &exact);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    a
}

fn states(journal: &[Entry]) -> Vec<(u64, TradingState)> {
    journal
        .iter()
        .filter_map(|e| match e {
            Entry::State { seq, change } => Some((*seq, change.to)),
            _ => None,
        })
        .collect()
}

/// The script asks for its account on bars nothing happens on, so a window
/// that ran past a state change would show in its reasons.
fn readings(from: u64, to: u64) -> Vec<Step> {
    (from..to)
        .step_by(7)
        .map(|seq| Step {
            seq,
            intent: limit(0, Side::Buy, 1.0, 1.0), // far below: never fills
        })
        .collect()
}

#[test]
fn a_drawdown_halt_reached_by_marks_alone_cuts_the_window() {
    let rec = drifting(120, -0.004);
    let mut steps = vec![Step {
        seq: 0,
        intent: weight(0, 0.5),
    }];
    steps.extend(readings(3, 120));
    let risk = RiskConfig {
        max_position: 1.0,
        max_orders_per_day: u32::MAX,
        daily_loss_limit: 1.0,
        max_drawdown: 0.05,
        ..RiskConfig::default()
    };
    let journal = same_both_ways(&rec, &steps, risk);
    let s = states(&journal);
    assert!(
        matches!(s.as_slice(), [(seq, TradingState::Halted)] if *seq > 10),
        "{s:?}"
    );
}

#[test]
fn a_daily_loss_reached_by_marks_alone_and_the_next_days_roll_cut_the_window() {
    // Down for a day, then flat: REDUCING on a bar that fills nothing, and
    // ACTIVE again at midnight, also on a bar that fills nothing.
    let mut rec = drifting(30, -0.003);
    let last = rec.bars.last().unwrap().close;
    rec.bars.extend((30..80).map(|i| Bar {
        symbol: 0,
        time_ms: i * 3_600_000,
        open: last,
        high: last,
        low: last,
        close: last,
        volume: 1e6,
    }));
    let mut steps = vec![Step {
        seq: 0,
        intent: weight(0, 0.5),
    }];
    steps.extend(readings(2, 80));
    let risk = RiskConfig {
        max_position: 1.0,
        max_orders_per_day: u32::MAX,
        daily_loss_limit: 0.01,
        max_drawdown: 1.0,
        ..RiskConfig::default()
    };
    let journal = same_both_ways(&rec, &steps, risk);
    let s = states(&journal);
    assert!(
        matches!(
            s.as_slice(),
            [(_, TradingState::Reducing), (24, TradingState::Active), ..]
        ),
        "{s:?}"
    );
}

#[test]
fn resting_orders_that_trigger_long_after_they_were_placed_cut_the_window() {
    // Up 0.3% a bar for 100 bars, then down: a buy with a stop and a target
    // far away, a limit far below; the target triggers, then the limit.
    let mut rec = drifting(100, 0.003);
    let top = rec.bars.last().unwrap().close;
    let mut down = drifting(100, -0.004);
    for (i, b) in down.bars.iter_mut().enumerate() {
        let k = top / 100.0;
        b.time_ms = (100 + i as i64) * 3_600_000;
        (b.open, b.high, b.low, b.close) = (b.open * k, b.high * k, b.low * k, b.close * k);
    }
    rec.bars.extend(down.bars);
    let steps = vec![
        Step {
            seq: 0,
            intent: protect(buy(0, 100.0), Some(50.0), Some(125.0)),
        },
        Step {
            seq: 90,
            intent: limit(0, Side::Buy, 10.0, 110.0),
        },
    ];
    let risk = RiskConfig {
        max_position: 1.0,
        ..RiskConfig::default()
    };
    let journal = same_both_ways(&rec, &steps, risk);
    let fills: Vec<(u64, String)> = journal
        .iter()
        .filter_map(|e| match e {
            Entry::Fill { seq, fill, .. } => Some((*seq, fill.origin.as_str().to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(fills.len(), 3, "{fills:?}");
    assert_eq!(fills[1].1, "take-profit", "{fills:?}");
    assert!(fills[1].0 > 50 && fills[2].0 > fills[1].0 + 10, "{fills:?}");
}
