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

//!
//! Files: `entry.rs` what a journal holds; `recorder.rs` the `Recorder`
//! trait and the journal's errors; `writer.rs` the file being written
//! (write-ahead, barriers, resume); `reader.rs` reading it back.

use crate::data::market::Bar;
use crate::execution::{FillReport, Order, Side};
use crate::risk::{Rule, StateChange};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

mod entry;
mod reader;
mod recorder;
mod writer;
pub use entry::*;
pub use reader::*;
pub use recorder::*;
pub use writer::*;

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
/// Later kinds ([`Entry::Amend`], [`Entry::RefusedExit`]) are added at the
/// end without a new version: a journal without them reads as before.
/// Entries are bincode enums, so a new kind is only ever added at the end
/// (a test pins every kind's index).
pub const FORMAT: u32 = 4;

/// The format of journals without live-venue entries.
pub const FORMAT_SIMULATED: u32 = 3;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ 64 << 20 }>()
}

fn storage(path: &Path, e: impl std::fmt::Display) -> JournalError {
    JournalError::Storage {
        path: path.to_path_buf(),
        message: e.to_string(),
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
    fn a_page_is_the_slice_of_the_entries_whatever_the_segments() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.redb");
        let mut j = Journal::create(&p, &meta()).unwrap();
        j.flush_every = 3;
        for i in 0..20 {
            j.record(Entry::Bars { first: i, last: i }).unwrap();
        }
        // A running journal's reader sees what is committed (18 of 20).
        let committed = j.reader().page(0, 100, None, None).unwrap();
        assert_eq!(committed.len(), 18);
        j.finish().unwrap();
        let r = JournalReader::open(&p).unwrap();
        let all = r.entries().unwrap();
        for offset in 0..22u64 {
            for limit in 1..6usize {
                let page = r.page(offset, limit, None, None).unwrap();
                let want: Vec<(u64, Entry)> = (offset as usize..all.len())
                    .take(limit)
                    .map(|i| (i as u64, all[i].clone()))
                    .collect();
                assert_eq!(page, want, "offset {offset} limit {limit}");
            }
        }
        // A replay journal keeps no bars: a time filter finds nothing.
        assert!(r.page(0, 100, Some(0), None).unwrap().is_empty());
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
        let exit = Entry::RefusedExit { seq: 0 };
        // Format 1 ended with Fault (14) and Final (15).
        assert_eq!(
            [
                index(&fault),
                index(&fin),
                index(&command),
                index(&from_entry),
                index(&venue),
                index(&exit)
            ],
            [14, 15, 16, 17, 18, 21]
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
