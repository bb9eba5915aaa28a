//! The registry: plugin versions and deployments, in redb.
//!
//! Plugin bytes are stored content-addressed by SHA-256; a record per
//! `name@version` points at them. A version is validated against the
//! contract before it is accepted, and its bytes can never change: adding the
//! same bytes again is a no-op, different bytes under an existing
//! `name@version` are refused. Deployments name a version and move through
//! the [`lifecycle`](crate::lifecycle). Every change is one write
//! transaction that also appends an [`AuditEntry`] (time, actor, action,
//! from, to, reason), so the audit trail can never miss a change.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::lifecycle::{self, BacktestEvidence, GateConfig, Move, PaperEvidence, Readiness, Stage};
use crate::sandbox::runtime::{
    self, DeclaredDelivery, Description, ParamSpec, ParamType, ParamValue, Runtime,
};

const BLOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("blobs");
const PLUGINS: TableDefinition<&str, &str> = TableDefinition::new("plugins");
const DEPLOYMENTS: TableDefinition<&str, &str> = TableDefinition::new("deployments");
const AUDIT: TableDefinition<u64, &str> = TableDefinition::new("audit");

/// A declared parameter, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamInfo {
    /// Name.
    pub name: String,
    /// `integer`, `float`, `boolean` or `text`.
    pub ty: String,
    /// Default, as text.
    pub default: String,
    /// Lower bound.
    pub min: Option<f64>,
    /// Upper bound.
    pub max: Option<f64>,
    /// Documentation.
    pub doc: String,
}

/// One registered plugin version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginRecord {
    /// Name from `describe`.
    pub name: String,
    /// Semantic version from `describe`.
    pub version: String,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// SDK version it was built with.
    pub sdk_version: String,
    /// Contract it implements.
    pub contract: String,
    /// `per-bar` or `batched`.
    pub delivery: String,
    /// Declared parameters.
    pub params: Vec<ParamInfo>,
    /// When it was added (UTC, RFC 3339).
    pub added_at: String,
    /// Who added it.
    pub added_by: String,
    /// Optional note.
    pub note: Option<String>,
}

impl PluginRecord {
    /// `name@version`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// The description, rebuilt for parameter resolution.
    pub fn description(&self) -> Description {
        let parse_ty = |t: &str| crate::sandbox::params::parse_type(t).unwrap_or(ParamType::Text);
        let value = |ty: ParamType, text: &str| match ty {
            ParamType::Integer => ParamValue::Integer(text.parse().unwrap_or_default()),
            ParamType::Float => ParamValue::Float(text.parse().unwrap_or_default()),
            ParamType::Boolean => ParamValue::Boolean(text == "true"),
            ParamType::Text => ParamValue::Text(text.into()),
        };
        Description {
            name: self.name.clone(),
            version: self.version.clone(),
            sdk_version: self.sdk_version.clone(),
            params: self
                .params
                .iter()
                .map(|p| {
                    let ty = parse_ty(&p.ty);
                    ParamSpec {
                        name: p.name.clone(),
                        type_: ty,
                        default: value(ty, &p.default),
                        min: p.min,
                        max: p.max,
                        doc: p.doc.clone(),
                    }
                })
                .collect(),
            delivery: if self.delivery == "batched" {
                DeclaredDelivery::Batched
            } else {
                DeclaredDelivery::PerBar
            },
        }
    }
}

/// A named deployment of a plugin version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// Deployment name.
    pub name: String,
    /// `name@version` of the plugin it runs.
    pub plugin: String,
    /// Resolved parameters, `name=value`.
    pub params: Vec<String>,
    /// Symbols it trades.
    pub symbols: Vec<String>,
    /// Capital allocated.
    pub capital: f64,
    /// Risk overrides, `key=value` (as `--set risk.key=value`).
    pub risk: Vec<String>,
    /// Lifecycle stage.
    pub stage: Stage,
    /// The stage it was paused from, while PAUSED.
    pub paused_from: Option<Stage>,
    /// When it entered its current stage (UTC, RFC 3339).
    pub stage_since: String,
    /// Evidence for the TESTING → PAPER gate.
    pub backtest: Option<BacktestEvidence>,
    /// Evidence for the PAPER → LIVE gate (from paper trading).
    pub paper: Option<PaperEvidence>,
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the trail.
    pub seq: u64,
    /// UTC, RFC 3339.
    pub time: String,
    /// Who (`cli:<user>` or an API token name).
    pub actor: String,
    /// What (`plugin-add`, `promote`, `pause`, …).
    pub action: String,
    /// `name@version` or deployment name.
    pub subject: String,
    /// Previous state or version.
    pub from: Option<String>,
    /// New state or version.
    pub to: Option<String>,
    /// Why, as given.
    pub reason: Option<String>,
    /// A gate was overridden with `--force`.
    pub forced: bool,
}

