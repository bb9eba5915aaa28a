//! Statistics of returns, one copy for everyone who measures: the run
//! report, the service's paper-Sharpe alarm, capital allocation between
//! deployments, and research.
//!
//! **Returns** are simple returns of consecutive values (`v₁ / v₀ − 1`; a
//! non-positive `v₀` gives none). **Moments** are sample moments: the mean
//! over `n`, the standard deviation over `n − 1`. **Sharpe** is mean ÷
//! standard deviation at a zero risk-free rate; **Sortino** divides by the
//! downside deviation `sqrt(mean(min(r, 0)²))` over all periods.
//!
//! **Annualisation** multiplies a per-period ratio by √(periods per year),
//! and the periods per year always come from the data being measured:
//! - a run's equity curve (the report): returns ÷ years spanned, so daily
//!   stock bars annualise by ~252, minute crypto bars by ~525,600;
//! - a running deployment's daily equity closes (the service's alarm,
//!   account allocation): one close per calendar day, [`CALENDAR_DAYS`] a
//!   year — the service closes every UTC day, trading or not.
//!
//! The overfitting statistics (`research::overfit`) use per-period ratios
//! and population moments, as the papers they implement define them; they
//! are not annualised.

pub mod drawdown;

pub use drawdown::max_drawdown;

/// Periods a year of daily closes taken every calendar day.
pub const CALENDAR_DAYS: f64 = 365.0;

/// Simple returns of consecutive values; a pair whose first value is not
/// positive gives none.
pub fn returns(values: &[f64]) -> Vec<f64> {
    values
        .windows(2)
        .filter(|w| w[0] > 0.0)
        .map(|w| w[1] / w[0] - 1.0)
        .collect()
}

/// Sample mean and standard deviation, when there are at least two finite
/// returns.
pub fn mean_sd(r: &[f64]) -> Option<(f64, f64)> {
    if r.len() < 2 || r.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let n = r.len() as f64;
    let mean = r.iter().sum::<f64>() / n;
    let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, var.sqrt()))
}

/// Downside deviation: `sqrt(mean(min(r, 0)²))` over every period.
pub fn downside_deviation(r: &[f64]) -> f64 {
    if r.is_empty() {
        return 0.0;
    }
    (r.iter().map(|x| x.min(0.0).powi(2)).sum::<f64>() / r.len() as f64).sqrt()
}

/// A per-period ratio made annual.
pub fn annualise(per_period: f64, periods_per_year: f64) -> f64 {
    per_period * periods_per_year.sqrt()
}

/// The annualised Sharpe ratio of `r`, or `None` with fewer than two
/// returns or no variation.
pub fn sharpe(r: &[f64], periods_per_year: f64) -> Option<f64> {
    let (mean, sd) = mean_sd(r)?;
    (sd > 0.0).then(|| annualise(mean / sd, periods_per_year))
}

/// The annualised Sharpe ratio of daily equity closes `(UTC day, close)`,
/// annualised by how many closes a year they come at (365 for a market
/// open every day, about 252 for one closed at weekends and holidays), so
/// that it compares with a backtest's Sharpe ratio of the same market.
pub fn daily_sharpe(closes: &[(i64, f64)]) -> Option<f64> {
    let (first, last) = (closes.first()?.0, closes.last()?.0);
    let span = (last - first) as f64;
    if span <= 0.0 {
        return None;
    }
    let per_year = (closes.len() - 1) as f64 * CALENDAR_DAYS / span;
    let values: Vec<f64> = closes.iter().map(|c| c.1).collect();
    sharpe(&returns(&values), per_year)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharpe_is_the_sample_mean_over_the_sample_deviation_made_annual() {
        let days = |c: &[f64]| -> Vec<(i64, f64)> {
            c.iter().enumerate().map(|(i, c)| (i as i64, *c)).collect()
        };
        assert_eq!(daily_sharpe(&days(&[100.0, 101.0])), None);
        assert_eq!(daily_sharpe(&days(&[100.0, 100.0, 100.0])), None);
        let closes = [100.0, 101.0, 100.5, 102.0, 103.0];
        let r: Vec<f64> = closes.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
        let mean = r.iter().sum::<f64>() / 4.0;
        let sd = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
        let s = daily_sharpe(&days(&closes)).unwrap();
        assert!((s - mean / sd * 365f64.sqrt()).abs() < 1e-9);
        // Five closes over Monday to Monday (a week end between): four a
        // week, so 4 × 365 / 7 a year.
        let weekdays: Vec<(i64, f64)> = [0, 1, 2, 3, 7].into_iter().zip(closes).collect();
        let s = daily_sharpe(&weekdays).unwrap();
        assert!((s - mean / sd * (4.0 * 365.0 / 7.0f64).sqrt()).abs() < 1e-9);
        assert!((sharpe(&r, 252.0).unwrap() - mean / sd * 252f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn downside_deviation_counts_every_period() {
        let r = [0.02, -0.01, 0.03, -0.02];
        let want = ((0.0001 + 0.0004) / 4.0f64).sqrt();
        assert!((downside_deviation(&r) - want).abs() < 1e-15);
        assert_eq!(downside_deviation(&[]), 0.0);
    }

    #[test]
    fn a_non_finite_return_measures_nothing() {
        assert_eq!(mean_sd(&[0.1, f64::NAN, 0.2]), None);
        assert_eq!(returns(&[0.0, 1.0, 2.0]), vec![1.0]);
    }
}
