//! The courier: one thread per deployment that talks to its venue, so a
//! slow venue never holds a worker. It places, looks up, cancels and polls
//! orders through the deployment's [`Connector`], waits out what the venue
//! asks (`Retry-After`, unknown outcomes, the grace period for "not
//! found"), and leaves every answer in the venue's inbox.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::connector::{Connector, Outcome, Placement, Report, Status};
use super::pace::Pace;
use super::problems::Problems;
use crate::execution::order_state::Update;

/// How the courier works.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CourierConfig {
    /// Poll every open order this often (milliseconds; the update stream's
    /// fallback, and the only channel until a stream is connected).
    pub poll_ms: u64,
    /// A "not found" for an order whose placement had no answer is not
    /// believed for this long (milliseconds) after placement.
    pub not_found_grace_ms: u64,
    /// Placements per second per deployment (the host's own limit).
    pub max_orders_per_second: f64,
    /// Placements per second to this venue from all its deployments.
    pub max_venue_orders_per_second: f64,
    /// Longest wait the courier honours for one retry (milliseconds).
    pub max_retry_ms: u64,
    /// Poll every open order this often while the venue's update stream is
    /// connected (milliseconds): a safety net, the stream says what changed.
    pub stream_poll_ms: u64,
    /// An order a restart finds journaled and proven never sent is sent
    /// only while its bar is at most this old (milliseconds, counted from
    /// the time of the bar it was decided on); older, it is refused
    /// unsent (a decision on a stale price is not a decision). The service
    /// sets it to two bar intervals when the configuration leaves it out;
    /// unset, any age is sent.
    pub unsent_max_age_ms: Option<u64>,
}

impl Default for CourierConfig {
    fn default() -> Self {
        CourierConfig {
            poll_ms: 1000,
            not_found_grace_ms: 3000,
            max_orders_per_second: 10.0,
            max_venue_orders_per_second: 10.0,
            max_retry_ms: 60_000,
            stream_poll_ms: 10_000,
            unsent_max_age_ms: None,
        }
    }
}

impl CourierConfig {
    /// The grace period as a duration.
    pub fn not_found_grace(&self) -> Duration {
        Duration::from_millis(self.not_found_grace_ms)
    }

    /// How long to wait between lookups inside the grace period.
    fn grace_step(&self) -> Duration {
        Duration::from_millis((self.not_found_grace_ms / 10).clamp(10, 500))
    }
}

/// What the courier is asked to do.
#[derive(Debug, Clone)]
pub(super) enum Job {
    /// Send a new order.
    Place(u64, Placement),
    /// Find out what became of orders a previous run left open
    /// (recovery): look each up; one still "not found" once the grace
    /// period has passed ends cancelled if its cancel was asked, else it is
    /// unknown (never sent blind: it may have left before the host stopped).
    Reconcile(Vec<Recover>),
    /// Cancel an order.
    Cancel(u64, String, String),
    /// The kill switch: cancel every order the venue may still fill, now.
    CancelAll,
    /// The update stream says this order (client order id) changed.
    Pushed(String),
    /// The update stream went up (`true`) or down (why).
    Stream(bool, String),
}

/// Cancels a deployment's orders at the venue without waiting for a bar
/// (the kill switch; it works while the feed is down).
#[derive(Clone)]
pub struct KillHandle(pub(super) Sender<Job>);

impl KillHandle {
    /// Ask the courier to cancel every open order now.
    pub fn cancel_all(&self) {
        let _ = self.0.send(Job::CancelAll);
    }
}

/// Counters of what the courier did, for tests and status.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CourierCounts {
    /// Placements sent (including resends after an unknown outcome).
    pub placed: u64,
    /// Placements whose outcome was unknown.
    pub unknown: u64,
    /// Queries by client order id.
    pub queries: u64,
    /// Waits asked for by the venue (429, 418) or for a retry.
    pub retries: u64,
    /// Changes the update stream announced.
    pub pushed: u64,
    /// Times the update stream connected.
    pub stream_connects: u64,
    /// Whether it is connected now.
    pub stream_up: bool,
}

/// Called when the courier has news for the engine (the service schedules
/// the deployment, so that news is booked without waiting for a bar).
pub type Waker = Arc<Mutex<Option<Arc<dyn Fn() + Send + Sync>>>>;

