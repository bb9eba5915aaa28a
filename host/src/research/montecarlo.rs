//! Monte Carlo resampling of a run: how much of its result was the order
//! its trades (or returns) happened to come in.
//!
//! - `trades`: the run's round trips' net PnL, drawn with replacement, as
//!   many as the run had, added to the starting equity one after another;
//! - `returns`: the bar-to-bar returns of its equity curve, drawn with
//!   replacement, compounded;
//! - `block`: the same returns in blocks of `block` consecutive periods
//!   (circular), which keeps some of their serial dependence.
//!
//! For each simulated path: final equity and maximum drawdown from the
//! running peak. Reported: the 5th, 50th and 95th percentiles (nearest
//! rank) of both, and the share of paths whose drawdown reaches a threshold
//! (by default the risk configuration's `max_drawdown`). A seed makes the
//! whole simulation reproducible.

use rand::SeedableRng;
use rand_distr::Distribution;
use serde::Serialize;

/// How a path is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Round trips' PnL, with replacement.
    Trades,
    /// Per-period returns, with replacement.
    Returns,
    /// Blocks of this many consecutive returns, circular.
    Block(usize),
}

/// What a run gives to resample.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Starting equity.
    pub initial: f64,
    /// Net PnL of each round trip, in order.
    pub trades: Vec<f64>,
    /// Bar-to-bar returns of the equity curve, in order.
    pub returns: Vec<f64>,
}

impl Sample {
    /// From an equity curve and the round trips' PnL.
    pub fn new(initial: f64, equity: &[(i64, f64)], trades: Vec<f64>) -> Self {
        let mut prev = initial;
        let returns = equity
            .iter()
            .map(|&(_, e)| {
                let r = if prev > 0.0 { e / prev - 1.0 } else { 0.0 };
                prev = e;
                r
            })
            .collect();
        Self {
            initial,
            trades,
            returns,
        }
    }
}

/// Three percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// 5th.
    pub p5: f64,
    /// 50th.
    pub p50: f64,
    /// 95th.
    pub p95: f64,
}

fn percentiles(mut v: Vec<f64>) -> Percentiles {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| {
        if v.is_empty() {
            return f64::NAN;
        }
        // Nearest rank: the smallest value with at least p of them at or below.
        let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    };
    Percentiles {
        p5: at(0.05),
        p50: at(0.50),
        p95: at(0.95),
    }
}

/// What the simulation found.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Paths simulated.
    pub runs: usize,
    /// Items per path (trades or periods).
    pub length: usize,
    /// Final equity.
    pub final_equity: Percentiles,
    /// Maximum drawdown (a fraction of the peak).
    pub max_drawdown: Percentiles,
    /// The drawdown threshold asked about.
    pub threshold: f64,
    /// Share of paths whose maximum drawdown reached it.
    pub p_drawdown_beyond: f64,
}

