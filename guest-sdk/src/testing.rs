//! A native harness: run a strategy over a `Vec` of bars in `cargo test`,
//! no WebAssembly and no host involved.
//!
//! The harness keeps a paper account that executes like the host's
//! simulated venue with its default costs: an intent is sized when it is
//! decided (a target weight at the deciding bar's close), a later intent on
//! the symbol supersedes an unfilled one, a flip is a reduce-only close plus
//! the new position; market orders fill at the next bar's open of their
//! symbol, limits when a later bar reaches them (at the open on a gap);
//! stop-loss and take-profit orders follow the position, reduce-only, the
//! stop first when a bar touches both, dropped on a flip; a bar fills at
//! most its volume per order and nothing when it has none. Malformed
//! intents are refused with the host's words. Costs are off unless
//! [`Harness::with_costs`]; risk limits are off unless
//! [`Harness::with_risk`], which runs the host's own risk engine
//! ([`crate::risk`], the code a replay runs) on the same figures, with the
//! same consequences. `tests/invariants/parity.rs` in the repository runs
//! every example strategy through the harness and through the host's
//! engine on real data, limits off and on, and a property test does so for
//! random intents under random limits; both require the same fills,
//! refusals and trading-state changes.
//!
//! ```
//! use sandbar_sdk::prelude::*;
//! use sandbar_sdk::testing::{Harness, bars_from_closes};
//! #[derive(Default)] struct BuyFirst { done: bool }
//! impl Strategy for BuyFirst {
//!     fn describe() -> Description { Description::new("buy-first", "0.1.0") }
//!     fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
//!         if !self.done { ctx.buy(bar.symbol, 1.0); self.done = true; }
//!     }
//! }
//! let mut h = Harness::<BuyFirst>::new(&[]).unwrap();
//! h.run(&bars_from_closes(&[10.0, 11.0, 12.0]));
//! assert_eq!(h.position(0), 1.0);
//! assert_eq!(h.fills()[0].price, 10.0); // next bar's open = previous close
//! ```

use std::cell::RefCell;

use crate::protection::{Amend, Levels};
use crate::risk::{Decision, Proposal, Refusal, RiskConfig, RiskEngine, Rule, StateChange};
use crate::{
    Action, Bar, Event, Fill, HostServices, InitError, Intent, Level, ParamValue, Params,
    Portfolio, Position, Rejection, Runner, Side, Strategy, SymbolId,
};

/// One symbol in the harness's account, as the host's ledger keeps it.
#[derive(Debug, Clone, Copy, Default)]
struct Holding {
    quantity: f64,
    average_price: f64,
    mark: f64,
    /// Net PnL of the round trip in progress (commissions included).
    trade_pnl: f64,
}

#[derive(Default)]
struct Book {
    cash: f64,
    positions: Vec<Holding>,
    log: Vec<(Level, String)>,
    /// What rests for each symbol's position, as of the last bar (what the
    /// strategy reads with `Ctx::protection`).
    resting: Vec<crate::protection::Protection>,
}

impl Book {
    fn slot(&mut self, s: SymbolId) -> &mut Holding {
        let i = s as usize;
        if i >= self.positions.len() {
            self.positions.resize(i + 1, Holding::default());
        }
        &mut self.positions[i]
    }
    fn equity(&self) -> f64 {
        self.cash
            + self
                .positions
                .iter()
                .map(|h| h.quantity * h.mark)
                .sum::<f64>()
    }
}

impl HostServices for RefCell<Book> {
    fn log(&self, level: Level, message: &str) {
        self.borrow_mut().log.push((level, message.to_string()));
    }
    fn portfolio(&self) -> Portfolio {
        let b = self.borrow();
        Portfolio {
            cash: b.cash,
            equity: b.equity(),
            positions: b
                .positions
                .iter()
                .enumerate()
                .filter(|(_, h)| h.quantity != 0.0)
                .map(|(i, h)| Position {
                    symbol: i as SymbolId,
                    quantity: h.quantity,
                    average_price: h.average_price,
                    unrealized_pnl: h.quantity * (h.mark - h.average_price),
                })
                .collect(),
        }
    }
    fn position(&self, symbol: SymbolId) -> f64 {
        self.borrow()
            .positions
            .get(symbol as usize)
            .map_or(0.0, |h| h.quantity)
    }
    fn protection(&self, symbol: SymbolId) -> crate::protection::Protection {
        self.borrow()
            .resting
            .get(symbol as usize)
            .copied()
            .unwrap_or_default()
    }
}

/// How an order executes, as in the host's simulated venue.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Market,
    Limit(f64),
    Stop(f64),
    Target(f64),
}

impl Kind {
    /// How it waits for its price in the shared fill rule.
    fn resting(self) -> crate::fills::Resting {
        use crate::fills::Resting;
        match self {
            Kind::Market => Resting::Market,
            Kind::Limit(p) | Kind::Target(p) => Resting::Limit(p),
            Kind::Stop(p) => Resting::Stop(p),
        }
    }

