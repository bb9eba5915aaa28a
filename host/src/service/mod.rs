//! The service: deployments trading on live feeds, steered while they run,
//! surviving crashes.
//!
//! Each running deployment is an [`Engine`] on the worker pool, fed by a
//! [`LiveFeed`](crate::data::live::LiveFeed) from its feed's hub and trading
//! on the simulated venue (PAPER) or on the live venue its configuration
//! names (LIVE; [`live`] connects and reconciles it). Operators reach it through the HTTP
//! control API ([`api`]); every command becomes an engine [`Command`]
//! applied at the next bar boundary, so a swap or rollback never splits a
//! bar. New versions are loaded and initialised on the request's thread, off
//! the engine's hot path. Lifecycle changes the engine makes by itself (a
//! pause on drawdown, a fault, an automatic rollback) are written back to
//! the registry with actor `engine`.
//!
//! Durability (see [`crate::store::journal`]): a deployment's journal is
//! write-ahead — its inputs (bars, commands) are kept, and it is committed
//! durably before an order reaches the venue and before the strategy hears
//! of a fill. Starting a deployment that has a journal *recovers* it: the
//! journaled inputs are re-executed through a fresh engine from the run's
//! first version (swaps and pauses applied again at their bars), every
//! regenerated entry is verified against the file, and the feed then
//! delivers from the bar after the last journaled one. Positions, cash, open
//! orders, risk state and the strategy's own state come back exactly, and
//! nothing is written twice.

pub mod account;
pub mod alerts;
pub mod api;
pub mod config;
pub mod dashboard;
pub mod live;
pub mod metrics;
pub mod reconcile;
pub mod runner;
pub mod shadow;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::data::live::{FeedStatus, Hub, LiveFeed, Notes, interval_ms};
use crate::data::market::Bar;
use crate::engine::replay::{self, RunConfig};
use crate::engine::{Command, Controller, Engine, EngineConfig, Status, StrategyDriver};
use crate::execution::SimulatedVenue;
use crate::sandbox::runtime::{Instance, Runtime};
use crate::store::journal::{
    CommandAction, Entry, Journal, JournalError, Recorder, RunMeta, Snapshot,
};
use crate::store::lifecycle::{GateConfig, Move, Stage};
use crate::store::registry::{Deployment, Registry};
use config::{DeploymentConfig, FeedConfig};
use shadow::{Divergence, Summary};

/// Service settings.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Where running deployments write their journals.
    pub journals: PathBuf,
    /// Drawdown from the peak at which a PAPER or LIVE deployment pauses
    /// itself (default 0.10).
    pub pause_drawdown: f64,
    /// How often a running deployment's strategy state is snapshotted.
    pub snapshot_every: Duration,
    /// Close every position when the service shuts down.
    pub flatten_on_shutdown: bool,
    /// The configured feeds.
    pub feeds: BTreeMap<String, FeedConfig>,
    /// The configured deployments (what `start` uses when a request names
    /// no feed).
    pub deployments: Vec<DeploymentConfig>,
    /// Worker threads running the deployments (default: one per core).
    pub workers: usize,
    /// Alert rules and channels.
    pub alerts: Option<alerts::AlertsConfig>,
    /// Live venues, by name.
    pub venues: BTreeMap<String, config::VenueConfig>,
    /// The ramp-up of a new LIVE run: (days from its first bar, fraction of
    /// its capital), then all of it (default 10%, 25%, 50% by week).
    pub ramp_up: Vec<(f64, f64)>,
    /// Accounts shared by several deployments, by name.
    pub accounts: BTreeMap<String, account::AccountConfig>,
}

impl ServiceConfig {
    /// Settings with no feeds and no deployments.
    pub fn new(journals: PathBuf) -> Self {
        Self {
            journals,
            pause_drawdown: 0.10,
            snapshot_every: Duration::from_secs(300),
            flatten_on_shutdown: false,
            feeds: BTreeMap::new(),
            deployments: Vec::new(),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            alerts: None,
            venues: BTreeMap::new(),
            ramp_up: crate::portfolio::allocation::RampUp::default().0,
            accounts: BTreeMap::new(),
        }
    }
}

/// Where a deployment's bars come from: a configured feed, symbols, an
/// interval, and optionally the first bar to trade.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeedSpec {
    /// A feed named in the configuration.
    pub feed: String,
    /// Symbols (default: the deployment's own).
    #[serde(default)]
    pub symbols: Vec<String>,
    /// Bar interval (`1m`).
    pub interval: String,
    /// First bar to trade (RFC 3339 or `YYYY-MM-DD`).
    #[serde(default)]
    pub start: Option<String>,
}

/// A request to create a deployment.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// Its name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// `name@version` (or `name` for the newest).
    pub plugin: String,
    /// Parameters, `name=value`.
    #[serde(default)]
    pub params: Vec<String>,
    /// Symbols it trades.
    #[serde(default)]
    pub symbols: Vec<String>,
    /// Capital (default 100,000).
    #[serde(default = "default_capital")]
    pub capital: f64,
    /// Risk overrides, `key=value`.
    #[serde(default)]
    pub risk: Vec<String>,
}

fn default_capital() -> f64 {
    100_000.0
}

/// What the service reports about a deployment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeploymentStatus {
    /// Name.
    pub name: String,
    /// Lifecycle stage in the registry.
    pub stage: String,
    /// Next bar to process.
    pub seq: u64,
    /// `name@version` in service.
    pub serving: String,
    /// Version a rollback returns to.
    pub standby: Option<String>,
    /// Equity.
    pub equity: f64,
    /// Cash.
    pub cash: f64,
    /// PnL since the start (equity − capital).
    pub pnl: f64,
    /// Drawdown from the equity peak (fraction).
    pub drawdown: f64,
    /// Risk state (`ACTIVE`, `REDUCING`, `HALTED`).
    pub risk_state: String,
    /// Open positions: (symbol, quantity, average price).
    pub positions: Vec<(String, f64, f64)>,
    /// Orders resting at the venue.
    pub open_orders: usize,
    /// Orders sent.
    pub orders: u64,
    /// Round trips closed.
    pub trades: usize,
    /// Why paused, if paused.
    pub paused: Option<String>,
    /// Still running.
    pub running: bool,
    /// Re-executing its journal after a restart.
    pub recovering: bool,
    /// How it ended, once it has.
    pub ended: Option<String>,
    /// Candidate running in shadow.
    pub shadow: Option<String>,
    /// The feed, its connection and whether it is STALE.
    pub feed: FeedState,
    /// Last bar processed (RFC 3339).
    pub last_bar: Option<String>,
    /// The deployment's journal.
    pub journal: PathBuf,
    /// A LIVE deployment's venue and what its courier did.
    #[serde(default)]
    pub venue: Option<VenueState>,
    /// A ramping-up LIVE deployment: the fraction of its capital it trades now.
    #[serde(default)]
    pub ramp_up: Option<f64>,
    /// The shared account whose capital it trades, if any.
    #[serde(default)]
    pub account: Option<account::AccountStatus>,
}

/// A live venue, as status shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VenueState {
    /// The `[venues]` name.
    pub name: String,
    /// Placements sent (resends after an unknown outcome included).
    pub placed: u64,
    /// Placements whose outcome was unknown (looked up before any resend).
    pub unknown: u64,
    /// Lookups by client order id.
    pub queries: u64,
    /// Waits the venue asked for (429, 418) or retries.
    pub retries: u64,
    /// Changes the venue's update stream announced.
    #[serde(default)]
    pub pushed: u64,
    /// Times the update stream connected.
    #[serde(default)]
    pub stream_connects: u64,
    /// Whether the update stream is connected now.
    #[serde(default)]
    pub stream_up: bool,
    /// What could not be done, latest last (at most 20).
    pub problems: Vec<String>,
}

/// A deployment's feed, as status shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FeedState {
    /// Feed name.
    pub name: String,
    /// `connecting`, `live`, `down`.
    pub connection: String,
    /// No closed bar for two intervals.
    pub stale: bool,
    /// Last connection error.
    pub last_error: Option<String>,
}

/// Intent entries kept in memory for shadow comparison, besides the journal.
type Intents = Arc<Mutex<Vec<Entry>>>;
type SharedJournal = Arc<Mutex<Journal>>;

/// Journals to a file (shared with the controller, which saves snapshots),
/// moves the feed's notes into it, and keeps intents for comparison.
struct ServiceRecorder {
    journal: SharedJournal,
    notes: Notes,
    intents: Intents,
    /// The deployment's name and its alerter, for the rules entries trigger.
    name: String,
    alerter: Option<Arc<alerts::Alerter>>,
    metrics: metrics::DeploymentMetrics,
    /// Bars re-executed from the journal (not counted again).
    recovered: u64,
    /// The dashboard's picture of the deployment (re-executed entries
    /// refill it after a restart).
    board: Option<Board>,
    /// The run's symbol table (alerts name symbols).
    symbols: Vec<String>,
    /// Market orders waiting for their first fill (the time-to-fill rule).
    clock: FillClock,
}

/// When each market order became fillable and when it first filled.
///
/// Time to fill is the venue's time: from the moment the venue could fill
/// the order to its first execution. The simulated venue of a paper
/// deployment can fill a market order only on the next bar of its symbol,
/// so its clock starts when that bar arrives (what a bar interval takes is
/// the strategy's choice of bars, not the venue's latency); a live venue's
/// starts at submission. Limit and protective orders rest by design and are
/// not timed.
#[derive(Debug, Default)]
struct FillClock {
    /// order id → (symbol, fillable since).
    waiting: HashMap<u64, (u32, Option<Instant>)>,
}

impl FillClock {
    /// A market order was sent.
    fn order(&mut self, id: u64, symbol: u32) {
        self.waiting.insert(id, (symbol, None));
    }

    /// A bar of `symbol` arrived: its waiting orders can fill from now.
    fn bar(&mut self, symbol: u32, now: Instant) {
        for (s, since) in self.waiting.values_mut() {
            if *s == symbol && since.is_none() {
                *since = Some(now);
            }
        }
    }

    /// No order waits for its first fill.
    fn idle(&self) -> bool {
        self.waiting.is_empty()
    }

    /// A fill of order `id`: the time it took, on its first fill.
    fn fill(&mut self, id: u64, now: Instant) -> Option<Duration> {
        let (_, since) = self.waiting.remove(&id)?;
        since.map(|t| now.saturating_duration_since(t))
    }

    /// An order that ended without a fill.
    fn forget(&mut self, id: u64) {
        self.waiting.remove(&id);
    }

    /// The time-to-fill metric and rule, from an entry as written.
    fn on_entry(
        &mut self,
        entry: &Entry,
        metrics: &metrics::DeploymentMetrics,
        alerter: Option<&alerts::Alerter>,
        name: &str,
    ) {
        use crate::execution::{OrderKind, Origin};
        match entry {
            Entry::Order { order, .. }
                if order.kind == OrderKind::Market
                    && matches!(
                        order.origin,
                        Origin::Strategy | Origin::RiskFlatten | Origin::Rebalance
                    ) =>
            {
                self.order(order.id, order.symbol);
            }
            Entry::Cancel { order_id, .. } => self.forget(*order_id),
            Entry::Fill { fill, plugin, .. } => {
                let Some(took) = self.fill(fill.order_id, Instant::now()) else {
                    return;
                };
                let secs = took.as_secs_f64();
                metrics.time_to_fill_seconds.observe(secs);
                if let Some(a) = alerter
                    && let Some((level, threshold)) =
                        alerts::level_of(secs, a.config().time_to_fill_secs)
                {
                    a.raise(
                        level,
                        name,
                        plugin,
                        "time-to-fill",
                        Some(secs),
                        Some(threshold),
                        Some(crate::data::market::format_time(fill.time_ms)),
                        &format!(
                            "market order {} took {secs:.1} s to its first fill, over the {level} threshold {threshold:.0} s",
                            fill.order_id
                        ),
                    );
                }
            }
            _ => {}
        }
    }
}

