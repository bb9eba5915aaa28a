//! The named JSON bodies and queries of the API's routes.

use serde::{Deserialize, Serialize};

/// Body of commands that need a reason.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// Why (recorded in the journal and the audit trail).
    #[serde(default)]
    pub reason: String,
}

/// Body of `POST /backup`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BackupBody {
    /// The backup's directory name under `backups/` (default: the UTC time,
    /// `20261205T061500Z`).
    #[serde(default)]
    pub name: Option<String>,
}

/// Body of `swap`, `rollback`, `continue` and `shadow`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VersionBody {
    /// `name@version` (for rollback and continue: an optional target).
    #[serde(default)]
    pub plugin: Option<String>,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// Journal query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalQuery {
    /// First entry index (default 0).
    #[serde(default)]
    pub offset: u64,
    /// Most entries (default 1,000, at most 10,000).
    #[serde(default)]
    pub limit: Option<u64>,
    /// Only entries of bars at or after this time (RFC 3339 or YYYY-MM-DD).
    #[serde(default)]
    pub from: Option<String>,
    /// Only entries of bars before this time.
    #[serde(default)]
    pub to: Option<String>,
}

/// Body of `promote`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PromoteBody {
    /// Why (needed with `force`).
    #[serde(default)]
    pub reason: String,
    /// Promote past gates that fail.
    #[serde(default)]
    pub force: bool,
}

/// Alert history query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// Most alerts, newest first (default 100, at most 1,000).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Only this deployment's.
    #[serde(default)]
    pub deployment: Option<String>,
    /// Only at or above this level (`INFO`, `WARNING`, `CRITICAL`).
    #[serde(default)]
    pub level: Option<crate::service::monitor::Level>,
}
