//! Accounts: one pot of capital shared by several deployments.
//!
//! A deployment that names an `account` in `sandbar.toml` does not trade
//! its own configured capital: the account gives each of its deployments a
//! share (fixed fractions, risk parity or performance-weighted, computed by
//! [`crate::portfolio::allocation`]) and moves cash between them on a
//! schedule. Every move is an *input* of the deployment's run: it reaches
//! the engine as a journaled command ([`Command::Allocate`]) at a bar
//! boundary, so a restart re-executes the same books, and the risk limits
//! (fractions of equity) apply to the allocated capital from then on.
//!
//! What is decided here, and why it is deterministic given the journals:
//! - a deployment's **daily close** is its equity after the last bar of a
//!   UTC day; its daily return nets out the capital moved that day
//!   (`(close − previous close − moved) / (previous close + moved)`: exact
//!   for a move at the day's start, which a rebalance is);
//! - a **rebalance** happens once per period of `rebalance_days` days
//!   (periods counted from Monday 1970-01-05, so 7 is every Monday and 1
//!   every day), as soon as every deployment of the account has reached
//!   the new period; it uses only the closes *before* the period's first
//!   day, whatever the deployments' relative speed, so the amounts do not
//!   depend on which one got there first. A deployment that gets to the
//!   period's first bar first is held there ([`Account::arrive`]) until the
//!   rebalance is decided, so its move lands on that bar — sized from its
//!   last close and applied to that same equity (applied bars later, after
//!   a loss, a withdrawal could exceed what the deployment has left). The account's equity is the
//!   unallocated cash plus each deployment's last close before that day
//!   (plus what was moved to it since); each gets `weight × equity`;
//! - a deployment with fewer than two daily returns before the rebalance
//!   (for risk parity: returns that never moved, as before its first trade)
//!   is too new to weigh: it keeps its capital and the others share the rest;
//! - the account's **daily loss** (unallocated cash plus every deployment's
//!   equity, against the same at each one's day start) reaching
//!   `daily_loss_limit` puts every deployment of the account in REDUCING
//!   for the rest of its day (a journaled [`Command::Reduce`]);
//! - the account's **gross exposure** cap is enforced by construction: each
//!   deployment's own `max_gross_exposure` is at most the account's, as a
//!   multiple of its allocated equity, and the allocations add up to at most
//!   the account's equity — so the sum over the account cannot pass the cap,
//!   and no deployment's decision depends on another's state at run time;
//! - a withdrawal cuts the deployment's positions back to its limits of
//!   what is left (the engine's `trim_to_limits`): never leverage.
//!
//! Nothing is lost: each decision (a rebalance with all its moves, a loss
//! limit) is written to the account's own journal
//! (`journals/account-<name>.redb`) before any of it is handed out, and a
//! deployment that starts again is handed what its journal lacks of them
//! (a crash between deciding and applying) — once its run is back at the
//! decision's day.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::data::live::Wake;
use crate::engine::Command;
use crate::portfolio::allocation::{Method, volatility, weights};

mod config;
pub use config::{AccountConfig, AllocationKind};

const DAY_MS: i64 = 86_400_000;

/// One deployment's figures, as the account follows them.
#[derive(Debug, Default)]
struct Member {
    /// Running (or about to): a rebalance waits for every such member.
    running: bool,
    /// Its capital before any rebalance.
    initial: f64,
    /// The UTC day of its last bar, and its equity after it.
    last_day: Option<i64>,
    last_equity: f64,
    /// The close its next daily return is measured from.
    prev_close: f64,
    /// Capital moved at boundaries since its last bar (counted in the next bar's day).
    unattributed: f64,
    /// Capital moved during `last_day`.
    day_flows: f64,
    /// Equity at the start of `last_day` (with that day's moves).
    day_start: f64,
    /// (day, close) for every day it traded, oldest first.
    closes: Vec<(i64, f64)>,
    /// (day, daily return).
    returns: Vec<(i64, f64)>,
    /// (day counted in, amount) of every move its engine applied.
    flows: Vec<(i64, f64)>,
    /// Moves decided and not yet handed to its engine: (amount, as-of ms,
    /// reason), each journaled on its own (with the rebalance it came from).
    pending: Vec<(f64, i64, String)>,
    /// An account limit to pass to its engine on that day: (day, why).
    reduce: Option<(i64, String)>,
    /// Its weight at the last rebalance.
    weight: Option<f64>,
    /// Held at the first bar of this period (not yet decided) since then;
    /// `true` once it went on without the decision.
    held: Option<(i64, Instant, bool)>,
    /// What the account did at its arrival, for its next bar to report.
    events: Vec<Event>,
    /// Puts its deployment back on a worker.
    wake: Option<Waker>,
}

