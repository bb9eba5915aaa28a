//! The risk engine: the host's last word on every order a strategy asks for.
//!
//! This is the host's own implementation (the host's `risk` module is this
//! module), kept in the SDK so that a strategy's native unit tests apply the
//! very rules a replay applies: [`crate::testing::Harness::with_risk`] runs
//! it. It depends on nothing but `serde`; a new rule goes here, and the
//! host's engine (`host/src/engine/orders.rs`) decides which orders it sees.
//!
//! A check returns a [`Decision`]: approved, or refused with the [`Rule`] and
//! the values it compared. Refusals never resize an order — a strategy
//! cannot get a smaller version of something it was refused.
//!
//! Account-level limits move the deployment between trading states:
//! - **ACTIVE**: every limit applies.
//! - **REDUCING**: only orders that shrink an existing position pass. Entered
//!   when the day's loss reaches `daily_loss_limit` or after
//!   `max_consecutive_losses` losing trades; lifted at the next trading day
//!   (UTC calendar day), which also restarts the losing streak.
//! - **HALTED**: nothing from the strategy passes and the host flattens every
//!   position. Entered when the drawdown from the equity peak reaches
//!   `max_drawdown`; it lasts for the rest of the run (an operator decision).

use serde::{Deserialize, Serialize};

use crate::Side;

/// Limits, from a TOML file and CLI flags. Fractions are of current equity.
///
/// Every limit can be switched off explicitly with the value `none` (or
/// `off`): `--set risk.max_orders_per_day=none`, `max_drawdown = "none"` in
/// TOML. A switched-off limit is stored as its type's "never" value
/// (`f64::INFINITY`, `u32::MAX`, `usize::MAX`) and written back as `none`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskConfig {
    /// Largest notional of one order, in account currency (default: none).
    #[serde(with = "optional_limit")]
    pub max_order_notional: Option<f64>,
    /// Largest position in one symbol, as a fraction of equity (default 0.20).
    #[serde(with = "limit")]
    pub max_position: f64,
    /// Largest Σ |position value|, as a multiple of equity (default 1.0: no leverage).
    #[serde(with = "limit")]
    pub max_gross_exposure: f64,
    /// Most symbols held at once (default 10).
    #[serde(with = "limit")]
    pub max_open_positions: usize,
    /// Most strategy orders per trading day (default 20).
    #[serde(with = "limit")]
    pub max_orders_per_day: u32,
    /// Loss from the day's starting equity that stops new risk for the day (default 0.02).
    #[serde(with = "limit")]
    pub daily_loss_limit: f64,
    /// Drawdown from the equity peak that halts and flattens (default 0.10).
    #[serde(with = "limit")]
    pub max_drawdown: f64,
    /// Losing trades in a row that pause new risk for the day (default 5).
    #[serde(with = "limit")]
    pub max_consecutive_losses: u32,
    /// What a position may lose at its stop-loss, as a fraction of equity
    /// (default: none). The references' rule: never risk more than 1–2% of
    /// equity on one trade. With it set, an order that adds risk needs a
    /// stop-loss, and is refused when |position after it| × |price − stop|
    /// exceeds this share of equity.
    #[serde(with = "limit")]
    pub max_risk_per_trade: f64,
}

/// A limit's type, with the value that means "switched off".
pub trait Switchable: Copy + PartialEq + Serialize + serde::de::DeserializeOwned {
    /// The value no check ever reaches.
    const OFF: Self;
}

impl Switchable for f64 {
    const OFF: f64 = f64::INFINITY;
}
impl Switchable for u32 {
    const OFF: u32 = u32::MAX;
}
impl Switchable for usize {
    const OFF: usize = usize::MAX;
}

/// A number, or the word that switches a limit off.
#[derive(Deserialize)]
#[serde(untagged)]
enum Raw<T> {
    Value(T),
    Word(String),
}

fn off_word<E: serde::de::Error>(word: &str) -> Result<(), E> {
    match word.trim() {
        "none" | "off" => Ok(()),
        other => Err(E::custom(format!(
            "`{other}` is neither a number nor `none` (which switches the limit off)"
        ))),
    }
}

