//! The courier's write-ahead record of what it sends: a placement's client
//! order id is appended to `<journal>.sent` and synced to disk *before*
//! the placement leaves. So at a restart, an order the journal leaves open
//! that the venue does not show is **proven never sent** when its id is not
//! in the file — the host stopped between journaling the order and sending
//! it — and only then is it sent. One whose id is there may be at the
//! venue (its answer lost, its listing late): it is unknown, never resent
//! (see the courier).
//!
//! A line cut short by a crash is a send that never happened (the sync
//! comes before the send), so it proves nothing either way and is ignored.
//! A record that cannot be written stops the placement: an order whose
//! sending cannot be proven later is not sent.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// What this run's courier sent (or was about to).
#[derive(Debug, Default)]
pub struct SentLog {
    file: Option<(File, PathBuf)>,
    ids: HashSet<String>,
}

impl SentLog {
    /// No record (tests, a venue built by hand): nothing is ever proven
    /// unsent.
    pub fn none() -> SentLog {
        SentLog::default()
    }

    /// Open (or create) the record at `path`, reading what it holds.
    pub fn open(path: &Path) -> std::io::Result<SentLog> {
        let mut ids = HashSet::new();
        if path.exists() {
            let text = BufReader::new(File::open(path)?);
            let lines: Vec<String> = text.lines().collect::<Result<_, _>>()?;
            // Every line but a last one cut short (no newline) by a crash.
            let complete = std::fs::read(path)?.ends_with(b"\n");
            let keep = if complete {
                lines.len()
            } else {
                lines.len().saturating_sub(1)
            };
            ids.extend(lines.into_iter().take(keep).filter(|l| !l.is_empty()));
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(SentLog {
            file: Some((file, path.to_path_buf())),
            ids,
        })
    }

    /// Record that `client_id` is about to be sent, durably.
    pub fn mark(&mut self, client_id: &str) -> std::io::Result<()> {
        if self.ids.contains(client_id) {
            return Ok(());
        }
        if let Some((file, path)) = &mut self.file {
            file.write_all(format!("{client_id}\n").as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        }
        self.ids.insert(client_id.to_string());
        Ok(())
    }

    /// Whether `client_id` may have been sent: recorded, or no record kept.
    pub fn may_have_sent(&self, client_id: &str) -> bool {
        self.file.is_none() || self.ids.contains(client_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_recorded_before_a_crash_is_known_after_it_and_a_cut_line_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d-live.sent");
        let mut log = SentLog::open(&path).unwrap();
        assert!(!log.may_have_sent("sb-r-1"));
        log.mark("sb-r-1").unwrap();
        log.mark("sb-r-1").unwrap();
        drop(log);
        // A crash in the middle of writing the next one.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"sb-r-")
            .unwrap();
        let log = SentLog::open(&path).unwrap();
        assert!(log.may_have_sent("sb-r-1"));
        assert!(!log.may_have_sent("sb-r-"), "a cut line proves nothing");
        assert!(!log.may_have_sent("sb-r-2"));
        assert_eq!(
            std::fs::read_to_string(&path)
                .unwrap()
                .matches("sb-r-1\n")
                .count(),
            1
        );
        assert!(SentLog::none().may_have_sent("anything"));
    }
}
