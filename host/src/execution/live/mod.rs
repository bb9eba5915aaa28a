//! A live venue: orders go to a real exchange or broker through a
//! [`Connector`], and what the venue says about them comes back as inputs
//! of the run.
//!
//! The engine is bar-driven and deterministic; a venue is neither. The
//! seam between them:
//! - **Orders out.** The engine journals an order and commits before
//!   [`Venue::submit`] (principle 2); the live venue hands it to its
//!   *courier* — one thread per deployment that talks to the venue — and
//!   returns at once, so a slow venue never holds a worker.
//! - **Updates in.** The courier's answers (acknowledgements, executions,
//!   cancels, rejections) wait in an inbox and wake the deployment. Between
//!   bars — before the next bar's boundary, and whenever the service looks
//!   while no bar comes — the venue applies them one at a time to each
//!   order's state machine ([`order_state`](crate::execution::order_state))
//!   and the engine journals every one that changed something
//!   ([`VenueNote`]) before it books the fill it carries and reacts to it:
//!   the strategy hears of a fill at its next bar, after it is durable.
//! - **Recovery.** Journaled notes are inputs, like bars: re-execution
//!   after a restart takes them from the journal at the same bars, so the
//!   books come back exactly. Once the journaled bars are re-executed the
//!   venue *reconciles*, and bars wait until it has ([`Venue::ready`]):
//!   every order the journal leaves open is looked up by its client order
//!   id (fills made while the host was down are adopted, duplicates of
//!   journaled ones ignored by execution id); one the venue has not seen
//!   when the grace period is over ends if its cancel was asked; is sent
//!   if the courier's write-ahead record ([`sent`]) proves it never left
//!   (the host stopped between journaling and sending it); and is
//!   otherwise *unknown* (below): it may have left before the host stopped.
//! - **Outcomes are typed** ([`Outcome`]): rejected with the venue's reason;
//!   retry later (a 429, a 418, a request that never left); *unknown* (a
//!   timeout or a 5xx after sending): the courier looks the order up by
//!   client order id. A "not found" proves nothing — a venue can be slow to
//!   list a new order, and a client order id is not unique for ever
//!   (Binance: "unique among open orders") — so the order is **never
//!   resent**: past [`CourierConfig::not_found_grace`] it stays open to
//!   polling, an [`Update::Unknown`] note pauses the deployment (no new
//!   risk) and the operator is told; if it shows up it is booked.
//! - **Lots.** An order the venue takes rounded down to its lot step is
//!   journaled at that quantity ([`Update::Resized`]) before it leaves, so
//!   a full fill completes it; a fee the venue keeps out of the asset
//!   bought ([`Update::NetFill`]) books the position net of it, as the
//!   account holds it.
//! - **Protective orders.** Where the connector rests stops at the venue
//!   ([`Connector::holds_stops`]: Binance `STOP_LOSS`), a position's stop
//!   is an order at the venue, kept matching the position, so it holds
//!   while the host is down; it is pulled before any other order on its
//!   side of the symbol (a resting sell locks what it may sell) and put
//!   back once the exit filled, or at the next bar. Where the venue also
//!   holds targets ([`Connector::holds_targets`]: Binance OCO lists) stop
//!   and take-profit leave together as one list ([`Placement::target`]):
//!   two separate sells would lock the balance twice. A stop or target the
//!   venue does not hold, or one the last closed bar already reached, is
//!   held by the host, triggered on closed bars by the simulated venue's
//!   rules, and goes out as a market order for what is left — only on a
//!   bar inside the market's session, when the run has one.
//!
//! Files: [`adapter`] a venue's settings; [`connector`] what an adapter
//! implements (it honours the venue's limits); [`courier`] the thread that
//! talks to the venue; [`pace`] the host's order rates (10 a second per
//! deployment by default, and per venue); [`naming`] client order ids;
//! [`problems`] what the courier could not do; this file the [`LiveVenue`]
//! the engine sees.

pub mod adapter;
pub mod connector;
pub mod courier;
pub mod naming;
pub mod pace;
pub mod problems;
mod protective;
pub mod reconcile;
pub mod sent;
mod tracked;

pub use adapter::VenueAdapter;
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

