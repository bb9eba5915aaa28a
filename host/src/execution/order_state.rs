//! The life of an order at a live venue, as an explicit state machine.
//!
//! A live venue reports on an order through several channels — the
//! response to the placement, an update stream, polling — and none of them
//! promises order: a fill can arrive before the acknowledgement, a cancel
//! confirmation after the order filled, the same execution twice, a late
//! "new" after a "filled". The host must end in the right state whatever
//! the order of arrival, because it sizes, risks and journals from it.
//!
//! The rules, which make the final state a function of the *set* of
//! updates received, not of their order:
//! - Fills are identified by the venue's execution id; a repeated id is
//!   ignored. The filled quantity is the sum of distinct fills, never more
//!   than the order's quantity (an overfill is an anomaly, reported, not
//!   booked).
//! - States are ranked: pending-new < accepted < partially-filled <
//!   pending-cancel; the terminal ones (filled, cancelled, rejected,
//!   expired) absorb. A later update can only move the order forward; a
//!   stale one (an acknowledgement after a fill) changes nothing.
//! - Filled wins over cancelled and expired when the fills complete the
//!   order (a cancel that crossed the last fill); a cancel or expiry after a
//!   partial fill keeps the fills and ends the rest.
//! - A rejection ends an order that has no fill; a "rejection" after a fill
//!   is an anomaly (venues do not do that; the fills stand).
//!
//! Every transition is returned to the caller, which journals it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderState {
    /// Sent (journaled first), not acknowledged yet.
    PendingNew,
    /// The venue has it.
    Accepted,
    /// Some of it filled.
    PartiallyFilled,
    /// A cancel was asked for, not confirmed yet.
    PendingCancel,
    /// All of it filled.
    Filled,
    /// Cancelled (what filled before stays filled).
    Cancelled,
    /// Refused by the venue, with its reason.
    Rejected,
    /// Ended by the venue (time in force).
    Expired,
}

impl OrderState {
    /// Nothing more can happen to it.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderState::Filled | OrderState::Cancelled | OrderState::Rejected | OrderState::Expired
        )
    }
}

/// What the venue (or the host) says about an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Update {
    /// The venue acknowledged it.
    Accepted,
    /// An execution: the venue's id for it, quantity and price.
    Fill {
        /// Execution (trade) id at the venue.
        id: String,
        /// Quantity of this execution.
        quantity: f64,
        /// Its price.
        price: f64,
        /// Commission the venue charged for it, in the quote currency.
        commission: f64,
    },
    /// The host asked for a cancel.
    CancelRequested,
    /// The venue confirmed a cancel.
    Cancelled,
    /// The venue refused the order.
    Rejected {
        /// The venue's reason.
        reason: String,
    },
    /// The venue ended it.
    Expired,
    /// The venue takes the order for less than was asked: its quantity
    /// rounded down to the lot step (Binance's `LOT_SIZE`). The order is
    /// complete when this much has filled.
    Resized {
        /// The quantity the venue was sent.
        quantity: f64,
    },
    /// An execution whose fee the venue kept out of the asset received
    /// (Binance without BNB charges a buy's commission in the base asset):
    /// the order fills by `quantity`, the position grows by `quantity −
    /// fee_base`.
    NetFill {
        /// Execution (trade) id at the venue.
        id: String,
        /// Quantity of this execution.
        quantity: f64,
        /// Its price.
        price: f64,
        /// What the venue charged, valued in the quote currency (the kept
        /// base at the execution's price, plus any quote commission).
        commission: f64,
        /// The base quantity the venue kept.
        fee_base: f64,
    },
    /// The venue cannot say whether it has the order: a placement's answer
    /// was lost and lookups keep answering "does not exist" past the grace
    /// period, on a venue where a resend could place it twice. The order
    /// stays open to polling; the deployment stops adding risk.
    Unknown {
        /// What happened.
        reason: String,
    },
}

impl Update {
    /// An execution's parts: (id, quantity, price).
    fn execution(&self) -> Option<(&String, f64, f64)> {
        match self {
            Update::Fill {
                id,
                quantity,
                price,
                ..
            }
            | Update::NetFill {
                id,
                quantity,
                price,
                ..
            } => Some((id, *quantity, *price)),
            _ => None,
        }
    }

