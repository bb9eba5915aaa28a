//! The journal: every step of a run, in order, in redb.
//!
//! A journal file holds one run: its [`RunMeta`] (plugin hash, SDK version,
//! parameters, limits, data hashes — never a wall-clock time, so that the
//! same inputs give byte-identical contents) and a sequence of [`Entry`]s
//! keyed by a dense `u64`. Entries are bincode-encoded serde values.
//!
//! Durability has two policies, chosen when the file is opened:
//! - **Replay** ([`Journal::create`]): entries are buffered and committed in
//!   large transactions without fsync (`Durability::None`), the last commit
//!   durable; a replay can always be re-run.
//! - **Write-ahead** ([`Journal::resume`], the service): the journal also
//!   keeps the run's *inputs* — every bar delivered (table `bars`) and every
//!   operator command (an [`Entry::Command`]) — and commits durably at every
//!   [`Recorder::barrier`]: before an order is handed to the venue and before
//!   the strategy hears of a fill; otherwise at least once a second. What a
//!   crash loses is therefore only bars that changed nothing durable, and the
//!   feed delivers them again.
//!
//! Recovery is re-execution: the engine is deterministic, so a resumed
//! deployment runs its journaled inputs through a fresh engine and the
//! journal *verifies* each regenerated entry against the committed one
//! (byte for byte) instead of writing it; past the committed entries it
//! appends. A difference is an error ([`JournalError::Diverged`]), never a
//! silent rewrite of history. A journal file is never overwritten by the
//! service.

use std::io::Write;
use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::market::Bar;
use crate::execution::{FillReport, Order, Side};
use crate::risk::{Rule, StateChange};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Entries are stored in segments: key = index of the segment's first entry,
/// value = its entries, each as a little-endian `u32` length and bincode
/// bytes. One segment per commit keeps B-tree work per entry negligible.
const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
/// Write-ahead journals: every bar delivered, by sequence number (bincode).
const BARS: TableDefinition<u64, &[u8]> = TableDefinition::new("bars");
/// Write-ahead journals: what the feed did that is not an input (duplicates
/// dropped, gaps filled, reconnects, staleness), JSON, in order. Kept apart
/// from the entries so that they stay a pure function of the inputs.
const NOTES: TableDefinition<u64, &[u8]> = TableDefinition::new("feed-notes");
/// Write-ahead journals: the latest strategy snapshot (`snapshot` → bincode [`Snapshot`]).
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");

/// The journal format version stored in the metadata. Version 2 added the
/// write-ahead tables and [`Entry::Command`], version 3 [`Entry::FromEntry`],
/// version 4 [`Entry::Venue`] (written only by deployments on a live venue:
/// every other journal is still format 3); earlier versions still read.
/// Entries are bincode enums, so a new kind is only ever added at the end
/// (a test pins every kind's index).
pub const FORMAT: u32 = 4;
/// The format of journals without live-venue entries.
pub const FORMAT_SIMULATED: u32 = 3;

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
    /// An operator's command, applied at this bar boundary. Commands are
    /// inputs of the run like bars: recovery applies them again at the same
    /// bar. What they cause (a swap, a pause) follows as its own entry.
    Command {
        /// Bar boundary it was applied at (before bar `seq`).
        seq: u64,
        /// What was asked.
        action: CommandAction,
        /// Who asked.
        actor: String,
        /// Why.
        reason: String,
    },
    /// The intent just before gives protective levels as distances from
    /// the position's average entry price (contract 0.2.0's `from-entry`);
    /// the host resolves them after every fill.
    FromEntry {
        /// Bar sequence number the intent was decided on.
        seq: u64,
        /// Stop-loss distance below a long's entry (above a short's).
        stop_loss: Option<f64>,
        /// Take-profit distance above a long's entry (below a short's).
        take_profit: Option<f64>,
    },
    /// What a live venue said about an order (format 4): an input of the
    /// run, fed back at the same bar by recovery, journaled before the
    /// fill it brings is booked.
    Venue {
        /// Bar sequence number it was taken in on.
        seq: u64,
        /// The note.
        note: crate::execution::VenueNote,
    },
    /// The kill switch reached a LIVE run between bars (format 4): every
    /// order cancelled, every position closed at the venue, the strategy
    /// paused — bar or no bar. An input of the run: recovery applies it
    /// again after the same `notes` venue notes of bar `seq`.
    Kill {
        /// The bar boundary it came before.
        seq: u64,
        /// Venue notes taken at `seq` before it.
        notes: u32,
        /// Who.
        actor: String,
        /// Why.
        reason: String,
    },
}