pub use connector::{
    Connector, Execution, Finding, Leg, NativeTrail, OpenOrder, Outcome, Placement, Push, PushSink,
    Pushes, Report, Status, reconnecting,
};
use courier::{Courier, Job, Withdrawn};
pub use courier::{CourierConfig, CourierCounts, KillHandle, Waker};
pub use naming::Naming;
pub use pace::Pace;
pub use problems::*;
pub use reconcile::ReconcileConfig;
pub use sent::SentLog;
use tracked::{Tracked, rests_at_venue};

use crate::data::market::{Bar, SymbolId};
use crate::execution::order_state::{LiveOrder, OrderState, Update};
use crate::execution::{Approved, FillReport, Order, OrderKind, Side, Venue, VenueNote};

/// A deployment's live venue.
pub struct LiveVenue {
    symbols: Vec<String>,
    naming: Naming,
    orders: BTreeMap<u64, Tracked>,
    jobs: Sender<Job>,
    inbox: Arc<Mutex<Vec<(u64, Update)>>>,
    /// Journaled notes of a recovered run, by bar: fed back instead of the
    /// inbox while re-executing.
    script: HashMap<u64, Vec<VenueNote>>,
    recovered: u64,
    live: bool,
    last_close: Vec<f64>,
    /// Time of the last bar (fills booked between bars carry it).
    last_bar_ms: i64,
    /// Updates taken in, applied one per note asked for.
    queue: std::collections::VecDeque<(u64, Update)>,
    /// The courier's counters.
    pub counts: Arc<Mutex<CourierCounts>>,
    /// What the courier could not do.
    pub problems: Problems,
    /// Called when an answer arrives.
    pub waker: Waker,
    reconciling: Arc<std::sync::atomic::AtomicBool>,
    withdrawn: Withdrawn,
    /// Stops the update stream's thread when the venue goes.
    stop_pushes: Arc<std::sync::atomic::AtomicBool>,
    /// Set by the service's reconciliation once the venue's holdings and
    /// orders were compared clean: new bars wait for it.
    gate: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Set when the service shuts down to start again: the run's orders
    /// stay at the venue (recovery looks them up).
    keep_orders: Arc<std::sync::atomic::AtomicBool>,
    /// The connector rests stop-losses at the venue.
    venue_stops: bool,
    /// The connector rests take-profits at the venue.
    venue_targets: bool,
    /// A fractional stop and target can rest as one list
    /// ([`Connector::lists_fractional`]); else the host holds the target.
    fractional_lists: bool,
    /// Each symbol's largest market order ([`Connector::largest_market`]).
    largest_market: Vec<(Option<f64>, Option<f64>)>,
    /// Each symbol's trailing stops the venue trails ([`Connector::native_trail`]).
    trailing: Vec<NativeTrail>,
    /// Protective orders submitted and not yet sent: the engine places a
    /// position's stop and target together, and they leave as one list
    /// once both are in ([`Venue::protection_done`]).
    held_back: Vec<u64>,
    /// The courier's record of what it sent.
    sent: Arc<Mutex<SentLog>>,
    /// The market's sessions: host-held stops trigger only inside them.
    session: Option<crate::session::Session>,
}

impl Drop for LiveVenue {
    /// The run is over. Unless the service is shutting down to start again
    /// ([`LiveVenue::keep_orders`]), its orders at the venue are cancelled
    /// before the courier goes: a run that faulted, whose journal failed or
    /// that an operator stopped is watched by no one, and a resting order
    /// must not fill unwatched. A stop-loss resting at the venue stays: it
    /// protects a position the run leaves behind, and only ever reduces it.
    /// (The courier takes the cancels before it sees the run gone; the
    /// journal hears of them at the next start, by the lookups of recovery.)
    fn drop(&mut self) {
        use std::sync::atomic::Ordering::SeqCst;
        if self.live && !self.keep_orders.load(SeqCst) {
            let entries: Vec<(u64, String, String)> = self
                .orders
                .values()
                .filter(|t| !t.machine.state().is_terminal() && !t.cancel_asked)
                // Not the stops and targets not triggered (held by the host,
                // or resting at the venue to protect what is left).
                .filter(|t| !t.order.kind.is_protective() || t.triggered)
                .map(|t| {
                    let symbol = self.symbol(t.order.symbol);
                    (t.order.id, symbol, t.machine.client_id.clone())
                })
                .collect();
            tracing::warn!(
                orders = entries.len(),
                "live run ended: cancelling its open orders at the venue (its stops stay)"
            );
            for (id, symbol, client) in entries {
                let _ = self.jobs.send(Job::Cancel(id, symbol, client));
            }
        }
        self.stop_pushes.store(true, SeqCst);
    }
}

