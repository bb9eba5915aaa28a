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

//!
//! Files: `plugins.rs` plugin versions; `deployments.rs` deployments and
//! their moves; `evidence.rs` what the gates read; `audit.rs` the trail;
//! this file the records, the errors and opening the database.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::lifecycle::{self, BacktestEvidence, GateConfig, Move, PaperEvidence, Readiness, Stage};
use crate::sandbox::runtime::{
    self, DeclaredDelivery, Description, ParamSpec, ParamType, ParamValue, Runtime,
};

mod audit;
mod deployments;
mod evidence;
mod plugins;
pub mod validate;

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
    /// A value that cannot be stored, named by its field.
    #[error("{field} {value}: {why}")]
    BadValue {
        /// The field (`name`, `capital`, …).
        field: String,
        /// The value refused, as given.
        value: String,
        /// What it must be.
        why: String,
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
    /// PAPER → LIVE with items of the pre-live checklist open.
    #[error(
        "{name} is not ready for PAPER → LIVE: the pre-live checklist has open items: {} (`sandbar deploy checklist {name}` shows each; --force with a reason overrides it, audited)",
        open.join(", ")
    )]
    ChecklistOpen {
        /// Deployment.
        name: String,
        /// The open items' ids.
        open: Vec<String>,
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
    db: std::sync::Arc<Database>,
    path: PathBuf,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Check what `describe` returned is well formed.
fn check_description(d: &Description) -> Result<(), String> {
    // The name is repeated in every journal entry and audit record: the
    // same rule as a deployment's (bounded, a safe file name).
    validate::name("name", &d.name).map_err(|e| e.to_string())?;
    if d.version.len() > validate::MAX_NAME {
        return Err(format!("version: longer than {} bytes", validate::MAX_NAME));
    }
    if d.params.len() > validate::MAX_PARAMS {
        return Err(format!("more than {} parameters", validate::MAX_PARAMS));
    }
    if let Some(p) = d.params.iter().find(|p| p.name.len() > validate::MAX_NAME) {
        return Err(format!(
            "parameter name {:?}: longer than {} bytes",
            crate::sandbox::runtime::cut(p.name.clone(), 32),
            validate::MAX_NAME
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
    /// The registry's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Open (or create) a registry file.
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Self::err(path, e))?;
        }
        let db = crate::store::backup::create(path).map_err(|e| match e {
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
}