    /// Commission (in the quote currency) and the base quantity the venue
    /// kept, for an execution.
    pub fn fees(&self) -> (f64, f64) {
        match self {
            Update::Fill { commission, .. } => (*commission, 0.0),
            Update::NetFill {
                commission,
                fee_base,
                ..
            } => (*commission, *fee_base),
            _ => (0.0, 0.0),
        }
    }
}

/// Something that should not happen, kept for the operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Anomaly {
    /// Fills beyond the order's quantity (not booked).
    Overfill {
        /// The execution refused.
        id: String,
        /// Quantity it would have brought the total to.
        total: f64,
    },
    /// A rejection after fills (the fills stand).
    RejectedAfterFill {
        /// The venue's reason.
        reason: String,
    },
    /// A fill with a quantity or price that is not a positive number.
    BadFill {
        /// The execution.
        id: String,
    },
}

/// The effect of one update.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Effect {
    /// The state moved: (from, to).
    pub transition: Option<(OrderState, OrderState)>,
    /// A new execution to book: (quantity, price).
    pub fill: Option<(f64, f64)>,
    /// It was seen before, or is stale: nothing changed.
    pub ignored: bool,
    /// An anomaly.
    pub anomaly: Option<Anomaly>,
    /// The venue took it for a smaller quantity ([`Update::Resized`]).
    pub resized: bool,
    /// The venue cannot say whether it has it ([`Update::Unknown`]).
    pub unknown: bool,
}

/// One order at a live venue.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveOrder {
    /// The client order id (deterministic; the same for any resend).
    pub client_id: String,
    /// Quantity ordered.
    pub quantity: f64,
    state: OrderState,
    filled: f64,
    executions: BTreeSet<String>,
    cancel_confirmed: bool,
    expired: bool,
    reject: Option<String>,
    acknowledged: bool,
}

/// Fills within this fraction of the quantity complete the order.
const COMPLETE: f64 = 1e-9;

impl LiveOrder {
    /// A new order, sent (or about to be).
    pub fn new(client_id: impl Into<String>, quantity: f64) -> LiveOrder {
        LiveOrder {
            client_id: client_id.into(),
            quantity,
            state: OrderState::PendingNew,
            filled: 0.0,
            executions: BTreeSet::new(),
            cancel_confirmed: false,
            expired: false,
            reject: None,
            acknowledged: false,
        }
    }

    /// Where it stands.
    pub fn state(&self) -> OrderState {
        self.state
    }

    /// Quantity filled so far.
    pub fn filled(&self) -> f64 {
        self.filled
    }

    /// The venue's reason, if it refused the order.
    pub fn rejection(&self) -> Option<&str> {
        self.reject.as_deref()
    }

    fn complete(&self) -> bool {
        self.filled >= self.quantity * (1.0 - COMPLETE)
    }

    /// The state the facts so far imply.
    fn derived(&self, cancel_requested: bool) -> OrderState {
        if self.complete() {
            OrderState::Filled
        } else if self.reject.is_some() && self.filled == 0.0 {
            OrderState::Rejected
        } else if self.cancel_confirmed {
            OrderState::Cancelled
        } else if self.expired {
            OrderState::Expired
        } else if cancel_requested {
            OrderState::PendingCancel
        } else if self.filled > 0.0 {
            OrderState::PartiallyFilled
        } else if self.acknowledged {
            OrderState::Accepted
        } else {
            OrderState::PendingNew
        }
    }