/// (De)serialise a limit that `none` switches off.
mod limit {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Raw, Switchable, off_word};

    pub fn serialize<T: Switchable, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        if *v == T::OFF {
            s.serialize_str("none")
        } else {
            v.serialize(s)
        }
    }

    pub fn deserialize<'de, T: Switchable, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        match Raw::<T>::deserialize(d)? {
            Raw::Value(v) => Ok(v),
            Raw::Word(w) => off_word(&w).map(|()| T::OFF),
        }
    }
}

/// (De)serialise an optional limit: absent or `none` is off.
mod optional_limit {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Raw, off_word};

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => s.serialize_f64(*x),
            None => s.serialize_str("none"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Raw::<f64>::deserialize(d)? {
            Raw::Value(v) => Ok(Some(v)),
            Raw::Word(w) => off_word(&w).map(|()| None),
        }
    }
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            max_order_notional: None,
            max_position: 0.20,
            max_gross_exposure: 1.0,
            max_open_positions: 10,
            max_orders_per_day: 20,
            daily_loss_limit: 0.02,
            max_drawdown: 0.10,
            max_consecutive_losses: 5,
            max_risk_per_trade: f64::OFF,
        }
    }
}

impl RiskConfig {
    /// Every limit switched off (malformed intents are still refused).
    pub fn off() -> Self {
        Self {
            max_order_notional: None,
            max_position: f64::OFF,
            max_gross_exposure: f64::OFF,
            max_open_positions: usize::OFF,
            max_orders_per_day: u32::OFF,
            daily_loss_limit: f64::OFF,
            max_drawdown: f64::OFF,
            max_consecutive_losses: u32::OFF,
            max_risk_per_trade: f64::OFF,
        }
    }

    /// Check the values make sense; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let frac = |name: &str, v: f64, max: f64| {
            if v == f64::INFINITY || (v.is_finite() && v > 0.0 && v <= max) {
                Ok(())
            } else {
                Err(format!("risk.{name} = {v}: must be in (0, {max}], or none"))
            }
        };
        frac("max_position", self.max_position, 100.0)?;
        frac("max_gross_exposure", self.max_gross_exposure, 100.0)?;
        frac("daily_loss_limit", self.daily_loss_limit, 1.0)?;
        frac("max_drawdown", self.max_drawdown, 1.0)?;
        frac("max_risk_per_trade", self.max_risk_per_trade, 1.0)?;
        if let Some(n) = self.max_order_notional
            && !(n.is_finite() && n > 0.0)
        {
            return Err(format!("risk.max_order_notional = {n}: must be positive"));
        }
        Ok(())
    }
}

/// The trading state of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TradingState {
    /// Everything allowed within limits.
    Active,
    /// Only exposure-reducing orders.
    Reducing,
    /// Nothing; positions flattened.
    Halted,
}

/// The rule behind a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The deployment is halted.
    Halted,
    /// The deployment only reduces.
    ReducingOnly,
    /// Per-order notional.
    MaxOrderNotional,
    /// Per-symbol position size.
    MaxPosition,
    /// Gross exposure.
    MaxGrossExposure,
    /// Number of positions.
    MaxOpenPositions,
    /// Orders per day.
    MaxOrdersPerDay,
    /// The intent itself is malformed (bad number, unknown symbol …).
    InvalidIntent,
    /// The loss at the stop-loss (added last: the journal stores rules by
    /// position).
    MaxRiskPerTrade,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 9] = [
        Rule::Halted,
        Rule::ReducingOnly,
        Rule::MaxOrderNotional,
        Rule::MaxPosition,
        Rule::MaxGrossExposure,
        Rule::MaxOpenPositions,
        Rule::MaxOrdersPerDay,
        Rule::InvalidIntent,
        Rule::MaxRiskPerTrade,
    ];

    /// Kebab-case name, as journaled and told to the strategy.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Halted => "halted",
            Rule::ReducingOnly => "reducing-only",
            Rule::MaxOrderNotional => "max-order-notional",
            Rule::MaxPosition => "max-position",
            Rule::MaxGrossExposure => "max-gross-exposure",
            Rule::MaxOpenPositions => "max-open-positions",
            Rule::MaxOrdersPerDay => "max-orders-per-day",
            Rule::InvalidIntent => "invalid-intent",
            Rule::MaxRiskPerTrade => "max-risk-per-trade",
        }
    }
}