/// Simulate `runs` paths.
pub fn simulate(
    s: &Sample,
    method: Method,
    runs: usize,
    seed: u64,
    threshold: f64,
) -> Result<Summary, String> {
    let items = match method {
        Method::Trades => &s.trades,
        _ => &s.returns,
    };
    if items.is_empty() {
        return Err(match method {
            Method::Trades => {
                "the run completed no round trip: nothing to resample (try --method returns)".into()
            }
            _ => "the run has no returns to resample".into(),
        });
    }
    if let Method::Block(0) = method {
        return Err("--block must be at least 1".into());
    }
    let n = items.len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let index = rand_distr::Uniform::new(0, n).map_err(|e| e.to_string())?;
    let (mut finals, mut dds) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        let mut equity = s.initial;
        let mut peak = equity;
        let mut dd: f64 = 0.0;
        let mut step = |e: &mut f64, x: f64| {
            match method {
                Method::Trades => *e += x,
                _ => *e *= 1.0 + x,
            }
            peak = peak.max(*e);
            if peak > 0.0 {
                dd = dd.max(1.0 - *e / peak);
            }
        };
        match method {
            Method::Block(b) => {
                let mut taken = 0;
                while taken < n {
                    let start = index.sample(&mut rng);
                    for k in 0..b.min(n - taken) {
                        step(&mut equity, items[(start + k) % n]);
                    }
                    taken += b;
                }
            }
            _ => {
                for _ in 0..n {
                    step(&mut equity, items[index.sample(&mut rng)]);
                }
            }
        }
        finals.push(equity);
        dds.push(dd);
    }
    let beyond = dds.iter().filter(|&&d| d >= threshold).count();
    Ok(Summary {
        runs,
        length: n,
        final_equity: percentiles(finals),
        max_drawdown: percentiles(dds),
        threshold,
        p_drawdown_beyond: beyond as f64 / runs.max(1) as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(trades: &[f64]) -> Sample {
        Sample {
            initial: 100.0,
            trades: trades.to_vec(),
            returns: Vec::new(),
        }
    }

    #[test]
    fn two_trades_resampled_match_the_four_equally_likely_paths() {
        // +10/−10 from 100, two draws: finals 120, 100, 100, 80 (¼ ½ ¼);
        // drawdowns 0, 1/11, 0.1, 0.2 — so P(dd ≥ 9.9%) = ½ (asked just
        // under 10%: 1 − 90/100 is a hair below 0.1 in floating point).
        let s = simulate(&sample(&[10.0, -10.0]), Method::Trades, 40_000, 1, 0.099).unwrap();
        assert_eq!(
            (s.final_equity.p5, s.final_equity.p50, s.final_equity.p95),
            (80.0, 100.0, 120.0)
        );
        assert_eq!(s.max_drawdown.p5, 0.0);
        assert!((s.max_drawdown.p95 - 0.2).abs() < 1e-12, "{s:?}");
        assert!((s.p_drawdown_beyond - 0.5).abs() < 0.01, "{s:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_simulation_and_constant_trades_give_no_spread() {
        let t = [5.0, -3.0, 8.0, -1.0, 2.0];
        let a = simulate(&sample(&t), Method::Trades, 2_000, 9, 0.05).unwrap();
        let b = simulate(&sample(&t), Method::Trades, 2_000, 9, 0.05).unwrap();
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        let c = simulate(&sample(&[2.0; 4]), Method::Trades, 500, 9, 0.05).unwrap();
        assert_eq!(c.final_equity.p5, 108.0);
        assert_eq!(c.final_equity.p95, 108.0);
        assert_eq!(c.p_drawdown_beyond, 0.0);
    }

    #[test]
    fn returns_compound_and_blocks_keep_runs_of_losses_together() {
        let s = Sample::new(100.0, &[(0, 110.0), (1, 99.0), (2, 99.0)], Vec::new());
        assert_eq!(s.returns.len(), 3);
        assert!((s.returns[0] - 0.1).abs() < 1e-12 && (s.returns[1] + 0.1).abs() < 1e-12);
        let r = simulate(&s, Method::Returns, 1_000, 3, 0.5).unwrap();
        assert!(
            r.final_equity.p5 > 0.0 && r.max_drawdown.p95 <= 0.19 + 1e-9,
            "{r:?}"
        );
        // Ten losses of 1% then ten gains: whole blocks of 10 keep the
        // losing streak, so some paths lose ≈ 9.6% in a row.
        let mut e = vec![];
        let mut v = 100.0;
        for i in 0..20 {
            v *= if i < 10 { 0.99 } else { 1.01 };
            e.push((i, v));
        }
        let s = Sample::new(100.0, &e, Vec::new());
        let b = simulate(&s, Method::Block(10), 2_000, 3, 0.09).unwrap();
        assert!(b.max_drawdown.p95 > 0.09, "{b:?}");
        assert!(simulate(&s, Method::Block(0), 10, 3, 0.1).is_err());
        assert!(simulate(&sample(&[]), Method::Trades, 10, 3, 0.1).is_err());
    }
}
