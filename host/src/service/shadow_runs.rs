//! Shadow runs: a candidate version fed the same bars as a running
//! deployment, its divergence reported, and its promotion to the
//! deployment's version.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};

use super::commands::{carried_params, require_reason};
use super::run::*;
use super::shadow::{Divergence, Summary};
use super::{Service, metrics, shadow};
use crate::engine::{Command, Status};
use crate::store::journal::{Entry, Journal, RunMeta};

impl Service {
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
            // Keep the serving run's intents from now (before its bar
            // count is read: none from the shadow's first bar is missed).
            run.intents.lock().expect("intents").keep(true);
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
            freshness: live.freshness().map(|f| (f, spec.feed.clone())),
            after_fault: Vec::new(),
            fault_causes: Vec::new(),
            // Intents are compared before any session drops them.
            session: None,
            broker: None,
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
                .entries
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
            let candidate_intents = sh.intents.lock().expect("intents").entries.clone();
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
                run.intents.lock().expect("intents").keep(false);
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
}
