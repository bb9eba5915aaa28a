//! The journal file being written: write-ahead inputs, barriers before an order leaves, and resuming a journal after a crash.

use super::*;

/// A journal file being written.
pub struct Journal {
    /// Shared with the readers of a running deployment's journal
    /// ([`Journal::reader`]): redb's reads see the last commit and never
    /// wait for the writer.
    db: std::sync::Arc<Database>,
    path: PathBuf,
    next: u64,
    segment_first: u64,
    segment: Vec<u8>,
    pub(super) flush_every: usize,
    /// Write-ahead policy (the service) rather than replay buffering.
    write_ahead: Option<WriteAhead>,
}

/// State of the write-ahead policy.
pub(super) struct WriteAhead {
    /// Committed entries a resumed run must reproduce before it appends.
    expected: std::collections::VecDeque<Vec<u8>>,
    /// Input bars not yet committed.
    bars: Vec<(u64, Vec<u8>)>,
    /// Bars already in the file (a resumed run's inputs are not rewritten).
    bars_in_file: u64,
    notes: Vec<Vec<u8>>,
    next_note: u64,
    last_commit: std::time::Instant,
}

/// What a resumed write-ahead journal holds: the inputs to re-execute.
#[derive(Debug, Clone, Default)]
pub struct Resumed {
    /// Every bar delivered so far, in order (index = sequence number).
    pub bars: Vec<Bar>,
    /// Operator commands, in order.
    pub commands: Vec<Entry>,
    /// What a live venue said, with the bar it was taken in on, in order.
    pub venue: Vec<(u64, crate::execution::VenueNote)>,
    /// The highest order id journaled (ids are given in order from 1).
    pub last_order: u64,
    /// Entries committed (re-execution verifies them).
    pub entries: u64,
    /// The latest strategy snapshot.
    pub snapshot: Option<Snapshot>,
    /// The bars at which the strategy faulted, in order.
    pub faults: Vec<u64>,
    /// Every fault's diagnosis, in journal order, with its bar: the run's
    /// last fault and the faults a rollback answered (their cause). A
    /// re-execution reads from them which bars ran out of CPU budget.
    pub fault_causes: Vec<(u64, String)>,
}

/// Open a database for writing, telling a lock held by another process
/// apart from a damaged file.
pub(super) fn open_db(path: &Path) -> Result<std::sync::Arc<Database>, JournalError> {
    crate::store::backup::create(path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => JournalError::Locked {
            path: path.to_path_buf(),
        },
        e => JournalError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    })
}

pub(super) fn check_format(path: &Path, meta: &RunMeta) -> Result<(), JournalError> {
    if meta.format > FORMAT || meta.format == 0 {
        return Err(JournalError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "journal format {} is not one this sandbar ({}) reads (1 to {FORMAT})",
                meta.format,
                env!("CARGO_PKG_VERSION")
            ),
        });
    }
    Ok(())
}

impl Journal {
    /// Create a journal file for a new replay, replacing any file at `path`
    /// (the output a user named). Entries are buffered (replay policy).
    pub fn create(path: &Path, meta: &RunMeta) -> Result<Self, JournalError> {
        if path.exists() {
            std::fs::remove_file(path).map_err(|e| storage(path, e))?;
        }
        let db = crate::store::backup::create(path).map_err(|e| storage(path, e))?;
        let j = Self {
            db,
            path: path.to_path_buf(),
            next: 0,
            segment_first: 0,
            segment: Vec::new(),
            flush_every: 8192,
            write_ahead: None,
        };
        j.write_meta(meta)?;
        Ok(j)
    }

    fn write_meta(&self, meta: &RunMeta) -> Result<(), JournalError> {
        let path = &self.path;
        let meta_bytes = serde_json::to_vec(meta).map_err(|e| storage(path, e))?;
        let tx = self.db.begin_write().map_err(|e| storage(path, e))?;
        {
            let mut t = tx.open_table(META).map_err(|e| storage(path, e))?;
            t.insert("run", meta_bytes.as_slice())
                .map_err(|e| storage(path, e))?;
            tx.open_table(ENTRIES).map_err(|e| storage(path, e))?;
            tx.open_table(BARS).map_err(|e| storage(path, e))?;
            tx.open_table(NOTES).map_err(|e| storage(path, e))?;
            tx.open_table(STATE).map_err(|e| storage(path, e))?;
        }
        tx.commit().map_err(|e| storage(path, e))
    }

