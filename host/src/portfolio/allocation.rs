//! Capital across deployments that share an account, and the ramp-up of a
//! LIVE deployment's capital.
//!
//! Allocation gives each deployment a weight of the account's capital:
//! - **fixed** fractions, as configured (they may leave cash unallocated);
//! - **risk parity**: inversely to the volatility of each deployment's
//!   returns over a lookback, so each contributes about the same risk;
//! - **performance-weighted**: in proportion to each one's trailing Sharpe
//!   ratio, floored so that a deployment in a bad patch keeps a minimum
//!   share instead of none (and a negative Sharpe gives no negative weight).
//!
//! Ramp-up: a new LIVE deployment trades a fraction of its allocation that
//! grows on a schedule (the reference design: 10% in week 1, 25% in week 2,
//! 50% in week 3, then all of it), so a defect that paper trading missed
//! costs a tenth of what it could.
//!
//! The service applies them: `service::account` (allocation, rebalanced on
//! a schedule) and the engine's ramp-up; these are the computations,
//! checked here against hand computation.

/// How the account's capital is shared.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// These fractions, one a deployment (their sum at most 1).
    Fixed(Vec<f64>),
    /// Inverse volatility of the last `lookback` returns.
    RiskParity {
        /// Returns considered.
        lookback: usize,
    },
    /// Trailing Sharpe ratio of the last `lookback` returns, at least `floor`.
    Performance {
        /// Returns considered.
        lookback: usize,
        /// The least a deployment's score can be (> 0).
        floor: f64,
    },
}

/// A volatility of returns below this is none (rounding, not risk).
const FLAT: f64 = 1e-12;

/// The last `n` of `r`.
fn tail(r: &[f64], n: usize) -> &[f64] {
    &r[r.len().saturating_sub(n)..]
}

/// The sample standard deviation of the last `lookback` of `r`, when it
/// can be measured and is more than rounding (none: no risk to weigh by).
pub fn volatility(r: &[f64], lookback: usize) -> Option<f64> {
    crate::statistic::mean_sd(tail(r, lookback))
        .map(|(_, sd)| sd)
        .filter(|sd| *sd > FLAT)
}

/// The weight of each deployment, given each one's returns (oldest first);
/// an error names the deployment (by position) that cannot be weighted.
pub fn weights(method: &Method, returns: &[Vec<f64>]) -> Result<Vec<f64>, String> {
    let n = returns.len();
    let scores: Vec<f64> = match method {
        Method::Fixed(f) => {
            if f.len() != n {
                return Err(format!("{} fixed fractions for {n} deployments", f.len()));
            }
            if let Some(i) = f.iter().position(|x| !(x.is_finite() && *x >= 0.0)) {
                return Err(format!(
                    "deployment {i}: fraction {} is not a fraction",
                    f[i]
                ));
            }
            let sum: f64 = f.iter().sum();
            if sum > 1.0 + 1e-12 {
                return Err(format!(
                    "fixed fractions add up to {sum}, more than the account"
                ));
            }
            return Ok(f.clone());
        }
        Method::RiskParity { lookback } => returns
            .iter()
            .enumerate()
            .map(
                |(i, r)| match crate::statistic::mean_sd(tail(r, *lookback)) {
                    Some((_, sd)) if sd > FLAT => Ok(1.0 / sd),
                    Some(_) => Err(format!(
                        "deployment {i}: its returns do not vary (volatility 0)"
                    )),
                    None => Err(format!("deployment {i}: fewer than 2 returns to measure")),
                },
            )
            .collect::<Result<_, _>>()?,
        Method::Performance { lookback, floor } => {
            if !(floor.is_finite() && *floor > 0.0) {
                return Err(format!("the floor {floor} must be positive"));
            }
            returns
                .iter()
                .enumerate()
                .map(
                    |(i, r)| match crate::statistic::mean_sd(tail(r, *lookback)) {
                        Some((m, sd)) if sd > FLAT => Ok((m / sd).max(*floor)),
                        Some(_) => Ok(*floor),
                        None => Err(format!("deployment {i}: fewer than 2 returns to measure")),
                    },
                )
                .collect::<Result<_, _>>()?
        }
    };
    let total: f64 = scores.iter().sum();
    Ok(scores.iter().map(|s| s / total).collect())
}

