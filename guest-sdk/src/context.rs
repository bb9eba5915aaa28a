//! What a hook can reach: intents to emit, the portfolio, the log, the
//! parameters. The same types back the WebAssembly export and the native
//! harness, through the [`HostServices`] seam.

use crate::protection::{Amend, Protection, Trail};
use crate::types::*;

/// The host-side services a strategy may query. Implemented by the wasm glue
/// (host imports) and by [`crate::testing::Harness`].
pub trait HostServices {
    /// Write a log line.
    fn log(&self, level: Level, message: &str);
    /// The whole account view.
    fn portfolio(&self) -> Portfolio;
    /// Signed position in one symbol.
    fn position(&self, symbol: SymbolId) -> f64;
    /// The protective orders resting for one symbol's position (contract
    /// 0.3.0; a host without it has none to show).
    fn protection(&self, symbol: SymbolId) -> Protection {
        let _ = symbol;
        Protection::default()
    }
}

/// Typed access to the parameters the host resolved for this run.
#[derive(Debug, Clone, Default)]
pub struct Params {
    values: Vec<(String, ParamValue)>,
}

impl Params {
    /// Wrap resolved values.
    pub fn new(values: Vec<(String, ParamValue)>) -> Self {
        Self { values }
    }

    /// The raw value of a parameter.
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The value of `name`, or — since the host resolves every declared
    /// parameter — an error that blames the strategy: reading a parameter
    /// `describe()` does not declare is a strategy bug, not a user error.
    fn declared(&self, name: &str) -> Result<&ParamValue, InitError> {
        self.get(name).ok_or_else(|| {
            let declared: Vec<&str> = self.values.iter().map(|(n, _)| n.as_str()).collect();
            InitError::new(format!(
                "strategy reads undeclared parameter {name:?} (declared: {})",
                if declared.is_empty() {
                    "none".to_string()
                } else {
                    declared.join(", ")
                }
            ))
        })
    }

    fn wrong(name: &str, expected: &str, got: &ParamValue) -> InitError {
        InitError::param(name, format!("expected {expected}, got {got}"))
    }

    /// An integer parameter.
    pub fn int(&self, name: &str) -> Result<i64, InitError> {
        match self.declared(name)? {
            ParamValue::Integer(v) => Ok(*v),
            other => Err(Self::wrong(name, "an integer", other)),
        }
    }

    /// An integer parameter that must be a positive count (period, window…).
    pub fn count(&self, name: &str) -> Result<usize, InitError> {
        let v = self.int(name)?;
        usize::try_from(v).ok().filter(|v| *v > 0).ok_or_else(|| {
            InitError::param(name, format!("must be a positive whole number, got {v}"))
        })
    }

    /// A float parameter (integers are accepted and widened).
    pub fn float(&self, name: &str) -> Result<f64, InitError> {
        match self.declared(name)? {
            ParamValue::Float(v) => Ok(*v),
            ParamValue::Integer(v) => Ok(*v as f64),
            other => Err(Self::wrong(name, "a number", other)),
        }
    }

    /// A boolean parameter.
    pub fn boolean(&self, name: &str) -> Result<bool, InitError> {
        match self.declared(name)? {
            ParamValue::Boolean(v) => Ok(*v),
            other => Err(Self::wrong(name, "a boolean", other)),
        }
    }

    /// A text parameter.
    pub fn text(&self, name: &str) -> Result<&str, InitError> {
        match self.declared(name)? {
            ParamValue::Text(v) => Ok(v),
            other => Err(Self::wrong(name, "text", other)),
        }
    }
}

/// The handle a hook receives: emit intents, read the account, log.
pub struct Ctx<'a> {
    pub(crate) symbols: &'a [String],
    pub(crate) intents: &'a mut Vec<Intent>,
    /// Changes to protection alone: (bar index, symbol, change).
    pub(crate) amends: &'a mut Vec<(u32, SymbolId, Amend)>,
    pub(crate) bar_index: u32,
    pub(crate) host: &'a dyn HostServices,
}

