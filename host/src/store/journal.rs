//! The journal: every step of a run, in order, in redb.
//!
//! A journal file holds one run: its [`RunMeta`] (plugin hash, SDK version,
//! parameters, limits, data hashes — never a wall-clock time, so that the
//! same inputs give byte-identical contents) and a sequence of [`Entry`]s
//! keyed by a dense `u64`. Entries are bincode-encoded serde values.
//!
//! Durability: during a replay, entries are buffered and committed in large
//! transactions without fsync (`Durability::None`), and the final commit is
//! durable; a replay can always be re-run. Paper and live trading will commit
//! each order durably before it leaves for a venue — the [`Recorder`] seam is
//! where that policy lives.

use std::io::Write;
use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::execution::{FillReport, Order, Side};
use crate::risk::{Rule, StateChange};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Entries are stored in segments: key = index of the segment's first entry,
/// value = its entries, each as a little-endian `u32` length and bincode
/// bytes. One segment per commit keeps B-tree work per entry negligible.
const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");

/// The journal format version stored in the metadata.
pub const FORMAT: u32 = 1;

/// What a strategy asked for, as journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntentAction {
    /// Hold a fraction of equity.
    TargetWeight(f64),
    /// Hold a quantity.
    TargetQuantity(f64),
    /// Market order.
    Market {
        /// Side.
        side: Side,
        /// Quantity.
        quantity: f64,
    },
    /// Limit order.
    Limit {
        /// Side.
        side: Side,
        /// Quantity.
        quantity: f64,
        /// Limit price.
        price: f64,
    },
    /// Flatten.
    Close,
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Entry {
    /// Bars `first..=last` (sequence numbers) were processed.
    Bars {
        /// First sequence number.
        first: u64,
        /// Last sequence number.
        last: u64,
    },
    /// An intent the strategy returned.
    Intent {
        /// Bar sequence number it was decided on.
        seq: u64,
        /// That bar's time.
        time_ms: i64,
        /// Symbol.
        symbol: String,
        /// What it asked.
        action: IntentAction,
        /// Stop-loss price.
        stop_loss: Option<f64>,
        /// Take-profit price.
        take_profit: Option<f64>,
        /// The strategy's reason.
        reason: String,
        /// Plugin `name@version` that produced it.
        plugin: String,
    },
    /// An order sent to the venue.
    Order {
        /// The order.
        order: Order,
        /// Plugin `name@version` on whose behalf it was placed.
        plugin: String,
    },
    /// A fill reported by the venue (journaled before the strategy hears of it).
    Fill {
        /// Bar sequence number it happened on.
        seq: u64,
        /// The fill.
        fill: FillReport,
        /// Plugin `name@version` whose order it fills.
        plugin: String,
    },
    /// The risk engine or intent validation refused an intent.
    Refusal {
        /// Bar sequence number.
        seq: u64,
        /// Symbol (or the raw id if unknown).
        symbol: String,
        /// The rule.
        rule: Rule,
        /// Values compared.
        detail: String,
        /// Plugin `name@version`.
        plugin: String,
    },
    /// An open order was cancelled.
    Cancel {
        /// Bar sequence number.
        seq: u64,
        /// Order id.
        order_id: u64,
        /// Why.
        reason: String,
    },
    /// The trading state changed.
    State {
        /// Bar sequence number.
        seq: u64,
        /// The change.
        change: StateChange,
    },
    /// The strategy returned a typed error for a delivery (no intents taken).
    StrategyError {
        /// Bar sequence number.
        seq: u64,
        /// Its message.
        message: String,
    },
    /// Another version took over at this bar with the old one's state.
    Swap {
        /// First bar the new version received.
        seq: u64,
        /// Old `name@version`.
        from: String,
        /// New `name@version`.
        to: String,
        /// Size of the state handed over.
        state_bytes: u64,
        /// Who asked (`schedule` for `--swap-at`, else the operator).
        actor: String,
        /// Why.
        reason: String,
    },
    /// A scheduled swap did not happen; the old version kept serving.
    SwapRefused {
        /// Bar of the attempt.
        seq: u64,
        /// Serving `name@version`.
        from: String,
        /// Refused `name@version`.
        to: String,
        /// Why.
        reason: String,
    },
    /// The version before a swap was put back in service.
    Rollback {
        /// Bar from which the restored version serves again.
        seq: u64,
        /// The version taken out of service.
        from: String,
        /// The version restored.
        to: String,
        /// Why (fault, drawdown, operator).
        cause: String,
    },
    /// A swapped-in version outlived its rollback window; the old one is released.
    SwapCommitted {
        /// Bar at which the window closed.
        seq: u64,
        /// The version now permanently in service.
        version: String,
    },
    /// The strategy stopped being called (bars, fills and stops go on).
    Paused {
        /// First bar not delivered.
        seq: u64,
        /// Who (`engine` for the drawdown threshold).
        actor: String,
        /// Why.
        reason: String,
    },
    /// The strategy is called again.
    Resumed {
        /// First bar delivered again.
        seq: u64,
        /// Who.
        actor: String,
        /// Why.
        reason: String,
    },
    /// The deployment faulted; the run stopped here.
    Fault {
        /// Bar sequence number.
        seq: u64,
        /// Full diagnosis.
        message: String,
    },
    /// The portfolio at the end of the run.
    Final {
        /// Cash.
        cash: f64,
        /// Equity.
        equity: f64,
        /// Realised PnL (gross).
        realized: f64,
        /// Commissions paid.
        commissions: f64,
        /// (symbol, quantity, average price) of open positions.
        positions: Vec<(String, f64, f64)>,
    },
}