    /// Apply an update; what changed.
    pub fn apply(&mut self, u: &Update) -> Effect {
        let mut effect = Effect::default();
        let before = self.state;
        let cancel_requested =
            matches!(u, Update::CancelRequested) || before == OrderState::PendingCancel;
        match u {
            Update::Accepted => self.acknowledged = true,
            Update::Fill { .. } | Update::NetFill { .. } => {
                let (id, quantity, price) = u.execution().expect("an execution");
                if self.executions.contains(id) {
                    effect.ignored = true;
                    return effect;
                }
                if !(quantity.is_finite() && quantity > 0.0 && price.is_finite() && price > 0.0) {
                    effect.anomaly = Some(Anomaly::BadFill { id: id.clone() });
                    return effect;
                }
                let total = self.filled + quantity;
                if total > self.quantity * (1.0 + COMPLETE) {
                    effect.anomaly = Some(Anomaly::Overfill {
                        id: id.clone(),
                        total,
                    });
                    return effect;
                }
                self.executions.insert(id.clone());
                self.filled = total.min(self.quantity);
                self.acknowledged = true;
                effect.fill = Some((quantity, price));
            }
            Update::Resized { quantity } => {
                // Only down, never below what filled, never to nothing.
                let q = *quantity;
                if !(q.is_finite() && q > 0.0 && q < self.quantity && q >= self.filled)
                    || before.is_terminal()
                {
                    effect.ignored = true;
                    return effect;
                }
                self.quantity = q;
                effect.resized = true;
            }
            Update::Unknown { .. } => {
                if before.is_terminal() || self.acknowledged {
                    effect.ignored = true;
                    return effect;
                }
                effect.unknown = true;
                return effect;
            }
            Update::CancelRequested => {
                if before.is_terminal() {
                    effect.ignored = true;
                    return effect;
                }
            }
            Update::Cancelled => self.cancel_confirmed = true,
            Update::Expired => self.expired = true,
            Update::Rejected { reason } => {
                if self.filled > 0.0 {
                    effect.anomaly = Some(Anomaly::RejectedAfterFill {
                        reason: reason.clone(),
                    });
                    return effect;
                }
                self.reject = Some(reason.clone());
            }
        }
        let after = self.derived(cancel_requested);
        // Forward only: a terminal state stays unless fills complete the
        // order (a cancel crossed the last fill).
        let stays = (before.is_terminal() && !(after == OrderState::Filled && before != after))
            || (!after.is_terminal() && after < before);
        let next = if stays { before } else { after };
        if next != before {
            self.state = next;
            effect.transition = Some((before, next));
        } else if effect.fill.is_none() && !effect.resized {
            effect.ignored = true;
        }
        effect
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fill(id: &str, q: f64) -> Update {
        Update::Fill {
            id: id.into(),
            quantity: q,
            price: 100.0,
            commission: 0.0,
        }
    }

    fn run(q: f64, updates: &[Update]) -> LiveOrder {
        let mut o = LiveOrder::new("sb-1", q);
        for u in updates {
            o.apply(u);
        }
        o
    }

    #[test]
    fn the_ordinary_life_of_an_order() {
        let mut o = LiveOrder::new("sb-1", 10.0);
        assert_eq!(
            o.apply(&Update::Accepted).transition,
            Some((OrderState::PendingNew, OrderState::Accepted))
        );
        let e = o.apply(&fill("t1", 4.0));
        assert_eq!(e.fill, Some((4.0, 100.0)));
        assert_eq!(
            e.transition,
            Some((OrderState::Accepted, OrderState::PartiallyFilled))
        );
        let e = o.apply(&fill("t2", 6.0));
        assert_eq!(
            e.transition,
            Some((OrderState::PartiallyFilled, OrderState::Filled))
        );
        assert_eq!(o.filled(), 10.0);
    }

    #[test]
    fn a_fill_before_the_acknowledgement_and_a_late_acknowledgement() {
        let o = run(10.0, &[fill("t1", 10.0), Update::Accepted]);
        assert_eq!(o.state(), OrderState::Filled);
    }

    #[test]
    fn a_cancel_that_crossed_the_last_fill_ends_filled() {
        let o = run(
            10.0,
            &[
                Update::Accepted,
                fill("t1", 4.0),
                Update::CancelRequested,
                Update::Cancelled,
                fill("t2", 6.0),
            ],
        );
        assert_eq!((o.state(), o.filled()), (OrderState::Filled, 10.0));
        // A cancel after a partial fill keeps the fills.
        let o = run(
            10.0,
            &[fill("t1", 4.0), Update::CancelRequested, Update::Cancelled],
        );
        assert_eq!((o.state(), o.filled()), (OrderState::Cancelled, 4.0));
    }

    #[test]
    fn duplicates_overfills_and_late_rejections_change_nothing_booked() {
        let mut o = LiveOrder::new("sb-1", 10.0);
        o.apply(&fill("t1", 4.0));
        assert!(
            o.apply(&fill("t1", 4.0)).ignored,
            "the same execution twice"
        );
        let e = o.apply(&fill("t2", 7.0));
        assert!(matches!(e.anomaly, Some(Anomaly::Overfill { .. })));
        let e = o.apply(&Update::Rejected { reason: "x".into() });
        assert!(matches!(e.anomaly, Some(Anomaly::RejectedAfterFill { .. })));
        assert_eq!((o.state(), o.filled()), (OrderState::PartiallyFilled, 4.0));
        let r = run(
            10.0,
            &[
                Update::Rejected {
                    reason: "-2010 insufficient balance".into(),
                },
                Update::Accepted,
            ],
        );
        assert_eq!(
            (r.state(), r.rejection()),
            (OrderState::Rejected, Some("-2010 insufficient balance"))
        );
    }

    /// A venue's honest history of an order: acknowledgement, fills that
    /// sum to at most the quantity, maybe a cancel request and its
    /// confirmation or an expiry, or a rejection with nothing filled.
    fn history() -> impl Strategy<Value = (f64, Vec<Update>)> {
        (1u32..5, prop::collection::vec(1u32..4, 0..5), 0u8..4).prop_map(|(q, parts, end)| {
            let quantity = f64::from(q) * 4.0;
            let mut updates = vec![Update::Accepted];
            let mut total = 0.0;
            for (i, p) in parts.iter().enumerate() {
                let x = f64::from(*p).min(quantity - total);
                if x <= 0.0 {
                    break;
                }
                total += x;
                updates.push(fill(&format!("t{i}"), x));
            }
            match end {
                0 => {}
                1 => updates.extend([Update::CancelRequested, Update::Cancelled]),
                2 => updates.push(Update::Expired),
                _ if total == 0.0 => updates.push(Update::Rejected {
                    reason: "no".into(),
                }),
                _ => {}
            }
            (quantity, updates)
        })
    }

    #[test]
    fn an_order_the_venue_took_rounded_down_to_its_lot_is_filled_by_the_rounded_quantity() {
        // 0.0212345 asked, 0.02123 sent (LOT_SIZE step 0.00001).
        let mut o = LiveOrder::new("sb-1", 0.0212345);
        let e = o.apply(&Update::Resized { quantity: 0.02123 });
        assert!(e.resized && !e.ignored);
        let e = o.apply(&fill("t1", 0.02123));
        assert_eq!(e.transition.map(|t| t.1), Some(OrderState::Filled));
        // Never up, never below what filled, never after the end.
        assert!(o.apply(&Update::Resized { quantity: 0.01 }).ignored);
        let mut p = LiveOrder::new("sb-2", 1.0);
        assert!(p.apply(&Update::Resized { quantity: 2.0 }).ignored);
        p.apply(&fill("t1", 0.5));
        assert!(p.apply(&Update::Resized { quantity: 0.4 }).ignored);
        assert_eq!(p.quantity, 1.0);
    }

    #[test]
    fn a_fill_whose_fee_was_kept_in_the_asset_bought_fills_the_order_by_its_whole_quantity() {
        let mut o = LiveOrder::new("sb-1", 0.02123);
        let u = Update::NetFill {
            id: "t1".into(),
            quantity: 0.02123,
            price: 42_000.0,
            commission: 0.00002123 * 42_000.0,
            fee_base: 0.00002123,
        };
        assert_eq!(u.fees(), (0.00002123 * 42_000.0, 0.00002123));
        let e = o.apply(&u);
        assert_eq!(e.fill, Some((0.02123, 42_000.0)));
        assert_eq!(o.state(), OrderState::Filled);
        assert!(o.apply(&u).ignored, "the same execution twice");
    }

    #[test]
    fn an_unknown_outcome_is_news_only_for_an_order_the_venue_never_acknowledged() {
        let unknown = Update::Unknown {
            reason: "lost".into(),
        };
        let mut o = LiveOrder::new("sb-1", 1.0);
        let e = o.apply(&unknown);
        assert!(e.unknown && !e.ignored && e.transition.is_none());
        assert_eq!(o.state(), OrderState::PendingNew);
        o.apply(&Update::Accepted);
        assert!(o.apply(&unknown).ignored);
    }

    proptest! {
        /// Whatever order the updates arrive in, and repeated, the order
        /// ends in the state of its in-order history with the same fills.
        #[test]
        fn the_final_state_does_not_depend_on_arrival_order_or_duplicates(
            (quantity, updates) in history(),
            seed in any::<u64>(),
            dup in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        ) {
            let in_order = run(quantity, &updates);
            let mut shuffled = updates.clone();
            for d in &dup {
                shuffled.push(updates[d.index(updates.len())].clone());
            }
            // A seeded Fisher–Yates shuffle.
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let any_order = run(quantity, &shuffled);
            prop_assert_eq!(any_order.state(), in_order.state(), "{:?}", shuffled);
            prop_assert_eq!(any_order.filled(), in_order.filled());
            prop_assert!(any_order.filled() <= quantity);
        }
    }
}
