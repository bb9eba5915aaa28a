//! The pipeline: bar → strategy → intents → risk → orders → venue → fills →
//! ledger → journal → events back to the strategy.
//!
//! The engine is generic over where bars come from ([`Feed`]), where orders
//! go ([`Venue`]), how the strategy runs ([`StrategyDriver`]) and where the
//! journal goes ([`Recorder`]); a replay and a live deployment differ only in
//! those four.
//!
//! Order of work for each bar, so that nothing is decided on information it
//! could not have had and nothing is heard before it is journaled:
//! 1. the trading day rolls (risk);
//! 2. the venue fills open orders against the bar, one fill at a time; each
//!    is journaled, booked (a risk state change it causes takes effect before
//!    the next fill: REDUCING cancels orders that add risk, HALTED cancels
//!    everything and flattens) and queued as an event for the strategy;
//!    protective orders are re-synced to the new position;
//! 3. the bar's close marks the symbol; drawdown and daily-loss limits are
//!    evaluated (a halt cancels everything and flattens);
//! 4. the strategy receives the bar with the queued events and returns
//!    intents, which are validated and risk-checked one by one; approved
//!    ones become orders, eligible from the symbol's next bar.
//!
//! In batched delivery the strategy receives many bars at once (step 4
//! happens first for the whole batch) and its intents, tagged with the bar
//! they were decided on, are applied at step 4 of that bar.

pub mod replay;

use crate::data::feed::Feed;
use crate::data::market::{Bar, SymbolId};
use crate::execution::{FillReport, Order, OrderKind, Origin, Side, Venue};
use crate::portfolio::{Execution, Ledger};
use crate::risk::{Decision, Proposal, RiskConfig, RiskEngine, Rule, StateChange, TradingState};
use crate::sandbox::runtime::{
    self, AccountView, Action, CallError, Delivery, Event, Fill, Instance, Intent, Rejection,
};
use crate::store::journal::{Entry, IntentAction, JournalError, Recorder};

