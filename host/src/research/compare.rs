//! Paper against backtest, on the same bars: the bars a paper deployment
//! actually received (its journal keeps them) replayed through the
//! backtest engine with the same version, parameters and configuration,
//! and every difference named — fills, prices, slippage, PnL, Sharpe.
//!
//! Where they can differ, and why it matters: the paper run saw bars as a
//! live feed delivered them (late, repaired, deduplicated) and obeyed
//! operator commands; a difference that is not explained by a command is a
//! defect of the pipeline, exactly what must be found before money. The
//! comparison stops at the first bar an operator command or the engine's
//! own pause changed what the strategy was asked (a swap, a rollback, a
//! pause): after it, the backtest would not be the same experiment.

use crate::engine::RunOutcome;
use crate::execution::FillReport;
use crate::store::journal::Entry;
// The comparison is lifecycle evidence (the PAPER → LIVE gate reads it).
pub use crate::lifecycle::evidence::{Comparison, FillRow};

/// The first bar whose decisions an operator (or the engine's pause) changed.
pub fn cut(entries: &[Entry], processed: u64) -> (u64, Option<String>) {
    for e in entries {
        let why = match e {
            Entry::Command { action, actor, .. } => Some(format!("{action:?} by {actor}")),
            Entry::Swap { to, actor, .. } => Some(format!("swap to {to} by {actor}")),
            Entry::Rollback { to, .. } => Some(format!("rollback to {to}")),
            Entry::Paused { actor, .. } => Some(format!("pause by {actor}")),
            _ => None,
        };
        if let (Some(why), Some(seq)) = (why, e.seq()) {
            return (seq.min(processed), Some(why));
        }
    }
    (processed, None)
}

/// The entries of bars before `cut` (a `bars` range is cut short).
pub fn before(entries: &[Entry], cut: u64) -> Vec<Entry> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Bars { first, last } if *first < cut => Some(Entry::Bars {
                first: *first,
                last: (*last).min(cut - 1),
            }),
            Entry::Final { .. } => None,
            e if e.seq().is_none_or(|s| s < cut) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// Every fill of a journal.
pub fn fills(entries: &[Entry]) -> Vec<FillRow> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Fill { seq, fill, .. } => Some(row(*seq, fill)),
            _ => None,
        })
        .collect()
}

fn row(seq: u64, f: &FillReport) -> FillRow {
    FillRow {
        seq,
        side: f.side.as_str().into(),
        quantity: f.quantity,
        price: f.price,
        commission: f.commission,
        slippage: f.slippage,
    }
}

/// Compare the paper run (rebuilt from its journal) with the replay.
pub fn compare(
    plugin: &str,
    bars: u64,
    stopped_at: Option<String>,
    paper: (&RunOutcome, &[FillRow]),
    replay: (&RunOutcome, &[FillRow]),
) -> Comparison {
    let (po, pf) = paper;
    let (ro, rf) = replay;
    let same = |a: &FillRow, b: &FillRow| {
        a.seq == b.seq
            && a.side == b.side
            && (a.quantity - b.quantity).abs() <= 1e-9 * a.quantity.abs().max(1.0)
            && (a.price - b.price).abs() <= 1e-9 * a.price.abs().max(1.0)
    };
    let matching = pf.iter().zip(rf).take_while(|(a, b)| same(a, b)).count();
    let first_difference = (matching < pf.len().max(rf.len()))
        .then(|| (pf.get(matching).cloned(), rf.get(matching).cloned()));
    let max_bps = pf
        .iter()
        .zip(rf)
        .map(|(a, b)| ((a.price - b.price) / b.price).abs() * 10_000.0)
        .fold(0.0, f64::max);
    let end = |o: &RunOutcome| o.equity_curve.last().map_or(o.ledger.initial_cash, |p| p.1);
    let (ps, rs) = (
        crate::report::Report::new(po).sharpe,
        crate::report::Report::new(ro).sharpe,
    );
    let sharpe_deviation = if rs.abs() > 1e-12 {
        (ps - rs).abs() / rs.abs()
    } else if ps.abs() > 1e-12 {
        1.0
    } else {
        0.0
    };
    Comparison {
        plugin: plugin.into(),
        bars,
        stopped_at,
        paper_fills: pf.len(),
        replay_fills: rf.len(),
        matching_fills: matching,
        first_difference,
        max_price_difference_bps: max_bps,
        slippage: (po.ledger.slippage, ro.ledger.slippage),
        pnl: (
            end(po) - po.ledger.initial_cash,
            end(ro) - ro.ledger.initial_cash,
        ),
        sharpe: (ps, rs),
        sharpe_deviation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::journal::CommandAction;

    #[test]
    fn the_comparison_stops_at_the_first_command_and_cuts_a_bar_range_short() {
        let entries = vec![
            Entry::Bars { first: 0, last: 9 },
            Entry::Command {
                seq: 6,
                action: CommandAction::Pause,
                actor: "alice".into(),
                reason: "lunch".into(),
            },
            Entry::Paused {
                seq: 6,
                actor: "alice".into(),
                reason: "lunch".into(),
            },
        ];
        let (cut, why) = cut(&entries, 10);
        assert_eq!((cut, why.as_deref()), (6, Some("Pause by alice")));
        assert_eq!(
            before(&entries, cut),
            vec![Entry::Bars { first: 0, last: 5 }]
        );
        assert_eq!(super::cut(&entries[..1], 10), (10, None));
    }
}