/// Why something was refused, with the values compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// The rule.
    pub rule: Rule,
    /// Human-readable values.
    pub detail: String,
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The order may go to the venue.
    Approved,
    /// It may not.
    Refused(Refusal),
}

/// An order the strategy asks for, with the account figures the check needs.
///
/// Exposure is *committed* exposure: positions plus every open strategy
/// order as if it filled. An order is valued at what it can cost — a market
/// order at the reference price (the last close), a limit order at the worse
/// of its limit and the reference price (a buy limit above the market fills
/// now and may cost up to its limit; a sell limit below the market is
/// marketable and fills at the market, not at its limit).
#[derive(Debug, Clone, Copy)]
pub struct Proposal {
    /// Direction.
    pub side: Side,
    /// Positive quantity.
    pub quantity: f64,
    /// Price the order is valued at (see above).
    pub price: f64,
    /// Current signed position in the symbol.
    pub position: f64,
    /// Current equity.
    pub equity: f64,
    /// Committed gross exposure of every *other* symbol.
    pub other_exposure: f64,
    /// Other symbols with a position or an open order that would open one.
    pub open_positions: usize,
    /// The stop-loss price that protects the position after the order
    /// (`None`: no stop), for `max_risk_per_trade`.
    pub stop: Option<f64>,
}

impl Proposal {
    /// Position after the order.
    pub fn resulting(&self) -> f64 {
        let sign = match self.side {
            Side::Buy => 1.0,
            Side::Sell => -1.0,
        };
        self.position + sign * self.quantity
    }
    /// Whether the order only shrinks an existing position (never flips it).
    pub fn reduces(&self) -> bool {
        let r = self.resulting();
        self.position != 0.0
            && r.abs() < self.position.abs()
            && (r == 0.0 || r.signum() == self.position.signum())
    }
}

/// A change of trading state, for the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    /// Previous state.
    pub from: TradingState,
    /// New state.
    pub to: TradingState,
    /// Why, with values.
    pub reason: String,
}

/// Account-currency amounts with two decimals; absurd ones in scientific notation.
fn money(x: f64) -> String {
    if x.abs() >= 1e15 {
        format!("{x:.3e}")
    } else {
        format!("{x:.2}")
    }
}

/// Tiny slack so that a target computed to sit exactly on a limit passes.
const SLACK: f64 = 1e-9;

/// The risk engine of one deployment.
#[derive(Debug, Clone)]
pub struct RiskEngine {
    config: RiskConfig,
    state: TradingState,
    day: Option<i64>,
    day_start_equity: f64,
    peak_equity: f64,
    orders_today: u32,
    loss_streak: u32,
}

impl RiskEngine {
    /// An engine in ACTIVE state.
    pub fn new(config: RiskConfig) -> Self {
        Self {
            config,
            state: TradingState::Active,
            day: None,
            day_start_equity: 0.0,
            peak_equity: 0.0,
            orders_today: 0,
            loss_streak: 0,
        }
    }

    /// Current state.
    pub fn state(&self) -> TradingState {
        self.state
    }

    /// The limits.
    pub fn config(&self) -> &RiskConfig {
        &self.config
    }

    fn transition(&mut self, to: TradingState, reason: String, out: &mut Vec<StateChange>) {
        if self.state != to {
            out.push(StateChange {
                from: self.state,
                to,
                reason,
            });
            self.state = to;
        }
    }

    /// A bar is about to be processed; `equity` (before its fills) is asked
    /// for only when the bar starts a new trading day, which it rolls.
    pub fn begin_bar(
        &mut self,
        time_ms: i64,
        equity: impl FnOnce() -> f64,
        out: &mut Vec<StateChange>,
    ) {
        self.begin_day(time_ms.div_euclid(86_400_000), equity, out);
    }

    /// [`RiskEngine::begin_bar`] for a bar of trading day `day` (a day
    /// number that grows by one a day): a market with sessions rolls its
    /// day at its own midnight, not UTC's (the host's `session` module).
    pub fn begin_day(
        &mut self,
        day: i64,
        equity: impl FnOnce() -> f64,
        out: &mut Vec<StateChange>,
    ) {
        if self.day == Some(day) {
            return;
        }
        let equity = equity();
        self.day = Some(day);
        self.orders_today = 0;
        self.day_start_equity = equity;
        if self.peak_equity == 0.0 {
            self.peak_equity = equity;
        }
        if self.state == TradingState::Reducing {
            self.loss_streak = 0;
            self.transition(TradingState::Active, "new trading day".into(), out);
        }
    }

