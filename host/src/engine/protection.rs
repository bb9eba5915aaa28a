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
use sandbar_sdk::protection::{Amend, Levels, Protection as Resting};

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
        if position != 0.0 && position.signum() != p.levels.direction {
            // Flipped (or never set for this direction): the prices belong
            // to the other side and would trigger at once.
            p.levels.clear();
        }
        let wanted = position != 0.0 && p.levels.any();
        let current: Vec<&Order> = open.iter().filter(|o| p.orders.contains(&o.id)).collect();
        let side = Side::of(-position);
        let mut desired = Vec::new();
        if wanted {
            let direction = position.signum();
            if let Some(price) = p.levels.stop_price(entry, direction) {
                desired.push((OrderKind::StopLoss(price), Origin::StopLoss));
            }
            if let Some(tp) = p.levels.take_profit {
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
