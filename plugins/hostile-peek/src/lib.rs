//! Fixture: a strategy that tries to trade on the future under exact
//! batching. Written against the raw contract (no SDK), it pulls the *next*
//! bar with `next-bar` before deciding on the current one, and buys when the
//! next close is higher, tagging its intent as decided on the current bar
//! (`bar-index` 0). The host must not be fooled: an intent belongs to the
//! last bar pulled, so the order is placed after the bar it peeked at and
//! fills later still. Its reason names the last bar it read, for the test.
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
        Side, StrategyError,
    };
    use sandbar::strategy0_2_0::window;

    struct Peek;

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
                params: Vec::new(),
                delivery: Delivery::PerBar,
            }
        }
        fn init(_: InitConfig) -> Result<(), InitError> {
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
        fn on_window(first: Bar, _: Vec<Event>) -> Result<Vec<Decision>, StrategyError> {
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
            Ok(Vec::new())
        }
    }

    export!(Peek);
}
