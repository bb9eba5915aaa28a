//! Protection a strategy can read and move (contract 0.3.0): a change to a
//! position's stop-loss or take-profit alone ([`Amend`]), a trailing stop
//! ([`Trail`]), and what rests now ([`Protection`]).
//!
//! One copy, shared like [`crate::risk`] and [`crate::intents`]: the host's
//! engine and [`crate::testing::Harness`] both ratchet a trailing stop with
//! [`Trail::stop`] and [`Trailing::after_bar`] and check a change with
//! [`validate`], so a strategy's unit test trails exactly as its replay
//! does.

use serde::{Deserialize, Serialize};

use crate::Protect;

/// How a trailing stop follows the price.
///
/// ```
/// use sandbar_sdk::protection::Trail;
/// // 5 below the best price of a long, 2% above the best of a short.
/// assert_eq!(Trail::Distance(5.0).stop(110.0, 1.0), 105.0);
/// assert!((Trail::Fraction(0.02).stop(100.0, -1.0) - 102.0).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trail {
    /// This far from the best price, in the quote currency (more than 0).
    Distance(f64),
    /// This fraction of the best price (more than 0, less than 1).
    Fraction(f64),
}

impl Trail {
    /// The stop of a position in `direction` (±1) whose best price since
    /// the stop was set is `best`: below it for a long, above for a short.
    pub fn stop(self, best: f64, direction: f64) -> f64 {
        match self {
            Trail::Distance(d) => best - direction * d,
            Trail::Fraction(f) => best * (1.0 - direction * f),
        }
    }
}

/// A trailing stop as the host holds it: how it trails and the best price
/// so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Trailing {
    /// How it follows the price.
    pub trail: Trail,
    /// The best price since it was set: the highest high for a long, the
    /// lowest low for a short (the close of the bar that set it, first).
    pub best: f64,
}

impl Trailing {
    /// Set at the close `close` of the bar that asked for it.
    pub fn new(trail: Trail, close: f64) -> Self {
        Self { trail, best: close }
    }

    /// After a bar of `high` and `low`, for a position in `direction`: the
    /// best price moves toward the market, never back. The bar's own
    /// extreme moves the stop from the next bar on (the stop a bar can
    /// trigger is the one resting at its open).
    pub fn after_bar(&mut self, high: f64, low: f64, direction: f64) {
        self.best = if direction > 0.0 {
            self.best.max(high)
        } else {
            self.best.min(low)
        };
    }

    /// Its stop now, for a position in `direction`.
    pub fn stop(&self, direction: f64) -> f64 {
        self.trail.stop(self.best, direction)
    }
}

/// A change to one symbol's protection alone: moving the stop keeps the
/// take-profit and the other way round, and no change supersedes the
/// strategy's open orders.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Amend {
    /// Set or move the stop-loss (a trailing stop stops trailing).
    StopLoss(Protect),
    /// Make the stop-loss a trailing stop.
    TrailingStop(Trail),
    /// Cancel the stop-loss (a trailing one too).
    CancelStopLoss,
    /// Set or move the take-profit.
    TakeProfit(Protect),
    /// Cancel the take-profit.
    CancelTakeProfit,
}

impl std::fmt::Display for Amend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = |l: &Protect| match l {
            Protect::Price(p) => format!("at {p}"),
            Protect::FromEntry(d) => format!("{d} from the entry"),
        };
        match self {
            Amend::StopLoss(l) => write!(f, "stop-loss {}", level(l)),
            Amend::TrailingStop(Trail::Distance(d)) => write!(f, "trailing stop {d} behind"),
            Amend::TrailingStop(Trail::Fraction(x)) => {
                write!(f, "trailing stop {}% behind", x * 100.0)
            }
            Amend::CancelStopLoss => f.write_str("cancel the stop-loss"),
            Amend::TakeProfit(l) => write!(f, "take-profit {}", level(l)),
            Amend::CancelTakeProfit => f.write_str("cancel the take-profit"),
        }
    }
}

/// A symbol's protective levels as the host keeps them (and the harness,
/// with this same code): a stop-loss (fixed, or trailing) and a
/// take-profit for a position in `direction`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Levels {
    /// The stop-loss, unless it trails.
    pub stop_loss: Option<Protect>,
    /// The trailing stop, in the stop-loss's place.
    pub trailing: Option<Trailing>,
    /// The take-profit.
    pub take_profit: Option<Protect>,
    /// The direction (±1) of the position they protect.
    pub direction: f64,
    /// The direction the strategy's last intent asked for (0: flat), which
    /// a change to the protection of a position not yet entered applies to.
    pub intended: f64,
}

