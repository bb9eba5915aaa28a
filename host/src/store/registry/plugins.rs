//! Plugin versions: validated, stored content-addressed, listed, removed.

use super::*;

impl Registry {
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
}
