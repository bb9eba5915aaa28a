//! The service: deployments running side by side, steered while they run.
//!
//! Each running deployment is an [`Engine`] on its own thread, fed by a
//! paced feed (recorded bars now; exchange WebSockets later) and trading on
//! the simulated venue (paper). Operators reach it through the HTTP control
//! API (`sandbar serve`); every command becomes an engine [`Command`] applied
//! at the next bar boundary, so a swap or rollback never splits a bar.
//! New versions are loaded and initialised on the request's thread, off the
//! engine's hot path. Lifecycle changes the engine makes by itself (a pause on
//! drawdown, a fault, an automatic rollback) are written back to the registry
//! with actor `engine`, next to the operator's own changes.

pub mod api;
pub mod shadow;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::data::feed::PacedFeed;
use crate::data::market::LoadOptions;
use crate::engine::replay::{self, RunConfig};
use crate::engine::{Command, Controller, Engine, EngineConfig, Status};
use crate::execution::SimulatedVenue;
use crate::sandbox::runtime::{Instance, Runtime};
use crate::store::journal::{Entry, Journal, JournalError, Recorder, RunMeta};
use crate::store::lifecycle::{GateConfig, Move, Stage};
use crate::store::registry::{Deployment, Registry};
use shadow::{Divergence, Summary};

/// Service settings.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Where running deployments write their journals.
    pub journals: PathBuf,
    /// Drawdown from the peak at which a PAPER or LIVE deployment pauses
    /// itself (default 0.10).
    pub pause_drawdown: f64,
}

/// A request to start a deployment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartRequest {
    /// Data files replayed as the deployment's feed.
    pub data: Vec<PathBuf>,
    /// Pace of the feed (bars per second).
    pub bars_per_second: f64,
}

/// What the service reports about a deployment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeploymentStatus {
    /// Name.
    pub name: String,
    /// Engine status (seq, serving version, standby, equity, pause).
    pub seq: u64,
    /// `name@version` in service.
    pub serving: String,
    /// Version a rollback returns to.
    pub standby: Option<String>,
    /// Equity.
    pub equity: f64,
    /// Why paused, if paused.
    pub paused: Option<String>,
    /// Still running.
    pub running: bool,
    /// How it ended, once it has.
    pub ended: Option<String>,
    /// Candidate running in shadow.
    pub shadow: Option<String>,
    /// The deployment's journal.
    pub journal: PathBuf,
}

/// Intent entries kept in memory for shadow comparison, besides the journal.
type Intents = Arc<Mutex<Vec<Entry>>>;

/// Journals to a file and keeps intents for comparison.
struct TeeRecorder {
    journal: Journal,
    intents: Intents,
}

impl Recorder for TeeRecorder {
    fn record(&mut self, entry: Entry) -> Result<(), JournalError> {
        if matches!(entry, Entry::Intent { .. }) {
            self.intents
                .lock()
                .expect("intents lock")
                .push(entry.clone());
        }
        self.journal.record(entry)
    }
}

struct ServiceController {
    rx: Receiver<Command<'static>>,
    status: Arc<Mutex<Status>>,
    name: String,
    registry: Arc<Registry>,
    last: Status,
    /// A version change asked for at the last boundary: (version, actor, reason).
    pending: Option<(String, String, String)>,
}

impl<'a> Controller<'a> for ServiceController {
    fn poll(&mut self, status: &Status) -> Vec<Command<'a>> {
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
        } else if status.serving != self.last.serving && !self.last.serving.is_empty() {
            let _ = self.registry.record_version(
                &self.name,
                &status.serving,
                "engine",
                "automatic rollback",
            );
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
        self.last = status.clone();
        *self.status.lock().expect("status lock") = status.clone();
        let mut out = Vec::new();
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
}

struct Run {
    tx: Sender<Command<'static>>,
    status: Arc<Mutex<Status>>,
    ended: Arc<Mutex<Option<String>>>,
    intents: Intents,
    journal: PathBuf,
    shadow: Option<ShadowRun>,
    capital: f64,
    symbols: Vec<String>,
    pace: f64,
}

struct ShadowRun {
    label: String,
    from_seq: u64,
    tx: Sender<Command<'static>>,
    status: Arc<Mutex<Status>>,
    ended: Arc<Mutex<Option<String>>>,
    intents: Intents,
}

