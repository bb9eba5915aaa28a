//! What a live venue's courier could not do, kept for the deployment's
//! status and the `errors` alert: bounded, because a strategy can make the
//! venue refuse an order on every bar.

use std::sync::{Arc, Mutex};

/// What the courier reports that is not about one order's state: the
/// latest [`MAX_PROBLEMS`], and how many there were in all (a strategy can
/// make the venue refuse an order on every bar: the list stays bounded, and
/// the count tells a watcher what is new).
pub type Problems = Arc<Mutex<ProblemLog>>;

/// Problems kept (the oldest are dropped first).
pub const MAX_PROBLEMS: usize = 256;

/// The courier's problems: the latest [`MAX_PROBLEMS`] and a running count.
#[derive(Debug, Default)]
pub struct ProblemLog {
    latest: std::collections::VecDeque<String>,
    total: u64,
}

impl ProblemLog {
    /// Report one.
    pub fn push(&mut self, text: String) {
        if self.latest.len() == MAX_PROBLEMS {
            self.latest.pop_front();
        }
        self.latest.push_back(text);
        self.total += 1;
    }

    /// How many were ever reported.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The latest kept, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.latest.iter()
    }

    /// Those reported after the first `seen` of all, as far as they are kept.
    pub fn since(&self, seen: u64) -> Vec<String> {
        let new = self
            .total
            .saturating_sub(seen)
            .min(self.latest.len() as u64) as usize;
        self.latest
            .iter()
            .skip(self.latest.len() - new)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_problem_log_keeps_the_latest_and_counts_them_all() {
        let mut log = ProblemLog::default();
        for i in 0..1_000 {
            log.push(format!("order {i} rejected"));
        }
        assert_eq!(log.total(), 1_000);
        assert_eq!(log.iter().len(), MAX_PROBLEMS, "bounded");
        assert_eq!(log.iter().last().unwrap(), "order 999 rejected");
        assert_eq!(
            log.since(997),
            [
                "order 997 rejected",
                "order 998 rejected",
                "order 999 rejected"
            ]
        );
        assert!(log.since(1_000).is_empty());
        // More new than kept: what is kept.
        assert_eq!(log.since(0).len(), MAX_PROBLEMS);
    }
}
