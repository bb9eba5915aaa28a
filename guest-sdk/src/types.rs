//! The strategy-facing vocabulary: plain Rust mirrors of the WIT types.
//!
//! Authors never see the generated bindings; these types are what the
//! [`Strategy`](crate::Strategy) hooks receive and produce, natively and in
//! WebAssembly alike.

use serde::{Deserialize, Serialize};

/// Index of a symbol in the run's symbol table (see [`Ctx::symbol`](crate::Ctx::symbol)).
pub type SymbolId = u32;

/// One OHLCV bar. `time_ms` is the UTC open time in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Which symbol this bar belongs to.
    pub symbol: SymbolId,
    /// Open time, UTC milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// First traded price of the interval.
    pub open: f64,
    /// Highest traded price.
    pub high: f64,
    /// Lowest traded price.
    pub low: f64,
    /// Last traded price.
    pub close: f64,
    /// Traded volume, in units of the instrument.
    pub volume: f64,
}

/// Direction of an order or a fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// Increase the position (or reduce a short).
    Buy,
    /// Decrease the position (or open a short).
    Sell,
}

/// What an intent asks the host to do with a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// Hold this signed fraction of equity.
    TargetWeight(f64),
    /// Hold exactly this signed quantity.
    TargetQuantity(f64),
    /// Trade at the next bar's open.
    Market {
        /// Buy or sell.
        side: Side,
        /// Positive quantity.
        quantity: f64,
    },
    /// Trade at `price` or better from the next bar on.
    Limit {
        /// Buy or sell.
        side: Side,
        /// Positive quantity.
        quantity: f64,
        /// Limit price.
        price: f64,
    },
    /// Flatten the symbol and cancel its open orders.
    Close,
}

/// Where a stop-loss or take-profit sits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Protect {
    /// At this price.
    Price(f64),
    /// This distance from the position's average entry price, resolved by
    /// the host after every fill: below a long's entry for a stop-loss and
    /// above it for a take-profit, mirrored for a short.
    FromEntry(f64),
}

impl Protect {
    /// The price for a position in `direction` (±1) entered at `entry`, as
    /// the host resolves it.
    pub fn resolve(self, entry: f64, direction: f64, stop: bool) -> f64 {
        match self {
            Protect::Price(p) => p,
            Protect::FromEntry(d) if stop => entry - direction * d,
            Protect::FromEntry(d) => entry + direction * d,
        }
    }
}

/// A request to the host. The host's risk engine decides what becomes an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// Index of the bar (within one delivery) on whose close it was decided.
    pub bar_index: u32,
    /// The symbol it concerns.
    pub symbol: SymbolId,
    /// What to do.
    pub action: Action,
    /// Protective stop for the resulting position.
    pub stop_loss: Option<Protect>,
    /// Profit target for the resulting position.
    pub take_profit: Option<Protect>,
    /// Free text kept in the journal.
    pub reason: String,
}

/// An execution reported by the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    /// Host-assigned order id.
    pub order_id: u64,
    /// Symbol traded.
    pub symbol: SymbolId,
    /// Direction.
    pub side: Side,
    /// Quantity executed (positive).
    pub quantity: f64,
    /// Execution price.
    pub price: f64,
    /// Commission charged.
    pub commission: f64,
    /// Time of the bar that filled it.
    pub time_ms: i64,
    /// `strategy`, `stop-loss`, `take-profit` or `risk-flatten`.
    pub origin: String,
}

/// A refusal from the host, naming the rule and the values it compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// Symbol of the refused intent.
    pub symbol: SymbolId,
    /// Rule name, e.g. `max-position`.
    pub rule: String,
    /// Explanation with the values.
    pub detail: String,
    /// Time of the bar it was refused on.
    pub time_ms: i64,
}

/// Something the host tells the strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// An order (partly) executed.
    Filled(Fill),
    /// An intent was refused.
    Rejected(Rejection),
    /// An open order was cancelled.
    Cancelled(u64),
}

/// A position as the host sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Symbol.
    pub symbol: SymbolId,
    /// Signed quantity.
    pub quantity: f64,
    /// Average entry price.
    pub average_price: f64,
    /// Marked at the last close.
    pub unrealized_pnl: f64,
}

/// Read-only account view.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Portfolio {
    /// Cash balance.
    pub cash: f64,
    /// Cash plus marked positions.
    pub equity: f64,
    /// Open positions.
    pub positions: Vec<Position>,
}

/// Log severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Very detailed.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something odd.
    Warn,
    /// Something wrong.
    Error,
}