/// A member's [`Wake`] (a closure: shown by name only).
#[derive(Clone)]
struct Waker(Wake);

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waker")
    }
}

impl Member {
    fn fresh(initial: f64) -> Self {
        Member {
            running: true,
            initial,
            prev_close: initial,
            day_start: initial,
            last_equity: initial,
            ..Default::default()
        }
    }

    /// Close the days before `day`: the last equity of its last day is
    /// that day's close and its return is counted.
    fn roll_to(&mut self, day: i64) {
        match self.last_day {
            Some(last) if day > last => {
                let close = self.last_equity;
                let base = self.prev_close + self.day_flows;
                let r = if base > 0.0 {
                    (close - base) / base
                } else {
                    0.0
                };
                self.closes.push((last, close));
                self.returns.push((last, r));
                self.prev_close = close;
                self.day_flows = 0.0;
                self.day_start = close;
            }
            Some(_) => return,
            None => {}
        }
        self.last_day = Some(day);
    }

    /// Its last close before `day`.
    fn close_before(&self, day: i64) -> f64 {
        self.closes
            .iter()
            .rev()
            .find(|(d, _)| *d < day)
            .map_or(self.initial, |(_, c)| *c)
    }

    /// What its engine booked of the moves before `day` (inside that close).
    fn booked_before(&self, day: i64) -> f64 {
        self.flows
            .iter()
            .filter(|(d, _)| *d < day)
            .map(|(_, a)| a)
            .sum()
    }
}

/// A rebalance as the account's own journal keeps it: decided once,
/// written before any of its moves is handed out, so a crash between the
/// two cannot lose a move or make it twice.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Rebalance {
    as_of_ms: i64,
    equity: f64,
    /// Unallocated cash after it.
    pool: f64,
    /// (deployment, amount, reason).
    moves: Vec<(String, f64, String)>,
    weights: Vec<(String, f64)>,
    note: String,
}

const REBALANCES: TableDefinition<i64, &str> = TableDefinition::new("rebalances");
/// UTC day → why: the days the account's loss limit was passed.
const LIMITS: TableDefinition<i64, &str> = TableDefinition::new("loss_limits");

#[derive(Debug, Default)]
struct Book {
    /// Capital no deployment holds.
    pool: f64,
    /// The last period rebalanced (or started in).
    period: Option<i64>,
    /// The day whose loss limit was passed (once a day), and why.
    breached: Option<(i64, String)>,
    members: BTreeMap<String, Member>,
    /// Every rebalance decided, oldest first.
    rebalances: Vec<Rebalance>,
}

impl Book {
    /// Everything decided for `member` before `as_of_ms`.
    fn decided_before(&self, member: &str, as_of_ms: i64) -> f64 {
        self.rebalances
            .iter()
            .filter(|r| r.as_of_ms < as_of_ms)
            .flat_map(|r| r.moves.iter())
            .filter(|m| m.0 == member)
            .map(|m| m.1)
            .sum()
    }
}

/// What an account did after a bar, for the service to audit and alert.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Capital was reallocated (the note names each weight and move).
    Rebalanced(String),
    /// A rebalance was due and could not be computed (why).
    Skipped(String),
    /// A deployment stopped waiting for the others at a period's first bar.
    Late(String),
    /// The daily loss limit was passed: every member goes REDUCING.
    LossLimit {
        /// The loss, as a fraction of the day's start.
        loss: f64,
        /// What is said.
        message: String,
    },
}

/// An account's state as a deployment's status shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountStatus {
    /// Its name.
    pub name: String,
    /// How capital is shared.
    pub allocation: AllocationKind,
    /// This deployment's weight at the last rebalance (none before one).
    pub weight: Option<f64>,
    /// The account's equity at the last rebalance.
    pub equity_at_rebalance: Option<f64>,
    /// The last rebalance's day (RFC 3339) and what it did.
    pub last_rebalance: Option<(String, String)>,
    /// Capital no deployment holds.
    pub unallocated: f64,
}

