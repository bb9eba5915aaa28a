//! The contract's types as the engine handles them, from either contract version: intents, delivery modes, the account a plugin reads, version checks, and conversions at the sandbox's edge.

use super::*;

/// A strategy's request as the engine handles it, from either contract.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// Index of the bar it was decided on, within the bars of the call.
    pub bar_index: u32,
    /// Symbol.
    pub symbol: u32,
    /// What to do.
    pub action: Action,
    /// Protective stop for the position it opens or changes.
    pub stop_loss: Option<Protect>,
    /// Profit target for the position it opens or changes.
    pub take_profit: Option<Protect>,
    /// Free text, kept in the journal (truncated to 256 bytes).
    pub reason: String,
}

impl From<WitIntent> for Intent {
    fn from(i: WitIntent) -> Self {
        Self {
            bar_index: i.bar_index,
            symbol: i.symbol,
            action: i.action,
            stop_loss: i.stop_loss.map(Protect::Price),
            take_profit: i.take_profit.map(Protect::Price),
            reason: i.reason,
        }
    }
}

impl From<exact::Level> for Protect {
    fn from(l: exact::Level) -> Self {
        match l {
            exact::Level::Price(p) => Protect::Price(p),
            exact::Level::FromEntry(d) => Protect::FromEntry(d),
        }
    }
}

impl From<exact::Decision> for Intent {
    fn from(d: exact::Decision) -> Self {
        Self {
            stop_loss: d.stop_loss.map(Protect::from),
            take_profit: d.take_profit.map(Protect::from),
            ..Intent::from(d.intent)
        }
    }
}

/// A change to protection alone from a call (contract 0.3.0): (bar index,
/// symbol, change).
pub type Amendment = (u32, u32, sandbar_sdk::protection::Amend);

/// How the engine hands bars to a strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// One call per bar; every fill and refusal is heard before the next bar.
    PerBar,
    /// Many bars per call with exactly the outcome of [`Delivery::PerBar`]
    /// (contract 0.2.0's `on-window`; see `wit/strategy.wit`). The default
    /// for a plugin that declares `per-bar` and implements 0.2.0; a 0.1.0
    /// plugin given this mode gets one bar per call.
    Exact,
    /// Many bars per call, decided before any of them is processed: lossy
    /// (the strategy sees a portfolio up to a batch late) and open to
    /// look-ahead. Only on the plugin's own request or `--delivery batched`.
    Batched,
}

impl Delivery {
    /// The mode a plugin gets unless told otherwise: `batched` if it asks
    /// for it, else exact batching when it implements contract 0.2.0, else
    /// per-bar.
    pub fn default_for(declared: DeclaredDelivery, exact: bool) -> Self {
        match declared {
            DeclaredDelivery::Batched => Delivery::Batched,
            DeclaredDelivery::PerBar if exact => Delivery::Exact,
            DeclaredDelivery::PerBar => Delivery::PerBar,
        }
    }

    /// Parse `per-bar`, `exact` or `batched`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "per-bar" => Some(Delivery::PerBar),
            "exact" => Some(Delivery::Exact),
            "batched" => Some(Delivery::Batched),
            _ => None,
        }
    }
}

/// `per-bar`, `exact` or `batched`, as shown and stored.
pub fn delivery_name(d: Delivery) -> &'static str {
    match d {
        Delivery::PerBar => "per-bar",
        Delivery::Exact => "exact",
        Delivery::Batched => "batched",
    }
}

/// `per-bar` or `batched`: what a plugin declares.
pub fn declared_name(d: DeclaredDelivery) -> &'static str {
    match d {
        DeclaredDelivery::PerBar => "per-bar",
        DeclaredDelivery::Batched => "batched",
    }
}

/// Whether a plugin built with sandbar-sdk `sdk_version` speaks this host's
/// contract (SDK 0.1.x); the error says what to do about it.
pub fn check_sdk_version(sdk_version: &str) -> Result<(), String> {
    match semver::Version::parse(sdk_version) {
        Ok(v) if (v.major, v.minor) == (0, 1) => Ok(()),
        Ok(v) => Err(format!(
            "built with sandbar-sdk {v}, but this host speaks {CONTRACT} (sdk 0.1.x); rebuild it with sandbar-sdk 0.1"
        )),
        Err(e) => Err(format!(
            "sdk version {sdk_version:?} is not semantic versioning: {e}"
        )),
    }
}

