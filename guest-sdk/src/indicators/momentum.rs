//! How far and how fast the price moved: rate of change, momentum and
//! realized volatility over the last `n` bars.
//!
//! Definitions (the reference implementation is
//! `guest-sdk/tests/reference/indicators.py`):
//! - [`Roc`]: `x_t / x_{t−n} − 1`, a fraction (`0.05` is +5 %), as TA-Lib's
//!   `ROCP`; multiply by 100 for the percent some charting packages show;
//! - [`Momentum`]: `x_t − x_{t−n}`, in price units (TA-Lib's `MOM`);
//! - [`RealizedVol`]: the sample standard deviation (divisor `n − 1`) of the
//!   last `n` log returns `ln(x_t / x_{t−1})`, per bar — scale it to a year
//!   with [`annualize`](RealizedVol::annualize).
//!
//! Each needs `n + 1` values before it answers.

use serde::{Deserialize, Serialize};

use super::Window;

/// Rate of change over `n` bars, as a fraction: `x_t / x_{t−n} − 1`.
///
/// ```
/// use sandbar_sdk::indicators::Roc;
/// let mut roc = Roc::new(2);
/// assert_eq!(roc.update(100.0), None);
/// assert_eq!(roc.update(104.0), None);
/// assert_eq!(roc.update(110.0), Some(0.10000000000000009)); // 110 / 100 − 1
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Roc(Lag);

impl Roc {
    /// A rate of change over `n` bars (at least 1).
    pub fn new(n: usize) -> Self {
        Self(Lag::new(n))
    }
    /// Add a value; the rate of change once `n + 1` values are in. A zero
    /// base gives `None`, never an infinity.
    pub fn update(&mut self, x: f64) -> Option<f64> {
        self.0.window.push(x);
        self.value()
    }
    /// The current rate of change, if warmed up.
    pub fn value(&self) -> Option<f64> {
        let (now, base) = self.0.now_and_base()?;
        (base != 0.0).then(|| now / base - 1.0)
    }
}

/// Momentum over `n` bars, in price units: `x_t − x_{t−n}`.
///
/// ```
/// use sandbar_sdk::indicators::Momentum;
/// let mut m = Momentum::new(1);
/// m.update(100.0);
/// assert_eq!(m.update(98.5), Some(-1.5));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Momentum(Lag);

impl Momentum {
    /// Momentum over `n` bars (at least 1).
    pub fn new(n: usize) -> Self {
        Self(Lag::new(n))
    }
    /// Add a value; the momentum once `n + 1` values are in.
    pub fn update(&mut self, x: f64) -> Option<f64> {
        self.0.window.push(x);
        self.value()
    }
    /// The current momentum, if warmed up.
    pub fn value(&self) -> Option<f64> {
        self.0.now_and_base().map(|(now, base)| now - base)
    }
}

/// The newest value and the one `n` values before it: what [`Roc`] and
/// [`Momentum`] compare.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Lag {
    window: Window<f64>,
}

impl Lag {
    fn new(n: usize) -> Self {
        Self {
            window: Window::new(n.max(1) + 1),
        }
    }
    fn now_and_base(&self) -> Option<(f64, f64)> {
        if !self.window.is_full() {
            return None;
        }
        Some((self.window.get(0)?, self.window.oldest()?))
    }
}

/// Realized volatility per bar: the sample standard deviation of the last
/// `n` log returns. O(n) per update (recomputed from the window, so no
/// rounding error accumulates over a long run).
///
/// ```
/// use sandbar_sdk::indicators::RealizedVol;
/// let mut v = RealizedVol::new(20);
/// let mut price = 100.0;
/// for i in 0..21 {
///     price *= if i % 2 == 0 { 1.01 } else { 0.99 };
///     v.update(price);
/// }
/// let per_bar = v.value().unwrap();
/// // Daily bars: about 252 a year.
/// let yearly = RealizedVol::annualize(per_bar, 252.0);
/// assert!(yearly > 0.15 && yearly < 0.17);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RealizedVol {
    returns: Window<f64>,
    last: Option<f64>,
}

