//! Position sizing helpers: how much of the equity to hold, given the risk.
//!
//! The host's risk engine still has the last word — `max_position` (20 % of
//! equity by default) refuses a weight above it, whatever a helper here
//! says — so cap a helper's weight at or below your configured limit.

/// Volatility targeting: the weight of equity that makes the position's
/// volatility `target_annual_vol`, capped at `cap`.
///
/// `weight = target_annual_vol / (vol_per_bar × √bars_per_year)`, clamped to
/// `[0, cap]`. `vol_per_bar` is the per-bar volatility of returns, e.g.
/// [`RealizedVol`](crate::indicators::RealizedVol); `bars_per_year` turns it
/// into a yearly figure (252 for daily equities, 365 for daily crypto,
/// 525 600 for crypto minutes).
///
/// `None` when the volatility is not a positive finite number (a flat
/// warm-up, a bad input): no measured risk is no size, never "all in".
///
/// ```
/// use sandbar_sdk::sizing::vol_target_weight;
/// // 1 % a day is about 15.9 % a year; for a 10 % target hold ~0.63 of
/// // equity, capped at 0.5.
/// assert_eq!(vol_target_weight(0.10, 0.01, 252.0, 0.5), Some(0.5));
/// let w = vol_target_weight(0.10, 0.01, 252.0, 1.0).unwrap();
/// assert!((w - 0.10 / (0.01 * 252f64.sqrt())).abs() < 1e-12);
/// assert_eq!(vol_target_weight(0.10, 0.0, 252.0, 0.5), None);
/// ```
pub fn vol_target_weight(
    target_annual_vol: f64,
    vol_per_bar: f64,
    bars_per_year: f64,
    cap: f64,
) -> Option<f64> {
    let annual = vol_per_bar * bars_per_year.sqrt();
    if !(annual > 0.0 && annual.is_finite() && target_annual_vol.is_finite()) {
        return None;
    }
    let cap = if cap.is_finite() { cap.max(0.0) } else { 0.0 };
    Some((target_annual_vol / annual).clamp(0.0, cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weight_falls_as_volatility_rises_and_never_passes_the_cap() {
        let mut last = f64::INFINITY;
        for i in 1..200 {
            let vol = i as f64 * 0.001;
            let w = vol_target_weight(0.2, vol, 365.0, 0.5).unwrap();
            assert!((0.0..=0.5).contains(&w), "{w} at {vol}");
            assert!(w <= last);
            last = w;
        }
    }

    #[test]
    fn unknown_risk_is_no_size() {
        for vol in [0.0, -0.01, f64::NAN, f64::INFINITY] {
            assert_eq!(vol_target_weight(0.1, vol, 252.0, 1.0), None, "{vol}");
        }
        assert_eq!(vol_target_weight(f64::NAN, 0.01, 252.0, 1.0), None);
        assert_eq!(vol_target_weight(0.1, 0.01, 252.0, f64::NAN), Some(0.0));
        assert_eq!(vol_target_weight(-0.1, 0.01, 252.0, 1.0), Some(0.0));
    }
}
