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
//!   when the grace period is over is sent — with the same client order id,
//!   so it cannot be placed twice — or, if its cancel was asked, ended.
//! - **Outcomes are typed** ([`Outcome`]): rejected with the venue's reason;
//!   retry later (a 429, a 418, a request that never left); *unknown* (a
//!   timeout or a 5xx after sending): the courier then queries by client
//!   order id before anything is resent, and a "not found" right after
//!   placement is believed only after [`CourierConfig::not_found_grace`].
//! - **Protective orders** (stop-loss, take-profit) are held by the host
//!   and triggered on closed bars by the simulated venue's rules; a
//!   triggered one goes out as a market order for what is left of the
//!   position. One-cancels-other and the host's sizing stay the host's.
//! - **The host's own order rate limit** (default 10 orders per second per
//!   deployment) paces placements in the courier, beside the risk engine's
//!   daily count; the venue's own limits (weights, `Retry-After`) are the
//!   connector's to honour.
//!
//! Files: [`connector`] the contract an adapter implements; [`courier`]
//! the thread that talks to the venue; [`pace`] the per-venue order rate;
//! [`naming`] client order ids; this file the [`LiveVenue`] the engine sees.

pub mod connector;
pub mod courier;
pub mod naming;
pub mod pace;
pub mod reconcile;

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

pub use connector::{
    Connector, Execution, OpenOrder, Outcome, Placement, Pushes, Report, Status, VenueAdapter,
    reconnecting,
};
use courier::{Courier, Job, Withdrawn};
pub use courier::{CourierConfig, CourierCounts, KillHandle, Problems, PushSink, Waker};
pub use naming::Naming;
pub use pace::Pace;
pub use reconcile::ReconcileConfig;

use crate::data::market::{Bar, SymbolId};
use crate::execution::order_state::{LiveOrder, OrderState, Update};
use crate::execution::{Approved, FillReport, Order, OrderKind, Side, Venue, VenueNote};

/// One order as the live venue tracks it.
struct Tracked {
    order: Order,
    machine: LiveOrder,
    /// The symbol's last close when it was sent (slippage is measured from it).
    reference: f64,
    /// A protective order that has triggered (it is now a market order out).
    triggered: bool,
    /// The host asked for its cancel (the engine already told the strategy).
    cancel_asked: bool,
}

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
}

