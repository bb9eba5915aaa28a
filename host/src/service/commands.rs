//! Operator commands on running deployments and on the registry: swap,
//! rollback, pause, flatten, the kill switch, stop, create, promote. Each
//! needs a reason where the audit trail must say why, and becomes an
//! engine command applied at the next bar boundary.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};

use super::run::*;
use super::types::*;
use super::{Service, metrics, monitor, runner};
use crate::engine::Command;
use crate::engine::replay::RunConfig;
use crate::lifecycle::{GateConfig, Move, Stage};
use crate::store::registry::Deployment;

/// The audit trail and the journal must say why: a blank reason is refused.
pub(super) fn require_reason(what: &str, reason: &str) -> anyhow::Result<()> {
    if reason.trim().is_empty() {
        bail!("{what} needs a reason");
    }
    Ok(())
}

/// The deployment's parameters that the new version also declares.
pub(super) fn carried_params(
    params: &[String],
    record: &crate::store::registry::PluginRecord,
) -> Vec<String> {
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

impl Service {
    pub(super) fn with_run<T>(
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

    /// `plugin` (`name@version`), which must be a version of the plugin
    /// `d` runs: a deployment never changes plugins.
    pub(super) fn own_plugin(
        &self,
        d: &crate::store::registry::Deployment,
        plugin: &str,
    ) -> anyhow::Result<crate::store::registry::PluginRecord> {
        let record = self.registry.plugin(plugin)?;
        let own = d.plugin.split('@').next().unwrap_or_default();
        if record.name != own {
            bail!(
                "deployment `{}` runs plugin `{own}`; {} is another plugin (create a new deployment for it)",
                d.name,
                record.label()
            );
        }
        Ok(record)
    }

    /// Replace the serving version at the next bar boundary. The version
    /// must be one of the deployment's own plugin.
    pub fn swap(&self, name: &str, plugin: &str, actor: &str, reason: &str) -> anyhow::Result<()> {
        require_reason("a swap", reason)?;
        let d = self.registry.deployment(name)?;
        let record = self.own_plugin(&d, plugin)?;
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
        // A LIVE run flattens now, bar or no bar, as the kill switch does
        // for it alone: its courier cancels every order at the venue, and
        // the engine, woken, journals it, closes every position with market
        // orders and pauses. Other runs flatten at their next bar.
        self.with_run(name, |run| {
            match &run.venue {
                Some(v) => {
                    v.kill.cancel_all();
                    v.switch.pull(actor, &format!("flatten: {reason}"));
                    (run.slot.waker())();
                }
                None => {
                    run.tx
                        .send(Command::Flatten {
                            actor: actor.into(),
                            reason: reason.into(),
                        })
                        .ok();
                }
            }
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
                a.raise(monitor::Raise::new(
                    monitor::Level::Critical,
                    monitor::Rule::KillSwitch,
                    &name,
                    &version,
                    format!("kill switch by {actor}: {reason}; flattening and pausing"),
                ));
            }
            reached.push(name);
        }
        Ok(reached)
    }

    pub(super) fn is_running(&self, name: &str) -> bool {
        self.runs
            .lock()
            .expect("runs lock")
            .get(name)
            .is_some_and(|r| r.ended.lock().expect("ended").is_none())
    }

    /// Stop a running deployment: it finishes the bar in flight, snapshots
    /// its strategy and commits its journal. Returns once it has.
    pub fn stop(&self, name: &str, actor: &str) -> anyhow::Result<()> {
        let (shadow, slot) = self.with_run(name, |run| {
            run.intents.lock().expect("intents").keep(false);
            Ok((run.shadow.take(), run.slot.clone()))
        })?;
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
    /// snapshotting and committing its journal. LIVE runs leave their
    /// orders at the venue: the next start looks them up (a deployment
    /// stopped on its own, or a run that ends on a fault, cancels them).
    pub fn shutdown(&self) {
        let slots: Vec<Arc<runner::Slot>> = {
            let runs = self.runs.lock().expect("runs lock");
            for v in runs.values().filter_map(|r| r.venue.as_ref()) {
                v.keep_orders.store(true, Ordering::SeqCst);
            }
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

    /// Create a deployment in DRAFT (parameters checked against the
    /// version, risk overrides against the risk limits).
    pub fn create(&self, c: &CreateRequest, actor: &str) -> anyhow::Result<Deployment> {
        // Name, capital and symbols are checked by the registry (one rule
        // for the CLI and the API).
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
            &self.config.gates,
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
            a.raise(monitor::Raise::new(
                monitor::Level::Info,
                monitor::Rule::Promotion,
                name,
                &version,
                format!("promoted from {from} to {stage} by {actor}{forced}{why}"),
            ));
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
}
