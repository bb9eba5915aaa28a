//! Exact batching: a window of bars delivered in one call with exactly the outcome of per-bar delivery — how long a window may be, which bars can join it, and what to do when a plugin names a bar outside it.

use super::*;

impl<'a, V: Venue> Engine<'a, V> {
    /// `bars[0]` — the boundary, its fills and marks, the strategy's
    /// decision — and with `exact`, as many of the following quiet bars as
    /// the strategy takes before it decides something (exact batching).
    /// Returns the bars consumed; `None`: the run ends here.
    pub(super) fn step_window(
        &mut self,
        bars: &[Bar],
        seq: u64,
        exact: bool,
    ) -> Result<Option<usize>, JournalError> {
        let bar = &bars[0];
        self.tick(seq)?;
        if !self.boundary(seq, bar)? {
            return Ok(None);
        }
        self.process_bar(bar, seq)?;
        if self.controls.paused.is_some() {
            self.observe(seq + 1);
            return Ok(Some(1));
        }
        self.update_view();
        // Whatever can act at a boundary (a controller's command, a pause on
        // drawdown, a rollback review) or a version without windows: one bar.
        let windows = exact
            && self.controls.controller.is_none()
            && self.cfg.pause_drawdown.is_none()
            && !self.versions.can_roll_back()
            && !self.decisions_pending()
            && !self.faults_to_re_execute()
            && self.versions.serving_exact();
        if !windows {
            if !self.deliver_or_roll_back(std::slice::from_ref(bar), seq)? {
                return Ok(None);
            }
            let n = self.intents.len();
            self.apply_intents(0..n, bar, seq)?;
            self.apply_amends(0, bar, seq)?;
            self.intents.clear();
            self.amends.clear();
            self.observe(seq + 1);
            return Ok(Some(1));
        }
        // A window of one bar when the next is not quiet: the strategy is
        // told it may pull whatever the bars hold (`more` is true), and its
        // pull then answers none, so it learns nothing of the next bar it
        // could act on (see `wit/strategy.wit`).
        let quiet = self.quiet_run(&bars[1..bars.len().min(self.window_hint)]);
        let window = &bars[..=quiet];
        self.update_marks();
        if !self.events.is_empty() {
            // The strategy hears of fills only once they are durable.
            self.journal.recorder.barrier()?;
        }
        let events = std::mem::take(&mut self.events);
        self.intents.clear();
        let budget = self.budget_for(seq, bars[0]);
        self.versions.serving().set_budget(budget);
        let (taken, r) = self
            .versions
            .serving()
            .on_window(window, &events, &mut self.intents);
        self.amends = self.versions.serving().take_amends();
        self.events = events;
        self.events.clear();
        let taken = taken.clamp(1, window.len());
        self.window_hint = if taken == window.len() {
            (self.window_hint * 2).min(MAX_WINDOW)
        } else {
            (taken * 2).max(MIN_WINDOW)
        };
        // Steps 1–3 of the bars taken: quiet by construction, so doing them
        // after the call changes nothing the strategy saw.
        for (j, b) in window.iter().enumerate().take(taken).skip(1) {
            self.process_bar(b, seq + j as u64)?;
        }
        let (last, at) = (window[taken - 1], seq + taken as u64 - 1);
        let r = r.and_then(|()| match bar_index_fault(&self.intents, 1) {
            Some(f) => Err(CallError::Fault(f)),
            None => Ok(()),
        });
        match r {
            Ok(()) => {
                let n = self.intents.len();
                self.apply_intents(0..n, &last, at)?;
                self.apply_amends(0, &last, at)?;
            }
            Err(CallError::Refused(message)) => {
                self.record(Entry::StrategyError { seq: at, message })?
            }
            Err(CallError::Fault(fault)) => {
                self.intents.clear();
                self.fault(at, last, fault)?;
                return Ok(None);
            }
        }
        self.intents.clear();
        self.amends.clear();
        self.observe(at + 1);
        Ok(Some(taken))
    }

    /// How many of `bars` (those after the bar just processed) are quiet:
    /// processing each in turn would fill nothing and change no risk state,
    /// with the positions as they stand. The risk engine is asked on a copy,
    /// with equity computed exactly as the ledger will compute it.
    pub(super) fn quiet_run(&self, bars: &[Bar]) -> usize {
        let mut risk = self.risk.clone();
        let mut changes = Vec::new();
        let holdings = &self.books.ledger.holdings;
        let held = holdings.iter().any(|h| h.quantity != 0.0);
        let mut marks: Vec<f64> = if held {
            holdings.iter().map(|h| h.mark).collect()
        } else {
            Vec::new()
        };
        let cash = self.books.ledger.cash;
        let mut equity = self.books.ledger.equity();
        for (j, bar) in bars.iter().enumerate() {
            if !self.venue.quiet(bar) {
                return j;
            }
            // A trailing stop that would move changes what the strategy
            // reads (and the orders resting): not quiet.
            let position = holdings
                .get(bar.symbol as usize)
                .map_or(0.0, |h| h.quantity);
            if self.protections.would_ratchet(bar, position) {
                return j;
            }
            let before = equity;
            risk.begin_day(self.risk_day(bar), || before, &mut changes);
            let s = bar.symbol as usize;
            if held && holdings.get(s).is_some_and(|h| h.quantity != 0.0) {
                marks[s] = bar.close;
                // `Ledger::equity`, term for term.
                equity = cash
                    + holdings
                        .iter()
                        .zip(&marks)
                        .map(|(h, m)| h.quantity * m)
                        .sum::<f64>();
            }
            risk.end_bar(equity, &mut changes);
            if !changes.is_empty() {
                return j;
            }
        }
        bars.len()
    }

    /// Deliver; on a fault within a swap's rollback window, roll back and
    /// deliver the same bars to the restored version. `false` stops the run.
    pub(super) fn deliver_or_roll_back(
        &mut self,
        bars: &[Bar],
        seq: u64,
    ) -> Result<bool, JournalError> {
        if self.fault_expected(seq) {
            return self.deliver_expecting_fault(bars, seq);
        }
        // Kept only while a rollback is possible, to redeliver them.
        let events = if self.versions.can_roll_back() {
            self.events.clone()
        } else {
            Vec::new()
        };
        match self.deliver(bars, seq)? {
            Ok(()) => Ok(true),
            Err(fault) if self.versions.can_roll_back() => {
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
}