impl<'a> Ctx<'a> {
    /// Name of a symbol id (empty if the id is unknown).
    pub fn symbol(&self, id: SymbolId) -> &str {
        self.symbols
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// All symbols of this run, indexed by [`SymbolId`].
    pub fn symbols(&self) -> &[String] {
        self.symbols
    }

    /// The host's signed position in `symbol` as of the last processed bar.
    pub fn position(&self, symbol: SymbolId) -> f64 {
        self.host.position(symbol)
    }

    /// The account as of the last processed bar.
    pub fn portfolio(&self) -> Portfolio {
        self.host.portfolio()
    }

    /// Log through the host (attributed to this plugin, rate-limited).
    pub fn log(&self, level: Level, message: &str) {
        self.host.log(level, message)
    }

    /// The protective orders resting for `symbol`'s position as of the
    /// last processed bar: the stop-loss and take-profit prices (levels from
    /// the entry resolved, a trailing stop as ratcheted so far) — all `None`
    /// when flat. The position's average entry price is in
    /// [`Ctx::portfolio`].
    ///
    /// ```
    /// # use sandbar_sdk::prelude::*;
    /// # use sandbar_sdk::protection::Trail;
    /// fn on_bar(ctx: &mut Ctx<'_>, bar: &Bar) {
    ///     let p = ctx.protection(bar.symbol);
    ///     if let (Some(stop), None) = (p.stop_loss, p.trail) {
    ///         // Once 2 above the stop, trail it 2 behind the best price.
    ///         if bar.close > stop + 2.0 {
    ///             ctx.trail_stop(bar.symbol, Trail::Distance(2.0));
    ///         }
    ///     }
    /// }
    /// ```
    pub fn protection(&self, symbol: SymbolId) -> Protection {
        self.host.protection(symbol)
    }

    fn amend(&mut self, symbol: SymbolId, change: Amend) {
        self.amends.push((self.bar_index, symbol, change));
    }

    /// Move the stop-loss of `symbol`'s position to `price` (a trailing
    /// stop stops trailing); its take-profit stays. Applies to the position
    /// held, or to the one an intent of the same bar asks for (else it is
    /// refused, heard as a rejection).
    pub fn move_stop(&mut self, symbol: SymbolId, price: f64) {
        self.amend(symbol, Amend::StopLoss(Protect::Price(price)));
    }

    /// Move the stop-loss to `distance` from the position's average entry
    /// price (below a long's, above a short's), resolved after every fill.
    pub fn move_stop_from_entry(&mut self, symbol: SymbolId, distance: f64) {
        self.amend(symbol, Amend::StopLoss(Protect::FromEntry(distance)));
    }

    /// Make the stop-loss a trailing stop the host owns: from this bar's
    /// close it follows the best price (the highest high of a long, the
    /// lowest low of a short) at `trail`, and only ever moves toward the
    /// price. The bar that moves the best price moves the stop from the
    /// next bar on.
    pub fn trail_stop(&mut self, symbol: SymbolId, trail: Trail) {
        self.amend(symbol, Amend::TrailingStop(trail));
    }

    /// Cancel the stop-loss (a trailing one too); the take-profit stays.
    pub fn cancel_stop(&mut self, symbol: SymbolId) {
        self.amend(symbol, Amend::CancelStopLoss);
    }

    /// Move the take-profit to `price`; the stop-loss stays.
    pub fn move_take_profit(&mut self, symbol: SymbolId, price: f64) {
        self.amend(symbol, Amend::TakeProfit(Protect::Price(price)));
    }

    /// Move the take-profit to `distance` from the average entry price.
    pub fn move_take_profit_from_entry(&mut self, symbol: SymbolId, distance: f64) {
        self.amend(symbol, Amend::TakeProfit(Protect::FromEntry(distance)));
    }

    /// Cancel the take-profit; the stop-loss stays.
    pub fn cancel_take_profit(&mut self, symbol: SymbolId) {
        self.amend(symbol, Amend::CancelTakeProfit);
    }

    fn push(&mut self, symbol: SymbolId, action: Action) -> IntentBuilder<'_> {
        self.intents.push(Intent {
            bar_index: self.bar_index,
            symbol,
            action,
            stop_loss: None,
            take_profit: None,
            reason: String::new(),
        });
        IntentBuilder {
            intent: self.intents.last_mut().expect("just pushed"),
        }
    }

