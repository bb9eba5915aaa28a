//! What a journal holds: its entries (every intent, order, fill, refusal, state change and input of a run), the operator's commands, snapshots and the run's header.

use super::*;

/// What a strategy asked for, as journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntentAction {
    /// Hold a fraction of equity.
    TargetWeight(f64),
    /// Hold a quantity.
    TargetQuantity(f64),
    /// Market order.
    Market {
        /// Side.
        side: Side,
        /// Quantity.
        quantity: f64,
    },
    /// Limit order.
    Limit {
        /// Side.
        side: Side,
        /// Quantity.
        quantity: f64,
        /// Limit price.
        price: f64,
    },
    /// Flatten.
    Close,
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Entry {
    /// Bars `first..=last` (sequence numbers) were processed.
    Bars {
        /// First sequence number.
        first: u64,
        /// Last sequence number.
        last: u64,
    },
    /// An intent the strategy returned.
    Intent {
        /// Bar sequence number it was decided on.
        seq: u64,
        /// That bar's time.
        time_ms: i64,
        /// Symbol.
        symbol: String,
        /// What it asked.
        action: IntentAction,
        /// Stop-loss price.
        stop_loss: Option<f64>,
        /// Take-profit price.
        take_profit: Option<f64>,
        /// The strategy's reason.
        reason: String,
        /// Plugin `name@version` that produced it.
        plugin: String,
    },
    /// An order sent to the venue.
    Order {
        /// The order.
        order: Order,
        /// Plugin `name@version` on whose behalf it was placed.
        plugin: String,
    },
    /// A fill reported by the venue (journaled before the strategy hears of it).
    Fill {
        /// Bar sequence number it happened on.
        seq: u64,
        /// The fill.
        fill: FillReport,
        /// Plugin `name@version` whose order it fills.
        plugin: String,
    },
    /// The risk engine or intent validation refused an intent.
    Refusal {
        /// Bar sequence number.
        seq: u64,
        /// Symbol (or the raw id if unknown).
        symbol: String,
        /// The rule.
        rule: Rule,
        /// Values compared.
        detail: String,
        /// Plugin `name@version`.
        plugin: String,
    },
    /// An open order was cancelled.
    Cancel {
        /// Bar sequence number.
        seq: u64,
        /// Order id.
        order_id: u64,
        /// Why.
        reason: String,
    },
    /// The trading state changed.
    State {
        /// Bar sequence number.
        seq: u64,
        /// The change.
        change: StateChange,
    },
    /// The strategy returned a typed error for a delivery (no intents taken).
    StrategyError {
        /// Bar sequence number.
        seq: u64,
        /// Its message.
        message: String,
    },
    /// Another version took over at this bar with the old one's state.
    Swap {
        /// First bar the new version received.
        seq: u64,
        /// Old `name@version`.
        from: String,
        /// New `name@version`.
        to: String,
        /// Size of the state handed over.
        state_bytes: u64,
        /// Who asked (`schedule` for `--swap-at`, else the operator).
        actor: String,
        /// Why.
        reason: String,
    },
    /// A scheduled swap did not happen; the old version kept serving.
    SwapRefused {
        /// Bar of the attempt.
        seq: u64,
        /// Serving `name@version`.
        from: String,
        /// Refused `name@version`.
        to: String,
        /// Why.
        reason: String,
    },
    /// The version before a swap was put back in service.
    Rollback {
        /// Bar from which the restored version serves again.
        seq: u64,
        /// The version taken out of service.
        from: String,
        /// The version restored.
        to: String,
        /// Why (fault, drawdown, operator).
        cause: String,
    },
    /// A swapped-in version outlived its rollback window; the old one is released.
    SwapCommitted {
        /// Bar at which the window closed.
        seq: u64,
        /// The version now permanently in service.
        version: String,
    },
    /// The strategy stopped being called (bars, fills and stops go on).
    Paused {
        /// First bar not delivered.
        seq: u64,
        /// Who (`engine` for the drawdown threshold).
        actor: String,
        /// Why.
        reason: String,
    },
    /// The strategy is called again.
    Resumed {
        /// First bar delivered again.
        seq: u64,
        /// Who.
        actor: String,
        /// Why.
        reason: String,
    },
    /// The deployment faulted; the run stopped here.
    Fault {
        /// Bar sequence number.
        seq: u64,
        /// Full diagnosis.
        message: String,
    },
    /// The portfolio at the end of the run.
    Final {
        /// Cash.
        cash: f64,
        /// Equity.
        equity: f64,
        /// Realised PnL (gross).
        realized: f64,
        /// Commissions paid.
        commissions: f64,
        /// (symbol, quantity, average price) of open positions.
        positions: Vec<(String, f64, f64)>,
    },
    /// An operator's command, applied at this bar boundary. Commands are
    /// inputs of the run like bars: recovery applies them again at the same
    /// bar. What they cause (a swap, a pause) follows as its own entry.
    Command {
        /// Bar boundary it was applied at (before bar `seq`).
        seq: u64,
        /// What was asked.
        action: CommandAction,
        /// Who asked.
        actor: String,
        /// Why.
        reason: String,
    },
    /// The intent just before gives protective levels as distances from
    /// the position's average entry price (contract 0.2.0's `from-entry`);
    /// the host resolves them after every fill.
    FromEntry {
        /// Bar sequence number the intent was decided on.
        seq: u64,
        /// Stop-loss distance below a long's entry (above a short's).
        stop_loss: Option<f64>,
        /// Take-profit distance above a long's entry (below a short's).
        take_profit: Option<f64>,
    },
    /// What a live venue said about an order (format 4): an input of the
    /// run, fed back at the same bar by recovery, journaled before the
    /// fill it brings is booked.
    Venue {
        /// Bar sequence number it was taken in on.
        seq: u64,
        /// The note.
        note: crate::execution::VenueNote,
    },
    /// The kill switch reached a LIVE run between bars (format 4): every
    /// order cancelled, every position closed at the venue, the strategy
    /// paused — bar or no bar. An input of the run: recovery applies it
    /// again after the same `notes` venue notes of bar `seq`.
    Kill {
        /// The bar boundary it came before.
        seq: u64,
        /// Venue notes taken at `seq` before it.
        notes: u32,
        /// Who.
        actor: String,
        /// Why.
        reason: String,
    },
    /// A change to a symbol's protection alone (contract 0.3.0), as the
    /// strategy asked for it on bar `seq` (after that bar's intents).
    Amend {
        /// The bar it was decided on.
        seq: u64,
        /// That bar's open time.
        time_ms: i64,
        /// The symbol.
        symbol: String,
        /// The change.
        change: sandbar_sdk::protection::Amend,
        /// `name@version` that asked.
        plugin: String,
    },
    /// The refusal journaled just before it was of an exit: an order that
    /// only reduced a position (reports tell refused exits from refused
    /// entries; an exit refused is a position the strategy could not close).
    RefusedExit {
        /// Bar sequence number (the refusal's).
        seq: u64,
    },
}

