//! Orders and venues: what an approved order is, and where it goes.
//!
//! A [`Venue`] receives orders the risk engine approved and reports fills,
//! one at a time. Two implement it: the [`simulated`] venue fills against
//! bars (replays, paper trading); the [`live`] venue sends orders to a real
//! venue through a connector (each exchange's is in `crate::adapters`) and
//! reports what it says between bars, as journaled [`VenueNote`]s. The
//! engine cannot tell them apart; [`order_state`] is a live order's state
//! machine.

use serde::{Deserialize, Serialize};

use crate::data::market::{Bar, SymbolId};

pub mod approved;
pub mod live;
pub mod order_state;
pub mod simulated;

pub use approved::{Approved, Exemption};
pub use simulated::{SimConfig, SimulatedVenue};

/// Direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

impl Side {
    /// +1 for buys, −1 for sells.
    pub fn sign(self) -> f64 {
        match self {
            Side::Buy => 1.0,
            Side::Sell => -1.0,
        }
    }
    /// Its name, as the journal writes it (`buy`, `sell`).
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
    /// The side that trades a signed quantity.
    pub fn of(quantity: f64) -> Side {
        if quantity >= 0.0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }
}

/// The risk rules are the SDK's (`sandbar_sdk::risk`), which speak its `Side`.
impl From<Side> for sandbar_sdk::Side {
    fn from(s: Side) -> sandbar_sdk::Side {
        match s {
            Side::Buy => sandbar_sdk::Side::Buy,
            Side::Sell => sandbar_sdk::Side::Sell,
        }
    }
}

/// How an order executes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderKind {
    /// At the next open.
    Market,
    /// At the price or better.
    Limit(f64),
    /// Protective stop at the price.
    StopLoss(f64),
    /// Protective limit at the price.
    TakeProfit(f64),
    /// A protective stop the venue trails itself (its own trailing-stop
    /// order: Binance `trailingDelta`, Alpaca `trailing_stop`), sent when
    /// the host's trailing stop stood at the price. The venue moves it on
    /// every trade, so the host does not re-place it as it ratchets; the
    /// price is where it stood, and a host holding it (never, while the
    /// venue does) would stop there.
    TrailingStop(f64, sandbar_sdk::protection::Trail),
}

impl OrderKind {
    /// How it waits for its price, in the fill rule every venue and the
    /// SDK's harness share (`sandbar_sdk::fills`).
    pub fn resting(self) -> sandbar_sdk::fills::Resting {
        use sandbar_sdk::fills::Resting;
        match self {
            OrderKind::Market => Resting::Market,
            OrderKind::Limit(p) | OrderKind::TakeProfit(p) => Resting::Limit(p),
            OrderKind::StopLoss(p) | OrderKind::TrailingStop(p, _) => Resting::Stop(p),
        }
    }

    /// Stop-loss and take-profit: protective orders.
    pub fn is_protective(self) -> bool {
        matches!(
            self,
            OrderKind::StopLoss(_) | OrderKind::TakeProfit(_) | OrderKind::TrailingStop(..)
        )
    }

    /// A stop-loss, trailed by the venue or not.
    pub fn is_stop(self) -> bool {
        matches!(self, OrderKind::StopLoss(_) | OrderKind::TrailingStop(..))
    }

    /// Whether and where it executes on `bar` (before slippage).
    pub fn execution(self, side: Side, bar: &Bar) -> Option<sandbar_sdk::fills::Execution> {
        sandbar_sdk::fills::execution(self.resting(), side.into(), bar.open, bar.high, bar.low)
    }
}

/// Why an order exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// From a strategy intent.
    Strategy,
    /// A protective stop.
    StopLoss,
    /// A protective take-profit.
    TakeProfit,
    /// The risk engine flattening after a halt.
    RiskFlatten,
    /// Cut back to the risk limits of a smaller allocation (an account's rebalance).
    Rebalance,
}

impl Origin {
    /// The name used in events and the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Strategy => "strategy",
            Origin::StopLoss => "stop-loss",
            Origin::TakeProfit => "take-profit",
            Origin::RiskFlatten => "risk-flatten",
            Origin::Rebalance => "rebalance",
        }
    }

    /// A stop-loss or take-profit the host placed to protect a position.
    pub fn is_protective(self) -> bool {
        matches!(self, Origin::StopLoss | Origin::TakeProfit)
    }
}

