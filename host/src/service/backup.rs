//! `POST /backup`: a consistent copy of the running service's data — the
//! registry and every database under its journals directory — into
//! `backups/<name>/` beside the registry, while deployments trade
//! (`crate::store::backup` says how, and what it costs a deployment).

use std::path::Path;

use super::Service;
use crate::store::registry::validate;

impl Service {
    /// Back the service's data up into `backups/<name>` beside the registry
    /// (`name` defaults to the UTC time); answers the manifest and where.
    pub fn backup(&self, name: Option<&str>, actor: &str) -> anyhow::Result<serde_json::Value> {
        let name = match name {
            Some(n) => {
                validate::name("name", n)?;
                n.to_string()
            }
            None => chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string(),
        };
        let registry = self.registry.path();
        let dir = registry
            .parent()
            .unwrap_or(Path::new("."))
            .join("backups")
            .join(&name);
        let started = std::time::Instant::now();
        let manifest = crate::store::backup::backup(registry, &self.config.journals, &dir)?;
        let bytes: u64 = manifest.files.iter().map(|c| c.bytes).sum();
        tracing::info!(
            actor,
            dir = %dir.display(),
            files = manifest.files.len(),
            bytes,
            ms = started.elapsed().as_millis() as u64,
            "backup taken"
        );
        Ok(serde_json::json!({
            "dir": dir,
            "taken_at": manifest.taken_at,
            "files": manifest.files,
        }))
    }
}