    /// Whether it executes on `bar`, and at what price (before slippage):
    /// the host's rule, [`crate::fills`].
    fn trigger(self, side: Side, bar: &Bar) -> Option<f64> {
        crate::fills::execution(self.resting(), side, bar.open, bar.high, bar.low).map(|e| e.price)
    }

    /// At the open (0), a stop inside the bar (1), a limit inside the bar (2).
    fn phase(self, side: Side, bar: &Bar) -> u8 {
        match crate::fills::execution(self.resting(), side, bar.open, bar.high, bar.low) {
            Some(e) => crate::fills::phase(self.resting(), e),
            None if matches!(self, Kind::Stop(_)) => 1,
            None => 2,
        }
    }

    /// The price the risk limits value an order at: what it can cost.
    fn valuation(self, reference: f64) -> f64 {
        match self {
            Kind::Limit(p) => p.max(reference),
            _ => reference,
        }
    }
}

/// Who placed an order, named as the host names it in fills.
const STRATEGY: &str = "strategy";
const FLATTEN: &str = "risk-flatten";

/// An open order of the harness's account.
#[derive(Debug, Clone)]
struct Order {
    id: u64,
    symbol: SymbolId,
    side: Side,
    quantity: f64,
    kind: Kind,
    origin: &'static str,
    reduce_only: bool,
    decided_ms: i64,
    /// It filled in part already (the minimum commission is charged once).
    had_fill: bool,
}

/// An order resting in the harness's account, as [`Harness::open_orders`]
/// shows it: the strategy's own orders not filled yet, and the host's
/// protective ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenOrder {
    /// The id the strategy is told of in [`Event`]s.
    pub id: u64,
    /// The symbol it trades.
    pub symbol: SymbolId,
    /// Buy or sell.
    pub side: Side,
    /// The quantity still to fill.
    pub quantity: f64,
    /// How it waits for its price.
    pub kind: OpenKind,
}

/// How an [`OpenOrder`] waits for its price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OpenKind {
    /// A market order: it fills at the next bar's open.
    Market,
    /// The strategy's limit order at this price.
    Limit(f64),
    /// The position's stop-loss, triggering at this price (a trailing stop
    /// at its ratcheted level).
    StopLoss(f64),
    /// The position's take-profit at this price.
    TakeProfit(f64),
}

/// The simulated venue's cost model, as the host's `[execution]` config
/// has it (same names, same defaults: none).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Costs {
    /// Slippage on market and stop fills, in basis points, against you.
    pub slippage_bps: f64,
    /// Commission as a percentage of notional (0.1 = 0.1%).
    pub commission_percent: f64,
    /// Commission per unit traded.
    pub commission_per_unit: f64,
    /// Minimum commission per order (charged on its first fill).
    pub commission_minimum: f64,
}

/// A symbol's protective levels (the host's own rules,
/// [`crate::protection::Levels`]) and the orders placed for them.
#[derive(Debug, Clone, Default)]
struct Protection {
    levels: Levels,
    ids: Vec<u64>,
}

/// Runs a strategy natively over bars, one bar per delivery.
pub struct Harness<S: Strategy> {
    runner: Runner<S>,
    book: RefCell<Book>,
    symbols: Vec<String>,
    /// Last close per symbol; NaN before the first bar (no price yet).
    last_close: Vec<f64>,
    /// Open orders, strategy and protective, in id order.
    orders: Vec<Order>,
    /// Stop-loss / take-profit per symbol.
    protection: Vec<Protection>,
    intents: Vec<(i64, Intent)>,
    fills: Vec<Fill>,
    events: Vec<Event>,
    next_order: u64,
    costs: Costs,
    risk: RiskEngine,
    /// State changes not acted on yet.
    pending: Vec<StateChange>,
    state_changes: Vec<(i64, StateChange)>,
    refusals: Vec<Rejection>,
    now_ms: i64,
}

impl<S: Strategy> Harness<S> {
    /// Charge fills as the host's simulated venue would with this cost model.
    pub fn with_costs(mut self, costs: Costs) -> Self {
        self.costs = costs;
        self
    }

    /// Apply the host's risk limits: the same engine a replay runs
    /// ([`crate::risk`]), fed the same figures (committed exposure of open
    /// orders included), with the same consequences — refusals told to the
    /// strategy as [`Event::Rejected`], REDUCING cancelling orders that add
    /// risk, HALTED cancelling everything and flattening.
    /// `RiskConfig::default()` is the host's default `[risk]`. Without
    /// this call every limit is off (malformed intents are still refused,
    /// as the host refuses them).
    pub fn with_risk(mut self, config: RiskConfig) -> Self {
        self.risk = RiskEngine::new(config);
        self
    }

    /// A harness with 100,000 in cash, symbols `S0`, `S1`, … and the given
    /// parameter overrides (defaults from `describe` fill the rest).
    pub fn new(overrides: &[(&str, ParamValue)]) -> Result<Self, InitError> {
        Self::with_symbols(overrides, (0..16).map(|i| format!("S{i}")).collect())
    }

