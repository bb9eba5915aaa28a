//! Reading a journal back (export, HTML, comparison, the API) without holding the writer.

use super::*;

/// Visit the entries of an `entries` table in order, checking that indexes
/// are dense and segments well formed.
pub(super) fn for_each_in(
    t: &impl ReadableTable<u64, &'static [u8]>,
    path: &Path,
    mut f: impl FnMut(u64, &[u8]) -> Result<(), JournalError>,
) -> Result<(), JournalError> {
    let invalid = |m: String| JournalError::Invalid {
        path: path.to_path_buf(),
        message: m,
    };
    let mut next = 0u64;
    for item in t.iter().map_err(|e| invalid(e.to_string()))? {
        let (k, v) = item.map_err(|e| invalid(e.to_string()))?;
        if k.value() != next {
            return Err(invalid(format!(
                "segment starts at entry {} where {next} was expected",
                k.value()
            )));
        }
        let mut rest = v.value();
        while !rest.is_empty() {
            let (len, tail) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| invalid(format!("entry {next}: truncated length")))?;
            let len = u32::from_le_bytes(*len) as usize;
            let bytes = tail
                .get(..len)
                .ok_or_else(|| invalid(format!("entry {next}: truncated")))?;
            f(next, bytes)?;
            next += 1;
            rest = &tail[len..];
        }
    }
    Ok(())
}

/// A journal opened for reading.
pub struct JournalReader {
    pub(super) db: ReadDb,
    pub(super) path: PathBuf,
}

/// Read-only when the file was closed cleanly; opened for writing (which
/// makes redb repair it, keeping every committed transaction) when the
/// writer was killed. Nothing is written besides the repair.
/// Or the open file of a journal being written (its committed part).
pub(super) enum ReadDb {
    ReadOnly(redb::ReadOnlyDatabase),
    Repaired(Database),
    Shared(std::sync::Arc<Database>),
}

impl ReadDb {
    fn begin_read(&self) -> Result<redb::ReadTransaction, redb::TransactionError> {
        match self {
            ReadDb::ReadOnly(d) => d.begin_read(),
            ReadDb::Repaired(d) => d.begin_read(),
            ReadDb::Shared(d) => d.begin_read(),
        }
    }
}

