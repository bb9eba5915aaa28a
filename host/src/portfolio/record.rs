//! Round trips as an operator weighs them: how many won and lost, and by
//! how much in all. One definition for the report of a run and the
//! dashboard of a running deployment, so the two never disagree.

use super::Trade;

/// Round trips closed so far: a win has a positive net PnL (after
/// commissions), a loss a negative one; one at exactly zero is neither,
/// but counts among the trades.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct TradeRecord {
    /// Round trips closed.
    pub trades: usize,
    /// Of them, won.
    pub wins: usize,
    /// Of them, lost.
    pub losses: usize,
    /// Sum of the winners' PnL, in order.
    pub gross_profit: f64,
    /// Sum of the losers' PnL, in order, as a positive number.
    pub gross_loss: f64,
}

impl TradeRecord {
    /// Of `trades`, in one pass.
    pub fn of(trades: &[Trade]) -> Self {
        let mut r = Self {
            trades: trades.len(),
            ..Self::default()
        };
        let mut lost = 0.0;
        for t in trades {
            if t.pnl > 0.0 {
                r.wins += 1;
                r.gross_profit += t.pnl;
            } else if t.pnl < 0.0 {
                r.losses += 1;
                lost += t.pnl;
            }
        }
        r.gross_loss = -lost;
        r
    }

    /// Winners over round trips (0 before the first).
    pub fn win_rate(&self) -> f64 {
        if self.trades > 0 {
            self.wins as f64 / self.trades as f64
        } else {
            0.0
        }
    }

    /// Gross profit over gross loss: infinite with profits and no loss, 0
    /// with neither.
    pub fn profit_factor(&self) -> f64 {
        if self.gross_loss > 0.0 {
            self.gross_profit / self.gross_loss
        } else if self.gross_profit > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trade(pnl: f64) -> Trade {
        Trade {
            symbol: 0,
            direction: 1,
            size: 1.0,
            opened_ms: 0,
            closed_ms: 1,
            pnl,
        }
    }

    #[test]
    fn wins_losses_and_the_factor_between_them() {
        let r = TradeRecord::of(&[
            trade(30.0),
            trade(-10.0),
            trade(0.0),
            trade(-5.0),
            trade(10.0),
        ]);
        assert_eq!((r.trades, r.wins, r.losses), (5, 2, 2));
        assert_eq!((r.gross_profit, r.gross_loss), (40.0, 15.0));
        assert_eq!(
            r.win_rate(),
            0.4,
            "a zero round trip counts, but not as a win"
        );
        assert_eq!(r.profit_factor(), 40.0 / 15.0);
    }

    #[test]
    fn before_a_loss_the_factor_is_infinite_and_before_a_trade_zero() {
        assert_eq!(
            TradeRecord::of(&[trade(1.0)]).profit_factor(),
            f64::INFINITY
        );
        let none = TradeRecord::of(&[]);
        assert_eq!((none.win_rate(), none.profit_factor()), (0.0, 0.0));
    }
}