/// A shared account and the deployments that trade its capital.
pub struct Account {
    /// Its `[accounts]` name.
    pub name: String,
    /// Its configuration.
    pub config: AccountConfig,
    book: Mutex<Book>,
    /// Its journal of decisions (none: kept in memory only, for tests).
    db: Option<std::sync::Arc<Database>>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account").field("name", &self.name).finish()
    }
}

fn store_error(path: &Path, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("account journal {}: {e}", path.display())
}

impl Account {
    /// The account, with the configured deployments that share it, its
    /// decisions kept in memory only.
    pub fn new(name: &str, config: AccountConfig, members: &[String]) -> Self {
        let mut book = Book::default();
        let mut allocated = 0.0;
        for m in members {
            let initial = config.initial(m, members.len());
            allocated += initial;
            book.members.insert(m.clone(), Member::fresh(initial));
        }
        book.pool = config.capital - allocated;
        Self {
            name: name.into(),
            config,
            book: Mutex::new(book),
            db: None,
        }
    }

    /// The account with its journal of decisions at `path` (created if
    /// new): the rebalances and loss limits it decided before a restart.
    pub fn open(
        name: &str,
        config: AccountConfig,
        members: &[String],
        path: &Path,
    ) -> anyhow::Result<Self> {
        let mut a = Self::new(name, config, members);
        let db = crate::store::backup::create(path).map_err(|e| store_error(path, e))?;
        {
            let tx = db.begin_write().map_err(|e| store_error(path, e))?;
            tx.open_table(REBALANCES)
                .map_err(|e| store_error(path, e))?;
            tx.open_table(LIMITS).map_err(|e| store_error(path, e))?;
            tx.commit().map_err(|e| store_error(path, e))?;
        }
        let tx = db.begin_read().map_err(|e| store_error(path, e))?;
        let b = a.book.get_mut().expect("account lock");
        for row in tx
            .open_table(REBALANCES)
            .map_err(|e| store_error(path, e))?
            .iter()
            .map_err(|e| store_error(path, e))?
        {
            let (_, v) = row.map_err(|e| store_error(path, e))?;
            let r: Rebalance = serde_json::from_str(v.value()).map_err(|e| store_error(path, e))?;
            b.pool = r.pool;
            b.period = Some(a.config.period(r.as_of_ms.div_euclid(DAY_MS)));
            for (m, w) in &r.weights {
                if let Some(m) = b.members.get_mut(m) {
                    m.weight = Some(*w);
                }
            }
            b.rebalances.push(r);
        }
        if let Some(row) = tx
            .open_table(LIMITS)
            .map_err(|e| store_error(path, e))?
            .last()
            .map_err(|e| store_error(path, e))?
        {
            b.breached = Some((row.0.value(), row.1.value().to_string()));
        }
        drop(tx);
        a.db = Some(db);
        Ok(a)
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().expect("account lock")
    }

    /// Write a decision before it is acted on.
    fn write(&self, r: Option<&Rebalance>, limit: Option<(i64, &str)>) -> Result<(), String> {
        let Some(db) = &self.db else {
            return Ok(());
        };
        let e = |e: &dyn std::fmt::Display| format!("account `{}` journal: {e}", self.name);
        let tx = db.begin_write().map_err(|x| e(&x))?;
        if let Some(r) = r {
            let json = serde_json::to_string(r).map_err(|x| e(&x))?;
            tx.open_table(REBALANCES)
                .map_err(|x| e(&x))?
                .insert(r.as_of_ms, json.as_str())
                .map_err(|x| e(&x))?;
        }
        if let Some((day, why)) = limit {
            tx.open_table(LIMITS)
                .map_err(|x| e(&x))?
                .insert(day, why)
                .map_err(|x| e(&x))?;
        }
        tx.commit().map_err(|x| e(&x))
    }

    /// The capital a member starts a new run with.
    pub fn initial(&self, member: &str) -> f64 {
        self.book().members.get(member).map_or(0.0, |m| m.initial)
    }

    /// A member's run starts (or recovers) from its beginning. Its journal
    /// holds the moves of the rebalances `rebalanced` (as-of days) and the
    /// account limits of the days `reduced`; whatever the account decided
    /// for it that its journal lost (a crash before they were committed)
    /// is handed out again.
    pub fn join(&self, member: &str, rebalanced: &[i64], reduced: &[i64]) {
        let mut b = self.book();
        let Some(initial) = b.members.get(member).map(|m| m.initial) else {
            return;
        };
        let mut m = Member::fresh(initial);
        m.weight = b.members[member].weight;
        m.wake = b.members[member].wake.clone();
        for r in &b.rebalances {
            for (who, amount, reason) in &r.moves {
                if who == member && !rebalanced.contains(&r.as_of_ms) {
                    m.pending.push((*amount, r.as_of_ms, reason.clone()));
                }
            }
        }
        if let Some((day, why)) = &b.breached
            && !reduced.contains(day)
        {
            m.reduce = Some((*day, why.clone()));
        }
        b.members.insert(member.to_string(), m);
    }