/// An order handed to a venue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Host-assigned id, increasing.
    pub id: u64,
    /// Symbol.
    pub symbol: SymbolId,
    /// Direction.
    pub side: Side,
    /// Remaining quantity (positive).
    pub quantity: f64,
    /// Execution kind.
    pub kind: OrderKind,
    /// Why it exists.
    pub origin: Origin,
    /// Sequence number of the bar it was decided on.
    pub decided_seq: u64,
    /// Time of that bar: the order is eligible only on later bars.
    pub decided_ms: i64,
    /// It may only reduce the position it was placed against, never grow or
    /// flip it (protective orders, the risk flatten, approved reductions).
    pub reduce_only: bool,
}

/// An execution reported by a venue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FillReport {
    /// Order id.
    pub order_id: u64,
    /// Symbol.
    pub symbol: SymbolId,
    /// Direction.
    pub side: Side,
    /// Quantity filled (positive).
    pub quantity: f64,
    /// Price.
    pub price: f64,
    /// Commission.
    pub commission: f64,
    /// Slippage cost versus the reference price.
    pub slippage: f64,
    /// Bar time.
    pub time_ms: i64,
    /// The order's origin.
    pub origin: Origin,
    /// The order is complete (nothing remains open).
    pub done: bool,
}

/// Where orders go: the simulator and the live venue; the engine cannot
/// tell them apart.
pub trait Venue {
    /// Accept an approved order (the only kind there is to give it:
    /// [`Approved`]).
    fn submit(&mut self, order: Approved);
    /// Cancel an open order; returns whether it was open.
    fn cancel(&mut self, id: u64) -> bool;
    /// Ids of open orders on a symbol, oldest first.
    fn open_orders(&self, symbol: SymbolId) -> Vec<&Order>;
    /// A new bar of a symbol, bar `seq` of the run. `position` is the
    /// account's position in that symbol before the bar; reduce-only orders
    /// are held to it.
    fn begin_bar(&mut self, bar: &Bar, seq: u64, position: f64);
    /// The next thing the venue said about an order since it was last
    /// asked (a live venue's acknowledgements, executions, cancels,
    /// rejections), with the fill it brings; asked between bars — before
    /// bar `seq`'s boundary, and whenever the service looks while no bar
    /// comes. One at a time: the engine journals the note and books its
    /// fill (and reacts: a risk state change cancels orders) before the
    /// venue applies the next, so the journal does not depend on how the
    /// answers were grouped when they arrived. The simulated venue has
    /// none: its fills belong to bars.
    fn next_note(&mut self, seq: u64) -> Option<(VenueNote, Option<FillReport>)> {
        let _ = seq;
        None
    }
    /// Whether the venue can take the next bar: a live venue is not while
    /// it reconciles the orders a previous run left open (fills made while
    /// the host was down are booked before the strategy sees another bar).
    fn ready(&self) -> bool {
        true
    }
    /// Signed quantity still able to fill on `symbol` although the host no
    /// longer counts it open: orders whose cancel was asked and not yet
    /// confirmed at a live venue (a cancel can cross a fill). Sizing to a
    /// target counts it, so that a crossed cancel cannot overshoot. The
    /// simulated venue cancels at once: 0.
    fn in_flight(&self, symbol: SymbolId) -> f64 {
        let _ = symbol;
        0.0
    }
    /// Whether stop-losses rest at the venue, which may pull one to make
    /// way for an exit: the engine then checks every bar that each
    /// position's protection is in place. The simulated venue: no.
    fn protection_at_venue(&self) -> bool {
        false
    }
    /// The run trades in `session` only (`crate::session`): the
    /// simulated venue fills on bars inside it; a live venue checks the
    /// stops it holds on bars that may trade. Default: ignored.
    fn follow_session(&mut self, session: &crate::session::Session) {
        let _ = session;
    }
    /// The largest quantity one market order of `symbol` may have at this
    /// venue (Binance: `LOT_SIZE` and `MARKET_LOT_SIZE` `maxQty`, and
    /// `maxNotional` at the last close where `applyMaxToMarket`), read
    /// when the venue connected; `None`: no limit. The risk engine's
    /// flatten and a rebalance's cut go out in parts no larger.
    fn largest_market(&self, symbol: SymbolId) -> Option<f64> {
        let _ = symbol;
        None
    }
    /// Whether the venue trails a stop of `trail` itself for `quantity`
    /// of `symbol` on `side` (its own trailing-stop order; `listed`:
    /// beside a take-profit as one list), read from what the venue said
    /// when it connected. The engine then sends an
    /// [`OrderKind::TrailingStop`] and leaves it in place as the stop
    /// ratchets. The simulated venue: no (the host trails on bars).
    fn trails(
        &self,
        symbol: SymbolId,
        side: Side,
        quantity: f64,
        trail: sandbar_sdk::protection::Trail,
        listed: bool,
    ) -> bool {
        let _ = (symbol, side, quantity, trail, listed);
        false
    }
    /// The engine has placed `symbol`'s protective orders for now (a
    /// stop and a take-profit come one after the other): a live venue
    /// sends them together, as one list where the venue has them.
    fn protection_done(&mut self, symbol: SymbolId) {
        let _ = symbol;
    }
    /// The bar's next fill, in execution order; `None` when the bar has no
    /// more. Fills come one at a time so that the engine books each (and
    /// reacts: a risk state change cancels orders) before the next: an order
    /// cancelled between two calls does not fill.
    fn next_fill(&mut self) -> Option<FillReport>;
    /// Whether `bar` would certainly execute nothing (no open order of its
    /// symbol triggers on it), asked before the bar is processed so that
    /// exact batching can hand the strategy bars on which nothing it could
    /// observe changes. `false` when unsure: that only shortens a window.
    fn quiet(&self, bar: &Bar) -> bool {
        let _ = bar;
        false
    }
}