/// An operator command as journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommandAction {
    /// Put `to` in service, restored from the serving version's snapshot.
    Swap {
        /// `name@version`.
        to: String,
    },
    /// Put `to` in service with this state (a promoted shadow's own).
    Promote {
        /// `name@version`.
        to: String,
        /// The state it brought.
        state: Vec<u8>,
    },
    /// Go back to the version the last swap replaced.
    Rollback,
    /// Stop calling the strategy.
    Pause,
    /// Call it again.
    Resume,
    /// Cancel every order and close every position.
    Flatten,
    /// Capital moved in (`amount` > 0) or out by the account the
    /// deployment shares with others: its rebalance computed from every
    /// deployment's daily closes before `as_of_ms`.
    Allocate {
        /// Cash moved in (negative: out).
        amount: f64,
        /// The rebalance's day (UTC ms): the closes before it were used.
        as_of_ms: i64,
    },
    /// A limit above the deployment (its account's daily loss) stops new
    /// risk for the rest of the day.
    Reduce,
    /// Bars opening before `before_ms` are older than the feed allows
    /// (`max_bar_age_secs`): the strategy sees them, but nothing it decides
    /// on them is sent. Journaled, so a re-execution drops the same decisions
    /// whatever the clock says then.
    WarmUp {
        /// Bars with an open time before this only warm the strategy up.
        before_ms: i64,
    },
    /// The run faulted at this bar and an operator decided how it goes on:
    /// `version`, restored from the state the faulting version had before
    /// the faulting call, serves from here. With `skip` (the same version)
    /// the faulting bar is never delivered; otherwise (another version) it
    /// is delivered to the new one. Journaled right after the fault, so a
    /// re-execution takes the same way past it.
    AfterFault {
        /// `name@version` that serves after the fault.
        version: String,
        /// The faulting call is skipped (not delivered again).
        skip: bool,
    },
}

