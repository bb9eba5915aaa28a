//! Which version of a strategy serves, and the machinery that changes it:
//! swaps planned at bar boundaries, the version standing by after a swap,
//! rollback (on a fault, a drawdown or an operator's word), and the commit
//! once the new version has outlived its rollback window.
//!
//! A swap hands the serving version's snapshot to the new one. Orders,
//! positions and risk state belong to the host and are never touched. This
//! type decides and keeps the versions; the engine journals what it reports
//! (every method returns the journal entry) and owns the bar loop.

use std::collections::VecDeque;

use super::driver::StrategyDriver;
use crate::sandbox::runtime::{CallError, Fault};
use crate::store::journal::Entry;

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

/// The version a swap replaced, kept (with the state it had) until the new
/// one has proven itself for the rollback window.
struct Standby<'a> {
    driver: Box<dyn StrategyDriver + 'a>,
    label: String,
    since_seq: u64,
    equity_at_swap: f64,
}

/// What a swap came to; each carries the entry to journal.
pub(super) enum SwapOutcome {
    /// The new version serves.
    Swapped(Entry),
    /// It does not: the old one could not snapshot (a typed refusal) or the
    /// new one refused the state. The old one still serves.
    Refused(Entry),
    /// The serving version *faulted* while snapshotting: it is broken and
    /// must never be called again.
    ServingFaulted(Entry, Fault),
}

/// What a look at the standby at a bar boundary decided.
pub(super) enum Review {
    /// Nothing to do.
    Keep,
    /// Roll back, for this cause.
    RollBack(String),
    /// The window passed: the swap is committed (journal this).
    Commit(Entry),
}

/// The serving version, the one standing by, and the swaps planned.
pub(super) struct Versions<'a> {
    serving: Box<dyn StrategyDriver + 'a>,
    label: String,
    standby: Option<Standby<'a>>,
    planned: VecDeque<PlannedSwap<'a>>,
    symbols: usize,
}

impl<'a> Versions<'a> {
    pub(super) fn new(
        mut serving: Box<dyn StrategyDriver + 'a>,
        label: String,
        symbols: usize,
    ) -> Self {
        serving.view_mut().positions = vec![(0.0, 0.0, 0.0); symbols];
        serving.view_mut().marks = vec![0.0; symbols];
        Self {
            serving,
            label,
            standby: None,
            planned: VecDeque::new(),
            symbols,
        }
    }

    /// The version in service.
    #[inline]
    pub(super) fn serving(&mut self) -> &mut (dyn StrategyDriver + 'a) {
        &mut *self.serving
    }

    /// Whether the serving version takes windows of bars (exact batching).
    #[inline]
    pub(super) fn serving_exact(&self) -> bool {
        self.serving.exact()
    }

    /// Its `name@version`.
    #[inline]
    pub(super) fn label(&self) -> &str {
        &self.label
    }

    /// The `name@version` a rollback would return to.
    #[inline]
    pub(super) fn standby_label(&self) -> Option<&str> {
        self.standby.as_ref().map(|s| s.label.as_str())
    }

    /// Plan a swap; planned swaps stay in bar order.
    pub(super) fn schedule(&mut self, swap: PlannedSwap<'a>) {
        let at = self.planned.partition_point(|s| s.at_seq <= swap.at_seq);
        self.planned.insert(at, swap);
    }

    /// The bar of the next planned swap (batches are cut there).
    #[inline]
    pub(super) fn next_planned(&self) -> Option<u64> {
        self.planned.front().map(|s| s.at_seq)
    }