    /// Like [`Harness::new`] with an explicit symbol table.
    pub fn with_symbols(
        overrides: &[(&str, ParamValue)],
        symbols: Vec<String>,
    ) -> Result<Self, InitError> {
        let specs = S::describe().params;
        let mut values: Vec<(String, ParamValue)> = specs
            .iter()
            .map(|p| (p.name.clone(), p.default.clone()))
            .collect();
        for (name, v) in overrides {
            let Some(i) = specs.iter().position(|p| p.name == *name) else {
                return Err(InitError::param(name, "not declared by the strategy"));
            };
            // The host checks type and range before `init`; so does the harness.
            check_value(&specs[i], v)?;
            values[i].1 = v.clone();
        }
        let mut runner = Runner::<S>::default();
        runner.init(Params::new(values), symbols.clone())?;
        let n = symbols.len();
        Ok(Self {
            runner,
            book: RefCell::new(Book {
                cash: 100_000.0,
                positions: vec![Holding::default(); n],
                ..Book::default()
            }),
            symbols,
            last_close: vec![f64::NAN; n],
            orders: Vec::new(),
            protection: vec![Protection::default(); n],
            intents: Vec::new(),
            fills: Vec::new(),
            events: Vec::new(),
            next_order: 1,
            costs: Costs::default(),
            risk: RiskEngine::new(RiskConfig::off()),
            pending: Vec::new(),
            state_changes: Vec::new(),
            refusals: Vec::new(),
            now_ms: 0,
        })
    }

    /// Feed bars in order. A bar of a symbol the harness does not have is
    /// a mistake in the test and panics, naming it.
    pub fn run(&mut self, bars: &[Bar]) {
        for bar in bars {
            assert!(
                (bar.symbol as usize) < self.symbols.len(),
                "bar at {} has symbol id {}; the harness has {} symbols",
                bar.time_ms,
                bar.symbol,
                self.symbols.len()
            );
            self.now_ms = bar.time_ms;
            // Equity is asked for only when the bar starts a trading day.
            let book = &self.book;
            self.risk
                .begin_bar(bar.time_ms, || book.borrow().equity(), &mut self.pending);
            self.flush_changes();
            self.execute(bar);
            let equity = self.book.borrow().equity();
            self.risk.end_bar(equity, &mut self.pending);
            self.flush_changes();
            let events = std::mem::take(&mut self.events);
            self.show_protection();
            let out = self
                .runner
                .on_bars(std::slice::from_ref(bar), &events, &self.book)
                .to_vec();
            let amends = self.runner.amends().to_vec();
            for intent in out {
                self.intents.push((bar.time_ms, intent.clone()));
                self.apply(&intent, bar);
            }
            // Changes to protection alone come after the bar's intents.
            for (_, s, change) in amends {
                self.amend(s, change, bar);
            }
        }
    }

    /// What rests for each position, for the strategy to read (the host's
    /// `protection.get`).
    fn show_protection(&mut self) {
        let resting: Vec<_> = (0..self.symbols.len() as SymbolId)
            .map(|s| self.protection(s))
            .collect();
        self.book.borrow_mut().resting = resting;
    }

    /// The protective orders resting for `symbol`'s position now: the
    /// stop-loss and take-profit prices (a trailing stop as ratcheted), all
    /// `None` when flat — what the strategy reads with `Ctx::protection`.
    pub fn protection(&self, symbol: SymbolId) -> crate::protection::Protection {
        let Some(p) = self.protection.get(symbol as usize) else {
            return Default::default();
        };
        let mut out = crate::protection::Protection::default();
        for o in self.orders.iter().filter(|o| p.ids.contains(&o.id)) {
            match o.kind {
                Kind::Stop(price) => out.stop_loss = Some(price),
                Kind::Target(price) => out.take_profit = Some(price),
                _ => {}
            }
        }
        if out.stop_loss.is_some() {
            out.trail = p.levels.trailing.map(|t| t.trail);
        }
        out
    }

    /// A change to the protection of `s` alone, as the host makes it.
    fn amend(&mut self, s: SymbolId, change: Amend, bar: &Bar) {
        if let Err(detail) = crate::protection::validate(self.symbols.len(), s, &change) {
            return self.refuse(bar, s, Rule::InvalidIntent, detail);
        }
        let pos = self.book.position(s);
        let close = self.last_close[s as usize];
        let before = self.protection[s as usize].levels;
        if let Err(why) = self.protection[s as usize].levels.amend(change, pos, close) {
            let detail = format!("{change} on {}: {why}", self.symbols[s as usize]);
            return self.refuse(bar, s, Rule::InvalidIntent, detail);
        }
        // A stop moved away or cancelled may put more at risk than allowed.
        let (average, equity) = {
            let book = self.book.borrow();
            (book.positions[s as usize].average_price, book.equity())
        };
        let stop = self.protection[s as usize]
            .levels
            .stop_price(average, pos.signum());
        if let Some(r) = self.risk.stop_risk(pos, close, stop, equity) {
            self.protection[s as usize].levels = before;
            return self.refuse(bar, s, r.rule, r.detail);
        }
        if pos != 0.0 {
            self.resync(s, bar.time_ms);
        }
    }