/// How bars are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// One bar per call; fills arrive before the next bar.
    #[default]
    PerBar,
    /// Many bars per call; feedback arrives a batch later.
    Batched,
}

/// A parameter value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ParamValue {
    /// Whole number.
    Integer(i64),
    /// Real number.
    Float(f64),
    /// Flag.
    Boolean(bool),
    /// Text.
    Text(String),
}

/// Shown as the value it is: `2.0`, `3`, `true`, `"fast"`.
impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Integer(v) => write!(f, "{v}"),
            ParamValue::Float(v) if v.fract() == 0.0 && v.is_finite() => write!(f, "{v:.1}"),
            ParamValue::Float(v) => write!(f, "{v}"),
            ParamValue::Boolean(v) => write!(f, "{v}"),
            ParamValue::Text(v) => write!(f, "{v:?}"),
        }
    }
}

impl From<f64> for ParamValue {
    fn from(v: f64) -> Self {
        ParamValue::Float(v)
    }
}
impl From<i64> for ParamValue {
    fn from(v: i64) -> Self {
        ParamValue::Integer(v)
    }
}
impl From<i32> for ParamValue {
    fn from(v: i32) -> Self {
        ParamValue::Integer(v.into())
    }
}
impl From<bool> for ParamValue {
    fn from(v: bool) -> Self {
        ParamValue::Boolean(v)
    }
}
impl From<&str> for ParamValue {
    fn from(v: &str) -> Self {
        ParamValue::Text(v.into())
    }
}
impl From<String> for ParamValue {
    fn from(v: String) -> Self {
        ParamValue::Text(v)
    }
}

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// Whole number.
    Integer,
    /// Real number.
    Float,
    /// Flag.
    Boolean,
    /// Text.
    Text,
}

/// A declared parameter. Build with [`ParamSpec::integer`] and friends.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// Name used on the command line (`--param name=value`).
    pub name: String,
    /// Type.
    pub ty: ParamType,
    /// Value when the user gives none.
    pub default: ParamValue,
    /// Inclusive lower bound (numeric types).
    pub min: Option<f64>,
    /// Inclusive upper bound (numeric types).
    pub max: Option<f64>,
    /// One-line description.
    pub doc: String,
}

impl ParamSpec {
    fn new(name: &str, ty: ParamType, default: ParamValue) -> Self {
        Self {
            name: name.into(),
            ty,
            default,
            min: None,
            max: None,
            doc: String::new(),
        }
    }
    /// An integer parameter.
    pub fn integer(name: &str, default: i64) -> Self {
        Self::new(name, ParamType::Integer, ParamValue::Integer(default))
    }
    /// A float parameter.
    pub fn float(name: &str, default: f64) -> Self {
        Self::new(name, ParamType::Float, ParamValue::Float(default))
    }
    /// A boolean parameter.
    pub fn boolean(name: &str, default: bool) -> Self {
        Self::new(name, ParamType::Boolean, ParamValue::Boolean(default))
    }
    /// A text parameter.
    pub fn text(name: &str, default: &str) -> Self {
        Self::new(name, ParamType::Text, ParamValue::Text(default.into()))
    }
    /// Inclusive allowed range; the host refuses values outside it.
    pub fn range(mut self, min: f64, max: f64) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }
    /// Documentation shown by the host.
    pub fn doc(mut self, doc: &str) -> Self {
        self.doc = doc.into();
        self
    }
}

/// What a strategy declares about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    /// Strategy name, e.g. `sma-cross`.
    pub name: String,
    /// Semantic version of the strategy.
    pub version: String,
    /// Declared parameters.
    pub params: Vec<ParamSpec>,
    /// Bar delivery mode.
    pub delivery: Delivery,
}

impl Description {
    /// A description with no parameters and per-bar delivery.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            params: Vec::new(),
            delivery: Delivery::PerBar,
        }
    }
    /// Declare a parameter.
    pub fn param(mut self, spec: ParamSpec) -> Self {
        self.params.push(spec);
        self
    }
    /// Ask for batched delivery (no per-bar feedback needed).
    pub fn batched(mut self) -> Self {
        self.delivery = Delivery::Batched;
        self
    }
}

/// A refusal of the parameters, shown to the user verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitError {
    /// The parameter at fault, if any.
    pub param: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl InitError {
    /// An error about one parameter.
    pub fn param(name: &str, message: impl Into<String>) -> Self {
        Self {
            param: Some(name.into()),
            message: message.into(),
        }
    }
    /// An error about the configuration as a whole.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            param: None,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.param {
            Some(p) => write!(f, "parameter `{p}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for InitError {}