/// A deployment's dashboard board, shared by its recorder, its controller and the API.
type Board = Arc<Mutex<dashboard::Board>>;

impl ServiceRecorder {
    fn take_notes(&self, j: &mut Journal) {
        let notes = std::mem::take(&mut *self.notes.lock().expect("notes lock"));
        for n in &notes {
            j.note(n);
        }
    }
}

impl Recorder for ServiceRecorder {
    fn record(&mut self, entry: Entry) -> Result<(), JournalError> {
        if let Some(b) = &self.board {
            b.lock().expect("board lock").entry(&entry);
        }
        if matches!(entry, Entry::Intent { .. }) {
            self.intents
                .lock()
                .expect("intents lock")
                .push(entry.clone());
        }
        let mut j = self.journal.lock().expect("journal lock");
        if !j.verifying() {
            self.metrics.entry(&entry);
            if let Some(a) = &self.alerter {
                alert_on_entry(a, &self.name, &self.symbols, &entry);
            }
            self.clock
                .on_entry(&entry, &self.metrics, self.alerter.as_deref(), &self.name);
        }
        j.record(entry)
    }

    fn keeps_inputs(&self) -> bool {
        true
    }

    fn input_bar(&mut self, seq: u64, bar: &Bar) -> Result<(), JournalError> {
        if seq >= self.recovered {
            self.metrics.bars.inc();
            // Per bar: the clock is read only while a market order waits.
            if !self.clock.idle() {
                self.clock.bar(bar.symbol, Instant::now());
            }
        }
        let mut j = self.journal.lock().expect("journal lock");
        self.take_notes(&mut j);
        j.input_bar(seq, bar)
    }

    fn barrier(&mut self) -> Result<(), JournalError> {
        let mut j = self.journal.lock().expect("journal lock");
        self.take_notes(&mut j);
        if j.verifying() {
            return j.barrier();
        }
        let t = Instant::now();
        let r = j.barrier();
        self.metrics
            .journal_commit_seconds
            .observe(t.elapsed().as_secs_f64());
        r
    }
}

/// Rules a journal entry triggers: a fill's slippage, a version change (INFO).
fn alert_on_entry(a: &alerts::Alerter, name: &str, symbols: &[String], entry: &Entry) {
    match entry {
        Entry::Fill { fill, plugin, .. } if fill.quantity * fill.price > 0.0 => {
            let symbol = symbols
                .get(fill.symbol as usize)
                .map_or("?", String::as_str);
            let side = match fill.side {
                crate::execution::Side::Buy => "bought",
                crate::execution::Side::Sell => "sold",
            };
            a.raise(
                alerts::Level::Info,
                name,
                plugin,
                "fill",
                Some(fill.price),
                None,
                Some(crate::data::market::format_time(fill.time_ms)),
                &format!(
                    "{side} {} {symbol} at {} ({}, order {}{})",
                    fill.quantity,
                    fill.price,
                    fill.origin.as_str(),
                    fill.order_id,
                    if fill.done { "" } else { ", partly" }
                ),
            );
            let bps = fill.slippage / (fill.quantity * fill.price) * 10_000.0;
            if let Some((level, threshold)) = alerts::level_of(bps, a.config().slippage_bps) {
                a.raise(
                    level,
                    name,
                    plugin,
                    "slippage",
                    Some(bps),
                    Some(threshold),
                    Some(crate::data::market::format_time(fill.time_ms)),
                    &format!(
                        "order {} filled with {bps:.1} bps of slippage, over the {level} threshold {threshold:.1} bps",
                        fill.order_id
                    ),
                );
            }
        }
        Entry::Swap {
            from,
            to,
            actor,
            reason,
            ..
        } => {
            a.raise(
                alerts::Level::Info,
                name,
                to,
                "swap",
                None,
                None,
                None,
                &format!("{to} put in service (was {from}) by {actor}: {reason}"),
            );
        }
        _ => {}
    }
}

/// Loads a version for a swap during recovery: `(label, state)` → driver.
type Loader = Arc<dyn Fn(&str, Option<&[u8]>) -> anyhow::Result<Instance> + Send + Sync + 'static>;

struct ServiceController {
    rx: Receiver<Command<'static>>,
    status: Arc<Mutex<Status>>,
    name: String,
    registry: Arc<Registry>,
    last: Status,
    /// A version change asked for at the last boundary: (version, actor, reason).
    pending: Option<(String, String, String)>,
    /// Journaled commands to apply again while recovering: (seq, action, actor, reason).
    replay: VecDeque<(u64, CommandAction, String, String)>,
    /// Bars re-executed from the journal; side effects on the registry wait
    /// until the run is past them.
    recovered: u64,
    load: Loader,
    journal: Option<SharedJournal>,
    snapshot_every: Duration,
    last_snapshot: Instant,
    snapshot_reply: Option<Receiver<Result<Vec<u8>, String>>>,
    flatten_on_shutdown: bool,
    /// Failures of the controller's own work (a version that would not load
    /// during recovery), for the deployment's status.
    trouble: Arc<Mutex<Option<String>>>,
    metrics: metrics::DeploymentMetrics,
    /// When the bar being processed reached its boundary.
    bar_started: Option<Instant>,
    /// (UTC day, equity at its start) for the daily PnL.
    day: (i64, f64),
    alerter: Option<Arc<alerts::Alerter>>,
    /// The level each threshold rule is at (raised on the way up).
    levels: HashMap<&'static str, Option<alerts::Level>>,
    /// Equity at each UTC day's close, for the paper Sharpe ratio.
    daily_closes: Vec<f64>,
    /// The Sharpe ratio of the deployment's backtest evidence.
    backtest_sharpe: Option<f64>,
    board: Option<Board>,
    /// The account whose capital it trades, if any.
    account: Option<Arc<account::Account>>,
}

impl ServiceController {
    /// Threshold rules and state changes after a bar.
    fn alert_on(&mut self, status: &Status) {
        let Some(a) = self.alerter.clone() else {
            return;
        };
        let bar_time = Some(crate::data::market::format_time(status.last_bar_ms));
        let peak = status.peak_equity.max(status.equity);
        let drawdown = if peak > 0.0 {
            1.0 - status.equity / peak
        } else {
            0.0
        };
        let daily_loss = if self.day.1 > 0.0 {
            (self.day.1 - status.equity) / self.day.1
        } else {
            0.0
        };
        let c = a.config().clone();
        // Paper against backtest, once 20 days were traded (checked at a day's first bar).
        let deviation = match (
            self.daily_closes.len() >= 21
                && status.last_bar_ms.div_euclid(86_400_000) == self.day.0,
            self.backtest_sharpe,
        ) {
            (true, Some(bt)) if bt.abs() > 1e-9 => alerts::daily_sharpe(&self.daily_closes)
                .map_or(0.0, |paper| (paper - bt).abs() / bt.abs()),
            _ => 0.0,
        };
        for (rule, value, thresholds, what) in [
            ("drawdown", drawdown, c.drawdown, "drawdown from the peak"),
            (
                "daily-loss",
                daily_loss,
                c.daily_loss,
                "loss since the start of the day",
            ),
            (
                "sharpe-deviation",
                deviation,
                c.sharpe_deviation,
                "paper Sharpe ratio off the backtest's by",
            ),
        ] {
            let now = alerts::level_of(value, thresholds);
            let was = self.levels.get(rule).copied().flatten();
            if let Some((level, threshold)) = now
                && was.is_none_or(|w| level > w)
            {
                a.raise(
                    level,
                    &self.name,
                    &status.serving,
                    rule,
                    Some(value),
                    Some(threshold),
                    bar_time.clone(),
                    &format!(
                        "{what} {:.2}% reached the {level} threshold {:.2}%",
                        value * 100.0,
                        threshold * 100.0
                    ),
                );
            }
            self.levels.insert(rule, now.map(|(l, _)| l));
        }
        if status.risk_state == "HALTED" && self.last.risk_state != "HALTED" {
            a.raise(
                alerts::Level::Critical,
                &self.name,
                &status.serving,
                "halted",
                None,
                None,
                bar_time,
                "trading HALTED by the risk engine (positions flattened)",
            );
        }
    }
}

impl ServiceController {
    /// What the account did after this deployment's bar: logged, and its
    /// loss limit alerted (each member's move is audited when applied).
    fn account_event(&self, a: &account::Account, status: &Status, event: account::Event) {
        match event {
            account::Event::Rebalanced(note) => {
                tracing::info!(account = %a.name, %note, "rebalance");
            }
            account::Event::Skipped(why) => {
                tracing::warn!(account = %a.name, %why, "rebalance skipped");
                let _ = self.registry.note(
                    &self.name,
                    &format!("account:{}", a.name),
                    "rebalance-skipped",
                    &why,
                );
            }
            account::Event::LossLimit { loss, message } => {
                tracing::warn!(account = %a.name, %message, "account loss limit");
                if let Some(al) = &self.alerter {
                    al.raise(
                        alerts::Level::Critical,
                        &format!("account:{}", a.name),
                        &status.serving,
                        "account-daily-loss",
                        Some(loss),
                        Some(a.config.daily_loss_limit),
                        Some(crate::data::market::format_time(status.last_bar_ms)),
                        &message,
                    );
                }
            }
        }
    }

    fn save_snapshot(&mut self, seq: u64, version: &str, state: Vec<u8>) {
        if let Some(j) = &self.journal {
            let s = Snapshot {
                seq,
                version: version.into(),
                state,
            };
            if let Err(e) = j.lock().expect("journal lock").save_snapshot(&s) {
                tracing::error!(deployment = %self.name, %e, "saving a snapshot");
            }
        }
    }

    /// A journaled swap (with the promoted shadow's state, if any) as an
    /// engine command; a version that will not load is the deployment's trouble.
    fn swap_to(
        &self,
        to: String,
        state: Option<Vec<u8>>,
        actor: String,
        reason: String,
    ) -> Option<Command<'static>> {
        match (self.load)(&to, state.as_deref()) {
            Ok(driver) => Some(Command::Swap {
                driver: Box::new(metrics::Timed {
                    inner: driver,
                    histogram: self.metrics.plugin_call_seconds.clone(),
                }),
                label: to,
                actor,
                reason,
                handover: state,
            }),
            Err(e) => {
                *self.trouble.lock().expect("trouble") =
                    Some(format!("recovery could not load {to}: {e:#}"));
                None
            }
        }
    }

    /// The journaled command as an engine command (loading a version for a swap).
    fn rebuild(
        &self,
        action: CommandAction,
        actor: String,
        reason: String,
    ) -> Option<Command<'static>> {
        if let (Some(a), CommandAction::Allocate { amount, .. }) = (&self.account, &action) {
            a.replayed_move(&self.name, *amount);
        }
        Some(match action {
            CommandAction::Swap { to } => self.swap_to(to, None, actor, reason)?,
            CommandAction::Promote { to, state } => self.swap_to(to, Some(state), actor, reason)?,
            CommandAction::Rollback => Command::Rollback { actor, reason },
            CommandAction::Pause => Command::Pause { actor, reason },
            CommandAction::Resume => Command::Resume { actor, reason },
            CommandAction::Flatten => Command::Flatten { actor, reason },
            CommandAction::Allocate { amount, as_of_ms } => Command::Allocate {
                amount,
                as_of_ms,
                actor,
                reason,
            },
            CommandAction::Reduce => Command::Reduce { actor, reason },
        })
    }
}

