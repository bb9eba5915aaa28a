//! Native strategies: a `sandbar-sdk` strategy compiled into the host and
//! driven through the same engine, without the sandbox.
//!
//! This is the baseline the benchmarks compare the sandbox against (same
//! strategy source, same pipeline), and a fast path for research sweeps of
//! trusted code. It never runs untrusted code: there are no limits here.

use std::cell::RefCell;

use sandbar_sdk::{self as sdk, HostServices, Runner, Strategy};

use crate::data::market::Bar;
use crate::engine::StrategyDriver;
use crate::sandbox::runtime::{
    AccountView, Action, CallError, Event, InitConfig, Intent, LimitOrder, MarketOrder, ParamValue,
    Side,
};

/// Drives an SDK strategy natively.
pub struct NativeStrategy<S: Strategy> {
    runner: Runner<S>,
    /// In a cell: exact batching re-marks it between the bars of a window
    /// while the strategy holds it.
    view: RefCell<AccountView>,
    bars: Vec<sdk::Bar>,
    events: Vec<sdk::Event>,
}

struct View<'a>(&'a RefCell<AccountView>);

impl HostServices for View<'_> {
    fn protection(&self, symbol: sdk::SymbolId) -> sandbar_sdk::protection::Protection {
        self.0
            .borrow()
            .protections
            .get(symbol as usize)
            .copied()
            .unwrap_or_default()
    }
    fn log(&self, level: sdk::Level, message: &str) {
        tracing::info!(target: "plugin", ?level, "{message}");
    }
    fn portfolio(&self) -> sdk::Portfolio {
        let view = self.0.borrow();
        sdk::Portfolio {
            cash: view.cash,
            equity: view.equity,
            positions: view
                .positions
                .iter()
                .enumerate()
                .filter(|(_, p)| p.0 != 0.0)
                .map(|(i, p)| sdk::Position {
                    symbol: i as u32,
                    quantity: p.0,
                    average_price: p.1,
                    unrealized_pnl: p.2,
                })
                .collect(),
        }
    }
    fn position(&self, symbol: u32) -> f64 {
        self.0
            .borrow()
            .positions
            .get(symbol as usize)
            .map_or(0.0, |p| p.0)
    }
}

fn side(s: sdk::Side) -> Side {
    match s {
        sdk::Side::Buy => Side::Buy,
        sdk::Side::Sell => Side::Sell,
    }
}

/// A host bar as the SDK sees it.
pub fn sdk_bar(b: &Bar) -> sdk::Bar {
    sdk::Bar {
        symbol: b.symbol,
        time_ms: b.time_ms,
        open: b.open,
        high: b.high,
        low: b.low,
        close: b.close,
        volume: b.volume,
    }
}

fn sdk_side(s: Side) -> sdk::Side {
    match s {
        Side::Buy => sdk::Side::Buy,
        Side::Sell => sdk::Side::Sell,
    }
}

impl<S: Strategy> NativeStrategy<S> {
    /// Initialise a strategy like the sandbox would.
    pub fn new(config: &InitConfig) -> Result<Self, sdk::InitError> {
        let params = config
            .params
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    ParamValue::Integer(i) => sdk::ParamValue::Integer(*i),
                    ParamValue::Float(f) => sdk::ParamValue::Float(*f),
                    ParamValue::Boolean(b) => sdk::ParamValue::Boolean(*b),
                    ParamValue::Text(t) => sdk::ParamValue::Text(t.clone()),
                };
                (k.clone(), v)
            })
            .collect();
        let mut runner = Runner::<S>::default();
        runner.init(sdk::Params::new(params), config.symbols.clone())?;
        Ok(Self {
            runner,
            view: RefCell::default(),
            bars: Vec::new(),
            events: Vec::new(),
        })
    }
}

impl<S: Strategy + Send> StrategyDriver for NativeStrategy<S> {
    fn version(&self) -> String {
        S::describe().version
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, CallError> {
        self.runner.snapshot().map_err(CallError::Refused)
    }

    fn restore(&mut self, from_version: &str, state: &[u8]) -> Result<(), CallError> {
        self.runner
            .restore(from_version, state)
            .map_err(CallError::Refused)
    }

    fn view_mut(&mut self) -> &mut AccountView {
        self.view.get_mut()
    }

    fn on_bars(
        &mut self,
        bars: &[Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> Result<(), CallError> {
        self.bars.clear();
        self.bars.extend(bars.iter().map(sdk_bar));
        self.sdk_events(events);
        let intents = self
            .runner
            .on_bars(&self.bars, &self.events, &View(&self.view));
        out.extend(intents.iter().map(host_intent));
        Ok(())
    }

    fn exact(&self) -> bool {
        true
    }

    fn take_amends(&mut self) -> Vec<crate::engine::Amendment> {
        self.runner.amends().to_vec()
    }

    /// Exact batching as a 0.2.0 component does it (the SDK's own
    /// `Runner::on_window`), the view re-marked at each bar as the
    /// `next-bar` import does: the baseline that shows what the engine's
    /// windows cost without the sandbox's calls.
    fn on_window(
        &mut self,
        bars: &[Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> (usize, Result<(), CallError>) {
        self.sdk_events(events);
        let mut taken = 1;
        let view = &self.view;
        let mut next = || {
            let b = bars.get(taken)?;
            taken += 1;
            view.borrow_mut().mark(b.symbol, b.close);
            Some(sdk_bar(b))
        };
        let intents =
            self.runner
                .on_window(&sdk_bar(&bars[0]), &self.events, &View(view), &mut next);
        out.extend(intents.iter().map(host_intent));
        (taken, Ok(()))
    }
}

fn host_intent(i: &sdk::Intent) -> Intent {
    Intent {
        bar_index: i.bar_index,
        symbol: i.symbol,
        action: match i.action {
            sdk::Action::TargetWeight(w) => Action::TargetWeight(w),
            sdk::Action::TargetQuantity(q) => Action::TargetQuantity(q),
            sdk::Action::Market { side: s, quantity } => Action::Market(MarketOrder {
                side: side(s),
                quantity,
            }),
            sdk::Action::Limit {
                side: s,
                quantity,
                price,
            } => Action::Limit(LimitOrder {
                side: side(s),
                quantity,
                price,
            }),
            sdk::Action::Close => Action::Close,
        },
        stop_loss: i.stop_loss,
        take_profit: i.take_profit,
        reason: i.reason.clone(),
    }
}

impl<S: Strategy> NativeStrategy<S> {
    fn sdk_events(&mut self, events: &[Event]) {
        self.events.clear();
        self.events.extend(events.iter().map(|e| match e {
            Event::Filled(f) => sdk::Event::Filled(sdk::Fill {
                order_id: f.order_id,
                symbol: f.symbol,
                side: sdk_side(f.side),
                quantity: f.quantity,
                price: f.price,
                commission: f.commission,
                time_ms: f.time_ms,
                origin: f.origin.clone(),
            }),
            Event::Rejected(r) => sdk::Event::Rejected(sdk::Rejection {
                symbol: r.symbol,
                rule: r.rule.clone(),
                detail: r.detail.clone(),
                time_ms: r.time_ms,
            }),
            Event::Cancelled(id) => sdk::Event::Cancelled(*id),
        }));
    }
}
