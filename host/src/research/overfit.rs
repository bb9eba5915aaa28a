//! Overfitting statistics of a sweep.
//!
//! The **Deflated Sharpe Ratio** (Bailey and López de Prado, 2014): the
//! probability that the best of N trials has a true Sharpe ratio above what
//! the best of N trials of *no* skill would show by chance,
//!
//! ```text
//! SR₀ = √V[SRₙ] · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e)))        γ: Euler–Mascheroni
//! DSR = Φ( (SR* − SR₀) √(T − 1) / √(1 − γ₃ SR* + (γ₄ − 1)/4 · SR*²) )
//! ```
//!
//! with SR* the best trial's Sharpe ratio *per period* (not annualised),
//! V[SRₙ] the variance of the trials' per-period Sharpe ratios, T the number
//! of returns, γ₃ their skewness and γ₄ their kurtosis (3 for a normal
//! distribution). Φ is the standard normal distribution (the `statrs`
//! crate). `tests/reference/deflated_sharpe.py` computes the same figures
//! with SciPy, independently; the unit tests compare.

use statrs::distribution::{ContinuousCDF, Normal};

const EULER_MASCHERONI: f64 = 0.577_215_664_901_532_9;

fn standard_normal() -> Normal {
    // Mean 0 and deviation 1 are always valid.
    Normal::standard()
}

/// The expected maximum of `n` standard normal draws (the selection-bias
/// benchmark for unit variance).
pub fn expected_max(n: usize) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let z = standard_normal();
    let n = n as f64;
    (1.0 - EULER_MASCHERONI) * z.inverse_cdf(1.0 - 1.0 / n)
        + EULER_MASCHERONI * z.inverse_cdf(1.0 - 1.0 / (n * std::f64::consts::E))
}

/// Moments of a series of returns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// Returns counted.
    pub n: usize,
    /// Sharpe ratio per period (mean ÷ standard deviation).
    pub sharpe: f64,
    /// Skewness.
    pub skew: f64,
    /// Kurtosis (3 for a normal distribution).
    pub kurtosis: f64,
}

impl Moments {
    /// Of `returns` (population moments, as the paper uses).
    pub fn of(returns: &[f64]) -> Self {
        let n = returns.len();
        let m = returns.iter().sum::<f64>() / n.max(1) as f64;
        let central =
            |k: i32| returns.iter().map(|r| (r - m).powi(k)).sum::<f64>() / n.max(1) as f64;
        let var = central(2);
        let sd = var.sqrt();
        let ok = sd > 0.0 && sd.is_finite();
        Self {
            n,
            sharpe: if ok { m / sd } else { 0.0 },
            skew: if ok { central(3) / sd.powi(3) } else { 0.0 },
            kurtosis: if ok { central(4) / (var * var) } else { 3.0 },
        }
    }
}

/// The Deflated Sharpe Ratio of the best trial (`best`), given every
/// trial's per-period Sharpe ratio; and the benchmark SR₀ it was deflated by.
pub fn deflated_sharpe(best: &Moments, trials: &[f64]) -> (f64, f64) {
    let n = trials.len();
    let mean = trials.iter().sum::<f64>() / n.max(1) as f64;
    let var = if n > 1 {
        trials.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    let sr0 = var.sqrt() * expected_max(n);
    let sr = best.sharpe;
    let denom = (1.0 - best.skew * sr + (best.kurtosis - 1.0) / 4.0 * sr * sr).sqrt();
    let z = (sr - sr0) * ((best.n as f64) - 1.0).max(0.0).sqrt() / denom;
    (standard_normal().cdf(z), sr0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_benchmark_is_the_expected_maximum_of_n_standard_normals() {
        // SciPy (tests/reference/deflated_sharpe.py): 1.5746, 2.1895, 2.5306, 3.2551.
        for (n, want) in [(10, 1.5746), (40, 2.1895), (100, 2.5306), (1000, 3.2551)] {
            assert!(
                (expected_max(n) - want).abs() < 5e-4,
                "{n}: {}",
                expected_max(n)
            );
        }
        assert_eq!(expected_max(1), 0.0);
    }

    #[test]
    fn deflated_sharpe_agrees_with_an_independent_computation() {
        // The paper's worked case (section 6): N = 100 trials whose
        // annualised Sharpe ratios vary by V = 1/2, the best at 2.5 a year,
        // T = 1,250 daily returns, skewness −3, kurtosis 10; per period:
        // SR* = 2.5/√250, V[SRₙ] = 0.5/250. SciPy gives SR₀ = 0.11317 and
        // DSR = 0.90040 (the paper: 0.9004).
        let best = Moments {
            n: 1250,
            sharpe: 2.5 / 250f64.sqrt(),
            skew: -3.0,
            kurtosis: 10.0,
        };
        // Trials with that variance: a symmetric set around 0.
        let sd = (0.5f64 / 250.0).sqrt();
        let trials: Vec<f64> = (0..100)
            .map(|i| if i % 2 == 0 { sd } else { -sd })
            .collect();
        // Sample variance of ±sd with n = 100 is sd²·100/99: correct for it.
        let trials: Vec<f64> = trials
            .iter()
            .map(|t| t * (99.0f64 / 100.0).sqrt())
            .collect();
        let (dsr, sr0) = deflated_sharpe(&best, &trials);
        assert!((sr0 - 0.11317).abs() < 5e-5, "SR0 {sr0}");
        assert!((dsr - 0.90040).abs() < 5e-5, "DSR {dsr}");
    }

    #[test]
    fn moments_of_a_series() {
        let m = Moments::of(&[0.01, -0.01, 0.02, -0.02, 0.03]);
        // SciPy: mean/std(ddof=0) = 0.32350, skew = −0.1580, kurtosis (Pearson) = 1.5092.
        assert!((m.sharpe - 0.32350).abs() < 5e-5, "{m:?}");
        assert!((m.skew + 0.1580).abs() < 5e-5, "{m:?}");
        assert!((m.kurtosis - 1.5092).abs() < 5e-5, "{m:?}");
    }
}
