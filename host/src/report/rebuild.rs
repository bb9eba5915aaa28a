//! A run's outcome rebuilt from its journal and the bars it processed, so
//! that any past run or paper deployment can be reported on (`sandbar
//! journal <file> --html`) without running its plugin again.
//!
//! The journal holds every fill with the sequence number of its bar; the
//! books follow from the fills and the closes with the ledger's own
//! arithmetic, in the engine's order (a bar's fills, then its close marks
//! the position). Where the run wrote a `final` entry, the rebuilt books
//! must match it to the cent, so wrong data cannot pass unnoticed.

use anyhow::{Context, bail};

use crate::data::market::Bar;
use crate::engine::{RuleCount, RunOutcome};
use crate::execution::Origin;
use crate::portfolio::{Execution, Ledger};
use crate::store::journal::{Entry, RunMeta};

/// The outcome of the run `entries` journaled over `bars` (in the order it
/// processed them). `kept`: the bars are the journal's own inputs, every
/// one of them processed (a service journal writes each bar before
/// processing it, while its `bars` ranges are only written up to the last
/// entry); else the run processed as many as its `bars` ranges say.
pub fn outcome(
    meta: &RunMeta,
    entries: &[Entry],
    bars: &[Bar],
    kept: bool,
) -> anyhow::Result<RunOutcome> {
    let mut ledger = Ledger::new(meta.initial_cash, meta.symbols.len());
    let ranged = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Bars { last, .. } => Some(last + 1),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let processed = if kept {
        ranged.max(bars.len() as u64)
    } else {
        ranged
    };
    if (bars.len() as u64) < processed {
        bail!(
            "the journal processed {processed} bars but only {} were given: pass the data the run read",
            bars.len()
        );
    }
    let mut o = RunOutcome {
        bars: processed,
        lookahead: meta.delivery == "batched",
        ..RunOutcome::empty(meta.initial_cash)
    };
    let time = |seq: u64| bars.get(seq as usize).map_or(0, |b| b.time_ms);
    // The journal's entries by bar: fills to book, counts, state changes.
    let mut fills: Vec<(u64, Execution)> = Vec::new();
    // Capital the account moved in or out, before each bar (its rebalances).
    let mut transfers: Vec<(u64, f64)> = Vec::new();
    let mut approved_intent = false;
    let mut last_rule: Option<crate::risk::Rule> = None;
    for e in entries {
        match e {
            Entry::Intent { .. } => {
                o.intents += 1;
                approved_intent = false;
            }
            Entry::Order { order, .. } => {
                o.orders += 1;
                o.protective_orders += u64::from(order.origin.is_protective());
                if order.origin == Origin::Strategy && !approved_intent {
                    o.approved += 1;
                    approved_intent = true;
                }
            }
            Entry::Fill { seq, fill, .. } => fills.push((*seq, Execution::from(fill))),
            Entry::Command {
                seq,
                action: crate::store::journal::CommandAction::Allocate { amount, .. },
                ..
            } => transfers.push((*seq, *amount)),
            Entry::Refusal { rule, detail, .. } => {
                o.refusals += 1;
                match o.refusals_by_rule.iter_mut().find(|r| r.rule == *rule) {
                    Some(r) => r.count += 1,
                    None => o.refusals_by_rule.push(RuleCount {
                        rule: *rule,
                        count: 1,
                        exits: 0,
                        first: detail.clone(),
                    }),
                }
                last_rule = Some(*rule);
            }
            // It follows the refusal it qualifies.
            Entry::RefusedExit { .. } => {
                if let Some(r) = o
                    .refusals_by_rule
                    .iter_mut()
                    .find(|r| Some(r.rule) == last_rule)
                {
                    r.exits += 1;
                }
            }
            Entry::State { seq, change } => {
                o.state = change.to;
                o.state_changes.push((time(*seq), change.clone()));
            }
            _ => {}
        }
    }
    o.refusals_by_rule
        .sort_by_key(|r| std::cmp::Reverse(r.count));
    let mut next = fills.iter().peekable();
    let mut moved = transfers.iter().peekable();
    for (seq, bar) in bars.iter().enumerate().take(processed as usize) {
        while let Some((_, amount)) = moved.next_if(|(s, _)| *s <= seq as u64) {
            ledger.transfer(*amount);
        }
        while let Some((_, x)) = next.next_if(|(s, _)| *s == seq as u64) {
            if x.symbol as usize >= meta.symbols.len() {
                bail!(
                    "a fill at bar {seq} names symbol id {} of {}",
                    x.symbol,
                    meta.symbols.len()
                );
            }
            ledger.apply(x);
        }
        ledger.mark(bar.symbol, bar.close);
        let equity = ledger.equity();
        match o.equity_curve.last_mut() {
            Some((t, e)) if *t == bar.time_ms => *e = equity,
            _ => o.equity_curve.push((bar.time_ms, equity)),
        }
        if ledger.open_positions() > 0 {
            o.bars_in_market += 1;
        }
    }
    if let Some((seq, _)) = next.next() {
        bail!("the journal has a fill at bar {seq}, after the {processed} bars it processed");
    }
    if let Some(Entry::Final { cash, equity, .. }) = entries
        .iter()
        .rev()
        .find(|e| matches!(e, Entry::Final { .. }))
    {
        // Same fills, same closes, same arithmetic: equal but for rounding.
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(1.0);
        if !close(ledger.cash, *cash) || !close(ledger.equity(), *equity) {
            bail!(
                "these bars do not give the run's books: rebuilt cash {:.2} and equity {:.2}, the journal's final entry says {cash:.2} and {equity:.2} (is it the data the run read?)",
                ledger.cash,
                ledger.equity()
            );
        }
    }
    o.ledger = ledger;
    Ok(o)
}