    /// The planned swap due at `seq`, if any.
    #[inline]
    pub(super) fn take_due(&mut self, seq: u64) -> Option<PlannedSwap<'a>> {
        if self.planned.front().is_some_and(|p| p.at_seq <= seq) {
            self.planned.pop_front()
        } else {
            None
        }
    }

    /// Capital moved in or out (an account's rebalance): the equity at the
    /// swap moves with it, so a withdrawal is not a drawdown since the swap.
    pub(super) fn rescale(&mut self, factor: f64) {
        if let Some(sb) = &mut self.standby
            && factor.is_finite()
            && factor > 0.0
        {
            sb.equity_at_swap *= factor;
        }
    }

    /// At a bar boundary: roll back on drawdown since the swap, or commit
    /// the swap once `window` bars have passed. `equity` is asked for only
    /// while a version stands by (it sums every position: not per bar).
    #[inline]
    pub(super) fn review(
        &mut self,
        seq: u64,
        equity: impl FnOnce() -> f64,
        window: u64,
        rollback_drawdown: Option<f64>,
    ) -> Review {
        let Some(sb) = &self.standby else {
            return Review::Keep;
        };
        let equity = equity();
        let dd = if sb.equity_at_swap > 0.0 {
            1.0 - equity / sb.equity_at_swap
        } else {
            0.0
        };
        if let Some(limit) = rollback_drawdown
            && dd >= limit
        {
            Review::RollBack(format!(
                "drawdown since the swap {:.2}% reached the rollback limit {:.2}%",
                dd * 100.0,
                limit * 100.0
            ))
        } else if seq >= sb.since_seq + window {
            self.standby = None;
            Review::Commit(Entry::SwapCommitted {
                seq,
                version: self.label.clone(),
            })
        } else {
            Review::Keep
        }
    }

    /// Hand the serving version's state to `plan`; it serves from `seq` on.
    pub(super) fn swap(
        &mut self,
        seq: u64,
        plan: PlannedSwap<'a>,
        actor: &str,
        reason: &str,
        equity: f64,
    ) -> SwapOutcome {
        let from = self.label.clone();
        let to = plan.label;
        let refused = |why: String| Entry::SwapRefused {
            seq,
            from: from.clone(),
            to: to.clone(),
            reason: why,
        };
        let state = match self.serving.snapshot() {
            Ok(state) => state,
            Err(e) => {
                let entry = refused(format!("{from} could not snapshot its state: {e}"));
                return match e {
                    CallError::Fault(fault) => SwapOutcome::ServingFaulted(entry, fault),
                    CallError::Refused(_) => SwapOutcome::Refused(entry),
                };
            }
        };
        let mut new = plan.driver;
        if let Err(e) = new.restore(&self.serving.version(), &state) {
            return SwapOutcome::Refused(refused(format!("{to} refused the state of {from}: {e}")));
        }
        let plan = PlannedSwap {
            at_seq: seq,
            driver: new,
            label: to,
        };
        SwapOutcome::Swapped(self.put_in_service(
            seq,
            plan,
            actor,
            reason,
            state.len() as u64,
            equity,
        ))
    }

    /// Make `plan` the serving version as it is (a promoted shadow keeps the
    /// state it built); the old one stands by for rollback.
    pub(super) fn put_in_service(
        &mut self,
        seq: u64,
        plan: PlannedSwap<'a>,
        actor: &str,
        reason: &str,
        state_bytes: u64,
        equity: f64,
    ) -> Entry {
        let from = self.label.clone();
        let to = plan.label;
        let mut new = plan.driver;
        new.view_mut().positions = vec![(0.0, 0.0, 0.0); self.symbols];
        new.view_mut().marks = vec![0.0; self.symbols];
        let old = std::mem::replace(&mut self.serving, new);
        self.standby = Some(Standby {
            driver: old,
            label: std::mem::replace(&mut self.label, to.clone()),
            since_seq: seq,
            equity_at_swap: equity,
        });
        Entry::Swap {
            seq,
            from,
            to,
            state_bytes,
            actor: actor.into(),
            reason: reason.into(),
        }
    }

    /// Put the standby version back in service with the state it had at the
    /// swap; `None` when nothing stands by.
    pub(super) fn roll_back(&mut self, seq: u64, cause: String) -> Option<Entry> {
        let sb = self.standby.take()?;
        let from = std::mem::replace(&mut self.label, sb.label);
        self.serving = sb.driver;
        Some(Entry::Rollback {
            seq,
            from,
            to: self.label.clone(),
            cause,
        })
    }

    /// The serving version faulted and an operator named what serves
    /// instead (restored already): the faulted instance is dropped.
    pub(super) fn replace_faulted(
        &mut self,
        mut driver: Box<dyn StrategyDriver + 'a>,
        label: String,
    ) {
        driver.view_mut().positions = vec![(0.0, 0.0, 0.0); self.symbols];
        driver.view_mut().marks = vec![0.0; self.symbols];
        self.serving = driver;
        self.label = label;
    }

    /// Whether a version stands by.
    #[inline]
    pub(super) fn can_roll_back(&self) -> bool {
        self.standby.is_some()
    }
}
