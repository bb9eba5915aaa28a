//! A native harness: run a strategy over a `Vec` of bars in `cargo test`,
//! no WebAssembly and no host involved.
//!
//! The harness keeps a minimal paper account so position-aware strategies
//! behave. Like the host, an intent is sized when it is decided — a target
//! weight at the deciding bar's close, `w × equity / close − position` — and
//! a later intent on the symbol supersedes an unfilled one; market, target
//! and close orders fill at the next bar's open of their symbol, limits when
//! a later bar trades through them. It has no commission, slippage, risk
//! limits or stop-loss / take-profit orders: it is for testing a strategy's
//! *decisions*; the host's simulator is the one that models execution.
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

use crate::{
    Action, Bar, Event, Fill, HostServices, InitError, Intent, Level, ParamValue, Params,
    Portfolio, Position, Runner, Side, Strategy, SymbolId,
};

#[derive(Default)]
struct Book {
    cash: f64,
    positions: Vec<(f64, f64, f64)>, // (quantity, average price, last close)
    log: Vec<(Level, String)>,
}

impl Book {
    fn slot(&mut self, s: SymbolId) -> &mut (f64, f64, f64) {
        let i = s as usize;
        if i >= self.positions.len() {
            self.positions.resize(i + 1, (0.0, 0.0, 0.0));
        }
        &mut self.positions[i]
    }
    fn equity(&self) -> f64 {
        self.cash + self.positions.iter().map(|(q, _, c)| q * c).sum::<f64>()
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
                .filter(|(_, p)| p.0 != 0.0)
                .map(|(i, &(q, avg, c))| Position {
                    symbol: i as SymbolId,
                    quantity: q,
                    average_price: avg,
                    unrealized_pnl: q * (c - avg),
                })
                .collect(),
        }
    }
    fn position(&self, symbol: SymbolId) -> f64 {
        self.borrow()
            .positions
            .get(symbol as usize)
            .map_or(0.0, |p| p.0)
    }
}

/// Runs a strategy natively over bars, one bar per delivery.
pub struct Harness<S: Strategy> {
    runner: Runner<S>,
    book: RefCell<Book>,
    /// Unfilled intents with the signed quantity they were sized to.
    pending: Vec<(Intent, f64)>,
    intents: Vec<(i64, Intent)>,
    fills: Vec<Fill>,
    events: Vec<Event>,
    next_order: u64,
}

impl<S: Strategy> Harness<S> {
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
        runner.init(Params::new(values), symbols)?;
        Ok(Self {
            runner,
            book: RefCell::new(Book {
                cash: 100_000.0,
                ..Book::default()
            }),
            pending: Vec::new(),
            intents: Vec::new(),
            fills: Vec::new(),
            events: Vec::new(),
            next_order: 1,
        })
    }

    /// Feed bars in order.
    pub fn run(&mut self, bars: &[Bar]) {
        for bar in bars {
            self.execute(bar);
            let events = std::mem::take(&mut self.events);
            let out = self
                .runner
                .on_bars(std::slice::from_ref(bar), &events, &self.book)
                .to_vec();
            for intent in out {
                self.intents.push((bar.time_ms, intent.clone()));
                let Some(delta) = self.size(&intent) else {
                    continue;
                };
                // A new intent supersedes the unfilled one on its symbol.
                self.pending.retain(|(i, _)| i.symbol != intent.symbol);
                if delta != 0.0 {
                    self.pending.push((intent, delta));
                }
            }
        }
    }

    /// The signed quantity an intent asks for, sized now as the host sizes
    /// it; `None` when the symbol has no price yet (the host refuses it).
    fn size(&self, intent: &Intent) -> Option<f64> {
        let book = self.book.borrow();
        let (pos, _, close) = book
            .positions
            .get(intent.symbol as usize)
            .copied()
            .unwrap_or_default();
        Some(match intent.action {
            Action::Market { side, quantity } | Action::Limit { side, quantity, .. } => {
                signed(side, quantity)
            }
            Action::TargetQuantity(q) => q - pos,
            Action::TargetWeight(w) if close > 0.0 => w * book.equity() / close - pos,
            Action::TargetWeight(_) => return None,
            Action::Close => -pos,
        })
    }

    fn execute(&mut self, bar: &Bar) {
        let mut book = self.book.borrow_mut();
        book.slot(bar.symbol).2 = bar.close;
        let mut keep = Vec::new();
        for (intent, delta) in std::mem::take(&mut self.pending) {
            if intent.symbol != bar.symbol {
                keep.push((intent, delta));
                continue;
            }
            let price = match intent.action {
                Action::Limit { side, price, .. } => {
                    let crossed = match side {
                        Side::Buy => bar.low <= price,
                        Side::Sell => bar.high >= price,
                    };
                    if !crossed {
                        keep.push((intent, delta));
                        continue;
                    }
                    match side {
                        Side::Buy => price.min(bar.open),
                        Side::Sell => price.max(bar.open),
                    }
                }
                _ => bar.open,
            };
            if delta == 0.0 {
                continue;
            }
            let slot = book.slot(bar.symbol);
            let new_q = slot.0 + delta;
            if slot.0 == 0.0 || slot.0.signum() == delta.signum() {
                slot.1 = (slot.0 * slot.1 + delta * price) / new_q;
            } else if new_q != 0.0 && new_q.signum() != slot.0.signum() {
                slot.1 = price;
            }
            slot.0 = new_q;
            book.cash -= delta * price;
            let fill = Fill {
                order_id: self.next_order,
                symbol: bar.symbol,
                side: if delta > 0.0 { Side::Buy } else { Side::Sell },
                quantity: delta.abs(),
                price,
                commission: 0.0,
                time_ms: bar.time_ms,
                origin: "strategy".into(),
            };
            self.next_order += 1;
            self.events.push(Event::Filled(fill.clone()));
            self.fills.push(fill);
        }
        self.pending = keep;
    }

    /// Every intent so far, with the time of the bar it was decided on.
    pub fn intents(&self) -> &[(i64, Intent)] {
        &self.intents
    }

    /// Every simulated fill so far.
    pub fn fills(&self) -> &[Fill] {
        &self.fills
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
/// bracket open and close, volume 1,000,000.
pub fn bars_from_closes(closes: &[f64]) -> Vec<Bar> {
    let mut prev = closes.first().copied().unwrap_or(0.0);
    closes
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let bar = Bar {
                symbol: 0,
                time_ms: i as i64 * 86_400_000,
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
}
