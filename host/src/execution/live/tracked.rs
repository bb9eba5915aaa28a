//! One order as the live venue tracks it: the engine's order, its state
//! machine, and where it rests (the venue, or the host for a protective
//! order the venue could not take).

use crate::execution::order_state::LiveOrder;
use crate::execution::{Order, OrderKind};

/// One order as the live venue tracks it.
pub(super) struct Tracked {
    pub(super) order: Order,
    pub(super) machine: LiveOrder,
    /// The symbol's last close when it was sent (slippage is measured from it).
    pub(super) reference: f64,
    /// A protective order that has triggered (it is now a market order out).
    pub(super) triggered: bool,
    /// The host asked for its cancel (the engine already told the strategy).
    pub(super) cancel_asked: bool,
    /// A stop and its take-profit sent as one list: the other's id.
    pub(super) pair: Option<u64>,
    /// A protective order the venue could hold that the host holds: the
    /// last close had already reached it when it was placed (the venue
    /// would refuse it, "would trigger immediately"), or a fractional
    /// target beside a stop where lists are for whole quantities.
    pub(super) host: bool,
}

/// Whether the venue holds `t` (not the host): a stop or a take-profit of
/// a venue that rests them, not one the host took over.
pub(super) fn rests_at_venue(t: &Tracked, stops: bool, targets: bool) -> bool {
    !t.host
        && match t.order.kind {
            OrderKind::StopLoss(_) | OrderKind::TrailingStop(..) => stops,
            OrderKind::TakeProfit(_) => targets,
            _ => false,
        }
}