impl Drop for LiveVenue {
    fn drop(&mut self) {
        self.stop_pushes
            .store(true, std::sync::atomic::Ordering::SeqCst);
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
        connector: Box<dyn Connector>,
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
        if let Some(pushes) = connector.pushes() {
            let sink = PushSink {
                jobs: tx.clone(),
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
        }
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

    fn placement(&self, t: &Tracked, quantity: f64, market: bool) -> Placement {
        let limit = match t.order.kind {
            OrderKind::Limit(p) if !market => Some(p),
            _ => None,
        };
        Placement {
            client_id: self.naming.client_id(t.order.id),
            symbol: self.symbol(t.order.symbol),
            side: t.order.side,
            quantity,
            limit,
            reference: t.reference,
        }
    }

    fn symbol(&self, s: SymbolId) -> String {
        self.symbols.get(s as usize).cloned().unwrap_or_default()
    }

    /// The first bar after the journaled ones: find out what became of
    /// every order the journal leaves open, sending those never seen.
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
            let protective = t.order.kind.is_protective();
            if protective && !t.triggered {
                continue; // held by the host, never at the venue
            }
            let p = self.placement(t, t.machine.quantity, protective);
            items.push((t.order.id, p, t.cancel_asked));
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
            (Some(_), OrderState::Rejected) => Some(format!(
                "venue rejected it: {}",
                t.machine.rejection().unwrap_or("no reason given")
            )),
            (Some(_), OrderState::Expired) => Some("venue: expired".to_string()),
            (Some(_), OrderState::Cancelled) if !t.cancel_asked => {
                Some("venue cancelled it".to_string())
            }
            _ => None,
        };
        let fill = effect.fill.map(|(quantity, price)| {
            let commission = match &update {
                Update::Fill { commission, .. } => *commission,
                _ => 0.0,
            };
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
        for t in self.orders.values_mut() {
            if t.order.symbol != bar.symbol || t.triggered || t.machine.state().is_terminal() {
                continue;
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
        if self.live {
            for id in out {
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
        let protective = order.kind.is_protective();
        let t = Tracked {
            machine: LiveOrder::new(self.naming.client_id(order.id), order.quantity),
            reference,
            triggered: false,
            cancel_asked: false,
            order,
        };
        if self.live && !protective {
            let p = self.placement(&t, t.order.quantity, false);
            let _ = self.jobs.send(Job::Place(t.order.id, p));
        }
        self.orders.insert(t.order.id, t);
    }

    fn cancel(&mut self, id: u64) -> bool {
        let live = self.live;
        let Some(t) = self.orders.get_mut(&id) else {
            return false;
        };
        if t.cancel_asked || t.machine.state().is_terminal() {
            return false;
        }
        let protective = t.order.kind.is_protective();
        if protective && !t.triggered {
            // Never left the host.
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
        self.last_bar_ms = bar.time_ms;
        // Exits already on their way are counted by `trigger` itself.
        self.trigger(bar, position);
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
mod tests {
    //! The live venue against a scripted connector: what it sends, what it
    //! books, and that recovery from the journaled notes is exact.
    use super::*;
    use crate::execution::Origin;
    use crate::execution::approved::SubmitUnchecked;
    use std::time::{Duration, Instant};

    /// A venue whose answers the test writes.
    #[derive(Default)]
    struct Script {
        /// Placements received.
        placed: Vec<Placement>,
        /// Queries received (client ids).
        queried: Vec<String>,
        /// Cancels received.
        cancelled: Vec<String>,
        /// Answers to placements, in order (then: filled at 100).
        place: Vec<Outcome<Report>>,
        /// Answers to queries, in order (then: `fallback`).
        query: Vec<Outcome<Option<Report>>>,
        fallback: Option<Report>,
    }

    #[derive(Clone, Default)]
    struct Fake(Arc<Mutex<Script>>);

    fn filled(id: &str, q: f64) -> Report {
        Report {
            status: Status::Filled,
            executions: vec![Execution {
                id: id.into(),
                quantity: q,
                price: 100.0,
                commission: 0.1,
            }],
        }
    }

    impl Connector for Fake {
        fn prepare(&mut self, p: Placement) -> Result<Placement, String> {
            if p.quantity < 0.5 {
                return Err("LOT_SIZE: too small".into());
            }
            Ok(p)
        }
        fn place(&mut self, p: &Placement) -> Outcome<Report> {
            let mut s = self.0.lock().unwrap();
            s.placed.push(p.clone());
            if s.place.is_empty() {
                Outcome::Done(filled(&format!("t{}", s.placed.len()), p.quantity))
            } else {
                s.place.remove(0)
            }
        }
        fn cancel(&mut self, _: &str, client_id: &str) -> Outcome<()> {
            self.0.lock().unwrap().cancelled.push(client_id.into());
            Outcome::Rejected("-2011 Unknown order sent.".into())
        }
        fn query(&mut self, _: &str, client_id: &str) -> Outcome<Option<Report>> {
            let mut s = self.0.lock().unwrap();
            s.queried.push(client_id.into());
            if s.query.is_empty() {
                Outcome::Done(s.fallback.clone())
            } else {
                s.query.remove(0)
            }
        }
        fn open_orders(&mut self, _: &[String]) -> Outcome<Vec<OpenOrder>> {
            Outcome::Done(vec![])
        }
    }

    fn config() -> CourierConfig {
        CourierConfig {
            poll_ms: 20,
            not_found_grace_ms: 150,
            max_orders_per_second: 1000.0,
            max_venue_orders_per_second: 1000.0,
            max_retry_ms: 50,
            stream_poll_ms: 1000,
        }
    }

    fn venue(fake: &Fake, journaled: Vec<(u64, VenueNote)>, recovered: u64) -> LiveVenue {
        LiveVenue::new(
            Box::new(fake.clone()),
            config(),
            vec!["BTCUSDT".into()],
            Naming {
                prefix: "sb-test-".into(),
            },
            journaled,
            recovered,
        )
    }

    fn bar(t: i64) -> Bar {
        Bar {
            symbol: 0,
            time_ms: t,
            open: 100.0,
            high: 101.0,
            low: 99.0,
            close: 100.0,
            volume: 10.0,
        }
    }

    fn order(id: u64, kind: OrderKind, q: f64) -> Order {
        Order {
            id,
            symbol: 0,
            side: Side::Buy,
            quantity: q,
            kind,
            origin: Origin::Strategy,
            decided_seq: 0,
            decided_ms: 0,
            reduce_only: false,
        }
    }

    /// Bars until the courier's answers have arrived: (notes, fills) of each.
    fn step(v: &mut LiveVenue, seq: u64, out: &mut Vec<(u64, VenueNote)>) -> Vec<FillReport> {
        let mut fills = Vec::new();
        while let Some((n, f)) = v.next_note(seq) {
            out.push((seq, n));
            fills.extend(f);
        }
        v.begin_bar(&bar(seq as i64 * 60_000), seq, 0.0);
        fills
    }

    fn until<T>(mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(x) = f() {
                return x;
            }
            assert!(Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_fill_is_noted_then_booked_at_the_next_bar_and_recovery_repeats_it_without_sending() {
        let fake = Fake::default();
        let mut v = venue(&fake, vec![], 0);
        let mut notes = Vec::new();
        assert!(step(&mut v, 0, &mut notes).is_empty());
        v.submit_unchecked(order(1, OrderKind::Market, 2.0));
        until(|| (!v.inbox.lock().unwrap().is_empty()).then_some(()));
        let fills = step(&mut v, 1, &mut notes);
        assert_eq!(fills.len(), 1);
        assert_eq!(
            (
                fills[0].quantity,
                fills[0].price,
                fills[0].commission,
                fills[0].done
            ),
            (2.0, 100.0, 0.1, true)
        );
        let states: Vec<OrderState> = notes.iter().map(|(_, n)| n.state).collect();
        assert_eq!(states, [OrderState::Accepted, OrderState::Filled]);
        assert_eq!(fake.0.lock().unwrap().placed[0].client_id, "sb-test-1");

        // Recovery: the same order submitted again while re-executing, the
        // journaled notes fed back at their bars — the same fills, nothing sent.
        let again = Fake::default();
        again.0.lock().unwrap().fallback = Some(filled("t1", 2.0));
        let mut r = venue(&again, notes.clone(), 2);
        let mut renotes = Vec::new();
        step(&mut r, 0, &mut renotes);
        r.submit_unchecked(order(1, OrderKind::Market, 2.0));
        assert_eq!(step(&mut r, 1, &mut renotes), fills);
        assert_eq!(renotes, notes);
        assert!(again.0.lock().unwrap().placed.is_empty());
        // Live again: the finished order is not looked up, nothing is resent.
        step(&mut r, 2, &mut renotes);
        std::thread::sleep(Duration::from_millis(100));
        let s = again.0.lock().unwrap();
        assert!(s.placed.is_empty() && s.queried.is_empty());
    }

    #[test]
    fn an_order_the_journal_left_open_is_looked_up_first_and_its_fills_adopted_once() {
        // The previous run placed order 1 and heard it was accepted; the
        // venue filled it while the host was down.
        let note = VenueNote {
            order_id: 1,
            update: Update::Accepted,
            state: OrderState::Accepted,
            ended: None,
        };
        let fake = Fake::default();
        fake.0.lock().unwrap().fallback = Some(filled("t9", 2.0));
        let mut v = venue(&fake, vec![(1, note)], 2);
        let mut notes = Vec::new();
        step(&mut v, 0, &mut notes);
        v.submit_unchecked(order(1, OrderKind::Limit(99.5), 2.0));
        step(&mut v, 1, &mut notes);
        step(&mut v, 2, &mut notes); // goes live: looks order 1 up
        let fills = until(|| {
            let f = step(&mut v, 3, &mut Vec::new());
            (!f.is_empty()).then_some(f)
        });
        assert_eq!(fills.len(), 1, "adopted once");
        // Polling goes on reporting the same execution: never booked twice.
        std::thread::sleep(Duration::from_millis(100));
        assert!(step(&mut v, 4, &mut Vec::new()).is_empty());
        let s = fake.0.lock().unwrap();
        assert!(s.placed.is_empty(), "found at the venue: not sent again");
        assert_eq!(s.queried[0], "sb-test-1");
    }

    #[test]
    fn an_unknown_placement_is_looked_up_and_resent_under_its_id_only_after_the_grace() {
        // Found on the second lookup: placed once.
        let fake = Fake::default();
        {
            let mut s = fake.0.lock().unwrap();
            s.place = vec![Outcome::Unknown("timeout".into())];
            s.query = vec![Outcome::Done(None), Outcome::Done(Some(filled("t1", 2.0)))];
        }
        let mut v = venue(&fake, vec![], 0);
        step(&mut v, 0, &mut Vec::new());
        v.submit_unchecked(order(1, OrderKind::Market, 2.0));
        let fills = until(|| {
            let f = step(&mut v, 1, &mut Vec::new());
            (!f.is_empty()).then_some(f)
        });
        assert_eq!(fills.len(), 1);
        assert_eq!(fake.0.lock().unwrap().placed.len(), 1);
        assert_eq!(v.counts.lock().unwrap().unknown, 1);

        // Never found through the grace period: sent again, same client id.
        let fake = Fake::default();
        fake.0.lock().unwrap().place = vec![Outcome::Unknown("HTTP 503".into())];
        let started = Instant::now();
        let mut v = venue(&fake, vec![], 0);
        step(&mut v, 0, &mut Vec::new());
        v.submit_unchecked(order(1, OrderKind::Market, 2.0));
        until(|| (fake.0.lock().unwrap().placed.len() == 2).then_some(()));
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "not before the grace"
        );
        let s = fake.0.lock().unwrap();
        assert_eq!(s.placed[0].client_id, s.placed[1].client_id);
        assert!(s.queried.len() >= 2);
    }

    #[test]
    fn an_unknown_placement_is_never_resent_while_the_venue_does_not_answer_lookups() {
        let fake = Fake::default();
        {
            let mut s = fake.0.lock().unwrap();
            s.place = vec![Outcome::Unknown("timeout".into())];
            s.query = (0..100)
                .map(|_| Outcome::Unknown("HTTP 503".into()))
                .collect();
            s.fallback = Some(filled("t1", 2.0));
        }
        let mut v = venue(&fake, vec![], 0);
        step(&mut v, 0, &mut Vec::new());
        v.submit_unchecked(order(1, OrderKind::Market, 2.0));
        until(|| {
            let p = v.problems.lock().unwrap();
            p.iter().any(|p| p.contains("not resent")).then_some(())
        });
        assert_eq!(fake.0.lock().unwrap().placed.len(), 1, "not resent blind");
        // The polling goes on and finds it (the fallback: filled).
        until(|| {
            let f = step(&mut v, 1, &mut Vec::new());
            (!f.is_empty()).then_some(())
        });
        assert_eq!(fake.0.lock().unwrap().placed.len(), 1, "placed once");
    }

    #[test]
    fn deployments_on_one_venue_share_its_order_pace() {
        // Two deployments, 20 placements a second for the venue: ten orders
        // between them take at least 9 gaps of 50 ms.
        let pace = Pace::new(20.0);
        let (a, b) = (Fake::default(), Fake::default());
        let mut venues: Vec<LiveVenue> = [&a, &b]
            .into_iter()
            .map(|f| {
                LiveVenue::sharing(
                    Box::new(f.clone()),
                    config(),
                    vec!["BTCUSDT".into()],
                    Naming {
                        prefix: "sb-test-".into(),
                    },
                    vec![],
                    0,
                    Some(pace.clone()),
                )
            })
            .collect();
        for v in &mut venues {
            step(v, 0, &mut Vec::new());
        }
        let started = Instant::now();
        for i in 0..10 {
            venues[i % 2].submit_unchecked(order(i as u64 + 1, OrderKind::Market, 2.0));
        }
        until(|| {
            (a.0.lock().unwrap().placed.len() + b.0.lock().unwrap().placed.len() == 10)
                .then_some(())
        });
        assert!(
            started.elapsed() >= Duration::from_millis(450),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_cancel_that_crossed_a_fill_books_the_fill_and_a_refused_order_ends_told() {
        let fake = Fake::default();
        {
            let mut s = fake.0.lock().unwrap();
            s.place = vec![Outcome::Done(Report {
                status: Status::Open,
                executions: vec![],
            })];
            s.fallback = Some(filled("t1", 2.0));
        }
        let mut v = venue(&fake, vec![], 0);
        step(&mut v, 0, &mut Vec::new());
        v.submit_unchecked(order(1, OrderKind::Limit(99.0), 2.0));
        until(|| (!v.inbox.lock().unwrap().is_empty()).then_some(()));
        step(&mut v, 1, &mut Vec::new());
        assert!(v.cancel(1), "open: a cancel is asked for");
        assert!(!v.cancel(1), "asked once");
        assert!(v.open_orders(0).is_empty());
        assert_eq!(v.in_flight(0), 2.0, "may still fill: targets count it");
        let fills = until(|| {
            let f = step(&mut v, 2, &mut Vec::new());
            (!f.is_empty()).then_some(f)
        });
        assert_eq!(fills[0].quantity, 2.0, "the venue filled it first");
        assert_eq!(v.in_flight(0), 0.0);

        // A quantity the venue's rules refuse: rejected, told as ended.
        v.submit_unchecked(order(2, OrderKind::Market, 0.1));
        let mut notes = Vec::new();
        until(|| {
            step(&mut v, 3, &mut notes);
            (!notes.is_empty()).then_some(())
        });
        assert_eq!(notes[0].1.state, OrderState::Rejected);
        assert!(notes[0].1.ended.as_deref().unwrap().contains("LOT_SIZE"));
    }
}
