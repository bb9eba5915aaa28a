//! Parameter sweeps: a grid (or a seeded random sample of it) of parameter
//! combinations, each replayed on the same data, in parallel.
//!
//! Axes are given as `name=lo..hi:step`, `name=a,b,c`, or `name` alone for
//! the plugin's declared range (every integer of a range of at most 21
//! values, else 10 evenly spaced values). A combination the strategy
//! refuses in `init` (say `fast ≥ slow`) is reported as refused, with the
//! strategy's message, not as a failure of the sweep.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::SeedableRng;
use rand_distr::Distribution;

use crate::data::market::Recording;
use crate::engine::replay::{self, DataDigest, ReplaySpec, Sink};
use crate::report::Report;
use crate::sandbox::runtime::{Description, ParamType, Plugin, Runtime};

/// One parameter and the values it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Parameter name.
    pub name: String,
    /// Values as `--param` text.
    pub values: Vec<String>,
}

/// Values of a declared range when none are given: every integer of a range
/// of at most this many, else this many evenly spaced.
const DECLARED_VALUES: usize = 10;
const ALL_INTEGERS_UP_TO: f64 = 21.0;

/// Parse `name=lo..hi:step`, `name=a,b,c` or `name` (the declared range).
pub fn parse_axis(text: &str, desc: &Description) -> Result<Axis, String> {
    let (name, spec) = match text.split_once('=') {
        Some((n, s)) => (n.trim(), Some(s.trim())),
        None => (text.trim(), None),
    };
    let Some(p) = desc.params.iter().find(|p| p.name == name) else {
        let declared: Vec<&str> = desc.params.iter().map(|p| p.name.as_str()).collect();
        return Err(format!(
            "--grid {text}: {}@{} has no parameter `{name}` (it declares: {})",
            desc.name,
            desc.version,
            declared.join(", ")
        ));
    };
    let integer = p.type_ == ParamType::Integer;
    let show = |v: f64| {
        if integer {
            format!("{}", v.round() as i64)
        } else {
            format!("{v}")
        }
    };
    let values: Vec<String> = match spec {
        Some(s) if s.contains("..") => {
            let (range, step) = s.split_once(':').unwrap_or((s, "1"));
            let (lo, hi) = range.split_once("..").unwrap_or((range, range));
            let num = |t: &str, what: &str| {
                t.trim()
                    .parse::<f64>()
                    .map_err(|e| format!("--grid {text}: {what} `{t}` is not a number ({e})"))
            };
            let (lo, hi, step) = (num(lo, "start")?, num(hi, "end")?, num(step, "step")?);
            if step.is_nan() || step <= 0.0 || !lo.is_finite() || !hi.is_finite() || hi < lo {
                return Err(format!(
                    "--grid {text}: a range is start..end:step with start ≤ end and a positive step"
                ));
            }
            let n = ((hi - lo) / step + 1e-9).floor() as usize + 1;
            if n > 100_000 {
                return Err(format!("--grid {text}: {n} values is too many"));
            }
            (0..n).map(|i| show(lo + i as f64 * step)).collect()
        }
        Some(s) => s
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from)
            .collect(),
        None => {
            let (Some(lo), Some(hi)) = (p.min, p.max) else {
                return Err(format!(
                    "--grid {name}: the parameter declares no range; give {name}=start..end:step or {name}=a,b,c"
                ));
            };
            if integer && hi - lo + 1.0 <= ALL_INTEGERS_UP_TO {
                (lo.ceil() as i64..=hi.floor() as i64)
                    .map(|v| v.to_string())
                    .collect()
            } else {
                let k = DECLARED_VALUES - 1;
                (0..=k)
                    .map(|i| show(lo + (hi - lo) * i as f64 / k as f64))
                    .collect()
            }
        }
    };
    let mut unique = Vec::new();
    for v in values {
        if !unique.contains(&v) {
            unique.push(v);
        }
    }
    if unique.is_empty() {
        return Err(format!("--grid {text}: no values"));
    }
    // Every value is checked here, as the host would check it: a typo must
    // not become a sweep of runs that are all refused.
    let label = format!("{}@{}", desc.name, desc.version);
    for v in &unique {
        if let Err(e) = crate::sandbox::params::check(p, v, &label) {
            let numeric = matches!(p.type_, ParamType::Integer | ParamType::Float);
            let hint = if numeric && v.trim_start_matches('-').contains('-') {
                format!("; a range is written {name}=start..end:step")
            } else {
                String::new()
            };
            return Err(format!("--grid {text}: {e}{hint}"));
        }
    }
    Ok(Axis {
        name: name.into(),
        values: unique,
    })
}

