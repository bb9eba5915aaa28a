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
//! 0. what a live venue said since the last look is journaled and booked,
//!    one note at a time ([`Engine::tick`]; the service also ticks while no
//!    bar comes), then the boundary applies commands, swaps, rollbacks;
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
//! In exact batching (the default for contract 0.2.0) one call covers a
//! *window*: the first bar as above, then the bars the strategy pulls one at
//! a time until it has intents. The window holds only bars on which steps
//! 1–3 would change nothing the strategy can observe — no order of the
//! bar's symbol triggers ([`Venue::quiet`]), no risk state changes (checked
//! on a copy of the risk engine with the equity the bar's close will give),
//! no command, swap or rollback review can act — so the engine runs steps
//! 1–3 of the bars the strategy took after the call, in order, and the
//! journal is the one per-bar delivery writes, entry for entry. The intents
//! belong to the last bar the strategy took: the host, not the guest, says
//! which bar a decision was made on.
//!
//! In batched delivery the strategy receives many bars at once (step 4
//! happens first for the whole batch) and its intents, tagged with the bar
//! they were decided on, are applied at step 4 of that bar.
//!
//! Files: this one the bar loop and its boundary; `orders.rs` intents into
//! orders; `books.rs` fills, marks and status; `window.rs` exact batching;
//! `controls.rs` pauses, swaps, rollbacks, allocations and the ramp-up;
//! `versions.rs` the versions a run serves; `after_fault.rs` going on past a fault; `re_execution.rs` the CPU budget of re-executed bars; `protection.rs` stops and
//! targets; `kill.rs` the kill switch; `command.rs` operator commands;
//! `driver.rs` how a strategy is called (`native.rs` without a sandbox);
//! `outcome.rs` what a run yields; `replay.rs` a replay composed from files.

mod after_fault;
mod books;
mod command;
mod controls;
mod driver;
mod kill;
#[cfg(feature = "native")]
pub mod native;
mod orders;
mod outcome;
mod protection;
mod re_execution;
pub mod replay;
mod versions;
mod window;

pub use kill::{JournaledKill, KillSwitch};
pub use outcome::{FaultReport, RuleCount, RunOutcome, RunResult};

pub use after_fault::AfterFault;
pub use command::{Command, Controller, Status};
pub use driver::{Amendment, StrategyDriver};
pub use versions::PlannedSwap;

use crate::data::feed::Feed;
use crate::data::market::{Bar, SymbolId};
use crate::execution::order_state::Update;
use crate::execution::{FillReport, Origin, Venue};
use crate::portfolio::{Execution, Ledger};
use crate::risk::{RiskConfig, RiskEngine, StateChange, TradingState};
use crate::sandbox::runtime::{self, CallError, Delivery, Event, Fill, Intent};
use crate::store::journal::{Entry, JournalError, Recorder};
use protection::Protections;
use versions::{Review, SwapOutcome, Versions};

/// Bars an exact-batching window starts at, and may grow to.
const MIN_WINDOW: usize = 8;
const MAX_WINDOW: usize = 1024;

/// Intents must be tagged with the bars delivered, in order (in per-bar
/// delivery and exact batching: bar 0, the bar the strategy is on).
fn bar_index_fault(intents: &[Intent], bars: usize) -> Option<runtime::Fault> {
    let bad = intents.windows(2).any(|w| w[0].bar_index > w[1].bar_index)
        || intents.last().is_some_and(|i| i.bar_index as usize >= bars);
    bad.then(|| {
        runtime::Fault::Bound(format!(
            "{} intents with bar-index out of order or beyond the {bars} bar(s) delivered",
            intents.len()
        ))
    })
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
    /// End the journal with the books ([`Entry::Final`]). A service
    /// deployment does not: its run goes on after a restart, and its journal
    /// must read the same whether or not the service stopped in between.
    pub final_entry: bool,
    /// Bars `0..warmup` only warm the strategy up: it sees them, but what
    /// it decides on them is dropped before it becomes an intent (research
    /// runs: a walk-forward's out-of-sample span starts with indicators
    /// ready and nothing traded in sample).
    pub warmup: u64,
}