    fn submit(&mut self, mut order: Order) -> u64 {
        order.id = self.next_order;
        self.next_order += 1;
        let id = order.id;
        self.orders.push(order);
        id
    }

    /// Cancel the open orders `which` picks, telling the strategy.
    fn cancel_where(&mut self, which: impl Fn(&Order) -> bool) {
        let events = &mut self.events;
        self.orders.retain(|o| {
            let cancel = which(o);
            if cancel {
                events.push(Event::Cancelled(o.id));
            }
            !cancel
        });
    }

    fn refuse(&mut self, bar: &Bar, symbol: SymbolId, rule: Rule, detail: String) {
        let r = Rejection {
            symbol,
            rule: rule.as_str().into(),
            detail,
            time_ms: bar.time_ms,
        };
        self.events.push(Event::Rejected(r.clone()));
        self.refusals.push(r);
    }

    /// Act on the risk engine's state changes as the host does.
    fn flush_changes(&mut self) {
        let changes = std::mem::take(&mut self.pending);
        let halted = changes
            .iter()
            .any(|c| c.to == crate::risk::TradingState::Halted);
        let reducing = changes
            .iter()
            .any(|c| c.to == crate::risk::TradingState::Reducing);
        self.state_changes
            .extend(changes.into_iter().map(|c| (self.now_ms, c)));
        if halted {
            // Cancel everything and flatten every position.
            for s in 0..self.symbols.len() as SymbolId {
                self.cancel_where(|o| o.symbol == s);
                self.protection[s as usize] = Protection::default();
                let pos = self.book.position(s);
                if pos != 0.0 {
                    self.submit(Order {
                        id: 0,
                        symbol: s,
                        side: if pos > 0.0 { Side::Sell } else { Side::Buy },
                        quantity: pos.abs(),
                        kind: Kind::Market,
                        origin: FLATTEN,
                        reduce_only: true,
                        decided_ms: self.now_ms,
                        had_fill: false,
                    });
                }
            }
        } else if reducing {
            // Orders approved while ACTIVE that would add risk must not fill now.
            for s in 0..self.symbols.len() as SymbolId {
                self.cancel_where(|o| o.symbol == s && o.origin == STRATEGY && !o.reduce_only);
            }
        }
    }

    /// Committed exposure of every symbol but `except` (positions and open
    /// strategy orders as if they filled) and how many of them hold or
    /// would hold a position — the figures the host's check is given.
    fn committed_elsewhere(&self, except: SymbolId) -> (f64, usize) {
        let (mut gross, mut held) = (0.0, 0);
        for j in 0..self.symbols.len() as SymbolId {
            if j == except {
                continue;
            }
            let now = self.book.position(j);
            let mark = self.last_close[j as usize];
            let (mut after, mut value) = (now, mark);
            for o in self.orders.iter().filter(|o| o.symbol == j) {
                if o.origin == STRATEGY {
                    after += signed(o.side, o.quantity);
                    value = value.max(o.kind.valuation(mark));
                }
            }
            if now == 0.0 && after == 0.0 {
                continue;
            }
            held += 1;
            gross += (now.abs() * mark).max(after.abs() * value);
        }
        (gross, held)
    }

    /// An intent becomes orders as the host makes them: checked, sized now
    /// (a target weight at the deciding close), superseding the strategy's
    /// open orders on the symbol, put to the risk engine, a flip split into
    /// a reduce-only close and the new position; then the protection is
    /// re-synced.
    fn apply(&mut self, intent: &Intent, bar: &Bar) {
        let s = intent.symbol;
        if let Err(detail) = crate::intents::validate(
            &self.symbols,
            &self.last_close,
            s,
            &intent.action,
            intent.stop_loss,
            intent.take_profit,
        ) {
            return self.refuse(bar, s, Rule::InvalidIntent, detail);
        }
        let price = self.last_close[s as usize];
        let pos = self.book.position(s);
        self.cancel_where(|o| o.symbol == s && o.origin == STRATEGY);
        let equity = self.book.borrow().equity();
        let (delta, limit) = crate::intents::size(&intent.action, equity, price, pos, 1.0);
        let kind = limit.map_or(Kind::Market, Kind::Limit);
        let before = self.protection[s as usize].levels;
        self.protection[s as usize].levels.on_intent(
            matches!(intent.action, Action::Close),
            intent.stop_loss,
            intent.take_profit,
            (pos + delta).signum(),
        );
        if !delta.is_finite() {
            let detail = format!(
                "cannot be sized: the order quantity is {delta} (equity {equity}, price {price})"
            );
            return self.refuse(bar, s, Rule::InvalidIntent, detail);
        }
        if delta.abs() <= 1e-12 * pos.abs().max(1.0) {
            // Only the protection changes: a stop moved away may put more
            // at risk than allowed.
            let average = self.book.borrow().positions[s as usize].average_price;
            let stop = self.protection[s as usize]
                .levels
                .stop_price(average, pos.signum());
            if let Some(r) = self.risk.stop_risk(pos, price, stop, equity) {
                self.protection[s as usize].levels = before;
                return self.refuse(bar, s, r.rule, r.detail);
            }
            return self.resync(s, bar.time_ms);
        }
        let side = if delta >= 0.0 { Side::Buy } else { Side::Sell };
        let (other_exposure, open_positions) = self.committed_elsewhere(s);
        let average = self.book.borrow().positions[s as usize].average_price;
        let valued = kind.valuation(price);
        let proposal = Proposal {
            side,
            quantity: delta.abs(),
            price: valued,
            position: pos,
            equity,
            other_exposure,
            open_positions,
            stop: self.protection[s as usize]
                .levels
                .planned_stop(pos, average, delta, valued),
        };
        if let Decision::Refused(Refusal { rule, detail }) = self.risk.check(&proposal) {
            if self.risk.config().max_risk_per_trade.is_finite() {
                // A refused intent does not move the stop the position
                // has (a farther one would put more at risk than allowed).
                self.protection[s as usize].levels = before;
            }
            return self.refuse(bar, s, rule, detail);
        }
        let order = Order {
            id: 0,
            symbol: s,
            side,
            quantity: delta.abs(),
            kind,
            origin: STRATEGY,
            reduce_only: proposal.reduces(),
            decided_ms: bar.time_ms,
            had_fill: false,
        };
        if pos != 0.0 && delta.signum() != pos.signum() && delta.abs() > pos.abs() {
            self.submit(Order {
                quantity: pos.abs(),
                reduce_only: true,
                ..order.clone()
            });
            self.submit(Order {
                quantity: delta.abs() - pos.abs(),
                ..order
            });
        } else {
            self.submit(order);
        }
        self.resync(s, bar.time_ms);
    }