/// Combinations: `name=value` lists.
pub type Combination = Vec<String>;

/// How many combinations the axes make (saturating).
pub fn grid_size(axes: &[Axis]) -> usize {
    axes.iter()
        .fold(1usize, |n, a| n.saturating_mul(a.values.len()))
}

/// Combination number `i` of the grid (the last axis varies fastest).
fn combination(axes: &[Axis], mut i: usize) -> Combination {
    let mut out = vec![String::new(); axes.len()];
    for (k, a) in axes.iter().enumerate().rev() {
        let n = a.values.len();
        out[k] = format!("{}={}", a.name, a.values[i % n]);
        i /= n;
    }
    out
}

/// Every combination of the axes, in order.
pub fn grid(axes: &[Axis]) -> Vec<Combination> {
    (0..grid_size(axes)).map(|i| combination(axes, i)).collect()
}

/// `n` distinct combinations of the grid drawn at random with `seed` (the
/// whole grid, in order, when it has no more than `n`): the same seed
/// draws the same sample.
pub fn random(axes: &[Axis], n: usize, seed: u64) -> Vec<Combination> {
    let size = grid_size(axes);
    if size <= n {
        return grid(axes);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let Ok(uniform) = rand_distr::Uniform::new(0, size) else {
        return grid(axes);
    };
    let mut picked = std::collections::BTreeSet::new();
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let i = uniform.sample(&mut rng);
        if picked.insert(i) {
            order.push(i);
        }
    }
    order.into_iter().map(|i| combination(axes, i)).collect()
}

/// One run of a sweep.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// Its parameters (`name=value`).
    pub params: Combination,
    /// The report, or why there is none (the strategy refused the
    /// parameters, or faulted).
    pub report: Result<Report, String>,
    /// Per-period moments of the run's returns (for the overfitting
    /// statistics).
    pub moments: Option<super::overfit::Moments>,
    /// The run's bar-to-bar returns (empty without a result).
    pub returns: Vec<f64>,
}

/// What every run of a sweep shares: the plugin compiled once, the run
/// settings and fixed parameters (`base`), the data in memory.
pub struct Sweep<'a> {
    /// The runtime.
    pub rt: &'a Runtime,
    /// The compiled plugin.
    pub plugin: &'a Plugin,
    /// Data files, configuration, fixed parameters; each combination's
    /// values override the fixed ones.
    pub base: &'a ReplaySpec,
    /// The bars.
    pub rec: &'a Recording,
    /// Digests of the data files, for the run metadata.
    pub digests: &'a [DataDigest],
}

impl Sweep<'_> {
    /// Replay every combination, `jobs` at a time; `done` is called after
    /// each run. Outcomes come back in the order of `combos`.
    pub fn run(
        &self,
        combos: &[Combination],
        jobs: usize,
        done: &(dyn Fn() + Sync),
    ) -> Vec<Outcome> {
        run(self, combos, jobs, done)
    }
}

fn run(
    sweep: &Sweep<'_>,
    combos: &[Combination],
    jobs: usize,
    done: &(dyn Fn() + Sync),
) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> =
        Mutex::new((0..combos.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, combos.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(combo) = combos.get(i) else { break };
                    let outcome = one(sweep, combo);
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(outcome);
                    }
                    done();
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .zip(combos)
        .map(|(o, c)| {
            o.unwrap_or_else(|| Outcome {
                params: c.clone(),
                report: Err("not run".into()),
                moments: None,
                returns: Vec::new(),
            })
        })
        .collect()
}

