//! Where bars come from. The engine pulls bars through [`Feed`]; a recorded
//! file is one feed, exchange WebSockets will be others. Bars arrive in time
//! order; the engine never looks ahead of what the feed has delivered.

use crate::data::market::{Bar, Recording};

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

/// A recorded feed that delivers bars at a pace, like a live feed would:
/// `next_batch` returns only the bars due by now and waits for the next one.
/// Paper trading on recorded data and service tests use it.
pub struct PacedFeed {
    inner: RecordedFeed,
    bars_per_second: f64,
    start: std::time::Instant,
    delivered: u64,
}

impl PacedFeed {
    /// Deliver `bars_per_second` bars per second from the start of the recording.
    pub fn new(rec: Recording, bars_per_second: f64) -> Self {
        Self {
            inner: RecordedFeed::new(rec),
            bars_per_second,
            start: std::time::Instant::now(),
            delivered: 0,
        }
    }
}

impl Feed for PacedFeed {
    fn symbols(&self) -> &[String] {
        self.inner.symbols()
    }

    fn next_batch(&mut self, out: &mut Vec<Bar>, max: usize) -> usize {
        let due = loop {
            let due = (self.start.elapsed().as_secs_f64() * self.bars_per_second) as u64;
            if due > self.delivered {
                break due;
            }
            let wait = (self.delivered + 1) as f64 / self.bars_per_second
                - self.start.elapsed().as_secs_f64();
            std::thread::sleep(std::time::Duration::from_secs_f64(wait.clamp(0.0, 0.05)));
        };
        let n = self
            .inner
            .next_batch(out, max.min((due - self.delivered) as usize));
        self.delivered += n as u64;
        n
    }

    fn len_hint(&self) -> Option<u64> {
        self.inner.len_hint()
    }
}
