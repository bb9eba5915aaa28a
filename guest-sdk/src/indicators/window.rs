//! The last `n` values, and a count of bars per symbol: the two pieces of
//! state most strategies otherwise write by hand (and get off by one).

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

use crate::SymbolId;

/// The last `n` values pushed, newest first by index.
///
/// `get(0)` is the value just pushed, `get(1)` the one before — the
/// "`close[1]`" of charting languages. Pushing into a full window drops the
/// oldest value and hands it back, so a running sum can subtract it.
///
/// ```
/// use sandbar_sdk::indicators::Window;
/// let mut w = Window::new(3);
/// for x in [1.0, 2.0, 3.0] {
///     w.push(x);
/// }
/// assert!(w.is_full());
/// assert_eq!(w.push(4.0), Some(1.0)); // 1.0 falls out
/// assert_eq!((w.get(0), w.get(2), w.get(3)), (Some(4.0), Some(2.0), None));
/// assert_eq!(w.oldest(), Some(2.0));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Window<T> {
    n: usize,
    values: VecDeque<T>,
}

impl<T: Clone> Window<T> {
    /// A window of the last `n` values (at least 1).
    pub fn new(n: usize) -> Self {
        let n = n.max(1);
        Self {
            n,
            values: VecDeque::with_capacity(n + 1),
        }
    }
    /// Add the newest value; the oldest one, if the window was full.
    pub fn push(&mut self, x: T) -> Option<T> {
        self.values.push_back(x);
        if self.values.len() > self.n {
            self.values.pop_front()
        } else {
            None
        }
    }
    /// The value `ago` pushes back (`0` is the newest), if the window holds it.
    pub fn get(&self, ago: usize) -> Option<T> {
        let len = self.values.len();
        (ago < len).then(|| self.values[len - 1 - ago].clone())
    }
    /// The oldest value held.
    pub fn oldest(&self) -> Option<T> {
        self.values.front().cloned()
    }
    /// How many values are held (at most the window's length).
    pub fn len(&self) -> usize {
        self.values.len()
    }
    /// Nothing pushed yet.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
    /// The window holds `n` values.
    pub fn is_full(&self) -> bool {
        self.values.len() == self.n
    }
    /// The window's length `n`.
    pub fn capacity(&self) -> usize {
        self.n
    }
    /// The values held, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.values.iter()
    }
}

/// How many bars each symbol has seen: "one entry per 30 bars", "skip the
/// first 50 bars", per symbol.
///
/// ```
/// use sandbar_sdk::indicators::BarCounter;
/// let mut bars = BarCounter::default();
/// assert_eq!(bars.tick(0), 1);
/// assert_eq!(bars.tick(0), 2);
/// assert_eq!(bars.tick(1), 1);
/// bars.mark(0); // e.g. an entry at this bar
/// bars.tick(0);
/// assert_eq!(bars.since_mark(0), Some(1));
/// assert_eq!(bars.since_mark(1), None);
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BarCounter {
    counts: Vec<u64>,
    marks: Vec<Option<u64>>,
}

impl BarCounter {
    /// Count one more bar of `symbol`; the count including it.
    pub fn tick(&mut self, symbol: SymbolId) -> u64 {
        let i = self.slot(symbol);
        self.counts[i] += 1;
        self.counts[i]
    }
    /// Bars of `symbol` counted so far.
    pub fn count(&self, symbol: SymbolId) -> u64 {
        self.counts.get(symbol as usize).copied().unwrap_or(0)
    }
    /// Remember the current bar of `symbol` (an entry, a signal).
    pub fn mark(&mut self, symbol: SymbolId) {
        let i = self.slot(symbol);
        self.marks[i] = Some(self.counts[i]);
    }
    /// Bars of `symbol` since its last [`mark`](Self::mark); `None` if never marked.
    pub fn since_mark(&self, symbol: SymbolId) -> Option<u64> {
        let i = symbol as usize;
        let mark = self.marks.get(i).copied().flatten()?;
        Some(self.counts[i] - mark)
    }
    /// `symbol`'s index, its count and mark created on first use.
    fn slot(&mut self, symbol: SymbolId) -> usize {
        let i = symbol as usize;
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
            self.marks.resize(i + 1, None);
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_keeps_exactly_the_last_n_newest_first() {
        let mut w = Window::new(4);
        let mut dropped = Vec::new();
        for x in 0..10 {
            if let Some(d) = w.push(x) {
                dropped.push(d);
            }
            let held: Vec<i32> = w.iter().copied().collect();
            let start = (x - 3).max(0);
            assert_eq!(held, (start..=x).collect::<Vec<_>>());
            assert_eq!(w.get(0), Some(x));
            assert_eq!(w.get(w.len() - 1), w.oldest());
            assert_eq!(w.get(w.len()), None);
            assert_eq!(w.is_full(), x >= 3);
        }
        assert_eq!(dropped, (0..6).collect::<Vec<_>>());
    }

    #[test]
    fn a_window_of_zero_holds_one() {
        let mut w = Window::new(0);
        assert_eq!(w.capacity(), 1);
        w.push(1.5);
        assert_eq!(w.push(2.5), Some(1.5));
    }

    #[test]
    fn bars_are_counted_per_symbol_and_since_a_mark() {
        let mut c = BarCounter::default();
        c.mark(3); // before any bar of symbol 3: the mark is at bar 0
        assert_eq!(c.since_mark(3), Some(0));
        for _ in 0..5 {
            c.tick(0);
        }
        c.tick(3);
        assert_eq!((c.count(0), c.count(3), c.count(7)), (5, 1, 0));
        assert_eq!(c.since_mark(3), Some(1));
        c.mark(0);
        assert_eq!(c.since_mark(0), Some(0));
        c.tick(0);
        c.tick(0);
        assert_eq!(c.since_mark(0), Some(2));
        assert_eq!(c.since_mark(9), None);
    }
}
