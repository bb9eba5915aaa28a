//! Starting a deployment: its plan (mode, venue, symbols, what its journal
//! fixes), recovery of its journal by re-execution, and its launch on the
//! worker pool.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, bail};

use super::commands::carried_params;
use super::controller::{Loader, ServiceController};
use super::journaled::{account_decisions, journaled_commands, journaled_kills};
use super::recorder::*;
use super::run::*;
use super::types::*;
use super::{
    Service, Starting, account, after_fault, dashboard, metrics, monitor, plan, reconcile, runner,
};
use crate::data::live::{LiveFeed, Notes, interval_ms};
use crate::engine::replay::RunConfig;
use crate::engine::{Command, Engine, EngineConfig, Status};
use crate::execution::SimulatedVenue;
use crate::lifecycle::{GateConfig, Move, Stage};
use crate::sandbox::runtime::Instance;
use crate::store::journal::{Journal, RunMeta};
use crate::store::registry::Deployment;

impl Service {
    pub(super) fn run_config(d: &Deployment) -> anyhow::Result<RunConfig> {
        let mut set: Vec<String> = d.risk.iter().map(|r| format!("risk.{r}")).collect();
        set.push(format!("initial_cash={}", d.capital));
        RunConfig::load(None, &set)
    }

    pub(super) fn prepare(
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
    /// Start every configured deployment. One that cannot start or
    /// recover (an unreachable venue, a wrong key, a damaged journal, a
    /// standing mismatch) does not stop the others: it is marked failed —
    /// its status says why, `/ready` says so, a CRITICAL alert is raised —
    /// and the service goes on. Returns the failures: (name, why).
    pub fn start_configured(&self) -> Vec<(String, String)> {
        let mut failures = Vec::new();
        for d in self.config.deployments.clone() {
            let spec = FeedSpec {
                feed: d.feed.clone(),
                symbols: d.symbols.clone(),
                interval: d.interval.clone(),
                start: d.start.clone(),
            };
            if let Err(e) = self.start(&d.name, Some(spec), "service") {
                let why = format!("{e:#}");
                tracing::error!(deployment = %d.name, %why, "deployment did not start");
                if let Some(a) = &self.alerter {
                    a.raise(monitor::Raise::new(
                        monitor::Level::Critical,
                        monitor::Rule::StartFailed,
                        &d.name,
                        "",
                        format!("did not start (the others run): {why}"),
                    ));
                }
                self.failed
                    .lock()
                    .expect("failed lock")
                    .insert(d.name.clone(), why.clone());
                failures.push((d.name.clone(), why));
            }
        }
        failures
    }

    /// Mark `name` as starting (a second start is refused meanwhile, and
    /// while it runs); the guard unmarks it however the start ends.
    fn claim(&self, name: &str) -> anyhow::Result<Starting<'_>> {
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
        Ok(Starting(&self.starting, name.to_string()))
    }

    /// What the run is fixed to, its first version and its parameters: a
    /// new run's from now and the deployment; a recovered one's from what
    /// its journal started with, if the journal can continue as asked.
    fn continued(
        name: &str,
        path: &Path,
        fixed_now: Fixed,
        d: &Deployment,
    ) -> anyhow::Result<(Fixed, String, Vec<String>)> {
        // The run's first version: a new run starts with the deployment's;
        // a recovered one with what its journal started with.
        let existing = if path.exists() {
            let r = crate::store::journal::JournalReader::open(path)?;
            Some(r.meta()?)
        } else {
            None
        };
        Ok(match &existing {
            Some(meta) => {
                let fixed: Fixed = toml::from_str(&meta.service).with_context(|| {
                    format!(
                        "journal {} was not written by a service deployment",
                        path.display()
                    )
                })?;
                plan::check_continuation(name, &fixed, &fixed_now)?;
                (
                    fixed,
                    format!("{}@{}", meta.plugin_name, meta.plugin_version),
                    meta.params.clone(),
                )
            }
            None => (fixed_now, d.plugin.clone(), d.params.clone()),
        })
    }

