//! The stop-loss and take-profit resting on each symbol over a run, read
//! from its journal, for the HTML report's price charts: an author sees
//! where the host held each position's stop (a trailing stop's ratchet
//! included) and target, beside the fills they caused.
//!
//! A level is a step function: it changes when a protective order is
//! placed (its `decided_ms`), cancelled (the time of the bar it was
//! cancelled on) or filled (the fill's time). A replacement is placed
//! before the order it replaces is cancelled; the level is always the
//! newest resting order's price.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::execution::OrderKind;
use crate::store::journal::Entry;

/// One symbol's levels: (time ms, price, or `None` when nothing rests).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Levels {
    /// The stop-loss.
    pub stops: Vec<(i64, Option<f64>)>,
    /// The take-profit.
    pub targets: Vec<(i64, Option<f64>)>,
}

#[derive(Default)]
struct Resting {
    /// Order id → (symbol, price).
    orders: BTreeMap<u64, (usize, f64)>,
}

impl Resting {
    /// The newest resting order's price on `symbol`.
    fn level(&self, symbol: usize) -> Option<f64> {
        self.orders
            .values()
            .rev()
            .find(|(s, _)| *s == symbol)
            .map(|(_, p)| *p)
    }
}

fn push(series: &mut Vec<(i64, Option<f64>)>, time: i64, level: Option<f64>) {
    if let Some(last) = series.last_mut()
        && last.0 == time
    {
        // Several changes at one time: the last one stands, and a point
        // equal to the one before it is no change at all.
        last.1 = level;
        let n = series.len();
        let before = if n >= 2 { series[n - 2].1 } else { None };
        if before == level {
            series.pop();
        }
        return;
    }
    // Nothing resting is where every series starts.
    if series.last().and_then(|l| l.1) != level {
        series.push((time, level));
    }
}

/// Every symbol's levels over the run; `bar_times[seq]` is the open time of
/// bar `seq` (for cancellations, which the journal dates by bar).
pub fn protection_levels(entries: &[Entry], bar_times: &[i64], symbols: usize) -> Vec<Levels> {
    let mut out = vec![Levels::default(); symbols];
    let (mut stops, mut targets) = (Resting::default(), Resting::default());
    for e in entries {
        let (time, touched) = match e {
            Entry::Order { order, .. } => {
                let s = order.symbol as usize;
                match order.kind {
                    OrderKind::StopLoss(p) | OrderKind::TrailingStop(p, _) => {
                        stops.orders.insert(order.id, (s, p))
                    }
                    OrderKind::TakeProfit(p) => targets.orders.insert(order.id, (s, p)),
                    _ => continue,
                };
                (order.decided_ms, s)
            }
            Entry::Cancel { seq, order_id, .. } => {
                let Some((s, _)) = stops
                    .orders
                    .remove(order_id)
                    .or_else(|| targets.orders.remove(order_id))
                else {
                    continue;
                };
                let time = bar_times.get(*seq as usize).copied().unwrap_or(i64::MAX);
                (time, s)
            }
            Entry::Fill { fill, .. } => {
                let Some((s, _)) = stops
                    .orders
                    .remove(&fill.order_id)
                    .or_else(|| targets.orders.remove(&fill.order_id))
                else {
                    continue;
                };
                (fill.time_ms, s)
            }
            _ => continue,
        };
        if let Some(l) = out.get_mut(touched) {
            push(&mut l.stops, time, stops.level(touched));
            push(&mut l.targets, time, targets.level(touched));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::push;

    #[test]
    fn a_level_is_a_step_function_without_repeats() {
        let mut s = Vec::new();
        push(&mut s, 1, None);
        assert!(s.is_empty(), "nothing rests at first");
        push(&mut s, 1, Some(95.0));
        // A replacement at one time: the old one cancelled, the new placed.
        push(&mut s, 2, None);
        push(&mut s, 2, Some(95.0));
        push(&mut s, 3, Some(99.0));
        push(&mut s, 3, Some(99.0));
        push(&mut s, 4, None);
        assert_eq!(s, vec![(1, Some(95.0)), (3, Some(99.0)), (4, None)]);
    }
}
