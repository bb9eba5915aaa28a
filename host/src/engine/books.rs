//! The books as the run moves: a fill booked, marks, the view a plugin reads, the status the service shows.

use super::*;

impl<'a, V: Venue> Engine<'a, V> {
    /// Tell the controller how things stand after a bar.
    pub(super) fn observe(&mut self, next_seq: u64) {
        if let Some(mut controller) = self.controls.controller.take() {
            let status = self.status(next_seq);
            controller.after_bar(&status);
            self.controls.controller = Some(controller);
        }
    }

    /// What a controller sees at a boundary.
    pub(super) fn status(&mut self, seq: u64) -> Status {
        let equity = self.books.ledger.equity();
        self.books.peak_equity = self.books.peak_equity.max(equity);
        let positions = self
            .books
            .ledger
            .holdings
            .iter()
            .enumerate()
            .filter(|(_, h)| h.quantity != 0.0)
            .map(|(i, h)| (self.symbols[i].clone(), h.quantity, h.average_price))
            .collect();
        let marks = self
            .books
            .ledger
            .holdings
            .iter()
            .filter(|h| h.quantity != 0.0)
            .map(|h| (h.mark, h.unrealized()))
            .collect();
        let open_orders = (0..self.symbols.len() as SymbolId)
            .map(|s| self.venue.open_orders(s).len())
            .sum();
        let in_motion = (0..self.symbols.len() as SymbolId)
            .filter(|&s| {
                self.venue.in_flight(s) != 0.0
                    || self
                        .venue
                        .open_orders(s)
                        .iter()
                        .any(|o| !o.kind.is_protective())
            })
            .map(|s| self.symbols[s as usize].clone())
            .collect();
        let gross_exposure = self
            .books
            .ledger
            .holdings
            .iter()
            .zip(&self.books.last_close)
            .filter(|(h, _)| h.quantity != 0.0)
            .map(|(h, c)| (h.quantity * c).abs())
            .sum();
        Status {
            seq,
            serving: self.label(),
            standby: self.versions.standby_label().map(str::to_string),
            equity,
            paused: self.controls.paused.clone(),
            orders: self.out.orders,
            trades: self.books.ledger.trades.len(),
            risk_state: format!("{:?}", self.risk.state()).to_uppercase(),
            cash: self.books.ledger.cash,
            peak_equity: self.books.peak_equity,
            positions,
            open_orders,
            in_motion,
            gross_exposure,
            last_bar_ms: self.now_ms,
            next_bar_ms: None,
            marks,
            record: crate::portfolio::TradeRecord::of(&self.books.ledger.trades),
            ramp: self
                .controls
                .ramp
                .as_ref()
                .map(|_| self.ramp_fraction(self.now_ms)),
            capital: self.books.ledger.initial_cash,
        }
    }

    pub(super) fn book_fill(&mut self, f: &FillReport, seq: u64) -> Result<(), JournalError> {
        // Journaled before the strategy (or anything else) hears of it.
        self.record(Entry::Fill {
            seq,
            fill: f.clone(),
            plugin: self.label(),
        })?;
        let trade = self.books.ledger.apply(&Execution::from(f));
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
        if f.done {
            self.protections.done(f.symbol, f.order_id);
        }
        self.flush_changes(seq)
    }

    pub(super) fn update_view(&mut self) {
        let view = self.versions.serving().view_mut();
        view.cash = self.books.ledger.cash;
        view.equity = self.books.ledger.equity();
        for (slot, h) in view.positions.iter_mut().zip(&self.books.ledger.holdings) {
            *slot = (h.quantity, h.average_price, h.unrealized());
        }
        let holdings = &self.books.ledger.holdings;
        let protections = &self.protections;
        view.protections.clear();
        view.protections.extend(
            holdings
                .iter()
                .enumerate()
                .map(|(s, h)| protections.resting(s as SymbolId, h.quantity, h.average_price)),
        );
    }

    /// The marks the view re-marks from inside a window (only windows need them).
    pub(super) fn update_marks(&mut self) {
        let view = self.versions.serving().view_mut();
        for (mark, h) in view.marks.iter_mut().zip(&self.books.ledger.holdings) {
            *mark = h.mark;
        }
    }
}