/// One deployment's pipeline.
///
/// It owns the bar loop, intents and orders; the strategy versions (swaps,
/// rollback) are a `Versions` (`versions.rs`), protective orders a
/// `Protections` (`protection.rs`).
pub struct Engine<'a, V: Venue> {
    /// The books the engine keeps: ledger, last closes, equity peak.
    books: Books,
    /// Where entries go, and what of them is pending.
    journal: Cursor<'a>,
    /// What steers the run from outside its strategy.
    controls: Controls<'a>,
    cfg: EngineConfig,
    symbols: Vec<String>,
    versions: Versions<'a>,
    venue: V,
    risk: RiskEngine,
    protections: Protections,
    events: Vec<Event>,
    intents: Vec<Intent>,
    /// Changes to protection alone from the last call (contract 0.3.0),
    /// applied after the intents of their bar.
    amends: Vec<Amendment>,
    changes: Vec<StateChange>,
    now_ms: i64,
    /// Bars the next exact-batching window may span: doubled while the
    /// strategy takes whole windows, cut back to what it takes otherwise, so
    /// looking ahead for quiet bars costs about as much as the bars taken.
    window_hint: usize,
    /// Counters and the equity curve accumulate here; the ledger joins at the end.
    out: RunOutcome,
}

/// The books: the ledger, each symbol's last close, the equity peak.
struct Books {
    ledger: Ledger,
    last_close: Vec<f64>,
    peak_equity: f64,
}

/// Where the run's entries go: the recorder, and what is pending of the journal.
struct Cursor<'a> {
    recorder: Box<dyn Recorder + 'a>,
    /// The recorder keeps input bars (asked once: a replay skips the call).
    keeps_inputs: bool,
    next_order_id: u64,
    pending_bars: Option<(u64, u64)>,
}

/// What steers a run from outside its strategy: the controller, a pause, the ramp-up, the kill switch.
struct Controls<'a> {
    controller: Option<Box<dyn Controller<'a> + 'a>>,
    paused: Option<String>,
    /// A ramp-up schedule, and the run's first bar time it counts from.
    ramp: Option<crate::portfolio::allocation::RampUp>,
    first_bar_ms: Option<i64>,
    /// The kill switch, pulled from outside while no bar may come (LIVE runs).
    kill_switch: Option<KillSwitch>,
    /// Kills of the journal to apply again: (seq, notes before it, actor, reason).
    replayed_kills: std::collections::VecDeque<JournaledKill>,
    /// Venue notes taken at a bar boundary so far: (seq, count).
    notes_at: (u64, u32),
    /// Bars opening before this only warm the strategy up (journaled
    /// [`Command::WarmUp`]s; `i64::MIN`: none).
    warm_before: i64,
    /// Operators' decisions on faults to come, in bar order (`after_fault.rs`).
    after_fault: Vec<AfterFault<'a>>,
    /// The journal being re-executed, while it is (`re_execution.rs`).
    re_execution: Option<re_execution::ReExecution>,
    /// The market's sessions (none: 24/7, days in UTC): its day is the
    /// risk engine's, and bars outside it only warm the strategy up.
    session: Option<crate::session::Session>,
}

impl<'a, V: Venue> Engine<'a, V> {
    /// An engine over a symbol table, journaling to `recorder`.
    pub fn new(
        cfg: EngineConfig,
        symbols: Vec<String>,
        strategy: Box<dyn StrategyDriver + 'a>,
        venue: V,
        recorder: &'a mut dyn Recorder,
    ) -> Self {
        Self::owning(cfg, symbols, strategy, venue, Box::new(recorder))
    }