    /// Open a deployment's write-ahead journal: create it with `meta` if it
    /// does not exist, else keep it and return the inputs to re-execute.
    /// Nothing in an existing file is overwritten; its metadata stays that of
    /// the run's start. A file another process holds, a damaged file or an
    /// unknown format is refused.
    pub fn resume(path: &Path, meta: &RunMeta) -> Result<(Self, Resumed), JournalError> {
        let existed = path.exists();
        if existed {
            // Refuse an unknown format before opening the file for writing.
            JournalReader::open(path)?.meta()?;
        }
        let db = open_db(path)?;
        let mut j = Self {
            db,
            path: path.to_path_buf(),
            next: 0,
            segment_first: 0,
            segment: Vec::new(),
            flush_every: usize::MAX,
            write_ahead: Some(WriteAhead {
                expected: Default::default(),
                bars: Vec::new(),
                bars_in_file: 0,
                notes: Vec::new(),
                next_note: 0,
                last_commit: std::time::Instant::now(),
            }),
        };
        if !existed {
            j.write_meta(meta)?;
            return Ok((j, Resumed::default()));
        }
        let resumed = j.read_back()?;
        Ok((j, resumed))
    }

    fn read_back(&mut self) -> Result<Resumed, JournalError> {
        let invalid = |e: &dyn std::fmt::Display| JournalError::Invalid {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let tx = self.db.begin_read().map_err(|e| invalid(&e))?;
        let meta: RunMeta = {
            let t = tx.open_table(META).map_err(|e| invalid(&e))?;
            let v = t
                .get("run")
                .map_err(|e| invalid(&e))?
                .ok_or_else(|| invalid(&"no run metadata"))?;
            serde_json::from_slice(v.value()).map_err(|e| invalid(&e))?
        };
        check_format(&self.path, &meta)?;
        let mut out = Resumed::default();
        let mut expected = std::collections::VecDeque::new();
        {
            let t = tx.open_table(ENTRIES).map_err(|e| invalid(&e))?;
            for_each_in(&t, &self.path, |_, bytes| {
                let (e, _): (Entry, usize) =
                    bincode::serde::decode_from_slice(bytes, config()).map_err(|e| invalid(&e))?;
                if matches!(e, Entry::Command { .. } | Entry::Kill { .. }) {
                    out.commands.push(e);
                } else if let Entry::Venue { seq, note } = e {
                    out.venue.push((seq, note));
                } else if let Entry::Order { order, .. } = &e {
                    out.last_order = out.last_order.max(order.id);
                } else if let Entry::Fault { seq, message } = &e {
                    out.faults.push(*seq);
                    out.fault_causes.push((*seq, message.clone()));
                } else if let Entry::Rollback { seq, cause, .. } = &e {
                    out.fault_causes.push((*seq, cause.clone()));
                }
                expected.push_back(bytes.to_vec());
                Ok(())
            })?;
        }
        {
            let t = tx.open_table(BARS).map_err(|e| invalid(&e))?;
            for item in t.iter().map_err(|e| invalid(&e))? {
                let (k, v) = item.map_err(|e| invalid(&e))?;
                if k.value() != out.bars.len() as u64 {
                    return Err(invalid(&format!(
                        "input bar {} follows bar {}",
                        k.value(),
                        out.bars.len() as i64 - 1
                    )));
                }
                let (bar, _): (Bar, usize) =
                    bincode::decode_from_slice(v.value(), config()).map_err(|e| invalid(&e))?;
                out.bars.push(bar);
            }
        }
        let notes = {
            let t = tx.open_table(NOTES).map_err(|e| invalid(&e))?;
            t.last()
                .map_err(|e| invalid(&e))?
                .map_or(0, |(k, _)| k.value() + 1)
        };
        {
            let t = tx.open_table(STATE).map_err(|e| invalid(&e))?;
            if let Some(v) = t.get("snapshot").map_err(|e| invalid(&e))? {
                let (s, _): (Snapshot, usize) =
                    bincode::serde::decode_from_slice(v.value(), config())
                        .map_err(|e| invalid(&e))?;
                out.snapshot = Some(s);
            }
        }
        out.entries = expected.len() as u64;
        self.next = out.entries;
        self.segment_first = out.entries;
        let wa = self.write_ahead.as_mut().expect("write-ahead journal");
        wa.expected = expected;
        wa.bars_in_file = out.bars.len() as u64;
        wa.next_note = notes;
        Ok(out)
    }

    /// Whether a resumed journal still has committed entries to verify.
    pub fn verifying(&self) -> bool {
        self.write_ahead
            .as_ref()
            .is_some_and(|w| !w.expected.is_empty())
    }

    /// A reader of what is committed, for the API: it shares the open file
    /// and holds nothing of the writer's, so a client paging through the
    /// journal never delays a commit of the bar path.
    pub fn reader(&self) -> JournalReader {
        JournalReader {
            db: ReadDb::Shared(self.db.clone()),
            path: self.path.clone(),
        }
    }

    /// Keep a note of what the feed did (write-ahead journals; committed
    /// with the next commit).
    pub fn note(&mut self, note: &serde_json::Value) {
        if let Some(w) = &mut self.write_ahead {
            w.notes.push(note.to_string().into_bytes());
        }
    }

    /// Keep the strategy's latest snapshot (committed durably now).
    pub fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), JournalError> {
        let path = self.path.clone();
        let bytes =
            bincode::serde::encode_to_vec(snapshot, config()).map_err(|e| storage(&path, e))?;
        self.commit(true, Some(&bytes))
    }

