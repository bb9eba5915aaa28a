//! The ledger: cash, positions, realised and unrealised PnL, the equity curve
//! and round-trip trades.
//!
//! Accounting rules:
//! - a fill moves cash by `−signed quantity × price − commission`;
//! - adding to a position (or opening one) re-averages the entry price;
//! - reducing realises `closed quantity × (price − average)` (sign-adjusted
//!   for shorts) and keeps the average; crossing through zero closes the old
//!   position and opens the remainder at the fill price;
//! - equity is `cash + Σ quantity × mark`, marks being the last close seen.
//!
//! Hence the invariant, property-tested below:
//! `equity = initial cash + realised − commissions + Σ unrealised`.
//! A *trade* is one round trip, from flat to flat (or to a reversal); its PnL
//! is net of the commissions paid while it was open.

pub mod allocation;
mod record;
pub use record::TradeRecord;

use serde::Serialize;

use crate::data::market::SymbolId;

/// Signed quantity helper: buys positive, sells negative.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Execution {
    /// Symbol.
    pub symbol: SymbolId,
    /// Signed quantity.
    pub quantity: f64,
    /// Price.
    pub price: f64,
    /// Commission paid.
    pub commission: f64,
    /// Cost of slippage versus the reference price (≥ 0), for reporting.
    pub slippage: f64,
    /// Bar time of the fill.
    pub time_ms: i64,
}

impl From<&crate::execution::FillReport> for Execution {
    /// A venue's fill as the books take it (signed by its side).
    fn from(f: &crate::execution::FillReport) -> Self {
        Self {
            symbol: f.symbol,
            quantity: f.side.sign() * f.quantity,
            price: f.price,
            commission: f.commission,
            slippage: f.slippage,
            time_ms: f.time_ms,
        }
    }
}

/// One position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Holding {
    /// Signed quantity.
    pub quantity: f64,
    /// Average entry price of the open quantity.
    pub average_price: f64,
    /// Last mark.
    pub mark: f64,
    /// Realised PnL on this symbol, gross of commission.
    pub realized: f64,
    /// Net PnL (realised − commissions) of the trade currently open.
    trade_pnl: f64,
    /// When the open trade started.
    trade_opened_ms: i64,
    /// Largest absolute quantity of the open trade.
    trade_size: f64,
}

impl Holding {
    /// Unrealised PnL at the mark.
    pub fn unrealized(&self) -> f64 {
        self.quantity * (self.mark - self.average_price)
    }
}

/// A completed round trip.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trade {
    /// Symbol.
    pub symbol: SymbolId,
    /// Long (+1) or short (−1).
    pub direction: i8,
    /// Largest absolute size held.
    pub size: f64,
    /// Opened at.
    pub opened_ms: i64,
    /// Closed at.
    pub closed_ms: i64,
    /// Net PnL (after commissions).
    pub pnl: f64,
}

/// Cash, holdings and history.
#[derive(Debug, Clone, Serialize)]
pub struct Ledger {
    /// Starting cash.
    pub initial_cash: f64,
    /// Cash now.
    pub cash: f64,
    /// Indexed by symbol id.
    pub holdings: Vec<Holding>,
    /// Total realised PnL, gross of commission.
    pub realized: f64,
    /// Total commissions.
    pub commissions: f64,
    /// Total slippage cost.
    pub slippage: f64,
    /// Σ |quantity × price| of every execution.
    pub traded_notional: f64,
    /// Completed round trips.
    pub trades: Vec<Trade>,
}

impl Ledger {
    /// A ledger with `cash` and room for `symbols` symbols.
    pub fn new(cash: f64, symbols: usize) -> Self {
        Self {
            initial_cash: cash,
            cash,
            holdings: vec![Holding::default(); symbols],
            realized: 0.0,
            commissions: 0.0,
            slippage: 0.0,
            traded_notional: 0.0,
            trades: Vec::new(),
        }
    }

    /// Signed position.
    pub fn position(&self, symbol: SymbolId) -> f64 {
        self.holdings
            .get(symbol as usize)
            .map_or(0.0, |h| h.quantity)
    }

    /// Update a mark.
    pub fn mark(&mut self, symbol: SymbolId, price: f64) {
        if let Some(h) = self.holdings.get_mut(symbol as usize) {
            h.mark = price;
        }
    }

    /// Cash plus marked positions.
    pub fn equity(&self) -> f64 {
        self.cash
            + self
                .holdings
                .iter()
                .map(|h| h.quantity * h.mark)
                .sum::<f64>()
    }

    /// Σ |quantity × mark|.
    pub fn gross_exposure(&self) -> f64 {
        self.holdings
            .iter()
            .map(|h| (h.quantity * h.mark).abs())
            .sum()
    }

    /// Number of non-flat positions.
    pub fn open_positions(&self) -> usize {
        self.holdings.iter().filter(|h| h.quantity != 0.0).count()
    }

    /// Capital moved in (`amount` > 0) or out of these books by the
    /// account they share (a rebalance): cash and the starting capital move
    /// together, so `equity = initial cash + realised − commissions +
    /// unrealised` still holds and PnL is not touched.
    pub fn transfer(&mut self, amount: f64) {
        self.cash += amount;
        self.initial_cash += amount;
    }

