//! Going on past a fault: an operator's decision, journaled, that lets a
//! faulted run continue instead of ending — skip the faulting call, or put
//! another version in service — without the re-execution ever diverging.
//!
//! Why it needs the engine: a trapped wasm instance is never called again,
//! and the state it had *before* the faulting call exists only while that
//! call has not been made. A decision is therefore always carried out by a
//! re-execution (a faulted run has ended; its restart re-runs the journal):
//! the engine knows from the journal at which bar the fault comes, takes the
//! serving version's snapshot just before delivering that bar, lets the call
//! fault exactly as it did (the `fault` entry is verified byte for byte),
//! and restores a fresh instance from that snapshot. The decision is
//! journaled right after the fault (an `after-fault` command), so every
//! later re-execution takes the same way past it.
//!
//! What the strategy sees: with `skip` (the same version), the faulting bar
//! is never delivered, and the fills it carried are heard with the next bar;
//! with another version, the faulting bar and its fills are delivered to it,
//! as an automatic rollback does. If the snapshot or the restore is refused,
//! nothing new is journaled and the run ends at the fault as before; the
//! outcome says why ([`RunOutcome::after_fault_refused`]).

use super::*;

/// Loads a fresh instance of a version (`name@version`), instantiated and
/// initialised; the engine restores it.
pub type LoadVersion<'a> =
    Box<dyn FnOnce(&str) -> Result<Box<dyn StrategyDriver + 'a>, String> + Send + 'a>;

/// How a run goes on past the fault at bar `at_seq`, decided by an operator.
pub struct AfterFault<'a> {
    /// The bar whose delivery faults.
    pub at_seq: u64,
    /// What serves from there: `None` or the faulting version itself skips
    /// the faulting call (a fresh instance: the faulted one is dead);
    /// another version is delivered the faulting bar.
    pub version: Option<String>,
    /// Loads it.
    pub load: LoadVersion<'a>,
    /// Who decided.
    pub actor: String,
    /// Why.
    pub reason: String,
}

impl<'a, V: Venue> Engine<'a, V> {
    /// Go on past the fault at `plan.at_seq` as `plan` says (journaled
    /// decisions when re-executing, or an operator's new one). Decisions are
    /// kept in bar order; one per bar.
    pub fn continue_after_fault(&mut self, plan: AfterFault<'a>) {
        let at = self
            .controls
            .after_fault
            .partition_point(|p| p.at_seq < plan.at_seq);
        if self
            .controls
            .after_fault
            .get(at)
            .is_some_and(|p| p.at_seq == plan.at_seq)
        {
            self.controls.after_fault[at] = plan;
        } else {
            self.controls.after_fault.insert(at, plan);
        }
    }

    /// Whether a decision waits for a fault at `seq` (its delivery then
    /// takes the serving version's snapshot first, and goes alone).
    #[inline]
    pub(super) fn fault_expected(&self, seq: u64) -> bool {
        self.controls
            .after_fault
            .first()
            .is_some_and(|p| p.at_seq <= seq)
    }

    /// Any decision at all (exact windows are off: each bar goes alone).
    #[inline]
    pub(super) fn decisions_pending(&self) -> bool {
        !self.controls.after_fault.is_empty()
    }

    /// Deliver `bars` (one bar) at `seq`, where a fault is expected: take
    /// the snapshot, deliver, and on the fault carry out the decision.
    /// `false` ends the run.
    pub(super) fn deliver_expecting_fault(
        &mut self,
        bars: &[Bar],
        seq: u64,
    ) -> Result<bool, JournalError> {
        // Decisions for bars already passed (the run diverged from the
        // journal, which the journal reports) are dropped.
        while self
            .controls
            .after_fault
            .first()
            .is_some_and(|p| p.at_seq < seq)
        {
            self.controls.after_fault.remove(0);
        }
        let plan = self.controls.after_fault.remove(0);
        let from = self.versions.serving().version();
        let state = self.versions.serving().snapshot();
        let events = self.events.clone();
        let fault = match self.deliver(bars, seq)? {
            Ok(()) => return Ok(true),
            Err(fault) => fault,
        };
        self.fault(seq, bars[0], fault)?;
        let label = plan
            .version
            .clone()
            .unwrap_or_else(|| self.versions.label().to_string());
        let skip = label == self.versions.label();
        let refused = |why: String| {
            format!("could not go on past the fault at bar {seq} with {label}: {why}")
        };
        let state = match state {
            Ok(state) => state,
            Err(e) => {
                let why = format!(
                    "{} could not snapshot its state before the call: {e}",
                    self.versions.label()
                );
                self.out.after_fault_refused = Some(refused(why));
                return Ok(false);
            }
        };
        let restored = (plan.load)(&label).and_then(|mut driver| {
            driver
                .restore(&from, &state)
                .map(|()| driver)
                .map_err(|e| format!("{label} refused the state: {e}"))
        });
        let driver = match restored {
            Ok(driver) => driver,
            Err(why) => {
                self.out.after_fault_refused = Some(refused(why));
                return Ok(false);
            }
        };
        self.record(Entry::Command {
            seq,
            action: crate::store::journal::CommandAction::AfterFault {
                version: label.clone(),
                skip,
            },
            actor: plan.actor,
            reason: plan.reason,
        })?;
        self.versions.replace_faulted(driver, label);
        self.out.fault = None;
        self.out.faults_continued += 1;
        self.update_view();
        self.events = events;
        if skip {
            // The fills the skipped call carried are heard with the next bar.
            self.intents.clear();
            self.amends.clear();
            return Ok(true);
        }
        match self.deliver(bars, seq)? {
            Ok(()) => Ok(true),
            Err(fault) => {
                self.fault(seq, bars[0], fault)?;
                Ok(false)
            }
        }
    }
}
