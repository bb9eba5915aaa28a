//! Protective orders: the stop-loss and take-profit a strategy attaches to
//! the position an intent asks for, kept matching that position.
//!
//! They are reduce-only (the venue cuts them to the position and never lets
//! them open or flip one), re-sized after every fill, cancelled when the
//! position is flat, and dropped when it flips: a long's stop below the
//! price would trigger at once on a short. This type keeps the prices and
//! decides what to cancel and place; the engine journals and sends.

use crate::data::market::SymbolId;
use crate::execution::{Order, OrderKind, Origin, Side};
use crate::sandbox::runtime::Protect;

/// One symbol's protection: levels for a position in one direction (±1).
/// A level relative to the entry is resolved at every resync, against the
/// position's average entry price as it then stands.
#[derive(Debug, Clone, Default)]
struct Protection {
    stop_loss: Option<Protect>,
    take_profit: Option<Protect>,
    direction: f64,
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
        let p = &mut self.0[s as usize];
        if close {
            p.stop_loss = None;
            p.take_profit = None;
        }
        if stop_loss.is_some() || take_profit.is_some() {
            p.stop_loss = stop_loss;
            p.take_profit = take_profit;
            p.direction = direction;
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
    /// (entered at `entry` on average), given the symbol's open orders;
    /// `None` when it already does.
    pub(super) fn resync(
        &mut self,
        s: SymbolId,
        position: f64,
        entry: f64,
        open: &[Order],
    ) -> Option<Resync> {
        let p = &mut self.0[s as usize];
        if position != 0.0 && position.signum() != p.direction {
            // Flipped (or never set for this direction): the prices belong
            // to the other side and would trigger at once.
            p.stop_loss = None;
            p.take_profit = None;
        }
        let wanted = position != 0.0 && (p.stop_loss.is_some() || p.take_profit.is_some());
        let current: Vec<&Order> = open.iter().filter(|o| p.orders.contains(&o.id)).collect();
        let side = Side::of(-position);
        let mut desired = Vec::new();
        if wanted {
            let direction = position.signum();
            if let Some(sl) = p.stop_loss {
                let price = sl.resolve(entry, direction, true);
                desired.push((OrderKind::StopLoss(price), Origin::StopLoss));
            }
            if let Some(tp) = p.take_profit {
                let price = tp.resolve(entry, direction, false);
                desired.push((OrderKind::TakeProfit(price), Origin::TakeProfit));
            }
        }
        let matches = current.len() == desired.len()
            && current
                .iter()
                .zip(&desired)
                .all(|(o, (k, _))| o.kind == *k && o.quantity == position.abs() && o.side == side);
        if matches {
            return None;
        }
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
            p.stop_loss = None;
            p.take_profit = None;
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
