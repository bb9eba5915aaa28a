//! An independent reading of a run's journal: it rebuilds cash, positions
//! and open orders from the entries alone and checks, entry by entry, the
//! promises the host makes about risk.
//!
//! Tolerance: an order is sized at the price of the bar it was decided on
//! (for a limit order, the worse of its limit and that close). Its fill can
//! be at another price — the next open after a gap, a limit reached later —
//! so the position's value *at the fill price* may exceed a limit by the
//! ratio fill price ÷ decision price. The checks therefore value positions
//! created by a fill at the decision's price and the decision's equity, and
//! allow a relative slack of 1e-6 for floating point.

use std::collections::HashMap;

use sandbar::engine::RunOutcome;
use sandbar::execution::{Order, OrderKind, Origin};
use sandbar::journal::Entry;
use sandbar::market::Recording;
use sandbar::risk::{RiskConfig, TradingState};

const REL: f64 = 1e-6;

struct Approved {
    order: Order,
    /// Position in the symbol when it was decided.
    position: f64,
    /// The symbol's close on the deciding bar.
    close: f64,
    /// Equity when it was decided.
    equity: f64,
    /// Approved as a reduction (skips size limits, may only reduce).
    reducing: bool,
}

struct Committed {
    gross: f64,
    held: usize,
    symbol_value: Vec<f64>,
}

/// Books rebuilt from the journal.
pub struct Checker<'a> {
    rec: &'a Recording,
    risk: RiskConfig,
    cash: f64,
    pos: Vec<f64>,
    marks: Vec<f64>,
    marked: usize,
    open: HashMap<u64, Approved>,
    state: TradingState,
    halted_at_ms: Option<i64>,
    pos_at_halt: Vec<f64>,
    violations: Vec<String>,
    /// The checker's own books, bar by bar: the cash at the start, every
    /// fill (bar, symbol, signed quantity, price, commission), the bar each
    /// HALTED was entered on, and whether capital moved (an account's
    /// rebalance rescales the peak: the drawdown check does not apply).
    initial_cash: f64,
    fills: Vec<(u64, usize, f64, f64, f64)>,
    halted_seq: Option<u64>,
    capital_moved: bool,
    /// Orders that add risk, per UTC day of their decision.
    entries_per_day: HashMap<i64, u32>,
}

fn reduces(position: f64, delta: f64) -> bool {
    let after = position + delta;
    position != 0.0
        && after.abs() < position.abs()
        && (after == 0.0 || after.signum() == position.signum())
}

impl<'a> Checker<'a> {
    pub fn new(rec: &'a Recording, risk: RiskConfig, cash: f64) -> Self {
        let n = rec.symbols.len();
        Self {
            rec,
            risk,
            cash,
            pos: vec![0.0; n],
            marks: vec![f64::NAN; n],
            marked: 0,
            open: HashMap::new(),
            state: TradingState::Active,
            halted_at_ms: None,
            pos_at_halt: vec![0.0; n],
            violations: Vec::new(),
            initial_cash: cash,
            fills: Vec::new(),
            halted_seq: None,
            capital_moved: false,
            entries_per_day: HashMap::new(),
        }
    }

    fn fail(&mut self, what: String) {
        if self.violations.len() < 20 {
            self.violations.push(what);
        }
    }

    /// Apply the closes of every bar up to and including `seq`.
    fn mark_through(&mut self, seq: u64) {
        while self.marked as u64 <= seq && self.marked < self.rec.bars.len() {
            let b = self.rec.bars[self.marked];
            self.marks[b.symbol as usize] = b.close;
            self.marked += 1;
        }
    }

    fn equity(&self) -> f64 {
        self.cash
            + self
                .pos
                .iter()
                .zip(&self.marks)
                .filter(|(p, _)| **p != 0.0)
                .map(|(p, m)| p * m)
                .sum::<f64>()
    }

    fn valuation(kind: OrderKind, close: f64) -> f64 {
        match kind {
            OrderKind::Limit(p) => p.max(close),
            _ => close,
        }
    }