    /// Apply an execution; returns the trade it completed, if any.
    pub fn apply(&mut self, x: &Execution) -> Option<Trade> {
        let h = &mut self.holdings[x.symbol as usize];
        self.cash -= x.quantity * x.price + x.commission;
        self.commissions += x.commission;
        self.slippage += x.slippage;
        self.traded_notional += (x.quantity * x.price).abs();
        if h.mark == 0.0 {
            h.mark = x.price;
        }
        let q = h.quantity;
        let d = x.quantity;
        let mut done = None;
        if q == 0.0 {
            h.trade_pnl = 0.0;
            h.trade_opened_ms = x.time_ms;
            h.trade_size = 0.0;
        }
        h.trade_pnl -= x.commission;
        if q == 0.0 || q.signum() == d.signum() {
            let new_q = q + d;
            h.average_price = (q * h.average_price + d * x.price) / new_q;
            h.quantity = new_q;
        } else {
            let closed = d.abs().min(q.abs());
            let pnl = closed * (x.price - h.average_price) * q.signum();
            h.realized += pnl;
            self.realized += pnl;
            h.trade_pnl += pnl;
            let new_q = q + d;
            if new_q == 0.0 || new_q.signum() != q.signum() || closed == q.abs() {
                done = Some(Trade {
                    symbol: x.symbol,
                    direction: q.signum() as i8,
                    size: h.trade_size.max(q.abs()),
                    opened_ms: h.trade_opened_ms,
                    closed_ms: x.time_ms,
                    pnl: h.trade_pnl,
                });
                h.trade_pnl = 0.0;
                h.trade_opened_ms = x.time_ms;
                h.trade_size = 0.0;
            }
            if closed == q.abs() {
                h.quantity = if closed == d.abs() { 0.0 } else { new_q };
                h.average_price = if h.quantity == 0.0 { 0.0 } else { x.price };
            } else {
                h.quantity = new_q;
            }
        }
        h.trade_size = h.trade_size.max(h.quantity.abs());
        if let Some(t) = &done {
            self.trades.push(t.clone());
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn x(symbol: u32, quantity: f64, price: f64, commission: f64) -> Execution {
        Execution {
            symbol,
            quantity,
            price,
            commission,
            slippage: 0.0,
            time_ms: 0,
        }
    }

    #[test]
    fn long_round_trip_realises_pnl_net_of_commission() {
        let mut l = Ledger::new(1000.0, 1);
        l.apply(&x(0, 10.0, 10.0, 1.0));
        l.mark(0, 12.0);
        assert_eq!(l.equity(), 1000.0 - 1.0 + 20.0);
        let t = l.apply(&x(0, -10.0, 12.0, 1.0)).unwrap();
        assert_eq!(t.pnl, 20.0 - 2.0);
        assert_eq!(l.cash, 1018.0);
        assert_eq!(l.position(0), 0.0);
    }

    #[test]
    fn reversal_closes_then_opens_at_fill_price() {
        let mut l = Ledger::new(0.0, 1);
        l.apply(&x(0, -5.0, 20.0, 0.0));
        let t = l.apply(&x(0, 8.0, 18.0, 0.0)).unwrap();
        assert_eq!((t.direction, t.pnl), (-1, 10.0));
        assert_eq!(l.holdings[0].quantity, 3.0);
        assert_eq!(l.holdings[0].average_price, 18.0);
    }

    #[test]
    fn partial_reduce_keeps_average() {
        let mut l = Ledger::new(0.0, 1);
        l.apply(&x(0, 4.0, 10.0, 0.0));
        l.apply(&x(0, 4.0, 20.0, 0.0));
        assert_eq!(l.holdings[0].average_price, 15.0);
        assert!(l.apply(&x(0, -2.0, 25.0, 0.0)).is_none());
        assert_eq!(l.holdings[0].average_price, 15.0);
        assert_eq!(l.realized, 20.0);
    }

    proptest! {
        /// Cash + Σ position × mark = equity, and equity reconciles with
        /// realised, unrealised and commissions; trades add up once flat.
        #[test]
        fn ledger_reconciles(fills in prop::collection::vec((0u32..3, -50i32..50, 1u32..1000, 0u32..50), 1..200),
                             marks in prop::collection::vec(1u32..1000, 3)) {
            let mut l = Ledger::new(100_000.0, 3);
            // Kept apart from the ledger: the cash and positions the fills
            // alone imply.
            let (mut cash, mut held) = (100_000.0, [0.0f64; 3]);
            for (s, q, p, c) in &fills {
                if *q == 0 { continue; }
                let (q, p, c) = (*q as f64, *p as f64 / 10.0, *c as f64 / 100.0);
                l.apply(&x(*s, q, p, c));
                cash -= q * p + c;
                held[*s as usize] += q;
            }
            for (s, m) in marks.iter().enumerate() { l.mark(s as u32, *m as f64 / 10.0); }
            let implied: f64 = cash
                + held.iter().zip(&marks).map(|(q, m)| q * (*m as f64 / 10.0)).sum::<f64>();
            prop_assert!((l.equity() - implied).abs() < 1e-6 * implied.abs().max(1.0), "{} vs {implied}", l.equity());
            let unrealized: f64 = l.holdings.iter().map(Holding::unrealized).sum();
            let expect = l.initial_cash + l.realized - l.commissions + unrealized;
            prop_assert!((l.equity() - expect).abs() < 1e-6 * expect.abs().max(1.0), "{} vs {}", l.equity(), expect);
            // Close everything: then the trades account for all PnL.
            for s in 0..3u32 {
                let q = l.position(s);
                if q != 0.0 { let m = l.holdings[s as usize].mark; l.apply(&x(s, -q, m, 0.0)); }
            }
            let trade_sum: f64 = l.trades.iter().map(|t| t.pnl).sum();
            let net = l.realized - l.commissions;
            prop_assert!((trade_sum - net).abs() < 1e-6 * net.abs().max(1.0), "{trade_sum} vs {net}");
            prop_assert!((l.cash - (l.initial_cash + net)).abs() < 1e-6 * l.cash.abs().max(1.0));
        }
    }
}
