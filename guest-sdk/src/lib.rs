//! # sandbar-sdk: write a trading strategy, get a sandboxed plugin
//!
//! A Sandbar strategy is a plain Rust type implementing [`Strategy`]. Every
//! hook has a default body, so a strategy implements only what it uses. One
//! macro, [`export_strategy!`], turns it into a WebAssembly component that the
//! Sandbar host can replay, paper-trade and trade live. The generated WIT
//! bindings stay inside this crate; a strategy never sees them.
//!
//! The same crate compiles natively, so a strategy's own `cargo test` runs it
//! on a `Vec` of bars through [`testing::Harness`], with no WebAssembly.
//!
//! ```
//! use sandbar_sdk::prelude::*;
//!
//! #[derive(Default)]
//! struct SmaCross { fast: PerSymbol<Sma>, slow: PerSymbol<Sma>, cross: PerSymbol<Cross>, periods: (usize, usize) }
//!
//! impl Strategy for SmaCross {
//!     fn describe() -> Description {
//!         Description::new("sma-cross", "0.1.0")
//!             .param(ParamSpec::integer("fast", 10).range(1.0, 500.0))
//!             .param(ParamSpec::integer("slow", 30).range(2.0, 2000.0))
//!     }
//!     fn init(&mut self, params: &Params, _symbols: &[String]) -> Result<(), InitError> {
//!         self.periods = (params.count("fast")?, params.count("slow")?);
//!         Ok(())
//!     }
//!     fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
//!         let (f, s) = self.periods;
//!         let fast = self.fast.get_or(bar.symbol, || Sma::new(f)).update(bar.close);
//!         let slow = self.slow.get_or(bar.symbol, || Sma::new(s)).update(bar.close);
//!         let (Some(fast), Some(slow)) = (fast, slow) else { return };
//!         match self.cross.get_or(bar.symbol, Cross::default).update(fast, slow) {
//!             Some(Crossing::Over) => { ctx.target_weight(bar.symbol, 0.2).reason("fast crossed over slow"); }
//!             Some(Crossing::Under) => { ctx.close(bar.symbol).reason("fast crossed under slow"); }
//!             None => {}
//!         }
//!     }
//! }
//! // In the plugin crate: sandbar_sdk::export_strategy!(SmaCross);
//! ```
#![deny(missing_docs)]

extern crate self as sandbar_sdk;

mod context;
pub mod fills;
pub mod indicators;
pub mod intents;
pub mod positions;
pub mod protection;
pub mod risk;
pub mod sizing;
pub mod state;
pub mod testing;
mod types;

#[doc(hidden)]
pub mod wit;

pub use context::{Ctx, HostServices, IntentBuilder, Params};
/// The serde the [`state`] helpers use, so a strategy needs no dependency of
/// its own: `#[derive(sandbar_sdk::serde::Serialize, sandbar_sdk::serde::Deserialize)]`
/// with `#[serde(crate = "sandbar_sdk::serde")]`.
pub use serde;
pub use types::*;

/// Version of this SDK, stamped into every plugin's `describe`.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything a strategy usually needs, in one `use`.
pub mod prelude {
    pub use crate::indicators::{
        Atr, BarCounter, Bollinger, BollingerBands, Cross, Crossing, Ema, Highest, Lowest,
        Momentum, PerSymbol, RealizedVol, Roc, Rsi, Sma, Window,
    };
    pub use crate::positions::Positions;
    pub use crate::protection::{Protection, Trail};
    pub use crate::sizing::vol_target_weight;
    pub use crate::{
        Action, Bar, Ctx, Delivery, Description, Event, Fill, InitError, Level, ParamSpec,
        ParamValue, Params, Portfolio, Protect, Rejection, Side, Strategy, SymbolId,
    };
}