/// An order a restart finds open in the journal, to look up.
#[derive(Debug, Clone)]
pub(super) struct Recover {
    pub id: u64,
    pub placement: Placement,
    /// Its cancel was asked before the host stopped.
    pub cancel_asked: bool,
    /// Time of the bar it was decided on.
    pub decided_ms: i64,
    /// A strategy's decision, which goes stale with its bar (protective
    /// orders, the risk engine's flattening and rebalances only reduce
    /// risk: they are sent whatever their age).
    pub goes_stale: bool,
    /// A take-profit that left in its stop's list: never sent alone (if
    /// the list never left, the stop's placement sends both).
    pub in_list: bool,
}

/// Orders whose cancel the host asked for: one not yet sent is never sent.
pub(super) type Withdrawn = Arc<Mutex<std::collections::HashSet<u64>>>;

pub(super) struct Courier {
    pub(super) venue_pace: Option<Arc<Pace>>,
    pub(super) withdrawn: Withdrawn,
    pub(super) waker: Waker,
    /// Set while a reconciliation is under way.
    pub(super) reconciling: Arc<std::sync::atomic::AtomicBool>,
    pub(super) connector: Box<dyn Connector>,
    pub(super) config: CourierConfig,
    pub(super) inbox: Arc<Mutex<Vec<(u64, Update)>>>,
    pub(super) problems: Problems,
    pub(super) counts: Arc<Mutex<CourierCounts>>,
    /// Orders not known to be finished: id → (symbol, client id).
    pub(super) open: BTreeMap<u64, (String, String)>,
    pub(super) last_placement: Option<Instant>,
    /// When a long wait was last reported (once a minute at most).
    pub(super) wait_reported: Option<Instant>,
    /// What was sent, recorded before it left.
    pub(super) sent: Arc<Mutex<super::sent::SentLog>>,
}

impl Courier {
    fn push(&self, id: u64, updates: Vec<Update>) {
        self.inbox
            .lock()
            .expect("inbox lock")
            .extend(updates.into_iter().map(|u| (id, u)));
        if let Some(wake) = self.waker.lock().expect("waker lock").as_ref() {
            wake();
        }
    }

    fn problem(&self, text: String) {
        tracing::warn!("{text}");
        self.problems.lock().expect("problems lock").push(text);
    }

    fn count(&self, f: impl FnOnce(&mut CourierCounts)) {
        f(&mut self.counts.lock().expect("counts lock"));
    }

    /// Wait as the venue asked, at most `max_retry_ms` at a time (the
    /// caller asks again, and the connector says whether the wait goes on).
    /// A long one — an IP ban — is reported, so the operator sees why
    /// nothing moves.
    fn wait(&mut self, after: Duration, why: &str) {
        self.count(|c| c.retries += 1);
        let reported = self
            .wait_reported
            .is_some_and(|t| t.elapsed() < Duration::from_secs(60));
        if after >= Duration::from_secs(5) && !reported {
            self.wait_reported = Some(Instant::now());
            self.problem(format!("the venue asked to wait {after:?}: {why}"));
        }
        let capped = after.min(Duration::from_millis(self.config.max_retry_ms));
        tracing::info!(?capped, why, "venue asked to wait");
        std::thread::sleep(capped);
    }

    /// The host's order rate limits: this deployment's placements at least
    /// `1/max_orders_per_second` apart, and the venue's (every deployment
    /// sending to it) at least `1/max_venue_orders_per_second`.
    fn pace(&mut self) {
        let rate = self.config.max_orders_per_second;
        if rate > 0.0 {
            let gap = Duration::from_secs_f64(1.0 / rate);
            if let Some(last) = self.last_placement {
                let since = last.elapsed();
                if since < gap {
                    std::thread::sleep(gap - since);
                }
            }
        }
        if let Some(venue) = &self.venue_pace {
            venue.wait();
        }
        self.last_placement = Some(Instant::now());
    }

    fn note_report(&mut self, id: u64, report: &Report) {
        if report.status != Status::Open {
            self.open.remove(&id);
        }
        self.push(id, report.updates());
    }

