//! The bridge between the generated WIT bindings and the SDK's own types.
//! Hidden from the docs: strategy authors never touch it.
#![allow(missing_docs)]

#[cfg(target_family = "wasm")]
pub use glue::*;

#[cfg(target_family = "wasm")]
mod glue {
    use crate::{HostServices, Params, Runner, Strategy, types as sdk};

    pub mod bindings {
        wit_bindgen::generate!({
            world: "sandbar:strategy/strategy@0.3.0",
            path: "../wit",
            generate_all,
            pub_export_macro: true,
            export_macro_name: "__export_sandbar_guest",
            runtime_path: "::sandbar_sdk::wit::__wit_bindgen::rt",
        });
    }

    pub use bindings::exports::sandbar::strategy0_1_0::guest::Guest;
    use bindings::exports::sandbar::strategy0_2_0::exact;
    pub use bindings::exports::sandbar::strategy0_2_0::exact::{Decision, Guest as ExactGuest};
    use bindings::exports::sandbar::strategy0_3_0::managed;
    pub use bindings::exports::sandbar::strategy0_3_0::managed::{Change, Guest as ManagedGuest};
    use bindings::sandbar::strategy0_1_0::host;
    use bindings::sandbar::strategy0_1_0::types as w;
    pub use bindings::sandbar::strategy0_1_0::types::{
        Bar, Description, Event, InitConfig, InitError, Intent, StrategyError,
    };
    use bindings::sandbar::strategy0_2_0::window;
    use bindings::sandbar::strategy0_3_0::protection;
    pub use wit_bindgen as __wit_bindgen;

    /// Host services backed by the host's imports.
    struct Imports;

    impl HostServices for Imports {
        fn log(&self, level: sdk::Level, message: &str) {
            let level = match level {
                sdk::Level::Trace => w::Level::Trace,
                sdk::Level::Debug => w::Level::Debug,
                sdk::Level::Info => w::Level::Info,
                sdk::Level::Warn => w::Level::Warn,
                sdk::Level::Error => w::Level::Error,
            };
            host::log(level, message);
        }
        fn portfolio(&self) -> sdk::Portfolio {
            let p = host::account();
            sdk::Portfolio {
                cash: p.cash,
                equity: p.equity,
                positions: p
                    .positions
                    .into_iter()
                    .map(|p| sdk::Position {
                        symbol: p.symbol,
                        quantity: p.quantity,
                        average_price: p.average_price,
                        unrealized_pnl: p.unrealized_pnl,
                    })
                    .collect(),
            }
        }
        fn position(&self, symbol: sdk::SymbolId) -> f64 {
            host::position(symbol)
        }
        fn protection(&self, symbol: sdk::SymbolId) -> crate::protection::Protection {
            let p = protection::get(symbol);
            crate::protection::Protection {
                stop_loss: p.stop_loss,
                trail: p.trail.map(|t| match t {
                    protection::Trail::Distance(d) => crate::protection::Trail::Distance(d),
                    protection::Trail::Fraction(f) => crate::protection::Trail::Fraction(f),
                }),
                take_profit: p.take_profit,
            }
        }
    }

    fn param_value(v: &sdk::ParamValue) -> w::ParamValue {
        match v {
            sdk::ParamValue::Integer(i) => w::ParamValue::Integer(*i),
            sdk::ParamValue::Float(f) => w::ParamValue::Float(*f),
            sdk::ParamValue::Boolean(b) => w::ParamValue::Boolean(*b),
            sdk::ParamValue::Text(t) => w::ParamValue::Text(t.clone()),
        }
    }

    fn side(s: w::Side) -> sdk::Side {
        match s {
            w::Side::Buy => sdk::Side::Buy,
            w::Side::Sell => sdk::Side::Sell,
        }
    }

    fn wside(s: sdk::Side) -> w::Side {
        match s {
            sdk::Side::Buy => w::Side::Buy,
            sdk::Side::Sell => w::Side::Sell,
        }
    }