    /// An engine that owns everything it uses (the service keeps engines
    /// between bars and moves them between worker threads).
    pub fn owning(
        cfg: EngineConfig,
        symbols: Vec<String>,
        strategy: Box<dyn StrategyDriver + 'a>,
        venue: V,
        recorder: Box<dyn Recorder + 'a>,
    ) -> Self {
        let n = symbols.len();
        let ledger = Ledger::new(cfg.initial_cash, n);
        Self {
            books: Books {
                ledger,
                last_close: vec![f64::NAN; n],
                peak_equity: cfg.initial_cash,
            },
            journal: Cursor {
                keeps_inputs: recorder.keeps_inputs(),
                recorder,
                next_order_id: 1,
                pending_bars: None,
            },
            controls: Controls {
                controller: None,
                paused: None,
                ramp: None,
                first_bar_ms: None,
                kill_switch: None,
                replayed_kills: Default::default(),
                warm_before: i64::MIN,
                notes_at: (u64::MAX, 0),
                after_fault: Vec::new(),
                re_execution: None,
                session: None,
            },
            risk: RiskEngine::new(cfg.risk),
            versions: Versions::new(strategy, cfg.plugin_label.clone(), n),
            cfg,
            symbols,
            venue,
            // The books are replaced by the real ones at the end.
            out: RunOutcome::empty(0.0),
            protections: Protections::new(n),
            events: Vec::new(),
            intents: Vec::new(),
            amends: Vec::new(),
            changes: Vec::new(),
            now_ms: i64::MIN,
            window_hint: MIN_WINDOW,
        }
    }

    /// Journal an entry, first closing the open range of plain bars.
    fn record(&mut self, entry: Entry) -> Result<(), JournalError> {
        if let Some((first, last)) = self.journal.pending_bars.take() {
            self.journal.recorder.record(Entry::Bars { first, last })?;
        }
        self.journal.recorder.record(entry)
    }

