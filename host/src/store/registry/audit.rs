//! The audit trail: every change with its time, actor, action, from, to and reason.

use super::*;

impl Registry {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn audit(
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