    /// Look an order up until the venue answers: `Some(None)` is "not
    /// found"; `None`, that the venue would not answer (after 100 tries).
    fn lookup(&mut self, id: u64, symbol: &str, client: &str) -> Option<Option<Report>> {
        for _ in 0..100 {
            self.count(|c| c.queries += 1);
            match self.connector.query(symbol, client) {
                Outcome::Done(r) => return Some(r),
                Outcome::Retry(after, why) => self.wait(after, &why),
                Outcome::Unknown(why) | Outcome::Rejected(why) => {
                    self.problem(format!("order {id} ({client}): query failed: {why}"));
                    std::thread::sleep(Duration::from_millis(self.config.poll_ms.max(10)));
                }
            }
        }
        None
    }

    /// Send an order and follow it until the venue has said it has it (or
    /// refused it). It is sent once: after an answer that leaves the
    /// outcome unknown it is looked up, never resent (see [`Courier::settle`]).
    fn place(&mut self, id: u64, p: Placement) {
        let asked = p.quantity;
        // A stop with its take-profit: two orders of the host, one request.
        let leg = p.target.as_ref().map(|l| (l.id, l.client_id.clone()));
        let ids: Vec<u64> = std::iter::once(id)
            .chain(leg.as_ref().map(|(l, _)| *l))
            .collect();
        let p = match self.connector.prepare(p) {
            Ok(p) => p,
            Err(reason) => return self.reject_all(&ids, &reason),
        };
        if p.quantity < asked {
            // Rounded down to the venue's lot: the order is complete when
            // this much has filled (journaled before it leaves).
            for &i in &ids {
                self.push(
                    i,
                    vec![Update::Resized {
                        quantity: p.quantity,
                    }],
                );
            }
        }
        self.open
            .insert(id, (p.symbol.clone(), p.client_id.clone()));
        if let Some((l, client)) = &leg {
            self.open.insert(*l, (p.symbol.clone(), client.clone()));
        }
        loop {
            let withdrawn = {
                let w = self.withdrawn.lock().expect("withdrawn lock");
                ids.iter().any(|i| w.contains(i))
            };
            if withdrawn {
                // Cancelled before it left: nothing to send.
                for &i in &ids {
                    self.open.remove(&i);
                    self.push(i, vec![Update::Cancelled]);
                }
                return;
            }
            self.pace();
            let recorded = {
                let mut log = self.sent.lock().expect("sent log lock");
                log.mark(&p.client_id).and_then(|()| match &leg {
                    Some((_, client)) => log.mark(client),
                    None => Ok(()),
                })
            };
            if let Err(e) = recorded {
                // Its sending could not be proven later: not sent.
                let reason = format!("not sent: the send could not be recorded ({e})");
                self.problem(format!("order {id} ({}): {reason}", p.client_id));
                return self.reject_all(&ids, &reason);
            }
            self.count(|c| c.placed += 1);
            tracing::info!(order = id, client = %p.client_id, symbol = %p.symbol, side = ?p.side, quantity = p.quantity, limit = ?p.limit, stop = ?p.stop, target = ?p.target, "placing");
            let sent = Instant::now();
            match self.connector.place(&p) {
                Outcome::Done(report) => {
                    self.note_report(id, &report);
                    return self.follow_leg(&leg, &p.symbol, None);
                }
                Outcome::Rejected(reason) => return self.reject_all(&ids, &reason),
                Outcome::Retry(after, why) => self.wait(after, &why),
                Outcome::Unknown(why) => {
                    self.count(|c| c.unknown += 1);
                    tracing::warn!(order = id, client = %p.client_id, %why, "placement outcome unknown; querying");
                    let found = self.settle(id, &p, sent, &why);
                    return self.follow_leg(&leg, &p.symbol, (!found).then_some(why.as_str()));
                }
            }
        }
    }

    /// The venue refused `ids` (an order, or a stop and its take-profit).
    fn reject_all(&mut self, ids: &[u64], reason: &str) {
        // An order error is a venue error the operator is told of (the
        // `errors` alert counts them).
        self.problem(format!("order {ids:?} rejected: {reason}"));
        for &i in ids {
            self.open.remove(&i);
            self.push(
                i,
                vec![Update::Rejected {
                    reason: reason.to_string(),
                }],
            );
        }
    }

    /// The take-profit that left in a stop's list: looked up at once
    /// (the list's answer was the stop's). With `unknown`, the list's fate
    /// is unknown, and so is the leg's.
    fn follow_leg(&mut self, leg: &Option<(u64, String)>, symbol: &str, unknown: Option<&str>) {
        let Some((l, client)) = leg else { return };
        if let Some(why) = unknown {
            return self.unknown(*l, client, why);
        }
        if let Some(Some(report)) = self.lookup(*l, symbol, client) {
            self.note_report(*l, &report);
        }
        // Not listed yet: it is open, and the polling finds it.
    }