/// The ramp-up schedule: (days since going LIVE before which, fraction).
#[derive(Debug, Clone, PartialEq)]
pub struct RampUp(pub Vec<(f64, f64)>);

impl Default for RampUp {
    /// 10% in week 1, 25% in week 2, 50% in week 3, then 100%.
    fn default() -> Self {
        RampUp(vec![(7.0, 0.10), (14.0, 0.25), (21.0, 0.50)])
    }
}

impl RampUp {
    /// The fraction of its allocation a deployment LIVE since `since_ms`
    /// trades at `now_ms`.
    pub fn fraction(&self, since_ms: i64, now_ms: i64) -> f64 {
        let days = (now_ms - since_ms).max(0) as f64 / 86_400_000.0;
        self.0
            .iter()
            .find(|(until, _)| days < *until)
            .map_or(1.0, |(_, f)| *f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns alternating ±a: sample standard deviation a·√(n/(n−1)).
    fn alternating(a: f64, n: usize) -> Vec<f64> {
        (0..n).map(|i| if i % 2 == 0 { a } else { -a }).collect()
    }

    #[test]
    fn risk_parity_weighs_inversely_to_volatility() {
        // Volatilities in the ratio 1 : 2 : 4 → weights 4/7, 2/7, 1/7.
        let r = vec![
            alternating(0.01, 20),
            alternating(0.02, 20),
            alternating(0.04, 20),
        ];
        let w = weights(&Method::RiskParity { lookback: 20 }, &r).unwrap();
        for (got, want) in w.iter().zip([4.0 / 7.0, 2.0 / 7.0, 1.0 / 7.0]) {
            assert!((got - want).abs() < 1e-12, "{w:?}");
        }
        // Only the lookback counts: an old calm stretch does not.
        let mut calm_then_wild = alternating(0.001, 50);
        calm_then_wild.extend(alternating(0.04, 20));
        let w = weights(
            &Method::RiskParity { lookback: 20 },
            &[alternating(0.04, 20), calm_then_wild],
        )
        .unwrap();
        assert!((w[0] - 0.5).abs() < 1e-12, "{w:?}");
        let e = weights(&Method::RiskParity { lookback: 20 }, &[vec![0.01; 20]]).unwrap_err();
        assert_eq!(e, "deployment 0: its returns do not vary (volatility 0)");
    }

    #[test]
    fn performance_weighting_floors_the_trailing_sharpe() {
        // Sharpe ratios by hand: mean/sd of [3, 1] = 2/√2 = √2; of [1, -1] = 0 → floor.
        let r = vec![vec![0.03, 0.01], vec![0.01, -0.01], vec![-0.02, -0.04]];
        let w = weights(
            &Method::Performance {
                lookback: 10,
                floor: 0.25,
            },
            &r,
        )
        .unwrap();
        let s = [2f64.sqrt(), 0.25, 0.25];
        let total: f64 = s.iter().sum();
        for (got, want) in w.iter().zip(s.iter().map(|x| x / total)) {
            assert!((got - want).abs() < 1e-12, "{w:?}");
        }
        assert!(
            weights(
                &Method::Performance {
                    lookback: 10,
                    floor: 0.0
                },
                &r
            )
            .is_err()
        );
    }

    #[test]
    fn fixed_fractions_are_taken_as_given_within_the_account() {
        let r = vec![vec![], vec![]];
        assert_eq!(
            weights(&Method::Fixed(vec![0.5, 0.3]), &r).unwrap(),
            vec![0.5, 0.3]
        );
        assert!(
            weights(&Method::Fixed(vec![0.7, 0.4]), &r)
                .unwrap_err()
                .contains("more than the account")
        );
        assert!(weights(&Method::Fixed(vec![0.5]), &r).is_err());
    }

    #[test]
    fn the_ramp_up_follows_the_reference_schedule() {
        let day = 86_400_000;
        let r = RampUp::default();
        assert_eq!(r.fraction(0, 0), 0.10);
        assert_eq!(r.fraction(0, 7 * day - 1), 0.10);
        assert_eq!(r.fraction(0, 7 * day), 0.25);
        assert_eq!(r.fraction(0, 20 * day), 0.50);
        assert_eq!(r.fraction(0, 21 * day), 1.0);
        assert_eq!(
            r.fraction(10 * day, 0),
            0.10,
            "not yet live: the first step"
        );
    }
}