/// The newest contract this host speaks, for messages.
pub const CONTRACT: &str = "sandbar:strategy@0.3.0";

/// Contract 0.2.0 (exact batching), still served.
pub const CONTRACT_0_2: &str = "sandbar:strategy@0.2.0";

/// The first released contract, still served (per-bar delivery).
pub const CONTRACT_0_1: &str = "sandbar:strategy@0.1.0";

/// Account view the host exposes through the `host` import, updated by the
/// engine before each call.
#[derive(Debug, Clone, Default)]
pub struct AccountView {
    /// Cash.
    pub cash: f64,
    /// Equity.
    pub equity: f64,
    /// Indexed by symbol id: (quantity, average price, unrealised PnL).
    pub positions: Vec<(f64, f64, f64)>,
    /// Indexed by symbol id: the last close the books were marked at.
    pub marks: Vec<f64>,
    /// Indexed by symbol id: the protective orders resting for the
    /// position (contract 0.3.0's `protection.get`; empty: none).
    pub protections: Vec<sandbar_sdk::protection::Protection>,
}

impl AccountView {
    /// Mark `symbol` at `close` as the books would after a bar that changed
    /// nothing else (a bar inside an exact-batching window): the same
    /// arithmetic as the ledger's, so the strategy reads the same bits it
    /// would read in per-bar delivery.
    pub fn mark(&mut self, symbol: u32, close: f64) {
        let i = symbol as usize;
        let (Some(m), Some(p)) = (self.marks.get_mut(i), self.positions.get_mut(i)) else {
            return;
        };
        *m = close;
        if p.0 != 0.0 {
            // `Holding::unrealized` and `Ledger::equity`.
            p.2 = p.0 * (close - p.1);
            self.equity = self.cash
                + self
                    .positions
                    .iter()
                    .zip(&self.marks)
                    .map(|(p, m)| p.0 * m)
                    .sum::<f64>();
        }
    }
}

pub(super) fn wit_bar(b: &crate::data::market::Bar) -> WitBar {
    WitBar {
        symbol: b.symbol,
        time_ms: b.time_ms,
        open: b.open,
        high: b.high,
        low: b.low,
        close: b.close,
        volume: b.volume,
    }
}

/// The contract's action as the SDK spells it: the host reads intents with
/// the SDK's rules (`sandbar_sdk::intents`), as its harness does.
impl From<&Action> for sandbar_sdk::Action {
    fn from(a: &Action) -> sandbar_sdk::Action {
        let side = |s: Side| match s {
            Side::Buy => sandbar_sdk::Side::Buy,
            Side::Sell => sandbar_sdk::Side::Sell,
        };
        match *a {
            Action::TargetWeight(w) => sandbar_sdk::Action::TargetWeight(w),
            Action::TargetQuantity(q) => sandbar_sdk::Action::TargetQuantity(q),
            Action::Market(m) => sandbar_sdk::Action::Market {
                side: side(m.side),
                quantity: m.quantity,
            },
            Action::Limit(l) => sandbar_sdk::Action::Limit {
                side: side(l.side),
                quantity: l.quantity,
                price: l.price,
            },
            Action::Close => sandbar_sdk::Action::Close,
        }
    }
}

/// The contract's direction is the host's (`crate::execution::Side`, the
/// journal's spelling) at the sandbox's edge.
impl From<Side> for crate::execution::Side {
    fn from(s: Side) -> crate::execution::Side {
        match s {
            Side::Buy => crate::execution::Side::Buy,
            Side::Sell => crate::execution::Side::Sell,
        }
    }
}

impl From<crate::execution::Side> for Side {
    fn from(s: crate::execution::Side) -> Side {
        match s {
            crate::execution::Side::Buy => Side::Buy,
            crate::execution::Side::Sell => Side::Sell,
        }
    }
}