    fn flush(&mut self, durable: bool) -> Result<(), JournalError> {
        self.commit(durable, None)
    }

    fn commit(&mut self, durable: bool, snapshot: Option<&[u8]>) -> Result<(), JournalError> {
        let pending_inputs = self
            .write_ahead
            .as_ref()
            .is_some_and(|w| !w.bars.is_empty() || !w.notes.is_empty());
        if self.next == self.segment_first && !durable && !pending_inputs && snapshot.is_none() {
            return Ok(());
        }
        let path = &self.path;
        let mut tx = self.db.begin_write().map_err(|e| storage(path, e))?;
        if !durable {
            tx.set_durability(Durability::None)
                .map_err(|e| storage(path, e))?;
        }
        {
            let mut t = tx.open_table(ENTRIES).map_err(|e| storage(path, e))?;
            if self.next > self.segment_first {
                t.insert(self.segment_first, self.segment.as_slice())
                    .map_err(|e| storage(path, e))?;
            }
        }
        if let Some(w) = &mut self.write_ahead {
            let mut t = tx.open_table(BARS).map_err(|e| storage(path, e))?;
            for (seq, bytes) in w.bars.drain(..) {
                t.insert(seq, bytes.as_slice())
                    .map_err(|e| storage(path, e))?;
                w.bars_in_file = seq + 1;
            }
            drop(t);
            let mut t = tx.open_table(NOTES).map_err(|e| storage(path, e))?;
            for note in w.notes.drain(..) {
                t.insert(w.next_note, note.as_slice())
                    .map_err(|e| storage(path, e))?;
                w.next_note += 1;
            }
            drop(t);
            if let Some(bytes) = snapshot {
                let mut t = tx.open_table(STATE).map_err(|e| storage(path, e))?;
                t.insert("snapshot", bytes).map_err(|e| storage(path, e))?;
            }
            w.last_commit = std::time::Instant::now();
        }
        tx.commit().map_err(|e| storage(path, e))?;
        self.segment.clear();
        self.segment_first = self.next;
        Ok(())
    }

    /// Commit everything durably.
    pub fn finish(mut self) -> Result<(), JournalError> {
        self.flush(true)
    }

    /// Commit everything durably and keep writing.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.flush(true)
    }
}

impl Recorder for Journal {
    fn record(&mut self, entry: Entry) -> Result<(), JournalError> {
        if let Some(w) = &mut self.write_ahead
            && let Some(journaled) = w.expected.pop_front()
        {
            let bytes = bincode::serde::encode_to_vec(&entry, config())
                .map_err(|e| storage(&self.path, e))?;
            if bytes != journaled {
                let index = self.next - w.expected.len() as u64 - 1;
                let journaled = bincode::serde::decode_from_slice::<Entry, _>(&journaled, config())
                    .map(|(e, _)| serde_json::to_string(&e).unwrap_or_default())
                    .unwrap_or_else(|e| format!("undecodable ({e})"));
                w.expected.clear();
                return Err(JournalError::Diverged {
                    path: self.path.clone(),
                    index,
                    journaled,
                    recomputed: serde_json::to_string(&entry).unwrap_or_default(),
                });
            }
            return Ok(());
        }
        let at = self.segment.len();
        self.segment.extend_from_slice(&[0; 4]);
        let n = bincode::serde::encode_into_std_write(&entry, &mut self.segment, config())
            .map_err(|e| storage(&self.path, e))?;
        let len = u32::try_from(n).map_err(|_| storage(&self.path, "entry over 4 GiB"))?;
        self.segment[at..at + 4].copy_from_slice(&len.to_le_bytes());
        self.next += 1;
        if self.next - self.segment_first >= self.flush_every as u64 {
            self.flush(false)?;
        }
        Ok(())
    }

    fn keeps_inputs(&self) -> bool {
        self.write_ahead.is_some()
    }

    fn input_bar(&mut self, seq: u64, bar: &Bar) -> Result<(), JournalError> {
        let Some(w) = &mut self.write_ahead else {
            return Ok(());
        };
        if seq < w.bars_in_file {
            return Ok(());
        }
        let bytes = bincode::encode_to_vec(bar, config()).map_err(|e| storage(&self.path, e))?;
        w.bars.push((seq, bytes));
        // Bars that changed nothing durable may be lost in a crash (the feed
        // delivers them again), but not many: commit at least once a second.
        if w.last_commit.elapsed() >= std::time::Duration::from_secs(1) || w.bars.len() >= 4096 {
            self.flush(true)?;
        }
        Ok(())
    }

    fn barrier(&mut self) -> Result<(), JournalError> {
        if self.write_ahead.is_some() && !self.verifying() {
            self.flush(true)?;
        }
        Ok(())
    }
}