    /// Report panics through the host log before the abort, so the host's
    /// fault message can say what panicked (stderr goes nowhere).
    fn install_panic_hook() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                host::log(w::Level::Error, &format!("panic: {info}"));
            }));
        });
    }

    pub fn describe<S: Strategy>() -> Description {
        install_panic_hook();
        let d = S::describe();
        Description {
            name: d.name,
            version: d.version,
            sdk_version: crate::SDK_VERSION.to_string(),
            params: d
                .params
                .iter()
                .map(|p| w::ParamSpec {
                    name: p.name.clone(),
                    type_: match p.ty {
                        sdk::ParamType::Integer => w::ParamType::Integer,
                        sdk::ParamType::Float => w::ParamType::Float,
                        sdk::ParamType::Boolean => w::ParamType::Boolean,
                        sdk::ParamType::Text => w::ParamType::Text,
                    },
                    default: param_value(&p.default),
                    min: p.min,
                    max: p.max,
                    doc: p.doc.clone(),
                })
                .collect(),
            delivery: match d.delivery {
                sdk::Delivery::PerBar => w::Delivery::PerBar,
                sdk::Delivery::Batched => w::Delivery::Batched,
            },
        }
    }

    pub fn init<S: Strategy>(runner: &mut Runner<S>, config: InitConfig) -> Result<(), InitError> {
        install_panic_hook();
        let params = config
            .params
            .into_iter()
            .map(|(name, v)| {
                let v = match v {
                    w::ParamValue::Integer(i) => sdk::ParamValue::Integer(i),
                    w::ParamValue::Float(f) => sdk::ParamValue::Float(f),
                    w::ParamValue::Boolean(b) => sdk::ParamValue::Boolean(b),
                    w::ParamValue::Text(t) => sdk::ParamValue::Text(t),
                };
                (name, v)
            })
            .collect();
        runner
            .init(Params::new(params), config.symbols)
            .map_err(|e| InitError {
                param: e.param,
                message: e.message,
            })
    }

    fn bar(b: &Bar) -> sdk::Bar {
        // Same fields; the copy is a few words.
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

    pub fn on_bar<S: Strategy>(
        runner: &mut Runner<S>,
        b: Bar,
        events: Vec<Event>,
    ) -> Result<Vec<Intent>, StrategyError> {
        deliver(runner, &[bar(&b)], events)
    }

    pub fn on_bars<S: Strategy>(
        runner: &mut Runner<S>,
        bars: Vec<Bar>,
        events: Vec<Event>,
    ) -> Result<Vec<Intent>, StrategyError> {
        let bars: Vec<sdk::Bar> = bars.iter().map(bar).collect();
        deliver(runner, &bars, events)
    }

    pub fn on_window<S: Strategy>(
        runner: &mut Runner<S>,
        first: Bar,
        events: Vec<Event>,
        more: bool,
    ) -> Result<Vec<Decision>, StrategyError> {
        let events = sdk_events(events);
        let mut next = || {
            if more {
                window::next_bar().map(|b| bar(&b))
            } else {
                None
            }
        };
        let decisions = wit_decisions(runner.on_window(&bar(&first), &events, &Imports, &mut next));
        if !runner.amends().is_empty() {
            host::log(
                w::Level::Warn,
                &format!(
                    "{} change(s) to protection dropped: this host called contract 0.2.0's \
                     on-window, which cannot carry them",
                    runner.amends().len()
                ),
            );
        }
        Ok(decisions)
    }

    /// Contract 0.3.0: as [`on_window`], with the changes to protection
    /// after the decisions (the host applies every decision first).
    pub fn on_managed_window<S: Strategy>(
        runner: &mut Runner<S>,
        first: Bar,
        events: Vec<Event>,
        more: bool,
    ) -> Result<Vec<Change>, StrategyError> {
        let events = sdk_events(events);
        let mut next = || {
            if more {
                window::next_bar().map(|b| bar(&b))
            } else {
                None
            }
        };
        runner.on_window(&bar(&first), &events, &Imports, &mut next);
        let mut out: Vec<Change> = wit_decisions(runner_intents(runner))
            .into_iter()
            .map(Change::Decide)
            .collect();
        out.extend(runner.amends().iter().map(|(_, symbol, a)| {
            use crate::protection::{Amend, Trail};
            let trail = |t: &Trail| match *t {
                Trail::Distance(d) => protection::Trail::Distance(d),
                Trail::Fraction(f) => protection::Trail::Fraction(f),
            };
            Change::Protect(managed::Amendment {
                symbol: *symbol,
                change: match a {
                    Amend::StopLoss(l) => managed::Amend::StopLoss(wit_level(*l)),
                    Amend::TrailingStop(t) => managed::Amend::TrailingStop(trail(t)),
                    Amend::CancelStopLoss => managed::Amend::CancelStopLoss,
                    Amend::TakeProfit(l) => managed::Amend::TakeProfit(wit_level(*l)),
                    Amend::CancelTakeProfit => managed::Amend::CancelTakeProfit,
                },
            })
        }));
        Ok(out)
    }

    fn runner_intents<S: Strategy>(runner: &Runner<S>) -> &[sdk::Intent] {
        runner.intents()
    }

    fn deliver<S: Strategy>(
        runner: &mut Runner<S>,
        bars: &[sdk::Bar],
        events: Vec<Event>,
    ) -> Result<Vec<Intent>, StrategyError> {
        let events = sdk_events(events);
        let intents = wit_intents(runner.on_bars(bars, &events, &Imports), bars);
        if !runner.amends().is_empty() {
            // Contract 0.1.0's calls cannot carry them: say so, never drop
            // them silently (a host speaking 0.3.0 calls `managed`).
            host::log(
                w::Level::Warn,
                &format!(
                    "{} change(s) to protection dropped: this host called contract 0.1.0's \
                     on-bar(s), which cannot carry them",
                    runner.amends().len()
                ),
            );
        }
        Ok(intents)
    }

    fn sdk_events(events: Vec<Event>) -> Vec<sdk::Event> {
        events
            .into_iter()
            .map(|e| match e {
                w::Event::Filled(f) => sdk::Event::Filled(sdk::Fill {
                    order_id: f.order_id,
                    symbol: f.symbol,
                    side: side(f.side),
                    quantity: f.quantity,
                    price: f.price,
                    commission: f.commission,
                    time_ms: f.time_ms,
                    origin: f.origin,
                }),
                w::Event::Rejected(r) => sdk::Event::Rejected(sdk::Rejection {
                    symbol: r.symbol,
                    rule: r.rule,
                    detail: r.detail,
                    time_ms: r.time_ms,
                }),
                w::Event::Cancelled(id) => sdk::Event::Cancelled(id),
            })
            .collect()
    }

    /// Contract 0.1.0 intents (`on-bar`, `on-bars`) carry prices only; a
    /// host speaking 0.2.0 never asks for them one bar at a time (it calls
    /// `on-window`), so this is batched delivery, which is lossy anyway: a
    /// level from the entry is resolved at the deciding bar's close, on the
    /// side the intent trades towards.
    fn wit_intents(intents: &[sdk::Intent], bars: &[sdk::Bar]) -> Vec<Intent> {
        intents
            .iter()
            .map(|i| {
                let close = bars.get(i.bar_index as usize).map_or(f64::NAN, |b| b.close);
                let direction = match i.action {
                    sdk::Action::TargetWeight(x) | sdk::Action::TargetQuantity(x) => x.signum(),
                    sdk::Action::Market { side, .. } | sdk::Action::Limit { side, .. } => {
                        match side {
                            sdk::Side::Buy => 1.0,
                            sdk::Side::Sell => -1.0,
                        }
                    }
                    sdk::Action::Close => 0.0,
                };
                let price =
                    |l: Option<sdk::Protect>, stop| l.map(|l| l.resolve(close, direction, stop));
                Intent {
                    stop_loss: price(i.stop_loss, true),
                    take_profit: price(i.take_profit, false),
                    ..wit_intent(i)
                }
            })
            .collect()
    }

    fn wit_level(l: sdk::Protect) -> exact::Level {
        match l {
            sdk::Protect::Price(p) => exact::Level::Price(p),
            sdk::Protect::FromEntry(d) => exact::Level::FromEntry(d),
        }
    }

    fn wit_decisions(intents: &[sdk::Intent]) -> Vec<exact::Decision> {
        intents
            .iter()
            .map(|i| exact::Decision {
                intent: wit_intent(i),
                stop_loss: i.stop_loss.map(wit_level),
                take_profit: i.take_profit.map(wit_level),
            })
            .collect()
    }

    fn wit_intent(i: &sdk::Intent) -> Intent {
        {
            Intent {
                bar_index: i.bar_index,
                symbol: i.symbol,
                action: match i.action {
                    sdk::Action::TargetWeight(x) => w::Action::TargetWeight(x),
                    sdk::Action::TargetQuantity(x) => w::Action::TargetQuantity(x),
                    sdk::Action::Market { side, quantity } => w::Action::Market(w::MarketOrder {
                        side: wside(side),
                        quantity,
                    }),
                    sdk::Action::Limit {
                        side,
                        quantity,
                        price,
                    } => w::Action::Limit(w::LimitOrder {
                        side: wside(side),
                        quantity,
                        price,
                    }),
                    sdk::Action::Close => w::Action::Close,
                },
                stop_loss: None,
                take_profit: None,
                reason: i.reason.clone(),
            }
        }
    }

    pub fn snapshot<S: Strategy>(runner: &Runner<S>) -> Result<Vec<u8>, StrategyError> {
        runner
            .snapshot()
            .map_err(|message| StrategyError { message })
    }

    pub fn restore<S: Strategy>(
        runner: &mut Runner<S>,
        from_version: String,
        state: Vec<u8>,
    ) -> Result<(), StrategyError> {
        runner
            .restore(&from_version, &state)
            .map_err(|message| StrategyError { message })
    }
}
