//! Continuing a faulted deployment: the operator decides how its run goes on
//! past the fault — skip the faulting call, or put another version of the
//! same plugin in service — and the decision is journaled, so the run never
//! diverges from its journal (see [`crate::engine::AfterFault`]).
//!
//! A faulted run has ended; its journal ends with the `fault` entry. Started
//! again without a decision it would re-execute into the same fault, so a
//! plain start is refused naming the way on. With a decision, the start
//! re-executes the journal, carries the decision out at the fault, journals
//! it, and trades on from the live feed. Decisions already journaled are
//! carried out again by every later re-execution (after a `kill -9`, a
//! restart of the service).

use anyhow::{Context, bail};

use super::commands::require_reason;
use super::controller::Loader;
use super::run::Fixed;
use super::{DeploymentStatus, Service, metrics, plan};
use crate::engine::{AfterFault, StrategyDriver};
use crate::lifecycle::{GateConfig, Move, Stage};
use crate::store::journal::{CommandAction, Entry, Resumed};
use prometheus_client::metrics::histogram::Histogram;

/// An operator's decision on the fault a journal ends with.
pub(super) struct Decision {
    pub(super) version: Option<String>,
    pub(super) actor: String,
    pub(super) reason: String,
}

impl Service {
    /// Start a faulted deployment again (`POST /deployments/{name}/continue`),
    /// going on past its fault: with `plugin` (`name@version` of the same
    /// plugin), that version is restored from the state the faulting one
    /// had before the faulting call and takes the faulting bar; without, the
    /// faulting version itself goes on, skipping the faulting call.
    pub fn continue_after_fault(
        &self,
        name: &str,
        plugin: Option<&str>,
        actor: &str,
        reason: &str,
    ) -> anyhow::Result<DeploymentStatus> {
        require_reason("continuing after a fault", reason)?;
        let d = self.registry.deployment(name)?;
        if self.is_running(name) {
            bail!("deployment `{name}` is running: only a run that ended on a fault can continue");
        }
        let version = match plugin {
            None => None,
            Some(p) => Some(self.own_plugin(&d, p)?.label()),
        };
        let decision = Decision {
            version,
            actor: actor.into(),
            reason: reason.into(),
        };
        // The feed the journal was written for, unless the configuration
        // names the deployment (then its entry, checked against the journal).
        // A spec other than the journal's is refused at the start.
        let ended = self
            .runs
            .lock()
            .expect("runs lock")
            .get(name)
            .map(|r| r.spec.clone());
        let spec = if self.config.deployments.iter().any(|c| c.name == name) {
            None
        } else if ended.is_some() {
            // The ended run (which still holds its journal) ran on it.
            ended
        } else {
            let path = plan::journal_path(&self.config.journals, name, plan::is_live(&d)?);
            if !path.exists() {
                bail!("deployment `{name}` has no journal: it has not faulted");
            }
            let meta = crate::store::journal::JournalReader::open(&path)?.meta()?;
            let fixed: Fixed = toml::from_str(&meta.service).with_context(|| {
                format!(
                    "journal {} was not written by a service deployment",
                    path.display()
                )
            })?;
            Some(fixed.feed)
        };
        let status = self.start_deciding(name, spec, actor, Some(decision))?;
        if d.stage == Stage::Paused {
            self.registry.transition(
                name,
                Move::Resume,
                Some(format!("continue after the fault: {reason}")),
                false,
                &GateConfig::default(),
                actor,
            )?;
        }
        Ok(status)
    }
}

/// What the engine must do at the journal's faults: the decisions the
/// journal holds, and `decision` for the fault it ends with. A journal that
/// ends with a fault needs a decision; a decision needs such a fault.
pub(super) fn plans(
    name: &str,
    resumed: &Resumed,
    decision: Option<Decision>,
    load: &Loader,
    histogram: &Histogram,
) -> anyhow::Result<Vec<AfterFault<'static>>> {
    let mut plans = Vec::new();
    let mut decided = Vec::new();
    for e in &resumed.commands {
        if let Entry::Command {
            seq,
            action: CommandAction::AfterFault { version, .. },
            actor,
            reason,
        } = e
        {
            decided.push(*seq);
            plans.push(plan(
                *seq,
                Some(version.clone()),
                actor,
                reason,
                load,
                histogram,
            ));
        }
    }
    // Every fault but one decided at its bar is the last thing that run did.
    let undecided = resumed.faults.iter().copied().filter(|f| {
        let decisions = decided.iter().filter(|d| *d == f).count();
        let faults = resumed.faults.iter().filter(|g| *g == f).count();
        faults > decisions
    });
    let undecided: Vec<u64> = undecided.collect();
    match (undecided.last(), decision) {
        (None, None) => {}
        (Some(&at), Some(d)) if !decided.contains(&at) => {
            plans.push(plan(at, d.version, &d.actor, &d.reason, load, histogram));
        }
        (Some(&at), Some(_)) => bail!(
            "deployment `{name}` faulted at bar {at} again after a decision at that bar; \
             its journal cannot go on past it"
        ),
        (Some(at), None) => bail!(
            "deployment `{name}` faulted at bar {at}, and its journal would fault there again: \
             go on with `sandbar deploy continue {name} --reason …` (skips the faulting call) \
             or `--plugin <name@version>` (another version takes the faulting bar)"
        ),
        (None, Some(_)) => {
            bail!("deployment `{name}` has no fault to go on past: start it as usual")
        }
    }
    Ok(plans)
}

fn plan(
    at_seq: u64,
    version: Option<String>,
    actor: &str,
    reason: &str,
    load: &Loader,
    histogram: &Histogram,
) -> AfterFault<'static> {
    let (load, histogram) = (load.clone(), histogram.clone());
    AfterFault {
        at_seq,
        version,
        load: Box::new(move |label: &str| {
            let inner = load(label, None).map_err(|e| format!("{e:#}"))?;
            Ok(Box::new(metrics::Timed { inner, histogram }) as Box<dyn StrategyDriver>)
        }),
        actor: actor.into(),
        reason: reason.into(),
    }
}