    /// After an unknown outcome: look the order up until the venue shows
    /// it. Still "not found" once the grace period since `sent` has passed
    /// proves nothing — a venue may be slow to list a new order, and a
    /// client order id is not unique for ever (Binance's `newClientOrderId`
    /// is "unique among open orders": once the first filled, a resend under
    /// the same id is a second order). So it is never resent: the order
    /// stays open to the polling, which books it if it shows up, and the
    /// engine is told ([`Update::Unknown`]) so the deployment stops adding
    /// risk until an operator has looked. Whether it was found.
    fn settle(&mut self, id: u64, p: &Placement, sent: Instant, why: &str) -> bool {
        loop {
            match self.lookup(id, &p.symbol, &p.client_id) {
                Some(Some(report)) => {
                    self.note_report(id, &report);
                    return true;
                }
                Some(None) if sent.elapsed() >= self.config.not_found_grace() => {
                    self.unknown(id, &p.client_id, why);
                    return false;
                }
                Some(None) => std::thread::sleep(self.config.grace_step()),
                // The venue does not answer lookups: the polling finds out.
                None => {
                    self.unknown(id, &p.client_id, why);
                    return false;
                }
            }
        }
    }

    /// An order the venue may or may not have: kept open (polled), never
    /// resent; the engine pauses the deployment and the operator is told.
    fn unknown(&mut self, id: u64, client: &str, why: &str) {
        let reason = format!(
            "order {id} ({client}): sent, the answer lost ({why}), and the venue does not show it \
             after the grace period; never resent (it may yet execute): check the account"
        );
        self.problem(reason.clone());
        self.push(id, vec![Update::Unknown { reason }]);
    }

    /// Orders a previous run may have sent, looked up together so that one
    /// grace period covers them all.
    fn reconcile(&mut self, items: Vec<Recover>) {
        let started = Instant::now();
        for r in &items {
            let p = &r.placement;
            self.connector.remember(p);
            self.open
                .insert(r.id, (p.symbol.clone(), p.client_id.clone()));
            if r.cancel_asked {
                self.ask_cancel(&p.symbol, &p.client_id);
            }
        }
        let mut pending = items;
        loop {
            let mut missing = Vec::new();
            for r in pending {
                let (id, p) = (r.id, &r.placement);
                match self.lookup(id, &p.symbol, &p.client_id) {
                    Some(Some(report)) => self.note_report(id, &report),
                    Some(None) => missing.push(r),
                    // No answer: left open to the polling, never resent blind.
                    None => self.problem(format!(
                        "order {id} ({}): the venue does not answer lookups; left to polling",
                        p.client_id
                    )),
                }
            }
            if missing.is_empty() {
                return;
            }
            if started.elapsed() >= self.config.not_found_grace() {
                for r in missing {
                    self.not_found_at_restart(r);
                }
                return;
            }
            std::thread::sleep(self.config.grace_step());
            pending = missing;
        }
    }

    /// An order the journal leaves open that the venue does not show once
    /// the grace period is over.
    fn not_found_at_restart(&mut self, r: Recover) {
        let (id, p) = (r.id, r.placement);
        if r.cancel_asked {
            // Its cancel was asked and the venue does not show it: ended
            // (if it shows up, reconciliation of the holdings finds the
            // difference).
            self.open.remove(&id);
            self.push(id, vec![Update::Cancelled]);
            return;
        }
        let sent = self
            .sent
            .lock()
            .expect("sent log lock")
            .may_have_sent(&p.client_id);
        if r.in_list && !sent {
            self.open.remove(&id);
            return; // goes with its stop (which is sent, or found)
        }
        if sent {
            // Maybe sent before the host stopped: not found proves
            // nothing, so it is not sent again.
            return self.unknown(
                id,
                &p.client_id,
                "the host stopped before its answer was journaled",
            );
        }
        // Journaled, never recorded as sent: the host stopped before
        // sending it. Proven absent: sent now, unless its bar is too old
        // for the decision to stand.
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let age_ms = now_ms.saturating_sub(r.decided_ms).max(0) as u64;
        match self.config.unsent_max_age_ms {
            Some(max) if r.goes_stale && age_ms > max => {
                self.open.remove(&id);
                let reason = format!(
                    "not sent: the host stopped before sending it, and its bar is {} s old at \
                     restart (orders.unsent_max_age_ms allows {} s)",
                    age_ms / 1000,
                    max / 1000
                );
                self.problem(format!("order {id} ({}): {reason}", p.client_id));
                self.push(id, vec![Update::Rejected { reason }]);
            }
            _ => self.place(id, p),
        }
    }

