//! What an operator can ask of a running engine, and what the engine tells
//! its controller at every bar boundary. Each command takes effect at the
//! next boundary, so nothing ever splits a bar.

use super::driver::StrategyDriver;
use crate::store::journal::CommandAction;

/// What an operator (through the service) can ask of a running engine. Each
/// takes effect at the next bar boundary and is journaled with its actor.
pub enum Command<'a> {
    /// Put another version in service (loaded and initialised beforehand).
    Swap {
        /// The new version (`Send`: it is loaded on another thread).
        driver: Box<dyn StrategyDriver + Send + 'a>,
        /// Its `name@version`.
        label: String,
        /// Who asked.
        actor: String,
        /// Why.
        reason: String,
        /// `None`: restore it from the serving version's snapshot (a normal
        /// swap). `Some(state)`: it already holds this state (a promoted
        /// shadow's own) and serves as it is; the state is journaled so that
        /// recovery can do the same.
        handover: Option<Vec<u8>>,
    },
    /// Send the serving strategy's snapshot (for promoting a shadow).
    Snapshot(std::sync::mpsc::Sender<Result<Vec<u8>, String>>),
    /// Go back to the version the last swap replaced.
    Rollback {
        /// Who asked.
        actor: String,
        /// Why.
        reason: String,
    },
    /// Stop calling the strategy; bars, fills, stops and marks go on.
    Pause {
        /// Who asked.
        actor: String,
        /// Why.
        reason: String,
    },
    /// Call the strategy again.
    Resume {
        /// Who asked.
        actor: String,
        /// Why.
        reason: String,
    },
    /// Cancel every order, close every position, and pause the strategy.
    Flatten {
        /// Who asked.
        actor: String,
        /// Why.
        reason: String,
    },
    /// Move capital in or out (an account's rebalance; journaled).
    Allocate {
        /// Cash moved in (negative: out).
        amount: f64,
        /// The rebalance's day (UTC ms).
        as_of_ms: i64,
        /// Who (`account:<name>`).
        actor: String,
        /// Why (the weights).
        reason: String,
    },
    /// Only exposure-reducing orders for the rest of the day (the account's
    /// daily loss limit).
    Reduce {
        /// Who.
        actor: String,
        /// Why.
        reason: String,
    },
    /// Bars opening before `before_ms` only warm the strategy up: what it
    /// decides on them is dropped before it becomes an intent (a live feed's
    /// bars older than its maximum age: a restart's gap fill, a warm-up from
    /// `start`). The threshold only rises.
    WarmUp {
        /// See [`CommandAction::WarmUp`].
        before_ms: i64,
        /// Who (`feed:<name>`).
        actor: String,
        /// Why (the ages).
        reason: String,
    },
    /// End the run after this bar.
    Stop,
}

impl Command<'_> {
    /// How the command is journaled, if it is an input of the run (a stop or
    /// a snapshot request changes nothing a re-execution must repeat).
    pub(crate) fn journaled(&self) -> Option<(CommandAction, String, String)> {
        let (action, actor, reason) = match self {
            Command::Swap {
                label,
                actor,
                reason,
                handover,
                ..
            } => (
                match handover {
                    None => CommandAction::Swap { to: label.clone() },
                    Some(state) => CommandAction::Promote {
                        to: label.clone(),
                        state: state.clone(),
                    },
                },
                actor,
                reason,
            ),
            Command::Rollback { actor, reason } => (CommandAction::Rollback, actor, reason),
            Command::Pause { actor, reason } => (CommandAction::Pause, actor, reason),
            Command::Resume { actor, reason } => (CommandAction::Resume, actor, reason),
            Command::Flatten { actor, reason } => (CommandAction::Flatten, actor, reason),
            Command::Allocate {
                amount,
                as_of_ms,
                actor,
                reason,
            } => (
                CommandAction::Allocate {
                    amount: *amount,
                    as_of_ms: *as_of_ms,
                },
                actor,
                reason,
            ),
            Command::Reduce { actor, reason } => (CommandAction::Reduce, actor, reason),
            Command::WarmUp {
                before_ms,
                actor,
                reason,
            } => (
                CommandAction::WarmUp {
                    before_ms: *before_ms,
                },
                actor,
                reason,
            ),
            Command::Snapshot(_) | Command::Stop => return None,
        };
        Some((action, actor.clone(), reason.clone()))
    }
}

/// A running engine's state, as its controller sees it at each boundary.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Status {
    /// Next bar to process.
    pub seq: u64,
    /// `name@version` in service.
    pub serving: String,
    /// The version a rollback would return to.
    pub standby: Option<String>,
    /// Equity now.
    pub equity: f64,
    /// Why the strategy is paused, if it is.
    pub paused: Option<String>,
    /// Orders sent so far.
    pub orders: u64,
    /// Round trips closed so far.
    pub trades: usize,
    /// Risk state (`ACTIVE`, `REDUCING`, `HALTED`).
    pub risk_state: String,
    /// Cash.
    pub cash: f64,
    /// Highest equity seen at a bar boundary.
    pub peak_equity: f64,
    /// Open positions: (symbol, quantity, average price).
    pub positions: Vec<(String, f64, f64)>,
    /// Each open position's mark (its symbol's last close) and unrealised
    /// PnL at that mark, in the order of `positions`.
    pub marks: Vec<(f64, f64)>,
    /// The round trips closed so far, won and lost.
    pub record: crate::portfolio::TradeRecord,
    /// Open orders (those the host holds — stops and targets — included).
    pub open_orders: usize,
    /// The symbols with an order at the venue that may still fill (sent and
    /// not ended, a triggered stop on its way): their holdings are in
    /// motion. Host-held stops and targets do not count.
    pub in_motion: Vec<String>,
    /// Sum of |position| × last close.
    pub gross_exposure: f64,
    /// Open time of the last bar processed (UTC ms; `i64::MIN` before the first).
    pub last_bar_ms: i64,
    /// Open time of the bar about to be processed, at a boundary (UTC ms).
    pub next_bar_ms: Option<i64>,
    /// The fraction of its capital a ramping-up deployment trades now.
    pub ramp: Option<f64>,
    /// The capital the books started from, with what an account moved in
    /// or out since: `cash − capital` is what trading paid and received.
    pub capital: f64,
}

/// Feeds commands to a running engine; polled at every bar boundary.
pub trait Controller<'a>: Send {
    /// Commands to apply now, given the engine's status.
    fn poll(&mut self, status: &Status) -> Vec<Command<'a>>;

    /// A bar was processed (the status after it, for whoever watches).
    fn after_bar(&mut self, _status: &Status) {}

    /// The feed ended (the service is shutting down): the serving strategy is
    /// handed over once more (for a last snapshot). `true` flattens every
    /// position before the run ends (journaled as an `engine` command).
    fn finished(&mut self, _status: &Status, _serving: &mut dyn StrategyDriver) -> bool {
        false
    }
}
