//! The simulated venue: fills orders against bars.
//!
//! Fill rules (also in the README):
//! - An order is first eligible on the first bar of its symbol whose time is
//!   *after* the bar it was decided on (no fill on the deciding bar's prices).
//! - **Market**: fills at that bar's open, moved against the trader by the
//!   slippage (`buy: open × (1 + bps/10⁴)`, `sell: open × (1 − bps/10⁴)`).
//! - **Limit**: a buy fills when the bar's low reaches the limit — at the
//!   open if the bar opens at or below it (gap through), else at the limit;
//!   sells mirror with the high. No slippage: the limit is the guarantee.
//! - **Stop-loss** (a stop order protecting a position): triggers when the
//!   bar trades through the stop — at the open if it gaps through, else at
//!   the stop — then slippage as for a market order.
//! - **Take-profit**: a limit order on the protected position.
//! - **Order of execution within a bar**: first everything that executes at
//!   the open (market orders, and stops and limits the bar gaps through),
//!   then stops triggered inside the bar, then limits reached inside the
//!   bar; ties by age. So when a bar touches both a stop and a target and
//!   the open decides neither, the stop trades first (the conservative
//!   reading); a target the bar *opens* beyond trades first.
//! - **Reduce-only orders** (protective stops and targets, the risk engine's
//!   flatten, and strategy orders approved as reductions) only ever reduce
//!   the position as it stands at that moment in the bar: they are cut to
//!   it, never flip it, and do not execute at all when nothing is left to
//!   reduce. A stop and a target on one position are therefore
//!   one-cancels-other: once one closes the position, the other cannot fill.
//! - **Zero volume**: a bar that traded nothing fills nothing, of any kind;
//!   orders wait for the next bar of their symbol that has volume (a stop is
//!   then triggered only if that bar trades through it).
//! - **Partial fills**: at most `max_volume_share` of the bar's volume fills
//!   per order per bar; the rest stays open for the next bar.
//! - **Commission** per fill: `percent × notional + per_unit × quantity`,
//!   and at least `minimum` on the first fill of each order.

use serde::{Deserialize, Serialize};

use crate::data::market::{Bar, SymbolId};
use crate::execution::{Approved, FillReport, Order, OrderKind, Venue};

/// Cost model and liquidity of the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Slippage on market and stop fills, in basis points (default 0).
    pub slippage_bps: f64,
    /// Commission as a percentage of notional (default 0; 0.1 means 0.1%).
    pub commission_percent: f64,
    /// Commission per unit traded (default 0).
    pub commission_per_unit: f64,
    /// Minimum commission per order (default 0).
    pub commission_minimum: f64,
    /// Largest share of a bar's volume one order may take (default 1.0 =
    /// the whole bar; 0.1 = 10%).
    pub max_volume_share: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            slippage_bps: 0.0,
            commission_percent: 0.0,
            commission_per_unit: 0.0,
            commission_minimum: 0.0,
            max_volume_share: 1.0,
        }
    }
}

/// The simulated venue: fills orders against bars by the rules above.
#[derive(Debug, Default)]
pub struct SimulatedVenue {
    config: SimConfig,
    /// Open orders, per symbol, oldest first.
    books: Vec<Vec<(Order, bool)>>, // (order, has filled before)
    /// The bar being executed, the position as it stands in it, and the ids
    /// still to consider, in execution order (last first).
    bar: Option<(Bar, f64)>,
    queue: Vec<(u8, u64)>,
    /// The market's sessions: orders execute only on bars inside them.
    session: Option<crate::session::Session>,
}

impl SimulatedVenue {
    /// A venue with a cost model.
    pub fn new(config: SimConfig) -> Self {
        Self {
            config,
            books: Vec::new(),
            bar: None,
            queue: Vec::new(),
            session: None,
        }
    }

    /// Whether the market trades during `bar` (always, without a session).
    fn trading(&self, bar: &Bar) -> bool {
        self.session.as_ref().is_none_or(|s| s.fills(bar.time_ms))
    }

    fn book(&mut self, symbol: SymbolId) -> &mut Vec<(Order, bool)> {
        let i = symbol as usize;
        if i >= self.books.len() {
            self.books.resize_with(i + 1, Vec::new);
        }
        &mut self.books[i]
    }