impl LiveVenue {
    /// A venue sending through `connector`; `journaled` are the notes of a
    /// recovered run and `recovered` the bars it journaled.
    pub fn new(
        connector: Box<dyn Connector>,
        config: CourierConfig,
        symbols: Vec<String>,
        naming: Naming,
        journaled: Vec<(u64, VenueNote)>,
        recovered: u64,
    ) -> LiveVenue {
        Self::sharing(
            connector, config, symbols, naming, journaled, recovered, None,
        )
    }

    /// As [`LiveVenue::new`], its placements also paced by `venue` (shared
    /// with every deployment sending to the same venue).
    pub fn sharing(
        mut connector: Box<dyn Connector>,
        config: CourierConfig,
        symbols: Vec<String>,
        naming: Naming,
        journaled: Vec<(u64, VenueNote)>,
        recovered: u64,
        venue: Option<Arc<Pace>>,
    ) -> LiveVenue {
        let (tx, rx) = channel();
        let inbox: Arc<Mutex<Vec<(u64, Update)>>> = Arc::default();
        let problems: Problems = Arc::default();
        let counts: Arc<Mutex<CourierCounts>> = Arc::default();
        let waker: Waker = Arc::default();
        let reconciling: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let withdrawn: Withdrawn = Arc::default();
        let stop_pushes: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let venue_stops = connector.holds_stops();
        let venue_targets = connector.holds_targets();
        let fractional_lists = connector.lists_fractional();
        let largest_market = symbols
            .iter()
            .map(|s| connector.largest_market(s))
            .collect();
        let trailing = symbols.iter().map(|s| connector.native_trail(s)).collect();
        let sent: Arc<Mutex<SentLog>> = Arc::default();
        if let Some(pushes) = connector.pushes() {
            let jobs = tx.clone();
            let sink = PushSink {
                tell: Box::new(move |push| {
                    let _ = jobs.send(match push {
                        Push::Changed(client) => Job::Pushed(client),
                        Push::Connected(up, why) => Job::Stream(up, why),
                    });
                }),
                stop: stop_pushes.clone(),
            };
            std::thread::Builder::new()
                .name("venue-pushes".into())
                .spawn(move || pushes.run(sink))
                .expect("spawning a venue's update stream");
        }
        let courier = Courier {
            venue_pace: venue,
            withdrawn: withdrawn.clone(),
            waker: waker.clone(),
            reconciling: reconciling.clone(),
            connector,
            config,
            inbox: inbox.clone(),
            problems: problems.clone(),
            counts: counts.clone(),
            open: BTreeMap::new(),
            last_placement: None,
            wait_reported: None,
            sent: sent.clone(),
        };
        std::thread::Builder::new()
            .name("venue-courier".into())
            .spawn(move || courier.run(rx))
            .expect("spawning a venue courier");
        let mut script: HashMap<u64, Vec<VenueNote>> = HashMap::new();
        for (seq, note) in journaled {
            script.entry(seq).or_default().push(note);
        }
        LiveVenue {
            last_close: vec![f64::NAN; symbols.len()],
            symbols,
            naming,
            orders: BTreeMap::new(),
            jobs: tx,
            inbox,
            script,
            recovered,
            live: false,
            last_bar_ms: i64::MIN,
            queue: Default::default(),
            counts,
            problems,
            waker,
            reconciling,
            withdrawn,
            stop_pushes,
            gate: None,
            keep_orders: Arc::default(),
            venue_stops,
            venue_targets,
            fractional_lists,
            largest_market,
            trailing,
            held_back: Vec::new(),
            sent,
            session: None,
        }
    }

    /// Keep the courier's record of what it sends in `log` (before the
    /// first bar: nothing has been sent yet). Without one, an order a
    /// restart finds open and the venue does not show is never sent.
    pub fn set_sent_log(&self, log: SentLog) {
        *self.sent.lock().expect("sent log lock") = log;
    }

    /// Set it before the run ends to leave its orders at the venue (a
    /// service shutting down to start again); unset, they are cancelled
    /// when the run ends.
    pub fn keep_orders(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.keep_orders.clone()
    }

