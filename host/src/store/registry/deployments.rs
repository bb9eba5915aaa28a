//! Deployments: created, read, moved along the lifecycle, their versions recorded.

use super::*;

impl Registry {
    /// Every deployment.
    pub fn deployments(&self) -> Result<Vec<Deployment>, RegistryError> {
        self.read(DEPLOYMENTS)
    }

    /// One deployment.
    pub fn deployment(&self, name: &str) -> Result<Deployment, RegistryError> {
        self.deployments()?
            .into_iter()
            .find(|d| d.name == name)
            .ok_or_else(|| RegistryError::NotFound {
                what: "deployment",
                name: name.into(),
            })
    }

    /// Read, change and store a deployment and its audit line in *one*
    /// write transaction: two changes at once (the engine pausing on
    /// drawdown while an operator resumes) are serialised by redb, and the
    /// second sees what the first wrote instead of overwriting it. `f`
    /// returns what to answer and the audit line; `None` changes nothing.
    pub(super) fn modify<T>(
        &self,
        name: &str,
        actor: &str,
        f: impl FnOnce(&mut Deployment) -> Result<(T, Option<AuditLine>), RegistryError>,
    ) -> Result<T, RegistryError> {
        let tx = self.db.begin_write().map_err(|e| self.e(e))?;
        let mut d: Deployment = {
            let t = tx.open_table(DEPLOYMENTS).map_err(|e| self.e(e))?;
            let v = t
                .get(name)
                .map_err(|e| self.e(e))?
                .ok_or_else(|| RegistryError::NotFound {
                    what: "deployment",
                    name: name.into(),
                })?;
            serde_json::from_str(v.value()).map_err(|e| self.e(e))?
        };
        let (answer, line) = f(&mut d)?;
        if let Some(l) = line {
            self.put(&tx, &d)?;
            self.audit(
                &tx, actor, l.action, &d.name, l.from, l.to, l.reason, l.forced,
            )?;
            tx.commit().map_err(|e| self.e(e))?;
        }
        Ok(answer)
    }

    pub(super) fn put(
        &self,
        tx: &redb::WriteTransaction,
        d: &Deployment,
    ) -> Result<(), RegistryError> {
        let json = serde_json::to_string(d).map_err(|e| self.e(e))?;
        tx.open_table(DEPLOYMENTS)
            .map_err(|e| self.e(e))?
            .insert(d.name.as_str(), json.as_str())
            .map_err(|e| self.e(e))?;
        Ok(())
    }

    /// Create a deployment in DRAFT; parameters are checked against the version.
    #[allow(clippy::too_many_arguments)]
    pub fn create_deployment(
        &self,
        name: &str,
        plugin: &str,
        params: &[String],
        symbols: Vec<String>,
        capital: f64,
        risk: Vec<String>,
        actor: &str,
    ) -> Result<Deployment, RegistryError> {
        super::validate::name("name", name)?;
        super::validate::positive("capital", capital)?;
        super::validate::symbols("symbols", &symbols)?;
        if self.deployment(name).is_ok() {
            return Err(RegistryError::DeploymentExists(name.into()));
        }
        let record = self.plugin(plugin)?;
        let resolved = crate::sandbox::params::resolve(&record.description(), params)?;
        let d = Deployment {
            name: name.into(),
            plugin: record.label(),
            params: resolved
                .iter()
                .map(|(k, v)| format!("{k}={}", crate::sandbox::params::display(v)))
                .collect(),
            symbols,
            capital,
            risk,
            stage: Stage::Draft,
            paused_from: None,
            stage_since: now(),
            backtest: None,
            paper: None,
        };
        // Checked again inside the write: two creates at once make one deployment.
        let tx = self.db.begin_write().map_err(|e| self.e(e))?;
        if tx
            .open_table(DEPLOYMENTS)
            .map_err(|e| self.e(e))?
            .get(name)
            .map_err(|e| self.e(e))?
            .is_some()
        {
            return Err(RegistryError::DeploymentExists(name.into()));
        }
        self.put(&tx, &d)?;
        self.audit(
            &tx,
            actor,
            "deploy-create",
            &d.name,
            None,
            Some(format!("{} {}", Stage::Draft, d.plugin)),
            None,
            false,
        )?;
        tx.commit().map_err(|e| self.e(e))?;
        Ok(d)
    }