    /// Keep the symbol's stop-loss / take-profit orders matching its position.
    fn resync(&mut self, s: SymbolId, time_ms: i64) {
        let pos = self.book.position(s);
        // Levels from the entry resolve against the average entry price as
        // it now stands, as the host's do.
        let entry = self.book.borrow().positions[s as usize].average_price;
        let p = self.protection[s as usize].clone();
        let mut levels = p.levels;
        if pos != 0.0 && pos.signum() != levels.direction {
            levels.clear();
        }
        let wanted = pos != 0.0 && levels.any();
        let side = if pos < 0.0 { Side::Buy } else { Side::Sell };
        let mut desired = Vec::new();
        if wanted {
            if let Some(price) = levels.stop_price(entry, pos.signum()) {
                desired.push((Kind::Stop(price), "stop-loss"));
            }
            if let Some(tp) = levels.take_profit {
                desired.push((
                    Kind::Target(tp.resolve(entry, pos.signum(), false)),
                    "take-profit",
                ));
            }
        }
        let matches = {
            let current: Vec<&Order> = self
                .orders
                .iter()
                .filter(|o| p.ids.contains(&o.id))
                .collect();
            current.len() == desired.len()
                && current
                    .iter()
                    .zip(&desired)
                    .all(|(o, (k, _))| o.kind == *k && o.quantity == pos.abs() && o.side == side)
        };
        let prot = &mut self.protection[s as usize];
        prot.levels = levels;
        if matches {
            return;
        }
        let cancel = std::mem::take(&mut prot.ids);
        if !wanted && pos == 0.0 {
            prot.levels.clear();
        }
        self.cancel_where(|o| cancel.contains(&o.id));
        for (kind, origin) in desired {
            let id = self.submit(Order {
                id: 0,
                symbol: s,
                side,
                quantity: pos.abs(),
                kind,
                origin,
                reduce_only: true,
                decided_ms: time_ms,
                had_fill: false,
            });
            self.protection[s as usize].ids.push(id);
        }
    }

    /// A bar of one symbol: its orders execute in the host's order (at the
    /// open first, then stops inside the bar, then limits; ties by age), one
    /// at a time, reduce-only orders held to the position as it stands, at
    /// most the bar's volume per order; each fill is booked (and a state
    /// change it causes acted on) before the next.
    fn execute(&mut self, bar: &Bar) {
        let s = bar.symbol;
        let mut queue: Vec<(u8, u64)> = self
            .orders
            .iter()
            .filter(|o| o.symbol == s && bar.time_ms > o.decided_ms)
            .map(|o| (o.kind.phase(o.side, bar), o.id))
            .collect();
        queue.sort_unstable();
        let mut filled = false;
        if bar.volume > 0.0 {
            for (_, id) in queue {
                let Some(i) = self.orders.iter().position(|o| o.id == id) else {
                    continue;
                };
                let o = self.orders[i].clone();
                let Some(price) = o.kind.trigger(o.side, bar) else {
                    continue;
                };
                let running = self.book.position(s);
                let mut qty = o.quantity.min(bar.volume);
                let mut remaining = o.quantity - qty;
                if o.reduce_only {
                    let reducible = (-signed(o.side, 1.0) * running).max(0.0);
                    if reducible < qty {
                        qty = reducible;
                        remaining = 0.0;
                    }
                }
                if qty <= 0.0 {
                    continue;
                }
                // Market and stop fills slip against the order; a limit is its guarantee.
                let price = if matches!(o.kind, Kind::Market | Kind::Stop(_)) {
                    price * (1.0 + signed(o.side, 1.0) * self.costs.slippage_bps / 10_000.0)
                } else {
                    price
                };
                if remaining > 0.0 {
                    self.orders[i].quantity = remaining;
                    self.orders[i].had_fill = true;
                } else {
                    self.orders.remove(i);
                }
                self.book_fill(bar, &o, qty, price);
                filled = true;
                self.flush_changes();
            }
        }
        {
            let mut book = self.book.borrow_mut();
            book.slot(s).mark = bar.close;
        }
        self.last_close[s as usize] = bar.close;
        if filled {
            // Reductions with nothing left to reduce are cancelled.
            let pos = self.book.position(s);
            self.cancel_where(|o| {
                o.symbol == s
                    && o.reduce_only
                    && (o.origin == STRATEGY || o.origin == FLATTEN)
                    && -signed(o.side, 1.0) * pos <= 0.0
            });
            self.resync(s, bar.time_ms);
        }
        // A trailing stop ratchets on the bar's extreme, for the next bar.
        let pos = self.book.position(s);
        if self.protection[s as usize]
            .levels
            .after_bar(bar.high, bar.low, pos)
        {
            self.resync(s, bar.time_ms);
        }
    }