    /// A member's run ended: rebalances no longer wait for it (its capital
    /// stays; moves it did not apply wait in the account's journal).
    pub fn leave(&self, member: &str) {
        if let Some(m) = self.book().members.get_mut(member) {
            m.running = false;
            m.pending.clear();
            m.reduce = None;
            m.held = None;
        }
        // Nobody waits for it any more.
        Self::wake_all(&self.book());
    }

    /// What the engine of `member` must apply at this boundary, if anything:
    /// the moves decided for it whose day it has reached, then an account
    /// limit of its current day.
    /// `Allocate` commands handed out here count as moved.
    pub fn commands(&self, member: &str) -> Vec<Command<'static>> {
        let mut b = self.book();
        let Some(m) = b.members.get_mut(member) else {
            return vec![];
        };
        let mut out = Vec::new();
        // A move is for its rebalance's day: one decided before a restart
        // waits until the re-executing run is back at that day.
        let reached = m.last_day.unwrap_or(i64::MIN);
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut m.pending)
            .into_iter()
            .partition(|p| p.1.div_euclid(DAY_MS) <= reached);
        m.pending = later;
        for (amount, as_of_ms, reason) in due {
            m.unattributed += amount;
            out.push(Command::Allocate {
                amount,
                as_of_ms,
                actor: format!("account:{}", self.name),
                reason,
            });
        }
        match m.reduce.take() {
            // A limit is for its day: a later day starts ACTIVE anyway.
            Some((day, reason)) if m.last_day.is_none_or(|d| d == day) => {
                out.push(Command::Reduce {
                    actor: format!("account:{}", self.name),
                    reason,
                });
            }
            _ => {}
        }
        out
    }

    /// A move of `member`'s journal applied again by recovery.
    pub fn replayed_move(&self, member: &str, amount: f64) {
        if let Some(m) = self.book().members.get_mut(member) {
            m.unattributed += amount;
        }
    }

    /// `member` processed a bar of `time_ms` and has `equity`; `live`: past
    /// the bars its journal re-executes (only then may a limit fire).
    pub fn after_bar(&self, member: &str, time_ms: i64, equity: f64, live: bool) -> Vec<Event> {
        let day = time_ms.div_euclid(DAY_MS);
        let mut b = self.book();
        let Some(m) = b.members.get_mut(member) else {
            return vec![];
        };
        let moved = std::mem::take(&mut m.unattributed);
        m.roll_to(day);
        if moved != 0.0 {
            m.flows.push((day, moved));
        }
        m.day_flows += moved;
        m.day_start += moved;
        m.last_equity = equity;
        let mut events = std::mem::take(&mut m.events);
        if live && let Some(e) = self.loss_limit(&mut b, day) {
            events.push(e);
        }
        if let Some(e) = self.rebalance(&mut b) {
            events.push(e);
            Self::wake_all(&b);
        }
        events
    }

    /// Put every member back on a worker (a decision they may wait for).
    fn wake_all(b: &Book) {
        for w in b.members.values().filter_map(|m| m.wake.as_ref()) {
            (w.0)();
        }
    }

    /// `member` is about to process a bar of `time_ms` (`live`: past the
    /// bars its journal re-executes). Its days before are closed, and the
    /// rebalance of a new period is decided as soon as every running member
    /// has arrived in it. `false` holds a live bar of a period not decided
    /// yet: the member is woken when it is, so that every move of a
    /// rebalance lands on its period's first bar, whichever deployment runs
    /// faster — a move applied later would be sized from a close the
    /// deployment may since have lost (and leave it below zero). A hold
    /// lasts at most `rebalance_wait_seconds`.
    pub fn arrive(&self, member: &str, time_ms: i64, live: bool) -> bool {
        let day = time_ms.div_euclid(DAY_MS);
        let mut b = self.book();
        let Some(m) = b.members.get_mut(member) else {
            return true;
        };
        m.roll_to(day);
        if let Some(e) = self.rebalance(&mut b) {
            b.members.get_mut(member).expect("member").events.push(e);
            Self::wake_all(&b);
        }
        let period = self.config.period(day);
        let decided = b.period.is_some_and(|p| p >= period);
        let m = b.members.get_mut(member).expect("member");
        if !live || decided {
            m.held = None;
            return true;
        }
        let (since, gone_on) = match m.held {
            Some((p, since, gone_on)) if p == period => (since, gone_on),
            _ => {
                m.held = Some((period, Instant::now(), false));
                (Instant::now(), false)
            }
        };
        if gone_on {
            return true;
        }
        if since.elapsed().as_secs_f64() < self.config.rebalance_wait_seconds {
            return false;
        }
        m.held = Some((period, since, true));
        let waiting_for: Vec<&str> = b
            .members
            .iter()
            .filter(|(n, o)| {
                n.as_str() != member
                    && o.running
                    && o.last_day.is_none_or(|d| self.config.period(d) < period)
            })
            .map(|(n, _)| n.as_str())
            .collect();
        let day = crate::data::market::format_time(self.config.period_start(period) * DAY_MS);
        let late = Event::Late(format!(
            "rebalance of {day}: `{member}` waited {:.0} s for {} to reach the period and went on; its move will land on a later bar",
            self.config.rebalance_wait_seconds,
            waiting_for.join(", ")
        ));
        b.members.get_mut(member).expect("member").events.push(late);
        true
    }

    /// How `member`'s deployment is put back on a worker.
    pub fn set_waker(&self, member: &str, wake: Wake) {
        if let Some(m) = self.book().members.get_mut(member) {
            m.wake = Some(Waker(wake));
        }
    }

    fn loss_limit(&self, b: &mut Book, day: i64) -> Option<Event> {
        if b.breached.as_ref().is_some_and(|(d, _)| *d >= day) {
            return None;
        }
        // The day's PnL of each (its day start counts what was moved to it
        // that day), against everything the account has: money in transit
        // between them (moved, not yet booked) is neither a loss nor a gain.
        let running = b
            .members
            .values()
            .filter(|m| m.running && m.last_day.is_some());
        let (now, pnl) = running.fold((b.pool, 0.0), |(n, p), m| {
            let moving = m.unattributed + m.pending.iter().map(|x| x.0).sum::<f64>();
            (n + m.last_equity + moving, p + m.last_equity - m.day_start)
        });
        let start = now - pnl;
        if start <= 0.0 {
            return None;
        }
        let loss = -pnl / start;
        if loss < self.config.daily_loss_limit {
            return None;
        }
        let message = format!(
            "account `{}` daily loss {:.2}% reached its limit {:.2}% (equity {now:.2} from {start:.2} at the day's start): new risk stops in every deployment for the day",
            self.name,
            loss * 100.0,
            self.config.daily_loss_limit * 100.0
        );
        if let Err(e) = self.write(None, Some((day, &message))) {
            // Acted on all the same: stopping risk is the safe side.
            tracing::error!(account = %self.name, %e, "writing the loss limit");
        }
        b.breached = Some((day, message.clone()));
        for m in b.members.values_mut().filter(|m| m.running) {
            m.reduce = Some((day, message.clone()));
        }
        Some(Event::LossLimit { loss, message })
    }

    /// Rebalance once every running member has a bar in a new period.
    fn rebalance(&self, b: &mut Book) -> Option<Event> {
        let cfg = &self.config;
        let mut reached: Option<i64> = None;
        for m in b.members.values().filter(|m| m.running) {
            let p = cfg.period(m.last_day?);
            reached = Some(reached.map_or(p, |q: i64| q.min(p)));
        }
        let period = reached?;
        let Some(done) = b.period else {
            b.period = Some(period);
            return None;
        };
        if period <= done {
            return None;
        }
        b.period = Some(period);
        let first_day = cfg.period_start(period);
        let as_of_ms = first_day * DAY_MS;
        // Who is weighed, with what history.
        let mut names = Vec::new();
        let mut series = Vec::new();
        let mut held = Vec::new();
        let mut too_new = Vec::new();
        for (name, m) in b.members.iter().filter(|(_, m)| m.running) {
            let r: Vec<f64> = m
                .returns
                .iter()
                .filter(|(d, _)| *d < first_day)
                .map(|(_, r)| *r)
                .collect();
            // Too new to weigh: fewer than two returns, or (risk parity)
            // returns that never moved — no risk to weigh by (it has not
            // traded); it keeps its capital until it has some.
            let unweighable = match cfg.allocation {
                AllocationKind::Fixed => false,
                AllocationKind::Performance => r.len() < 2,
                AllocationKind::RiskParity => volatility(&r, cfg.lookback_days).is_none(),
            };
            if unweighable {
                too_new.push(name.clone());
                continue;
            }
            names.push(name.clone());
            // Its last close before the day, and what was decided for it
            // before and not inside that close (booked later, or not yet).
            held.push(
                m.close_before(first_day) + b.decided_before(name, as_of_ms)
                    - m.booked_before(first_day),
            );
            series.push(r);
        }
        let day = crate::data::market::format_time(as_of_ms);
        if names.is_empty() {
            return Some(Event::Skipped(format!(
                "rebalance of {day}: no deployment has daily returns to weigh yet"
            )));
        }
        let method = match cfg.allocation {
            AllocationKind::Fixed => {
                Method::Fixed(names.iter().map(|n| cfg.fractions[n]).collect())
            }
            AllocationKind::RiskParity => Method::RiskParity {
                lookback: cfg.lookback_days,
            },
            AllocationKind::Performance => Method::Performance {
                lookback: cfg.lookback_days,
                floor: cfg.sharpe_floor / crate::statistic::CALENDAR_DAYS.sqrt(),
            },
        };
        let w = match weights(&method, &series) {
            Ok(w) => w,
            Err(e) => {
                // Name the deployment the error is about.
                let e = names.iter().enumerate().fold(e, |e, (i, n)| {
                    e.replace(&format!("deployment {i}:"), &format!("`{n}`:"))
                });
                return Some(Event::Skipped(format!(
                    "rebalance of {day} skipped (capital unchanged): {e}"
                )));
            }
        };
        // The unallocated cash and what the weighed ones hold (the others
        // keep theirs).
        let equity = b.pool + held.iter().sum::<f64>();
        let kind = match cfg.allocation {
            AllocationKind::Fixed => "fixed",
            AllocationKind::RiskParity => "risk-parity",
            AllocationKind::Performance => "performance",
        };
        let mut parts = Vec::new();
        let mut moves = Vec::new();
        let mut allocated = 0.0;
        for (i, name) in names.iter().enumerate() {
            let target = w[i] * equity;
            allocated += target;
            let amount = target - held[i];
            parts.push(format!(
                "{name} {:.2}% = {target:.2} ({amount:+.2})",
                w[i] * 100.0
            ));
            if amount.abs() > 1e-9 {
                let reason = format!(
                    "{kind} rebalance of {day}: weight {:.4}% of the account's {equity:.2}",
                    w[i] * 100.0
                );
                moves.push((name.clone(), amount, reason));
            }
        }
        let mut note = format!(
            "{kind} rebalance of {day}, account equity {equity:.2}: {}",
            parts.join(", ")
        );
        if !too_new.is_empty() {
            note.push_str(&format!(
                "; too new to weigh (capital unchanged): {}",
                too_new.join(", ")
            ));
        }
        let r = Rebalance {
            as_of_ms,
            equity,
            pool: equity - allocated,
            moves,
            weights: names.iter().cloned().zip(w.iter().copied()).collect(),
            note: note.clone(),
        };
        // Written first: a crash from here on hands the moves out again.
        if let Err(e) = self.write(Some(&r), None) {
            return Some(Event::Skipped(format!(
                "rebalance of {day} not made (capital unchanged): {e}"
            )));
        }
        for (name, w) in &r.weights {
            b.members.get_mut(name).expect("member").weight = Some(*w);
        }
        for (name, amount, reason) in &r.moves {
            let m = b.members.get_mut(name).expect("member");
            m.pending.push((*amount, as_of_ms, reason.clone()));
        }
        b.pool = r.pool;
        b.rebalances.push(r);
        Some(Event::Rebalanced(note))
    }

    /// How the account stands for `member`.
    pub fn status(&self, member: &str) -> AccountStatus {
        let b = self.book();
        let last = b.rebalances.last();
        AccountStatus {
            name: self.name.clone(),
            allocation: self.config.allocation,
            weight: b.members.get(member).and_then(|m| m.weight),
            equity_at_rebalance: last.map(|l| l.equity),
            last_rebalance: last
                .map(|r| (crate::data::market::format_time(r.as_of_ms), r.note.clone())),
            unallocated: b.pool,
        }
    }
}

#[cfg(test)]
mod tests;