/// Check `files` are the data the run recorded (name and SHA-256, in order).
pub fn check_data(meta: &RunMeta, files: &[std::path::PathBuf]) -> anyhow::Result<()> {
    use sha2::{Digest, Sha256};
    if files.len() != meta.data.len() {
        bail!(
            "the run read {} data file(s) ({}); {} given",
            meta.data.len(),
            meta.data
                .iter()
                .map(|d| d.0.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            files.len()
        );
    }
    for (path, (name, sha, _)) in files.iter().zip(&meta.data) {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let got = crate::digest::hex(&Sha256::digest(&bytes));
        if got != *sha {
            bail!(
                "{}: SHA-256 {got} is not the run's {name} ({sha}): the data changed or is another file",
                path.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::{FillReport, Side};

    fn meta() -> RunMeta {
        serde_json::from_value(serde_json::json!({
            "contract": "sandbar:strategy@0.2.0", "data": [], "delivery": "per-bar",
            "execution": "", "format": 3, "initial_cash": 1000.0, "params": [],
            "plugin_name": "p", "plugin_sha256": "", "plugin_version": "1.0.0", "risk": "",
            "sandbar_version": "0.1.0", "sandbox": "", "sdk_version": "0.1.0", "seed": 0,
            "service": "", "swaps": [], "symbols": ["X"],
        }))
        .unwrap()
    }

    fn bar(t: i64, close: f64) -> Bar {
        Bar {
            symbol: 0,
            time_ms: t,
            open: close,
            high: close,
            low: close,
            close,
            volume: 1e6,
        }
    }

    fn run(final_equity: f64) -> anyhow::Result<RunOutcome> {
        let fill = FillReport {
            order_id: 1,
            symbol: 0,
            side: Side::Buy,
            quantity: 10.0,
            price: 10.0,
            commission: 1.0,
            slippage: 0.0,
            time_ms: 1,
            origin: Origin::Strategy,
            done: true,
        };
        let entries = vec![
            Entry::Bars { first: 0, last: 2 },
            Entry::Fill {
                seq: 1,
                fill,
                plugin: "p@1.0.0".into(),
            },
            Entry::Final {
                cash: 899.0,
                equity: final_equity,
                realized: 0.0,
                commissions: 1.0,
                positions: vec![("X".into(), 10.0, 10.0)],
            },
        ];
        outcome(
            &meta(),
            &entries,
            &[bar(0, 10.0), bar(1, 10.0), bar(2, 12.0)],
            false,
        )
    }

    #[test]
    fn the_books_follow_from_the_fills_and_the_closes() {
        let o = run(1019.0).unwrap();
        assert_eq!(o.equity_curve, vec![(0, 1000.0), (1, 999.0), (2, 1019.0)]);
        assert_eq!((o.bars, o.bars_in_market), (3, 2));
    }

    #[test]
    fn bars_that_do_not_give_the_final_books_are_refused() {
        let e = run(1020.0).unwrap_err().to_string();
        assert!(e.contains("rebuilt cash 899.00 and equity 1019.00"), "{e}");
    }
}