    /// Book a fill as the host's ledger does; a completed round trip is
    /// reported to the risk engine (the losing-streak rule).
    fn book_fill(&mut self, bar: &Bar, o: &Order, qty: f64, price: f64) {
        let delta = signed(o.side, qty);
        let c = self.costs;
        let mut commission =
            c.commission_percent / 100.0 * qty * price + c.commission_per_unit * qty;
        if !o.had_fill {
            commission = commission.max(c.commission_minimum);
        }
        let trade = {
            let mut book = self.book.borrow_mut();
            book.cash -= delta * price + commission;
            let h = book.slot(bar.symbol);
            if h.mark == 0.0 {
                h.mark = price;
            }
            let q = h.quantity;
            if q == 0.0 {
                h.trade_pnl = 0.0;
            }
            h.trade_pnl -= commission;
            let mut trade = None;
            if q == 0.0 || q.signum() == delta.signum() {
                let new_q = q + delta;
                h.average_price = (q * h.average_price + delta * price) / new_q;
                h.quantity = new_q;
            } else {
                let closed = delta.abs().min(q.abs());
                h.trade_pnl += closed * (price - h.average_price) * q.signum();
                let new_q = q + delta;
                if new_q == 0.0 || new_q.signum() != q.signum() || closed == q.abs() {
                    trade = Some(h.trade_pnl);
                    h.trade_pnl = 0.0;
                }
                if closed == q.abs() {
                    h.quantity = if closed == delta.abs() { 0.0 } else { new_q };
                    h.average_price = if h.quantity == 0.0 { 0.0 } else { price };
                } else {
                    h.quantity = new_q;
                }
            }
            trade
        };
        if let Some(pnl) = trade {
            self.risk.on_trade(pnl, &mut self.pending);
        }
        let fill = Fill {
            order_id: o.id,
            symbol: bar.symbol,
            side: o.side,
            quantity: qty,
            price,
            commission,
            time_ms: bar.time_ms,
            origin: o.origin.into(),
        };
        self.events.push(Event::Filled(fill.clone()));
        self.fills.push(fill);
    }

    /// Every intent the risk engine or the host's checks refused, as the
    /// strategy was told of it.
    pub fn refusals(&self) -> &[Rejection] {
        &self.refusals
    }

    /// Every trading-state change (ACTIVE / REDUCING / HALTED) with the
    /// time of the bar it happened on and why.
    pub fn state_changes(&self) -> &[(i64, StateChange)] {
        &self.state_changes
    }

    /// The trading state now.
    pub fn trading_state(&self) -> crate::risk::TradingState {
        self.risk.state()
    }

    /// Every intent so far, with the time of the bar it was decided on.
    pub fn intents(&self) -> &[(i64, Intent)] {
        &self.intents
    }

    /// Every simulated fill so far.
    pub fn fills(&self) -> &[Fill] {
        &self.fills
    }

    /// The orders resting now, in the order they were placed.
    ///
    /// ```
    /// use sandbar_sdk::prelude::*;
    /// use sandbar_sdk::testing::{Harness, OpenKind, bars_from_closes};
    /// #[derive(Default)] struct Dip;
    /// impl Strategy for Dip {
    ///     fn describe() -> Description { Description::new("dip", "0.1.0") }
    ///     fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
    ///         if ctx.position(bar.symbol) == 0.0 {
    ///             ctx.buy_limit(bar.symbol, 2.0, bar.close * 0.9);
    ///         }
    ///     }
    /// }
    /// let mut h = Harness::<Dip>::new(&[]).unwrap();
    /// h.run(&bars_from_closes(&[100.0, 101.0]));
    /// let open = h.open_orders();
    /// assert_eq!(open.len(), 1, "the second limit superseded the first");
    /// assert_eq!((open[0].quantity, open[0].kind), (2.0, OpenKind::Limit(101.0 * 0.9)));
    /// ```
    pub fn open_orders(&self) -> Vec<OpenOrder> {
        self.orders
            .iter()
            .map(|o| OpenOrder {
                id: o.id,
                symbol: o.symbol,
                side: o.side,
                quantity: o.quantity,
                kind: match o.kind {
                    Kind::Market => OpenKind::Market,
                    Kind::Limit(p) => OpenKind::Limit(p),
                    Kind::Stop(p) => OpenKind::StopLoss(p),
                    Kind::Target(p) => OpenKind::TakeProfit(p),
                },
            })
            .collect()
    }

