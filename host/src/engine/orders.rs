//! From intents to orders: validation, sizing, the risk check with
//! committed exposure, submission (journaled before the venue sees it),
//! cancels, protective orders and the risk engine's flatten.
//!
//! A second `impl` block of [`Engine`]: the bar loop is in `mod.rs`.

use super::Engine;
use crate::data::market::{Bar, SymbolId};
use crate::execution::{Approved, Exemption, Order, OrderKind, Origin, Side, Venue};
use crate::risk::{Decision, Proposal, Rule};
use crate::sandbox::runtime::{Action, Event, Intent, Protect, Rejection};
use crate::store::journal::{Entry, IntentAction, JournalError};

/// The price an order is valued at by the risk limits: what it can cost.
fn valuation(kind: OrderKind, reference: f64) -> f64 {
    match kind {
        OrderKind::Limit(p) => p.max(reference),
        _ => reference,
    }
}

impl<V: Venue> Engine<'_, V> {
    /// Whether bar `seq` only warms the strategy up: a research run's
    /// first bars ([`super::EngineConfig::warmup`]), a live bar older
    /// than its feed allows ([`super::Command::WarmUp`]), or a bar outside
    /// the market's session ([`crate::session::Session::decides`]).
    pub(super) fn warming_up(&self, seq: u64, bar: &Bar) -> bool {
        seq < self.cfg.warmup
            || bar.time_ms < self.controls.warm_before
            || self
                .controls
                .session
                .as_ref()
                .is_some_and(|s| !s.decides(bar.time_ms))
    }

    #[inline]
    pub(super) fn apply_intents(
        &mut self,
        range: std::ops::Range<usize>,
        bar: &Bar,
        seq: u64,
    ) -> Result<(), JournalError> {
        if self.warming_up(seq, bar) {
            // Warming up: decisions on these bars are not the run's.
            return Ok(());
        }
        for i in range {
            let intent = self.intents[i].clone();
            self.apply_intent(&intent, bar, seq)?;
        }
        Ok(())
    }

    /// The changes to protection alone decided on bar `index` of the last
    /// call, in order, after its intents (none while warming up).
    pub(super) fn apply_amends(
        &mut self,
        index: u32,
        bar: &Bar,
        seq: u64,
    ) -> Result<(), JournalError> {
        if self.warming_up(seq, bar) || self.amends.is_empty() {
            return Ok(());
        }
        let amends: Vec<_> = self
            .amends
            .iter()
            .filter(|a| a.0 == index)
            .copied()
            .collect();
        for (_, s, change) in amends {
            self.apply_amend(s, change, bar, seq)?;
        }
        Ok(())
    }

    /// A change to the protection of `s` alone: journaled, checked (the
    /// SDK's words), then the protective orders follow it.
    fn apply_amend(
        &mut self,
        s: SymbolId,
        change: sandbar_sdk::protection::Amend,
        bar: &Bar,
        seq: u64,
    ) -> Result<(), JournalError> {
        self.record(Entry::Amend {
            seq,
            time_ms: bar.time_ms,
            symbol: self.symbol_name(s),
            change,
            plugin: self.label(),
        })?;
        if let Err(detail) = sandbar_sdk::protection::validate(self.symbols.len(), s, &change) {
            return self.refuse(seq, bar, s, Rule::InvalidIntent, detail, false);
        }
        let position = self.books.ledger.position(s);
        let close = self.books.last_close[s as usize];
        let before = *self.protections.levels(s);
        if let Err(why) = self.protections.amend(s, change, position, close) {
            let detail = format!("{change} on {}: {why}", self.symbol_name(s));
            return self.refuse(seq, bar, s, Rule::InvalidIntent, detail, false);
        }
        // A stop moved away or cancelled may put more at risk than allowed.
        let average = self.books.ledger.holdings[s as usize].average_price;
        let stop = self
            .protections
            .levels(s)
            .stop_price(average, position.signum());
        let equity = self.books.ledger.equity();
        if let Some(r) = self.risk.stop_risk(position, close, stop, equity) {
            self.protections.restore(s, before);
            return self.refuse(seq, bar, s, r.rule, r.detail, false);
        }
        if position == 0.0 {
            // Placed once the entry fills.
            return Ok(());
        }
        self.sync_protection(s, seq, bar.time_ms)
    }

    /// Refuse an intent by `rule`; `exit`: it asked for an order that only
    /// reduces the position (or to close it).
    pub(super) fn refuse(
        &mut self,
        seq: u64,
        bar: &Bar,
        symbol: SymbolId,
        rule: Rule,
        detail: String,
        exit: bool,
    ) -> Result<(), JournalError> {
        self.out.refusals += 1;
        match self
            .out
            .refusals_by_rule
            .iter_mut()
            .find(|r| r.rule == rule)
        {
            Some(r) => {
                r.count += 1;
                r.exits += u64::from(exit);
            }
            None => self.out.refusals_by_rule.push(super::RuleCount {
                rule,
                count: 1,
                exits: u64::from(exit),
                first: detail.clone(),
            }),
        }
        self.record(Entry::Refusal {
            seq,
            symbol: self.symbol_name(symbol),
            rule,
            detail: detail.clone(),
            plugin: self.label(),
        })?;
        if exit {
            self.record(Entry::RefusedExit { seq })?;
        }
        self.events.push(Event::Rejected(Rejection {
            symbol,
            rule: rule.as_str().into(),
            detail,
            time_ms: bar.time_ms,
        }));
        Ok(())
    }

    pub(super) fn apply_intent(
        &mut self,
        intent: &Intent,
        bar: &Bar,
        seq: u64,
    ) -> Result<(), JournalError> {
        self.out.intents += 1;
        let s = intent.symbol;
        let reason = crate::sandbox::runtime::cut(intent.reason.clone(), 256);
        let price = |l: Option<Protect>| match l {
            Some(Protect::Price(p)) => Some(p),
            _ => None,
        };
        let distance = |l: Option<Protect>| match l {
            Some(Protect::FromEntry(d)) => Some(d),
            _ => None,
        };
        self.record(Entry::Intent {
            seq,
            time_ms: bar.time_ms,
            symbol: self.symbol_name(s),
            action: journal_action(&intent.action),
            stop_loss: price(intent.stop_loss),
            take_profit: price(intent.take_profit),
            reason,
            plugin: self.label(),
        })?;
        let (sl, tp) = (distance(intent.stop_loss), distance(intent.take_profit));
        if sl.is_some() || tp.is_some() {
            self.record(Entry::FromEntry {
                seq,
                stop_loss: sl,
                take_profit: tp,
            })?;
        }
        // Malformed intents are refused one by one; the run continues. The
        // rules and their words are the SDK's (`sandbar_sdk::intents`),
        // shared with its harness.
        let action = sandbar_sdk::Action::from(&intent.action);
        if let Err(detail) = sandbar_sdk::intents::validate(
            &self.symbols,
            &self.books.last_close,
            s,
            &action,
            intent.stop_loss,
            intent.take_profit,
        ) {
            let close = matches!(intent.action, Action::Close);
            let exit = close && self.books.ledger.position(s) != 0.0;
            return self.refuse(seq, bar, s, Rule::InvalidIntent, detail, exit);
        }
        let idx = s as usize;
        let price = self.books.last_close[idx];
        let pos = self.books.ledger.position(s);
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
        let equity = self.books.ledger.equity();
        // Targets count what may still fill (a live cancel not confirmed).
        let held = pos + self.venue.in_flight(s);
        // A ramping-up deployment trades a fraction of what it asks for.
        let f = self.ramp_fraction(bar.time_ms);
        let (delta, limit) = sandbar_sdk::intents::size(&action, equity, price, held, f);
        let kind = limit.map_or(OrderKind::Market, OrderKind::Limit);
        // A stop-loss or take-profit protects the position this intent asks for.
        let before = *self.protections.levels(s);
        self.protections.on_intent(
            s,
            matches!(intent.action, Action::Close),
            intent.stop_loss,
            intent.take_profit,
            (pos + delta).signum(),
        );
        if !delta.is_finite() {
            let detail = format!(
                "cannot be sized: the order quantity is {delta} (equity {equity}, price {price})"
            );
            return self.refuse(seq, bar, s, Rule::InvalidIntent, detail, false);
        }
        if delta.abs() <= 1e-12 * pos.abs().max(1.0) {
            return self.protect_only(s, before, seq, bar);
        }
        let side = Side::of(delta);
        let (other_exposure, open_positions) = self.committed_elsewhere(s);
        let average = self.books.ledger.holdings[idx].average_price;
        let valued = valuation(kind, price);
        let proposal = Proposal {
            side: side.into(),
            quantity: delta.abs(),
            price: valued,
            position: pos,
            equity,
            other_exposure,
            open_positions,
            stop: self
                .protections
                .levels(s)
                .planned_stop(pos, average, delta, valued),
        };
        let decision = self.risk.check(&proposal);
        if let Decision::Refused(r) = decision {
            if self.risk.config().max_risk_per_trade.is_finite() {
                // A refused intent does not move the stop the position
                // has (a farther one would put more at risk than allowed).
                self.protections.restore(s, before);
            }
            return self.refuse(seq, bar, s, r.rule, r.detail, proposal.reduces());
        }
        self.out.approved += 1;
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
        let approved = Approved::by_risk(order, &decision).expect("approved above");
        if pos != 0.0 && delta.signum() != pos.signum() && delta.abs() > pos.abs() {
            // A flip is two orders: a reduce-only close of the position and
            // the new position, approved as sized. If a protective stop
            // closes the position first, the close does nothing and the new
            // position is still exactly the one approved — never the old
            // one plus the new one.
            let (close, open) = approved.flip(pos.abs());
            self.submit(close)?;
            self.submit(open)?;
        } else {
            self.submit(approved)?;
        }
        self.sync_protection(s, seq, bar.time_ms)
    }

    /// An intent that changes only the protection of `s`'s position: a
    /// stop moved away may put more at risk than `max_risk_per_trade`
    /// allows, and is then refused with the levels put back (`before`).
    fn protect_only(
        &mut self,
        s: SymbolId,
        before: sandbar_sdk::protection::Levels,
        seq: u64,
        bar: &Bar,
    ) -> Result<(), JournalError> {
        let pos = self.books.ledger.position(s);
        let price = self.books.last_close[s as usize];
        let average = self.books.ledger.holdings[s as usize].average_price;
        let stop = self.protections.levels(s).stop_price(average, pos.signum());
        let equity = self.books.ledger.equity();
        if let Some(r) = self.risk.stop_risk(pos, price, stop, equity) {
            self.protections.restore(s, before);
            return self.refuse(seq, bar, s, r.rule, r.detail, false);
        }
        self.sync_protection(s, seq, bar.time_ms)
    }

    /// Committed exposure of every symbol but `except`: positions and open
    /// strategy orders as if they filled, valued as the risk limits value
    /// them; and how many of those symbols hold or would hold a position.
    pub(super) fn committed_elsewhere(&self, except: SymbolId) -> (f64, usize) {
        let (mut gross, mut held) = (0.0, 0);
        for j in 0..self.symbols.len() as SymbolId {
            if j == except {
                continue;
            }
            let now = self.books.ledger.position(j);
            let mark = self.books.last_close[j as usize];
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
    pub(super) fn drop_spent_reductions(
        &mut self,
        s: SymbolId,
        seq: u64,
    ) -> Result<(), JournalError> {
        let pos = self.books.ledger.position(s);
        let spent: Vec<u64> = self
            .venue
            .open_orders(s)
            .into_iter()
            .filter(|o| {
                o.reduce_only
                    && matches!(
                        o.origin,
                        Origin::Strategy | Origin::RiskFlatten | Origin::Rebalance
                    )
                    && -o.side.sign() * pos <= 0.0
            })
            .map(|o| o.id)
            .collect();
        for id in spent {
            self.cancel(id, seq, "nothing left to reduce")?;
        }
        Ok(())
    }

    /// Give an approved order the next id, journal it, then hand it to the
    /// venue: the only way an order reaches a venue.
    pub(super) fn submit(&mut self, mut approved: Approved) -> Result<u64, JournalError> {
        let id = self.journal.next_order_id;
        self.journal.next_order_id += 1;
        approved.order_mut().id = id;
        // Journaled before it reaches the venue.
        self.record(Entry::Order {
            order: approved.order().clone(),
            plugin: self.label(),
        })?;
        self.journal.recorder.barrier()?;
        self.out.protective_orders += u64::from(approved.order().origin.is_protective());
        self.venue.submit(approved);
        self.out.orders += 1;
        Ok(id)
    }

    pub(super) fn cancel(&mut self, id: u64, seq: u64, reason: &str) -> Result<(), JournalError> {
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
    pub(super) fn sync_protection(
        &mut self,
        s: SymbolId,
        seq: u64,
        time_ms: i64,
    ) -> Result<(), JournalError> {
        let position = self.books.ledger.position(s);
        let entry = self.books.ledger.holdings[s as usize].average_price;
        let open: Vec<Order> = self.venue.open_orders(s).into_iter().cloned().collect();
        let close = self.books.ledger.holdings[s as usize].mark;
        let venue = &self.venue;
        let trails = |side, quantity, trail, listed| venue.trails(s, side, quantity, trail, listed);
        let Some(plan) = self
            .protections
            .resync(s, position, entry, close, &open, &trails)
        else {
            return Ok(());
        };
        for id in plan.cancel {
            self.cancel(id, seq, plan.why)?;
        }
        for (kind, origin) in plan.place {
            let order = Order {
                id: 0,
                symbol: s,
                side: plan.side,
                quantity: plan.quantity,
                kind,
                origin,
                decided_seq: seq,
                decided_ms: time_ms,
                reduce_only: true,
            };
            let id = self.submit(Approved::exempt(order, Exemption::Protective))?;
            self.protections.placed(s, id);
        }
        self.venue.protection_done(s);
        Ok(())
    }

    /// HALTED: cancel every open order and flatten every position.
    /// After capital left the books (an account's rebalance), positions
    /// beyond the risk limits of the equity that remains are cut back with
    /// reduce-only market orders (origin `rebalance`): each symbol to at
    /// most `max_position` of equity, then all of them in proportion to at
    /// most `max_gross_exposure` — a smaller allocation means smaller
    /// positions, never leverage.
    pub(super) fn trim_to_limits(&mut self, seq: u64) -> Result<(), JournalError> {
        let equity = self.books.ledger.equity().max(0.0);
        let limits = *self.risk.config();
        let gross = self.books.ledger.gross_exposure();
        let cap = limits.max_gross_exposure * equity;
        let scale = if gross > cap && gross > 0.0 {
            cap / gross
        } else {
            1.0
        };
        for s in 0..self.symbols.len() as SymbolId {
            let h = self.books.ledger.holdings[s as usize];
            if h.quantity == 0.0 || h.mark.is_nan() || h.mark <= 0.0 {
                continue;
            }
            let keep = (h.quantity.abs() * scale).min(limits.max_position * equity / h.mark);
            let cut = h.quantity.abs() - keep;
            if cut > h.quantity.abs() * 1e-9 {
                let order = Order {
                    id: 0,
                    symbol: s,
                    side: Side::of(-h.quantity),
                    quantity: cut,
                    kind: OrderKind::Market,
                    origin: Origin::Rebalance,
                    decided_seq: seq,
                    decided_ms: self.now_ms,
                    reduce_only: true,
                };
                self.submit_exit(order, Exemption::Trim)?;
            }
        }
        Ok(())
    }

    /// The most parts one exit is sent in: a venue whose largest market order
    /// is smaller than a hundredth of the position refuses the parts (an
    /// `exit-refused` alert), rather than the host sending thousands.
    const MAX_EXIT_PARTS: f64 = 100.0;

    /// A market exit (the risk engine's flatten, a rebalance's cut) in as
    /// many equal parts as the venue's largest market order needs
    /// ([`Venue::largest_market`]: Binance refuses a market order above
    /// `MARKET_LOT_SIZE` `maxQty`, filters.md), the last taking what the
    /// division left.
    fn submit_exit(&mut self, order: Order, why: Exemption) -> Result<(), JournalError> {
        let parts = match self.venue.largest_market(order.symbol) {
            Some(max) if max > 0.0 && order.quantity > max => {
                (order.quantity / max).ceil().min(Self::MAX_EXIT_PARTS)
            }
            _ => 1.0,
        } as usize;
        let each = order.quantity / parts as f64;
        let mut left = order.quantity;
        for k in 0..parts {
            let quantity = if k + 1 == parts { left } else { each };
            left -= quantity;
            let part = Order {
                quantity,
                ..order.clone()
            };
            self.submit(Approved::exempt(part, why))?;
        }
        Ok(())
    }

    pub(super) fn flatten_all(&mut self, seq: u64, why: &str) -> Result<(), JournalError> {
        for s in 0..self.symbols.len() as SymbolId {
            let ids: Vec<u64> = self
                .venue
                .open_orders(s)
                .into_iter()
                .map(|o| o.id)
                .collect();
            for id in ids {
                self.cancel(id, seq, why)?;
            }
            self.protections.reset(s);
            let pos = self.books.ledger.position(s);
            if pos != 0.0 {
                let order = Order {
                    id: 0,
                    symbol: s,
                    side: Side::of(-pos),
                    quantity: pos.abs(),
                    kind: OrderKind::Market,
                    origin: Origin::RiskFlatten,
                    decided_seq: seq,
                    decided_ms: self.now_ms,
                    reduce_only: true,
                };
                self.submit_exit(order, Exemption::Flatten)?;
            }
        }
        Ok(())
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