impl<'a> Controller<'a> for ServiceController {
    fn poll(&mut self, status: &Status) -> Vec<Command<'a>> {
        let live = status.seq >= self.recovered;
        self.bar_started = Some(Instant::now());
        if let Some(reply) = &self.snapshot_reply
            && let Ok(r) = reply.try_recv()
        {
            self.snapshot_reply = None;
            match r {
                Ok(state) => {
                    let (seq, version) = (self.last.seq, status.serving.clone());
                    self.save_snapshot(seq, &version, state);
                }
                Err(e) => tracing::warn!(deployment = %self.name, %e, "snapshot refused"),
            }
        }
        if live {
            // The registry learns of a version change once the engine made it.
            if let Some((version, actor, reason)) = self.pending.take() {
                if status.serving == version {
                    let _ = self
                        .registry
                        .record_version(&self.name, &version, &actor, &reason);
                } else {
                    let why = format!(
                        "{version} was not put in service (see the journal's swap-refused entry)"
                    );
                    let _ = self.registry.note(&self.name, &actor, "swap-refused", &why);
                }
            } else if status.serving != self.last.serving
                && !self.last.serving.is_empty()
                && self.last.seq >= self.recovered
            {
                let _ = self.registry.record_version(
                    &self.name,
                    &status.serving,
                    "engine",
                    "automatic rollback",
                );
                if let Some(a) = &self.alerter {
                    a.raise(
                        alerts::Level::Critical,
                        &self.name,
                        &status.serving,
                        "rollback",
                        None,
                        None,
                        Some(crate::data::market::format_time(status.last_bar_ms)),
                        &format!(
                            "rolled back from {} to {}",
                            self.last.serving, status.serving
                        ),
                    );
                }
            }
            if let Some(why) = &status.paused
                && self.last.paused.is_none()
                && why.ends_with("(engine)")
            {
                let _ = self.registry.transition(
                    &self.name,
                    Move::Pause,
                    Some(why.clone()),
                    false,
                    &GateConfig::default(),
                    "engine",
                );
            }
        }
        self.last = status.clone();
        *self.status.lock().expect("status lock") = status.clone();
        let mut out = Vec::new();
        while self
            .replay
            .front()
            .is_some_and(|(seq, ..)| *seq <= status.seq)
        {
            let (_, action, actor, reason) = self.replay.pop_front().expect("front");
            if let Some(c) = self.rebuild(action, actor, reason) {
                out.push(c);
            }
        }
        if !live {
            return out;
        }
        if self.snapshot_reply.is_none() && self.last_snapshot.elapsed() >= self.snapshot_every {
            let (tx, rx) = channel();
            out.push(Command::Snapshot(tx));
            self.snapshot_reply = Some(rx);
            self.last_snapshot = Instant::now();
        }
        if let Some(a) = &self.account {
            for c in a.commands(&self.name) {
                match &c {
                    Command::Allocate {
                        amount,
                        actor,
                        reason,
                        ..
                    } => {
                        let _ = self.registry.note(
                            &self.name,
                            actor,
                            "allocate",
                            &format!("{amount:+.2}: {reason}"),
                        );
                    }
                    Command::Reduce { actor, reason } => {
                        let _ = self.registry.note(&self.name, actor, "reduce", reason);
                    }
                    _ => {}
                }
                out.push(c);
            }
        }
        while let Ok(command) = self.rx.try_recv() {
            // Remember what a version change should lead to, to audit it next time.
            match &command {
                Command::Swap {
                    label,
                    actor,
                    reason,
                    ..
                } => {
                    self.pending = Some((label.clone(), actor.clone(), reason.clone()));
                }
                Command::Rollback { actor, reason } => {
                    if let Some(previous) = &status.standby {
                        self.pending = Some((
                            previous.clone(),
                            actor.clone(),
                            format!("rollback: {reason}"),
                        ));
                    }
                }
                _ => {}
            }
            out.push(command);
        }
        out
    }

    fn after_bar(&mut self, status: &Status) {
        let day = status.last_bar_ms.div_euclid(86_400_000);
        if day != self.day.0 {
            // The equity the day started from: the last one before its first bar.
            let before = self.status.lock().expect("status lock").equity;
            self.day = (
                day,
                if self.day.0 == i64::MIN {
                    status.equity
                } else {
                    before
                },
            );
        }
        if status.seq > self.recovered {
            if let Some(t) = self.bar_started.take() {
                self.metrics.bar_seconds.observe(t.elapsed().as_secs_f64());
            }
            self.metrics.status(status, self.day.1);
            self.alert_on(status);
        }
        if let Some(a) = self.account.clone() {
            let live = status.seq > self.recovered;
            for event in a.after_bar(&self.name, status.last_bar_ms, status.equity, live) {
                self.account_event(&a, status, event);
            }
        }
        if let Some(b) = &self.board {
            b.lock().expect("board lock").bar(status, self.day.1);
        }
        *self.status.lock().expect("status lock") = status.clone();
    }

    fn finished(&mut self, status: &Status, serving: &mut dyn StrategyDriver) -> bool {
        if status.seq >= self.recovered && status.seq > 0 {
            match serving.snapshot() {
                Ok(state) => self.save_snapshot(status.seq, &status.serving, state),
                Err(e) => tracing::warn!(deployment = %self.name, %e, "last snapshot refused"),
            }
        }
        self.flatten_on_shutdown && !status.positions.is_empty()
    }
}

/// The journaled bars first (re-executed), then the live feed; bars a
/// worker's turn had no time for come first next time.
struct RecoveryFeed<F> {
    journaled: Vec<Bar>,
    pos: usize,
    live: F,
    returned: std::collections::VecDeque<Bar>,
}

impl runner::PollFeed for RecoveryFeed<LiveFeed> {
    fn poll(&mut self, out: &mut Vec<Bar>, max: usize) -> usize {
        if !self.returned.is_empty() {
            let n = max.min(self.returned.len());
            out.extend(self.returned.drain(..n));
            return n;
        }
        if self.pos < self.journaled.len() {
            let end = (self.pos + max).min(self.journaled.len());
            out.extend_from_slice(&self.journaled[self.pos..end]);
            let n = end - self.pos;
            self.pos = end;
            return n;
        }
        self.live.poll(out, max)
    }

    fn unpoll(&mut self, bars: &[Bar]) {
        let mut back: std::collections::VecDeque<Bar> = bars.iter().copied().collect();
        back.extend(self.returned.drain(..));
        self.returned = back;
    }
}

struct Run {
    tx: Sender<Command<'static>>,
    status: Arc<Mutex<Status>>,
    ended: Arc<Mutex<Option<String>>>,
    trouble: Arc<Mutex<Option<String>>>,
    intents: Intents,
    journal: PathBuf,
    shadow: Option<ShadowRun>,
    capital: f64,
    symbols: Vec<String>,
    spec: FeedSpec,
    recovered: u64,
    stale: Arc<AtomicBool>,
    slot: Arc<runner::Slot>,
    /// The open journal, while this service holds it.
    journal_handle: Option<SharedJournal>,
    board: Board,
    /// A LIVE deployment's venue: its name and courier.
    venue: Option<VenueHandle>,
}

/// What status shows of a live venue.
#[derive(Clone)]
struct VenueHandle {
    name: String,
    kill: crate::execution::live::KillHandle,
    waker: crate::execution::live::Waker,
    counts: Arc<Mutex<crate::execution::live::CourierCounts>>,
    problems: crate::execution::live::Problems,
    /// The run's kill switch (flattens between bars).
    switch: crate::engine::KillSwitch,
    /// Its client order ids.
    naming: crate::execution::live::Naming,
    /// Set once reconciliation compared the venue clean (new bars wait).
    cleared: Option<Arc<AtomicBool>>,
}

struct ShadowRun {
    label: String,
    from_seq: u64,
    tx: Sender<Command<'static>>,
    status: Arc<Mutex<Status>>,
    ended: Arc<Mutex<Option<String>>>,
    intents: Intents,
    stop: Arc<AtomicBool>,
    slot: Arc<runner::Slot>,
}

/// The audit trail and the journal must say why: a blank reason is refused.
fn require_reason(what: &str, reason: &str) -> anyhow::Result<()> {
    if reason.trim().is_empty() {
        bail!("{what} needs a reason");
    }
    Ok(())
}

/// The deployment's parameters that the new version also declares.
fn carried_params(params: &[String], record: &crate::store::registry::PluginRecord) -> Vec<String> {
    let declared = record.description();
    params
        .iter()
        .filter(|p| {
            p.split_once('=')
                .is_some_and(|(k, _)| declared.params.iter().any(|s| s.name == k))
        })
        .cloned()
        .collect()
}

/// What a deployment's run is fixed to when its journal starts: a restart
/// takes it from the journal, not from today's configuration, so that
/// re-execution is exact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Fixed {
    run: RunConfig,
    pause_drawdown: f64,
    feed: FeedSpec,
    symbols: Vec<String>,
    /// A LIVE run's venue (a `[venues]` name).
    #[serde(default)]
    venue: Option<String>,
    /// A LIVE run's id: the prefix of its client order ids.
    #[serde(default)]
    run_id: Option<String>,
    /// A LIVE run's ramp-up: (days from its first bar, fraction of capital).
    #[serde(default)]
    ramp_up: Option<Vec<(f64, f64)>>,
    /// The account whose capital it trades.
    #[serde(default)]
    account: Option<String>,
}

/// The running service.
pub struct Service {
    pool: runner::Pool,
    alerter: Option<Arc<alerts::Alerter>>,
    metrics: Arc<metrics::Metrics>,
    registry: Arc<Registry>,
    runtime: Arc<Runtime>,
    config: ServiceConfig,
    hubs: BTreeMap<String, Arc<Hub>>,
    runs: Mutex<HashMap<String, Run>>,
    /// Deployments being started (a second `start` is refused meanwhile).
    starting: Mutex<HashSet<String>>,
    /// Each live venue's order pace, shared by its deployments.
    venue_paces: Mutex<HashMap<String, Arc<crate::execution::live::Pace>>>,
    /// Shared accounts, by name.
    accounts: BTreeMap<String, Arc<account::Account>>,
}

/// Removes a name from `starting` however a start ends.
struct Starting<'a>(&'a Mutex<HashSet<String>>, String);

impl Drop for Starting<'_> {
    fn drop(&mut self) {
        self.0.lock().expect("starting lock").remove(&self.1);
    }
}