    /// Signed position in a symbol.
    pub fn position(&self, symbol: SymbolId) -> f64 {
        self.book.position(symbol)
    }

    /// Log lines the strategy wrote.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.book.borrow().log.clone()
    }

    /// The strategy, for inspecting its state.
    pub fn strategy(&self) -> &S {
        self.runner.strategy()
    }

    /// The strategy's snapshot.
    pub fn snapshot(&self) -> Result<Vec<u8>, String> {
        self.runner.snapshot()
    }

    /// Restore a snapshot into the strategy.
    pub fn restore(&mut self, from_version: &str, state: &[u8]) -> Result<(), String> {
        self.runner.restore(from_version, state)
    }
}

/// What the host checks of a parameter value before `init`: its type (an
/// integer is accepted for a float) and its declared range.
fn check_value(spec: &crate::ParamSpec, v: &ParamValue) -> Result<(), InitError> {
    let number = match (spec.ty, v) {
        (crate::ParamType::Integer, ParamValue::Integer(i)) => Some(*i as f64),
        (crate::ParamType::Float, ParamValue::Float(f)) => Some(*f),
        (crate::ParamType::Float, ParamValue::Integer(i)) => Some(*i as f64),
        (crate::ParamType::Boolean, ParamValue::Boolean(_))
        | (crate::ParamType::Text, ParamValue::Text(_)) => None,
        (ty, v) => {
            return Err(InitError::param(
                &spec.name,
                format!("{v} is not a valid {}", format!("{ty:?}").to_lowercase()),
            ));
        }
    };
    if let Some(x) = number {
        let below = spec.min.is_some_and(|m| x < m);
        let above = spec.max.is_some_and(|m| x > m);
        if below || above || !x.is_finite() {
            let bound = |b: Option<f64>| b.map_or("…".to_string(), |b| b.to_string());
            return Err(InitError::param(
                &spec.name,
                format!(
                    "{v} is outside the allowed range [{}, {}]",
                    bound(spec.min),
                    bound(spec.max)
                ),
            ));
        }
    }
    Ok(())
}

fn signed(side: Side, q: f64) -> f64 {
    match side {
        Side::Buy => q,
        Side::Sell => -q,
    }
}

/// Daily bars for symbol 0 from closes: open = previous close, high/low
/// bracket open and close, volume 1,000,000
/// ([`bars_from_closes_every`] for other intervals).
pub fn bars_from_closes(closes: &[f64]) -> Vec<Bar> {
    bars_from_closes_every(closes, 86_400_000)
}