    /// Hold `weight` (signed fraction of equity) in `symbol`.
    pub fn target_weight(&mut self, symbol: SymbolId, weight: f64) -> IntentBuilder<'_> {
        self.push(symbol, Action::TargetWeight(weight))
    }

    /// Hold exactly `quantity` (signed) of `symbol`.
    pub fn target_quantity(&mut self, symbol: SymbolId, quantity: f64) -> IntentBuilder<'_> {
        self.push(symbol, Action::TargetQuantity(quantity))
    }

    /// Market buy at the next open.
    pub fn buy(&mut self, symbol: SymbolId, quantity: f64) -> IntentBuilder<'_> {
        self.push(
            symbol,
            Action::Market {
                side: Side::Buy,
                quantity,
            },
        )
    }

    /// Market sell at the next open.
    pub fn sell(&mut self, symbol: SymbolId, quantity: f64) -> IntentBuilder<'_> {
        self.push(
            symbol,
            Action::Market {
                side: Side::Sell,
                quantity,
            },
        )
    }

    /// Limit buy at `price` or lower.
    pub fn buy_limit(&mut self, symbol: SymbolId, quantity: f64, price: f64) -> IntentBuilder<'_> {
        self.push(
            symbol,
            Action::Limit {
                side: Side::Buy,
                quantity,
                price,
            },
        )
    }

    /// Limit sell at `price` or higher.
    pub fn sell_limit(&mut self, symbol: SymbolId, quantity: f64, price: f64) -> IntentBuilder<'_> {
        self.push(
            symbol,
            Action::Limit {
                side: Side::Sell,
                quantity,
                price,
            },
        )
    }

    /// Flatten `symbol` and cancel its open orders.
    pub fn close(&mut self, symbol: SymbolId) -> IntentBuilder<'_> {
        self.push(symbol, Action::Close)
    }
}

/// Adds optional parts to an intent just emitted.
pub struct IntentBuilder<'a> {
    intent: &'a mut Intent,
}

impl IntentBuilder<'_> {
    /// Protective stop at this price.
    pub fn stop_loss(self, price: f64) -> Self {
        self.intent.stop_loss = Some(Protect::Price(price));
        self
    }
    /// Profit target at this price.
    pub fn take_profit(self, price: f64) -> Self {
        self.intent.take_profit = Some(Protect::Price(price));
        self
    }
    /// Protective stop `distance` from the entry: below a long's average
    /// entry price, above a short's, wherever the entry fills (the host
    /// resolves it after every fill of the position). `2.0 * atr` is a stop
    /// two ATRs from the entry.
    pub fn stop_loss_from_entry(self, distance: f64) -> Self {
        self.intent.stop_loss = Some(Protect::FromEntry(distance));
        self
    }
    /// Profit target `distance` from the entry: above a long's average
    /// entry price, below a short's.
    pub fn take_profit_from_entry(self, distance: f64) -> Self {
        self.intent.take_profit = Some(Protect::FromEntry(distance));
        self
    }
    /// Reason recorded in the journal.
    pub fn reason(self, reason: impl Into<String>) -> Self {
        self.intent.reason = reason.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_an_undeclared_parameter_blames_the_strategy() {
        let p = Params::new(vec![
            ("weight".into(), 0.2.into()),
            ("fast".into(), 10.into()),
        ]);
        let e = p.float("wieght").unwrap_err();
        assert_eq!(e.param, None, "not the user's parameter");
        assert_eq!(
            e.to_string(),
            "strategy reads undeclared parameter \"wieght\" (declared: weight, fast)"
        );
    }

    #[test]
    fn values_are_shown_as_values() {
        let p = Params::new(vec![
            ("fast".into(), 2.0.into()),
            ("name".into(), "x".into()),
        ]);
        assert_eq!(
            p.int("fast").unwrap_err().to_string(),
            "parameter `fast`: expected an integer, got 2.0"
        );
        assert_eq!(
            p.boolean("name").unwrap_err().to_string(),
            "parameter `name`: expected a boolean, got \"x\""
        );
    }
}
