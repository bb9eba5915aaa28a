//! The engine's controller for a running deployment: the operator's
//! commands and hot swaps taken at bar boundaries, snapshots, lifecycle
//! changes written back to the registry, alerts on state changes, and the
//! account's events.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::recorder::*;
use super::{account, metrics, monitor};
use crate::engine::{Command, Controller, Status, StrategyDriver};
use crate::lifecycle::{GateConfig, Move};
use crate::sandbox::runtime::Instance;
use crate::store::journal::{CommandAction, Snapshot};
use crate::store::registry::Registry;

/// Loads a version for a swap during recovery: `(label, state)` → driver.
pub(super) type Loader =
    Arc<dyn Fn(&str, Option<&[u8]>) -> anyhow::Result<Instance> + Send + Sync + 'static>;

pub(super) struct ServiceController {
    pub(super) rx: Receiver<Command<'static>>,
    pub(super) status: Arc<Mutex<Status>>,
    pub(super) name: String,
    pub(super) registry: Arc<Registry>,
    pub(super) last: Status,
    /// A version change asked for at the last boundary: (version, actor, reason).
    pub(super) pending: Option<(String, String, String)>,
    /// Journaled commands to apply again while recovering: (seq, action, actor, reason).
    pub(super) replay: VecDeque<(u64, CommandAction, String, String)>,
    /// Bars re-executed from the journal; side effects on the registry wait
    /// until the run is past them.
    pub(super) recovered: u64,
    pub(super) load: Loader,
    pub(super) journal: Option<SharedJournal>,
    pub(super) snapshot_every: Duration,
    pub(super) last_snapshot: Instant,
    pub(super) snapshot_reply: Option<Receiver<Result<Vec<u8>, String>>>,
    pub(super) flatten_on_shutdown: bool,
    /// Failures of the controller's own work (a version that would not load
    /// during recovery), for the deployment's status.
    pub(super) trouble: Arc<Mutex<Option<String>>>,
    pub(super) metrics: metrics::DeploymentMetrics,
    /// When the bar being processed reached its boundary.
    pub(super) bar_started: Option<Instant>,
    /// (UTC day, equity at its start) for the daily PnL.
    pub(super) day: (i64, f64),
    pub(super) alerter: Option<Arc<monitor::Alerter>>,
    /// The level each threshold rule is at (raised on the way up).
    pub(super) levels: HashMap<monitor::Rule, Option<monitor::Level>>,
    /// (UTC day, equity at its close) of every day it traded, for the
    /// paper Sharpe ratio (re-built when a restart re-executes the journal).
    pub(super) daily_closes: Vec<(i64, f64)>,
    /// The paper Sharpe ratio's deviation from the backtest's, as of the
    /// last day closed (0 until 21 closes).
    pub(super) sharpe_deviation: f64,
    /// The Sharpe ratio of the deployment's backtest evidence.
    pub(super) backtest_sharpe: Option<f64>,
    pub(super) board: Option<Board>,
    /// The account whose capital it trades, if any.
    pub(super) account: Option<Arc<account::Account>>,
    /// The feed's live edge and maximum bar age, and the feed's name.
    pub(super) freshness: Option<(crate::data::live::Freshness, String)>,
    /// The warm-up threshold last journaled (`i64::MIN`: none).
    pub(super) warm_before: i64,
}

impl ServiceController {
    /// Threshold rules and state changes after a bar.
    pub(super) fn alert_on(&mut self, status: &Status) {
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
        let deviation = self.sharpe_deviation;
        for (rule, value, thresholds, what) in [
            (
                monitor::Rule::Drawdown,
                drawdown,
                c.drawdown,
                "drawdown from the peak",
            ),
            (
                monitor::Rule::DailyLoss,
                daily_loss,
                c.daily_loss,
                "loss since the start of the day",
            ),
            (
                monitor::Rule::SharpeDeviation,
                deviation,
                c.sharpe_deviation,
                "paper Sharpe ratio off the backtest's by",
            ),
        ] {
            let now = monitor::level_of(value, thresholds);
            let was = self.levels.get(&rule).copied().flatten();
            if let Some((level, threshold)) = now
                && was.is_none_or(|w| level > w)
            {
                a.raise(
                    monitor::Raise::new(
                        level,
                        rule,
                        &self.name,
                        &status.serving,
                        format!(
                            "{what} {:.2}% reached the {level} threshold {:.2}%",
                            value * 100.0,
                            threshold * 100.0
                        ),
                    )
                    .value(value)
                    .threshold(threshold)
                    .at_bar(bar_time.clone()),
                );
            }
            self.levels.insert(rule, now.map(|(l, _)| l));
        }
        if status.risk_state == "HALTED" && self.last.risk_state != "HALTED" {
            a.raise(
                monitor::Raise::new(
                    monitor::Level::Critical,
                    monitor::Rule::Halted,
                    &self.name,
                    &status.serving,
                    "trading HALTED by the risk engine (positions flattened)",
                )
                .at_bar(bar_time),
            );
        }
    }
}