/// The audit trail and the journal must say why: a blank reason is refused.
fn require_reason(what: &str, reason: &str) -> anyhow::Result<()> {
    if reason.trim().is_empty() {
        bail!("{what} needs a reason");
    }
    Ok(())
}

/// The deployment's parameters that the new version also declares.
fn carried_params(d: &Deployment, record: &crate::store::registry::PluginRecord) -> Vec<String> {
    let declared = record.description();
    d.params
        .iter()
        .filter(|p| {
            p.split_once('=')
                .is_some_and(|(k, _)| declared.params.iter().any(|s| s.name == k))
        })
        .cloned()
        .collect()
}

/// The running service.
pub struct Service {
    registry: Arc<Registry>,
    runtime: Arc<Runtime>,
    config: ServiceConfig,
    runs: Mutex<HashMap<String, Run>>,
}

/// Everything a deployment thread needs, built off the hot path.
struct Launch {
    name: String,
    instance: Instance,
    label: String,
    config: RunConfig,
    rec: crate::data::market::Recording,
    skip: u64,
    pace: f64,
    journal: PathBuf,
    pause_drawdown: Option<f64>,
    /// A deployment's own run (not a shadow): its figures become paper evidence.
    evidence: bool,
}

impl Service {
    /// A service over a registry.
    pub fn new(
        registry: Registry,
        runtime: Runtime,
        config: ServiceConfig,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.journals)
            .with_context(|| format!("creating journal directory {}", config.journals.display()))?;
        Ok(Self {
            registry: Arc::new(registry),
            runtime: Arc::new(runtime),
            config,
            runs: Mutex::new(HashMap::new()),
        })
    }

    /// The registry it serves.
    pub fn registry(&self) -> &Registry {
        &self.registry
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
    ) -> anyhow::Result<(Instance, String)> {
        let record = self.registry.plugin(label)?;
        let bytes = self.registry.plugin_bytes(&record)?;
        let p = replay::prepare_bytes(
            &self.runtime,
            Path::new(&record.label()),
            &bytes,
            params,
            config,
            symbols,
        )?;
        Ok((p.instance, record.label()))
    }

    /// Start a PAPER deployment on a paced feed.
    pub fn start(
        &self,
        name: &str,
        req: &StartRequest,
        actor: &str,
    ) -> anyhow::Result<DeploymentStatus> {
        if self
            .runs
            .lock()
            .expect("runs lock")
            .get(name)
            .is_some_and(|r| r.ended.lock().expect("ended").is_none())
        {
            bail!("deployment `{name}` is already running");
        }
        let d = self.registry.deployment(name)?;
        match d.stage {
            Stage::Paper => {}
            Stage::Live => bail!(
                "deployment `{name}` is LIVE, and no live venue is connected yet; only PAPER deployments run"
            ),
            other => bail!(
                "deployment `{name}` is {other}; only PAPER deployments run (promote it first)"
            ),
        }
        if req.bars_per_second.is_nan() || req.bars_per_second <= 0.0 {
            bail!("bars_per_second must be positive");
        }
        let config = Self::run_config(&d)?;
        let (rec, _) = crate::data::market::load(&req.data, &LoadOptions::default())?;
        let (instance, label) = self.prepare(&d.plugin, &d.params, &config, &rec.symbols)?;
        let symbols = rec.symbols.clone();
        let journal = self.config.journals.join(format!("{name}.redb"));
        let launch = Launch {
            name: name.into(),
            instance,
            label,
            config,
            rec,
            skip: 0,
            pace: req.bars_per_second,
            journal: journal.clone(),
            pause_drawdown: Some(self.config.pause_drawdown),
            evidence: true,
        };
        let (tx, status, ended, intents) = self.launch(launch)?;
        self.registry.note(
            name,
            actor,
            "start",
            &format!(
                "{} bars/s over {} file(s)",
                req.bars_per_second,
                req.data.len()
            ),
        )?;
        self.runs.lock().expect("runs lock").insert(
            name.into(),
            Run {
                tx,
                status,
                ended,
                intents,
                journal,
                shadow: None,
                capital: d.capital,
                symbols,
                pace: req.bars_per_second,
            },
        );
        self.status(name)
    }

    #[allow(clippy::type_complexity)]
    fn launch(
        &self,
        l: Launch,
    ) -> anyhow::Result<(
        Sender<Command<'static>>,
        Arc<Mutex<Status>>,
        Arc<Mutex<Option<String>>>,
        Intents,
    )> {
        let (tx, rx) = channel();
        let status = Arc::new(Mutex::new(Status {
            serving: l.label.clone(),
            ..Status::default()
        }));
        let ended = Arc::new(Mutex::new(None));
        let intents: Intents = Arc::default();
        let meta = RunMeta {
            format: crate::store::journal::FORMAT,
            sandbar_version: env!("CARGO_PKG_VERSION").into(),
            contract: crate::sandbox::runtime::CONTRACT.into(),
            plugin_name: l.instance.description().name.clone(),
            plugin_version: l.instance.description().version.clone(),
            sdk_version: l.instance.description().sdk_version.clone(),
            plugin_sha256: String::new(),
            params: vec![],
            risk: toml::to_string(&l.config.risk).unwrap_or_default(),
            execution: toml::to_string(&l.config.execution).unwrap_or_default(),
            sandbox: toml::to_string(&l.config.sandbox).unwrap_or_default(),
            data: vec![],
            symbols: l.rec.symbols.clone(),
            initial_cash: l.config.initial_cash,
            seed: l.config.seed,
            delivery: "per-bar".into(),
            swaps: vec![],
        };
        let journal = Journal::create(&l.journal, &meta)?;
        let controller = ServiceController {
            rx,
            status: status.clone(),
            name: l.name.clone(),
            registry: self.registry.clone(),
            last: Status::default(),
            pending: None,
        };
        let (ended2, intents2, registry, name) = (
            ended.clone(),
            intents.clone(),
            self.registry.clone(),
            l.name.clone(),
        );
        std::thread::Builder::new()
            .name(format!("deploy-{}", l.name))
            .spawn(move || {
                let Launch {
                    mut instance,
                    label,
                    config,
                    mut rec,
                    skip,
                    pace,
                    pause_drawdown,
                    evidence,
                    ..
                } = l;
                rec.bars.drain(..(skip as usize).min(rec.bars.len()));
                let cfg = EngineConfig {
                    initial_cash: config.initial_cash,
                    risk: config.risk,
                    batch_size: 1,
                    delivery: crate::sandbox::runtime::Delivery::PerBar,
                    plugin_label: label,
                    rollback_window: config.swap.rollback_window,
                    rollback_drawdown: config.swap.rollback_drawdown,
                    pause_drawdown,
                };
                let mut recorder = TeeRecorder {
                    journal,
                    intents: intents2,
                };
                let symbols = rec.symbols.clone();
                let mut feed = PacedFeed::new(rec, pace);
                let mut engine = Engine::new(
                    cfg,
                    symbols,
                    Box::new(&mut instance),
                    SimulatedVenue::new(config.execution),
                    &mut recorder,
                );
                engine.set_controller(Box::new(controller));
                let result = engine.run(&mut feed, &mut |_| {});
                let summary = match &result {
                    Ok(o) => match &o.fault {
                        Some(f) => {
                            let why = format!("faulted at bar {}: {}", f.seq, f.fault);
                            let _ = registry.transition(
                                &name,
                                Move::Pause,
                                Some(why.clone()),
                                false,
                                &GateConfig::default(),
                                "engine",
                            );
                            why
                        }
                        None => format!("finished after {} bars", o.bars),
                    },
                    Err(e) => format!("journal failed: {e}"),
                };
                if let (Ok(o), true) = (&result, evidence)
                    && let Ok(d) = registry.deployment(&name)
                    && let Some(ev) = crate::store::lifecycle::PaperEvidence::of_run(d.plugin, o)
                {
                    let _ = registry.record_paper(&name, ev, "engine");
                }
                let _ = recorder.journal.finish();
                *ended2.lock().expect("ended lock") = Some(summary);
            })?;
        Ok((tx, status, ended, intents))
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

    /// Replace the serving version at the next bar boundary.
    pub fn swap(&self, name: &str, plugin: &str, actor: &str, reason: &str) -> anyhow::Result<()> {
        require_reason("a swap", reason)?;
        let d = self.registry.deployment(name)?;
        let config = Self::run_config(&d)?;
        let symbols = self.with_run(name, |run| Ok(run.symbols.clone()))?;
        let record = self.registry.plugin(plugin)?;
        let params = carried_params(&d, &record);
        let (instance, label) = self.prepare(&record.label(), &params, &config, &symbols)?;
        self.with_run(name, |run| {
            let req = Command::Swap {
                driver: Box::new(instance),
                label,
                actor: actor.into(),
                reason: reason.into(),
                restore: true,
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
        if self.runs.lock().expect("runs lock").contains_key(name) {
            self.with_run(name, |run| {
                run.tx.send(req).ok();
                Ok(())
            })?;
        }
        Ok(stage)
    }

    /// Run a candidate beside the serving version, from the current bar on,
    /// with its own ledger and journal; it never reaches a venue.
    pub fn start_shadow(
        &self,
        name: &str,
        plugin: &str,
        data: &[PathBuf],
        actor: &str,
    ) -> anyhow::Result<()> {
        let d = self.registry.deployment(name)?;
        let config = Self::run_config(&d)?;
        let (rec, _) = crate::data::market::load(data, &LoadOptions::default())?;
        let record = self.registry.plugin(plugin)?;
        let params = carried_params(&d, &record);
        let (instance, label) = self.prepare(&record.label(), &params, &config, &rec.symbols)?;
        // Same bars, same pace, from the bar the serving version is at.
        let (from_seq, pace) = self.with_run(name, |run| {
            Ok((run.status.lock().expect("status").seq, run.pace))
        })?;
        let journal = self.config.journals.join(format!("{name}.shadow.redb"));
        let launch = Launch {
            name: format!("{name}-shadow"),
            instance,
            label: label.clone(),
            config,
            rec,
            skip: from_seq,
            pace,
            journal,
            pause_drawdown: None,
            evidence: false,
        };
        let (tx, status, ended, intents) = self.launch(launch)?;
        self.with_run(name, |run| {
            run.shadow = Some(ShadowRun {
                label: label.clone(),
                from_seq,
                tx,
                status,
                ended,
                intents,
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
            .recv_timeout(std::time::Duration::from_secs(10))
            .map_err(|_| anyhow::anyhow!("the shadow of `{name}` did not answer for its state"))?
            .map_err(|e| {
                anyhow::anyhow!("the shadow of `{name}` could not snapshot its state: {e}")
            })?;
        let d = self.registry.deployment(name)?;
        let config = Self::run_config(&d)?;
        let symbols = self.with_run(name, |run| Ok(run.symbols.clone()))?;
        let record = self.registry.plugin(&label)?;
        let (mut instance, label) = self.prepare(
            &record.label(),
            &carried_params(&d, &record),
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
                sh.tx.send(Command::Stop).ok();
            }
            let reason = format!("promote-shadow: {reason}");
            run.tx
                .send(Command::Swap {
                    driver: Box::new(instance),
                    label: label.clone(),
                    actor: actor.into(),
                    reason,
                    restore: false,
                })
                .ok();
            Ok(label.clone())
        })
    }

    /// Stop a running deployment.
    pub fn stop(&self, name: &str, actor: &str) -> anyhow::Result<()> {
        let shadow = self.with_run(name, |run| {
            run.tx.send(Command::Stop).ok();
            Ok(run.shadow.take().map(|sh| {
                sh.tx.send(Command::Stop).ok();
                sh.label
            }))
        })?;
        if let Some(label) = shadow {
            self.registry.note(name, actor, "shadow-stop", &label)?;
        }
        self.registry.note(name, actor, "stop", "")?;
        Ok(())
    }

    /// A deployment's status.
    pub fn status(&self, name: &str) -> anyhow::Result<DeploymentStatus> {
        let runs = self.runs.lock().expect("runs lock");
        let run = runs
            .get(name)
            .with_context(|| format!("deployment `{name}` has not been started"))?;
        let s = run.status.lock().expect("status").clone();
        let ended = run.ended.lock().expect("ended").clone();
        Ok(DeploymentStatus {
            name: name.into(),
            seq: s.seq,
            serving: s.serving,
            standby: s.standby,
            equity: s.equity,
            paused: s.paused,
            running: ended.is_none(),
            ended,
            shadow: run.shadow.as_ref().map(|sh| sh.label.clone()),
            journal: run.journal.clone(),
        })
    }
}