/// Bars for symbol 0 from closes, one every `interval_ms` from time 0
/// (minute bars: `60_000`), built as [`bars_from_closes`] builds them.
///
/// ```
/// use sandbar_sdk::testing::bars_from_closes_every;
/// let minutes = bars_from_closes_every(&[10.0, 9.5, 11.0], 60_000);
/// assert_eq!(minutes[2].time_ms, 120_000);
/// assert_eq!((minutes[2].open, minutes[2].high, minutes[2].low), (9.5, 11.0, 9.5));
/// ```
pub fn bars_from_closes_every(closes: &[f64], interval_ms: i64) -> Vec<Bar> {
    let mut prev = closes.first().copied().unwrap_or(0.0);
    closes
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let bar = Bar {
                symbol: 0,
                time_ms: i as i64 * interval_ms,
                open: prev,
                high: prev.max(c),
                low: prev.min(c),
                close: c,
                volume: 1_000_000.0,
            };
            prev = c;
            bar
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::RiskConfig;
    use crate::{Ctx, Description, ParamSpec, Strategy};

    #[derive(Default)]
    struct Windowed;

    impl Strategy for Windowed {
        fn describe() -> Description {
            Description::new("windowed", "0.1.0").param(ParamSpec::integer("n", 5).range(1.0, 10.0))
        }
        fn on_bar(&mut self, _bar: &Bar, _ctx: &mut Ctx<'_>) {}
    }

    #[derive(Default)]
    struct HalfIn;

    impl Strategy for HalfIn {
        fn describe() -> Description {
            Description::new("half-in", "0.1.0")
        }
        fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
            if ctx.position(bar.symbol) == 0.0 {
                ctx.target_weight(bar.symbol, 0.5);
            }
        }
    }

    #[test]
    fn a_target_weight_is_sized_at_the_deciding_close_like_the_host() {
        // Issue 10: the harness sized at the fill bar's open.
        let bar = |t: i64, open: f64, close: f64| Bar {
            symbol: 0,
            time_ms: t,
            open,
            high: open.max(close),
            low: open.min(close),
            close,
            volume: 1e6,
        };
        let mut h = Harness::<HalfIn>::new(&[]).unwrap();
        h.run(&[bar(0, 10.0, 10.0), bar(1, 20.0, 20.0)]);
        // 0.5 × 100,000 / 10 (the close it was decided on), filled at 20.
        assert_eq!((h.fills()[0].quantity, h.fills()[0].price), (5000.0, 20.0));
    }

    #[derive(Default)]
    struct QuarterIn;

    impl Strategy for QuarterIn {
        fn describe() -> Description {
            Description::new("quarter-in", "0.1.0")
        }
        fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
            ctx.target_weight(bar.symbol, 0.25);
        }
    }

    #[test]
    fn with_the_hosts_default_limits_a_test_sees_what_a_replay_refuses() {
        // Issue 10: unit tests passed while every replay intent was refused
        // by the default max_position (0.20 against a 0.25 weight).
        let bars = bars_from_closes(&[100.0, 101.0, 102.0]);
        let mut free = Harness::<QuarterIn>::new(&[]).unwrap();
        free.run(&bars);
        assert!(!free.fills().is_empty(), "without limits it trades");
        let mut h = Harness::<QuarterIn>::new(&[])
            .unwrap()
            .with_risk(RiskConfig::default());
        h.run(&bars);
        assert!(h.fills().is_empty());
        let r = &h.refusals()[0];
        assert_eq!((r.rule.as_str(), r.time_ms), ("max-position", 0));
        assert_eq!(
            r.detail,
            "position value 25000.00 would exceed 20% of equity 100000.00 = 20000.00"
        );
        assert_eq!(h.refusals().len(), 3, "one refusal per bar");
    }

    #[test]
    fn halted_flattens_in_the_harness_too() {
        // 20% in at 100; a fall to 40 is a 12% drawdown: HALTED, flattened
        // at the next open, and nothing passes afterwards.
        let bars = bars_from_closes(&[100.0, 100.0, 40.0, 40.0, 41.0]);
        #[derive(Default)]
        struct FifthIn;
        impl Strategy for FifthIn {
            fn describe() -> Description {
                Description::new("fifth-in", "0.1.0")
            }
            fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
                ctx.target_weight(bar.symbol, 0.2);
            }
        }
        let mut h = Harness::<FifthIn>::new(&[])
            .unwrap()
            .with_risk(RiskConfig::default());
        h.run(&bars);
        assert_eq!(h.trading_state(), crate::risk::TradingState::Halted);
        let (at, change) = &h.state_changes()[0];
        assert_eq!(*at, 2 * 86_400_000);
        assert!(
            change
                .reason
                .starts_with("max-drawdown: equity 88000.00 is 12.00% below peak 100000.00"),
            "{}",
            change.reason
        );
        let flatten = h.fills().last().unwrap();
        assert_eq!(
            (flatten.origin.as_str(), flatten.price, h.position(0)),
            ("risk-flatten", 40.0, 0.0)
        );
        // The strategy asks on the halting bar (its close is seen before
        // the strategy is) and on the two after: each refused.
        let rules: Vec<&str> = h.refusals().iter().map(|r| r.rule.as_str()).collect();
        assert_eq!(rules, ["halted", "halted", "halted"]);
    }

    #[test]
    fn the_harness_checks_parameters_like_the_host() {
        // Issue 10: values outside the declared range reached `init`.
        let e = Harness::<Windowed>::new(&[("n", 0.into())]).err().unwrap();
        assert_eq!(
            e.to_string(),
            "parameter `n`: 0 is outside the allowed range [1, 10]"
        );
        let e = Harness::<Windowed>::new(&[("n", 2.5.into())])
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "parameter `n`: 2.5 is not a valid integer");
        assert!(Harness::<Windowed>::new(&[("n", 10.into())]).is_ok());
    }

    #[test]
    fn a_test_reads_the_positions_resting_stop_and_target_as_open_orders() {
        // Issue 24: the harness had no accessor for resting orders.
        #[derive(Default)]
        struct Protected;
        impl Strategy for Protected {
            fn describe() -> Description {
                Description::new("protected", "0.1.0")
            }
            fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
                if ctx.position(bar.symbol) == 0.0 {
                    ctx.target_quantity(bar.symbol, 3.0)
                        .stop_loss(90.0)
                        .take_profit(120.0);
                }
            }
        }
        let mut h = Harness::<Protected>::new(&[]).unwrap();
        h.run(&bars_from_closes_every(&[100.0], 60_000));
        assert_eq!(
            h.open_orders()[0].kind,
            OpenKind::Market,
            "decided, not filled"
        );
        h.run(&bars_from_closes_every(&[100.0, 101.0], 60_000)[1..]);
        let open: Vec<_> = h
            .open_orders()
            .iter()
            .map(|o| (o.side, o.quantity, o.kind))
            .collect();
        assert_eq!(
            open,
            [
                (Side::Sell, 3.0, OpenKind::StopLoss(90.0)),
                (Side::Sell, 3.0, OpenKind::TakeProfit(120.0))
            ]
        );
    }
}