/// A trading strategy. Every hook has a default body.
///
/// The host calls [`Strategy::describe`] first, then [`Strategy::init`] once,
/// then delivers events and bars in time order. Intents emitted from a hook
/// are requests: the host's risk engine decides, and the strategy hears the
/// outcome as [`Event`]s.
pub trait Strategy: Default + 'static {
    /// Name, version, parameters and delivery mode.
    fn describe() -> Description;

    /// Read parameters; refuse bad combinations with an [`InitError`].
    fn init(&mut self, params: &Params, symbols: &[String]) -> Result<(), InitError> {
        let _ = (params, symbols);
        Ok(())
    }

    /// A new bar closed. Emit intents through `ctx`.
    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        let _ = (bar, ctx);
    }

    /// A fill, rejection or cancellation since the previous delivery. Called
    /// before the next bar's [`Strategy::on_bar`].
    fn on_event(&mut self, event: &Event, ctx: &mut Ctx<'_>) {
        let _ = (event, ctx);
    }

    /// Serialize state for a hot-swap to another version. See
    /// [`state::encode`]. The default carries no state.
    fn snapshot(&self) -> Result<Vec<u8>, String> {
        Ok(Vec::new())
    }

    /// Continue from a snapshot taken by `from_version`. The default accepts
    /// only an empty state.
    fn restore(&mut self, from_version: &str, state: &[u8]) -> Result<(), String> {
        if state.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "this strategy does not restore state (got {} bytes from version {from_version})",
                state.len()
            ))
        }
    }
}

/// Drives a [`Strategy`]: the one dispatch path shared by the WebAssembly
/// export and the native harness, so both behave identically.
#[doc(hidden)]
pub struct Runner<S: Strategy> {
    strategy: S,
    symbols: Vec<String>,
    intents: Vec<Intent>,
    amends: Vec<(u32, SymbolId, protection::Amend)>,
}

impl<S: Strategy> Default for Runner<S> {
    fn default() -> Self {
        Self {
            strategy: S::default(),
            symbols: Vec::new(),
            intents: Vec::new(),
            amends: Vec::new(),
        }
    }
}

impl<S: Strategy> Runner<S> {
    /// Initialise with resolved parameters and the symbol table.
    pub fn init(&mut self, params: Params, symbols: Vec<String>) -> Result<(), InitError> {
        self.symbols = symbols;
        self.strategy.init(&params, &self.symbols)
    }

    /// Deliver events then bars; returns the intents, tagged by bar index.
    pub fn on_bars(
        &mut self,
        bars: &[Bar],
        events: &[Event],
        host: &dyn HostServices,
    ) -> &[Intent] {
        self.intents.clear();
        self.amends.clear();
        let mut ctx = Ctx {
            symbols: &self.symbols,
            intents: &mut self.intents,
            amends: &mut self.amends,
            bar_index: 0,
            host,
        };
        for event in events {
            self.strategy.on_event(event, &mut ctx);
        }
        for (i, bar) in bars.iter().enumerate() {
            ctx.bar_index = i as u32;
            self.strategy.on_bar(bar, &mut ctx);
        }
        &self.intents
    }

    /// Exact batching (contract 0.2.0): the events, then `first`, then the
    /// bars `next` hands out one at a time, stopping at the first bar the
    /// strategy has intents for. The host knows which bar that is: the last
    /// one `next` gave.
    pub fn on_window(
        &mut self,
        first: &Bar,
        events: &[Event],
        host: &dyn HostServices,
        next: &mut dyn FnMut() -> Option<Bar>,
    ) -> &[Intent] {
        self.intents.clear();
        self.amends.clear();
        let mut ctx = Ctx {
            symbols: &self.symbols,
            intents: &mut self.intents,
            amends: &mut self.amends,
            bar_index: 0,
            host,
        };
        for event in events {
            self.strategy.on_event(event, &mut ctx);
        }
        let mut bar = *first;
        loop {
            self.strategy.on_bar(&bar, &mut ctx);
            if !ctx.intents.is_empty() || !ctx.amends.is_empty() {
                break;
            }
            match next() {
                Some(b) => bar = b,
                None => break,
            }
        }
        &self.intents
    }

    /// The intents of the last delivery, tagged by bar index.
    pub fn intents(&self) -> &[Intent] {
        &self.intents
    }

    /// The changes to protection alone of the last delivery, tagged by bar
    /// index: (bar index, symbol, change), in the order they were asked.
    pub fn amends(&self) -> &[(u32, SymbolId, protection::Amend)] {
        &self.amends
    }

    /// The strategy's snapshot.
    pub fn snapshot(&self) -> Result<Vec<u8>, String> {
        self.strategy.snapshot()
    }

