//! Where bars come from. The engine pulls bars through [`Feed`]; a recorded
//! file is one feed, exchange WebSockets will be others. Bars arrive in time
//! order; the engine never looks ahead of what the feed has delivered.

use crate::market::{Bar, Recording};

/// A source of bars in time order.
pub trait Feed {
    /// The symbol table; `Bar::symbol` indexes it. Fixed for the run.
    fn symbols(&self) -> &[String];
    /// Append up to `max` next bars to `out`; returns how many (0 = end).
    fn next_batch(&mut self, out: &mut Vec<Bar>, max: usize) -> usize;
    /// Total bars, when known (for progress).
    fn len_hint(&self) -> Option<u64> {
        None
    }
}

/// Replays a [`Recording`].
pub struct RecordedFeed {
    rec: Recording,
    pos: usize,
}

impl RecordedFeed {
    /// A feed over a recording, from its first bar.
    pub fn new(rec: Recording) -> Self {
        Self { rec, pos: 0 }
    }
}

impl Feed for RecordedFeed {
    fn symbols(&self) -> &[String] {
        &self.rec.symbols
    }

    fn next_batch(&mut self, out: &mut Vec<Bar>, max: usize) -> usize {
        let end = (self.pos + max).min(self.rec.bars.len());
        out.extend_from_slice(&self.rec.bars[self.pos..end]);
        let n = end - self.pos;
        self.pos = end;
        n
    }

    fn len_hint(&self) -> Option<u64> {
        Some(self.rec.bars.len() as u64)
    }
}