impl Service {
    /// A service over a registry; feed connections run on `rt`.
    pub fn new(
        registry: Registry,
        runtime: Runtime,
        config: ServiceConfig,
        rt: &tokio::runtime::Handle,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.journals)
            .with_context(|| format!("creating journal directory {}", config.journals.display()))?;
        let mut hubs = BTreeMap::new();
        for (name, f) in &config.feeds {
            let hub = f.hub(name, rt)?;
            hubs.insert(name.clone(), Arc::new(hub));
        }
        for d in &config.deployments {
            registry
                .deployment(&d.name)
                .with_context(|| format!("deployment `{}` in the configuration", d.name))?;
        }
        let mut accounts = BTreeMap::new();
        for (name, a) in &config.accounts {
            let members: Vec<String> = config
                .deployments
                .iter()
                .filter(|d| d.account.as_deref() == Some(name))
                .map(|d| d.name.clone())
                .collect();
            let path = config.journals.join(format!("account-{name}.redb"));
            let account = account::Account::open(name, a.clone(), &members, &path)?;
            accounts.insert(name.clone(), Arc::new(account));
        }
        let alerter = match &config.alerts {
            Some(a) => Some(alerts::Alerter::start(&config.journals, a.clone())?),
            None => None,
        };
        Ok(Self {
            alerter,
            pool: runner::Pool::new(config.workers),
            metrics: Arc::new(metrics::Metrics::new()),
            registry: Arc::new(registry),
            runtime: Arc::new(runtime),
            config,
            hubs,
            runs: Mutex::new(HashMap::new()),
            starting: Mutex::new(HashSet::new()),
            venue_paces: Mutex::default(),
            accounts,
        })
    }

    /// The registry it serves.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Feeds and their connections.
    pub fn feeds(&self) -> BTreeMap<String, FeedStatus> {
        self.hubs
            .iter()
            .map(|(k, h)| (k.clone(), h.status()))
            .collect()
    }

    /// The account a configured deployment trades the capital of.
    fn account_of(&self, name: &str) -> Option<Arc<account::Account>> {
        let c = self.config.deployments.iter().find(|c| c.name == name)?;
        self.accounts.get(c.account.as_deref()?).cloned()
    }

    fn run_config(d: &Deployment) -> anyhow::Result<RunConfig> {
        let mut set: Vec<String> = d.risk.iter().map(|r| format!("risk.{r}")).collect();
        set.push(format!("initial_cash={}", d.capital));
        RunConfig::load(None, &set)
    }

    fn prepare(
        &self,
        label: &str,
        params: &[String],
        config: &RunConfig,
        symbols: &[String],
    ) -> anyhow::Result<(Instance, String, String)> {
        prepare_on(
            &self.registry,
            &self.runtime,
            label,
            params,
            config,
            symbols,
        )
    }

    /// Start every deployment the configuration lists.
    pub fn start_configured(&self) -> anyhow::Result<()> {
        for d in self.config.deployments.clone() {
            let spec = FeedSpec {
                feed: d.feed.clone(),
                symbols: d.symbols.clone(),
                interval: d.interval.clone(),
                start: d.start.clone(),
            };
            self.start(&d.name, Some(spec), "service")
                .with_context(|| format!("starting deployment `{}`", d.name))?;
        }
        Ok(())
    }

    /// Start (or, if it has a journal, recover and continue) a PAPER
    /// deployment on a configured feed. `spec = None` uses the
    /// configuration's entry for the deployment.
    pub fn start(
        &self,
        name: &str,
        spec: Option<FeedSpec>,
        actor: &str,
    ) -> anyhow::Result<DeploymentStatus> {
        {
            let runs = self.runs.lock().expect("runs lock");
            let mut starting = self.starting.lock().expect("starting lock");
            if starting.contains(name)
                || runs
                    .get(name)
                    .is_some_and(|r| r.ended.lock().expect("ended").is_none())
            {
                bail!("deployment `{name}` is already running");
            }
            starting.insert(name.to_string());
        }
        // A run that ended releases its journal before it is opened again.
        self.runs.lock().expect("runs lock").remove(name);
        let _guard = Starting(&self.starting, name.to_string());
        let d = self.registry.deployment(name)?;
        let live = match d.stage {
            Stage::Paper => false,
            Stage::Paused if d.paused_from == Some(Stage::Paper) => false,
            Stage::Live => true,
            Stage::Paused if d.paused_from == Some(Stage::Live) => true,
            other => bail!(
                "deployment `{name}` is {other}; only PAPER and LIVE deployments run (promote it first)"
            ),
        };
        // Where real orders go is the configuration file's decision alone.
        let venue_name = if live {
            let v = self
                .config
                .deployments
                .iter()
                .find(|c| c.name == name)
                .and_then(|c| c.venue.clone())
                .with_context(|| {
                    format!(
                        "deployment `{name}` is LIVE and names no venue: give it `venue = \"…\"` in the configuration's [[deployments]] (a [venues] name)"
                    )
                })?;
            if let Some(why) = live::standing_mismatch(&self.registry, name)? {
                bail!(
                    "deployment `{name}` is HALTED by reconciliation: {why}; resolve it with `sandbar deploy reconcile {name} --adopt|--flatten --reason …`"
                );
            }
            Some(v)
        } else {
            None
        };
        let spec = match spec {
            Some(s) => s,
            None => {
                let c = self
                    .config
                    .deployments
                    .iter()
                    .find(|c| c.name == name)
                    .with_context(|| {
                        format!(
                            "deployment `{name}` is not in the configuration; name a feed, symbols and interval to start it"
                        )
                    })?;
                FeedSpec {
                    feed: c.feed.clone(),
                    symbols: c.symbols.clone(),
                    interval: c.interval.clone(),
                    start: c.start.clone(),
                }
            }
        };
        let hub = self.hubs.get(&spec.feed).cloned().with_context(|| {
            format!(
                "no feed named `{}` (configured: {})",
                spec.feed,
                self.hubs.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        let step = interval_ms(&spec.interval)?;
        let symbols: Vec<String> = if spec.symbols.is_empty() {
            d.symbols.iter().map(|s| s.to_uppercase()).collect()
        } else {
            spec.symbols.iter().map(|s| s.to_uppercase()).collect()
        };
        if symbols.is_empty() {
            bail!(
                "deployment `{name}` has no symbols: name them in the configuration or the request"
            );
        }
        let start_ms = DeploymentConfig {
            name: name.into(),
            feed: spec.feed.clone(),
            symbols: vec![],
            interval: spec.interval.clone(),
            start: spec.start.clone(),
            venue: None,
            account: None,
        }
        .start_ms()?;
        let account = self.account_of(name);
        let mut run = Self::run_config(&d)?;
        if let Some(a) = &account {
            // Its capital is the account's share; the account's gross cap
            // bounds its own (as multiples of equity, so the sum is bounded).
            run.initial_cash = a.initial(name);
            run.risk.max_gross_exposure =
                run.risk.max_gross_exposure.min(a.config.max_gross_exposure);
        }
        let fixed_now = Fixed {
            run,
            pause_drawdown: self.config.pause_drawdown,
            feed: spec.clone(),
            symbols: symbols.clone(),
            venue: venue_name.clone(),
            run_id: live.then(live::new_run_id).transpose()?,
            ramp_up: live.then(|| self.config.ramp_up.clone()),
            account: account.as_ref().map(|a| a.name.clone()),
        };
        // A LIVE run has its own journal: the paper run's stays its evidence.
        let path = self.config.journals.join(if live {
            format!("{name}-live.redb")
        } else {
            format!("{name}.redb")
        });
        // The run's first version: a new run starts with the deployment's;
        // a recovered one with what its journal started with.
        let existing = if path.exists() {
            let r = crate::store::journal::JournalReader::open(&path)?;
            Some(r.meta()?)
        } else {
            None
        };
        let (fixed, first_label, params) = match &existing {
            Some(meta) => {
                let fixed: Fixed = toml::from_str(&meta.service).with_context(|| {
                    format!(
                        "journal {} was not written by a service deployment",
                        path.display()
                    )
                })?;
                if fixed.feed.feed != fixed_now.feed.feed
                    || fixed.symbols != fixed_now.symbols
                    || fixed.feed.interval != fixed_now.feed.interval
                {
                    bail!(
                        "deployment `{name}`'s journal was written for feed `{}` {} {} and is asked to run on `{}` {} {}; a journal keeps its inputs — create a new deployment to trade something else",
                        fixed.feed.feed,
                        fixed.symbols.join(","),
                        fixed.feed.interval,
                        fixed_now.feed.feed,
                        fixed_now.symbols.join(","),
                        fixed_now.feed.interval
                    );
                }
                if fixed.account != fixed_now.account {
                    bail!(
                        "deployment `{name}`'s journal was written for account {:?} and is asked to trade {:?}'s capital; a journal keeps its capital — create a new deployment to change accounts",
                        fixed.account,
                        fixed_now.account
                    );
                }
                if fixed.venue != fixed_now.venue {
                    bail!(
                        "deployment `{name}`'s journal was written for venue {:?} and is asked to trade on {:?}; a journal keeps its venue — create a new deployment to trade elsewhere",
                        fixed.venue,
                        fixed_now.venue
                    );
                }
                (
                    fixed,
                    format!("{}@{}", meta.plugin_name, meta.plugin_version),
                    meta.params.clone(),
                )
            }
            None => (fixed_now, d.plugin.clone(), d.params.clone()),
        };
        let config = fixed.run.clone();
        let (instance, label, sha) =
            self.prepare(&first_label, &params, &config, &fixed.symbols)?;
        let desc = instance.description().clone();
        let meta = RunMeta {
            format: if live {
                crate::store::journal::FORMAT
            } else {
                crate::store::journal::FORMAT_SIMULATED
            },
            sandbar_version: env!("CARGO_PKG_VERSION").into(),
            contract: instance.contract().into(),
            plugin_name: desc.name.clone(),
            plugin_version: desc.version.clone(),
            sdk_version: desc.sdk_version.clone(),
            plugin_sha256: sha,
            params: params.clone(),
            risk: toml::to_string(&config.risk).unwrap_or_default(),
            execution: toml::to_string(&config.execution).unwrap_or_default(),
            sandbox: toml::to_string(&config.sandbox).unwrap_or_default(),
            data: vec![],
            symbols: fixed.symbols.clone(),
            initial_cash: config.initial_cash,
            seed: config.seed,
            delivery: "per-bar".into(),
            swaps: vec![],
            service: toml::to_string(&fixed).context("describing the run")?,
        };
        let (journal, resumed) = Journal::resume(&path, &meta)?;
        let venue = match (&fixed.venue, &fixed.run_id) {
            (Some(v), Some(run_id)) => Some(self.connect_live(name, v, run_id, &fixed, &resumed)?),
            _ => None,
        };
        // Where the feed takes over: after the last journaled bar of each
        // symbol, else before the configured start, else the next live bar.
        let mut after: Vec<Option<i64>> = vec![start_ms.map(|s| s - step); fixed.symbols.len()];
        for b in &resumed.bars {
            after[b.symbol as usize] = Some(b.time_ms);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let slot = self.pool.slot(stop.clone());
        if let Some((_, h)) = &venue {
            let wake = slot.waker();
            *h.waker.lock().expect("waker lock") = Some(Arc::new(move || wake()));
        }
        let notes: Notes = Arc::default();
        let live = hub.subscribe_waking(
            &fixed.symbols,
            &fixed.feed.interval,
            after,
            stop.clone(),
            notes.clone(),
            Some(slot.waker()),
        )?;
        let stale = live.stale_flag();
        let mut live = live;
        if let Some(a) = self.alerter.clone() {
            let (name, version, feed) = (
                name.to_string(),
                first_label.clone(),
                fixed.feed.feed.clone(),
            );
            live.on_stale(move |quiet_ms| {
                a.raise(
                    alerts::Level::Critical,
                    &name,
                    &version,
                    "feed-stale",
                    Some(quiet_ms as f64 / 1000.0),
                    None,
                    None,
                    &format!(
                        "feed `{feed}` STALE: no closed bar for {:.0} s",
                        quiet_ms as f64 / 1000.0
                    ),
                );
            });
        }
        let recovered = resumed.bars.len() as u64;
        let replay = resumed
            .commands
            .iter()
            .filter_map(|e| match e {
                Entry::Command {
                    seq,
                    action,
                    actor,
                    reason,
                } => Some((*seq, action.clone(), actor.clone(), reason.clone())),
                _ => None,
            })
            .collect();
        if let Some(a) = &account {
            // What of the account's decisions its journal holds: moves by
            // rebalance, limits by the day of the bar they followed.
            let (mut rebalanced, mut reduced) = (Vec::new(), Vec::new());
            for e in &resumed.commands {
                match e {
                    Entry::Command {
                        action: CommandAction::Allocate { as_of_ms, .. },
                        ..
                    } => rebalanced.push(*as_of_ms),
                    Entry::Command {
                        seq,
                        action: CommandAction::Reduce,
                        ..
                    } => {
                        if let Some(bar) = seq
                            .checked_sub(1)
                            .and_then(|s| resumed.bars.get(s as usize))
                        {
                            reduced.push(bar.time_ms.div_euclid(86_400_000));
                        }
                    }
                    _ => {}
                }
            }
            a.join(name, &rebalanced, &reduced);
        }
        let feed = RecoveryFeed {
            journaled: resumed.bars,
            pos: 0,
            live,
            returned: Default::default(),
        };
        let journal: SharedJournal = Arc::new(Mutex::new(journal));
        let venue_state = venue.as_ref().map(|(_, v)| v.clone());
        let kill_switch = venue.as_ref().map(|(_, v)| {
            let kills = resumed
                .commands
                .iter()
                .filter_map(|e| match e {
                    Entry::Kill {
                        seq,
                        notes,
                        actor,
                        reason,
                    } => Some((*seq, *notes, actor.clone(), reason.clone())),
                    _ => None,
                })
                .collect();
            (v.switch.clone(), kills)
        });
        let launch = Launch {
            venue: venue.map(|(v, _)| v),
            ramp_up: fixed.ramp_up.clone().filter(|_| fixed.venue.is_some()),
            name: name.into(),
            instance,
            label,
            config,
            pause_drawdown: Some(fixed.pause_drawdown),
            evidence: true,
            journal: journal.clone(),
            notes,
            replay,
            recovered,
            params,
            account,
            kill_switch,
        };
        let (tx, status, ended, intents, trouble, board) =
            self.launch(launch, feed, fixed.symbols.clone(), &slot)?;
        self.registry.note(
            name,
            actor,
            "start",
            &format!(
                "feed {} {} {}{}",
                fixed.feed.feed,
                fixed.symbols.join(","),
                fixed.feed.interval,
                if recovered > 0 {
                    format!(", recovering {recovered} journaled bars")
                } else {
                    String::new()
                }
            ),
        )?;
        self.runs.lock().expect("runs lock").insert(
            name.into(),
            Run {
                tx,
                status,
                ended,
                trouble,
                intents,
                journal: path,
                shadow: None,
                capital: fixed.run.initial_cash,
                symbols: fixed.symbols.clone(),
                spec: fixed.feed,
                recovered,
                stale,
                slot,
                journal_handle: Some(journal),
                board,
                venue: venue_state,
            },
        );
        self.status(name)
    }

    #[allow(clippy::type_complexity)]
    fn launch<F: runner::PollFeed + 'static>(
        &self,
        mut l: Launch,
        feed: F,
        symbols: Vec<String>,
        slot: &Arc<runner::Slot>,
    ) -> anyhow::Result<(
        Sender<Command<'static>>,
        Arc<Mutex<Status>>,
        Arc<Mutex<Option<String>>>,
        Intents,
        Arc<Mutex<Option<String>>>,
        Board,
    )> {
        let (tx, rx) = channel();
        let board: Board = Arc::new(Mutex::new(dashboard::Board::new(symbols.clone())));
        let status = Arc::new(Mutex::new(Status {
            serving: l.label.clone(),
            last_bar_ms: i64::MIN,
            ..Status::default()
        }));
        let ended = Arc::new(Mutex::new(None));
        let trouble = Arc::new(Mutex::new(None));
        let intents: Intents = Arc::default();
        let (registry, runtime) = (self.registry.clone(), self.runtime.clone());
        let (run_config, load_symbols, params) =
            (l.config.clone(), symbols.clone(), l.params.clone());
        let load: Loader = Arc::new(move |label: &str, state: Option<&[u8]>| {
            let record = registry.plugin(label)?;
            let (mut instance, _, _) = prepare_on(
                &registry,
                &runtime,
                &record.label(),
                &carried_params(&params, &record),
                &run_config,
                &load_symbols,
            )?;
            if let Some(state) = state {
                let version = record.version.clone();
                instance
                    .restore(&version, state)
                    .map_err(|e| anyhow::anyhow!("{label} refused its state: {e}"))?;
            }
            Ok(instance)
        });
        let dm = self.metrics.deployment(&metrics::labels(&l.name));
        let controller = ServiceController {
            rx,
            status: status.clone(),
            name: l.name.clone(),
            registry: self.registry.clone(),
            last: Status::default(),
            pending: None,
            replay: std::mem::take(&mut l.replay),
            recovered: l.recovered,
            load,
            journal: l.evidence.then(|| l.journal.clone()),
            snapshot_every: self.config.snapshot_every,
            last_snapshot: Instant::now(),
            snapshot_reply: None,
            flatten_on_shutdown: self.config.flatten_on_shutdown && l.evidence,
            trouble: trouble.clone(),
            metrics: dm.clone(),
            bar_started: None,
            day: (i64::MIN, 0.0),
            alerter: self.alerter.clone().filter(|_| l.evidence),
            levels: HashMap::new(),
            daily_closes: Vec::new(),
            backtest_sharpe: self
                .registry
                .deployment(&l.name)
                .ok()
                .and_then(|d| d.backtest)
                .map(|b| b.sharpe),
            board: l.evidence.then(|| board.clone()),
            account: l.account.clone().filter(|_| l.evidence),
        };
        let (ended2, intents2, registry, name) = (
            ended.clone(),
            intents.clone(),
            self.registry.clone(),
            l.name.clone(),
        );
        let label_for_alerts = l.label.clone();
        let Launch {
            instance,
            label,
            config,
            pause_drawdown,
            evidence,
            journal,
            notes,
            venue,
            ramp_up,
            kill_switch,
            ..
        } = l;
        let venue: Box<dyn crate::execution::Venue + Send> =
            venue.unwrap_or_else(|| Box::new(SimulatedVenue::new(config.execution)));
        let cfg = EngineConfig {
            initial_cash: config.initial_cash,
            risk: config.risk,
            batch_size: 1,
            delivery: crate::sandbox::runtime::Delivery::PerBar,
            plugin_label: label,
            rollback_window: config.swap.rollback_window,
            rollback_drawdown: config.swap.rollback_drawdown,
            pause_drawdown,
            final_entry: false,
            warmup: 0,
        };
        let labels = metrics::labels(&name);
        let recorder = ServiceRecorder {
            journal: journal.clone(),
            notes: notes.clone(),
            intents: intents2,
            metrics: dm.clone(),
            recovered: l.recovered,
            name: name.clone(),
            alerter: self.alerter.clone().filter(|_| evidence),
            board: evidence.then(|| board.clone()),
            symbols: symbols.clone(),
            clock: FillClock::default(),
        };
        let timed = metrics::Timed {
            inner: instance,
            histogram: dm.plugin_call_seconds.clone(),
        };
        let m = self.metrics.clone();
        let alerter = self.alerter.clone().filter(|_| evidence);
        let first_label = label_for_alerts.clone();
        let member = l.account.clone().filter(|_| evidence);
        let mut engine = Engine::owning(cfg, symbols, Box::new(timed), venue, Box::new(recorder));
        engine.set_controller(Box::new(controller));
        if let Some(r) = ramp_up {
            engine.set_ramp_up(crate::portfolio::allocation::RampUp(r));
        }
        if let Some((switch, kills)) = kill_switch {
            engine.set_kill_switch(switch, kills);
        }
        let on_end = move |result: crate::engine::RunResult| {
            let summary = match &result {
                Ok(o) => match &o.fault {
                    Some(f) => {
                        m.fault(&labels, f.fault.kind());
                        let why = format!("faulted at bar {}: {}", f.seq, f.fault);
                        if let Some(a) = &alerter {
                            a.raise(
                                alerts::Level::Critical,
                                &name,
                                &first_label,
                                "fault",
                                None,
                                None,
                                Some(crate::data::market::format_time(f.bar.time_ms)),
                                &why,
                            );
                        }
                        if evidence {
                            let _ = registry.transition(
                                &name,
                                Move::Pause,
                                Some(why.clone()),
                                false,
                                &GateConfig::default(),
                                "engine",
                            );
                        }
                        why
                    }
                    None => format!("stopped after {} bars", o.bars),
                },
                Err(e) => {
                    let why = format!("journal failed: {e}");
                    if let Some(a) = &alerter {
                        a.raise(
                            alerts::Level::Critical,
                            &name,
                            &first_label,
                            "journal",
                            None,
                            None,
                            None,
                            &why,
                        );
                    }
                    why
                }
            };
            if let (Ok(o), true) = (&result, evidence)
                && let Ok(d) = registry.deployment(&name)
                && (d.stage == Stage::Paper || d.paused_from == Some(Stage::Paper))
                && let Some(ev) = crate::store::lifecycle::PaperEvidence::of_run(d.plugin, o)
            {
                let _ = registry.record_paper(&name, ev, "engine");
            }
            {
                let mut j = journal.lock().expect("journal lock");
                let notes = std::mem::take(&mut *notes.lock().expect("notes"));
                for n in &notes {
                    j.note(n);
                }
                if let Err(e) = j.sync() {
                    tracing::error!(deployment = %name, %e, "final journal commit");
                }
            }
            if let Some(a) = &member {
                a.leave(&name);
            }
            *ended2.lock().expect("ended lock") = Some(summary);
        };
        slot.start(runner::Work {
            engine,
            feed: Box::new(feed),
            seq: 0,
            on_end: Box::new(on_end),
        });
        Ok((tx, status, ended, intents, trouble, board))
    }

    fn with_run<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut Run) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut runs = self.runs.lock().expect("runs lock");
        let run = runs
            .get_mut(name)
            .with_context(|| format!("deployment `{name}` is not running"))?;
        if let Some(why) = run.ended.lock().expect("ended lock").clone() {
            bail!("deployment `{name}` is not running: {why}");
        }
        f(run)
    }

    /// Replace the serving version at the next bar boundary. The version
    /// must be one of the deployment's own plugin.
    pub fn swap(&self, name: &str, plugin: &str, actor: &str, reason: &str) -> anyhow::Result<()> {
        require_reason("a swap", reason)?;
        let d = self.registry.deployment(name)?;
        let record = self.registry.plugin(plugin)?;
        let own = d.plugin.split('@').next().unwrap_or_default();
        if record.name != own {
            bail!(
                "deployment `{name}` runs plugin `{own}`; {} is another plugin (create a new deployment for it)",
                record.label()
            );
        }
        let symbols = self.with_run(name, |run| Ok(run.symbols.clone()))?;
        let run_config = Self::run_config(&d)?;
        let params = carried_params(&d.params, &record);
        let (instance, label, _) = self.prepare(&record.label(), &params, &run_config, &symbols)?;
        self.with_run(name, |run| {
            let req = Command::Swap {
                driver: Box::new(metrics::Timed {
                    inner: instance,
                    histogram: self
                        .metrics
                        .plugin_call_seconds
                        .get_or_create(&metrics::labels(name))
                        .clone(),
                }),
                label,
                actor: actor.into(),
                reason: reason.into(),
                handover: None,
            };
            run.tx.send(req).ok();
            Ok(())
        })
    }

    /// Go back by hand: to the version the last swap replaced, or `to`.
    pub fn rollback(
        &self,
        name: &str,
        to: Option<&str>,
        actor: &str,
        reason: &str,
    ) -> anyhow::Result<()> {
        require_reason("a rollback", reason)?;
        if let Some(to) = to {
            return self.swap(name, to, actor, &format!("rollback: {reason}"));
        }
        let standby = self.with_run(name, |run| {
            Ok(run.status.lock().expect("status").standby.is_some())
        })?;
        if !standby {
            // The swap was committed and the old instance released: load the
            // previous version afresh; it continues from the current state.
            let Some(previous) = self.registry.previous_version(name)? else {
                bail!(
                    "deployment `{name}` has no previous version to roll back to (name one with --to)"
                );
            };
            return self.swap(name, &previous, actor, &format!("rollback: {reason}"));
        }
        self.with_run(name, |run| {
            run.tx
                .send(Command::Rollback {
                    actor: actor.into(),
                    reason: reason.into(),
                })
                .ok();
            Ok(())
        })
    }

    /// PAPER/LIVE → PAUSED, or back.
    pub fn pause(
        &self,
        name: &str,
        resume: bool,
        actor: &str,
        reason: &str,
    ) -> anyhow::Result<Stage> {
        let mv = if resume { Move::Resume } else { Move::Pause };
        require_reason(if resume { "resume" } else { "pause" }, reason)?;
        let (stage, _) = self.registry.transition(
            name,
            mv,
            Some(reason.into()),
            false,
            &GateConfig::default(),
            actor,
        )?;
        let req = if resume {
            Command::Resume {
                actor: actor.into(),
                reason: reason.into(),
            }
        } else {
            Command::Pause {
                actor: actor.into(),
                reason: reason.into(),
            }
        };
        if self.is_running(name) {
            self.with_run(name, |run| {
                run.tx.send(req).ok();
                Ok(())
            })?;
        }
        Ok(stage)
    }

    /// Cancel every order, close every position and pause the strategy.
    pub fn flatten(&self, name: &str, actor: &str, reason: &str) -> anyhow::Result<()> {
        require_reason("flatten", reason)?;
        self.with_run(name, |run| {
            run.tx
                .send(Command::Flatten {
                    actor: actor.into(),
                    reason: reason.into(),
                })
                .ok();
            Ok(())
        })?;
        let _ = self.registry.transition(
            name,
            Move::Pause,
            Some(format!("flatten: {reason}")),
            false,
            &GateConfig::default(),
            actor,
        );
        Ok(())
    }

    /// The kill switch: every running deployment flattened (every open
    /// order cancelled, every position closed at its next bar) and paused,
    /// each journaled as an operator command, audited and alerted as
    /// CRITICAL. Returns the deployments it reached.
    pub fn kill(&self, actor: &str, reason: &str) -> anyhow::Result<Vec<String>> {
        require_reason("the kill switch", reason)?;
        let why = format!("kill switch: {reason}");
        let mut reached = Vec::new();
        for name in self.running() {
            if !self.is_running(&name) {
                continue;
            }
            // A LIVE run acts now, bar or no bar: its courier cancels every
            // order at the venue at once, and the engine, woken, journals
            // the kill, closes every position with market orders and
            // pauses. Other runs flatten at their next bar.
            let live = {
                let runs = self.runs.lock().expect("runs lock");
                runs.get(&name)
                    .and_then(|r| r.venue.clone().map(|v| (v, r.slot.waker())))
            };
            match live {
                Some((v, wake)) => {
                    v.kill.cancel_all();
                    v.switch.pull(actor, reason);
                    wake();
                    let _ = self.registry.transition(
                        &name,
                        Move::Pause,
                        Some(format!("flatten: {why}")),
                        false,
                        &GateConfig::default(),
                        actor,
                    );
                }
                None => self.flatten(&name, actor, &why)?,
            }
            let version = self.status(&name).map(|s| s.serving).unwrap_or_default();
            if let Some(a) = &self.alerter {
                a.raise(
                    alerts::Level::Critical,
                    &name,
                    &version,
                    "kill-switch",
                    None,
                    None,
                    None,
                    &format!("kill switch by {actor}: {reason}; flattening and pausing"),
                );
            }
            reached.push(name);
        }
        Ok(reached)
    }

    fn is_running(&self, name: &str) -> bool {
        self.runs
            .lock()
            .expect("runs lock")
            .get(name)
            .is_some_and(|r| r.ended.lock().expect("ended").is_none())
    }

    /// Run a candidate beside the serving version, from the next bar on,
    /// with its own ledger and journal; it never reaches a venue.
    pub fn start_shadow(&self, name: &str, plugin: &str, actor: &str) -> anyhow::Result<()> {
        let d = self.registry.deployment(name)?;
        let config = Self::run_config(&d)?;
        let record = self.registry.plugin(plugin)?;
        let (spec, symbols, from_seq, last_bar) = self.with_run(name, |run| {
            if run.shadow.is_some() {
                bail!("deployment `{name}` already has a shadow");
            }
            let s = run.status.lock().expect("status");
            Ok((run.spec.clone(), run.symbols.clone(), s.seq, s.last_bar_ms))
        })?;
        let params = carried_params(&d.params, &record);
        let (instance, label, _) = self.prepare(&record.label(), &params, &config, &symbols)?;
        let hub = self
            .hubs
            .get(&spec.feed)
            .cloned()
            .context("the deployment's feed")?;
        let stop = Arc::new(AtomicBool::new(false));
        let slot = self.pool.slot(stop.clone());
        // From the bar after the serving version's last one, like it.
        let after = vec![(last_bar != i64::MIN).then_some(last_bar); symbols.len()];
        let live = hub.subscribe_waking(
            &symbols,
            &spec.interval,
            after,
            stop.clone(),
            Arc::default(),
            Some(slot.waker()),
        )?;
        let path = self.config.journals.join(format!("{name}.shadow.redb"));
        let meta = RunMeta {
            format: crate::store::journal::FORMAT_SIMULATED,
            sandbar_version: env!("CARGO_PKG_VERSION").into(),
            contract: record.contract.clone(),
            plugin_name: record.name.clone(),
            plugin_version: record.version.clone(),
            sdk_version: String::new(),
            plugin_sha256: record.sha256.clone(),
            params: params.clone(),
            risk: toml::to_string(&config.risk).unwrap_or_default(),
            execution: toml::to_string(&config.execution).unwrap_or_default(),
            sandbox: toml::to_string(&config.sandbox).unwrap_or_default(),
            data: vec![],
            symbols: symbols.clone(),
            initial_cash: config.initial_cash,
            seed: config.seed,
            delivery: "per-bar".into(),
            swaps: vec![],
            service: String::new(),
        };
        // A shadow is a comparison, not a record of trading: each starts afresh.
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("removing the last shadow journal {}", path.display()))?;
        }
        let (journal, _) = Journal::resume(&path, &meta)?;
        let launch = Launch {
            venue: None,
            ramp_up: None,
            name: format!("{name}-shadow"),
            instance,
            label: label.clone(),
            config,
            pause_drawdown: None,
            evidence: false,
            journal: Arc::new(Mutex::new(journal)),
            notes: Arc::default(),
            replay: VecDeque::new(),
            recovered: 0,
            params,
            account: None,
            kill_switch: None,
        };
        // A shadow has no journal to re-execute: its feed is the live one.
        let feed = RecoveryFeed {
            journaled: Vec::new(),
            pos: 0,
            live,
            returned: Default::default(),
        };
        let (tx, status, ended, intents, _, _) =
            self.launch(launch, feed, symbols.clone(), &slot)?;
        self.with_run(name, |run| {
            run.shadow = Some(ShadowRun {
                label: label.clone(),
                from_seq,
                tx,
                status,
                ended,
                intents,
                stop,
                slot,
            });
            Ok(())
        })?;
        self.registry.note(name, actor, "shadow-start", &label)?;
        Ok(())
    }

    /// How the shadow candidate compares with the serving version so far.
    pub fn shadow_report(&self, name: &str) -> anyhow::Result<Divergence> {
        self.with_run(name, |run| {
            let sh = run
                .shadow
                .as_ref()
                .with_context(|| format!("deployment `{name}` has no shadow"))?;
            let serving = run.status.lock().expect("status").clone();
            let candidate = sh.status.lock().expect("status").clone();
            let serving_intents: Vec<Entry> = run
                .intents
                .lock()
                .expect("intents")
                .iter()
                .filter(|e| matches!(e, Entry::Intent { seq, .. } if *seq >= sh.from_seq))
                .cloned()
                .map(|mut e| {
                    // Count bars from the shadow's start, as the candidate does.
                    if let Entry::Intent { seq, .. } = &mut e {
                        *seq -= sh.from_seq;
                    }
                    e
                })
                .collect();
            let candidate_intents = sh.intents.lock().expect("intents").clone();
            let bars = serving.seq.saturating_sub(sh.from_seq).min(candidate.seq);
            let summary = |s: &Status, faulted: bool| Summary {
                bars,
                pnl: s.equity - run.capital,
                trades: s.trades,
                faulted,
            };
            let candidate_faulted = sh
                .ended
                .lock()
                .expect("ended")
                .as_deref()
                .is_some_and(|e| e.starts_with("faulted"));
            Ok(shadow::compare(
                (&serving.serving, &serving_intents, summary(&serving, false)),
                (
                    &sh.label,
                    &candidate_intents,
                    summary(&candidate, candidate_faulted),
                ),
            ))
        })
    }

    /// Put the shadow candidate in service with the state it built while
    /// shadowing, and stop the shadow.
    pub fn promote_shadow(&self, name: &str, actor: &str, reason: &str) -> anyhow::Result<String> {
        require_reason("promoting a shadow", reason)?;
        let (label, shadow_tx) = self.with_run(name, |run| {
            let sh = run
                .shadow
                .as_ref()
                .with_context(|| format!("deployment `{name}` has no shadow"))?;
            Ok((sh.label.clone(), sh.tx.clone()))
        })?;
        // The candidate's state, taken at its next bar boundary.
        let (reply, answer) = channel();
        shadow_tx.send(Command::Snapshot(reply)).ok();
        let state = answer
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| anyhow::anyhow!("the shadow of `{name}` did not answer for its state"))?
            .map_err(|e| {
                anyhow::anyhow!("the shadow of `{name}` could not snapshot its state: {e}")
            })?;
        let d = self.registry.deployment(name)?;
        let config = Self::run_config(&d)?;
        let symbols = self.with_run(name, |run| Ok(run.symbols.clone()))?;
        let record = self.registry.plugin(&label)?;
        let (mut instance, label, _) = self.prepare(
            &record.label(),
            &carried_params(&d.params, &record),
            &config,
            &symbols,
        )?;
        let version = record.version.clone();
        instance.restore(&version, &state).map_err(|e| {
            anyhow::anyhow!("{label} could not take back its own shadow state: {e}")
        })?;
        self.registry.note(name, actor, "shadow-stop", &label)?;
        self.with_run(name, |run| {
            if let Some(sh) = run.shadow.take() {
                sh.stop.store(true, Ordering::Relaxed);
                sh.slot.schedule();
            }
            let reason = format!("promote-shadow: {reason}");
            run.tx
                .send(Command::Swap {
                    driver: Box::new(metrics::Timed {
                        inner: instance,
                        histogram: self
                            .metrics
                            .plugin_call_seconds
                            .get_or_create(&metrics::labels(name))
                            .clone(),
                    }),
                    label: label.clone(),
                    actor: actor.into(),
                    reason,
                    handover: Some(state),
                })
                .ok();
            Ok(label.clone())
        })
    }

    /// Stop a running deployment: it finishes the bar in flight, snapshots
    /// its strategy and commits its journal. Returns once it has.
    pub fn stop(&self, name: &str, actor: &str) -> anyhow::Result<()> {
        let (shadow, slot) =
            self.with_run(name, |run| Ok((run.shadow.take(), run.slot.clone())))?;
        if let Some(sh) = &shadow {
            sh.slot.stop_and_wait(Duration::from_secs(30));
        }
        if !slot.stop_and_wait(Duration::from_secs(30)) {
            bail!("deployment `{name}` did not stop within 30 s");
        }
        // Release the file, so that a reader (or the next start) can open it.
        if let Some(run) = self.runs.lock().expect("runs lock").get_mut(name) {
            run.journal_handle = None;
        }
        if let Some(sh) = shadow {
            self.registry.note(name, actor, "shadow-stop", &sh.label)?;
        }
        self.registry.note(name, actor, "stop", "")?;
        Ok(())
    }

    /// Stop every deployment (shutdown), each finishing its bar in flight,
    /// snapshotting and committing its journal.
    pub fn shutdown(&self) {
        let slots: Vec<Arc<runner::Slot>> = {
            let runs = self.runs.lock().expect("runs lock");
            runs.values()
                .flat_map(|run| {
                    std::iter::once(run.slot.clone())
                        .chain(run.shadow.as_ref().map(|sh| sh.slot.clone()))
                })
                .collect()
        };
        for s in &slots {
            s.stop.store(true, Ordering::SeqCst);
            s.schedule();
        }
        for s in &slots {
            s.wait(Duration::from_secs(30));
        }
        for run in self.runs.lock().expect("runs lock").values_mut() {
            run.journal_handle = None;
        }
    }

    /// `/metrics`: the counters and gauges the deployments keep, with the
    /// feeds, stages and staleness read now.
    pub fn metrics_text(&self) -> String {
        let m = &self.metrics;
        for (name, hub) in &self.hubs {
            let l = vec![("feed".to_string(), name.clone())];
            m.feed_up
                .get_or_create(&l)
                .set(i64::from(hub.status().connection == "live"));
            if let Some(age) = hub.last_bar_age() {
                m.feed_last_bar_age.get_or_create(&l).set(age.as_secs_f64());
            }
        }
        if let Ok(ds) = self.registry.deployments() {
            for d in ds {
                let l = metrics::labels(&d.name);
                for stage in ["DRAFT", "TESTING", "PAPER", "LIVE", "PAUSED", "DEPRECATED"] {
                    m.stage
                        .get_or_create(&metrics::with(&l, "stage", stage))
                        .set(i64::from(d.stage.to_string() == stage));
                }
            }
        }
        for (name, run) in self.runs.lock().expect("runs lock").iter() {
            m.feed_stale
                .get_or_create(&metrics::labels(name))
                .set(i64::from(run.stale.load(Ordering::Relaxed)));
        }
        m.render()
    }

    /// Whether the journal directory takes writes (readiness).
    pub fn journals_writable(&self) -> anyhow::Result<()> {
        let probe = self.config.journals.join(".ready-probe");
        std::fs::write(&probe, b"ok")
            .and_then(|()| std::fs::remove_file(&probe))
            .with_context(|| format!("journal directory {}", self.config.journals.display()))
    }

    /// Every deployment in the registry, with its status where it runs.
    pub fn list(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        let mut out = Vec::new();
        for d in self.registry.deployments()? {
            let status = self.status(&d.name).ok();
            out.push(serde_json::json!({
                "name": d.name,
                "plugin": d.plugin,
                "stage": d.stage.to_string(),
                "capital": d.capital,
                "status": status,
                "deployment": d,
            }));
        }
        Ok(out)
    }

    /// A deployment as stored, with its audit trail.
    pub fn history(&self, name: &str) -> anyhow::Result<serde_json::Value> {
        let d = self.registry.deployment(name)?;
        let audit = self.registry.audit_trail(Some(name))?;
        Ok(serde_json::json!({"deployment": d, "audit": audit}))
    }

    /// Create a deployment in DRAFT (parameters checked against the
    /// version, risk overrides against the risk limits).
    pub fn create(&self, c: &CreateRequest, actor: &str) -> anyhow::Result<Deployment> {
        if c.name.trim().is_empty()
            || !c
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
        {
            bail!("name {:?}: use letters, digits, `-`, `_` and `.`", c.name);
        }
        if !(c.capital.is_finite() && c.capital > 0.0) {
            bail!("capital: must be positive");
        }
        let set: Vec<String> = c.risk.iter().map(|r| format!("risk.{r}")).collect();
        RunConfig::load(None, &set).context("risk")?;
        Ok(self.registry.create_deployment(
            &c.name,
            &c.plugin,
            &c.params,
            c.symbols.clone(),
            c.capital,
            c.risk.clone(),
            actor,
        )?)
    }

    /// Promote along the lifecycle (the gates of the registry apply; `force`
    /// needs a reason).
    pub fn promote(
        &self,
        name: &str,
        force: bool,
        actor: &str,
        reason: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let from = self.registry.deployment(name)?.stage;
        let (stage, readiness) = self.registry.transition(
            name,
            Move::Promote,
            (!reason.trim().is_empty()).then(|| reason.to_string()),
            force,
            &GateConfig::default(),
            actor,
        )?;
        if let Some(a) = &self.alerter {
            let version = self.status(name).map_or_else(
                |_| {
                    self.registry
                        .deployment(name)
                        .map(|d| d.plugin)
                        .unwrap_or_default()
                },
                |s| s.serving,
            );
            let why = if reason.trim().is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            };
            let forced = if force { " (gates overridden)" } else { "" };
            a.raise(
                alerts::Level::Info,
                name,
                &version,
                "promotion",
                None,
                None,
                None,
                &format!("promoted from {from} to {stage} by {actor}{forced}{why}"),
            );
        }
        Ok(
            serde_json::json!({"stage": stage.to_string(), "readiness": readiness.map(|r| format!("{r:?}"))}),
        )
    }

    /// Register an uploaded component.
    pub fn add_plugin(
        &self,
        bytes: &[u8],
        actor: &str,
    ) -> anyhow::Result<crate::store::registry::PluginRecord> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("upload.wasm");
        std::fs::write(&file, bytes)?;
        let (record, _) = self
            .registry
            .add_plugin(&self.runtime, &file, None, actor)?;
        Ok(record)
    }

    /// A page of a deployment's journal as JSON lines: entries `offset..`,
    /// at most `limit`, optionally only those of bars in `[from, to)`.
    pub fn journal_lines(
        &self,
        name: &str,
        offset: u64,
        limit: u64,
        from: Option<i64>,
        to: Option<i64>,
    ) -> anyhow::Result<String> {
        let live = self
            .runs
            .lock()
            .expect("runs lock")
            .get(name)
            .and_then(|r| r.journal_handle.clone());
        let (entries, bars) = match live {
            Some(j) => {
                let j = j.lock().expect("journal lock");
                (j.entries()?, j.bar_times()?)
            }
            None => {
                let path = self.config.journals.join(format!("{name}.redb"));
                let r = crate::store::journal::JournalReader::open(&path)?;
                let bars = r.bars()?.iter().map(|b| b.time_ms).collect();
                (r.entries()?, bars)
            }
        };
        let mut out = String::new();
        for (i, e) in entries
            .iter()
            .enumerate()
            .skip(offset as usize)
            .filter(|(_, e)| {
                let t = e.seq().and_then(|s| bars.get(s as usize).copied());
                match t {
                    Some(t) => from.is_none_or(|f| t >= f) && to.is_none_or(|x| t < x),
                    None => from.is_none() && to.is_none(),
                }
            })
            .take(limit as usize)
        {
            out.push_str(&serde_json::json!({"index": i, "entry": e}).to_string());
            out.push('\n');
        }
        Ok(out)
    }

    /// Send the daily summary (INFO) at the configured UTC time, every day.
    pub fn start_daily_summary(self: &Arc<Self>) {
        let (Some(a), Some(at)) = (
            self.alerter.clone(),
            self.config
                .alerts
                .as_ref()
                .and_then(|c| c.daily_summary_utc.clone()),
        ) else {
            return;
        };
        let Ok(at) = alerts::summary_time(&at) else {
            return;
        };
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("daily-summary".into())
            .spawn(move || {
                loop {
                    let now = chrono::Utc::now();
                    use chrono::Timelike;
                    let secs = now.num_seconds_from_midnight();
                    let wait = (i64::from(at) - i64::from(secs)).rem_euclid(86_400).max(1);
                    std::thread::sleep(Duration::from_secs(wait as u64));
                    let Some(service) = weak.upgrade() else {
                        return;
                    };
                    service.daily_summary(&a);
                }
            })
            .ok();
    }

    /// One INFO alert per running deployment: PnL of the day and overall,
    /// trades, drawdown, state, version changes and alerts of the day.
    fn daily_summary(&self, a: &alerts::Alerter) {
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let history = a.history().unwrap_or_default();
        for name in self.running() {
            let Ok(s) = self.status(&name) else { continue };
            if !s.running {
                continue;
            }
            let daily = self
                .metrics
                .daily_pnl
                .get_or_create(&metrics::labels(&name))
                .get();
            let versions: Vec<String> = self
                .registry
                .audit_trail(Some(&name))
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e.action == "version" && e.time.starts_with(&today))
                .map(|e| {
                    format!(
                        "{} → {}",
                        e.from.unwrap_or_default(),
                        e.to.unwrap_or_default()
                    )
                })
                .collect();
            let alerts_today = history
                .iter()
                .filter(|h| {
                    // Warnings and criticals: INFO (fills, swaps, summaries) is the day's news.
                    h.deployment == name
                        && h.time.starts_with(&today)
                        && h.level > alerts::Level::Info
                })
                .count();
            a.raise(
                alerts::Level::Info,
                &name,
                &s.serving,
                "daily-summary",
                Some(daily),
                None,
                s.last_bar.clone(),
                &format!(
                    "daily summary: PnL today {daily:.2}, since start {:.2}; {} trades; drawdown {:.2}%; {} {}; version changes today: {}; alerts today: {alerts_today}",
                    s.pnl,
                    s.trades,
                    s.drawdown * 100.0,
                    s.stage,
                    s.risk_state,
                    if versions.is_empty() { "none".to_string() } else { versions.join(", ") },
                ),
            );
        }
    }

    /// Names of the deployments started in this service.
    /// Changes to what the dashboard shows (its event stream sends when
    /// this moves).
    pub fn dashboard_version(&self) -> u64 {
        let runs = self.runs.lock().expect("runs lock");
        runs.values()
            .map(|r| r.board.lock().expect("board lock").version())
            .sum::<u64>()
            + runs.len() as u64
    }

    /// One dashboard update: every deployment (stage, status, sparkline,
    /// today's PnL) and, for `selected`, everything its page shows.
    pub fn dashboard_update(&self, selected: Option<&str>) -> anyhow::Result<serde_json::Value> {
        let mut overview = Vec::new();
        for d in self.registry.deployments()? {
            let status = self.status(&d.name).ok();
            let equity = status.as_ref().map_or(0.0, |s| s.equity);
            let (spark, today) = self
                .with_board(&d.name, |b| (b.sparkline(60), b.today(equity)))
                .unwrap_or_default();
            overview.push(serde_json::json!({
                "name": d.name,
                "plugin": d.plugin,
                "stage": d.stage.to_string(),
                "status": status,
                "spark": spark,
                "today": today,
            }));
        }
        let detail = match selected {
            Some(name) => Some(self.dashboard_detail(name)?),
            None => None,
        };
        Ok(serde_json::json!({ "overview": overview, "detail": detail }))
    }

    fn with_board<T>(&self, name: &str, f: impl FnOnce(&dashboard::Board) -> T) -> Option<T> {
        let runs = self.runs.lock().expect("runs lock");
        runs.get(name)
            .map(|r| f(&r.board.lock().expect("board lock")))
    }

    /// Everything one deployment's page shows.
    fn dashboard_detail(&self, name: &str) -> anyhow::Result<serde_json::Value> {
        let d = self.registry.deployment(name)?;
        let status = self.status(name).ok();
        let equity = status.as_ref().map_or(d.capital, |s| s.equity);
        let board = self.with_board(name, |b| (b.detail(), b.today(equity)));
        let (board, today) =
            board.unwrap_or_else(|| (dashboard::Board::new(Vec::new()).detail(), 0.0));
        let alerts = match &self.alerter {
            Some(a) => {
                let mut v: Vec<alerts::Alert> = a
                    .history()?
                    .into_iter()
                    .filter(|x| x.deployment == name)
                    .collect();
                v.reverse();
                v.truncate(dashboard::RECENT);
                v
            }
            None => Vec::new(),
        };
        let serving = status
            .as_ref()
            .map_or(d.plugin.clone(), |s| s.serving.clone());
        let plugin_name = serving.split('@').next().unwrap_or_default().to_string();
        let swappable: Vec<String> = self
            .registry
            .plugins()?
            .into_iter()
            .filter(|p| p.name == plugin_name)
            .map(|p| p.label())
            .filter(|l| *l != serving)
            .collect();
        Ok(serde_json::json!({
            "name": name,
            "stage": d.stage.to_string(),
            "status": status,
            "today": today,
            "board": board,
            "alerts": alerts,
            "swappable": swappable,
        }))
    }

    pub fn running(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .runs
            .lock()
            .expect("runs lock")
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// A deployment's status.
    pub fn status(&self, name: &str) -> anyhow::Result<DeploymentStatus> {
        let stage = self.registry.deployment(name)?.stage.to_string();
        let runs = self.runs.lock().expect("runs lock");
        let run = runs
            .get(name)
            .with_context(|| format!("deployment `{name}` has not been started"))?;
        let s = run.status.lock().expect("status").clone();
        let mut ended = run.ended.lock().expect("ended").clone();
        if let Some(t) = run.trouble.lock().expect("trouble").clone() {
            ended = Some(ended.map_or(t.clone(), |e| format!("{e}; {t}")));
        }
        let feed = self
            .hubs
            .get(&run.spec.feed)
            .map(|h| {
                let f = h.status();
                FeedState {
                    name: run.spec.feed.clone(),
                    connection: f.connection,
                    stale: run.stale.load(Ordering::Relaxed),
                    last_error: f.last_error,
                }
            })
            .unwrap_or_default();
        let equity = if s.seq == 0 { run.capital } else { s.equity };
        let peak = s.peak_equity.max(equity);
        Ok(DeploymentStatus {
            name: name.into(),
            stage,
            seq: s.seq,
            serving: s.serving,
            standby: s.standby,
            equity,
            cash: if s.seq == 0 { run.capital } else { s.cash },
            pnl: equity - run.capital,
            drawdown: if peak > 0.0 { 1.0 - equity / peak } else { 0.0 },
            risk_state: s.risk_state,
            positions: s.positions,
            open_orders: s.open_orders,
            orders: s.orders,
            trades: s.trades,
            paused: s.paused,
            running: ended.is_none(),
            recovering: s.seq < run.recovered,
            ended,
            shadow: run.shadow.as_ref().map(|sh| sh.label.clone()),
            feed,
            last_bar: (s.last_bar_ms != i64::MIN && s.seq > 0)
                .then(|| crate::data::market::format_time(s.last_bar_ms)),
            journal: run.journal.clone(),
            ramp_up: s.ramp,
            account: self.account_of(name).map(|a| a.status(name)),
            venue: run.venue.as_ref().map(|v| {
                let c = *v.counts.lock().expect("counts lock");
                let p = v.problems.lock().expect("problems lock");
                VenueState {
                    name: v.name.clone(),
                    placed: c.placed,
                    unknown: c.unknown,
                    queries: c.queries,
                    retries: c.retries,
                    pushed: c.pushed,
                    stream_connects: c.stream_connects,
                    stream_up: c.stream_up,
                    problems: p.iter().rev().take(20).rev().cloned().collect(),
                }
            }),
        })
    }

    /// Connect a LIVE deployment to its venue and reconcile its open orders
    /// with the journal before anything trades (see [`live`]).
    fn connect_live(
        &self,
        name: &str,
        venue: &str,
        run_id: &str,
        fixed: &Fixed,
        resumed: &crate::store::journal::Resumed,
    ) -> anyhow::Result<(Box<dyn crate::execution::Venue + Send>, VenueHandle)> {
        let vc = self.config.venues.get(venue).with_context(|| {
            format!("deployment `{name}` trades on venue `{venue}`, which the configuration does not define")
        })?;
        let (mut connector, courier) = vc.connect(venue, &fixed.symbols)?;
        let naming = live::naming(run_id);
        let open = live::open_orders(connector.as_mut(), &fixed.symbols)
            .with_context(|| format!("deployment `{name}` on venue `{venue}`"))?;
        let adopted = live::adopted(&self.registry, name)?;
        let unknown = live::unknown_orders(&open, &naming, resumed.last_order, &adopted);
        let foreign = open
            .iter()
            .filter(|o| !o.client_id.starts_with(&naming.prefix))
            .count();
        if !unknown.is_empty() {
            let report = live::report(&unknown);
            self.registry
                .note(name, "engine", live::MISMATCH, &report)?;
            if let Some(a) = &self.alerter {
                a.raise(
                    alerts::Level::Critical,
                    name,
                    "",
                    "reconciliation",
                    None,
                    None,
                    None,
                    &format!("HALTED by reconciliation: {report}"),
                );
            }
            bail!(
                "deployment `{name}` is HALTED by reconciliation: {report}; resolve it with `sandbar deploy reconcile {name} --adopt|--flatten --reason …`"
            );
        }
        self.registry.note(
            name,
            "engine",
            "reconcile",
            &format!(
                "venue {venue}: {} open orders of this run, {foreign} of others left alone",
                open.len() - foreign
            ),
        )?;
        let pace = self
            .venue_paces
            .lock()
            .expect("paces lock")
            .entry(venue.to_string())
            .or_insert_with(|| {
                crate::execution::live::Pace::new(courier.max_venue_orders_per_second)
            })
            .clone();
        let mut v = crate::execution::live::LiveVenue::sharing(
            connector,
            courier,
            fixed.symbols.clone(),
            naming,
            resumed.venue.clone(),
            resumed.bars.len() as u64,
            Some(pace),
        );
        let handle = VenueHandle {
            name: venue.to_string(),
            kill: v.kill_handle(),
            waker: v.waker.clone(),
            counts: v.counts.clone(),
            problems: v.problems.clone(),
            switch: crate::engine::KillSwitch::new(resumed.bars.len() as u64),
            naming: live::naming(run_id),
            // With reconciliation while running, the first comparison
            // comes before the first new bar.
            cleared: (vc.reconcile().every_secs > 0.0).then(|| v.gate()),
        };
        Ok((Box::new(v), handle))
    }
}