/// Registry errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Another process holds the registry (a running `sandbar serve`).
    #[error(
        "registry {path} is in use by another process (a running `sandbar serve`?): send the command to the service with --server URL, or stop the service first"
    )]
    Locked {
        /// File.
        path: PathBuf,
    },
    /// The store failed.
    #[error("registry {path}: {message}")]
    Storage {
        /// File.
        path: PathBuf,
        /// Cause.
        message: String,
    },
    /// The plugin does not load or does not describe itself properly.
    #[error("rejected: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Different bytes under an existing version.
    #[error(
        "{label} is already registered with different bytes (sha256 {existing}); bump the version"
    )]
    VersionTaken {
        /// `name@version`.
        label: String,
        /// The registered hash.
        existing: String,
    },
    /// Nothing by that name.
    #[error("no {what} `{name}` in the registry")]
    NotFound {
        /// `plugin` or `deployment`.
        what: &'static str,
        /// What was asked for.
        name: String,
    },
    /// A version in use cannot be removed.
    #[error("{label} is used by deployment(s) {deployments}; deprecate them first")]
    InUse {
        /// `name@version`.
        label: String,
        /// Names.
        deployments: String,
    },
    /// A deployment of that name exists.
    #[error("deployment `{0}` already exists")]
    DeploymentExists(String),
    /// What the deployment's records do not allow, said in full.
    #[error("{0}")]
    Refused(String),
    /// The lifecycle does not allow the move.
    #[error(transparent)]
    Illegal(#[from] lifecycle::IllegalMove),
    /// The gate refused; the report says why.
    #[error("{name} is not ready for {}:\n{}", readiness.gate, readiness.table())]
    NotReady {
        /// Deployment.
        name: String,
        /// The report.
        readiness: Readiness,
    },
    /// A required reason is missing.
    #[error("{0} needs a reason (--reason)")]
    ReasonRequired(&'static str),
    /// Bad parameters for the version.
    #[error(transparent)]
    Params(#[from] crate::sandbox::params::ParamError),
}

/// The registry file.
pub struct Registry {
    db: Database,
    path: PathBuf,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Check what `describe` returned is well formed.
fn check_description(d: &Description) -> Result<(), String> {
    if d.name.is_empty() || d.name.contains(['@', '/', ' ']) {
        return Err(format!(
            "name {:?} must be non-empty without '@', '/' or spaces",
            d.name
        ));
    }
    semver::Version::parse(&d.version)
        .map_err(|e| format!("version {:?} is not semantic versioning: {e}", d.version))?;
    runtime::check_sdk_version(&d.sdk_version)?;
    let mut seen = std::collections::HashSet::new();
    for p in &d.params {
        if p.name.is_empty() || !seen.insert(p.name.as_str()) {
            return Err(format!(
                "parameter name {:?} is empty or declared twice",
                p.name
            ));
        }
        let default = match (&p.default, p.type_) {
            (ParamValue::Integer(i), ParamType::Integer) => Some(*i as f64),
            (ParamValue::Float(f), ParamType::Float) => Some(*f),
            (ParamValue::Boolean(_), ParamType::Boolean)
            | (ParamValue::Text(_), ParamType::Text) => None,
            _ => {
                return Err(format!(
                    "parameter `{}`: default is not a {}",
                    p.name,
                    crate::sandbox::params::type_name(p.type_)
                ));
            }
        };
        if let (Some(min), Some(max)) = (p.min, p.max)
            && (min > max || min.is_nan() || max.is_nan())
        {
            return Err(format!(
                "parameter `{}`: min {min} is above max {max}",
                p.name
            ));
        }
        if let Some(v) = default
            && (p.min.is_some_and(|m| v < m) || p.max.is_some_and(|m| v > m) || !v.is_finite())
        {
            return Err(format!(
                "parameter `{}`: default {v} is outside its own range",
                p.name
            ));
        }
    }
    Ok(())
}

/// An audit line written with a change.
struct AuditLine {
    action: &'static str,
    from: Option<String>,
    to: Option<String>,
    reason: Option<String>,
    forced: bool,
}

impl AuditLine {
    fn of(action: &'static str, to: String) -> Option<AuditLine> {
        Some(AuditLine {
            action,
            from: None,
            to: Some(to),
            reason: None,
            forced: false,
        })
    }
}

impl Registry {
    /// Open (or create) a registry file.
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Self::err(path, e))?;
        }
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => RegistryError::Locked {
                path: path.to_path_buf(),
            },
            e => Self::err(path, e),
        })?;
        let r = Self {
            db,
            path: path.to_path_buf(),
        };
        let tx = r.db.begin_write().map_err(|e| r.e(e))?;
        tx.open_table(BLOBS).map_err(|e| r.e(e))?;
        tx.open_table(PLUGINS).map_err(|e| r.e(e))?;
        tx.open_table(DEPLOYMENTS).map_err(|e| r.e(e))?;
        tx.open_table(AUDIT).map_err(|e| r.e(e))?;
        tx.commit().map_err(|e| r.e(e))?;
        Ok(r)
    }

    fn err(path: &Path, e: impl std::fmt::Display) -> RegistryError {
        RegistryError::Storage {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }

    fn e(&self, e: impl std::fmt::Display) -> RegistryError {
        Self::err(&self.path, e)
    }

    /// Validate and add a plugin file. Returns the record and whether it was
    /// already there (same bytes: a no-op).
    pub fn add_plugin(
        &self,
        rt: &Runtime,
        file: &Path,
        note: Option<String>,
        actor: &str,
    ) -> Result<(PluginRecord, bool), RegistryError> {
        let invalid = |message: String| RegistryError::Invalid {
            path: file.to_path_buf(),
            message,
        };
        let bytes = std::fs::read(file).map_err(|e| invalid(format!("cannot read: {e}")))?;
        let plugin = rt
            .load_bytes(file, &bytes)
            .map_err(|e| invalid(e.to_string()))?;
        let mut inst = rt
            .instantiate(&plugin, Default::default(), 0)
            .map_err(|e| invalid(format!("plugin {}: describe failed: {e}", file.display())))?;
        let d = inst.description().clone();
        check_description(&d).map_err(|e| invalid(format!("plugin {}: {e}", file.display())))?;
        inst.init_with_defaults().map_err(|e| {
            invalid(format!(
                "plugin {}: rejects its own default parameters: {e}",
                file.display()
            ))
        })?;
        let sha256 = crate::digest::hex(&Sha256::digest(&bytes));
        let record = PluginRecord {
            name: d.name.clone(),
            version: d.version.clone(),
            sha256: sha256.clone(),
            size: bytes.len() as u64,
            sdk_version: d.sdk_version.clone(),
            contract: plugin.contract().into(),
            delivery: runtime::declared_name(d.delivery).into(),
            params: d
                .params
                .iter()
                .map(|p| ParamInfo {
                    name: p.name.clone(),
                    ty: crate::sandbox::params::type_name(p.type_).into(),
                    default: crate::sandbox::params::display(&p.default),
                    min: p.min,
                    max: p.max,
                    doc: p.doc.clone(),
                })
                .collect(),
            added_at: now(),
            added_by: actor.into(),
            note,
        };
        let label = record.label();
        let tx = self.db.begin_write().map_err(|e| self.e(e))?;
        {
            let mut plugins = tx.open_table(PLUGINS).map_err(|e| self.e(e))?;
            if let Some(existing) = plugins.get(label.as_str()).map_err(|e| self.e(e))? {
                let existing: PluginRecord =
                    serde_json::from_str(existing.value()).map_err(|e| self.e(e))?;
                return if existing.sha256 == sha256 {
                    Ok((existing, true))
                } else {
                    Err(RegistryError::VersionTaken {
                        label,
                        existing: existing.sha256,
                    })
                };
            }
            let json = serde_json::to_string(&record).map_err(|e| self.e(e))?;
            plugins
                .insert(label.as_str(), json.as_str())
                .map_err(|e| self.e(e))?;
            tx.open_table(BLOBS)
                .map_err(|e| self.e(e))?
                .insert(sha256.as_str(), bytes.as_slice())
                .map_err(|e| self.e(e))?;
        }
        self.audit(
            &tx,
            actor,
            "plugin-add",
            &label,
            None,
            Some(format!("sha256:{sha256}")),
            record.note.clone(),
            false,
        )?;
        tx.commit().map_err(|e| self.e(e))?;
        Ok((record, false))
    }

    #[allow(clippy::too_many_arguments)]
    fn audit(
        &self,
        tx: &redb::WriteTransaction,
        actor: &str,
        action: &str,
        subject: &str,
        from: Option<String>,
        to: Option<String>,
        reason: Option<String>,
        forced: bool,
    ) -> Result<(), RegistryError> {
        let mut t = tx.open_table(AUDIT).map_err(|e| self.e(e))?;
        let seq = t
            .last()
            .map_err(|e| self.e(e))?
            .map_or(0, |(k, _)| k.value() + 1);
        let entry = AuditEntry {
            seq,
            time: now(),
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            from,
            to,
            reason,
            forced,
        };
        let json = serde_json::to_string(&entry).map_err(|e| self.e(e))?;
        t.insert(seq, json.as_str()).map_err(|e| self.e(e))?;
        Ok(())
    }

    fn read<T: serde::de::DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &str>,
    ) -> Result<Vec<T>, RegistryError> {
        let tx = self.db.begin_read().map_err(|e| self.e(e))?;
        let t = tx.open_table(table).map_err(|e| self.e(e))?;
        let mut out = Vec::new();
        for item in t.iter().map_err(|e| self.e(e))? {
            let (_, v) = item.map_err(|e| self.e(e))?;
            out.push(serde_json::from_str(v.value()).map_err(|e| self.e(e))?);
        }
        Ok(out)
    }

    /// Every plugin version, by name then version order.
    pub fn plugins(&self) -> Result<Vec<PluginRecord>, RegistryError> {
        let mut all: Vec<PluginRecord> = self.read(PLUGINS)?;
        all.sort_by(|a, b| {
            let v = |r: &PluginRecord| semver::Version::parse(&r.version).ok();
            (a.name.as_str(), v(a)).cmp(&(b.name.as_str(), v(b)))
        });
        Ok(all)
    }

    /// `name@version`, or the newest version of `name`.
    pub fn plugin(&self, spec: &str) -> Result<PluginRecord, RegistryError> {
        let all = self.plugins()?;
        let found = match spec.split_once('@') {
            Some(_) => all.into_iter().find(|r| r.label() == spec),
            None => all.into_iter().rev().find(|r| r.name == spec),
        };
        found.ok_or_else(|| RegistryError::NotFound {
            what: "plugin",
            name: spec.into(),
        })
    }

    /// The component bytes of a version.
    pub fn plugin_bytes(&self, record: &PluginRecord) -> Result<Vec<u8>, RegistryError> {
        let tx = self.db.begin_read().map_err(|e| self.e(e))?;
        let t = tx.open_table(BLOBS).map_err(|e| self.e(e))?;
        let v = t
            .get(record.sha256.as_str())
            .map_err(|e| self.e(e))?
            .ok_or_else(|| {
                self.e(format!(
                    "blob {} of {} is missing",
                    record.sha256,
                    record.label()
                ))
            })?;
        Ok(v.value().to_vec())
    }

    /// Remove a version; refused while a deployment that is not DEPRECATED uses it.
    pub fn remove_plugin(&self, label: &str, actor: &str) -> Result<(), RegistryError> {
        let record = self.plugin(label)?;
        let label = record.label();
        let users: Vec<String> = self
            .deployments()?
            .into_iter()
            .filter(|d| d.plugin == label && d.stage != Stage::Deprecated)
            .map(|d| d.name)
            .collect();
        if !users.is_empty() {
            return Err(RegistryError::InUse {
                label,
                deployments: users.join(", "),
            });
        }
        let shared = self
            .plugins()?
            .iter()
            .any(|r| r.sha256 == record.sha256 && r.label() != label);
        let tx = self.db.begin_write().map_err(|e| self.e(e))?;
        tx.open_table(PLUGINS)
            .map_err(|e| self.e(e))?
            .remove(label.as_str())
            .map_err(|e| self.e(e))?;
        if !shared {
            tx.open_table(BLOBS)
                .map_err(|e| self.e(e))?
                .remove(record.sha256.as_str())
                .map_err(|e| self.e(e))?;
        }
        self.audit(
            &tx,
            actor,
            "plugin-remove",
            &label,
            Some(format!("sha256:{}", record.sha256)),
            None,
            None,
            false,
        )?;
        tx.commit().map_err(|e| self.e(e))
    }

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
    fn modify<T>(
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

    fn put(&self, tx: &redb::WriteTransaction, d: &Deployment) -> Result<(), RegistryError> {
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

    /// Keep a backtest's figures as the deployment's evidence.
    pub fn record_backtest(
        &self,
        name: &str,
        evidence: BacktestEvidence,
        actor: &str,
    ) -> Result<(), RegistryError> {
        let summary = format!(
            "{}: {} bars, {:.2} years, Sharpe {:.2}, max drawdown {:.2}%, {} trades{}",
            evidence.plugin,
            evidence.bars,
            evidence.years,
            evidence.sharpe,
            evidence.max_drawdown * 100.0,
            evidence.trades,
            if evidence.lookahead {
                " (batched: look-ahead possible)"
            } else {
                ""
            }
        );
        self.modify(name, actor, |d| {
            d.backtest = Some(evidence);
            Ok(((), AuditLine::of("backtest", summary)))
        })
    }

    /// Keep a paper run's figures as the deployment's evidence for PAPER → LIVE.
    pub fn record_paper(
        &self,
        name: &str,
        evidence: PaperEvidence,
        actor: &str,
    ) -> Result<(), RegistryError> {
        let summary = format!(
            "{}: {:.0} days traded in PAPER, {} trades, Sharpe {:.2}, slippage {:.2} bps, {} faults",
            evidence.plugin,
            evidence.days,
            evidence.trades,
            evidence.sharpe,
            evidence.slippage_bps,
            evidence.faults
        );
        self.modify(name, actor, |d| {
            d.paper = Some(evidence);
            Ok(((), AuditLine::of("paper-evidence", summary)))
        })
    }

    /// Attach a paper-vs-replay comparison to the deployment's paper
    /// evidence (it must be of the same version).
    pub fn record_comparison(
        &self,
        name: &str,
        check: crate::lifecycle::Comparison,
        actor: &str,
    ) -> Result<(), RegistryError> {
        let summary = format!(
            "{}: {} bars, fills {}/{} matching {}, Sharpe deviation {:.2}%",
            check.plugin,
            check.bars,
            check.paper_fills,
            check.replay_fills,
            check.matching_fills,
            check.sharpe_deviation * 100.0
        );
        self.modify(name, actor, |d| {
            match &mut d.paper {
                Some(p) if p.plugin == check.plugin => p.replay = Some(check),
                _ => {
                    return Err(RegistryError::Refused(format!(
                        "deployment `{name}` has no paper evidence of {}: a paper run must end (stop the deployment) before its comparison is kept",
                        check.plugin
                    )));
                }
            }
            Ok(((), AuditLine::of("paper-comparison", summary)))
        })
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
            if force && reason.is_none() {
                return Err(RegistryError::ReasonRequired("--force"));
            }
            let forced = force && readiness.as_ref().is_some_and(|r| !r.ready());
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

    /// An audit entry about a deployment that changes nothing stored (start, stop, shadow).
    /// A person confirms a manual item of the checklist for `version`.
    pub fn confirm_item(
        &self,
        name: &str,
        actor: &str,
        item: &str,
        version: &str,
        reason: &str,
    ) -> Result<(), RegistryError> {
        if reason.trim().is_empty() {
            return Err(RegistryError::ReasonRequired("confirming a checklist item"));
        }
        self.deployment(name)?;
        let tx = self.db.begin_write().map_err(|e| self.e(e))?;
        self.audit(
            &tx,
            actor,
            "checklist",
            name,
            Some(version.into()),
            Some(item.into()),
            Some(reason.into()),
            false,
        )?;
        tx.commit().map_err(|e| self.e(e))
    }

    /// The checklist confirmations of a deployment, oldest first.
    pub fn confirmations(&self, name: &str) -> Result<Vec<lifecycle::Confirmation>, RegistryError> {
        Ok(self
            .audit_trail(Some(name))?
            .into_iter()
            .filter(|e| e.action == "checklist")
            .map(|e| lifecycle::Confirmation {
                item: e.to.unwrap_or_default(),
                version: e.from.unwrap_or_default(),
                actor: e.actor,
                time: e.time,
                reason: e.reason.unwrap_or_default(),
            })
            .collect())
    }

    pub fn note(
        &self,
        name: &str,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> Result<(), RegistryError> {
        let tx = self.db.begin_write().map_err(|e| self.e(e))?;
        let detail = (!detail.is_empty()).then(|| detail.to_string());
        self.audit(&tx, actor, action, name, None, detail, None, false)?;
        tx.commit().map_err(|e| self.e(e))
    }

    /// The audit trail, optionally only about one subject.
    pub fn audit_trail(&self, subject: Option<&str>) -> Result<Vec<AuditEntry>, RegistryError> {
        let tx = self.db.begin_read().map_err(|e| self.e(e))?;
        let t = tx.open_table(AUDIT).map_err(|e| self.e(e))?;
        let mut out = Vec::new();
        for item in t.iter().map_err(|e| self.e(e))? {
            let (_, v) = item.map_err(|e| self.e(e))?;
            let e: AuditEntry = serde_json::from_str(v.value()).map_err(|e| self.e(e))?;
            if subject.is_none_or(|s| e.subject == s) {
                out.push(e);
            }
        }
        Ok(out)
    }
}