impl RealizedVol {
    /// Volatility over `n` returns (at least 2).
    pub fn new(n: usize) -> Self {
        Self {
            returns: Window::new(n.max(2)),
            last: None,
        }
    }
    /// Add a price; the volatility once `n + 1` prices are in. A price at or
    /// below zero is not a price: it restarts the window.
    pub fn update(&mut self, price: f64) -> Option<f64> {
        if !(price > 0.0 && price.is_finite()) {
            *self = Self::new(self.returns.capacity());
            return None;
        }
        if let Some(last) = self.last {
            self.returns.push((price / last).ln());
        }
        self.last = Some(price);
        self.value()
    }
    /// The current per-bar volatility, if warmed up.
    pub fn value(&self) -> Option<f64> {
        if !self.returns.is_full() {
            return None;
        }
        let n = self.returns.len() as f64;
        let mean = self.returns.iter().sum::<f64>() / n;
        let ss = self
            .returns
            .iter()
            .map(|r| (r - mean) * (r - mean))
            .sum::<f64>();
        Some((ss / (n - 1.0)).sqrt())
    }
    /// A per-bar volatility scaled to a year of `bars_per_year` bars
    /// (√time: 252 trading days, 365 × 24 × 60 crypto minutes).
    pub fn annualize(per_bar: f64, bars_per_year: f64) -> f64 {
        per_bar * bars_per_year.sqrt()
    }
}

#[cfg(test)]
mod tests {
    //! Reference values from `guest-sdk/tests/reference/indicators.py`.
    use super::*;
    use crate::indicators::tests_common::CLOSES;

    /// Tighter than the older tests: these values are small fractions.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn check(name: &str, mut f: impl FnMut(f64) -> Option<f64>, want: &[f64; 10]) {
        let out: Vec<_> = CLOSES.iter().map(|&x| f(x)).collect();
        assert_eq!(out[9], None, "{name} answers before n + 1 values");
        for (i, w) in want.iter().enumerate() {
            let got = out[10 + i].unwrap();
            assert!(close(got, *w), "{name} at bar {}: {got} vs {w}", 10 + i);
        }
    }

    #[test]
    fn rate_of_change_matches_the_reference() {
        let mut r = Roc::new(10);
        check("ROC10", |x| r.update(x), &REF_ROC10);
    }

    #[test]
    fn momentum_matches_the_reference() {
        let mut m = Momentum::new(10);
        check("MOM10", |x| m.update(x), &REF_MOM10);
    }

    #[test]
    fn realized_volatility_matches_the_reference() {
        let mut v = RealizedVol::new(10);
        check("VOL10", |x| v.update(x), &REF_VOL10);
    }

    #[test]
    fn a_zero_base_or_price_is_no_answer_not_an_infinity() {
        let mut r = Roc::new(1);
        r.update(0.0);
        assert_eq!(r.update(5.0), None);
        let mut v = RealizedVol::new(2);
        for x in [1.0, 2.0, 3.0] {
            v.update(x);
        }
        assert!(v.value().is_some());
        assert_eq!(v.update(0.0), None);
        assert_eq!(v.update(f64::NAN), None);
        assert_eq!(v.update(4.0), None, "the window restarted");
    }

    // Generated by guest-sdk/tests/reference/indicators.py.
    const REF_ROC10: [f64; 10] = [
        0.034957149300856916,
        0.04400090723520078,
        0.033069082672706696,
        0.061224489795918435,
        0.04398826979472137,
        0.026098594691055244,
        0.02062084257206198,
        0.0217965653896961,
        0.008289703315881303,
        -0.00954861111111105,
    ];
    const REF_MOM10: [f64; 10] = [
        1.5499999999999972,
        1.9399999999999977,
        1.4600000000000009,
        2.6700000000000017,
        1.9500000000000028,
        1.1700000000000017,
        0.9299999999999997,
        0.9899999999999949,
        0.37999999999999545,
        -0.4399999999999977,
    ];
    const REF_VOL10: [f64; 10] = [
        0.00866832517023822,
        0.00807058653389075,
        0.009116255949187543,
        0.00790147707773716,
        0.007161261880790335,
        0.007390089923784174,
        0.007307574633522938,
        0.00740404556937369,
        0.007189214150189689,
        0.008130688489139015,
    ];
}