    /// Capital moved in or out (an account's rebalance): the equity the
    /// day started from and the peak move with it by `factor` (new equity
    /// over old), so a withdrawal is not a loss and a deposit not a gain.
    pub fn rescale(&mut self, factor: f64) {
        if factor.is_finite() && factor > 0.0 {
            self.day_start_equity *= factor;
            self.peak_equity *= factor;
        }
    }

    /// A limit above this engine (an account's daily loss across its
    /// deployments) stops new risk for the rest of the day: ACTIVE becomes
    /// REDUCING until the next trading day; other states stay.
    pub fn reduce(&mut self, reason: String, out: &mut Vec<StateChange>) {
        if self.state == TradingState::Active {
            self.transition(TradingState::Reducing, reason, out);
        }
    }

    /// After a bar's fills and marks: drawdown and daily-loss checks.
    pub fn end_bar(&mut self, equity: f64, out: &mut Vec<StateChange>) {
        self.peak_equity = self.peak_equity.max(equity);
        if self.state == TradingState::Halted {
            return;
        }
        let drawdown = if self.peak_equity > 0.0 {
            1.0 - equity / self.peak_equity
        } else {
            0.0
        };
        if drawdown >= self.config.max_drawdown {
            let reason = format!(
                "max-drawdown: equity {equity:.2} is {:.2}% below peak {:.2} (limit {:.2}%)",
                drawdown * 100.0,
                self.peak_equity,
                self.config.max_drawdown * 100.0
            );
            self.transition(TradingState::Halted, reason, out);
            return;
        }
        let day_loss = if self.day_start_equity > 0.0 {
            1.0 - equity / self.day_start_equity
        } else {
            0.0
        };
        if self.state == TradingState::Active && day_loss >= self.config.daily_loss_limit {
            let reason = format!(
                "daily-loss-limit: equity {equity:.2} is {:.2}% below the day's start {:.2} (limit {:.2}%)",
                day_loss * 100.0,
                self.day_start_equity,
                self.config.daily_loss_limit * 100.0
            );
            self.transition(TradingState::Reducing, reason, out);
        }
    }

    /// A round trip closed with net `pnl`.
    pub fn on_trade(&mut self, pnl: f64, out: &mut Vec<StateChange>) {
        self.loss_streak = if pnl < 0.0 { self.loss_streak + 1 } else { 0 };
        if self.state == TradingState::Active
            && self.loss_streak >= self.config.max_consecutive_losses
        {
            let reason = format!(
                "consecutive-losses: {} losing trades in a row (limit {})",
                self.loss_streak, self.config.max_consecutive_losses
            );
            self.transition(TradingState::Reducing, reason, out);
        }
    }

    /// `max_risk_per_trade`: a position of `position` priced at `price`,
    /// with its stop-loss at `stop`, may lose at most that share of
    /// `equity` there; without a stop it may lose everything, so it is
    /// refused. `None` when within the limit (or the limit is off, or
    /// flat). Checked on every order that adds risk, and on every change
    /// to a position's stop.
    pub fn stop_risk(
        &self,
        position: f64,
        price: f64,
        stop: Option<f64>,
        equity: f64,
    ) -> Option<Refusal> {
        let max = self.config.max_risk_per_trade;
        if !max.is_finite() || position == 0.0 {
            return None;
        }
        let limit = max * equity;
        let Some(stop) = stop.filter(|s| s.is_finite()) else {
            return Some(Refusal {
                rule: Rule::MaxRiskPerTrade,
                detail: format!(
                    "no stop-loss: the loss of a position of {position} is unbounded (limit {:.2}% of equity)",
                    max * 100.0
                ),
            });
        };
        let risk = position.abs() * (price - stop).abs();
        (risk > limit * (1.0 + SLACK) + SLACK).then(|| Refusal {
            rule: Rule::MaxRiskPerTrade,
            detail: format!(
                "a loss of {} at the stop {stop} would exceed {:.2}% of equity {equity:.2} = {limit:.2}",
                money(risk),
                max * 100.0
            ),
        })
    }

