//! Protective orders: the stop-loss and take-profit a strategy attaches to
//! the position an intent asks for, kept matching that position.
//!
//! They are reduce-only (the venue cuts them to the position and never lets
//! them open or flip one), re-sized after every fill, cancelled when the
//! position is flat, and dropped when it flips: a long's stop below the
//! price would trigger at once on a short. This type keeps the prices and
//! decides what to cancel and place; the engine journals and sends.

use crate::data::market::{Bar, SymbolId};
use crate::execution::{Order, OrderKind, Origin, Side};
use crate::sandbox::runtime::Protect;
use sandbar_sdk::protection::{Amend, Levels, Protection as Resting, Trail};

/// One symbol's protection: its levels (`sandbar_sdk::protection::Levels`,
/// the rules shared with the SDK's harness) and the protective orders
/// placed for them. A level relative to the entry is resolved at every
/// resync, against the position's average entry price as it then stands.
#[derive(Debug, Clone, Default)]
struct Protection {
    levels: Levels,
    orders: Vec<u64>,
}

/// What to do so the protective orders match the position.
pub(super) struct Resync {
    /// Open protective orders to cancel.
    pub cancel: Vec<u64>,
    /// Orders to place, all on `side` for `quantity`.
    pub place: Vec<(OrderKind, Origin)>,
    /// The side that reduces the position.
    pub side: Side,
    /// |position|.
    pub quantity: f64,
    /// Why the open ones are cancelled, as journaled.
    pub why: &'static str,
}

/// Every symbol's protection.
pub(super) struct Protections(Vec<Protection>);

impl Protections {
    pub(super) fn new(symbols: usize) -> Self {
        Self(vec![Protection::default(); symbols])
    }

    /// An intent on `s`: `close` drops the prices; a stop-loss or a
    /// take-profit replaces both, for a position in `direction`.
    pub(super) fn on_intent(
        &mut self,
        s: SymbolId,
        close: bool,
        stop_loss: Option<Protect>,
        take_profit: Option<Protect>,
        direction: f64,
    ) {
        self.0[s as usize]
            .levels
            .on_intent(close, stop_loss, take_profit, direction);
    }

    /// A change to the protection of `s` alone (see [`Levels::amend`]).
    pub(super) fn amend(
        &mut self,
        s: SymbolId,
        change: Amend,
        position: f64,
        close: f64,
    ) -> Result<(), String> {
        self.0[s as usize].levels.amend(change, position, close)
    }

    /// After `bar`, with the position as it stands: a trailing stop of the
    /// bar's symbol ratchets. Whether its stop moved (the orders then need
    /// a resync).
    pub(super) fn after_bar(&mut self, bar: &Bar, position: f64) -> bool {
        self.0[bar.symbol as usize]
            .levels
            .after_bar(bar.high, bar.low, position)
    }

    /// Whether `bar` would move a trailing stop (it ends an exact window:
    /// the strategy can read its stop).
    pub(super) fn would_ratchet(&self, bar: &Bar, position: f64) -> bool {
        let mut levels = self.0[bar.symbol as usize].levels;
        levels.after_bar(bar.high, bar.low, position)
    }

    /// What rests for `s`'s position now, as the strategy reads it.
    /// The levels wanted for `s`'s position.
    pub(super) fn levels(&self, s: SymbolId) -> &Levels {
        &self.0[s as usize].levels
    }

    /// Put back levels read with [`Self::levels`] (a refused change).
    pub(super) fn restore(&mut self, s: SymbolId, levels: Levels) {
        self.0[s as usize].levels = levels;
    }

    pub(super) fn resting(&self, s: SymbolId, position: f64, entry: f64) -> Resting {
        let p = &self.0[s as usize].levels;
        if position == 0.0 || position.signum() != p.direction {
            return Resting::default();
        }
        Resting {
            stop_loss: p.stop_price(entry, p.direction),
            trail: p.trailing.map(|t| t.trail),
            take_profit: p
                .take_profit
                .map(|tp| tp.resolve(entry, p.direction, false)),
        }
    }

    /// A protective order is done (filled completely).
    pub(super) fn done(&mut self, s: SymbolId, order_id: u64) {
        if let Some(p) = self.0.get_mut(s as usize) {
            p.orders.retain(|id| *id != order_id);
        }
    }