    /// Hold new bars, once the journal is re-executed, until the returned
    /// flag is set (the service's reconciliation compared the venue clean).
    pub fn gate(&mut self) -> Arc<std::sync::atomic::AtomicBool> {
        self.gate.get_or_insert_with(Default::default).clone()
    }

    /// What cancels this deployment's orders at the venue from outside the
    /// engine (the kill switch).
    pub fn kill_handle(&self) -> KillHandle {
        KillHandle(self.jobs.clone())
    }

    /// Before an order on `side` of `symbol` goes out: the stops resting at
    /// the venue on the same side are cancelled first. A spot venue locks
    /// what a resting sell may sell (Binance: the free balance pays for
    /// every new order, errors.md "insufficient balance"), so an exit would
    /// be refused while the stop holds the position; the courier sends the
    /// cancel, and hears how it ended, before the exit. The engine puts the
    /// stop back for what is left once the exit has filled — or at the next
    /// bar if it did not.
    fn make_way(&mut self, symbol: SymbolId, side: Side) {
        if !self.venue_stops && !self.venue_targets {
            return;
        }
        let (stops_, targets_) = (self.venue_stops, self.venue_targets);
        let stops: Vec<u64> = self
            .orders
            .values()
            .filter(|t| {
                t.order.symbol == symbol
                    && t.order.side == side
                    && rests_at_venue(t, stops_, targets_)
                    && !t.triggered
                    && !t.cancel_asked
                    && !t.machine.state().is_terminal()
            })
            .map(|t| t.order.id)
            .collect();
        for id in stops {
            tracing::info!(
                order = id,
                "cancelling the venue's stop to make way for an exit"
            );
            Venue::cancel(self, id);
        }
    }

    fn symbol(&self, s: SymbolId) -> String {
        self.symbols.get(s as usize).cloned().unwrap_or_default()
    }

    /// The first bar after the journaled ones: find out what became of
    /// every order the journal leaves open.
    fn go_live(&mut self) {
        self.live = true;
        tracing::info!(
            orders = self
                .orders
                .values()
                .filter(|t| !t.machine.state().is_terminal())
                .count(),
            "live venue: reconciling the orders the journal leaves open"
        );
        let mut items = Vec::new();
        for t in self.orders.values() {
            if t.machine.state().is_terminal() {
                continue;
            }
            if self.host_held(t) {
                continue; // held by the host, never at the venue
            }
            items.push(courier::Recover {
                id: t.order.id,
                placement: self.placement(t, t.machine.quantity, t.triggered),
                cancel_asked: t.cancel_asked,
                decided_ms: t.order.decided_ms,
                goes_stale: t.order.origin == crate::execution::Origin::Strategy,
                // A take-profit sent in its stop's list is never sent alone.
                in_list: matches!(t.order.kind, OrderKind::TakeProfit(_)) && t.pair.is_some(),
            });
        }
        if !items.is_empty() {
            self.reconciling
                .store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = self.jobs.send(Job::Reconcile(items));
        }
    }