    /// Decide on a strategy order. Approval counts toward the day's orders.
    pub fn check(&mut self, p: &Proposal) -> Decision {
        let c = &self.config;
        let refuse = |rule, detail: String| Decision::Refused(Refusal { rule, detail });
        // NaN compares false with every limit: refuse what cannot be sized
        // before any comparison could wave it through.
        let sizable = p.quantity.is_finite()
            && p.quantity > 0.0
            && p.price.is_finite()
            && p.price > 0.0
            && p.equity.is_finite()
            && p.position.is_finite();
        if !sizable {
            return refuse(
                Rule::InvalidIntent,
                format!(
                    "cannot be sized: quantity {} at price {} with equity {}",
                    p.quantity, p.price, p.equity
                ),
            );
        }
        let reduces = p.reduces();
        match self.state {
            TradingState::Halted => {
                return refuse(
                    Rule::Halted,
                    "trading is halted after the max-drawdown limit".into(),
                );
            }
            TradingState::Reducing if !reduces => {
                return refuse(
                    Rule::ReducingOnly,
                    format!(
                        "only exposure-reducing orders pass; position {} would become {}",
                        p.position,
                        p.resulting()
                    ),
                );
            }
            _ => {}
        }
        // An order that only reduces exposure (an exit, a stop, a cut back)
        // is never refused by a count, notional, position or exposure
        // limit: refusing it would keep risk the strategy asked to shed.
        // It still counts toward the day's orders.
        if !reduces && self.orders_today >= c.max_orders_per_day {
            return refuse(
                Rule::MaxOrdersPerDay,
                format!(
                    "{} orders already today (limit {})",
                    self.orders_today, c.max_orders_per_day
                ),
            );
        }
        if !reduces {
            let notional = p.quantity * p.price;
            if let Some(max) = c.max_order_notional
                && notional > max * (1.0 + SLACK)
            {
                return refuse(
                    Rule::MaxOrderNotional,
                    format!("order notional {} exceeds {max:.2}", money(notional)),
                );
            }
            let resulting_value = p.resulting().abs() * p.price;
            let max_value = c.max_position * p.equity;
            if resulting_value > max_value * (1.0 + SLACK) + SLACK {
                return refuse(
                    Rule::MaxPosition,
                    format!(
                        "position value {} would exceed {:.0}% of equity {:.2} = {max_value:.2}",
                        money(resulting_value),
                        c.max_position * 100.0,
                        p.equity
                    ),
                );
            }
            if p.position == 0.0 && p.open_positions >= c.max_open_positions {
                return refuse(
                    Rule::MaxOpenPositions,
                    format!(
                        "{} positions open (limit {})",
                        p.open_positions, c.max_open_positions
                    ),
                );
            }
            if let Some(r) = self.stop_risk(p.resulting(), p.price, p.stop, p.equity) {
                return Decision::Refused(r);
            }
            let gross_after = p.other_exposure + resulting_value;
            let max_gross = c.max_gross_exposure * p.equity;
            if gross_after > max_gross * (1.0 + SLACK) + SLACK {
                return refuse(
                    Rule::MaxGrossExposure,
                    format!(
                        "gross exposure {} would exceed {:.2} × equity = {max_gross:.2}",
                        money(gross_after),
                        c.max_gross_exposure
                    ),
                );
            }
        }
        self.orders_today += 1;
        Decision::Approved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buy(quantity: f64, position: f64) -> Proposal {
        Proposal {
            side: Side::Buy,
            quantity,
            price: 10.0,
            position,
            equity: 1000.0,
            other_exposure: 0.0,
            open_positions: 0,
            stop: None,
        }
    }

    #[test]
    fn max_risk_per_trade_weighs_the_loss_at_the_stop_and_needs_a_stop() {
        let mut r = RiskEngine::new(RiskConfig {
            max_risk_per_trade: 0.01, // 10 of an equity of 1,000
            max_position: 1.0,
            ..RiskConfig::default()
        });
        let with = |stop: Option<f64>| Proposal {
            stop,
            ..buy(10.0, 0.0)
        };
        // 10 units, 1 from the stop: a loss of 10, exactly the limit.
        assert_eq!(r.check(&with(Some(9.0))), Decision::Approved);
        let Decision::Refused(far) = r.check(&with(Some(8.0))) else {
            panic!("a loss of 20 passed")
        };
        assert_eq!(far.rule, Rule::MaxRiskPerTrade);
        assert_eq!(
            far.detail,
            "a loss of 20.00 at the stop 8 would exceed 1.00% of equity 1000.00 = 10.00"
        );
        let Decision::Refused(none) = r.check(&with(None)) else {
            panic!("no stop passed")
        };
        assert!(none.detail.starts_with("no stop-loss"), "{}", none.detail);
        // Adding to a position counts the whole position after the order.
        assert_eq!(
            rule(r.check(&Proposal {
                stop: Some(9.5),
                ..buy(10.0, 15.0)
            })),
            Some(Rule::MaxRiskPerTrade)
        );
        // An exit needs no stop; with the limit off nothing does.
        let exit = Proposal {
            side: Side::Sell,
            ..buy(5.0, 10.0)
        };
        assert_eq!(r.check(&exit), Decision::Approved);
        let mut off = RiskEngine::new(RiskConfig {
            max_position: 1.0,
            ..RiskConfig::default()
        });
        assert_eq!(off.check(&with(None)), Decision::Approved);
    }

    fn rule(d: Decision) -> Option<Rule> {
        match d {
            Decision::Approved => None,
            Decision::Refused(r) => Some(r.rule),
        }
    }

    #[test]
    fn none_switches_a_limit_off_and_is_written_back_as_none() {
        #[derive(Deserialize, Serialize)]
        struct Run {
            risk: RiskConfig,
        }
        let run: Run = toml::from_str(
            "[risk]\nmax_orders_per_day = \"none\"\nmax_drawdown = \"off\"\nmax_order_notional = \"none\"\nmax_position = 0.5",
        )
        .unwrap();
        let r = run.risk;
        assert_eq!(r.max_orders_per_day, u32::MAX);
        assert_eq!(r.max_drawdown, f64::INFINITY);
        assert_eq!((r.max_order_notional, r.max_position), (None, 0.5));
        assert!(r.validate().is_ok());
        let json = serde_json::to_value(r).unwrap();
        assert_eq!(json["max_orders_per_day"], "none");
        assert_eq!(json["max_drawdown"], "none");
        assert_eq!(json["max_position"], 0.5);
        let mut engine = RiskEngine::new(RiskConfig {
            max_orders_per_day: u32::MAX,
            ..RiskConfig::default()
        });
        for _ in 0..1000 {
            assert_eq!(rule(engine.check(&buy(1.0, 0.0))), None);
        }
    }

    #[test]
    fn position_limit_refuses_without_resizing_and_passes_on_the_limit() {
        let mut r = RiskEngine::new(RiskConfig::default());
        assert_eq!(rule(r.check(&buy(20.0, 0.0))), None, "exactly 20% passes");
        assert_eq!(rule(r.check(&buy(20.1, 0.0))), Some(Rule::MaxPosition));
    }

    #[test]
    fn reducing_state_only_lets_reductions_through() {
        let mut r = RiskEngine::new(RiskConfig::default());
        let mut out = Vec::new();
        r.begin_bar(0, || 1000.0, &mut out);
        r.end_bar(975.0, &mut out);
        assert_eq!(r.state(), TradingState::Reducing);
        assert!(out[0].reason.starts_with("daily-loss-limit"));
        assert_eq!(rule(r.check(&buy(1.0, 0.0))), Some(Rule::ReducingOnly));
        let sell = Proposal {
            side: Side::Sell,
            ..buy(5.0, 10.0)
        };
        assert_eq!(rule(r.check(&sell)), None);
        let flip = Proposal {
            side: Side::Sell,
            ..buy(15.0, 10.0)
        };
        assert_eq!(rule(r.check(&flip)), Some(Rule::ReducingOnly));
        r.begin_bar(86_400_000, || 975.0, &mut out);
        assert_eq!(r.state(), TradingState::Active);
    }

    #[test]
    fn drawdown_halts_for_good() {
        let mut r = RiskEngine::new(RiskConfig::default());
        let mut out = Vec::new();
        r.begin_bar(0, || 1000.0, &mut out);
        r.end_bar(1100.0, &mut out);
        r.begin_bar(86_400_000, || 1100.0, &mut out);
        r.end_bar(985.0, &mut out);
        assert_eq!(r.state(), TradingState::Halted);
        r.begin_bar(2 * 86_400_000, || 985.0, &mut out);
        assert_eq!(r.state(), TradingState::Halted);
        assert_eq!(rule(r.check(&buy(1.0, 0.0))), Some(Rule::Halted));
    }

    #[test]
    fn losing_streak_pauses_and_orders_per_day_cap() {
        let cfg = RiskConfig {
            max_consecutive_losses: 2,
            max_orders_per_day: 2,
            ..RiskConfig::default()
        };
        let mut r = RiskEngine::new(cfg);
        let mut out = Vec::new();
        r.begin_bar(0, || 1000.0, &mut out);
        r.on_trade(-1.0, &mut out);
        r.on_trade(1.0, &mut out);
        r.on_trade(-1.0, &mut out);
        assert_eq!(r.state(), TradingState::Active);
        assert_eq!(rule(r.check(&buy(1.0, 0.0))), None);
        assert_eq!(rule(r.check(&buy(1.0, 0.0))), None);
        assert_eq!(rule(r.check(&buy(1.0, 0.0))), Some(Rule::MaxOrdersPerDay));
        r.on_trade(-1.0, &mut out);
        assert_eq!(r.state(), TradingState::Reducing);
    }

    #[test]
    fn an_exit_after_the_days_last_entry_is_not_refused_by_the_count() {
        let mut r = RiskEngine::new(RiskConfig {
            max_orders_per_day: 1,
            ..RiskConfig::default()
        });
        assert_eq!(rule(r.check(&buy(1.0, 0.0))), None);
        assert_eq!(rule(r.check(&buy(1.0, 1.0))), Some(Rule::MaxOrdersPerDay));
        let close = Proposal {
            side: Side::Sell,
            ..buy(1.0, 1.0)
        };
        assert_eq!(rule(r.check(&close)), None, "the exit passes");
    }

    proptest::proptest! {
        /// Whatever came before it — any sequence of orders, any limits,
        /// any day — an order that only reduces exposure is approved
        /// unless trading is halted (the host flattens then itself) or it
        /// cannot be sized.
        #[test]
        fn an_order_that_only_reduces_exposure_is_never_refused(
            max_orders in 0u32..5,
            max_position in 0.01f64..1.0,
            max_gross in 0.01f64..2.0,
            max_open in 0usize..3,
            notional_cap in proptest::option::of(1.0f64..500.0),
            script in proptest::collection::vec(
                (proptest::bool::ANY, 0.1f64..50.0, -60.0f64..60.0, 0usize..4, 0.0f64..2000.0),
                1..40,
            ),
        ) {
            let mut r = RiskEngine::new(RiskConfig {
                max_orders_per_day: max_orders,
                max_position,
                max_gross_exposure: max_gross,
                max_open_positions: max_open,
                max_order_notional: notional_cap,
                // A tight loss limit, and no stop on any order below: an
                // exit is never refused for want of one.
                max_risk_per_trade: 0.001,
                ..RiskConfig::default()
            });
            for (buy_side, quantity, position, open_positions, other_exposure) in script {
                let p = Proposal {
                    side: if buy_side { Side::Buy } else { Side::Sell },
                    quantity,
                    price: 10.0,
                    position,
                    equity: 1000.0,
                    other_exposure,
                    open_positions,
                    stop: None,
                };
                let d = r.check(&p);
                if p.reduces() && r.state() != TradingState::Halted {
                    proptest::prop_assert_eq!(d, Decision::Approved, "{:?}", p);
                }
            }
        }
    }

    #[test]
    fn gross_exposure_open_positions_and_notional() {
        let cfg = RiskConfig {
            max_position: 1.0,
            max_gross_exposure: 0.5,
            max_open_positions: 1,
            max_order_notional: Some(100.0),
            ..RiskConfig::default()
        };
        let mut r = RiskEngine::new(cfg);
        assert_eq!(rule(r.check(&buy(11.0, 0.0))), Some(Rule::MaxOrderNotional));
        assert_eq!(
            rule(r.check(&Proposal {
                open_positions: 1,
                ..buy(1.0, 0.0)
            })),
            Some(Rule::MaxOpenPositions)
        );
        assert_eq!(
            rule(r.check(&Proposal {
                other_exposure: 450.0,
                ..buy(6.0, 0.0)
            })),
            Some(Rule::MaxGrossExposure)
        );
    }
}