fn one(s: &Sweep<'_>, combo: &Combination) -> Outcome {
    let mut spec = s.base.clone();
    spec.params.extend(combo.iter().cloned());
    let mut entries = Vec::new();
    let run = replay::run_compiled(
        s.rt,
        s.plugin,
        &spec,
        s.rec.clone(),
        s.digests.to_vec(),
        Sink::Memory(&mut entries),
    );
    let returns = run
        .as_ref()
        .map(|r| {
            super::montecarlo::Sample::new(
                s.base.config.initial_cash,
                &r.outcome.equity_curve,
                Vec::new(),
            )
            .returns
        })
        .unwrap_or_default();
    Outcome {
        params: combo.clone(),
        moments: run.is_ok().then(|| super::overfit::Moments::of(&returns)),
        report: run
            .map(|r| Report::new(&r.outcome))
            .map_err(|e| format!("{e:#}")),
        returns,
    }
}

/// The metrics a sweep can rank by, and whether higher is better.
pub const METRICS: &[(&str, bool)] = &[
    ("sharpe", true),
    ("sortino", true),
    ("total_return", true),
    ("cagr", true),
    ("profit_factor", true),
    ("win_rate", true),
    ("max_drawdown", false),
    ("trades", true),
];

/// A metric of a report by name.
pub fn metric(r: &Report, name: &str) -> Option<f64> {
    Some(match name {
        "sharpe" => r.sharpe,
        "sortino" => r.sortino,
        "total_return" => r.total_return,
        "cagr" => r.cagr,
        "profit_factor" => r.profit_factor,
        "win_rate" => r.win_rate,
        "max_drawdown" => r.max_drawdown,
        "trades" => r.trades as f64,
        _ => return None,
    })
}

/// The Deflated Sharpe Ratio of the trial with the best per-period Sharpe
/// ratio, deflated by the number and spread of all trials with a result:
/// (its index, DSR, SR₀ per period). `None` with fewer than two.
pub fn deflated(outcomes: &[Outcome]) -> Option<(usize, f64, f64)> {
    let trials: Vec<(usize, super::overfit::Moments)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| Some((i, o.moments?)))
        .filter(|(_, m)| m.sharpe.is_finite())
        .collect();
    if trials.len() < 2 {
        return None;
    }
    let (best, m) = trials
        .iter()
        .max_by(|a, b| a.1.sharpe.total_cmp(&b.1.sharpe))?;
    let sharpes: Vec<f64> = trials.iter().map(|(_, m)| m.sharpe).collect();
    let (dsr, sr0) = super::overfit::deflated_sharpe(m, &sharpes);
    Some((*best, dsr, sr0))
}

/// The Probability of Backtest Overfitting of the trials with a result
/// (CSCV with 16 blocks, fewer for a short run).
pub fn overfitting(outcomes: &[Outcome]) -> Result<super::overfit::Pbo, String> {
    let trials: Vec<Vec<f64>> = outcomes
        .iter()
        .filter(|o| o.moments.is_some())
        .map(|o| o.returns.clone())
        .collect();
    let t = trials.iter().map(Vec::len).min().unwrap_or(0);
    let blocks = (t / 2).min(16) & !1;
    super::overfit::pbo(&trials, blocks.max(2))
}

