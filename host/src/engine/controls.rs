//! What steers a run from outside its strategy: pauses, hot swaps and rollbacks, capital moved by an account, the ramp-up of a new live run.

use super::*;

impl<'a, V: Venue> Engine<'a, V> {
    /// Capital moved in or out by the account: the books take it as cash
    /// (not PnL), and every equity a limit is measured from (the risk
    /// engine's day start and peak, the pause peak, the equity at a swap)
    /// moves in proportion, so the limits apply to the allocated capital
    /// (a withdrawal then trims positions to them: `trim_to_limits`).
    pub(super) fn allocate(&mut self, amount: f64) {
        let before = self.books.ledger.equity();
        self.books.ledger.transfer(amount);
        let after = self.books.ledger.equity();
        if before > 0.0 && after > 0.0 {
            let factor = after / before;
            self.risk.rescale(factor);
            self.versions.rescale(factor);
            self.books.peak_equity *= factor;
        }
    }

    /// Trade a fraction of the capital that grows on a schedule from the
    /// run's first bar (a LIVE deployment's ramp-up): every quantity the
    /// strategy asks for — a target weight, a target quantity, an order — is
    /// scaled by it before the risk check. Deterministic: it depends on bar
    /// times only.
    pub fn set_ramp_up(&mut self, ramp: crate::portfolio::allocation::RampUp) {
        self.controls.ramp = Some(ramp);
    }

    /// Trade in `session`'s hours and days only: its day is the risk
    /// engine's, a bar outside it only warms the strategy up, and the
    /// venue follows it too (the simulated venue fills inside it, a live
    /// venue checks host-held stops on bars that may trade). Without one,
    /// a run trades 24/7 and its days are UTC's.
    pub fn set_session(&mut self, session: crate::session::Session) {
        self.venue.follow_session(&session);
        self.controls.session = Some(session);
    }

    /// The risk engine's trading day of `bar`.
    pub(super) fn risk_day(&self, bar: &Bar) -> i64 {
        match &self.controls.session {
            Some(s) => s.day(bar.time_ms),
            None => bar.time_ms.div_euclid(86_400_000),
        }
    }

    /// The ramp-up fraction at `now_ms` (1 without a ramp-up).
    pub(super) fn ramp_fraction(&self, now_ms: i64) -> f64 {
        match (&self.controls.ramp, self.controls.first_bar_ms) {
            (Some(r), Some(first)) => r.fraction(first, now_ms),
            (Some(r), None) => r.fraction(now_ms, now_ms),
            _ => 1.0,
        }
    }

    pub(super) fn pause(
        &mut self,
        seq: u64,
        actor: String,
        reason: String,
    ) -> Result<(), JournalError> {
        self.controls.paused = Some(format!("{reason} ({actor})"));
        self.record(Entry::Paused { seq, actor, reason })
    }

    /// Hand the strategy's state to another version; it serves from `seq` on.
    /// If the old version cannot snapshot or the new one refuses the state,
    /// the new one never serves.
    ///
    /// A *fault* while snapshotting means the serving instance is broken: it
    /// is never called again (rolled back from, or the run ends). `false`
    /// ends the run.
    pub(super) fn swap(
        &mut self,
        seq: u64,
        bar: &Bar,
        plan: PlannedSwap<'a>,
        actor: &str,
        reason: &str,
    ) -> Result<bool, JournalError> {
        let equity = self.books.ledger.equity();
        match self.versions.swap(seq, plan, actor, reason, equity) {
            SwapOutcome::Swapped(entry) => {
                self.update_view();
                self.record(entry)?;
                Ok(true)
            }
            SwapOutcome::Refused(entry) => {
                self.record(entry)?;
                Ok(true)
            }
            SwapOutcome::ServingFaulted(entry, fault) => {
                self.record(entry)?;
                self.serving_faulted(seq, bar, fault)
            }
        }
    }

    /// The serving instance faulted outside a bar delivery (while taking a
    /// snapshot): roll back if a previous version stands by, else end the
    /// run. A faulted instance is never called again. `false` ends the run.
    pub(super) fn serving_faulted(
        &mut self,
        seq: u64,
        bar: &Bar,
        fault: runtime::Fault,
    ) -> Result<bool, JournalError> {
        if self.versions.can_roll_back() {
            let cause = self.fault_message(seq, *bar, &fault);
            self.roll_back(seq, cause)?;
            Ok(true)
        } else {
            self.fault(seq, *bar, fault)?;
            Ok(false)
        }
    }

    /// Make `plan` the serving version as it is; the old one stands by.
    pub(super) fn put_in_service(
        &mut self,
        seq: u64,
        plan: PlannedSwap<'a>,
        actor: &str,
        reason: &str,
        state_bytes: u64,
    ) -> Result<(), JournalError> {
        let equity = self.books.ledger.equity();
        let entry = self
            .versions
            .put_in_service(seq, plan, actor, reason, state_bytes, equity);
        self.update_view();
        self.record(entry)
    }

    /// Put the standby version back in service, with the state it had at the swap.
    pub(super) fn roll_back(&mut self, seq: u64, cause: String) -> Result<(), JournalError> {
        match self.versions.roll_back(seq, cause) {
            Some(entry) => {
                self.update_view();
                self.record(entry)
            }
            None => Ok(()),
        }
    }
}