    /// Where and whether `order` executes on `bar`: (price, reference
    /// price). The rule is the shared one (`sandbar_sdk::fills`); market and
    /// stop executions slip against the order, a limit never does.
    fn trigger(&self, order: &Order, bar: &Bar) -> Option<(f64, f64)> {
        let e = order.kind.execution(order.side, bar)?;
        let slips = matches!(order.kind, OrderKind::Market) || order.kind.is_stop();
        let slip = self.config.slippage_bps / 10_000.0;
        let price = if slips {
            e.price * (1.0 + order.side.sign() * slip)
        } else {
            e.price
        };
        Some((price, e.price))
    }
}

impl Venue for SimulatedVenue {
    fn submit(&mut self, order: Approved) {
        let order = order.into_order();
        self.book(order.symbol).push((order, false));
    }

    fn cancel(&mut self, id: u64) -> bool {
        for book in &mut self.books {
            if let Some(i) = book.iter().position(|(o, _)| o.id == id) {
                book.remove(i);
                return true;
            }
        }
        false
    }

    fn follow_session(&mut self, session: &crate::session::Session) {
        self.session = Some(session.clone());
    }

    fn open_orders(&self, symbol: SymbolId) -> Vec<&Order> {
        self.books
            .get(symbol as usize)
            .map(|b| b.iter().map(|(o, _)| o).collect())
            .unwrap_or_default()
    }

    fn begin_bar(&mut self, bar: &Bar, _seq: u64, position: f64) {
        self.queue.clear();
        self.bar = None;
        let Some(book) = self.books.get(bar.symbol as usize) else {
            return;
        };
        if book.is_empty() || bar.volume <= 0.0 || !self.trading(bar) {
            return;
        }
        // When within the bar each order executes: at the open (0: market
        // orders and anything the bar gaps through — its reference price is
        // the open), as a stop inside the bar (1), as a limit inside it (2).
        let mut queue = std::mem::take(&mut self.queue);
        queue.extend(
            book.iter()
                .filter(|(o, _)| bar.time_ms > o.decided_ms) // never on the deciding bar's own time
                .filter_map(|(o, _)| {
                    let e = o.kind.execution(o.side, bar)?;
                    Some((sandbar_sdk::fills::phase(o.kind.resting(), e), o.id))
                }),
        );
        // Popped from the end: latest phase and id first in the vector.
        queue.sort_unstable_by(|a, b| b.cmp(a));
        self.queue = queue;
        self.bar = Some((*bar, position));
    }

    fn quiet(&self, bar: &Bar) -> bool {
        // The same eligibility and trigger rules as `begin_bar`.
        match self.books.get(bar.symbol as usize) {
            None => true,
            Some(book) => {
                bar.volume <= 0.0
                    || !self.trading(bar)
                    || book
                        .iter()
                        .all(|(o, _)| bar.time_ms <= o.decided_ms || self.trigger(o, bar).is_none())
            }
        }
    }