    /// Move a deployment along the lifecycle. Promotions out of TESTING and
    /// PAPER pass their gate or need `force` with a reason; pause and resume
    /// need a reason. Returns the new stage and the gate's report, if any.
    pub fn transition(
        &self,
        name: &str,
        mv: Move,
        reason: Option<String>,
        force: bool,
        gates: &GateConfig,
        actor: &str,
    ) -> Result<(Stage, Option<Readiness>), RegistryError> {
        // Confirmations are only ever added: read before the change.
        let confirmations = if mv == Move::Promote {
            self.confirmations(name)?
        } else {
            vec![]
        };
        self.modify(name, actor, |d| {
            let to = lifecycle::next(d.stage, mv, d.paused_from)?;
            // A blank reason is no reason: the audit trail must say why.
            let reason = reason.filter(|r| !r.trim().is_empty());
            let action = match mv {
                Move::Promote => "promote",
                Move::Pause => "pause",
                Move::Resume => "resume",
                Move::Deprecate => "deprecate",
            };
            if matches!(mv, Move::Pause | Move::Resume) && reason.is_none() {
                return Err(RegistryError::ReasonRequired(action));
            }
            let mut readiness = None;
            if mv == Move::Promote && matches!(d.stage, Stage::Testing | Stage::Paper) {
                let r = lifecycle::gate(
                    d.stage,
                    gates,
                    d.backtest.as_ref(),
                    d.paper.as_ref(),
                    &d.plugin,
                );
                if !r.ready() && !force {
                    return Err(RegistryError::NotReady {
                        name: name.into(),
                        readiness: r,
                    });
                }
                readiness = Some(r);
            }
            // Going LIVE binds the pre-live checklist too: every item
            // measured or confirmed for this version, or an audited override.
            let mut overridden = Vec::new();
            if mv == Move::Promote && to == Stage::Live {
                let open = self.open_items(d, gates, &confirmations)?;
                if !open.is_empty() && !force {
                    return Err(RegistryError::ChecklistOpen {
                        name: name.into(),
                        open,
                    });
                }
                overridden = open;
            }
            if force && reason.is_none() {
                return Err(RegistryError::ReasonRequired("--force"));
            }
            let forced =
                force && (readiness.as_ref().is_some_and(|r| !r.ready()) || !overridden.is_empty());
            let reason = match reason {
                Some(r) if !overridden.is_empty() => Some(format!(
                    "{r} (pre-live checklist overridden; open: {})",
                    overridden.join(", ")
                )),
                r => r,
            };
            let from = d.stage;
            d.paused_from = if to == Stage::Paused {
                Some(from)
            } else {
                None
            };
            d.stage = to;
            d.stage_since = now();
            let line = AuditLine {
                action,
                from: Some(from.to_string()),
                to: Some(to.to_string()),
                reason,
                forced,
            };
            Ok(((to, readiness), Some(line)))
        })
    }

    /// The ids of the pre-live checklist items `d` has open for its
    /// version under `gates` (the same list `deploy checklist` prints).
    pub(super) fn open_items(
        &self,
        d: &Deployment,
        gates: &GateConfig,
        confirmations: &[lifecycle::Confirmation],
    ) -> Result<Vec<String>, RegistryError> {
        Ok(self
            .checklist_of(d, gates, confirmations)?
            .into_iter()
            .filter(|i| !i.done)
            .map(|i| i.id.to_string())
            .collect())
    }

    /// The pre-live checklist of `d` under `gates`.
    pub(super) fn checklist_of(
        &self,
        d: &Deployment,
        gates: &GateConfig,
        confirmations: &[lifecycle::Confirmation],
    ) -> Result<Vec<lifecycle::ChecklistItem>, RegistryError> {
        let risk = crate::risk::with_overrides(&d.risk).map_err(|e| RegistryError::BadValue {
            field: format!("deployment `{}` risk", d.name),
            value: d.risk.join(" "),
            why: e,
        })?;
        Ok(lifecycle::checklist(
            &d.plugin,
            d.backtest.as_ref(),
            d.paper.as_ref(),
            &risk,
            gates,
            confirmations,
        ))
    }

    /// The pre-live checklist of deployment `name` under `gates`.
    pub fn checklist(
        &self,
        name: &str,
        gates: &GateConfig,
    ) -> Result<Vec<lifecycle::ChecklistItem>, RegistryError> {
        let d = self.deployment(name)?;
        self.checklist_of(&d, gates, &self.confirmations(name)?)
    }

    /// The version a deployment now runs (after a swap or rollback).
    pub fn record_version(
        &self,
        name: &str,
        label: &str,
        actor: &str,
        reason: &str,
    ) -> Result<(), RegistryError> {
        self.modify(name, actor, |d| {
            if d.plugin == label {
                return Ok(((), None));
            }
            let from = std::mem::replace(&mut d.plugin, label.into());
            let line = AuditLine {
                action: "version",
                from: Some(from),
                to: Some(label.into()),
                reason: (!reason.is_empty()).then(|| reason.to_string()),
                forced: false,
            };
            Ok(((), Some(line)))
        })
    }

    /// The version a deployment ran before its current one, if it changed.
    pub fn previous_version(&self, name: &str) -> Result<Option<String>, RegistryError> {
        let current = self.deployment(name)?.plugin;
        Ok(self
            .audit_trail(Some(name))?
            .into_iter()
            .rev()
            .find(|e| e.action == "version" && e.to.as_deref() == Some(current.as_str()))
            .and_then(|e| e.from))
    }
}