/// Everything a deployment thread needs, built off the hot path.
struct Launch {
    /// A live venue (LIVE deployments); else the simulated venue.
    venue: Option<Box<dyn crate::execution::Venue + Send>>,
    /// A LIVE run's ramp-up schedule.
    ramp_up: Option<Vec<(f64, f64)>>,
    name: String,
    instance: Instance,
    label: String,
    config: RunConfig,
    pause_drawdown: Option<f64>,
    /// A deployment's own run (not a shadow): its figures become paper evidence.
    evidence: bool,
    journal: SharedJournal,
    notes: Notes,
    replay: VecDeque<(u64, CommandAction, String, String)>,
    recovered: u64,
    params: Vec<String>,
    /// The account whose capital it trades (a deployment's own run only).
    account: Option<Arc<account::Account>>,
    /// A LIVE run's kill switch and the kills its journal holds.
    kill_switch: Option<(crate::engine::KillSwitch, Vec<crate::engine::JournaledKill>)>,
}

/// Load and initialise a registered version: (instance, label, sha256).
fn prepare_on(
    registry: &Registry,
    runtime: &Runtime,
    label: &str,
    params: &[String],
    config: &RunConfig,
    symbols: &[String],
) -> anyhow::Result<(Instance, String, String)> {
    let record = registry.plugin(label)?;
    let bytes = registry.plugin_bytes(&record)?;
    let p = replay::prepare_bytes(
        runtime,
        Path::new(&record.label()),
        &bytes,
        params,
        config,
        symbols,
    )?;
    Ok((p.instance, record.label(), record.sha256.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::{FillReport, Origin, Side};

    fn alerter(dir: &Path) -> Arc<alerts::Alerter> {
        let config: alerts::AlertsConfig = toml::from_str("").unwrap();
        alerts::Alerter::start(dir, config).unwrap()
    }

    fn fill(slippage_per_unit: f64) -> Entry {
        Entry::Fill {
            seq: 7,
            fill: FillReport {
                order_id: 3,
                symbol: 0,
                side: Side::Buy,
                quantity: 10.0,
                price: 100.0,
                commission: 0.0,
                slippage: slippage_per_unit * 10.0,
                time_ms: 0,
                origin: Origin::Strategy,
                done: true,
            },
            plugin: "p@1".into(),
        }
    }

    #[test]
    fn a_fill_slipping_past_a_threshold_and_a_swap_raise_alerts() {
        let dir = tempfile::tempdir().unwrap();
        let a = alerter(dir.path());
        // 0.04 on 100 = 4 bps: nothing; 0.1 = 10 bps: WARNING; 0.2 = 20 bps: CRITICAL.
        for s in [0.04, 0.1, 0.2] {
            alert_on_entry(&a, "d", &["X".into()], &fill(s));
        }
        alert_on_entry(
            &a,
            "d",
            &[],
            &Entry::Swap {
                seq: 9,
                from: "p@1".into(),
                to: "p@2".into(),
                state_bytes: 0,
                actor: "alice".into(),
                reason: "better".into(),
            },
        );
        let all = a.history().unwrap();
        // Every fill is told at INFO, naming the symbol.
        let fills: Vec<&alerts::Alert> = all.iter().filter(|x| x.rule == "fill").collect();
        assert_eq!(fills.len(), 3);
        assert_eq!(
            fills[0].message,
            "INFO d (p@1): bought 10 X at 100 (strategy, order 3) at bar 1970-01-01"
        );
        let h: Vec<alerts::Alert> = all.into_iter().filter(|x| x.rule != "fill").collect();
        let got: Vec<(alerts::Level, &str)> =
            h.iter().map(|x| (x.level, x.rule.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (alerts::Level::Warning, "slippage"),
                (alerts::Level::Critical, "slippage"),
                (alerts::Level::Info, "swap"),
            ]
        );
        assert!(
            h[1].message
                .contains("20.0 bps of slippage, over the CRITICAL threshold 15.0 bps"),
            "{}",
            h[1].message
        );
        assert_eq!(
            h[2].message,
            "INFO d (p@2): p@2 put in service (was p@1) by alice: better"
        );
        // Within the cooldown the same rule and level is not raised again.
        alert_on_entry(&a, "d", &["X".into()], &fill(0.2));
        let h = a.history().unwrap();
        assert_eq!(h.iter().filter(|x| x.rule != "fill").count(), 3);
        assert_eq!(
            h.iter().filter(|x| x.rule == "fill").count(),
            4,
            "events are not held back"
        );
    }

    #[test]
    fn time_to_fill_runs_from_when_the_venue_could_fill_the_order() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut c = FillClock::default();
        c.order(1, 0);
        c.order(2, 1);
        c.bar(1, at(50)); // another symbol's bar: order 1 cannot fill yet
        c.bar(0, at(60_000)); // the next bar of symbol 0, a minute later
        c.bar(0, at(120_000)); // a later bar does not restart the clock
        assert_eq!(c.fill(1, at(120_003)), Some(Duration::from_millis(60_003)));
        assert_eq!(c.fill(1, at(130_000)), None, "only the first fill is timed");
        assert_eq!(c.fill(2, at(1_000)), Some(Duration::from_millis(950)));
        c.order(3, 0);
        c.forget(3);
        assert_eq!(
            c.fill(3, at(200_000)),
            None,
            "cancelled orders are not timed"
        );
        c.order(4, 0);
        assert_eq!(
            c.fill(4, at(1)),
            None,
            "filled before any bar: not a venue delay"
        );
        let a = alerter(tempfile::tempdir().unwrap().path());
        assert_eq!(
            alerts::level_of(60.0, a.config().time_to_fill_secs),
            Some((alerts::Level::Critical, 30.0))
        );
        assert_eq!(
            alerts::level_of(6.0, a.config().time_to_fill_secs),
            Some((alerts::Level::Warning, 5.0))
        );
        assert_eq!(alerts::level_of(0.001, a.config().time_to_fill_secs), None);
    }

    #[test]
    fn the_paper_sharpe_is_annualised_from_daily_closes() {
        assert_eq!(alerts::daily_sharpe(&[100.0, 101.0]), None);
        let closes = [100.0, 101.0, 100.5, 102.0, 103.0];
        let s = alerts::daily_sharpe(&closes).unwrap();
        let r: Vec<f64> = closes.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
        let mean = r.iter().sum::<f64>() / 4.0;
        let sd = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
        assert!((s - mean / sd * 365f64.sqrt()).abs() < 1e-9);
    }
}