    fn next_fill(&mut self) -> Option<FillReport> {
        let (bar, running) = self.bar?;
        let book_index = bar.symbol as usize;
        while let Some((_, id)) = self.queue.pop() {
            // Cancelled since the bar began: skip.
            let Some(i) = self.books[book_index].iter().position(|(o, _)| o.id == id) else {
                continue;
            };
            let (o, had_fill) = &self.books[book_index][i];
            let Some((price, reference)) = self.trigger(o, &bar) else {
                continue;
            };
            let cap = self.config.max_volume_share * bar.volume;
            let mut qty = o.quantity.min(cap);
            let mut remaining = o.quantity - qty;
            if o.reduce_only {
                // What is left to reduce, on this order's side, right now.
                let reducible = (-o.side.sign() * running).max(0.0);
                if reducible < qty {
                    qty = reducible;
                    remaining = 0.0; // its position is closed: nothing more to do
                }
            }
            if qty <= 0.0 {
                continue;
            }
            let c = &self.config;
            let mut commission =
                c.commission_percent / 100.0 * qty * price + c.commission_per_unit * qty;
            if !had_fill {
                commission = commission.max(c.commission_minimum);
            }
            let fill = FillReport {
                order_id: o.id,
                symbol: o.symbol,
                side: o.side,
                quantity: qty,
                price,
                commission,
                slippage: (price - reference).abs() * qty,
                time_ms: bar.time_ms,
                origin: o.origin,
                done: remaining <= 0.0,
            };
            self.bar = Some((bar, running + o.side.sign() * qty));
            if remaining > 0.0 {
                self.books[book_index][i].0.quantity = remaining;
                self.books[book_index][i].1 = true;
            } else {
                self.books[book_index].remove(i);
            }
            return Some(fill);
        }
        self.bar = None;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::approved::SubmitUnchecked;
    use crate::execution::{Origin, Side};

    fn bar(open: f64, high: f64, low: f64, close: f64) -> Bar {
        Bar {
            symbol: 0,
            time_ms: 0,
            open,
            high,
            low,
            close,
            volume: 1000.0,
        }
    }

    fn order(id: u64, side: Side, quantity: f64, kind: OrderKind) -> Order {
        Order {
            id,
            symbol: 0,
            side,
            quantity,
            kind,
            origin: Origin::Strategy,
            decided_seq: 0,
            decided_ms: -1,
            reduce_only: false,
        }
    }

    fn run(config: SimConfig, orders: Vec<Order>, b: Bar) -> Vec<FillReport> {
        let mut v = SimulatedVenue::new(config);
        for o in orders {
            v.submit_unchecked(o);
        }
        let mut out = Vec::new();
        on_bar(&mut v, &b, 0.0, &mut out);
        out
    }

    /// Every fill a bar causes, as the engine would drain them.
    fn on_bar(v: &mut SimulatedVenue, b: &Bar, position: f64, out: &mut Vec<FillReport>) {
        v.begin_bar(b, 0, position);
        while let Some(f) = v.next_fill() {
            out.push(f);
        }
    }

    #[test]
    fn market_fills_at_open_with_adverse_slippage() {
        let c = SimConfig {
            slippage_bps: 10.0,
            ..SimConfig::default()
        };
        let f = run(
            c,
            vec![order(1, Side::Buy, 2.0, OrderKind::Market)],
            bar(100.0, 110.0, 90.0, 105.0),
        );
        assert!((f[0].price - 100.1).abs() < 1e-9);
        assert!((f[0].slippage - 0.2).abs() < 1e-9);
        let f = run(
            c,
            vec![order(1, Side::Sell, 2.0, OrderKind::Market)],
            bar(100.0, 110.0, 90.0, 105.0),
        );
        assert!((f[0].price - 99.9).abs() < 1e-9);
    }

    #[test]
    fn limit_fills_at_limit_or_at_a_better_open() {
        let b = bar(100.0, 110.0, 90.0, 105.0);
        let f = run(
            SimConfig::default(),
            vec![order(1, Side::Buy, 1.0, OrderKind::Limit(95.0))],
            b,
        );
        assert_eq!(f[0].price, 95.0);
        let f = run(
            SimConfig::default(),
            vec![order(1, Side::Buy, 1.0, OrderKind::Limit(101.0))],
            b,
        );
        assert_eq!(f[0].price, 100.0, "gap through: the open is better");
        assert!(
            run(
                SimConfig::default(),
                vec![order(1, Side::Buy, 1.0, OrderKind::Limit(89.0))],
                b
            )
            .is_empty()
        );
        let f = run(
            SimConfig::default(),
            vec![order(1, Side::Sell, 1.0, OrderKind::Limit(108.0))],
            b,
        );
        assert_eq!(f[0].price, 108.0);
    }

    #[test]
    fn stop_fills_at_stop_or_at_a_worse_open() {
        let f = run(
            SimConfig::default(),
            vec![order(1, Side::Sell, 1.0, OrderKind::StopLoss(95.0))],
            bar(100.0, 101.0, 94.0, 96.0),
        );
        assert_eq!(f[0].price, 95.0);
        let f = run(
            SimConfig::default(),
            vec![order(1, Side::Sell, 1.0, OrderKind::StopLoss(95.0))],
            bar(90.0, 92.0, 88.0, 91.0),
        );
        assert_eq!(
            f[0].price, 90.0,
            "gap down through the stop fills at the open"
        );
        let f = run(
            SimConfig::default(),
            vec![order(1, Side::Buy, 1.0, OrderKind::StopLoss(105.0))],
            bar(100.0, 106.0, 99.0, 101.0),
        );
        assert_eq!(f[0].price, 105.0);
    }

    #[test]
    fn stop_wins_when_a_bar_touches_stop_and_target_and_they_cancel_each_other() {
        let protective = |id, kind| Order {
            reduce_only: true,
            ..order(id, Side::Sell, 1.0, kind)
        };
        let mut v = SimulatedVenue::new(SimConfig::default());
        v.submit_unchecked(protective(1, OrderKind::TakeProfit(110.0)));
        v.submit_unchecked(protective(2, OrderKind::StopLoss(90.0)));
        let mut f = Vec::new();
        on_bar(&mut v, &bar(100.0, 111.0, 89.0, 100.0), 1.0, &mut f);
        assert_eq!(f.len(), 1, "one-cancels-other: {f:?}");
        assert_eq!((f[0].order_id, f[0].price), (2, 90.0));
    }

    #[test]
    fn reduce_only_orders_are_cut_to_the_position_and_never_open_one() {
        let mut v = SimulatedVenue::new(SimConfig::default());
        v.submit_unchecked(Order {
            reduce_only: true,
            ..order(1, Side::Sell, 10.0, OrderKind::Market)
        });
        let mut f = Vec::new();
        on_bar(&mut v, &bar(100.0, 100.0, 100.0, 100.0), 4.0, &mut f);
        assert_eq!((f[0].quantity, f[0].done), (4.0, true));
        v.submit_unchecked(Order {
            reduce_only: true,
            ..order(2, Side::Buy, 10.0, OrderKind::Market)
        });
        f.clear();
        on_bar(&mut v, &bar(100.0, 100.0, 100.0, 100.0), 5.0, &mut f);
        assert!(f.is_empty(), "a buy cannot reduce a long");
    }

    #[test]
    fn a_zero_volume_bar_fills_nothing() {
        let f = run(
            SimConfig::default(),
            vec![order(1, Side::Buy, 1.0, OrderKind::Market)],
            Bar {
                volume: 0.0,
                ..bar(100.0, 100.0, 100.0, 100.0)
            },
        );
        assert!(f.is_empty());
    }

    #[test]
    fn partial_fill_caps_at_volume_share_and_keeps_the_rest() {
        let c = SimConfig {
            max_volume_share: 0.1,
            ..SimConfig::default()
        };
        let mut v = SimulatedVenue::new(c);
        v.submit_unchecked(order(1, Side::Buy, 150.0, OrderKind::Market));
        let mut out = Vec::new();
        on_bar(&mut v, &bar(10.0, 10.0, 10.0, 10.0), 0.0, &mut out);
        assert_eq!((out[0].quantity, out[0].done), (100.0, false));
        out.clear();
        on_bar(&mut v, &bar(11.0, 11.0, 11.0, 11.0), 0.0, &mut out);
        assert_eq!(
            (out[0].quantity, out[0].price, out[0].done),
            (50.0, 11.0, true)
        );
        assert!(v.open_orders(0).is_empty());
    }

    #[test]
    fn commission_combines_percent_per_unit_and_minimum_once() {
        // An order filled over two bars: percent and per-unit add up on each
        // fill, and the minimum lifts only the order's first fill — charged
        // on every fill the second would be 5.0, never charged the first
        // would be 1.0.
        let c = SimConfig {
            commission_percent: 0.1,
            commission_per_unit: 0.001,
            commission_minimum: 5.0,
            max_volume_share: 0.5,
            ..SimConfig::default()
        };
        let mut v = SimulatedVenue::new(c);
        v.submit_unchecked(order(1, Side::Buy, 1000.0, OrderKind::Market));
        let mut out = Vec::new();
        on_bar(&mut v, &bar(1.0, 1.0, 1.0, 1.0), 0.0, &mut out); // 500 @ 1: 0.5 + 0.5 → minimum 5
        on_bar(&mut v, &bar(1.0, 1.0, 1.0, 1.0), 0.0, &mut out); // 500 @ 1: 0.5 + 0.5, no minimum
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!((out[0].quantity, out[1].quantity), (500.0, 500.0));
        assert!(
            (out[0].commission - 5.0).abs() < 1e-9,
            "{}",
            out[0].commission
        );
        assert!(
            (out[1].commission - 1.0).abs() < 1e-9,
            "{}",
            out[1].commission
        );
        let c = SimConfig {
            commission_minimum: 5.0,
            ..SimConfig::default()
        };
        let f = run(
            c,
            vec![order(1, Side::Buy, 1.0, OrderKind::Market)],
            bar(1.0, 1.0, 1.0, 1.0),
        );
        assert_eq!(f[0].commission, 5.0);
    }
}