    /// Apply one update to its order: the note to journal and the fill to
    /// book, if it changed anything.
    fn apply(&mut self, id: u64, update: Update) -> Option<(VenueNote, Option<FillReport>)> {
        let Some(t) = self.orders.get_mut(&id) else {
            self.problems.lock().expect("problems lock").push(format!(
                "an update for order {id}, which this run never placed"
            ));
            return None;
        };
        let effect = t.machine.apply(&update);
        if effect.ignored && effect.anomaly.is_none() {
            return None;
        }
        if let Some(a) = &effect.anomaly {
            tracing::warn!(order = id, ?a, "venue anomaly");
        }
        let state = t.machine.state();
        let ended = match (&effect.transition, state) {
            (Some(_), OrderState::Rejected) => Some(match t.machine.rejection() {
                // Refused by the host before it left (see the courier).
                Some(r) if r.starts_with("not sent") => r.to_string(),
                r => format!("venue rejected it: {}", r.unwrap_or("no reason given")),
            }),
            (Some(_), OrderState::Expired) => Some("venue: expired".to_string()),
            (Some(_), OrderState::Cancelled) if !t.cancel_asked => {
                Some("venue cancelled it".to_string())
            }
            _ => None,
        };
        if state == OrderState::Rejected && matches!(t.order.kind, OrderKind::TrailingStop(..)) {
            // The venue (or the courier's check of its filters) refused its
            // own trailing order: the symbol's trailing stops stay with the
            // host from now on, as plain stops it re-places, rather than the
            // same refusal at every bar and a position left without a stop.
            // Decided from the journaled note, so recovery decides the same.
            if let Some(n) = self.trailing.get_mut(t.order.symbol as usize) {
                *n = NativeTrail::default();
            }
        }
        // A resized order keeps the quantity the engine asked for in its
        // view (the engine keeps protection matching the position, which a
        // lot never divides exactly: the rounded stop is the one it wants);
        // the machine completes it at the rounded quantity.
        let fill = effect.fill.map(|(filled, price)| {
            // The books take what the account received: a fee kept in the
            // asset bought is not held (its value is the commission).
            let (commission, fee_base) = update.fees();
            let quantity = (filled - t.order.side.sign() * fee_base).max(0.0);
            t.order.quantity = (t.machine.quantity - t.machine.filled()).max(0.0);
            let reference = if t.reference.is_finite() {
                t.reference
            } else {
                price
            };
            FillReport {
                order_id: id,
                symbol: t.order.symbol,
                side: t.order.side,
                quantity,
                price,
                commission,
                slippage: (price - reference) * t.order.side.sign() * quantity,
                time_ms: self.last_bar_ms,
                origin: t.order.origin,
                done: state.is_terminal(),
            }
        });
        Some((
            VenueNote {
                order_id: id,
                update,
                state,
                ended,
            },
            fill,
        ))
    }

    /// Protective orders of the bar's symbol that the bar triggers go out
    /// as market orders for what is left of the position.
    fn trigger(&mut self, bar: &Bar, position: f64) {
        let mut out = Vec::new();
        // Exits already on their way count as done.
        let mut left = position + self.in_flight(bar.symbol);
        let (stops, targets) = (self.venue_stops, self.venue_targets);
        for t in self.orders.values_mut() {
            if t.order.symbol != bar.symbol || t.triggered || t.machine.state().is_terminal() {
                continue;
            }
            if rests_at_venue(t, stops, targets) {
                continue; // the venue triggers it
            }
            // The simulated venue's rule (`sandbar_sdk::fills`), on the closed bar.
            let hit =
                t.order.kind.is_protective() && t.order.kind.execution(t.order.side, bar).is_some();
            if !hit || bar.volume <= 0.0 {
                continue;
            }
            // Reduce-only: never more than the position, never a flip.
            let reducible = if t.order.side == Side::Sell {
                left.max(0.0)
            } else {
                (-left).max(0.0)
            };
            let q = t.order.quantity.min(reducible);
            if q <= 0.0 {
                continue;
            }
            left -= q * t.order.side.sign();
            t.triggered = true;
            t.order.quantity = q;
            t.machine = LiveOrder::new(t.machine.client_id.clone(), q);
            t.reference = bar.close;
            out.push(t.order.id);
        }
        for id in out {
            // Live or re-executing alike (the journal must not depend on it).
            let (symbol, side) = (self.orders[&id].order.symbol, self.orders[&id].order.side);
            self.make_way(symbol, side);
            if self.live {
                let t = &self.orders[&id];
                let p = self.placement(t, t.order.quantity, true);
                let _ = self.jobs.send(Job::Place(id, p));
            }
        }
    }
}

impl Venue for LiveVenue {
    fn submit(&mut self, order: Approved) {
        let order = order.into_order();
        let s = order.symbol as usize;
        let reference = self.last_close.get(s).copied().unwrap_or(f64::NAN);
        let t = Tracked {
            machine: LiveOrder::new(self.naming.client_id(order.id), order.quantity),
            reference,
            triggered: false,
            cancel_asked: false,
            pair: None,
            host: false,
            order,
        };
        if !t.order.kind.is_protective() {
            // Live or re-executing alike (the journal must not depend on it).
            self.make_way(t.order.symbol, t.order.side);
        }
        let id = t.order.id;
        if t.order.kind.is_protective() && self.at_venue(&t) {
            // Sent with its sibling once the engine has placed both.
            self.held_back.push(id);
        } else if self.live && !self.host_held(&t) {
            let p = self.placement(&t, t.order.quantity, false);
            let _ = self.jobs.send(Job::Place(id, p));
        }
        self.orders.insert(id, t);
    }