/// An operator command as journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommandAction {
    /// Put `to` in service, restored from the serving version's snapshot.
    Swap {
        /// `name@version`.
        to: String,
    },
    /// Put `to` in service with this state (a promoted shadow's own).
    Promote {
        /// `name@version`.
        to: String,
        /// The state it brought.
        state: Vec<u8>,
    },
    /// Go back to the version the last swap replaced.
    Rollback,
    /// Stop calling the strategy.
    Pause,
    /// Call it again.
    Resume,
    /// Cancel every order and close every position.
    Flatten,
    /// Capital moved in (`amount` > 0) or out by the account the
    /// deployment shares with others: its rebalance computed from every
    /// deployment's daily closes before `as_of_ms`.
    Allocate {
        /// Cash moved in (negative: out).
        amount: f64,
        /// The rebalance's day (UTC ms): the closes before it were used.
        as_of_ms: i64,
    },
    /// A limit above the deployment (its account's daily loss) stops new
    /// risk for the rest of the day.
    Reduce,
}

/// A strategy snapshot kept by a write-ahead journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Bars processed when it was taken (the next bar's sequence number).
    pub seq: u64,
    /// `name@version` that produced it.
    pub version: String,
    /// The plugin's bytes.
    pub state: Vec<u8>,
}

impl Entry {
    /// The bar sequence number the entry belongs to, when it has one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Entry::Bars { first, .. } => Some(*first),
            Entry::Intent { seq, .. }
            | Entry::Fill { seq, .. }
            | Entry::Refusal { seq, .. }
            | Entry::Cancel { seq, .. }
            | Entry::State { seq, .. }
            | Entry::StrategyError { seq, .. }
            | Entry::Swap { seq, .. }
            | Entry::SwapRefused { seq, .. }
            | Entry::Rollback { seq, .. }
            | Entry::SwapCommitted { seq, .. }
            | Entry::Paused { seq, .. }
            | Entry::Resumed { seq, .. }
            | Entry::Fault { seq, .. }
            | Entry::Command { seq, .. }
            | Entry::FromEntry { seq, .. }
            | Entry::Venue { seq, .. }
            | Entry::Kill { seq, .. } => Some(*seq),
            Entry::Order { order, .. } => Some(order.decided_seq),
            Entry::Final { .. } => None,
        }
    }
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
    /// A service deployment's fixed settings (TOML: run config, feed,
    /// symbols); empty for a replay.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service: String,
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
    /// Another process has the file open (a second `sandbar serve`?).
    #[error("journal {path} is in use by another process; refusing to open it")]
    Locked {
        /// File.
        path: PathBuf,
    },
    /// Re-executing the journaled inputs did not give the journaled entry:
    /// the plugin is not deterministic, or its bytes or the configuration
    /// changed since the entry was written. The journal is left as it was.
    #[error(
        "journal {path}: recovery diverged at entry {index}: journaled {journaled}, re-executed {recomputed}"
    )]
    Diverged {
        /// File.
        path: PathBuf,
        /// Entry index.
        index: u64,
        /// What the file holds (JSON).
        journaled: String,
        /// What re-execution produced (JSON).
        recomputed: String,
    },
}

/// Where the engine writes its journal entries. `Send`, so that an engine
/// can move between the service's worker threads.
pub trait Recorder: Send {
    /// Record one entry, in order.
    fn record(&mut self, entry: Entry) -> Result<(), JournalError>;
    /// Whether it keeps the run's input bars ([`Recorder::input_bar`]); asked
    /// once, so that a replay pays nothing per bar for it.
    fn keeps_inputs(&self) -> bool {
        false
    }
    /// Bar `seq` is about to be processed (write-ahead journals keep it as an
    /// input of the run).
    fn input_bar(&mut self, _seq: u64, _bar: &Bar) -> Result<(), JournalError> {
        Ok(())
    }
    /// Everything recorded so far must be durable before the engine goes on:
    /// called before an order is handed to the venue and before the strategy
    /// hears of a fill.
    fn barrier(&mut self) -> Result<(), JournalError> {
        Ok(())
    }
}

