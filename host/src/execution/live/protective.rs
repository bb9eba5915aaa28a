//! The protective orders a live venue holds: how each goes out
//! ([`LiveVenue::placement`]: a stop, a venue's own trailing stop, a stop
//! and its take-profit as one list) and when the ones the engine placed
//! together are sent.

use super::connector::{Leg, Placement};
use super::tracked::{Tracked, rests_at_venue};
use super::{Job, LiveVenue};
use crate::data::market::SymbolId;
use crate::execution::{OrderKind, Side};

impl LiveVenue {
    pub(super) fn placement(&self, t: &Tracked, quantity: f64, market: bool) -> Placement {
        let at_venue = !market && self.at_venue(t);
        let limit = match t.order.kind {
            OrderKind::Limit(p) if !market => Some(p),
            // A take-profit alone is a limit order at its price.
            OrderKind::TakeProfit(p) if at_venue => Some(p),
            _ => None,
        };
        let stop = match t.order.kind {
            OrderKind::StopLoss(p) if at_venue => Some(p),
            _ => None,
        };
        let trail = match t.order.kind {
            OrderKind::TrailingStop(_, trail) if at_venue => Some(trail),
            _ => None,
        };
        let target = match (t.order.kind, t.pair) {
            (kind, Some(other)) if at_venue && kind.is_stop() => {
                self.orders.get(&other).and_then(|o| match o.order.kind {
                    OrderKind::TakeProfit(price) => Some(Leg {
                        id: other,
                        client_id: o.machine.client_id.clone(),
                        price,
                    }),
                    _ => None,
                })
            }
            _ => None,
        };
        Placement {
            client_id: self.naming.client_id(t.order.id),
            symbol: self.symbol(t.order.symbol),
            side: t.order.side,
            quantity,
            limit,
            stop,
            target,
            reference: t.reference,
            trail,
        }
    }

    /// Whether the venue holds `t` (see [`rests_at_venue`]).
    pub(super) fn at_venue(&self, t: &Tracked) -> bool {
        rests_at_venue(t, self.venue_stops, self.venue_targets)
    }

    /// A protective order the host holds and triggers itself on closed
    /// bars (where the venue rests none of its kind, or it was already
    /// reached when placed), not yet triggered: nothing of it is at the
    /// venue.
    pub(super) fn host_held(&self, t: &Tracked) -> bool {
        t.order.kind.is_protective() && !t.triggered && !self.at_venue(t)
    }

    /// Send the protective orders held back for `symbol` (all symbols:
    /// `None`): a stop with its take-profit as one list, any other alone.
    /// One the last close has already reached stays with the host (the
    /// venue would refuse it as triggering at once): it triggers on the
    /// next bar by the simulated venue's rule.
    pub(super) fn send_held_back(&mut self, symbol: Option<SymbolId>) {
        let (mine, rest): (Vec<u64>, Vec<u64>) = self.held_back.drain(..).partition(|id| {
            symbol.is_none_or(|s| self.orders.get(id).is_some_and(|t| t.order.symbol == s))
        });
        self.held_back = rest;
        let mut stop = None;
        let mut target = None;
        let mut alone = Vec::new();
        for id in mine {
            let Some(t) = self.orders.get_mut(&id) else {
                continue;
            };
            if t.cancel_asked || t.machine.state().is_terminal() {
                continue;
            }
            let last = self
                .last_close
                .get(t.order.symbol as usize)
                .copied()
                .unwrap_or(f64::NAN);
            let sell = t.order.side == Side::Sell;
            let reached = match t.order.kind {
                OrderKind::StopLoss(p) | OrderKind::TrailingStop(p, _) => {
                    if sell {
                        last <= p
                    } else {
                        last >= p
                    }
                }
                OrderKind::TakeProfit(p) => {
                    if sell {
                        last >= p
                    } else {
                        last <= p
                    }
                }
                _ => false,
            };
            if reached {
                t.host = true;
                continue;
            }
            match t.order.kind {
                kind if kind.is_stop() && stop.is_none() => stop = Some(id),
                OrderKind::TakeProfit(_) if target.is_none() => target = Some(id),
                _ => alone.push(id),
            }
        }
        match (stop, target) {
            (Some(s), Some(t)) if self.venue_stops && self.venue_targets => {
                // A list the venue takes only whole: the target stays home.
                if !self.fractional_lists && self.orders[&s].order.quantity.fract() != 0.0 {
                    self.orders.get_mut(&t).expect("held back").host = true;
                } else {
                    self.orders.get_mut(&s).expect("held back").pair = Some(t);
                    self.orders.get_mut(&t).expect("held back").pair = Some(s);
                }
                alone.push(s);
            }
            _ => alone.extend(stop.into_iter().chain(target)),
        }
        if !self.live {
            return; // re-executing: the pairs are made, nothing is sent
        }
        alone.sort_unstable();
        for id in alone {
            let t = &self.orders[&id];
            let p = self.placement(t, t.order.quantity, false);
            let _ = self.jobs.send(Job::Place(id, p));
        }
    }
}