/// A strategy snapshot kept by a write-ahead journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Bars processed when it was taken (the next bar's sequence number).
    pub seq: u64,
    /// `name@version` that produced it.
    pub version: String,
    /// The plugin's bytes.
    pub state: Vec<u8>,
}

impl Entry {
    /// The bar sequence number the entry belongs to, when it has one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Entry::Bars { first, .. } => Some(*first),
            Entry::Intent { seq, .. }
            | Entry::Fill { seq, .. }
            | Entry::Refusal { seq, .. }
            | Entry::Cancel { seq, .. }
            | Entry::State { seq, .. }
            | Entry::StrategyError { seq, .. }
            | Entry::Swap { seq, .. }
            | Entry::SwapRefused { seq, .. }
            | Entry::Rollback { seq, .. }
            | Entry::SwapCommitted { seq, .. }
            | Entry::Paused { seq, .. }
            | Entry::Resumed { seq, .. }
            | Entry::Fault { seq, .. }
            | Entry::Command { seq, .. }
            | Entry::FromEntry { seq, .. }
            | Entry::Venue { seq, .. }
            | Entry::Kill { seq, .. }
            | Entry::Amend { seq, .. }
            | Entry::RefusedExit { seq } => Some(*seq),
            Entry::Order { order, .. } => Some(order.decided_seq),
            Entry::Final { .. } => None,
        }
    }
}

/// Description of a run, stored once per journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// Journal format version.
    pub format: u32,
    /// Version of the host.
    pub sandbar_version: String,
    /// Contract the plugin implements.
    pub contract: String,
    /// Plugin name.
    pub plugin_name: String,
    /// Plugin version.
    pub plugin_version: String,
    /// SDK version the plugin was built with.
    pub sdk_version: String,
    /// SHA-256 of the plugin bytes.
    pub plugin_sha256: String,
    /// Resolved parameters, as `name=value`.
    pub params: Vec<String>,
    /// Risk limits (TOML).
    pub risk: String,
    /// Simulator cost model (TOML).
    pub execution: String,
    /// Sandbox limits (TOML).
    pub sandbox: String,
    /// Data files: (file name, SHA-256, bars).
    pub data: Vec<(String, String, u64)>,
    /// Symbol table.
    pub symbols: Vec<String>,
    /// Starting cash.
    pub initial_cash: f64,
    /// Seed given to the plugin.
    pub seed: u64,
    /// `per-bar` or `batched (n)`.
    pub delivery: String,
    /// Scheduled swaps: `<bar-seq>=<name@version> sha256:<hash>`.
    #[serde(default)]
    pub swaps: Vec<String>,
    /// A service deployment's fixed settings (TOML: run config, feed,
    /// symbols); empty for a replay.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service: String,
}