impl ServiceController {
    /// What the account did after this deployment's bar: logged, and its
    /// loss limit alerted (each member's move is audited when applied).
    pub(super) fn account_event(
        &self,
        a: &account::Account,
        status: &Status,
        event: account::Event,
    ) {
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
            account::Event::Late(why) => {
                tracing::warn!(account = %a.name, %why, "rebalance late");
                let _ = self.registry.note(
                    &self.name,
                    &format!("account:{}", a.name),
                    "rebalance-late",
                    &why,
                );
            }
            account::Event::LossLimit { loss, message } => {
                tracing::warn!(account = %a.name, %message, "account loss limit");
                if let Some(al) = &self.alerter {
                    al.raise(
                        monitor::Raise::new(
                            monitor::Level::Critical,
                            monitor::Rule::AccountDailyLoss,
                            &format!("account:{}", a.name),
                            &status.serving,
                            &message,
                        )
                        .value(loss)
                        .threshold(a.config.daily_loss_limit)
                        .at_bar(crate::data::market::format_time(status.last_bar_ms)),
                    );
                }
            }
        }
    }

    /// `day` closed at `equity`: the paper Sharpe ratio against the
    /// backtest's, once 20 daily returns were traded.
    fn close_day(&mut self, day: i64, equity: f64) {
        self.daily_closes.push((day, equity));
        self.sharpe_deviation = match self.backtest_sharpe {
            Some(bt) if self.daily_closes.len() >= 21 && bt.abs() > 1e-9 => {
                monitor::daily_sharpe(&self.daily_closes)
                    .map_or(0.0, |paper| (paper - bt).abs() / bt.abs())
            }
            _ => 0.0,
        };
    }

    pub(super) fn save_snapshot(&mut self, seq: u64, version: &str, state: Vec<u8>) {
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
    pub(super) fn swap_to(
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
    /// The bar about to be processed is too far behind the feed's live
    /// edge: journal that it, and every bar before the threshold, only
    /// warms the strategy up (see [`crate::data::live::Freshness`]).
    fn warm_up_old_bars(&mut self, status: &Status) -> Option<Command<'static>> {
        let (f, feed) = self.freshness.as_ref()?;
        let before = f.old_before(status.next_bar_ms?)?;
        if before <= self.warm_before {
            return None;
        }
        self.warm_before = before;
        let edge = f.edge_ms().unwrap_or(before);
        let reason = format!(
            "bars opening before {} are more than {} s behind the newest bar of feed `{feed}` ({}): \
             the strategy sees them, nothing decided on them is sent",
            crate::data::market::format_time(before),
            f.max_age_ms as f64 / 1000.0,
            crate::data::market::format_time(edge),
        );
        tracing::warn!(deployment = %self.name, %reason, "old bars: warm-up only");
        if let Some(a) = &self.alerter {
            a.raise(
                monitor::Raise::new(
                    monitor::Level::Warning,
                    monitor::Rule::OldBars,
                    &self.name,
                    &status.serving,
                    reason.clone(),
                )
                .at_bar(crate::data::market::format_time(status.next_bar_ms?)),
            );
        }
        Some(Command::WarmUp {
            before_ms: before,
            actor: format!("feed:{feed}"),
            reason,
        })
    }

    pub(super) fn rebuild(
        &mut self,
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
            // Carried by the engine itself at the fault (`start.rs` hands
            // these to `Engine::continue_after_fault`), never at a boundary.
            CommandAction::AfterFault { .. } => return None,
            CommandAction::WarmUp { before_ms } => {
                self.warm_before = self.warm_before.max(before_ms);
                Command::WarmUp {
                    before_ms,
                    actor,
                    reason,
                }
            }
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
                        monitor::Raise::new(
                            monitor::Level::Critical,
                            monitor::Rule::Rollback,
                            &self.name,
                            &status.serving,
                            format!(
                                "rolled back from {} to {}",
                                self.last.serving, status.serving
                            ),
                        )
                        .at_bar(crate::data::market::format_time(status.last_bar_ms)),
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
        out.extend(self.warm_up_old_bars(status));
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
            if self.day.0 != i64::MIN {
                self.close_day(self.day.0, before);
            }
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