    /// Forget everything about `s` (the risk engine flattens it).
    pub(super) fn reset(&mut self, s: SymbolId) {
        self.0[s as usize] = Protection::default();
    }

    /// An order placed by a [`Resync`].
    pub(super) fn placed(&mut self, s: SymbolId, id: u64) {
        self.0[s as usize].orders.push(id);
    }

    /// What to cancel and place so the protection of `s` matches `position`
    /// (entered at `entry` on average, last closed at `close`), given the
    /// symbol's open orders; `None` when it already does. `trails` says
    /// whether the venue trails a stop itself ([`super::Venue::trails`]).
    ///
    /// A trailing stop goes to such a venue as its own trailing order only
    /// when the market is at the stop's best price (`close` at its best):
    /// the venue's trail starts from the market when it is placed, so it is
    /// then as tight as the host's and, following every trade after, never
    /// looser. Below its best (re-sized after a fill in a pull-back) it goes
    /// as a plain stop at the host's level, re-placed as it ratchets. One
    /// resting is left alone while the trail and the position are unchanged.
    pub(super) fn resync(
        &mut self,
        s: SymbolId,
        position: f64,
        entry: f64,
        close: f64,
        open: &[Order],
        trails: &dyn Fn(Side, f64, Trail, bool) -> bool,
    ) -> Option<Resync> {
        let p = &mut self.0[s as usize];
        if position != 0.0 && position.signum() != p.levels.direction {
            // Flipped (or never set for this direction): the prices belong
            // to the other side and would trigger at once.
            p.levels.clear();
        }
        let wanted = position != 0.0 && p.levels.any();
        let current: Vec<&Order> = open.iter().filter(|o| p.orders.contains(&o.id)).collect();
        let side = Side::of(-position);
        let quantity = position.abs();
        let levels = p.levels;
        let desired = |keep: bool| {
            let mut desired = Vec::new();
            if !wanted {
                return desired;
            }
            let direction = position.signum();
            if let Some(price) = levels.stop_price(entry, direction) {
                let kind = match levels.trailing {
                    Some(t) => {
                        let resting = current.iter().find(|o| {
                            matches!(o.kind, OrderKind::TrailingStop(_, x) if x == t.trail)
                                && o.quantity == quantity
                                && o.side == side
                        });
                        match resting {
                            Some(o) if keep => o.kind,
                            _ if direction * (close - t.best) >= 0.0
                                && trails(
                                    side,
                                    quantity,
                                    t.trail,
                                    levels.take_profit.is_some(),
                                ) =>
                            {
                                OrderKind::TrailingStop(price, t.trail)
                            }
                            _ => OrderKind::StopLoss(price),
                        }
                    }
                    None => OrderKind::StopLoss(price),
                };
                desired.push((kind, Origin::StopLoss));
            }
            if let Some(tp) = levels.take_profit {
                let price = tp.resolve(entry, direction, false);
                desired.push((OrderKind::TakeProfit(price), Origin::TakeProfit));
            }
            desired
        };
        let kept = desired(true);
        let matches = current.len() == kept.len()
            && current
                .iter()
                .zip(&kept)
                .all(|(o, (k, _))| o.kind == *k && o.quantity == quantity && o.side == side);
        if matches {
            return None;
        }
        // What rests is replaced whole (a list is cancelled as one): a
        // venue's trail placed again starts again from the market.
        let desired = desired(false);
        let cancel: Vec<u64> = current.iter().map(|o| o.id).collect();
        let why = if desired.is_empty() {
            "protective order no longer wanted (position closed or protection dropped)"
        } else if current
            .iter()
            .any(|o| o.quantity != position.abs() || o.side != side)
        {
            "protective order re-sized to the position"
        } else {
            "protective order re-priced"
        };
        p.orders.clear();
        if !wanted && position == 0.0 {
            p.levels.clear();
        }
        Some(Resync {
            cancel,
            place: desired,
            side,
            quantity: position.abs(),
            why,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRAIL: Trail = Trail::Fraction(0.02);

    fn bar(high: f64, low: f64, close: f64) -> Bar {
        Bar {
            symbol: 0,
            time_ms: 0,
            open: close,
            high,
            low,
            close,
            volume: 1.0,
        }
    }

    fn resting(id: u64, kind: OrderKind, quantity: f64) -> Order {
        Order {
            id,
            symbol: 0,
            side: Side::Sell,
            quantity,
            kind,
            origin: Origin::StopLoss,
            decided_seq: 0,
            decided_ms: 0,
            reduce_only: true,
        }
    }

    /// A long of 1 trailed 2% from a close of 100.
    fn trailed() -> Protections {
        let mut p = Protections::new(1);
        p.amend(0, Amend::TrailingStop(TRAIL), 1.0, 100.0).unwrap();
        p
    }

    fn kinds(plan: &Resync) -> Vec<OrderKind> {
        plan.place.iter().map(|(k, _)| *k).collect()
    }

    #[test]
    fn a_venue_that_trails_gets_its_own_trailing_order_which_stays_while_the_stop_ratchets() {
        let mut p = trailed();
        let plan = p
            .resync(0, 1.0, 100.0, 100.0, &[], &|_, _, _, _| true)
            .unwrap();
        assert_eq!(kinds(&plan), [OrderKind::TrailingStop(98.0, TRAIL)]);
        p.placed(0, 1);
        let at_venue = [resting(1, OrderKind::TrailingStop(98.0, TRAIL), 1.0)];
        assert!(
            p.after_bar(&bar(110.0, 99.0, 104.0), 1.0),
            "the stop ratchets"
        );
        assert_eq!(p.resting(0, 1.0, 100.0).stop_loss, Some(110.0 * 0.98));
        assert!(
            p.resync(0, 1.0, 100.0, 104.0, &at_venue, &|_, _, _, _| true)
                .is_none(),
            "the venue trails it: nothing is re-placed"
        );
    }

    #[test]
    fn re_sized_below_its_best_a_trailing_stop_goes_as_a_plain_stop_at_the_hosts_level() {
        let mut p = trailed();
        p.resync(0, 1.0, 100.0, 100.0, &[], &|_, _, _, _| true);
        p.placed(0, 1);
        p.after_bar(&bar(110.0, 99.0, 104.0), 1.0);
        let at_venue = [resting(1, OrderKind::TrailingStop(98.0, TRAIL), 1.0)];
        // Bought one more at 104: a trail the venue started now would stop
        // at 101.92, looser than the host's 107.80.
        let plan = p
            .resync(0, 2.0, 102.0, 104.0, &at_venue, &|_, _, _, _| true)
            .unwrap();
        assert_eq!(plan.cancel, [1]);
        assert_eq!(kinds(&plan), [OrderKind::StopLoss(110.0 * 0.98)]);
        assert_eq!(plan.quantity, 2.0);
        // Back at its best (a close at the bar's high): the venue trails it again.
        p.placed(0, 2);
        let plain = [resting(2, OrderKind::StopLoss(110.0 * 0.98), 2.0)];
        p.after_bar(&bar(112.0, 104.0, 112.0), 2.0);
        let plan = p
            .resync(0, 2.0, 102.0, 112.0, &plain, &|_, _, _, _| true)
            .unwrap();
        assert_eq!(kinds(&plan), [OrderKind::TrailingStop(112.0 * 0.98, TRAIL)]);
    }

    #[test]
    fn where_the_venue_does_not_trail_it_the_host_re_places_a_plain_stop_as_it_ratchets() {
        let mut p = trailed();
        let asked = std::cell::Cell::new(None);
        let trails = |side, quantity, trail, listed| {
            asked.set(Some((side, quantity, trail, listed)));
            false
        };
        let plan = p.resync(0, 1.0, 100.0, 100.0, &[], &trails).unwrap();
        assert_eq!(kinds(&plan), [OrderKind::StopLoss(98.0)]);
        assert_eq!(asked.get(), Some((Side::Sell, 1.0, TRAIL, false)));
        p.placed(0, 1);
        p.after_bar(&bar(110.0, 99.0, 104.0), 1.0);
        let plain = [resting(1, OrderKind::StopLoss(98.0), 1.0)];
        let plan = p.resync(0, 1.0, 100.0, 104.0, &plain, &trails).unwrap();
        assert_eq!(
            (plan.cancel.clone(), kinds(&plan)),
            (vec![1], vec![OrderKind::StopLoss(110.0 * 0.98)])
        );
        assert_eq!(plan.why, "protective order re-priced");
    }
}