impl Levels {
    /// Whether any level is set.
    pub fn any(&self) -> bool {
        self.stop_loss.is_some() || self.trailing.is_some() || self.take_profit.is_some()
    }

    /// Drop every level.
    pub fn clear(&mut self) {
        self.stop_loss = None;
        self.trailing = None;
        self.take_profit = None;
    }

    /// Where the stop will rest once an order of `delta` at `price` turns
    /// `position` (average entry `average`) into `position + delta`: a
    /// level from the entry resolved against the average the position will
    /// have. What the risk engine's `max_risk_per_trade` weighs; the host
    /// and the harness both ask here.
    pub fn planned_stop(&self, position: f64, average: f64, delta: f64, price: f64) -> Option<f64> {
        let after = position + delta;
        if after == 0.0 {
            return None;
        }
        let entry = if position != 0.0 && position.signum() == after.signum() {
            if delta.signum() == position.signum() {
                (position * average + delta * price) / after
            } else {
                average
            }
        } else {
            price
        };
        self.stop_price(entry, after.signum())
    }

    /// The stop's price for a position in `direction` entered at `entry`.
    pub fn stop_price(&self, entry: f64, direction: f64) -> Option<f64> {
        match (self.trailing, self.stop_loss) {
            (Some(t), _) => Some(t.stop(direction)),
            (None, Some(sl)) => Some(sl.resolve(entry, direction, true)),
            (None, None) => None,
        }
    }

    /// An intent asking for a position in `direction`: `close` drops the
    /// levels; a stop-loss or a take-profit replaces them all.
    pub fn on_intent(
        &mut self,
        close: bool,
        stop_loss: Option<Protect>,
        take_profit: Option<Protect>,
        direction: f64,
    ) {
        self.intended = if close { 0.0 } else { direction };
        if close {
            self.clear();
        }
        if stop_loss.is_some() || take_profit.is_some() {
            self.clear();
            self.stop_loss = stop_loss;
            self.take_profit = take_profit;
            self.direction = direction;
        }
    }

    /// A change alone, for the position held (`position`) or else the one
    /// the last intent asked for; `close`: the bar's close, where a
    /// trailing stop starts. Why not, when there is neither.
    pub fn amend(&mut self, change: Amend, position: f64, close: f64) -> Result<(), String> {
        let direction = if position != 0.0 {
            position.signum()
        } else {
            self.intended
        };
        if direction == 0.0 {
            return Err("no position, and no intent for one, to protect".into());
        }
        if direction != self.direction {
            // Levels of the other side would trigger at once.
            self.clear();
            self.direction = direction;
        }
        match change {
            Amend::StopLoss(l) => {
                self.stop_loss = Some(l);
                self.trailing = None;
            }
            Amend::TrailingStop(t) => {
                self.trailing = Some(Trailing::new(t, close));
                self.stop_loss = None;
            }
            Amend::CancelStopLoss => {
                self.stop_loss = None;
                self.trailing = None;
            }
            Amend::TakeProfit(l) => self.take_profit = Some(l),
            Amend::CancelTakeProfit => self.take_profit = None,
        }
        Ok(())
    }

    /// After a bar of `high` and `low`, with `position` as it stands: a
    /// trailing stop ratchets. Whether its stop moved.
    pub fn after_bar(&mut self, high: f64, low: f64, position: f64) -> bool {
        let direction = self.direction;
        match &mut self.trailing {
            Some(t) if position != 0.0 && position.signum() == direction => {
                let before = t.stop(direction);
                t.after_bar(high, low, direction);
                t.stop(direction) != before
            }
            _ => false,
        }
    }
}

/// What protects a symbol's position now: the resting protective orders at
/// their prices (from-entry levels resolved, a trailing stop as ratcheted).
/// Everything `None` when the position is flat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Protection {
    /// The stop-loss's trigger price.
    pub stop_loss: Option<f64>,
    /// How the stop trails, when it is a trailing stop.
    pub trail: Option<Trail>,
    /// The take-profit's limit price.
    pub take_profit: Option<f64>,
}

