//! Positions a strategy can count on under batched delivery.
//!
//! In batched delivery a strategy hears of fills only at the next call, and
//! the host's portfolio view is as old as the batch: on the bars after an
//! entry decision, `ctx.position()` still says flat and a naive strategy
//! asks for the same entry again on every bar of the batch. [`Positions`]
//! keeps what the strategy *knows* (the fills it heard of) apart from what
//! it *expects* (the target it asked for and has not yet seen filled or
//! refused), so it can ask once and wait. It is plain data (serde), so it
//! goes into the strategy's snapshot.
//!
//! ```
//! use sandbar_sdk::positions::Positions;
//! use sandbar_sdk::{Event, Fill, Side};
//! let mut p = Positions::default();
//! assert!(p.want(0, 10.0));        // ask once…
//! assert!(!p.want(0, 10.0));       // …not again while it is pending
//! p.on_event(&Event::Filled(Fill {
//!     order_id: 1, symbol: 0, side: Side::Buy, quantity: 10.0, price: 5.0,
//!     commission: 0.0, time_ms: 0, origin: "strategy".into(),
//! }));
//! assert_eq!((p.held(0), p.pending(0)), (10.0, None));
//! ```

use serde::{Deserialize, Serialize};

use crate::{Event, Side, SymbolId};

/// Quantities closer than this are the same position.
const EPS: f64 = 1e-9;

/// Held and expected positions, per symbol.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Positions {
    held: Vec<f64>,
    pending: Vec<Option<f64>>,
}

impl Positions {
    fn slot(&mut self, s: SymbolId) -> usize {
        let i = s as usize;
        if self.held.len() <= i {
            self.held.resize(i + 1, 0.0);
            self.pending.resize(i + 1, None);
        }
        i
    }

    /// Apply what the host reported: fills move the held position (and
    /// settle a pending target once reached); a refusal drops the pending
    /// target, so the strategy may ask again.
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::Filled(f) => {
                let i = self.slot(f.symbol);
                let signed = match f.side {
                    Side::Buy => f.quantity,
                    Side::Sell => -f.quantity,
                };
                self.held[i] += signed;
                if self.pending[i].is_some_and(|t| (t - self.held[i]).abs() <= EPS) {
                    self.pending[i] = None;
                }
            }
            Event::Rejected(r) => {
                let i = self.slot(r.symbol);
                self.pending[i] = None;
            }
            Event::Cancelled(_) => {}
        }
    }

    /// The position the fills heard so far add up to.
    pub fn held(&self, symbol: SymbolId) -> f64 {
        self.held.get(symbol as usize).copied().unwrap_or(0.0)
    }

    /// The target asked for and not yet filled or refused.
    pub fn pending(&self, symbol: SymbolId) -> Option<f64> {
        self.pending.get(symbol as usize).copied().flatten()
    }

    /// What the strategy should reckon with: the pending target, else the held position.
    pub fn expected(&self, symbol: SymbolId) -> f64 {
        self.pending(symbol).unwrap_or_else(|| self.held(symbol))
    }

    /// Whether to ask for `target` now: `true` (and it becomes the pending
    /// target) when it differs from what is expected already.
    pub fn want(&mut self, symbol: SymbolId, target: f64) -> bool {
        if (self.expected(symbol) - target).abs() <= EPS {
            return false;
        }
        let i = self.slot(symbol);
        self.pending[i] = Some(target);
        true
    }

    /// Forget a pending target (an order the strategy knows was cancelled).
    pub fn forget(&mut self, symbol: SymbolId) {
        let i = self.slot(symbol);
        self.pending[i] = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fill, Rejection};

    fn fill(symbol: SymbolId, side: Side, quantity: f64) -> Event {
        Event::Filled(Fill {
            order_id: 1,
            symbol,
            side,
            quantity,
            price: 1.0,
            commission: 0.0,
            time_ms: 0,
            origin: "strategy".into(),
        })
    }

    #[test]
    fn a_target_is_asked_once_until_it_fills_or_is_refused() {
        let mut p = Positions::default();
        assert!(p.want(2, 5.0));
        assert!(!p.want(2, 5.0), "pending: not asked again");
        // A partial fill leaves it pending.
        p.on_event(&fill(2, Side::Buy, 2.0));
        assert_eq!(
            (p.held(2), p.pending(2), p.expected(2)),
            (2.0, Some(5.0), 5.0)
        );
        assert!(!p.want(2, 5.0));
        p.on_event(&fill(2, Side::Buy, 3.0));
        assert_eq!((p.held(2), p.pending(2)), (5.0, None));
        // Going flat: a sell to zero.
        assert!(p.want(2, 0.0));
        p.on_event(&Event::Rejected(Rejection {
            symbol: 2,
            rule: "max-orders-per-day".into(),
            detail: String::new(),
            time_ms: 0,
        }));
        assert_eq!(
            (p.held(2), p.pending(2)),
            (5.0, None),
            "refused: ask again later"
        );
        assert!(p.want(2, 0.0));
        p.on_event(&fill(2, Side::Sell, 5.0));
        assert_eq!((p.held(2), p.pending(2), p.held(0)), (0.0, None, 0.0));
    }

    #[test]
    fn it_goes_into_a_snapshot() {
        let mut p = Positions::default();
        p.want(1, -3.0);
        p.on_event(&fill(1, Side::Sell, 1.0));
        let bytes = crate::state::encode(1, &p).unwrap();
        let (_, back): (u32, Positions) = crate::state::decode(&bytes).unwrap();
        assert_eq!(back, p);
    }
}