    fn note_bar(&mut self, seq: u64) -> Result<(), JournalError> {
        match &mut self.journal.pending_bars {
            Some((first, last)) if *last + 1 == seq && seq - *first < 4096 => *last = seq,
            _ => {
                if let Some((first, last)) = self.journal.pending_bars.take() {
                    self.journal.recorder.record(Entry::Bars { first, last })?;
                }
                self.journal.pending_bars = Some((seq, seq));
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
            self.out.state_changes.push((self.now_ms, change.clone()));
            self.record(Entry::State { seq, change })?;
        }
        if halted {
            self.flatten_all(seq, "halted: cancel all")?;
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
        self.versions.schedule(swap);
    }

    /// `name@version` in service, as stamped on journal entries.
    fn label(&self) -> String {
        self.versions.label().to_string()
    }

    /// Let a controller steer the run (swaps, rollbacks, pauses, stop).
    pub fn set_controller(&mut self, controller: Box<dyn Controller<'a> + 'a>) {
        self.controls.controller = Some(controller);
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
            let limit = match self.versions.next_planned() {
                Some(at) if at > seq => chunk.min((at - seq) as usize),
                _ => chunk,
            };
            if feed.next_batch(&mut bars, limit) == 0 {
                break;
            }
            if batched {
                if !self.boundary(seq, &bars[0])? {
                    break 'feed;
                }
                if self.controls.paused.is_some() {
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
                    self.apply_amends(i as u32, bar, seq + i as u64)?;
                }
                self.intents.clear();
                self.amends.clear();
            } else if self.cfg.delivery == Delivery::Exact {
                let mut i = 0;
                while i < bars.len() {
                    match self.step_window(&bars[i..], seq + i as u64, true)? {
                        Some(taken) => i += taken,
                        None => break 'feed,
                    }
                }
            } else {
                for (i, bar) in bars.iter().enumerate() {
                    if !self.step(bar, seq + i as u64)? {
                        break 'feed;
                    }
                }
            }
            seq += bars.len() as u64;
            progress(seq);
        }
        self.end(seq)
    }

    /// One bar in per-bar delivery: the boundary (commands, swaps), the
    /// bar's fills and marks, the strategy's decision. The service drives
    /// its engines with this, a bar at a time as bars arrive. `false`: the
    /// run ends here (a stop, or a fault).
    pub fn step(&mut self, bar: &Bar, seq: u64) -> Result<bool, JournalError> {
        Ok(self
            .step_window(std::slice::from_ref(bar), seq, false)?
            .is_some())
    }

    /// End the run after bar `seq - 1`: the controller's last word (a
    /// snapshot, a flatten at shutdown), then the books.
    pub fn end(mut self, seq: u64) -> RunResult {
        if let Some(mut controller) = self.controls.controller.take() {
            let status = self.status(seq);
            if controller.finished(&status, self.versions.serving()) {
                let (actor, reason) = ("engine".to_string(), "flatten at shutdown".to_string());
                self.record(Entry::Command {
                    seq,
                    action: crate::store::journal::CommandAction::Flatten,
                    actor: actor.clone(),
                    reason: reason.clone(),
                })?;
                self.flatten_all(seq, &format!("flatten by {actor}: {reason}"))?;
                if self.controls.paused.is_none() {
                    self.pause(seq, actor, format!("flatten: {reason}"))?;
                }
            }
        }
        self.finish()
    }

    /// Between bars: pause on drawdown, carry out a scheduled swap, roll
    /// back on drawdown, commit a swap that outlived its rollback window, and
    /// apply the controller's commands. `false` ends the run.
    fn boundary(&mut self, seq: u64, bar: &Bar) -> Result<bool, JournalError> {
        if let Some(limit) = self.cfg.pause_drawdown
            && self.controls.paused.is_none()
        {
            let equity = self.books.ledger.equity();
            self.books.peak_equity = self.books.peak_equity.max(equity);
            let dd = 1.0 - equity / self.books.peak_equity;
            if dd >= limit {
                let reason = format!(
                    "drawdown {:.2}% from the peak {:.2} passed the pause threshold {:.2}%",
                    dd * 100.0,
                    self.books.peak_equity,
                    limit * 100.0
                );
                self.pause(seq, "engine".into(), reason)?;
            }
        }
        let ledger = &self.books.ledger;
        let review = self.versions.review(
            seq,
            || ledger.equity(),
            self.cfg.rollback_window,
            self.cfg.rollback_drawdown,
        );
        match review {
            Review::Keep => {}
            Review::RollBack(cause) => self.roll_back(seq, cause)?,
            Review::Commit(entry) => self.record(entry)?,
        }
        if let Some(plan) = self.versions.take_due(seq)
            && !self.swap(seq, bar, plan, "schedule", "scheduled with --swap-at")?
        {
            return Ok(false);
        }
        if let Some(mut controller) = self.controls.controller.take() {
            let mut status = self.status(seq);
            status.next_bar_ms = Some(bar.time_ms);
            let commands = controller.poll(&status);
            self.controls.controller = Some(controller);
            for command in commands {
                if let Some((action, actor, reason)) = command.journaled() {
                    self.record(Entry::Command {
                        seq,
                        action,
                        actor,
                        reason,
                    })?;
                }
                match command {
                    Command::Swap {
                        driver,
                        label,
                        actor,
                        reason,
                        handover,
                    } => {
                        let plan = PlannedSwap {
                            at_seq: seq,
                            driver,
                            label,
                        };
                        if handover.is_none() {
                            if !self.swap(seq, bar, plan, &actor, &reason)? {
                                return Ok(false);
                            }
                        } else {
                            self.put_in_service(seq, plan, &actor, &reason, 0)?
                        }
                    }
                    Command::Snapshot(reply) => match self.versions.serving().snapshot() {
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
                    Command::Flatten { actor, reason } => {
                        self.flatten_all(seq, &format!("flatten by {actor}: {reason}"))?;
                        if self.controls.paused.is_none() {
                            self.pause(seq, actor, format!("flatten: {reason}"))?;
                        }
                    }
                    Command::Resume { actor, reason } => {
                        if self.controls.paused.take().is_some() {
                            self.books.peak_equity = self.books.ledger.equity();
                            self.record(Entry::Resumed { seq, actor, reason })?;
                        }
                    }
                    Command::Allocate { amount, .. } => {
                        self.allocate(amount);
                        if amount < 0.0 {
                            self.trim_to_limits(seq)?;
                        }
                    }
                    Command::Reduce { actor, reason } => {
                        self.risk
                            .reduce(format!("{reason} (by {actor})"), &mut self.changes);
                        self.flush_changes(seq)?;
                    }
                    Command::WarmUp { before_ms, .. } => {
                        self.controls.warm_before = self.controls.warm_before.max(before_ms);
                    }
                    Command::Stop => return Ok(false),
                }
            }
        }
        Ok(true)
    }

    /// Steps 1–3 for one bar.
    fn process_bar(&mut self, bar: &Bar, seq: u64) -> Result<(), JournalError> {
        if self.journal.keeps_inputs {
            self.journal.recorder.input_bar(seq, bar)?;
        }
        self.note_bar(seq)?;
        self.now_ms = bar.time_ms;
        self.controls.first_bar_ms.get_or_insert(bar.time_ms);
        self.out.bars += 1;
        let ledger = &self.books.ledger;
        let day = self.risk_day(bar);
        self.risk
            .begin_day(day, || ledger.equity(), &mut self.changes);
        self.flush_changes(seq)?;

        // One fill at a time: each is booked (and a state change it causes
        // acted on, cancelling orders) before the venue executes the next.
        self.venue
            .begin_bar(bar, seq, self.books.ledger.position(bar.symbol));
        let mut filled = false;
        while let Some(f) = self.venue.next_fill() {
            self.book_fill(&f, seq)?;
            filled = true;
        }
        if filled {
            self.drop_spent_reductions(bar.symbol, seq)?;
            self.sync_protection(bar.symbol, seq, bar.time_ms)?;
        }
        // A venue holding the stops pulls one to make way for an exit; if
        // the exit did not fill (refused, cancelled), the stop goes back
        // here, once nothing is on its way on the symbol.
        if self.venue.protection_at_venue()
            && self.venue.in_flight(bar.symbol) == 0.0
            && self
                .venue
                .open_orders(bar.symbol)
                .iter()
                .all(|o| o.kind.is_protective())
        {
            self.sync_protection(bar.symbol, seq, bar.time_ms)?;
        }
        // A trailing stop ratchets on the bar's extreme, for the next bar.
        let held = self.books.ledger.position(bar.symbol);
        if self.protections.after_bar(bar, held) {
            self.sync_protection(bar.symbol, seq, bar.time_ms)?;
        }

        self.books.ledger.mark(bar.symbol, bar.close);
        self.books.last_close[bar.symbol as usize] = bar.close;
        let equity = self.books.ledger.equity();
        self.risk.end_bar(equity, &mut self.changes);
        self.flush_changes(seq)?;
        match self.out.equity_curve.last_mut() {
            Some((t, e)) if *t == bar.time_ms => *e = equity,
            _ => self.out.equity_curve.push((bar.time_ms, equity)),
        }
        if self.books.ledger.open_positions() > 0 {
            self.out.bars_in_market += 1;
        }
        Ok(())
    }

    /// Between bars: journal and book what a live venue said, note by note
    /// — the note, the cancellation it ends in, its fill and what the fill
    /// changes (spent reductions, protective orders, risk state) — before
    /// the venue applies the next, so that the journal is the same however
    /// the answers were grouped when they arrived.
    /// Bar `seq` is the next one; recovery feeds journaled notes back here,
    /// before that bar's boundary, where they were taken in. A no-op for
    /// the simulated venue.
    pub fn tick(&mut self, seq: u64) -> Result<(), JournalError> {
        let mut any = false;
        if self.controls.notes_at.0 != seq {
            self.controls.notes_at = (seq, 0);
        }
        loop {
            any |= self.replay_kills(seq)?;
            let Some((note, fill)) = self.venue.next_note(seq) else {
                break;
            };
            any = true;
            self.controls.notes_at.1 += 1;
            let ended = note.ended.clone().map(|why| (note.order_id, why));
            let unknown = match &note.update {
                Update::Unknown { reason } => Some(reason.clone()),
                _ => None,
            };
            self.record(Entry::Venue { seq, note })?;
            if let Some(reason) = unknown
                && self.controls.paused.is_none()
            {
                // An order the venue may or may not have: no new risk
                // until an operator has looked (and resumes).
                self.pause(seq, "venue".into(), reason)?;
            }
            if let Some((order_id, reason)) = ended {
                self.record(Entry::Cancel {
                    seq,
                    order_id,
                    reason,
                })?;
                self.events.push(Event::Cancelled(order_id));
            }
            if let Some(f) = fill {
                self.book_fill(&f, seq)?;
                self.drop_spent_reductions(f.symbol, seq)?;
                self.sync_protection(f.symbol, seq, self.now_ms)?;
            }
        }
        if seq
            >= self
                .controls
                .kill_switch
                .as_ref()
                .map_or(u64::MAX, |k| k.live_from)
            && let Some((actor, reason)) = self
                .controls
                .kill_switch
                .as_ref()
                .and_then(KillSwitch::take)
        {
            self.kill(seq, actor, reason)?;
            any = true;
        }
        if any {
            // The books moved without a bar: whoever watches is told.
            self.observe(seq);
        }
        Ok(())
    }

    /// Whether the venue can take the next bar (see [`Venue::ready`]).
    pub fn venue_ready(&self) -> bool {
        self.venue.ready()
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
        if !self.events.is_empty() {
            // The strategy hears of fills only once they are durable.
            self.journal.recorder.barrier()?;
        }
        let events = std::mem::take(&mut self.events);
        self.intents.clear();
        let budget = self.budget_for(seq, bars[0]);
        self.versions.serving().set_budget(budget);
        let r = self
            .versions
            .serving()
            .on_bars(bars, &events, &mut self.intents);
        self.amends = self.versions.serving().take_amends();
        self.events = events;
        self.events.clear();
        match r {
            Ok(()) => {
                if let Some(fault) = bar_index_fault(&self.intents, bars.len()) {
                    self.intents.clear();
                    self.amends.clear();
                    return Ok(Err(fault));
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

    /// How the serving version's fault at `bar` is diagnosed: this, then the fault.
    fn fault_head(&self, seq: u64, bar: Bar) -> String {
        format!(
            "plugin {} faulted at bar {seq} ({} {}): ",
            self.versions.label(),
            self.symbol_name(bar.symbol),
            crate::data::market::format_time(bar.time_ms)
        )
    }

    fn fault_message(&self, seq: u64, bar: Bar, fault: &runtime::Fault) -> String {
        let message = format!("{}{fault}", self.fault_head(seq, bar));
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

    fn finish(mut self) -> RunResult {
        // Most frequent first; ties in the order the rules first refused.
        self.out
            .refusals_by_rule
            .sort_by_key(|r| std::cmp::Reverse(r.count));
        let positions = self
            .books
            .ledger
            .holdings
            .iter()
            .enumerate()
            .filter(|(_, h)| h.quantity != 0.0)
            .map(|(i, h)| (self.symbols[i].clone(), h.quantity, h.average_price))
            .collect();
        if self.cfg.final_entry {
            self.record(Entry::Final {
                cash: self.books.ledger.cash,
                equity: self.books.ledger.equity(),
                realized: self.books.ledger.realized,
                commissions: self.books.ledger.commissions,
                positions,
            })?;
        }
        self.out.ledger = self.books.ledger;
        self.out.state = self.risk.state();
        Ok(self.out)
    }
}