    fn cancel(&mut self, id: u64) -> bool {
        let live = self.live;
        let host_held = match self.orders.get(&id) {
            Some(t) => self.host_held(t) || self.held_back.contains(&id),
            None => return false,
        };
        let Some(t) = self.orders.get_mut(&id) else {
            return false;
        };
        if t.cancel_asked || t.machine.state().is_terminal() {
            return false;
        }
        if host_held {
            // Never left the host.
            self.held_back.retain(|h| *h != id);
            self.orders.remove(&id);
            return true;
        }
        t.cancel_asked = true;
        t.machine.apply(&Update::CancelRequested);
        let (symbol, client) = (t.order.symbol, t.machine.client_id.clone());
        self.withdrawn.lock().expect("withdrawn lock").insert(id);
        if live {
            let _ = self.jobs.send(Job::Cancel(id, self.symbol(symbol), client));
        }
        true
    }

    fn open_orders(&self, symbol: SymbolId) -> Vec<&Order> {
        self.orders
            .values()
            .filter(|t| {
                t.order.symbol == symbol
                    && !t.cancel_asked
                    && !t.triggered
                    && !t.machine.state().is_terminal()
            })
            .map(|t| &t.order)
            .collect()
    }

    fn begin_bar(&mut self, bar: &Bar, _seq: u64, position: f64) {
        // Protective orders placed outside the engine's resync (none
        // today) are not left behind.
        if !self.held_back.is_empty() {
            self.send_held_back(None);
        }
        self.last_bar_ms = bar.time_ms;
        // Exits already on their way are counted by `trigger` itself; a
        // stop's market order never leaves for a closed market.
        if self.session.as_ref().is_none_or(|s| s.decides(bar.time_ms)) {
            self.trigger(bar, position);
        }
        if let Some(c) = self.last_close.get_mut(bar.symbol as usize) {
            *c = bar.close;
        }
    }

    fn next_note(&mut self, seq: u64) -> Option<(VenueNote, Option<FillReport>)> {
        loop {
            if self.queue.is_empty() {
                // Journaled notes first (recovery), at the look they were
                // taken in; then, live, what the courier has brought.
                if let Some(notes) = self.script.remove(&seq) {
                    self.queue
                        .extend(notes.into_iter().map(|n| (n.order_id, n.update)));
                } else if seq >= self.recovered {
                    if !self.live {
                        self.go_live();
                    }
                    let mut inbox = self.inbox.lock().expect("inbox lock");
                    self.queue.extend(inbox.drain(..));
                }
            }
            let (id, update) = self.queue.pop_front()?;
            if let Some(news) = self.apply(id, update) {
                return Some(news);
            }
        }
    }

    fn next_fill(&mut self) -> Option<FillReport> {
        None
    }

    fn ready(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        !self.reconciling.load(SeqCst)
            && (!self.live || self.gate.as_ref().is_none_or(|g| g.load(SeqCst)))
    }

    fn protection_at_venue(&self) -> bool {
        self.venue_stops || self.venue_targets
    }

    fn follow_session(&mut self, session: &crate::session::Session) {
        self.session = Some(session.clone());
    }

    fn protection_done(&mut self, symbol: SymbolId) {
        self.send_held_back(Some(symbol));
    }

    fn largest_market(&self, symbol: SymbolId) -> Option<f64> {
        let (quantity, notional) = *self.largest_market.get(symbol as usize)?;
        // The notional limit valued at the last close (a journaled input).
        let close = self.last_close.get(symbol as usize).copied()?;
        let by_notional = notional.map(|n| n / close).filter(|q| q.is_finite());
        quantity.into_iter().chain(by_notional).reduce(f64::min)
    }

    fn trails(
        &self,
        symbol: SymbolId,
        side: Side,
        quantity: f64,
        trail: sandbar_sdk::protection::Trail,
        listed: bool,
    ) -> bool {
        self.venue_stops
            && self
                .trailing
                .get(symbol as usize)
                .is_some_and(|n| n.allows(side, quantity, trail, listed))
    }

    fn in_flight(&self, symbol: SymbolId) -> f64 {
        self.orders
            .values()
            .filter(|t| t.order.symbol == symbol && !t.machine.state().is_terminal())
            .filter(|t| t.cancel_asked || t.triggered)
            .map(|t| t.order.quantity * t.order.side.sign())
            .sum()
    }
}

#[cfg(test)]
mod tests;