/// Indices of the runs with a report, best first by `name` (NaN last).
pub fn ranked(outcomes: &[Outcome], name: &str) -> Vec<usize> {
    let higher = METRICS
        .iter()
        .find(|(m, _)| *m == name)
        .is_none_or(|(_, h)| *h);
    let mut idx: Vec<(usize, f64)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| Some((i, metric(o.report.as_ref().ok()?, name)?)))
        .collect();
    idx.sort_by(|a, b| {
        let key = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
        let (x, y) = if higher {
            (key(b.1), key(a.1))
        } else {
            (-key(b.1), -key(a.1))
        };
        x.total_cmp(&y).then(a.0.cmp(&b.0))
    });
    idx.into_iter().map(|(i, _)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::runtime::{DeclaredDelivery, ParamSpec, ParamValue};

    fn desc() -> Description {
        let int = |name: &str, d, lo, hi| ParamSpec {
            name: name.into(),
            type_: ParamType::Integer,
            default: ParamValue::Integer(d),
            min: Some(lo),
            max: Some(hi),
            doc: String::new(),
        };
        Description {
            name: "s".into(),
            version: "1.0.0".into(),
            sdk_version: "0.1.0".into(),
            params: vec![
                int("fast", 10, 1.0, 500.0),
                int("small", 2, 1.0, 5.0),
                ParamSpec {
                    name: "w".into(),
                    type_: ParamType::Float,
                    default: ParamValue::Float(0.2),
                    min: Some(0.0),
                    max: Some(1.0),
                    doc: String::new(),
                },
            ],
            delivery: DeclaredDelivery::PerBar,
        }
    }

    #[test]
    fn axes_come_from_ranges_lists_or_the_declared_range() {
        let d = desc();
        let a = parse_axis("fast=5..20:5", &d).unwrap();
        assert_eq!(a.values, ["5", "10", "15", "20"]);
        assert_eq!(parse_axis("w=0.1,0.3", &d).unwrap().values, ["0.1", "0.3"]);
        assert_eq!(
            parse_axis("small", &d).unwrap().values,
            ["1", "2", "3", "4", "5"]
        );
        let wide = parse_axis("fast", &d).unwrap();
        assert_eq!(wide.values.len(), 10);
        assert_eq!(
            (wide.values[0].as_str(), wide.values[9].as_str()),
            ("1", "500")
        );
        assert_eq!(parse_axis("w", &d).unwrap().values.len(), 10);
        let e = parse_axis("speed=1..2", &d).unwrap_err();
        assert!(
            e.contains("no parameter `speed` (it declares: fast, small, w)"),
            "{e}"
        );
        let e = parse_axis("fast=9..1:1", &d).unwrap_err();
        assert!(e.contains("start ≤ end"), "{e}");
        let e = parse_axis("fast=1..x", &d).unwrap_err();
        assert!(e.contains("end `x` is not a number"), "{e}");
    }

    #[test]
    fn a_value_the_host_would_refuse_is_an_error_before_any_run() {
        let d = desc();
        // A typo for a range: one value, not an integer.
        let e = parse_axis("fast=30-120", &d).unwrap_err();
        assert!(
            e.contains("\"30-120\" is not a valid integer")
                && e.contains("a range is written fast=start..end:step"),
            "{e}"
        );
        let e = parse_axis("fast=400..600:100", &d).unwrap_err();
        assert!(
            e.contains("600 is outside the allowed range [1, 500]"),
            "{e}"
        );
        let e = parse_axis("w=0.1,abc", &d).unwrap_err();
        assert!(e.contains("\"abc\" is not a valid float"), "{e}");
        assert!(!e.contains("a range is written"), "{e}");
        assert!(parse_axis("w=-0.5", &d).unwrap_err().contains("outside"));
    }

    #[test]
    fn the_grid_is_every_combination_and_a_random_sample_is_seeded_and_distinct() {
        let d = desc();
        let axes = vec![
            parse_axis("fast=1..3:1", &d).unwrap(),
            parse_axis("w=0.1,0.2", &d).unwrap(),
        ];
        let g = grid(&axes);
        assert_eq!(g.len(), 6);
        assert_eq!(g[0], ["fast=1", "w=0.1"]);
        assert_eq!(g[5], ["fast=3", "w=0.2"]);
        let big = vec![parse_axis("fast=1..500:1", &d).unwrap(), axes[1].clone()];
        let a = random(&big, 50, 7);
        assert_eq!(a, random(&big, 50, 7), "same seed, same sample");
        assert_ne!(a, random(&big, 50, 8));
        let distinct: std::collections::BTreeSet<_> = a.iter().collect();
        assert_eq!(distinct.len(), 50);
        assert_eq!(random(&axes, 50, 7), g, "a small grid is run whole");
    }
}
