//! How old a live bar may be and still be traded on.
//!
//! A live deployment must not send an order decided on an old bar: a
//! restart's gap fill, or a warm-up from a configured `start`, hands the
//! strategy hours of bars in a burst, and an order decided on the first of
//! them would trade on prices long gone. Such bars are still delivered (the
//! strategy's indicators need them) but only as warm-up: the engine drops
//! what the strategy decides on them ([`crate::engine::Command::WarmUp`]).
//!
//! Age is measured against the feed's **live edge**: the open time of the
//! newest bar the deployment's feed has received (over the stream or
//! REST), not against the host's clock. So the decision depends on what
//! the feed has seen, not on how late the host is, and a venue whose clock
//! differs from ours changes nothing. A bar opening more than the maximum
//! age before the edge is old. A feed that delivers every bar late by the
//! same amount is not caught here: that is the STALE alarm's job (no closed
//! bar for two intervals by the host's clock). A recording has no live
//! edge; its bars are never judged old.
//!
//! The decision is journaled as a command, so a re-execution after a crash
//! drops exactly the decisions the first run dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A deployment's live edge and the maximum age of a bar it trades on.
/// Clones share the edge: the feed advances it, the controller reads it.
#[derive(Debug, Clone)]
pub struct Freshness {
    edge: Arc<AtomicI64>,
    /// Maximum age (ms) of a bar's open time behind the edge.
    pub max_age_ms: i64,
}

impl Freshness {
    /// No bar seen yet; bars more than `max_age_ms` behind the edge are old.
    pub fn new(max_age_ms: i64) -> Self {
        Self {
            edge: Arc::new(AtomicI64::new(i64::MIN)),
            max_age_ms,
        }
    }

    /// The feed received a bar opening at `open_ms`.
    pub fn saw(&self, open_ms: i64) {
        self.edge.fetch_max(open_ms, Ordering::SeqCst);
    }

    /// The open time of the newest bar received, if any.
    pub fn edge_ms(&self) -> Option<i64> {
        Some(self.edge.load(Ordering::SeqCst)).filter(|&e| e != i64::MIN)
    }

    /// For a bar opening at `open_ms`: `Some(before_ms)` when it is old,
    /// where every bar opening before `before_ms` is old too.
    pub fn old_before(&self, open_ms: i64) -> Option<i64> {
        let before = self.edge_ms()?.saturating_sub(self.max_age_ms);
        (open_ms < before).then_some(before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn a_bar_is_old_only_when_it_opened_more_than_the_maximum_age_before_the_edge() {
        let f = Freshness::new(2 * MIN);
        assert_eq!(f.old_before(0), None, "nothing seen: nothing is old");
        f.saw(10 * MIN);
        f.saw(9 * MIN); // a late arrival does not move the edge back
        assert_eq!(f.edge_ms(), Some(10 * MIN));
        assert_eq!(f.old_before(10 * MIN), None);
        assert_eq!(
            f.old_before(8 * MIN),
            None,
            "exactly the maximum age is not old"
        );
        assert_eq!(f.old_before(8 * MIN - 1), Some(8 * MIN));
        assert_eq!(f.old_before(0), Some(8 * MIN));
    }

    #[test]
    fn clones_share_the_edge() {
        let f = Freshness::new(MIN);
        let g = f.clone();
        f.saw(5 * MIN);
        assert_eq!(g.old_before(3 * MIN), Some(4 * MIN));
    }
}