/// Why a change to `symbol` (of a run with `symbols` of them) is
/// malformed, in the host's words (refused as `invalid-intent`, the run
/// going on), or `Ok`.
pub fn validate(symbols: usize, symbol: crate::SymbolId, amend: &Amend) -> Result<(), String> {
    crate::intents::known_symbol(symbols, symbol)?;
    let positive = |what: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(format!("{what} {v} is not a positive finite number"))
        }
    };
    let level = |what: &str, l: &Protect| match *l {
        Protect::Price(p) => positive(what, p),
        Protect::FromEntry(d) => positive(&format!("{what} distance from the entry"), d),
    };
    match amend {
        Amend::StopLoss(l) => level("stop-loss", l),
        Amend::TakeProfit(l) => level("take-profit", l),
        Amend::TrailingStop(Trail::Distance(d)) => positive("trailing distance", *d),
        Amend::TrailingStop(Trail::Fraction(f)) if !(f.is_finite() && *f > 0.0 && *f < 1.0) => Err(
            format!("trailing fraction {f} is not a number between 0 and 1"),
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_stop_only_ratchets_toward_the_price() {
        let mut long = Trailing::new(Trail::Distance(5.0), 100.0);
        assert_eq!(long.stop(1.0), 95.0);
        long.after_bar(108.0, 99.0, 1.0);
        assert_eq!(long.stop(1.0), 103.0);
        long.after_bar(104.0, 90.0, 1.0);
        assert_eq!(long.stop(1.0), 103.0, "a fall never lowers it");
        let mut short = Trailing::new(Trail::Fraction(0.1), 100.0);
        short.after_bar(101.0, 80.0, -1.0);
        assert!((short.stop(-1.0) - 88.0).abs() < 1e-12);
        short.after_bar(95.0, 85.0, -1.0);
        assert!(
            (short.stop(-1.0) - 88.0).abs() < 1e-12,
            "a rise never raises it"
        );
    }

    /// Buys on the first bar with a target, trails the stop 5 behind on the
    /// second, and records what it reads on every bar.
    #[derive(Default)]
    struct Trailer {
        bar: usize,
        read: Vec<Protection>,
    }

    impl crate::Strategy for Trailer {
        fn describe() -> crate::Description {
            crate::Description::new("trailer", "0.1.0")
        }
        fn on_bar(&mut self, bar: &crate::Bar, ctx: &mut crate::Ctx<'_>) {
            self.read.push(ctx.protection(bar.symbol));
            match self.bar {
                0 => {
                    ctx.buy(bar.symbol, 10.0).take_profit(200.0);
                }
                1 => ctx.trail_stop(bar.symbol, Trail::Distance(5.0)),
                _ => {}
            }
            self.bar += 1;
        }
    }

    #[test]
    fn in_the_harness_a_trailing_stop_is_read_moves_up_and_exits_where_it_reached() {
        use crate::testing::{Harness, bars_from_closes};
        let mut h = Harness::<Trailer>::new(&[]).unwrap();
        // Open = previous close: highs 104 and 110 lift the stop to 99 and
        // 105; the bar down to 103 goes through it.
        h.run(&bars_from_closes(&[
            100.0, 100.0, 104.0, 110.0, 108.0, 103.0,
        ]));
        let read: Vec<(Option<f64>, Option<f64>)> = h
            .strategy()
            .read
            .iter()
            .map(|p| (p.stop_loss, p.take_profit))
            .collect();
        assert_eq!(
            read,
            vec![
                (None, None),
                (None, Some(200.0)),
                (Some(99.0), Some(200.0)),
                (Some(105.0), Some(200.0)),
                (Some(105.0), Some(200.0)),
                (None, None),
            ]
        );
        let exit = &h.fills()[1];
        assert_eq!((exit.price, exit.origin.as_str()), (105.0, "stop-loss"));
        assert_eq!(
            h.protection(0),
            Protection::default(),
            "flat: nothing rests"
        );
    }

    #[test]
    fn malformed_changes_are_named() {
        assert_eq!(
            validate(1, 0, &Amend::TrailingStop(Trail::Fraction(1.5))).unwrap_err(),
            "trailing fraction 1.5 is not a number between 0 and 1"
        );
        assert_eq!(
            validate(1, 0, &Amend::StopLoss(Protect::FromEntry(0.0))).unwrap_err(),
            "stop-loss distance from the entry 0 is not a positive finite number"
        );
        assert_eq!(
            validate(1, 0, &Amend::TrailingStop(Trail::Distance(f64::NAN))).unwrap_err(),
            "trailing distance NaN is not a positive finite number"
        );
        assert!(validate(1, 0, &Amend::CancelTakeProfit).is_ok());
        assert_eq!(
            validate(2, 2, &Amend::CancelTakeProfit).unwrap_err(),
            "unknown symbol id 2 (this run has 2 symbols)"
        );
    }
}