    fn ask_cancel(&mut self, symbol: &str, client: &str) {
        // Refused or unknown: the lookup that follows says how it ended.
        while let Outcome::Retry(after, why) = self.connector.cancel(symbol, client) {
            self.wait(after, &why);
        }
    }

    fn cancel(&mut self, id: u64, symbol: String, client: String) {
        if !self.open.contains_key(&id) {
            // Never sent (withdrawn before it left) or already finished:
            // what became of it has been reported.
            return;
        }
        self.ask_cancel(&symbol, &client);
        // Whatever the cancel answered (it may have crossed a fill), the
        // order's own record says how it ended; one the venue never had
        // (refused before it was placed) ends cancelled after the grace.
        let asked = Instant::now();
        loop {
            match self.lookup(id, &symbol, &client) {
                Some(Some(report)) => return self.note_report(id, &report),
                Some(None) if asked.elapsed() < self.config.not_found_grace() => {
                    std::thread::sleep(self.config.grace_step())
                }
                Some(None) => {
                    self.open.remove(&id);
                    return self.push(id, vec![Update::Cancelled]);
                }
                None => return,
            }
        }
    }

    /// The orders not known to be finished: (id, symbol, client id).
    fn open_list(&self) -> Vec<(u64, String, String)> {
        self.open
            .iter()
            .map(|(id, (s, c))| (*id, s.clone(), c.clone()))
            .collect()
    }

    fn poll(&mut self) {
        for (id, symbol, client) in self.open_list() {
            if let Some(Some(report)) = self.lookup(id, &symbol, &client) {
                self.note_report(id, &report);
            }
        }
    }

    pub(super) fn run(mut self, jobs: Receiver<Job>) {
        let mut every = Duration::from_millis(self.config.poll_ms.max(10));
        let mut next_poll = Instant::now() + every;
        loop {
            let wait = next_poll.saturating_duration_since(Instant::now());
            match jobs.recv_timeout(wait) {
                Ok(Job::Place(id, p)) => self.place(id, p),
                Ok(Job::Reconcile(items)) => {
                    self.reconcile(items);
                    self.reconciling
                        .store(false, std::sync::atomic::Ordering::SeqCst);
                    if let Some(wake) = self.waker.lock().expect("waker lock").as_ref() {
                        wake();
                    }
                }
                Ok(Job::Cancel(id, s, c)) => self.cancel(id, s, c),
                Ok(Job::CancelAll) => {
                    let open = self.open_list();
                    tracing::warn!(
                        orders = open.len(),
                        "kill switch: cancelling every open order"
                    );
                    for (id, s, c) in open {
                        self.cancel(id, s, c);
                    }
                }
                Ok(Job::Pushed(client)) => {
                    self.count(|c| c.pushed += 1);
                    let found = self
                        .open
                        .iter()
                        .find(|(_, (_, c))| *c == client)
                        .map(|(id, (s, c))| (*id, s.clone(), c.clone()));
                    // One no longer open has been reported to its end.
                    if let Some((id, symbol, client)) = found
                        && let Some(Some(report)) = self.lookup(id, &symbol, &client)
                    {
                        self.note_report(id, &report);
                    }
                }
                Ok(Job::Stream(up, why)) => {
                    self.count(|c| {
                        c.stream_up = up;
                        c.stream_connects += u64::from(up);
                    });
                    every = Duration::from_millis(if up {
                        self.config.stream_poll_ms.max(10)
                    } else {
                        self.config.poll_ms.max(10)
                    });
                    if up {
                        // After every (re)connect: what changed while the
                        // stream was down is found by looking every open
                        // order up now.
                        self.poll();
                        next_poll = Instant::now() + every;
                    } else {
                        tracing::warn!(%why, "update stream down: polling every open order");
                        next_poll = next_poll.min(Instant::now() + every);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.poll();
                    next_poll = Instant::now() + every;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}