/// Description of a run, stored once per journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// Journal format version.
    pub format: u32,
    /// Version of the host.
    pub sandbar_version: String,
    /// Contract the plugin implements.
    pub contract: String,
    /// Plugin name.
    pub plugin_name: String,
    /// Plugin version.
    pub plugin_version: String,
    /// SDK version the plugin was built with.
    pub sdk_version: String,
    /// SHA-256 of the plugin bytes.
    pub plugin_sha256: String,
    /// Resolved parameters, as `name=value`.
    pub params: Vec<String>,
    /// Risk limits (TOML).
    pub risk: String,
    /// Simulator cost model (TOML).
    pub execution: String,
    /// Sandbox limits (TOML).
    pub sandbox: String,
    /// Data files: (file name, SHA-256, bars).
    pub data: Vec<(String, String, u64)>,
    /// Symbol table.
    pub symbols: Vec<String>,
    /// Starting cash.
    pub initial_cash: f64,
    /// Seed given to the plugin.
    pub seed: u64,
    /// `per-bar` or `batched (n)`.
    pub delivery: String,
    /// Scheduled swaps: `<bar-seq>=<name@version> sha256:<hash>`.
    #[serde(default)]
    pub swaps: Vec<String>,
}

/// Errors of journal files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// redb refused to open or write the file.
    #[error("journal {path}: {message}")]
    Storage {
        /// File.
        path: PathBuf,
        /// redb's message.
        message: String,
    },
    /// The file is a database but not a Sandbar journal, or is corrupt.
    #[error("journal {path}: not a valid Sandbar journal: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Where the engine writes its journal entries.
pub trait Recorder {
    /// Record one entry, in order.
    fn record(&mut self, entry: Entry) -> Result<(), JournalError>;
}

/// Keeps entries in memory (tests, golden files, runs without a journal file).
impl Recorder for Vec<Entry> {
    fn record(&mut self, entry: Entry) -> Result<(), JournalError> {
        self.push(entry);
        Ok(())
    }
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ 64 << 20 }>()
}