/// A boxed venue is a venue: the service holds the simulated venue and live
/// ones behind one type.
impl<V: Venue + ?Sized> Venue for Box<V> {
    fn submit(&mut self, order: Approved) {
        (**self).submit(order)
    }
    fn cancel(&mut self, id: u64) -> bool {
        (**self).cancel(id)
    }
    fn open_orders(&self, symbol: SymbolId) -> Vec<&Order> {
        (**self).open_orders(symbol)
    }
    fn begin_bar(&mut self, bar: &Bar, seq: u64, position: f64) {
        (**self).begin_bar(bar, seq, position)
    }
    fn next_note(&mut self, seq: u64) -> Option<(VenueNote, Option<FillReport>)> {
        (**self).next_note(seq)
    }
    fn next_fill(&mut self) -> Option<FillReport> {
        (**self).next_fill()
    }
    fn in_flight(&self, symbol: SymbolId) -> f64 {
        (**self).in_flight(symbol)
    }
    fn protection_at_venue(&self) -> bool {
        (**self).protection_at_venue()
    }
    fn protection_done(&mut self, symbol: SymbolId) {
        (**self).protection_done(symbol)
    }
    fn largest_market(&self, symbol: SymbolId) -> Option<f64> {
        (**self).largest_market(symbol)
    }
    fn trails(
        &self,
        symbol: SymbolId,
        side: Side,
        quantity: f64,
        trail: sandbar_sdk::protection::Trail,
        listed: bool,
    ) -> bool {
        (**self).trails(symbol, side, quantity, trail, listed)
    }
    fn follow_session(&mut self, session: &crate::session::Session) {
        (**self).follow_session(session)
    }
    fn ready(&self) -> bool {
        (**self).ready()
    }
    fn quiet(&self, bar: &Bar) -> bool {
        (**self).quiet(bar)
    }
}

/// One thing a live venue said about an order, as journaled
/// ([`crate::store::journal::Entry::Venue`]). These are *inputs* of a run,
/// like bars: recovery feeds the journaled ones back at the same bars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VenueNote {
    /// The host's order id.
    pub order_id: u64,
    /// What the venue said.
    pub update: order_state::Update,
    /// The order's state after it.
    pub state: order_state::OrderState,
    /// The venue ended the order without the host asking (a rejection, an
    /// expiry, a cancel it made): the reason, told to the strategy as a
    /// cancellation.
    pub ended: Option<String>,
}

/// The client order id a venue is given for order `id` of `deployment`
/// while `version` serves: derived, never random, so that an order re-sent
/// after a crash names the same order and the venue refuses it as a
/// duplicate instead of filling it twice. At most 36 characters of
/// `[a-z0-9-]` (Binance's limit; Alpaca allows 128).
pub fn client_order_id(deployment: &str, version: &str, id: u64) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(deployment.as_bytes());
    h.update([0]);
    h.update(version.as_bytes());
    let hex = crate::digest::hex(&h.finalize());
    format!("sb-{}-{id}", &hex[..12])
}

#[cfg(test)]
mod client_ids {
    use super::client_order_id;

    #[test]
    fn client_order_ids_are_derived_short_and_distinct() {
        let a = client_order_id("btc-sma", "sma-cross@0.1.0", 7);
        assert_eq!(
            a,
            client_order_id("btc-sma", "sma-cross@0.1.0", 7),
            "derived"
        );
        assert!(
            a.len() <= 36 && a.starts_with("sb-") && a.ends_with("-7"),
            "{a}"
        );
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        assert_ne!(a, client_order_id("btc-sma", "sma-cross@0.1.0", 8));
        assert_ne!(a, client_order_id("eth-sma", "sma-cross@0.1.0", 7));
        assert_ne!(a, client_order_id("btc-sma", "sma-cross@0.2.0", 7));
        assert!(client_order_id("x", "y", u64::MAX).len() <= 36);
    }
}