impl JournalReader {
    /// Open read-only; a non-journal file is a clear error.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        if !path.exists() {
            return Err(storage(path, "no such file"));
        }
        let locked_or_invalid = |e: redb::DatabaseError| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => JournalError::Locked {
                path: path.to_path_buf(),
            },
            e => JournalError::Invalid {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
        };
        let db = match redb::ReadOnlyDatabase::open(path) {
            Ok(db) => ReadDb::ReadOnly(db),
            // The writer did not close it (a crash): repair, keeping every commit.
            Err(redb::DatabaseError::RepairAborted) => {
                ReadDb::Repaired(Database::open(path).map_err(locked_or_invalid)?)
            }
            Err(e) => return Err(locked_or_invalid(e)),
        };
        Ok(Self {
            db,
            path: path.to_path_buf(),
        })
    }

    fn invalid(&self, e: impl std::fmt::Display) -> JournalError {
        JournalError::Invalid {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// The run's metadata.
    pub fn meta(&self) -> Result<RunMeta, JournalError> {
        let tx = self.db.begin_read().map_err(|e| self.invalid(e))?;
        let t = tx.open_table(META).map_err(|e| self.invalid(e))?;
        let v = t
            .get("run")
            .map_err(|e| self.invalid(e))?
            .ok_or_else(|| self.invalid("no run metadata"))?;
        let meta: RunMeta = serde_json::from_slice(v.value())
            .map_err(|e| self.invalid(format!("run metadata: {e}")))?;
        check_format(&self.path, &meta)?;
        Ok(meta)
    }

    /// Visit every entry in order with its index and raw bytes, checking
    /// that indexes are dense and segments well formed.
    pub fn for_each_raw(
        &self,
        f: impl FnMut(u64, &[u8]) -> Result<(), JournalError>,
    ) -> Result<(), JournalError> {
        let tx = self.db.begin_read().map_err(|e| self.invalid(e))?;
        let t = tx.open_table(ENTRIES).map_err(|e| self.invalid(e))?;
        for_each_in(&t, &self.path, f)
    }

    /// The highest order id journaled (0: none).
    pub fn last_order(&self) -> Result<u64, JournalError> {
        let mut last = 0;
        self.for_each_raw(|_, bytes| {
            if let Ok((Entry::Order { order, .. }, _)) =
                bincode::serde::decode_from_slice::<Entry, _>(bytes, config())
            {
                last = last.max(order.id);
            }
            Ok(())
        })?;
        Ok(last)
    }

    /// The input bars of a write-ahead journal (empty for a replay's).
    pub fn bars(&self) -> Result<Vec<Bar>, JournalError> {
        let tx = self.db.begin_read().map_err(|e| self.invalid(e))?;
        let t = match tx.open_table(BARS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(vec![]),
            Err(e) => return Err(self.invalid(e)),
        };
        let mut out = Vec::new();
        for item in t.iter().map_err(|e| self.invalid(e))? {
            let (_, v) = item.map_err(|e| self.invalid(e))?;
            let (bar, _): (Bar, usize) =
                bincode::decode_from_slice(v.value(), config()).map_err(|e| self.invalid(e))?;
            out.push(bar);
        }
        Ok(out)
    }

    /// The feed notes of a write-ahead journal, in order.
    pub fn notes(&self) -> Result<Vec<serde_json::Value>, JournalError> {
        let tx = self.db.begin_read().map_err(|e| self.invalid(e))?;
        let t = match tx.open_table(NOTES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(vec![]),
            Err(e) => return Err(self.invalid(e)),
        };
        let mut out = Vec::new();
        for item in t.iter().map_err(|e| self.invalid(e))? {
            let (_, v) = item.map_err(|e| self.invalid(e))?;
            out.push(serde_json::from_slice(v.value()).map_err(|e| self.invalid(e))?);
        }
        Ok(out)
    }

    /// The latest strategy snapshot of a write-ahead journal.
    pub fn snapshot(&self) -> Result<Option<Snapshot>, JournalError> {
        let tx = self.db.begin_read().map_err(|e| self.invalid(e))?;
        let t = match tx.open_table(STATE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.invalid(e)),
        };
        let Some(v) = t.get("snapshot").map_err(|e| self.invalid(e))? else {
            return Ok(None);
        };
        let (s, _): (Snapshot, usize) =
            bincode::serde::decode_from_slice(v.value(), config()).map_err(|e| self.invalid(e))?;
        Ok(Some(s))
    }

    /// Every entry, decoded.
    pub fn entries(&self) -> Result<Vec<Entry>, JournalError> {
        let mut out = Vec::new();
        self.for_each_raw(|k, bytes| {
            let (e, used): (Entry, usize) = bincode::serde::decode_from_slice(bytes, config())
                .map_err(|e| self.invalid(format!("entry {k}: {e}")))?;
            if used != bytes.len() {
                return Err(self.invalid(format!("entry {k}: trailing bytes")));
            }
            out.push(e);
            Ok(())
        })?;
        Ok(out)
    }

    /// A page of entries with their indexes: from index `offset` on, those
    /// of bars in `[from, to)` when either is given (entries of no bar only
    /// when neither is), at most `limit`. Only the segment holding `offset`
    /// and the ones after it are read, each entry's bar looked up alone:
    /// the cost follows the page, not the journal.
    pub fn page(
        &self,
        offset: u64,
        limit: usize,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<(u64, Entry)>, JournalError> {
        let tx = self.db.begin_read().map_err(|e| self.invalid(e))?;
        let t = tx.open_table(ENTRIES).map_err(|e| self.invalid(e))?;
        let bars = match tx.open_table(BARS) {
            Ok(b) => Some(b),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(self.invalid(e)),
        };
        let filtered = from.is_some() || to.is_some();
        let bar_time = |seq: u64| -> Result<Option<i64>, JournalError> {
            let Some(b) = &bars else { return Ok(None) };
            let Some(v) = b.get(seq).map_err(|e| self.invalid(e))? else {
                return Ok(None);
            };
            let (bar, _): (Bar, usize) =
                bincode::decode_from_slice(v.value(), config()).map_err(|e| self.invalid(e))?;
            Ok(Some(bar.time_ms))
        };
        let first = t
            .range(..=offset)
            .map_err(|e| self.invalid(e))?
            .next_back()
            .transpose()
            .map_err(|e| self.invalid(e))?
            .map_or(0, |(k, _)| k.value());
        let mut out = Vec::new();
        let mut next = first;
        for item in t.range(first..).map_err(|e| self.invalid(e))? {
            let (k, v) = item.map_err(|e| self.invalid(e))?;
            if k.value() != next {
                return Err(self.invalid(format!(
                    "segment starts at entry {} where {next} was expected",
                    k.value()
                )));
            }
            let mut rest = v.value();
            while let Some((len, tail)) = rest.split_first_chunk::<4>() {
                let len = u32::from_le_bytes(*len) as usize;
                let bytes = tail
                    .get(..len)
                    .ok_or_else(|| self.invalid(format!("entry {next}: truncated")))?;
                rest = &tail[len..];
                let index = next;
                next += 1;
                if index < offset {
                    continue;
                }
                let (e, _): (Entry, usize) = bincode::serde::decode_from_slice(bytes, config())
                    .map_err(|e| self.invalid(format!("entry {index}: {e}")))?;
                let keep = match e.seq() {
                    _ if !filtered => true,
                    Some(seq) => bar_time(seq)?
                        .is_some_and(|t| from.is_none_or(|f| t >= f) && to.is_none_or(|x| t < x)),
                    None => false,
                };
                if keep {
                    out.push((index, e));
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }

    /// SHA-256 over the metadata and every entry's key and bytes: equal
    /// digests mean byte-identical journal contents.
    pub fn content_digest(&self) -> Result<String, JournalError> {
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(&self.meta()?).map_err(|e| self.invalid(e))?);
        self.for_each_raw(|k, v| {
            h.update(k.to_le_bytes());
            h.update((v.len() as u64).to_le_bytes());
            h.update(v);
            Ok(())
        })?;
        Ok(crate::digest::hex(&h.finalize()))
    }

    /// Write the journal as JSON lines: the metadata first (`{"run": …}`),
    /// then one entry per line.
    pub fn export_jsonl(&self, out: &mut dyn Write) -> Result<(), JournalError> {
        let io = |e: std::io::Error| storage(&self.path, e);
        let meta = self.meta()?;
        serde_json::to_writer(&mut *out, &serde_json::json!({ "run": meta }))
            .map_err(|e| storage(&self.path, e))?;
        out.write_all(b"\n").map_err(io)?;
        for e in self.entries()? {
            serde_json::to_writer(&mut *out, &e).map_err(|e| storage(&self.path, e))?;
            out.write_all(b"\n").map_err(io)?;
        }
        Ok(())
    }
}
