//! The fill rule: whether and where an order executes on a bar. One rule,
//! shared like [`crate::risk`]: the host's simulated venue fills by it (replay
//! and paper), the live venue triggers the stops and targets it holds by it,
//! and [`crate::testing::Harness`] executes by it — so a strategy's unit
//! test, its replay and its live protection agree on when a stop is hit.
//!
//! The rule, on a bar's open, high and low:
//! - a **market** order executes at the open;
//! - a **limit** (and a take-profit) buys at or below its price and sells at
//!   or above it: at the open if the bar opens through the price, else at
//!   the price if the bar reaches it;
//! - a **stop** (a stop-loss) sells at or below its price and buys at or
//!   above it, the same way: a gap through the stop executes at the open,
//!   not at the stop.
//!
//! The price returned is before slippage; the host's cost model applies
//! slippage to market and stop executions only (a limit never executes
//! worse than its price).
//!
//! ```
//! use sandbar_sdk::fills::{Resting, execution};
//! use sandbar_sdk::Side;
//! // A sell stop at 95 on a bar opening at 100 and trading down to 94:
//! let e = execution(Resting::Stop(95.0), Side::Sell, 100.0, 101.0, 94.0).unwrap();
//! assert_eq!((e.price, e.at_open), (95.0, false));
//! // The same stop when the bar gaps down to open at 90: filled at the open.
//! let e = execution(Resting::Stop(95.0), Side::Sell, 90.0, 92.0, 89.0).unwrap();
//! assert_eq!((e.price, e.at_open), (90.0, true));
//! ```

use crate::Side;

/// How an order waits for its price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resting {
    /// At the next open.
    Market,
    /// A limit or a take-profit: buy at or below, sell at or above.
    Limit(f64),
    /// A stop-loss: sell at or below, buy at or above.
    Stop(f64),
}

/// Where an order executes on a bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Execution {
    /// The price, before slippage.
    pub price: f64,
    /// It executes at the bar's open (a market order, or a bar that opened
    /// through the order's price).
    pub at_open: bool,
}

/// Whether and where `order` executes on a bar of `open`, `high`, `low`.
pub fn execution(order: Resting, side: Side, open: f64, high: f64, low: f64) -> Option<Execution> {
    let at_open = Execution {
        price: open,
        at_open: true,
    };
    let at = |price| Execution {
        price,
        at_open: false,
    };
    match (order, side) {
        (Resting::Market, _) => Some(at_open),
        (Resting::Limit(p), Side::Buy) | (Resting::Stop(p), Side::Sell) => {
            if open <= p {
                Some(at_open)
            } else if low <= p {
                Some(at(p))
            } else {
                None
            }
        }
        (Resting::Limit(p), Side::Sell) | (Resting::Stop(p), Side::Buy) => {
            if open >= p {
                Some(at_open)
            } else if high >= p {
                Some(at(p))
            } else {
                None
            }
        }
    }
}

/// When within a bar an order executes, for ordering the executions of one
/// bar: at the open (0), as a stop inside the bar (1), as a limit inside the
/// bar (2). Stops before limits: the adverse case, never the kind one.
pub fn phase(order: Resting, execution: Execution) -> u8 {
    match order {
        _ if execution.at_open => 0,
        Resting::Stop(_) => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (open, high, low) of a bar that opens at 100 and ranges 94–106.
    const BAR: (f64, f64, f64) = (100.0, 106.0, 94.0);

    fn on(order: Resting, side: Side, bar: (f64, f64, f64)) -> Option<(f64, bool)> {
        execution(order, side, bar.0, bar.1, bar.2).map(|e| (e.price, e.at_open))
    }

    #[test]
    fn each_kind_executes_where_the_rule_says() {
        use Resting::*;
        use Side::*;
        assert_eq!(on(Market, Buy, BAR), Some((100.0, true)));
        assert_eq!(on(Limit(95.0), Buy, BAR), Some((95.0, false)));
        assert_eq!(on(Limit(93.0), Buy, BAR), None);
        assert_eq!(on(Limit(105.0), Sell, BAR), Some((105.0, false)));
        assert_eq!(on(Limit(107.0), Sell, BAR), None);
        assert_eq!(on(Stop(95.0), Sell, BAR), Some((95.0, false)));
        assert_eq!(on(Stop(93.0), Sell, BAR), None);
        assert_eq!(on(Stop(105.0), Buy, BAR), Some((105.0, false)));
        assert_eq!(on(Stop(107.0), Buy, BAR), None);
    }

    #[test]
    fn a_bar_that_opens_through_the_price_executes_at_the_open() {
        use Resting::*;
        use Side::*;
        // A limit buy at 102 when the bar opens at 100: better than asked.
        assert_eq!(on(Limit(102.0), Buy, BAR), Some((100.0, true)));
        // A sell stop at 102 when the bar opens at 100: the gap is taken.
        assert_eq!(on(Stop(102.0), Sell, BAR), Some((100.0, true)));
        assert_eq!(on(Stop(98.0), Buy, BAR), Some((100.0, true)));
        assert_eq!(on(Limit(98.0), Sell, BAR), Some((100.0, true)));
    }

    #[test]
    fn stops_come_before_limits_within_a_bar() {
        let stop = Resting::Stop(95.0);
        let limit = Resting::Limit(105.0);
        let s = execution(stop, Side::Sell, BAR.0, BAR.1, BAR.2).unwrap();
        let l = execution(limit, Side::Sell, BAR.0, BAR.1, BAR.2).unwrap();
        assert!(phase(stop, s) < phase(limit, l));
        let m = execution(Resting::Market, Side::Buy, BAR.0, BAR.1, BAR.2).unwrap();
        assert_eq!(phase(Resting::Market, m), 0);
    }
}
