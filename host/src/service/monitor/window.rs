//! What the burst and silence rules count: events within a sliding window
//! ([`Burst`]: refusals over bars, venue errors over time), and the time
//! since something last happened ([`Quiet`]: a deployment's last fill).

use std::collections::VecDeque;

/// Events counted over a sliding window of `window` units (bars, or
/// milliseconds) ending at the latest.
#[derive(Debug, Default)]
pub struct Burst {
    at: VecDeque<u64>,
}

impl Burst {
    /// Count one event at `at` (never before the last one); answers how
    /// many fall within the last `window` units, this one included.
    pub fn count(&mut self, at: u64, window: u64) -> usize {
        let since = at.saturating_sub(window.saturating_sub(1));
        while self.at.front().is_some_and(|&s| s < since) {
            self.at.pop_front();
        }
        self.at.push_back(at);
        self.at.len()
    }
}

/// Time since something last happened, told once per silence.
#[derive(Debug, Default)]
pub struct Quiet {
    since_ms: Option<i64>,
    told: bool,
}

impl Quiet {
    /// It happened at `at_ms`: the silence is over.
    pub fn happened(&mut self, at_ms: i64) {
        self.since_ms = Some(at_ms);
        self.told = false;
    }

    /// Time passed to `now_ms` (the first call starts the clock): how long
    /// the silence has lasted, when it is at least `limit_ms` and was not
    /// told yet (then it is, once).
    pub fn silent_for(&mut self, now_ms: i64, limit_ms: i64) -> Option<i64> {
        let since = *self.since_ms.get_or_insert(now_ms);
        let quiet = now_ms - since;
        (quiet >= limit_ms && !self.told).then(|| {
            self.told = true;
            quiet
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_counts_only_what_falls_in_its_window() {
        let mut b = Burst::default();
        assert_eq!(b.count(0, 100), 1);
        assert_eq!(b.count(50, 100), 2);
        assert_eq!(b.count(99, 100), 3);
        assert_eq!(b.count(100, 100), 3, "bar 0 is out of bars 1..=100");
        assert_eq!(b.count(1_000, 100), 1);
    }

    #[test]
    fn a_silence_is_told_once_and_again_only_after_it_ends() {
        let mut q = Quiet::default();
        assert_eq!(q.silent_for(1_000, 500), None, "the clock starts");
        assert_eq!(q.silent_for(1_400, 500), None);
        assert_eq!(q.silent_for(1_500, 500), Some(500));
        assert_eq!(q.silent_for(9_000, 500), None, "told already");
        q.happened(9_000);
        assert_eq!(q.silent_for(9_499, 500), None);
        assert_eq!(q.silent_for(9_600, 500), Some(600));
    }
}
