//! What an operator can ask of a running engine, and what the engine tells
//! its controller at every bar boundary. Each command takes effect at the
//! next boundary, so nothing ever splits a bar.

use super::driver::StrategyDriver;

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
        /// Restore it from the serving version's snapshot (a normal swap), or
        /// put it in service with the state it already has (a promoted shadow).
        restore: bool,
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
    /// End the run after this bar.
    Stop,
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
}

/// Feeds commands to a running engine; polled at every bar boundary.
pub trait Controller<'a> {
    /// Commands to apply now, given the engine's status.
    fn poll(&mut self, status: &Status) -> Vec<Command<'a>>;
}
