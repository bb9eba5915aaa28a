//! Where a run's entries go: the `Recorder` trait the engine writes through, for a journal file or memory, and the journal's typed errors.

use super::*;

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