    /// Positions and open strategy orders (plus `extra`) as if they filled.
    fn committed(&self, extra: Option<&Order>) -> Committed {
        let mut after: Vec<f64> = self.pos.clone();
        let mut value_of: Vec<f64> = self.marks.clone();
        let orders = self
            .open
            .values()
            .filter(|a| a.order.origin == Origin::Strategy)
            .map(|a| &a.order)
            .chain(extra);
        for o in orders {
            let j = o.symbol as usize;
            after[j] += o.side.sign() * o.quantity;
            value_of[j] = value_of[j].max(Self::valuation(o.kind, self.marks[j]));
        }
        let symbol_value: Vec<f64> = (0..after.len())
            .map(|j| {
                if self.pos[j] == 0.0 && after[j].abs() <= 1e-9 {
                    0.0
                } else {
                    (self.pos[j].abs() * self.marks[j]).max(after[j].abs() * value_of[j])
                }
            })
            .collect();
        Committed {
            gross: symbol_value.iter().sum(),
            held: symbol_value.iter().filter(|v| **v > 0.0).count(),
            symbol_value,
        }
    }

    fn on_order(&mut self, order: &Order) {
        let s = order.symbol as usize;
        if order.origin != Origin::Strategy {
            self.open.insert(
                order.id,
                Approved {
                    order: order.clone(),
                    position: self.pos[s],
                    close: self.marks[s],
                    equity: self.equity(),
                    reducing: true,
                },
            );
            return;
        }
        self.mark_through(order.decided_seq);
        let close = self.marks[s];
        let equity = self.equity();
        let delta = order.side.sign() * order.quantity;
        // A reduce-only order skips the size limits; the fill checks hold it
        // to never growing or flipping a position.
        let reducing = order.reduce_only;
        if reducing && !reduces(self.pos[s], delta) {
            self.fail(format!(
                "order {} is reduce-only but does not reduce position {}",
                order.id, self.pos[s]
            ));
        }
        let id = order.id;
        if !reducing {
            let day = order.decided_ms.div_euclid(86_400_000);
            let n = {
                let n = self.entries_per_day.entry(day).or_insert(0);
                *n += 1;
                *n
            };
            if n > self.risk.max_orders_per_day {
                let limit = self.risk.max_orders_per_day;
                self.fail(format!(
                    "order {id}: {n} orders adding risk on day {day} (limit {limit})"
                ));
            }
        }
        match self.state {
            TradingState::Halted => self.fail(format!("order {id} placed while HALTED")),
            TradingState::Reducing if !reducing => self.fail(format!(
                "order {id} adds risk while REDUCING (position {} → {})",
                self.pos[s],
                self.pos[s] + delta
            )),
            _ => {}
        }
        if !(order.quantity.is_finite() && order.quantity > 0.0) {
            self.fail(format!("order {id} has quantity {}", order.quantity));
        }
        if !reducing {
            let value = Self::valuation(order.kind, close);
            let c = self.risk;
            if let Some(max) = c.max_order_notional
                && order.quantity * value > max * (1.0 + REL)
            {
                self.fail(format!(
                    "order {id} notional {} > {max}",
                    order.quantity * value
                ));
            }
            // Committed exposure: every position and every open strategy order
            // as if it filled, valued as the risk rules value it. An approved
            // order may not take it above a limit, unless it lowers it (a
            // position grown over a limit by price moves may still be cut).
            let before = self.committed(None);
            let after = self.committed(Some(order));
            let over = |after: f64, before: f64, limit: f64| {
                after > limit * (1.0 + REL) + REL && after > before * (1.0 + REL) + REL
            };
            let position_limit = c.max_position * equity;
            if over(
                after.symbol_value[s],
                before.symbol_value[s],
                position_limit,
            ) {
                self.fail(format!(
                    "order {id}: committed position value {} > {} × equity {equity}",
                    after.symbol_value[s], c.max_position
                ));
            }
            if over(after.gross, before.gross, c.max_gross_exposure * equity) {
                self.fail(format!(
                    "order {id}: committed gross exposure {} > {} × equity {equity}",
                    after.gross, c.max_gross_exposure
                ));
            }
            if after.held > c.max_open_positions && after.held > before.held {
                self.fail(format!(
                    "order {id}: {} positions committed (limit {})",
                    after.held, c.max_open_positions
                ));
            }
        }
        self.open.insert(
            id,
            Approved {
                order: order.clone(),
                position: self.pos[s],
                close,
                equity,
                reducing,
            },
        );
    }