    /// What a new run would be fixed to now: the deployment's run config
    /// (its capital the account's share, the account's gross cap on its
    /// own), the service's pause, the feed and symbols, and for a LIVE run
    /// its venue, a new run id and the ramp-up.
    fn fixed_now(
        &self,
        d: &Deployment,
        live: bool,
        venue: Option<String>,
        spec: &FeedSpec,
        symbols: Vec<String>,
        account: Option<&account::Account>,
    ) -> anyhow::Result<Fixed> {
        let mut run = Self::run_config(d)?;
        if let Some(a) = account {
            // As multiples of equity, so the sum over members is bounded.
            run.initial_cash = a.initial(&d.name);
            run.risk.max_gross_exposure =
                run.risk.max_gross_exposure.min(a.config.max_gross_exposure);
        }
        // The configuration's, else the run config's (what research ran in).
        let session = (self.config.deployments.iter())
            .find(|c| c.name == d.name)
            .and_then(|c| c.session.clone())
            .or_else(|| run.session.clone());
        let run_id = venue
            .is_some()
            .then(super::connect::new_run_id)
            .transpose()?;
        Ok(Fixed {
            run,
            pause_drawdown: self.config.pause_drawdown,
            feed: spec.clone(),
            symbols,
            venue,
            run_id,
            ramp_up: live.then(|| self.config.ramp_up.clone()),
            account: account.map(|a| a.name.clone()),
            session,
        })
    }

    /// A STALE feed raises a CRITICAL alert naming the feed and how long it
    /// has been quiet.
    fn alert_when_stale(&self, feed: &mut LiveFeed, name: &str, version: &str, feed_name: &str) {
        let Some(a) = self.alerter.clone() else {
            return;
        };
        let (name, version, feed_name) =
            (name.to_string(), version.to_string(), feed_name.to_string());
        feed.on_stale(move |quiet_ms| {
            a.raise(
                monitor::Raise::new(
                    monitor::Level::Critical,
                    monitor::Rule::FeedStale,
                    &name,
                    &version,
                    format!(
                        "feed `{feed_name}` STALE: no closed bar for {:.0} s",
                        quiet_ms as f64 / 1000.0
                    ),
                )
                .value(quiet_ms as f64 / 1000.0),
            );
        });
    }

    /// How the controller loads another version of the plugin (a swap, a
    /// rollback, a promoted shadow): registered, initialised with the
    /// parameters it also declares, its state restored if given.
    fn loader(
        &self,
        run_config: RunConfig,
        load_symbols: Vec<String>,
        params: Vec<String>,
    ) -> Loader {
        let (registry, runtime) = (self.registry.clone(), self.runtime.clone());
        Arc::new(move |label: &str, state: Option<&[u8]>| {
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
        })
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
        self.start_deciding(name, spec, actor, None)
    }

