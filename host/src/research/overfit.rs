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
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// The Probability of Backtest Overfitting, by combinatorially symmetric
/// cross-validation (Bailey, Borwein, López de Prado and Zhu, 2015).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pbo {
    /// Share of the splits in which the trial best in sample ranks in the
    /// lower half out of sample (its rank's logit ≤ 0).
    pub pbo: f64,
    /// Splits evaluated: S choose S/2.
    pub combinations: usize,
    /// Blocks the periods were cut into.
    pub blocks: usize,
}

/// PBO of trials whose per-period returns are `returns[n]` (cut to the
/// shortest): the periods are split into `blocks` (even, at most 24)
/// contiguous blocks of near-equal length (the first ones one longer when
/// they do not divide evenly); for every choice of half of the blocks as
/// the in-sample set, the trial with the best in-sample Sharpe ratio is
/// ranked among all trials by its Sharpe ratio on the other half (rank 1 =
/// worst, ω = rank/(N+1), ties counted as not better), and PBO is the share
/// of choices with ln(ω/(1−ω)) ≤ 0.
pub fn pbo(returns: &[Vec<f64>], blocks: usize) -> Result<Pbo, String> {
    let n = returns.len();
    let t = returns.iter().map(Vec::len).min().unwrap_or(0);
    if n < 2 {
        return Err("PBO needs at least two trials".into());
    }
    if blocks < 2 || !blocks.is_multiple_of(2) || blocks > 24 {
        return Err(format!(
            "PBO needs an even number of blocks from 2 to 24, not {blocks}"
        ));
    }
    if t < 2 * blocks {
        return Err(format!(
            "PBO with {blocks} blocks needs at least {} periods, the trials have {t}",
            2 * blocks
        ));
    }
    // Sufficient statistics per block and trial: count, Σr, Σr².
    let (base, extra) = (t / blocks, t % blocks);
    let mut stats = vec![vec![(0.0f64, 0.0f64, 0.0f64); n]; blocks];
    let mut start = 0;
    for (b, row) in stats.iter_mut().enumerate() {
        let len = base + usize::from(b < extra);
        for (k, cell) in row.iter_mut().enumerate() {
            for &r in &returns[k][start..start + len] {
                cell.0 += 1.0;
                cell.1 += r;
                cell.2 += r * r;
            }
        }
        start += len;
    }
    let sharpe = |mask: u32, k: usize| {
        let (mut c, mut s, mut q) = (0.0, 0.0, 0.0);
        for (b, row) in stats.iter().enumerate() {
            if mask & (1 << b) != 0 {
                c += row[k].0;
                s += row[k].1;
                q += row[k].2;
            }
        }
        let mean = s / c;
        let var = (q / c - mean * mean).max(0.0);
        if var > 0.0 { mean / var.sqrt() } else { 0.0 }
    };
    let all = (1u32 << blocks) - 1;
    let (mut total, mut overfit) = (0usize, 0usize);
    for train in 0..=all {
        if train.count_ones() as usize != blocks / 2 {
            continue;
        }
        let test = all & !train;
        let best = (0..n)
            .map(|k| (k, sharpe(train, k)))
            .fold((0, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a })
            .0;
        let oos: Vec<f64> = (0..n).map(|k| sharpe(test, k)).collect();
        let rank = oos.iter().filter(|&&v| v <= oos[best]).count();
        let w = rank as f64 / (n + 1) as f64;
        total += 1;
        if (w / (1.0 - w)).ln() <= 0.0 {
            overfit += 1;
        }
    }
    Ok(Pbo {
        pbo: overfit as f64 / total as f64,
        combinations: total,
        blocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbo_agrees_with_a_brute_force_computation_over_rows() {
        // tests/reference/deflated_sharpe.py, with NumPy: 0.957143 over 70.
        let m: Vec<Vec<f64>> = (0..6)
            .map(|n| {
                (0..64)
                    .map(|t| {
                        let (t, n) = (t as f64, n as f64);
                        (0.7 * t + 1.3 * n).sin() / 100.0 + (n - 2.5) / 2000.0 * (0.31 * t).cos()
                    })
                    .collect()
            })
            .collect();
        let p = pbo(&m, 8).unwrap();
        assert_eq!(p.combinations, 70);
        assert!((p.pbo - 0.957143).abs() < 1e-6, "{p:?}");
        assert!(pbo(&m, 7).is_err() && pbo(&m[..1], 8).is_err() && pbo(&m, 40).is_err());
    }

    #[test]
    fn a_trial_that_is_best_everywhere_is_not_overfit() {
        // One trial beats the others in every period: chosen in sample, it
        // is first out of sample too.
        let m: Vec<Vec<f64>> = (0..4)
            .map(|n| {
                (0..40)
                    .map(|t| 0.001 * n as f64 + 0.01 * ((t * 7 + n) % 5) as f64 / 5.0)
                    .collect()
            })
            .collect();
        assert_eq!(pbo(&m, 4).unwrap().pbo, 0.0);
    }

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