    /// Restore a snapshot.
    pub fn restore(&mut self, from_version: &str, state: &[u8]) -> Result<(), String> {
        self.strategy.restore(from_version, state)
    }

    /// The strategy itself (for assertions in tests).
    pub fn strategy(&self) -> &S {
        &self.strategy
    }
}

/// The [`Description`] of the crate this is called in: its package name and
/// version (`Cargo.toml`), or a name of your own with the crate's version.
/// Add parameters as usual.
///
/// ```
/// let d = sandbar_sdk::description!().param(sandbar_sdk::ParamSpec::integer("n", 5));
/// assert_eq!((d.name.as_str(), d.version.as_str()), ("sandbar-sdk", env!("CARGO_PKG_VERSION")));
/// let named = sandbar_sdk::description!("my-strategy");
/// assert_eq!(named.name, "my-strategy");
/// ```
#[macro_export]
macro_rules! description {
    () => {
        $crate::Description::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
    };
    ($name:expr) => {
        $crate::Description::new($name, env!("CARGO_PKG_VERSION"))
    };
}

/// Export a [`Strategy`] as the plugin's component.
///
/// Call it once at the root of a `cdylib` crate. On native targets it expands
/// to nothing, so the same crate unit-tests natively.
#[macro_export]
macro_rules! export_strategy {
    ($strategy:ty) => {
        #[cfg(target_family = "wasm")]
        const _: () = {
            struct __SandbarGuest;
            ::std::thread_local! {
                static RUNNER: ::std::cell::RefCell<$crate::Runner<$strategy>> =
                    ::std::cell::RefCell::new(::std::default::Default::default());
            }
            impl $crate::wit::Guest for __SandbarGuest {
                fn describe() -> $crate::wit::Description {
                    $crate::wit::describe::<$strategy>()
                }
                fn init(config: $crate::wit::InitConfig) -> ::std::result::Result<(), $crate::wit::InitError> {
                    RUNNER.with_borrow_mut(|r| $crate::wit::init(r, config))
                }
                fn on_bar(
                    bar: $crate::wit::Bar,
                    events: ::std::vec::Vec<$crate::wit::Event>,
                ) -> ::std::result::Result<::std::vec::Vec<$crate::wit::Intent>, $crate::wit::StrategyError> {
                    RUNNER.with_borrow_mut(|r| $crate::wit::on_bar(r, bar, events))
                }
                fn on_bars(
                    bars: ::std::vec::Vec<$crate::wit::Bar>,
                    events: ::std::vec::Vec<$crate::wit::Event>,
                ) -> ::std::result::Result<::std::vec::Vec<$crate::wit::Intent>, $crate::wit::StrategyError> {
                    RUNNER.with_borrow_mut(|r| $crate::wit::on_bars(r, bars, events))
                }
                fn snapshot() -> ::std::result::Result<::std::vec::Vec<u8>, $crate::wit::StrategyError> {
                    RUNNER.with_borrow(|r| $crate::wit::snapshot(r))
                }
                fn restore(
                    from_version: ::std::string::String,
                    state: ::std::vec::Vec<u8>,
                ) -> ::std::result::Result<(), $crate::wit::StrategyError> {
                    RUNNER.with_borrow_mut(|r| $crate::wit::restore(r, from_version, state))
                }
            }
            impl $crate::wit::ExactGuest for __SandbarGuest {
                fn on_window(
                    first: $crate::wit::Bar,
                    events: ::std::vec::Vec<$crate::wit::Event>,
                    more: bool,
                ) -> ::std::result::Result<::std::vec::Vec<$crate::wit::Decision>, $crate::wit::StrategyError> {
                    RUNNER.with_borrow_mut(|r| $crate::wit::on_window(r, first, events, more))
                }
            }
            impl $crate::wit::ManagedGuest for __SandbarGuest {
                fn on_window(
                    first: $crate::wit::Bar,
                    events: ::std::vec::Vec<$crate::wit::Event>,
                    more: bool,
                ) -> ::std::result::Result<::std::vec::Vec<$crate::wit::Change>, $crate::wit::StrategyError> {
                    RUNNER.with_borrow_mut(|r| $crate::wit::on_managed_window(r, first, events, more))
                }
            }
            $crate::wit::bindings::__export_sandbar_guest!(__SandbarGuest with_types_in $crate::wit::bindings);
        };
    };
}
