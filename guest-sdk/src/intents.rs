//! How the host reads an intent: which are malformed (refused one by one,
//! with these words, the run going on) and what order quantity each asks
//! for. One copy, shared like [`crate::risk`] and [`crate::fills`]: the
//! host's engine and [`crate::testing::Harness`] both call it, so a
//! strategy's unit test refuses and sizes exactly as its replay does.

use crate::{Action, Protect, Side, SymbolId};

/// The largest target weight (in multiples of equity) an intent may ask for.
pub const MAX_WEIGHT: f64 = 100.0;

/// Why an intent is malformed, in the host's words, or `Ok` when it can be
/// sized: its symbol exists and has a positive last close (`last_close`,
/// by symbol id; NaN before the first bar), its numbers are finite and
/// positive where they must be, its weight within ±[`MAX_WEIGHT`].
pub fn validate(
    symbols: &[String],
    last_close: &[f64],
    symbol: SymbolId,
    action: &Action,
    stop_loss: Option<Protect>,
    take_profit: Option<Protect>,
) -> Result<(), String> {
    known_symbol(symbols.len(), symbol)?;
    let name = &symbols[symbol as usize];
    let price = last_close[symbol as usize];
    if price.is_nan() {
        return Err(format!("no price yet for {name}"));
    }
    if !(price.is_finite() && price > 0.0) {
        return Err(format!(
            "cannot be sized: the last close of {name} is {price}"
        ));
    }
    let positive = |what: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(format!("{what} {v} is not a positive finite number"))
        }
    };
    match *action {
        Action::TargetWeight(w) if !(w.is_finite() && w.abs() <= MAX_WEIGHT) => {
            return Err(format!(
                "target weight {w} is not a finite number within ±{MAX_WEIGHT}"
            ));
        }
        Action::TargetQuantity(q) if !q.is_finite() => {
            return Err(format!("target quantity {q} is not finite"));
        }
        Action::Market { quantity, .. } => positive("quantity", quantity)?,
        Action::Limit {
            quantity, price, ..
        } => {
            positive("quantity", quantity)?;
            positive("limit price", price)?;
        }
        _ => {}
    }
    for (name, level) in [("stop-loss", stop_loss), ("take-profit", take_profit)] {
        match level {
            Some(Protect::Price(p)) => positive(name, p)?,
            Some(Protect::FromEntry(d)) => positive(&format!("{name} distance from the entry"), d)?,
            None => {}
        }
    }
    Ok(())
}

/// `symbol` is one of the run's `n` symbols, or why not, in the host's words.
pub fn known_symbol(n: usize, symbol: SymbolId) -> Result<(), String> {
    if symbol as usize >= n {
        return Err(format!(
            "unknown symbol id {symbol} (this run has {n} symbols)"
        ));
    }
    Ok(())
}

/// The signed order quantity an intent asks for, and its limit price if it
/// is a limit order: a target weight of `equity` at `price`, a target
/// quantity, a quantity to buy or sell, or a close — targets measured from
/// `held` (the position, plus what may still fill), every quantity scaled by
/// `fraction` (a live deployment's ramp-up; 1 otherwise).
pub fn size(
    action: &Action,
    equity: f64,
    price: f64,
    held: f64,
    fraction: f64,
) -> (f64, Option<f64>) {
    let sign = |side: Side| match side {
        Side::Buy => 1.0,
        Side::Sell => -1.0,
    };
    match *action {
        Action::TargetWeight(w) => (w * fraction * equity / price - held, None),
        Action::TargetQuantity(q) => (q * fraction - held, None),
        Action::Market { side, quantity } => (sign(side) * quantity * fraction, None),
        Action::Limit {
            side,
            quantity,
            price,
        } => (sign(side) * quantity * fraction, Some(price)),
        Action::Close => (-held, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbols() -> Vec<String> {
        vec!["AAA".into(), "BBB".into()]
    }

    #[test]
    fn malformed_intents_are_named_in_the_hosts_words() {
        let close = [100.0, f64::NAN];
        let check = |s, a: Action, sl| validate(&symbols(), &close, s, &a, sl, None);
        assert_eq!(
            check(2, Action::Close, None).unwrap_err(),
            "unknown symbol id 2 (this run has 2 symbols)"
        );
        assert_eq!(
            check(1, Action::Close, None).unwrap_err(),
            "no price yet for BBB"
        );
        assert_eq!(
            check(0, Action::TargetWeight(101.0), None).unwrap_err(),
            "target weight 101 is not a finite number within ±100"
        );
        let buy = |q| Action::Market {
            side: Side::Buy,
            quantity: q,
        };
        assert_eq!(
            check(0, buy(0.0), None).unwrap_err(),
            "quantity 0 is not a positive finite number"
        );
        assert_eq!(
            check(0, buy(1.0), Some(Protect::FromEntry(-1.0))).unwrap_err(),
            "stop-loss distance from the entry -1 is not a positive finite number"
        );
        assert_eq!(check(0, buy(1.0), Some(Protect::Price(90.0))), Ok(()));
    }

    #[test]
    fn targets_are_measured_from_what_is_held_and_scaled_by_the_fraction() {
        // 20% of 10,000 at 50 is 40; 15 held: buy 25.
        assert_eq!(
            size(&Action::TargetWeight(0.2), 10_000.0, 50.0, 15.0, 1.0),
            (25.0, None)
        );
        // A ramp-up at 10% asks for 4.
        let ramped = size(&Action::TargetWeight(0.2), 10_000.0, 50.0, 0.0, 0.1).0;
        assert!((ramped - 4.0).abs() < 1e-12, "{ramped}");
        assert_eq!(size(&Action::Close, 10_000.0, 50.0, -3.0, 0.1), (3.0, None));
        let sell = Action::Limit {
            side: Side::Sell,
            quantity: 2.0,
            price: 55.0,
        };
        assert_eq!(size(&sell, 10_000.0, 50.0, 5.0, 1.0), (-2.0, Some(55.0)));
    }
}