    fn on_fill(&mut self, seq: u64, fill: &sandbar::execution::FillReport) {
        if seq > 0 {
            self.mark_through(seq - 1);
        }
        let s = fill.symbol as usize;
        if !(fill.price.is_finite()
            && fill.price > 0.0
            && fill.quantity.is_finite()
            && fill.quantity > 0.0)
        {
            self.fail(format!(
                "fill of order {} at {} × {}",
                fill.order_id, fill.quantity, fill.price
            ));
        }
        self.fills.push((
            seq,
            s,
            fill.side.sign() * fill.quantity,
            fill.price,
            fill.commission,
        ));
        let before = self.pos[s];
        let after = before + fill.side.sign() * fill.quantity;
        self.pos[s] = after;
        self.cash -= fill.side.sign() * fill.quantity * fill.price + fill.commission;
        let Some(a) = self.open.get_mut(&fill.order_id) else {
            self.fail(format!("fill of order {} that is not open", fill.order_id));
            return;
        };
        a.order.quantity -= fill.quantity;
        let grows = after.abs() > before.abs() * (1.0 + 1e-12) + 1e-12;
        let flips = before != 0.0 && after != 0.0 && after.signum() != before.signum();
        let (origin, reducing, close, equity, decided_pos) =
            (a.order.origin, a.reducing, a.close, a.equity, a.position);
        if fill.done || a.order.quantity <= 1e-12 {
            self.open.remove(&fill.order_id);
        }
        if (origin != Origin::Strategy || reducing) && (grows || flips) {
            self.fail(format!(
                "{} order {} took position {before} to {after}",
                origin.as_str(),
                fill.order_id
            ));
        }
        if origin == Origin::Strategy && !reducing {
            let value = after.abs() * close;
            let limit = self.risk.max_position * equity;
            if grows && value > limit * (1.0 + REL) + REL && after.abs() > decided_pos.abs() {
                self.fail(format!(
                    "fill of order {} at bar {seq}: position {after} × decision price {close} = {value} > {limit}",
                    fill.order_id
                ));
            }
            if self.state != TradingState::Active && grows {
                self.fail(format!(
                    "fill of order {} grew position {before} → {after} while {:?}",
                    fill.order_id, self.state
                ));
            }
        }
    }

    /// Feed every entry of the journal, in order.
    pub fn read(&mut self, journal: &[Entry]) {
        for e in journal {
            match e {
                Entry::Order { order, .. } => self.on_order(order),
                Entry::Fill { seq, fill, .. } => self.on_fill(*seq, fill),
                Entry::Cancel { order_id, .. } => {
                    self.open.remove(order_id);
                }
                Entry::Command {
                    action: sandbar::journal::CommandAction::Allocate { .. },
                    ..
                } => {
                    self.capital_moved = true;
                }
                Entry::State { seq, change } => {
                    if change.to == TradingState::Halted && self.halted_seq.is_none() {
                        self.halted_seq = Some(*seq);
                    }
                    self.state = change.to;
                    if change.to == TradingState::Halted && self.halted_at_ms.is_none() {
                        self.halted_at_ms = Some(self.rec.bars[*seq as usize].time_ms);
                        self.pos_at_halt = self.pos.clone();
                    }
                }
                _ => {}
            }
        }
    }