impl<R: Recorder + ?Sized> Recorder for &mut R {
    fn record(&mut self, entry: Entry) -> Result<(), JournalError> {
        (**self).record(entry)
    }
    fn keeps_inputs(&self) -> bool {
        (**self).keeps_inputs()
    }
    fn input_bar(&mut self, seq: u64, bar: &Bar) -> Result<(), JournalError> {
        (**self).input_bar(seq, bar)
    }
    fn barrier(&mut self) -> Result<(), JournalError> {
        (**self).barrier()
    }
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
    /// Write-ahead policy (the service) rather than replay buffering.
    write_ahead: Option<WriteAhead>,
}

/// State of the write-ahead policy.
struct WriteAhead {
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
}

/// Open a database for writing, telling a lock held by another process
/// apart from a damaged file.
fn open_db(path: &Path) -> Result<Database, JournalError> {
    Database::create(path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => JournalError::Locked {
            path: path.to_path_buf(),
        },
        e => JournalError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    })
}

fn check_format(path: &Path, meta: &RunMeta) -> Result<(), JournalError> {
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
        let db = Database::create(path).map_err(|e| storage(path, e))?;
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

    /// Every entry in the file and the pending segment, decoded (the API's
    /// journal query on a running deployment).
    pub fn entries(&self) -> Result<Vec<Entry>, JournalError> {
        let invalid = |e: &dyn std::fmt::Display| JournalError::Invalid {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let tx = self.db.begin_read().map_err(|e| invalid(&e))?;
        let t = tx.open_table(ENTRIES).map_err(|e| invalid(&e))?;
        let mut out = Vec::new();
        let mut decode = |_: u64, bytes: &[u8]| {
            let (e, _): (Entry, usize) =
                bincode::serde::decode_from_slice(bytes, config()).map_err(|e| invalid(&e))?;
            out.push(e);
            Ok(())
        };
        for_each_in(&t, &self.path, &mut decode)?;
        let mut rest = self.segment.as_slice();
        while let Some((len, tail)) = rest.split_first_chunk::<4>() {
            let len = u32::from_le_bytes(*len) as usize;
            decode(0, &tail[..len])?;
            rest = &tail[len..];
        }
        Ok(out)
    }

    /// Open times of the input bars, committed and pending, by sequence number.
    pub fn bar_times(&self) -> Result<Vec<i64>, JournalError> {
        let invalid = |e: &dyn std::fmt::Display| JournalError::Invalid {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let tx = self.db.begin_read().map_err(|e| invalid(&e))?;
        let t = tx.open_table(BARS).map_err(|e| invalid(&e))?;
        let mut out = Vec::new();
        for item in t.iter().map_err(|e| invalid(&e))? {
            let (_, v) = item.map_err(|e| invalid(&e))?;
            let (bar, _): (Bar, usize) =
                bincode::decode_from_slice(v.value(), config()).map_err(|e| invalid(&e))?;
            out.push(bar.time_ms);
        }
        if let Some(w) = &self.write_ahead {
            for (_, bytes) in &w.bars {
                let (bar, _): (Bar, usize) =
                    bincode::decode_from_slice(bytes, config()).map_err(|e| invalid(&e))?;
                out.push(bar.time_ms);
            }
        }
        Ok(out)
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

/// Visit the entries of an `entries` table in order, checking that indexes
/// are dense and segments well formed.
fn for_each_in(
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
    db: ReadDb,
    path: PathBuf,
}

/// Read-only when the file was closed cleanly; opened for writing (which
/// makes redb repair it, keeping every committed transaction) when the
/// writer was killed. Nothing is written besides the repair.
enum ReadDb {
    ReadOnly(redb::ReadOnlyDatabase),
    Repaired(Database),
}

impl ReadDb {
    fn begin_read(&self) -> Result<redb::ReadTransaction, redb::TransactionError> {
        match self {
            ReadDb::ReadOnly(d) => d.begin_read(),
            ReadDb::Repaired(d) => d.begin_read(),
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
            service: String::new(),
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
    fn a_resumed_journal_verifies_what_it_holds_then_appends() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.redb");
        let bar = |i: i64| Bar {
            symbol: 0,
            time_ms: i * 60_000,
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 1.0,
        };
        {
            let (mut j, r) = Journal::resume(&p, &meta()).unwrap();
            assert!(r.bars.is_empty() && r.entries == 0);
            for i in 0..3 {
                j.input_bar(i, &bar(i as i64)).unwrap();
                j.record(Entry::Bars { first: i, last: i }).unwrap();
            }
            j.barrier().unwrap();
            // Not committed: lost in a crash, and that is allowed.
            j.input_bar(3, &bar(3)).unwrap();
            j.record(Entry::Bars { first: 3, last: 3 }).unwrap();
        }
        let (mut j, r) = Journal::resume(&p, &meta()).unwrap();
        assert_eq!(r.bars.len(), 3);
        assert_eq!(r.entries, 3);
        assert!(j.verifying());
        j.record(Entry::Bars { first: 0, last: 0 }).unwrap();
        let e = j.record(Entry::Bars { first: 1, last: 2 }).unwrap_err();
        assert!(
            e.to_string().contains("recovery diverged at entry 1"),
            "{e}"
        );
    }

    #[test]
    fn a_journal_in_use_or_of_an_unknown_format_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.redb");
        let (held, _) = Journal::resume(&p, &meta()).unwrap();
        let e = Journal::resume(&p, &meta()).err().unwrap().to_string();
        assert!(e.contains("in use by another process"), "{e}");
        drop(held);
        let q = dir.path().join("future.redb");
        let mut future = meta();
        future.format = FORMAT + 1;
        Journal::create(&q, &future).unwrap().finish().unwrap();
        let before = std::fs::read(&q).unwrap();
        let same = |a: &[u8], b: &[u8]| a == b;
        let e = Journal::resume(&q, &meta()).err().unwrap().to_string();
        assert!(
            e.contains(&format!(
                "journal format {} is not one this sandbar",
                FORMAT + 1
            )),
            "{e}"
        );
        let e = JournalReader::open(&q)
            .unwrap()
            .meta()
            .unwrap_err()
            .to_string();
        assert!(e.contains("journal format"), "{e}");
        assert!(same(&std::fs::read(&q).unwrap(), &before), "never touched");
    }

    /// A journal of an older format decodes only if every kind of entry
    /// keeps its bincode index: new kinds go at the end. (Version 2 first
    /// put `Command` before `Final`, which would have read a version-1
    /// `Final` as a command.)
    #[test]
    fn entry_kinds_keep_their_index_across_formats() {
        let index = |e: &Entry| bincode::serde::encode_to_vec(e, config()).unwrap()[0];
        let fault = Entry::Fault {
            seq: 0,
            message: String::new(),
        };
        let fin = Entry::Final {
            cash: 0.0,
            equity: 0.0,
            realized: 0.0,
            commissions: 0.0,
            positions: vec![],
        };
        let command = Entry::Command {
            seq: 0,
            action: CommandAction::Pause,
            actor: String::new(),
            reason: String::new(),
        };
        let from_entry = Entry::FromEntry {
            seq: 0,
            stop_loss: None,
            take_profit: None,
        };
        let venue = Entry::Venue {
            seq: 0,
            note: crate::execution::VenueNote {
                order_id: 1,
                update: crate::execution::order_state::Update::Accepted,
                state: crate::execution::order_state::OrderState::Accepted,
                ended: None,
            },
        };
        // Format 1 ended with Fault (14) and Final (15).
        assert_eq!(
            [
                index(&fault),
                index(&fin),
                index(&command),
                index(&from_entry),
                index(&venue)
            ],
            [14, 15, 16, 17, 18]
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
