//! Only an approved order reaches a venue.
//!
//! The engine hands a venue an [`Approved`] order, and there are two ways
//! to make one: the risk engine approved it ([`Approved::by_risk`], which
//! refuses to make one from a refusal), or it is exempt from approval
//! because it can only take risk off ([`Approved::exempt`], which names why
//! and makes the order reduce-only, so an exemption cannot carry an entry
//! past the risk engine). The field is private: no other code can wrap an
//! order.

use crate::execution::Order;
use crate::risk::Decision;

/// An order the host may send.
#[derive(Debug, Clone, PartialEq)]
pub struct Approved(Order);

/// Why an order needs no approval: each only reduces a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exemption {
    /// A stop-loss or take-profit protecting the position.
    Protective,
    /// HALTED, the kill switch or an operator's flatten: close everything.
    Flatten,
    /// Capital left the books (an account's rebalance): cut back to the
    /// limits of what remains.
    Trim,
}

impl Approved {
    /// `order`, if `decision` (the risk engine's word on its proposal)
    /// approved it.
    pub fn by_risk(order: Order, decision: &Decision) -> Option<Approved> {
        matches!(decision, Decision::Approved).then_some(Approved(order))
    }

    /// `order`, exempt from approval for `why`; it becomes reduce-only.
    pub fn exempt(mut order: Order, why: Exemption) -> Approved {
        let _ = why; // named at the call site: the reason is the point
        order.reduce_only = true;
        Approved(order)
    }

    /// An approved order that crosses through zero from a position of
    /// `held` (absolute): a reduce-only close of the position, then the
    /// new position for the rest — as approved, never the old position plus
    /// the new one if a stop closes the position first.
    pub fn flip(self, held: f64) -> (Approved, Approved) {
        let order = self.0;
        let close = Order {
            quantity: held,
            reduce_only: true,
            ..order.clone()
        };
        let open = Order {
            quantity: order.quantity - held,
            ..order
        };
        (Approved(close), Approved(open))
    }

    /// The order.
    pub fn order(&self) -> &Order {
        &self.0
    }

    /// The order, to number and journal it before it goes.
    pub fn order_mut(&mut self) -> &mut Order {
        &mut self.0
    }

    /// An order as a venue's own unit tests give it, unchecked.
    #[cfg(test)]
    pub(crate) fn unchecked(order: Order) -> Approved {
        Approved(order)
    }

    /// The order itself, for the venue.
    pub fn into_order(self) -> Order {
        self.0
    }
}

/// Venues' own unit tests hand them orders directly.
#[cfg(test)]
pub(crate) trait SubmitUnchecked {
    fn submit_unchecked(&mut self, order: Order);
}

#[cfg(test)]
impl<V: crate::execution::Venue + ?Sized> SubmitUnchecked for V {
    fn submit_unchecked(&mut self, order: Order) {
        self.submit(Approved::unchecked(order))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::{OrderKind, Origin, Side};
    use crate::risk::{Refusal, Rule};

    fn order(quantity: f64) -> Order {
        Order {
            id: 0,
            symbol: 0,
            side: Side::Sell,
            quantity,
            kind: OrderKind::Market,
            origin: Origin::Strategy,
            decided_seq: 1,
            decided_ms: 0,
            reduce_only: false,
        }
    }

    #[test]
    fn a_refusal_makes_no_approved_order() {
        let refused = Decision::Refused(Refusal {
            rule: Rule::MaxPosition,
            detail: "too big".into(),
        });
        assert_eq!(Approved::by_risk(order(1.0), &refused), None);
        assert!(Approved::by_risk(order(1.0), &Decision::Approved).is_some());
    }

    #[test]
    fn an_exempt_order_can_only_reduce() {
        let a = Approved::exempt(order(1.0), Exemption::Flatten);
        assert!(a.order().reduce_only);
    }

    #[test]
    fn a_flip_closes_reduce_only_then_opens_the_rest() {
        let a = Approved::by_risk(order(5.0), &Decision::Approved).unwrap();
        let (close, open) = a.flip(2.0);
        assert_eq!(
            (close.order().quantity, close.order().reduce_only),
            (2.0, true)
        );
        assert_eq!(
            (open.order().quantity, open.order().reduce_only),
            (3.0, false)
        );
    }
}