    /// [`start`](Self::start), with an operator's decision on the fault its
    /// journal ends with (see [`super::after_fault`]).
    pub(super) fn start_deciding(
        &self,
        name: &str,
        spec: Option<FeedSpec>,
        actor: &str,
        decision: Option<after_fault::Decision>,
    ) -> anyhow::Result<DeploymentStatus> {
        let _guard = self.claim(name)?;
        let d = self.registry.deployment(name)?;
        let live = plan::is_live(&d)?;
        let venue_name = plan::venue(name, live, &self.config.deployments)?;
        if venue_name.is_some()
            && let Some(why) = reconcile::standing_mismatch(&self.registry, name)?
        {
            bail!(
                "deployment `{name}` is HALTED by reconciliation: {why}; resolve it with `sandbar deploy reconcile {name} --adopt|--flatten --reason …`"
            );
        }
        let spec = plan::feed(name, spec, &self.config.deployments)?;
        let hub = self.hubs.get(&spec.feed).cloned().with_context(|| {
            format!(
                "no feed named `{}` (configured: {})",
                spec.feed,
                self.hubs.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        let step = interval_ms(&spec.interval)?;
        let symbols = plan::symbols(&d, &spec)?;
        let start_ms = plan::start_ms(&spec)?;
        let account = self.account_of(name);
        let fixed_now = self.fixed_now(&d, live, venue_name, &spec, symbols, account.as_deref())?;
        let path = plan::journal_path(&self.config.journals, name, live);
        let (fixed, first_label, params) = Self::continued(name, &path, fixed_now, &d)?;
        let config = fixed.run.clone();
        let (instance, label, sha) =
            self.prepare(&first_label, &params, &config, &fixed.symbols)?;
        let at_venue = fixed.venue.is_some();
        let meta = run_meta(at_venue, &instance, sha, &params, &config, &fixed)?;
        let broker = fixed.venue.clone().filter(|_| !live);
        let (journal, resumed) = Journal::resume(&path, &meta)?;
        let histogram = self
            .metrics
            .plugin_call_seconds
            .get_or_create(&metrics::labels(name));
        let load = self.loader(config.clone(), fixed.symbols.clone(), params.clone());
        let after_fault = after_fault::plans(name, &resumed, decision, &load, &histogram)?;
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
        let freshness = live.freshness().map(|f| (f, fixed.feed.feed.clone()));
        let mut live = live;
        self.alert_when_stale(&mut live, name, &first_label, &fixed.feed.feed);
        let recovered = resumed.bars.len() as u64;
        let replay = journaled_commands(&resumed.commands);
        if let Some(a) = &account {
            let (rebalanced, reduced) = account_decisions(&resumed.commands, &resumed.bars);
            a.join(name, &rebalanced, &reduced);
        }
        let first_ms = resumed.bars.first().map(|b| b.time_ms).or(start_ms);
        let session = plan::session(name, &fixed, step, first_ms, &self.config)?;
        let fault_causes = resumed.fault_causes;
        let feed = RecoveryFeed {
            journaled: resumed.bars,
            pos: 0,
            live,
            returned: Default::default(),
        };
        let journal: SharedJournal = Arc::new(Mutex::new(journal));
        let venue_state = venue.as_ref().map(|(_, v)| v.clone());
        let kill_switch = venue
            .as_ref()
            .map(|(_, v)| (v.switch.clone(), journaled_kills(&resumed.commands)));
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
            freshness,
            after_fault,
            fault_causes,
            session,
            broker,
        };
        let (tx, status, ended, intents, trouble, board) =
            self.launch(launch, feed, fixed.symbols.clone(), &slot)?;
        self.registry
            .note(name, actor, "start", &start_note(&fixed, recovered))?;
        self.failed.lock().expect("failed lock").remove(name);
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

    /// The engine's controller for a launched run (see [`ServiceController`]).
    #[allow(clippy::too_many_arguments)]
    fn controller(
        &self,
        l: &mut Launch,
        symbols: &[String],
        rx: std::sync::mpsc::Receiver<Command<'static>>,
        status: &Arc<Mutex<Status>>,
        trouble: &Arc<Mutex<Option<String>>>,
        board: &Board,
        dm: &metrics::DeploymentMetrics,
    ) -> ServiceController {
        let load = self.loader(l.config.clone(), symbols.to_vec(), l.params.clone());
        ServiceController {
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
            sharpe_deviation: 0.0,
            backtest_sharpe: self
                .registry
                .deployment(&l.name)
                .ok()
                .and_then(|d| d.backtest)
                .map(|b| b.sharpe),
            board: l.evidence.then(|| board.clone()),
            account: l.account.clone().filter(|_| l.evidence),
            freshness: l.freshness.take(),
            warm_before: i64::MIN,
        }
    }

    #[allow(clippy::type_complexity)]
    pub(super) fn launch<F: runner::PollFeed + 'static>(
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
        // A shadow's intents are compared with the serving run's: kept.
        let intents: Intents = Arc::default();
        intents.lock().expect("intents lock").keep(!l.evidence);
        let dm = self.metrics.deployment(&metrics::labels(&l.name));
        let controller = self.controller(&mut l, &symbols, rx, &status, &trouble, &board, &dm);
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
            after_fault,
            fault_causes,
            session,
            broker,
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
            refused: Default::default(),
            errors: Default::default(),
            quiet: Default::default(),
            exits: Default::default(),
            version: label_for_alerts.clone(),
        };
        let timed = metrics::Timed {
            inner: instance,
            histogram: dm.plugin_call_seconds.clone(),
        };
        let m = self.metrics.clone();
        let alerter = self.alerter.clone().filter(|_| evidence);
        let first_label = label_for_alerts.clone();
        let member = l.account.clone().filter(|_| evidence);
        let gate = member
            .clone()
            .map(|a| account_gate(a, name.clone(), l.recovered, slot));
        let mut engine = Engine::owning(cfg, symbols, Box::new(timed), venue, Box::new(recorder));
        engine.set_controller(Box::new(controller));
        if let Some(r) = ramp_up {
            engine.set_ramp_up(crate::portfolio::allocation::RampUp(r));
        }
        if let Some((switch, kills)) = kill_switch {
            engine.set_kill_switch(switch, kills);
        }
        for plan in after_fault {
            engine.continue_after_fault(plan);
        }
        if let Some(s) = session {
            engine.set_session(s);
        }
        engine.re_execute(l.recovered, fault_causes);
        let end = RunEnd {
            metrics: m,
            labels,
            alerter,
            name,
            first_label,
            evidence,
            registry,
            journal,
            notes,
            member,
            ended: ended2,
            broker,
        };
        let on_end = move |result: crate::engine::RunResult| end.finish(result);
        slot.start(runner::Work {
            engine,
            feed: Box::new(feed),
            seq: 0,
            on_end: Box::new(on_end),
            gate,
        });
        Ok((tx, status, ended, intents, trouble, board))
    }
}

/// Holds a member's bars at a rebalance of its account (see
/// [`account::Account::arrive`]); the account wakes the slot.
fn account_gate(
    a: Arc<account::Account>,
    name: String,
    recovered: u64,
    slot: &Arc<runner::Slot>,
) -> runner::Gate {
    a.set_waker(&name, slot.waker());
    Box::new(move |bar: &crate::data::market::Bar, seq: u64| {
        a.arrive(&name, bar.time_ms, seq >= recovered)
    })
}

/// The journal's header of a service run.
fn run_meta(
    live: bool,
    instance: &Instance,
    sha: String,
    params: &[String],
    config: &RunConfig,
    fixed: &Fixed,
) -> anyhow::Result<RunMeta> {
    let desc = instance.description();
    Ok(RunMeta {
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
        params: params.to_vec(),
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
    })
}

/// The audit note of a start.
fn start_note(fixed: &Fixed, recovered: u64) -> String {
    format!(
        "feed {} {} {}{}",
        fixed.feed.feed,
        fixed.symbols.join(","),
        fixed.feed.interval,
        if recovered > 0 {
            format!(", recovering {recovered} journaled bars")
        } else {
            String::new()
        }
    )
}

/// What a deployment's run does when it ends (stopped, faulted, or its
/// journal failed): metrics and alerts for a fault, a faulted run paused in
/// the registry, a paper run's evidence recorded, the journal's last notes
/// committed, its account told, and how it ended kept for its status.
struct RunEnd {
    metrics: Arc<metrics::Metrics>,
    labels: Vec<(String, String)>,
    alerter: Option<Arc<monitor::Alerter>>,
    name: String,
    first_label: String,
    evidence: bool,
    registry: Arc<crate::store::registry::Registry>,
    journal: SharedJournal,
    notes: Notes,
    member: Option<Arc<account::Account>>,
    ended: Arc<Mutex<Option<String>>>,
    /// The broker's paper account a PAPER run traded on (its evidence says so).
    broker: Option<String>,
}

impl RunEnd {
    fn finish(self, result: crate::engine::RunResult) {
        let summary = match &result {
            Ok(o) => match &o.fault {
                Some(f) => {
                    self.metrics.fault(&self.labels, f.fault.kind());
                    let mut why = format!("faulted at bar {}: {}", f.seq, f.fault);
                    if let Some(refused) = &o.after_fault_refused {
                        why = format!("{why}; {refused}");
                    }
                    if let Some(a) = &self.alerter {
                        a.raise(
                            monitor::Raise::new(
                                monitor::Level::Critical,
                                monitor::Rule::Fault,
                                &self.name,
                                &self.first_label,
                                &why,
                            )
                            .at_bar(crate::data::market::format_time(f.bar.time_ms)),
                        );
                    }
                    if self.evidence {
                        let _ = self.registry.transition(
                            &self.name,
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
                if let Some(a) = &self.alerter {
                    a.raise(monitor::Raise::new(
                        monitor::Level::Critical,
                        monitor::Rule::Journal,
                        &self.name,
                        &self.first_label,
                        &why,
                    ));
                }
                why
            }
        };
        if let (Ok(o), true) = (&result, self.evidence)
            && let Ok(d) = self.registry.deployment(&self.name)
            && (d.stage == Stage::Paper || d.paused_from == Some(Stage::Paper))
            && let Some(mut ev) = crate::report::evidence::paper_evidence(d.plugin, o)
        {
            ev.venue = self.broker.clone();
            let _ = self.registry.record_paper(&self.name, ev, "engine");
        }
        {
            let mut j = self.journal.lock().expect("journal lock");
            let notes = std::mem::take(&mut *self.notes.lock().expect("notes"));
            for n in &notes {
                j.note(n);
            }
            if let Err(e) = j.sync() {
                tracing::error!(deployment = %self.name, %e, "final journal commit");
            }
        }
        if let Some(a) = &self.member {
            a.leave(&self.name);
        }
        *self.ended.lock().expect("ended lock") = Some(summary);
    }
}
