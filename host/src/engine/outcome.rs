//! What a run yields: its books, counts, refusals by rule, state changes and
//! whether it faulted.

use super::*;

/// Why a run stopped early.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultReport {
    /// Sequence number of the bar being processed.
    pub seq: u64,
    /// That bar.
    pub bar: Bar,
    /// The fault.
    pub fault: runtime::Fault,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The books at the end.
    pub ledger: Ledger,
    /// (time, equity) after each distinct bar time.
    pub equity_curve: Vec<(i64, f64)>,
    /// Bars processed.
    pub bars: u64,
    /// Bars during which at least one position was open.
    pub bars_in_market: u64,
    /// Intents received.
    pub intents: u64,
    /// Orders sent.
    pub orders: u64,
    /// Of [`orders`](Self::orders), the stop-losses and take-profits the
    /// host placed to keep a position protected (every re-size or re-price
    /// is a new one).
    pub protective_orders: u64,
    /// Intents refused.
    pub refusals: u64,
    /// Intents approved (that became an order).
    pub approved: u64,
    /// Refusals by rule, most frequent first: (rule, count, first detail).
    pub refusals_by_rule: Vec<RuleCount>,
    /// Every change of trading state, with the time of its bar.
    pub state_changes: Vec<(i64, StateChange)>,
    /// Final trading state.
    pub state: TradingState,
    /// Set when the strategy faulted and the run stopped.
    pub fault: Option<FaultReport>,
    /// An operator's decision on the fault could not be carried out (the
    /// serving version could not snapshot, or the next refused the state):
    /// why. The run ended at the fault.
    pub after_fault_refused: Option<String>,
    /// Faults the run went on past by an operator's decision: still faults
    /// of the version, counted in its evidence.
    pub faults_continued: u64,
    /// The strategy was handed several bars in one call (batched delivery),
    /// so it could read bars after the one it tagged a decision with: the
    /// run's results may contain look-ahead and are no evidence for a gate.
    pub lookahead: bool,
}

impl RunOutcome {
    /// A run that has not processed a bar yet, starting with `cash`.
    pub fn empty(cash: f64) -> RunOutcome {
        RunOutcome {
            ledger: Ledger::new(cash, 0),
            equity_curve: Vec::new(),
            bars: 0,
            bars_in_market: 0,
            intents: 0,
            orders: 0,
            protective_orders: 0,
            refusals: 0,
            approved: 0,
            refusals_by_rule: Vec::new(),
            state_changes: Vec::new(),
            state: TradingState::Active,
            fault: None,
            after_fault_refused: None,
            faults_continued: 0,
            lookahead: false,
        }
    }
}

/// How often one rule refused, and what it said the first time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RuleCount {
    /// The rule.
    pub rule: crate::risk::Rule,
    /// Refusals.
    pub count: u64,
    /// Of them, refusals of an exit: an order that only reduced a position.
    #[serde(default)]
    pub exits: u64,
    /// The first refusal's detail, with its values.
    pub first: String,
}

/// Journal failure is the only error a run returns; strategy faults are
/// part of the outcome.
pub type RunResult = Result<RunOutcome, JournalError>;