fn storage(path: &Path, e: impl std::fmt::Display) -> JournalError {
    JournalError::Storage {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// A journal file being written.
pub struct Journal {
    db: Database,
    path: PathBuf,
    next: u64,
    segment_first: u64,
    segment: Vec<u8>,
    flush_every: usize,
}

impl Journal {
    /// Create a journal file for a new run, replacing any file at `path`.
    pub fn create(path: &Path, meta: &RunMeta) -> Result<Self, JournalError> {
        if path.exists() {
            std::fs::remove_file(path).map_err(|e| storage(path, e))?;
        }
        let db = Database::create(path).map_err(|e| storage(path, e))?;
        let j = Self {
            db,
            path: path.to_path_buf(),
            next: 0,
            segment_first: 0,
            segment: Vec::new(),
            flush_every: 8192,
        };
        let meta_bytes = serde_json::to_vec(meta).map_err(|e| storage(path, e))?;
        let tx = j.db.begin_write().map_err(|e| storage(path, e))?;
        {
            let mut t = tx.open_table(META).map_err(|e| storage(path, e))?;
            t.insert("run", meta_bytes.as_slice())
                .map_err(|e| storage(path, e))?;
            tx.open_table(ENTRIES).map_err(|e| storage(path, e))?;
        }
        tx.commit().map_err(|e| storage(path, e))?;
        Ok(j)
    }

    fn flush(&mut self, durable: bool) -> Result<(), JournalError> {
        if self.next == self.segment_first && !durable {
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
        tx.commit().map_err(|e| storage(path, e))?;
        self.segment.clear();
        self.segment_first = self.next;
        Ok(())
    }

    /// Commit everything durably.
    pub fn finish(mut self) -> Result<(), JournalError> {
        self.flush(true)
    }
}

impl Recorder for Journal {
    fn record(&mut self, entry: Entry) -> Result<(), JournalError> {
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
}

/// A journal opened for reading.
pub struct JournalReader {
    db: redb::ReadOnlyDatabase,
    path: PathBuf,
}

impl JournalReader {
    /// Open read-only; a non-journal file is a clear error.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        if !path.exists() {
            return Err(storage(path, "no such file"));
        }
        let db = redb::ReadOnlyDatabase::open(path).map_err(|e| JournalError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
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
        serde_json::from_slice(v.value()).map_err(|e| self.invalid(format!("run metadata: {e}")))
    }

    /// Visit every entry in order with its index and raw bytes, checking
    /// that indexes are dense and segments well formed.
    pub fn for_each_raw(
        &self,
        mut f: impl FnMut(u64, &[u8]) -> Result<(), JournalError>,
    ) -> Result<(), JournalError> {
        let tx = self.db.begin_read().map_err(|e| self.invalid(e))?;
        let t = tx.open_table(ENTRIES).map_err(|e| self.invalid(e))?;
        let mut next = 0u64;
        for item in t.iter().map_err(|e| self.invalid(e))? {
            let (k, v) = item.map_err(|e| self.invalid(e))?;
            if k.value() != next {
                return Err(self.invalid(format!(
                    "segment starts at entry {} where {next} was expected",
                    k.value()
                )));
            }
            let mut rest = v.value();
            while !rest.is_empty() {
                let (len, tail) = rest
                    .split_first_chunk::<4>()
                    .ok_or_else(|| self.invalid(format!("entry {next}: truncated length")))?;
                let len = u32::from_le_bytes(*len) as usize;
                let bytes = tail
                    .get(..len)
                    .ok_or_else(|| self.invalid(format!("entry {next}: truncated")))?;
                f(next, bytes)?;
                next += 1;
                rest = &tail[len..];
            }
        }
        Ok(())
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
        Ok(crate::sandbox::runtime::hex(&h.finalize()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> RunMeta {
        RunMeta {
            format: FORMAT,
            sandbar_version: "0".into(),
            contract: "c".into(),
            plugin_name: "p".into(),
            plugin_version: "1".into(),
            sdk_version: "0".into(),
            plugin_sha256: "00".into(),
            params: vec![],
            risk: String::new(),
            execution: String::new(),
            sandbox: String::new(),
            data: vec![],
            symbols: vec!["A".into()],
            initial_cash: 1.0,
            seed: 0,
            delivery: "per-bar".into(),
            swaps: vec![],
        }
    }

    #[test]
    fn entries_round_trip_in_order_across_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.redb");
        let mut j = Journal::create(&p, &meta()).unwrap();
        j.flush_every = 3;
        for i in 0..10 {
            j.record(Entry::Bars { first: i, last: i }).unwrap();
        }
        j.finish().unwrap();
        let r = JournalReader::open(&p).unwrap();
        assert_eq!(r.meta().unwrap(), meta());
        let e = r.entries().unwrap();
        assert_eq!(e.len(), 10);
        assert_eq!(e[9], Entry::Bars { first: 9, last: 9 });
        let mut out = Vec::new();
        r.export_jsonl(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 11);
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .starts_with(r#"{"bars":{"first":0"#),
            "{text}"
        );
    }

    #[test]
    fn a_non_journal_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.redb");
        std::fs::write(&p, b"definitely not redb").unwrap();
        let e = JournalReader::open(&p).err().unwrap().to_string();
        assert!(e.contains("not a valid Sandbar journal"), "{e}");
    }
}