/// How the engine talks to a strategy: a sandboxed instance, or (for
/// benchmarks and tests) a native one.
pub trait StrategyDriver {
    /// The strategy's own version (what `restore` is told it came from).
    fn version(&self) -> String;
    /// The account view the strategy may read during the next call.
    fn view_mut(&mut self) -> &mut AccountView;
    /// Deliver bars and events; append intents to `out`.
    fn on_bars(
        &mut self,
        bars: &[Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> Result<(), CallError>;
    /// The strategy's state, for a hot-swap.
    fn snapshot(&mut self) -> Result<Vec<u8>, CallError>;
    /// Continue from another version's state.
    fn restore(&mut self, from_version: &str, state: &[u8]) -> Result<(), CallError>;
}

impl StrategyDriver for Instance {
    fn version(&self) -> String {
        self.description().version.clone()
    }
    fn view_mut(&mut self) -> &mut AccountView {
        Instance::view_mut(self)
    }
    fn on_bars(
        &mut self,
        bars: &[Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> Result<(), CallError> {
        Instance::on_bars(self, bars, events, out)
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, CallError> {
        Instance::snapshot(self)
    }
    fn restore(&mut self, from_version: &str, state: &[u8]) -> Result<(), CallError> {
        Instance::restore(self, from_version, state)
    }
}

impl<T: StrategyDriver + ?Sized> StrategyDriver for &mut T {
    fn version(&self) -> String {
        (**self).version()
    }
    fn view_mut(&mut self) -> &mut AccountView {
        (**self).view_mut()
    }
    fn on_bars(
        &mut self,
        bars: &[Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> Result<(), CallError> {
        (**self).on_bars(bars, events, out)
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, CallError> {
        (**self).snapshot()
    }
    fn restore(&mut self, from_version: &str, state: &[u8]) -> Result<(), CallError> {
        (**self).restore(from_version, state)
    }
}

/// Another version scheduled to take over at a bar boundary: it receives
/// bar `at_seq` and everything after. Load and instantiate it beforehand, off
/// the hot path; the swap itself is a snapshot and a restore.
pub struct PlannedSwap<'a> {
    /// First bar the new version receives.
    pub at_seq: u64,
    /// The new version, instantiated and initialised.
    pub driver: Box<dyn StrategyDriver + 'a>,
    /// Its `name@version`.
    pub label: String,
}

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

/// The version a swap replaced, kept (with the state it had) until the new
/// one has proven itself for `rollback_window` bars.
struct Standby<'a> {
    driver: Box<dyn StrategyDriver + 'a>,
    label: String,
    since_seq: u64,
    equity_at_swap: f64,
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Starting cash.
    pub initial_cash: f64,
    /// Risk limits.
    pub risk: RiskConfig,
    /// Bars per call in batched delivery.
    pub batch_size: usize,
    /// Delivery mode (normally the plugin's choice).
    pub delivery: Delivery,
    /// `name@version` of the plugin, stamped on journal entries.
    pub plugin_label: String,
    /// After a swap, a fault within this many bars rolls back to the
    /// previous version (default 100).
    pub rollback_window: u64,
    /// After a swap, a drawdown from the equity at the swap beyond this
    /// fraction, within the window, rolls back too (default: none).
    pub rollback_drawdown: Option<f64>,
    /// Drawdown from the equity peak at which the engine pauses the strategy
    /// by itself (a deployment's pause threshold; default: none).
    pub pause_drawdown: Option<f64>,
}

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
    /// Intents refused.
    pub refusals: u64,
    /// Final trading state.
    pub state: TradingState,
    /// Set when the strategy faulted and the run stopped.
    pub fault: Option<FaultReport>,
    /// The strategy was handed several bars in one call (batched delivery),
    /// so it could read bars after the one it tagged a decision with: the
    /// run's results may contain look-ahead and are no evidence for a gate.
    pub lookahead: bool,
}

/// Journal failure is the only error a run returns; strategy faults are
/// part of the outcome.
pub type RunResult = Result<RunOutcome, JournalError>;

/// A position's stop-loss and take-profit. They protect a position in one
/// direction (`direction`, ±1): flat or flipped, they are dropped.
#[derive(Debug, Clone, Default)]
struct Protection {
    stop_loss: Option<f64>,
    take_profit: Option<f64>,
    direction: f64,
    orders: Vec<u64>,
}

/// The price an order is valued at by the risk limits: what it can cost.
fn valuation(kind: OrderKind, reference: f64) -> f64 {
    match kind {
        OrderKind::Limit(p) => p.max(reference),
        _ => reference,
    }
}

/// One deployment's pipeline.
pub struct Engine<'a, V: Venue> {
    cfg: EngineConfig,
    symbols: Vec<String>,
    strategy: Box<dyn StrategyDriver + 'a>,
    label: String,
    standby: Option<Standby<'a>>,
    swaps: std::collections::VecDeque<PlannedSwap<'a>>,
    controller: Option<Box<dyn Controller<'a> + 'a>>,
    paused: Option<String>,
    peak_equity: f64,
    venue: V,
    recorder: &'a mut dyn Recorder,
    risk: RiskEngine,
    ledger: Ledger,
    last_close: Vec<f64>,
    protection: Vec<Protection>,
    next_order_id: u64,
    events: Vec<Event>,
    intents: Vec<Intent>,
    changes: Vec<StateChange>,
    pending_bars: Option<(u64, u64)>,
    now_ms: i64,
    /// Counters and the equity curve accumulate here; the ledger joins at the end.
    out: RunOutcome,
}

/// Largest |target weight| accepted (100× equity); beyond is a malformed intent.
const MAX_WEIGHT: f64 = 100.0;

impl<'a, V: Venue> Engine<'a, V> {
    /// An engine over a symbol table.
    pub fn new(
        cfg: EngineConfig,
        symbols: Vec<String>,
        mut strategy: Box<dyn StrategyDriver + 'a>,
        venue: V,
        recorder: &'a mut dyn Recorder,
    ) -> Self {
        let n = symbols.len();
        let ledger = Ledger::new(cfg.initial_cash, n);
        strategy.view_mut().positions = vec![(0.0, 0.0, 0.0); n];
        Self {
            risk: RiskEngine::new(cfg.risk),
            label: cfg.plugin_label.clone(),
            standby: None,
            swaps: Default::default(),
            controller: None,
            paused: None,
            peak_equity: cfg.initial_cash,
            cfg,
            symbols,
            strategy,
            venue,
            recorder,
            out: RunOutcome {
                ledger: Ledger::new(0.0, 0), // replaced by the real books at the end
                equity_curve: Vec::new(),
                bars: 0,
                bars_in_market: 0,
                intents: 0,
                orders: 0,
                refusals: 0,
                state: TradingState::Active,
                fault: None,
                lookahead: false,
            },
            ledger,
            last_close: vec![f64::NAN; n],
            protection: vec![Protection::default(); n],
            next_order_id: 1,
            events: Vec::new(),
            intents: Vec::new(),
            changes: Vec::new(),
            pending_bars: None,
            now_ms: i64::MIN,
        }
    }

    /// Journal an entry, first closing the open range of plain bars.
    fn record(&mut self, entry: Entry) -> Result<(), JournalError> {
        if let Some((first, last)) = self.pending_bars.take() {
            self.recorder.record(Entry::Bars { first, last })?;
        }
        self.recorder.record(entry)
    }

    fn note_bar(&mut self, seq: u64) -> Result<(), JournalError> {
        match &mut self.pending_bars {
            Some((first, last)) if *last + 1 == seq && seq - *first < 4096 => *last = seq,
            _ => {
                if let Some((first, last)) = self.pending_bars.take() {
                    self.recorder.record(Entry::Bars { first, last })?;
                }
                self.pending_bars = Some((seq, seq));
            }
        }
        Ok(())
    }

    fn symbol_name(&self, s: SymbolId) -> String {
        self.symbols
            .get(s as usize)
            .cloned()
            .unwrap_or_else(|| format!("#{s}"))
    }

    fn flush_changes(&mut self, seq: u64) -> Result<(), JournalError> {
        let changes = std::mem::take(&mut self.changes);
        let (mut halted, mut reducing) = (false, false);
        for change in changes {
            halted |= change.to == TradingState::Halted;
            reducing |= change.to == TradingState::Reducing;
            self.record(Entry::State { seq, change })?;
        }
        if halted {
            self.flatten_all(seq)?;
        } else if reducing {
            // Orders approved while ACTIVE that would add risk must not fill now.
            for s in 0..self.symbols.len() as SymbolId {
                let adding: Vec<u64> = self
                    .venue
                    .open_orders(s)
                    .into_iter()
                    .filter(|o| o.origin == Origin::Strategy && !o.reduce_only)
                    .map(|o| o.id)
                    .collect();
                for id in adding {
                    self.cancel(id, seq, "REDUCING: orders that add risk are cancelled")?;
                }
            }
        }
        Ok(())
    }

    /// Schedule another version to take over at a bar boundary.
    pub fn schedule_swap(&mut self, swap: PlannedSwap<'a>) {
        let at = self.swaps.partition_point(|s| s.at_seq <= swap.at_seq);
        self.swaps.insert(at, swap);
    }

    /// Let a controller steer the run (swaps, rollbacks, pauses, stop).
    pub fn set_controller(&mut self, controller: Box<dyn Controller<'a> + 'a>) {
        self.controller = Some(controller);
    }

    /// Run the whole feed. `progress` is called with the bars done so far.
    pub fn run(mut self, feed: &mut dyn Feed, progress: &mut dyn FnMut(u64)) -> RunResult {
        let batched = self.cfg.delivery == Delivery::Batched;
        let chunk = if batched {
            self.cfg.batch_size.max(1)
        } else {
            4096
        };
        let mut bars: Vec<Bar> = Vec::with_capacity(chunk);
        let mut seq = 0u64;
        'feed: loop {
            bars.clear();
            // Batches end at a scheduled swap, so a swap is always at a boundary.
            let limit = match self.swaps.front() {
                Some(s) if s.at_seq > seq => chunk.min((s.at_seq - seq) as usize),
                _ => chunk,
            };
            if feed.next_batch(&mut bars, limit) == 0 {
                break;
            }
            if batched {
                if !self.boundary(seq, &bars[0])? {
                    break 'feed;
                }
                if self.paused.is_some() {
                    for (i, bar) in bars.iter().enumerate() {
                        self.process_bar(bar, seq + i as u64)?;
                    }
                    seq += bars.len() as u64;
                    progress(seq);
                    continue;
                }
                self.out.lookahead |= bars.len() > 1;
                if !self.deliver_or_roll_back(&bars, seq)? {
                    break 'feed;
                }
                let mut next = 0;
                for (i, bar) in bars.iter().enumerate() {
                    self.process_bar(bar, seq + i as u64)?;
                    // Apply the intents decided on this bar.
                    let start = next;
                    while next < self.intents.len() && self.intents[next].bar_index as usize <= i {
                        next += 1;
                    }
                    self.apply_intents(start..next, bar, seq + i as u64)?;
                }
                self.intents.clear();
            } else {
                for (i, bar) in bars.iter().enumerate() {
                    let s = seq + i as u64;
                    if !self.boundary(s, bar)? {
                        break 'feed;
                    }
                    self.process_bar(bar, s)?;
                    if self.paused.is_some() {
                        continue;
                    }
                    self.update_view();
                    if !self.deliver_or_roll_back(std::slice::from_ref(bar), s)? {
                        break 'feed;
                    }
                    let n = self.intents.len();
                    self.apply_intents(0..n, bar, s)?;
                    self.intents.clear();
                }
            }
            seq += bars.len() as u64;
            progress(seq);
        }
        self.finish()
    }

    /// Between bars: pause on drawdown, carry out a scheduled swap, roll
    /// back on drawdown, commit a swap that outlived its rollback window, and
    /// apply the controller's commands. `false` ends the run.
    fn boundary(&mut self, seq: u64, bar: &Bar) -> Result<bool, JournalError> {
        if let Some(limit) = self.cfg.pause_drawdown
            && self.paused.is_none()
        {
            let equity = self.ledger.equity();
            self.peak_equity = self.peak_equity.max(equity);
            let dd = 1.0 - equity / self.peak_equity;
            if dd >= limit {
                let reason = format!(
                    "drawdown {:.2}% from the peak {:.2} passed the pause threshold {:.2}%",
                    dd * 100.0,
                    self.peak_equity,
                    limit * 100.0
                );
                self.pause(seq, "engine".into(), reason)?;
            }
        }
        if let Some(sb) = &self.standby {
            let equity = self.ledger.equity();
            let dd = if sb.equity_at_swap > 0.0 {
                1.0 - equity / sb.equity_at_swap
            } else {
                0.0
            };
            if let Some(limit) = self.cfg.rollback_drawdown
                && dd >= limit
            {
                let cause = format!(
                    "drawdown since the swap {:.2}% reached the rollback limit {:.2}%",
                    dd * 100.0,
                    limit * 100.0
                );
                self.roll_back(seq, cause)?;
            } else if seq >= sb.since_seq + self.cfg.rollback_window {
                let version = self.label.clone();
                self.standby = None;
                self.record(Entry::SwapCommitted { seq, version })?;
            }
        }
        if self.swaps.front().is_some_and(|p| p.at_seq <= seq) {
            let plan = self.swaps.pop_front().expect("checked");
            if !self.swap(seq, bar, plan, "schedule", "scheduled with --swap-at")? {
                return Ok(false);
            }
        }
        if let Some(mut controller) = self.controller.take() {
            let status = Status {
                seq,
                serving: self.label.clone(),
                standby: self.standby.as_ref().map(|s| s.label.clone()),
                equity: self.ledger.equity(),
                paused: self.paused.clone(),
                orders: self.out.orders,
                trades: self.ledger.trades.len(),
                risk_state: format!("{:?}", self.risk.state()).to_uppercase(),
            };
            let commands = controller.poll(&status);
            self.controller = Some(controller);
            for command in commands {
                match command {
                    Command::Swap {
                        driver,
                        label,
                        actor,
                        reason,
                        restore,
                    } => {
                        let plan = PlannedSwap {
                            at_seq: seq,
                            driver,
                            label,
                        };
                        if restore {
                            if !self.swap(seq, bar, plan, &actor, &reason)? {
                                return Ok(false);
                            }
                        } else {
                            self.put_in_service(seq, plan, &actor, &reason, 0)?
                        }
                    }
                    Command::Snapshot(reply) => match self.strategy.snapshot() {
                        Err(CallError::Fault(fault)) => {
                            let _ = reply.send(Err(fault.to_string()));
                            if !self.serving_faulted(seq, bar, fault)? {
                                return Ok(false);
                            }
                        }
                        r => {
                            let _ = reply.send(r.map_err(|e| e.to_string()));
                        }
                    },
                    Command::Rollback { actor, reason } => {
                        self.roll_back(seq, format!("by {actor}: {reason}"))?
                    }
                    Command::Pause { actor, reason } => self.pause(seq, actor, reason)?,
                    Command::Resume { actor, reason } => {
                        if self.paused.take().is_some() {
                            self.peak_equity = self.ledger.equity();
                            self.record(Entry::Resumed { seq, actor, reason })?;
                        }
                    }
                    Command::Stop => return Ok(false),
                }
            }
        }
        Ok(true)
    }

    fn pause(&mut self, seq: u64, actor: String, reason: String) -> Result<(), JournalError> {
        self.paused = Some(format!("{reason} ({actor})"));
        self.record(Entry::Paused { seq, actor, reason })
    }

    /// Hand the strategy's state to another version; it serves from `seq` on.
    /// If the old version cannot snapshot or the new one refuses the state,
    /// the new one never serves.
    ///
    /// A *fault* while snapshotting means the serving instance is broken: it
    /// is never called again (rolled back from, or the run ends). `false`
    /// ends the run.
    fn swap(
        &mut self,
        seq: u64,
        bar: &Bar,
        plan: PlannedSwap<'a>,
        actor: &str,
        reason: &str,
    ) -> Result<bool, JournalError> {
        let from = self.label.clone();
        let to = plan.label;
        let state = match self.strategy.snapshot() {
            Ok(state) => state,
            Err(e) => {
                let why = format!("{from} could not snapshot its state: {e}");
                self.record(Entry::SwapRefused {
                    seq,
                    from,
                    to,
                    reason: why,
                })?;
                return match e {
                    CallError::Fault(fault) => self.serving_faulted(seq, bar, fault),
                    CallError::Refused(_) => Ok(true),
                };
            }
        };
        let mut new = plan.driver;
        if let Err(e) = new.restore(&self.strategy.version(), &state) {
            let why = format!("{to} refused the state of {from}: {e}");
            self.record(Entry::SwapRefused {
                seq,
                from,
                to,
                reason: why,
            })?;
            return Ok(true);
        }
        self.put_in_service(
            seq,
            PlannedSwap {
                at_seq: seq,
                driver: new,
                label: to,
            },
            actor,
            reason,
            state.len() as u64,
        )?;
        Ok(true)
    }

    /// The serving instance faulted outside a bar delivery (while taking a
    /// snapshot): roll back if a previous version stands by, else end the
    /// run. A faulted instance is never called again. `false` ends the run.
    fn serving_faulted(
        &mut self,
        seq: u64,
        bar: &Bar,
        fault: runtime::Fault,
    ) -> Result<bool, JournalError> {
        if self.standby.is_some() {
            let cause = self.fault_message(seq, *bar, &fault);
            self.roll_back(seq, cause)?;
            Ok(true)
        } else {
            self.fault(seq, *bar, fault)?;
            Ok(false)
        }
    }

    /// Make `plan` the serving version; the old one stands by for rollback.
    fn put_in_service(
        &mut self,
        seq: u64,
        plan: PlannedSwap<'a>,
        actor: &str,
        reason: &str,
        state_bytes: u64,
    ) -> Result<(), JournalError> {
        let from = self.label.clone();
        let to = plan.label;
        let mut new = plan.driver;
        new.view_mut().positions = vec![(0.0, 0.0, 0.0); self.symbols.len()];
        let old = std::mem::replace(&mut self.strategy, new);
        self.standby = Some(Standby {
            driver: old,
            label: std::mem::replace(&mut self.label, to.clone()),
            since_seq: seq,
            equity_at_swap: self.ledger.equity(),
        });
        self.update_view();
        self.record(Entry::Swap {
            seq,
            from,
            to,
            state_bytes,
            actor: actor.into(),
            reason: reason.into(),
        })
    }

    /// Put the standby version back in service, with the state it had at the swap.
    fn roll_back(&mut self, seq: u64, cause: String) -> Result<(), JournalError> {
        let Some(sb) = self.standby.take() else {
            return Ok(());
        };
        let from = std::mem::replace(&mut self.label, sb.label);
        self.strategy = sb.driver;
        self.update_view();
        let to = self.label.clone();
        self.record(Entry::Rollback {
            seq,
            from,
            to,
            cause,
        })
    }

    /// Deliver; on a fault within a swap's rollback window, roll back and
    /// deliver the same bars to the restored version. `false` stops the run.
    fn deliver_or_roll_back(&mut self, bars: &[Bar], seq: u64) -> Result<bool, JournalError> {
        // Kept only while a rollback is possible, to redeliver them.
        let events = if self.standby.is_some() {
            self.events.clone()
        } else {
            Vec::new()
        };
        match self.deliver(bars, seq)? {
            Ok(()) => Ok(true),
            Err(fault) if self.standby.is_some() => {
                let cause = self.fault_message(seq, bars[0], &fault);
                self.roll_back(seq, cause)?;
                self.events = events;
                match self.deliver(bars, seq)? {
                    Ok(()) => Ok(true),
                    Err(fault) => {
                        self.fault(seq, bars[0], fault)?;
                        Ok(false)
                    }
                }
            }
            Err(fault) => {
                self.fault(seq, bars[0], fault)?;
                Ok(false)
            }
        }
    }

    /// Steps 1–3 for one bar.
    fn process_bar(&mut self, bar: &Bar, seq: u64) -> Result<(), JournalError> {
        self.note_bar(seq)?;
        self.now_ms = bar.time_ms;
        self.out.bars += 1;
        let ledger = &self.ledger;
        self.risk
            .begin_bar(bar.time_ms, || ledger.equity(), &mut self.changes);
        self.flush_changes(seq)?;

        // One fill at a time: each is booked (and a state change it causes
        // acted on, cancelling orders) before the venue executes the next.
        self.venue.begin_bar(bar, self.ledger.position(bar.symbol));
        let mut filled = false;
        while let Some(f) = self.venue.next_fill() {
            self.book_fill(&f, seq)?;
            filled = true;
        }
        if filled {
            self.drop_spent_reductions(bar.symbol, seq)?;
            self.sync_protection(bar.symbol, seq, bar.time_ms)?;
        }

        self.ledger.mark(bar.symbol, bar.close);
        self.last_close[bar.symbol as usize] = bar.close;
        let equity = self.ledger.equity();
        self.risk.end_bar(equity, &mut self.changes);
        self.flush_changes(seq)?;
        match self.out.equity_curve.last_mut() {
            Some((t, e)) if *t == bar.time_ms => *e = equity,
            _ => self.out.equity_curve.push((bar.time_ms, equity)),
        }
        if self.ledger.open_positions() > 0 {
            self.out.bars_in_market += 1;
        }
        Ok(())
    }

    fn book_fill(&mut self, f: &FillReport, seq: u64) -> Result<(), JournalError> {
        // Journaled before the strategy (or anything else) hears of it.
        self.record(Entry::Fill {
            seq,
            fill: f.clone(),
            plugin: self.label.clone(),
        })?;
        let trade = self.ledger.apply(&Execution {
            symbol: f.symbol,
            quantity: f.side.sign() * f.quantity,
            price: f.price,
            commission: f.commission,
            slippage: f.slippage,
            time_ms: f.time_ms,
        });
        if let Some(t) = trade {
            self.risk.on_trade(t.pnl, &mut self.changes);
        }
        self.events.push(Event::Filled(Fill {
            order_id: f.order_id,
            symbol: f.symbol,
            side: f.side.into(),
            quantity: f.quantity,
            price: f.price,
            commission: f.commission,
            time_ms: f.time_ms,
            origin: f.origin.as_str().to_string(),
        }));
        if let Some(p) = self.protection.get_mut(f.symbol as usize)
            && f.done
        {
            p.orders.retain(|id| *id != f.order_id);
        }
        self.flush_changes(seq)
    }

    fn update_view(&mut self) {
        let view = self.strategy.view_mut();
        view.cash = self.ledger.cash;
        view.equity = self.ledger.equity();
        for (slot, h) in view.positions.iter_mut().zip(&self.ledger.holdings) {
            *slot = (h.quantity, h.average_price, h.unrealized());
        }
    }

    /// Call the strategy; `Ok(Err(fault))` stops the run.
    fn deliver(
        &mut self,
        bars: &[Bar],
        seq: u64,
    ) -> Result<Result<(), runtime::Fault>, JournalError> {
        if self.cfg.delivery == Delivery::Batched {
            self.update_view();
        }
        let events = std::mem::take(&mut self.events);
        self.intents.clear();
        let r = self.strategy.on_bars(bars, &events, &mut self.intents);
        self.events = events;
        self.events.clear();
        match r {
            Ok(()) => {
                if self
                    .intents
                    .windows(2)
                    .any(|w| w[0].bar_index > w[1].bar_index)
                    || self
                        .intents
                        .last()
                        .is_some_and(|i| i.bar_index as usize >= bars.len())
                {
                    let bad = self.intents.len();
                    self.intents.clear();
                    return Ok(Err(runtime::Fault::Bound(format!(
                        "{bad} intents with bar-index out of order or beyond the {} bar(s) delivered",
                        bars.len()
                    ))));
                }
                Ok(Ok(()))
            }
            Err(CallError::Refused(message)) => {
                self.record(Entry::StrategyError { seq, message })?;
                Ok(Ok(()))
            }
            Err(CallError::Fault(f)) => Ok(Err(f)),
        }
    }

    fn fault_message(&self, seq: u64, bar: Bar, fault: &runtime::Fault) -> String {
        let message = format!(
            "plugin {} faulted at bar {seq} ({} {}): {fault}",
            self.label,
            self.symbol_name(bar.symbol),
            crate::data::market::format_time(bar.time_ms)
        );
        match fault {
            runtime::Fault::Trap { frames, .. } if !frames.is_empty() => {
                format!("{message}; guest backtrace: {}", frames.join(" <- "))
            }
            _ => message,
        }
    }

    fn fault(&mut self, seq: u64, bar: Bar, fault: runtime::Fault) -> Result<(), JournalError> {
        let message = self.fault_message(seq, bar, &fault);
        self.record(Entry::Fault { seq, message })?;
        self.out.fault = Some(FaultReport { seq, bar, fault });
        Ok(())
    }

    fn apply_intents(
        &mut self,
        range: std::ops::Range<usize>,
        bar: &Bar,
        seq: u64,
    ) -> Result<(), JournalError> {
        for i in range {
            let intent = self.intents[i].clone();
            self.apply_intent(&intent, bar, seq)?;
        }
        Ok(())
    }

    fn refuse(
        &mut self,
        seq: u64,
        bar: &Bar,
        symbol: SymbolId,
        rule: Rule,
        detail: String,
    ) -> Result<(), JournalError> {
        self.out.refusals += 1;
        self.record(Entry::Refusal {
            seq,
            symbol: self.symbol_name(symbol),
            rule,
            detail: detail.clone(),
            plugin: self.label.clone(),
        })?;
        self.events.push(Event::Rejected(Rejection {
            symbol,
            rule: rule.as_str().into(),
            detail,
            time_ms: bar.time_ms,
        }));
        Ok(())
    }

    fn apply_intent(&mut self, intent: &Intent, bar: &Bar, seq: u64) -> Result<(), JournalError> {
        self.out.intents += 1;
        let s = intent.symbol;
        let mut reason = intent.reason.clone();
        if reason.len() > 256 {
            let mut cut = 256;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        self.record(Entry::Intent {
            seq,
            time_ms: bar.time_ms,
            symbol: self.symbol_name(s),
            action: journal_action(&intent.action),
            stop_loss: intent.stop_loss,
            take_profit: intent.take_profit,
            reason,
            plugin: self.label.clone(),
        })?;
        if let Err(detail) = self.validate(intent) {
            return self.refuse(seq, bar, s, Rule::InvalidIntent, detail);
        }
        let idx = s as usize;
        let price = self.last_close[idx];
        let pos = self.ledger.position(s);
        // A new intent supersedes the strategy's open orders on the symbol.
        let open: Vec<u64> = self
            .venue
            .open_orders(s)
            .into_iter()
            .filter(|o| o.origin == Origin::Strategy)
            .map(|o| o.id)
            .collect();
        for id in open {
            self.cancel(id, seq, "superseded by a new intent")?;
        }
        let equity = self.ledger.equity();
        let (delta, kind) = match intent.action {
            Action::TargetWeight(w) => (w * equity / price - pos, OrderKind::Market),
            Action::TargetQuantity(q) => (q - pos, OrderKind::Market),
            Action::Market(m) => (Side::from(m.side).sign() * m.quantity, OrderKind::Market),
            Action::Limit(l) => (
                Side::from(l.side).sign() * l.quantity,
                OrderKind::Limit(l.price),
            ),
            Action::Close => (-pos, OrderKind::Market),
        };
        let p = &mut self.protection[idx];
        if matches!(intent.action, Action::Close) {
            p.stop_loss = None;
            p.take_profit = None;
        }
        if intent.stop_loss.is_some() || intent.take_profit.is_some() {
            p.stop_loss = intent.stop_loss;
            p.take_profit = intent.take_profit;
            // They protect the position this intent asks for.
            p.direction = (pos + delta).signum();
        }
        if !delta.is_finite() {
            let detail = format!(
                "cannot be sized: the order quantity is {delta} (equity {equity}, price {price})"
            );
            return self.refuse(seq, bar, s, Rule::InvalidIntent, detail);
        }
        if delta.abs() <= 1e-12 * pos.abs().max(1.0) {
            return self.sync_protection(s, seq, bar.time_ms);
        }
        let side = Side::of(delta);
        let (other_exposure, open_positions) = self.committed_elsewhere(s);
        let proposal = Proposal {
            side,
            quantity: delta.abs(),
            price: valuation(kind, price),
            position: pos,
            equity,
            other_exposure,
            open_positions,
        };
        match self.risk.check(&proposal) {
            Decision::Refused(r) => self.refuse(seq, bar, s, r.rule, r.detail),
            Decision::Approved => {
                let order = Order {
                    id: 0,
                    symbol: s,
                    side,
                    quantity: delta.abs(),
                    kind,
                    origin: Origin::Strategy,
                    decided_seq: seq,
                    decided_ms: bar.time_ms,
                    // Approved as a reduction (size limits skipped): it may
                    // only ever reduce.
                    reduce_only: proposal.reduces(),
                };
                if pos != 0.0 && delta.signum() != pos.signum() && delta.abs() > pos.abs() {
                    // A flip is two orders: a reduce-only close of the
                    // position and the new position, approved as sized. If a
                    // protective stop closes the position first, the close
                    // does nothing and the new position is still exactly the
                    // one approved — never the old one plus the new one.
                    self.submit(Order {
                        quantity: pos.abs(),
                        reduce_only: true,
                        ..order.clone()
                    })?;
                    self.submit(Order {
                        quantity: delta.abs() - pos.abs(),
                        ..order
                    })?;
                } else {
                    self.submit(order)?;
                }
                self.sync_protection(s, seq, bar.time_ms)
            }
        }
    }

    /// Committed exposure of every symbol but `except`: positions and open
    /// strategy orders as if they filled, valued as the risk limits value
    /// them; and how many of those symbols hold or would hold a position.
    fn committed_elsewhere(&self, except: SymbolId) -> (f64, usize) {
        let (mut gross, mut held) = (0.0, 0);
        for j in 0..self.symbols.len() as SymbolId {
            if j == except {
                continue;
            }
            let now = self.ledger.position(j);
            let mark = self.last_close[j as usize];
            let (mut after, mut value) = (now, mark);
            // Every strategy order, the reduce-only ones too (a flip's close
            // leg); protective orders only ever reduce and are left out.
            for o in self.venue.open_orders(j) {
                if o.origin == Origin::Strategy {
                    after += o.side.sign() * o.quantity;
                    value = value.max(valuation(o.kind, mark));
                }
            }
            if now == 0.0 && after == 0.0 {
                continue;
            }
            held += 1;
            gross += (now.abs() * mark).max(after.abs() * value);
        }
        (gross, held)
    }

    /// After fills: reduce-only orders (but protective ones, which
    /// [`Self::sync_protection`] re-sizes) that have nothing left to reduce
    /// are cancelled.
    fn drop_spent_reductions(&mut self, s: SymbolId, seq: u64) -> Result<(), JournalError> {
        let pos = self.ledger.position(s);
        let spent: Vec<u64> = self
            .venue
            .open_orders(s)
            .into_iter()
            .filter(|o| {
                o.reduce_only
                    && matches!(o.origin, Origin::Strategy | Origin::RiskFlatten)
                    && -o.side.sign() * pos <= 0.0
            })
            .map(|o| o.id)
            .collect();
        for id in spent {
            self.cancel(id, seq, "nothing left to reduce")?;
        }
        Ok(())
    }

    /// Malformed intents are refused one by one; the run continues.
    fn validate(&self, i: &Intent) -> Result<(), String> {
        let n = self.symbols.len();
        if i.symbol as usize >= n {
            return Err(format!(
                "unknown symbol id {} (this run has {n} symbols)",
                i.symbol
            ));
        }
        let price = self.last_close[i.symbol as usize];
        if price.is_nan() {
            return Err(format!("no price yet for {}", self.symbol_name(i.symbol)));
        }
        if !(price.is_finite() && price > 0.0) {
            return Err(format!(
                "cannot be sized: the last close of {} is {price}",
                self.symbol_name(i.symbol)
            ));
        }
        let positive = |what: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{what} {v} is not a positive finite number"))
            }
        };
        match i.action {
            Action::TargetWeight(w) if !(w.is_finite() && w.abs() <= MAX_WEIGHT) => {
                return Err(format!(
                    "target weight {w} is not a finite number within ±{MAX_WEIGHT}"
                ));
            }
            Action::TargetQuantity(q) if !q.is_finite() => {
                return Err(format!("target quantity {q} is not finite"));
            }
            Action::Market(m) => positive("quantity", m.quantity)?,
            Action::Limit(l) => {
                positive("quantity", l.quantity)?;
                positive("limit price", l.price)?;
            }
            _ => {}
        }
        if let Some(p) = i.stop_loss {
            positive("stop-loss", p)?;
        }
        if let Some(p) = i.take_profit {
            positive("take-profit", p)?;
        }
        Ok(())
    }

    /// Give `order` the next id, journal it, then hand it to the venue.
    fn submit(&mut self, mut order: Order) -> Result<u64, JournalError> {
        let id = self.next_order_id;
        self.next_order_id += 1;
        order.id = id;
        // Journaled before it reaches the venue.
        self.record(Entry::Order {
            order: order.clone(),
            plugin: self.label.clone(),
        })?;
        self.venue.submit(order);
        self.out.orders += 1;
        Ok(id)
    }

    fn cancel(&mut self, id: u64, seq: u64, reason: &str) -> Result<(), JournalError> {
        if self.venue.cancel(id) {
            self.record(Entry::Cancel {
                seq,
                order_id: id,
                reason: reason.into(),
            })?;
            self.events.push(Event::Cancelled(id));
        }
        Ok(())
    }

    /// Keep stop-loss / take-profit orders matching the current position.
    fn sync_protection(&mut self, s: SymbolId, seq: u64, time_ms: i64) -> Result<(), JournalError> {
        let idx = s as usize;
        let pos = self.ledger.position(s);
        if pos != 0.0 && pos.signum() != self.protection[idx].direction {
            // Flipped (or never set for this direction): the prices belong to
            // the other side and would trigger at once.
            self.protection[idx].stop_loss = None;
            self.protection[idx].take_profit = None;
        }
        let p = &self.protection[idx];
        let wanted = pos != 0.0 && (p.stop_loss.is_some() || p.take_profit.is_some());
        // Already in place with the right size and prices?
        let current: Vec<Order> = self
            .venue
            .open_orders(s)
            .into_iter()
            .filter(|o| p.orders.contains(&o.id))
            .cloned()
            .collect();
        let side = Side::of(-pos);
        let mut desired = Vec::new();
        if wanted {
            if let Some(sl) = p.stop_loss {
                desired.push(OrderKind::StopLoss(sl));
            }
            if let Some(tp) = p.take_profit {
                desired.push(OrderKind::TakeProfit(tp));
            }
        }
        let matches = current.len() == desired.len()
            && current
                .iter()
                .zip(&desired)
                .all(|(o, k)| o.kind == *k && o.quantity == pos.abs() && o.side == side);
        if matches {
            return Ok(());
        }
        for o in current {
            self.cancel(o.id, seq, "protective order re-sized")?;
        }
        self.protection[idx].orders.clear();
        if !wanted {
            if pos == 0.0 {
                self.protection[idx].stop_loss = None;
                self.protection[idx].take_profit = None;
            }
            return Ok(());
        }
        for kind in desired {
            let origin = match kind {
                OrderKind::StopLoss(_) => Origin::StopLoss,
                _ => Origin::TakeProfit,
            };
            let id = self.submit(Order {
                id: 0,
                symbol: s,
                side,
                quantity: pos.abs(),
                kind,
                origin,
                decided_seq: seq,
                decided_ms: time_ms,
                reduce_only: true,
            })?;
            self.protection[idx].orders.push(id);
        }
        Ok(())
    }

    /// HALTED: cancel every open order and flatten every position.
    fn flatten_all(&mut self, seq: u64) -> Result<(), JournalError> {
        for s in 0..self.symbols.len() as SymbolId {
            let ids: Vec<u64> = self
                .venue
                .open_orders(s)
                .into_iter()
                .map(|o| o.id)
                .collect();
            for id in ids {
                self.cancel(id, seq, "halted: cancel all")?;
            }
            self.protection[s as usize] = Protection::default();
            let pos = self.ledger.position(s);
            if pos != 0.0 {
                self.submit(Order {
                    id: 0,
                    symbol: s,
                    side: Side::of(-pos),
                    quantity: pos.abs(),
                    kind: OrderKind::Market,
                    origin: Origin::RiskFlatten,
                    decided_seq: seq,
                    decided_ms: self.now_ms,
                    reduce_only: true,
                })?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> RunResult {
        let positions = self
            .ledger
            .holdings
            .iter()
            .enumerate()
            .filter(|(_, h)| h.quantity != 0.0)
            .map(|(i, h)| (self.symbols[i].clone(), h.quantity, h.average_price))
            .collect();
        self.record(Entry::Final {
            cash: self.ledger.cash,
            equity: self.ledger.equity(),
            realized: self.ledger.realized,
            commissions: self.ledger.commissions,
            positions,
        })?;
        self.out.ledger = self.ledger;
        self.out.state = self.risk.state();
        Ok(self.out)
    }
}

fn journal_action(a: &Action) -> IntentAction {
    match *a {
        Action::TargetWeight(w) => IntentAction::TargetWeight(w),
        Action::TargetQuantity(q) => IntentAction::TargetQuantity(q),
        Action::Market(m) => IntentAction::Market {
            side: Side::from(m.side),
            quantity: m.quantity,
        },
        Action::Limit(l) => IntentAction::Limit {
            side: Side::from(l.side),
            quantity: l.quantity,
            price: l.price,
        },
        Action::Close => IntentAction::Close,
    }
}
