//! Fixture: a strategy that tries to trade on the future under exact
//! batching. Written against the raw contract (no SDK), it pulls the *next*
//! bar with `next-bar` before deciding on the current one, and buys when the
//! next close is higher, tagging its intent as decided on the current bar
//! (`bar-index` 0). The host must not be fooled: an intent belongs to the
//! last bar pulled, so the order is placed after the bar it peeked at and
//! fills later still. Its reason names the last bar it read, for the test.
//!
//! With `act_on_end`, it also tries the other leak: when `next-bar` answers
//! none (the next bar ends the window: something will happen to it), it
//! closes its position on the bar it is on. The host must fault it.
#![allow(missing_docs)]

#[cfg(target_family = "wasm")]
mod component {
    wit_bindgen::generate!({
        world: "sandbar:strategy/strategy@0.2.0",
        path: "../../wit",
        generate_all,
    });

    use exports::sandbar::strategy0_1_0::guest::Guest;
    use exports::sandbar::strategy0_2_0::exact::{Decision, Guest as Exact};
    use sandbar::strategy0_1_0::host;
    use sandbar::strategy0_1_0::types::{
        Action, Bar, Delivery, Description, Event, InitConfig, InitError, Intent, MarketOrder,
        ParamSpec, ParamType, ParamValue, Side, StrategyError,
    };
    use sandbar::strategy0_2_0::window;

    struct Peek;

    static ACT_ON_END: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    fn decide(now: &Bar, later: &Bar) -> Vec<Intent> {
        let held = host::position(now.symbol);
        let action = if later.close > now.close && held == 0.0 {
            Action::Market(MarketOrder {
                side: Side::Buy,
                quantity: 1.0,
            })
        } else if later.close < now.close && held > 0.0 {
            Action::Close
        } else {
            return Vec::new();
        };
        vec![Intent {
            bar_index: 0,
            symbol: now.symbol,
            action,
            stop_loss: None,
            take_profit: None,
            reason: format!("read up to {}", later.time_ms),
        }]
    }

    impl Guest for Peek {
        fn describe() -> Description {
            Description {
                name: "hostile-peek".into(),
                version: "0.1.0".into(),
                sdk_version: "0.1.0".into(),
                params: vec![ParamSpec {
                    name: "act_on_end".into(),
                    type_: ParamType::Boolean,
                    default: ParamValue::Boolean(false),
                    min: None,
                    max: None,
                    doc: "close the position when a window ends".into(),
                }],
                delivery: Delivery::PerBar,
            }
        }
        fn init(config: InitConfig) -> Result<(), InitError> {
            let on = config
                .params
                .iter()
                .any(|(k, v)| k == "act_on_end" && matches!(v, ParamValue::Boolean(true)));
            ACT_ON_END.store(on, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        fn on_bar(_: Bar, _: Vec<Event>) -> Result<Vec<Intent>, StrategyError> {
            Ok(Vec::new()) // one bar at a time: nothing to peek at
        }
        fn on_bars(_: Vec<Bar>, _: Vec<Event>) -> Result<Vec<Intent>, StrategyError> {
            Ok(Vec::new())
        }
        fn snapshot() -> Result<Vec<u8>, StrategyError> {
            Ok(Vec::new())
        }
        fn restore(_: String, _: Vec<u8>) -> Result<(), StrategyError> {
            Ok(())
        }
    }

    impl Exact for Peek {
        fn on_window(
            first: Bar,
            _: Vec<Event>,
            _more: bool,
        ) -> Result<Vec<Decision>, StrategyError> {
            let mut now = first;
            // Read ahead, and claim each decision for the bar before.
            while let Some(later) = window::next_bar() {
                let intents = decide(&now, &later);
                if !intents.is_empty() {
                    return Ok(intents
                        .into_iter()
                        .map(|intent| Decision {
                            intent,
                            stop_loss: None,
                            take_profit: None,
                        })
                        .collect());
                }
                now = later;
            }
            let held = host::position(now.symbol);
            if ACT_ON_END.load(std::sync::atomic::Ordering::Relaxed) && held != 0.0 {
                return Ok(vec![Decision {
                    intent: Intent {
                        bar_index: 0,
                        symbol: now.symbol,
                        action: Action::Close,
                        stop_loss: None,
                        take_profit: None,
                        reason: "the window ended: something is coming".into(),
                    },
                    stop_loss: None,
                    take_profit: None,
                }]);
            }
            Ok(Vec::new())
        }
    }

    export!(Peek);
}