    /// From the checker's own books, bar by bar (fills of a bar before its
    /// close marks the position): the first bar whose close puts equity
    /// `max_drawdown` or more below its peak must be the bar HALTED is
    /// entered on — not later (the engine's own `State` entry is not
    /// trusted), and not earlier than a drawdown that reached the limit.
    fn check_drawdown_halt(&mut self) {
        if self.capital_moved {
            return;
        }
        let limit = self.risk.max_drawdown;
        let (mut cash, mut peak) = (self.initial_cash, self.initial_cash);
        let mut pos = vec![0.0; self.pos.len()];
        let mut marks = vec![f64::NAN; self.pos.len()];
        let all = std::mem::take(&mut self.fills);
        let mut fills = all.iter().peekable();
        let mut reached: Option<(u64, f64)> = None;
        for (seq, bar) in self.rec.bars.iter().enumerate() {
            let seq = seq as u64;
            while let Some(&&(_, s, q, p, c)) = fills.peek().filter(|f| f.0 == seq) {
                pos[s] += q;
                cash -= q * p + c;
                fills.next();
            }
            marks[bar.symbol as usize] = bar.close;
            let equity = cash
                + pos
                    .iter()
                    .zip(&marks)
                    .filter(|(p, _)| **p != 0.0)
                    .map(|(p, m)| p * m)
                    .sum::<f64>();
            peak = peak.max(equity);
            let drawdown = 1.0 - equity / peak;
            // Clear of floating point at the limit either way.
            if drawdown >= limit + 1e-9 && reached.is_none() {
                reached = Some((seq, drawdown));
            }
            if drawdown >= limit - 1e-9 {
                continue;
            }
            if self.halted_seq == Some(seq) {
                self.fail(format!(
                    "HALTED at bar {seq} with a drawdown of {drawdown} (limit {limit})"
                ));
            }
        }
        if let Some((seq, dd)) = reached
            && self.halted_seq.is_none_or(|h| h > seq)
        {
            self.fail(format!(
                "drawdown {dd} reached the limit {limit} at bar {seq}, HALTED only at {:?}",
                self.halted_seq
            ));
        }
    }

    /// End-of-run checks against the engine's own books; every violation found.
    pub fn finish(mut self, outcome: &RunOutcome, volume_share: f64) -> Vec<String> {
        self.check_drawdown_halt();
        self.mark_through(u64::MAX - 1);
        let l = &outcome.ledger;
        if !(l.cash.is_finite() && l.equity().is_finite()) {
            self.fail(format!("cash {} equity {} not finite", l.cash, l.equity()));
        }
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0);
        if !close(l.cash, self.cash) {
            self.fail(format!(
                "engine cash {} but the fills say {}",
                l.cash, self.cash
            ));
        }
        for (j, h) in l.holdings.iter().enumerate() {
            if !h.quantity.is_finite() || !close(h.quantity, self.pos[j]) {
                self.fail(format!(
                    "engine position {} in {} but the fills say {}",
                    h.quantity, self.rec.symbols[j], self.pos[j]
                ));
            }
        }
        let equity = self.equity();
        if !close(l.equity(), equity) {
            self.fail(format!(
                "engine equity {} ≠ cash + Σ position × mark = {equity}",
                l.equity()
            ));
        }
        if let Some(t) = self.halted_at_ms {
            for j in 0..self.pos.len() {
                if self.pos[j] == 0.0 {
                    continue;
                }
                let liquidity: f64 = self
                    .rec
                    .bars
                    .iter()
                    .filter(|b| b.symbol as usize == j && b.time_ms > t)
                    .map(|b| b.volume * volume_share)
                    .sum();
                if liquidity >= self.pos_at_halt[j].abs() * (1.0 + 1e-9) {
                    self.fail(format!(
                        "HALTED at {t} but {} still holds {} although {liquidity} traded after",
                        self.rec.symbols[j], self.pos[j]
                    ));
                }
            }
        }
        self.violations
    }
}

/// Run the checker over a finished run; panics listing every violation.
#[track_caller]
pub fn assert_invariants(
    rec: &Recording,
    risk: RiskConfig,
    cash: f64,
    volume_share: f64,
    outcome: &RunOutcome,
    journal: &[Entry],
) {
    let mut c = Checker::new(rec, risk, cash);
    c.read(journal);
    let v = c.finish(outcome, volume_share);
    assert!(v.is_empty(), "invariants broken:\n  {}", v.join("\n  "));
}
