//! The promotion gates: thresholds ([`GateConfig`]) and the evaluation of
//! the evidence into a [`Readiness`] report, every criterion with its
//! measured value, threshold and verdict.

use serde::{Deserialize, Serialize};

use super::evidence::*;
use super::stage::{Move, Stage, next};

/// Thresholds of the promotion gates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GateConfig {
    /// TESTING → PAPER: years of data the backtest must cover (default 3).
    pub min_backtest_years: f64,
    /// TESTING → PAPER: or at least this many bars, if set.
    pub min_backtest_bars: Option<u64>,
    /// TESTING → PAPER: backtest Sharpe at least (default 1.0).
    pub min_backtest_sharpe: f64,
    /// TESTING → PAPER: backtest max drawdown at most (default 0.20).
    pub max_backtest_drawdown: f64,
    /// TESTING → PAPER: backtest trades at least (default 1).
    pub min_backtest_trades: u64,
    /// PAPER → LIVE: UTC days traded in PAPER at least (default 14).
    pub min_paper_days: f64,
    /// PAPER → LIVE: paper trades at least (default 5).
    pub min_paper_trades: u64,
    /// PAPER → LIVE: paper Sharpe / backtest Sharpe at least (default 0.7).
    pub min_paper_sharpe_ratio: f64,
    /// PAPER → LIVE: average slippage at most, in bps (default 10).
    pub max_paper_slippage_bps: f64,
    /// PAPER → LIVE: the paper run against the replay of its own bars
    /// (`deploy compare --record`): Sharpe deviation at most (default 0.30).
    pub max_replay_sharpe_deviation: f64,
    /// TESTING → PAPER: walk-forward out-of-sample Sharpe at least (default:
    /// not required; when set, `deploy backtest --walk-forward` must have run).
    pub min_walk_forward_sharpe: Option<f64>,
    /// TESTING → PAPER: walk-forward efficiency at least (default: not required).
    pub min_walk_forward_efficiency: Option<f64>,
    /// TESTING → PAPER: Monte Carlo 95th-percentile drawdown at most
    /// (default: not required).
    pub max_monte_carlo_drawdown: Option<f64>,
    /// PAPER → LIVE: the paper run traded on a broker's paper account (a
    /// deployment's `paper_venue`), not the simulated venue (default: not
    /// required).
    pub paper_on_broker: bool,
    /// PAPER → LIVE: paper max drawdown at most (default 0.15, the
    /// references' paper criterion).
    pub max_paper_drawdown: f64,
    /// PAPER → LIVE: |paper − backtest| win rate at most, as a fraction
    /// (default 0.10: "within 10%").
    pub max_paper_win_rate_difference: f64,
    /// PAPER → LIVE: paper Sharpe at least, whatever the backtest's
    /// (default 0.5).
    pub min_paper_sharpe: f64,
    /// PAPER → LIVE: the paper run lasts as long as its bar frequency asks
    /// ([`paper_days_for`]: 14 days under minute bars, 30 intraday, 60
    /// daily, 180 weekly or longer), at least `min_paper_days` (default
    /// true).
    pub paper_days_by_frequency: bool,
    /// TESTING → PAPER: out-of-sample round trips in a walk-forward's
    /// thinnest window at least, when a walk-forward ran (default 10).
    pub min_walk_forward_window_trades: u64,
}

/// Days the paper run `p` must have traded: `min_paper_days`, or more by
/// its bars' frequency ([`paper_days_for`]) when the gates ask.
pub fn required_paper_days(g: &GateConfig, p: Option<&PaperEvidence>) -> f64 {
    match p.and_then(|p| p.interval_ms) {
        Some(i) if g.paper_days_by_frequency => paper_days_for(i).max(g.min_paper_days),
        _ => g.min_paper_days,
    }
}

/// Days a paper run on bars `interval_ms` apart must last (the deployment
/// guide's table): high frequency (under a minute) two weeks, intraday a
/// month, daily two months (the low end of its "2–3 months"), weekly and
/// longer six months.
pub fn paper_days_for(interval_ms: i64) -> f64 {
    const DAY: i64 = 86_400_000;
    match interval_ms {
        i if i < 60_000 => 14.0,
        i if i < DAY => 30.0,
        i if i < 7 * DAY => 60.0,
        _ => 180.0,
    }
}

impl GateConfig {
    /// Every threshold is a number: a NaN would make its criterion's
    /// comparison false whatever the evidence, a gate that cannot be met or
    /// cannot fail. Durations, drawdowns, slippage and deviations are not
    /// negative; Sharpe ratios may be. The error starts with the key.
    pub fn check(&self) -> Result<(), String> {
        let nonneg = [
            ("min_backtest_years", Some(self.min_backtest_years)),
            ("max_backtest_drawdown", Some(self.max_backtest_drawdown)),
            ("min_paper_days", Some(self.min_paper_days)),
            ("max_paper_slippage_bps", Some(self.max_paper_slippage_bps)),
            (
                "max_replay_sharpe_deviation",
                Some(self.max_replay_sharpe_deviation),
            ),
            ("max_monte_carlo_drawdown", self.max_monte_carlo_drawdown),
            ("max_paper_drawdown", Some(self.max_paper_drawdown)),
            (
                "max_paper_win_rate_difference",
                Some(self.max_paper_win_rate_difference),
            ),
        ];
        let any = [
            ("min_backtest_sharpe", Some(self.min_backtest_sharpe)),
            ("min_paper_sharpe_ratio", Some(self.min_paper_sharpe_ratio)),
            ("min_paper_sharpe", Some(self.min_paper_sharpe)),
            ("min_walk_forward_sharpe", self.min_walk_forward_sharpe),
            (
                "min_walk_forward_efficiency",
                self.min_walk_forward_efficiency,
            ),
        ];
        for (key, x) in nonneg {
            if let Some(x) = x
                && !(x.is_finite() && x >= 0.0)
            {
                return Err(format!("{key}: {x} must be a finite number, 0 or more"));
            }
        }
        for (key, x) in any {
            if let Some(x) = x
                && !x.is_finite()
            {
                return Err(format!("{key}: {x} must be a finite number"));
            }
        }
        Ok(())
    }
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            min_backtest_years: 3.0,
            min_backtest_bars: None,
            min_backtest_sharpe: 1.0,
            max_backtest_drawdown: 0.20,
            min_backtest_trades: 1,
            min_paper_days: 14.0,
            min_paper_trades: 5,
            min_paper_sharpe_ratio: 0.7,
            max_paper_slippage_bps: 10.0,
            max_replay_sharpe_deviation: 0.30,
            min_walk_forward_sharpe: None,
            min_walk_forward_efficiency: None,
            max_monte_carlo_drawdown: None,
            paper_on_broker: false,
            max_paper_drawdown: 0.15,
            max_paper_win_rate_difference: 0.10,
            min_paper_sharpe: 0.5,
            paper_days_by_frequency: true,
            min_walk_forward_window_trades: 10,
        }
    }
}

/// One criterion of a gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Criterion {
    /// What is measured.
    pub name: String,
    /// The measured value (text, `missing` when there is no evidence).
    pub value: String,
    /// The threshold, with its comparison.
    pub threshold: String,
    /// Whether it passes.
    pub pass: bool,
}

/// A gate's verdict, criterion by criterion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    /// From → to.
    pub gate: String,
    /// Every criterion.
    pub criteria: Vec<Criterion>,
}

impl Readiness {
    /// All criteria pass.
    pub fn ready(&self) -> bool {
        self.criteria.iter().all(|c| c.pass)
    }

    /// A table for the terminal.
    pub fn table(&self) -> String {
        let mut out = format!("readiness for {}:\n", self.gate);
        for c in &self.criteria {
            out.push_str(&format!(
                "  [{}] {:<28} {:>12}  (needs {})\n",
                if c.pass { "pass" } else { "FAIL" },
                c.name,
                c.value,
                c.threshold
            ));
        }
        out
    }
}

fn crit(
    name: &str,
    value: Option<f64>,
    threshold: String,
    fmt: impl Fn(f64) -> String,
    ok: impl Fn(f64) -> bool,
) -> Criterion {
    Criterion {
        name: name.into(),
        value: value.map_or("missing".into(), &fmt),
        threshold,
        pass: value.is_some_and(ok),
    }
}

/// A criterion that holds when a piece of evidence is about `plugin`.
fn same_version(name: &str, evidence_of: Option<&str>, plugin: &str) -> Criterion {
    Criterion {
        name: name.into(),
        value: match evidence_of {
            None => "missing".into(),
            Some("") => "unknown version".into(),
            Some(v) => v.into(),
        },
        threshold: format!("= {plugin}"),
        pass: evidence_of == Some(plugin),
    }
}

/// The gate for promoting out of `from`, for a deployment running `plugin`
/// (`name@version`): evidence of another version does not count. DRAFT →
/// TESTING has none.
pub fn gate(
    from: Stage,
    g: &GateConfig,
    backtest: Option<&BacktestEvidence>,
    paper: Option<&PaperEvidence>,
    plugin: &str,
) -> Readiness {
    match from {
        Stage::Testing => testing_gate(g, backtest, plugin),
        Stage::Paper => paper_gate(g, backtest, paper, plugin),
        other => Readiness {
            gate: format!(
                "{other} → {}",
                next(other, Move::Promote, None).map_or("?".into(), |s| s.to_string())
            ),
            criteria: vec![],
        },
    }
}

/// TESTING → PAPER: a backtest of this version, without look-ahead, long
/// enough, good enough, without a fault; walk-forward and Monte Carlo when
/// the gates ask for them.
fn testing_gate(g: &GateConfig, backtest: Option<&BacktestEvidence>, plugin: &str) -> Readiness {
    let f2 = |x: f64| format!("{x:.2}");
    let pct = |x: f64| format!("{:.2}%", x * 100.0);
    let int = |x: f64| format!("{x:.0}");
    let b = backtest;
    let mut criteria = vec![
        same_version(
            "backtest of this version",
            b.map(|b| b.plugin.as_str()),
            plugin,
        ),
        Criterion {
            name: "backtest without look-ahead".into(),
            value: match b {
                None => "missing".into(),
                Some(b) if b.lookahead => "batched".into(),
                Some(_) => "per-bar or exact".into(),
            },
            threshold: "per-bar or exact delivery".into(),
            pass: b.is_some_and(|b| !b.lookahead),
        },
    ];
    match g.min_backtest_bars {
        Some(bars) => criteria.push(crit(
            "backtest bars",
            b.map(|b| b.bars as f64),
            format!("≥ {bars}"),
            int,
            |v| v >= bars as f64,
        )),
        None => criteria.push(crit(
            "backtest years",
            b.map(|b| b.years),
            format!("≥ {:.1}", g.min_backtest_years),
            f2,
            |v| v >= g.min_backtest_years,
        )),
    }
    criteria.push(crit(
        "backtest Sharpe",
        b.map(|b| b.sharpe),
        format!("≥ {:.2}", g.min_backtest_sharpe),
        f2,
        |v| v >= g.min_backtest_sharpe,
    ));
    criteria.push(crit(
        "backtest max drawdown",
        b.map(|b| b.max_drawdown),
        format!("≤ {}", pct(g.max_backtest_drawdown)),
        pct,
        |v| v <= g.max_backtest_drawdown,
    ));
    criteria.push(crit(
        "backtest trades",
        b.map(|b| b.trades as f64),
        format!("≥ {}", g.min_backtest_trades),
        int,
        |v| v >= g.min_backtest_trades as f64,
    ));
    if let Some(min) = g.min_walk_forward_sharpe {
        criteria.push(crit(
            "walk-forward out-of-sample Sharpe",
            b.and_then(|b| b.walk_forward.as_ref()).map(|w| w.sharpe),
            format!("≥ {min:.2}"),
            f2,
            |v| v >= min,
        ));
    }
    if let Some(min) = g.min_walk_forward_efficiency {
        criteria.push(crit(
            "walk-forward efficiency",
            b.and_then(|b| b.walk_forward.as_ref())
                .map(|w| w.efficiency),
            format!("≥ {min:.2}"),
            f2,
            |v| v >= min,
        ));
    }
    let walked = b.and_then(|b| b.walk_forward.as_ref());
    if walked.is_some() || g.min_walk_forward_sharpe.is_some() {
        let min = g.min_walk_forward_window_trades;
        criteria.push(crit(
            "walk-forward trades in its thinnest window",
            walked.and_then(|w| w.min_window_trades).map(|t| t as f64),
            format!("≥ {min}"),
            int,
            |v| v >= min as f64,
        ));
    }
    if let Some(max) = g.max_monte_carlo_drawdown {
        criteria.push(crit(
            "Monte Carlo 95th-percentile drawdown",
            b.and_then(|b| b.monte_carlo.as_ref())
                .map(|m| m.p95_drawdown),
            format!("≤ {}", pct(max)),
            pct,
            |v| v <= max,
        ));
    }
    criteria.push(crit(
        "backtest without fault",
        b.map(|b| if b.faulted { 0.0 } else { 1.0 }),
        "no fault".into(),
        |v| (if v == 1.0 { "yes" } else { "no" }).into(),
        |v| v == 1.0,
    ));
    Readiness {
        gate: "TESTING → PAPER".into(),
        criteria,
    }
}

/// PAPER → LIVE: a paper run and a backtest of this version, long enough,
/// close enough to the backtest and to the replay of its own bars, cheap
/// enough, without a fault.
fn paper_gate(
    g: &GateConfig,
    backtest: Option<&BacktestEvidence>,
    paper: Option<&PaperEvidence>,
    plugin: &str,
) -> Readiness {
    let f2 = |x: f64| format!("{x:.2}");
    let pct = |x: f64| format!("{:.2}%", x * 100.0);
    let int = |x: f64| format!("{x:.0}");
    let p = paper;
    // The paper run's length, by its bars' frequency when asked.
    let by_bars = p
        .and_then(|p| p.interval_ms)
        .filter(|_| g.paper_days_by_frequency);
    let days = required_paper_days(g, p);
    let for_bars = by_bars.map_or(String::new(), |i| {
        format!(
            " ({} bars)",
            match i {
                i if i < 60_000 => "sub-minute",
                i if i < 86_400_000 => "intraday",
                i if i < 7 * 86_400_000 => "daily",
                _ => "weekly or longer",
            }
        )
    });
    let win_gap = match (
        p.and_then(|p| p.win_rate),
        backtest.and_then(|b| b.win_rate),
    ) {
        (Some(a), Some(b)) => Some((a - b).abs()),
        _ => None,
    };
    let ratio = match (p, backtest) {
        (Some(p), Some(b)) if b.sharpe > 0.0 => Some(p.sharpe / b.sharpe),
        _ => None,
    };
    let mut criteria = vec![
        same_version(
            "paper run of this version",
            p.map(|p| p.plugin.as_str()),
            plugin,
        ),
        same_version(
            "backtest of this version",
            backtest.map(|b| b.plugin.as_str()),
            plugin,
        ),
        crit(
            "days traded in PAPER",
            p.map(|p| p.days),
            format!("≥ {days:.0}{for_bars}"),
            f2,
            |v| v >= days,
        ),
        crit(
            "paper trades",
            p.map(|p| p.trades as f64),
            format!("≥ {}", g.min_paper_trades),
            int,
            |v| v >= g.min_paper_trades as f64,
        ),
        crit(
            "paper / backtest Sharpe",
            ratio,
            format!("≥ {}", pct(g.min_paper_sharpe_ratio)),
            pct,
            |v| v >= g.min_paper_sharpe_ratio,
        ),
        crit(
            "average slippage (bps)",
            p.map(|p| p.slippage_bps),
            format!("≤ {:.1}", g.max_paper_slippage_bps),
            f2,
            |v| v <= g.max_paper_slippage_bps,
        ),
        crit(
            "unhandled faults",
            p.map(|p| p.faults as f64),
            "= 0".into(),
            int,
            |v| v == 0.0,
        ),
        crit(
            "paper vs replay of its bars: Sharpe deviation",
            p.and_then(|p| p.replay.as_ref())
                .filter(|r| r.plugin == plugin)
                .map(|r| r.sharpe_deviation),
            format!("≤ {}", pct(g.max_replay_sharpe_deviation)),
            pct,
            |v| v <= g.max_replay_sharpe_deviation,
        ),
    ];
    criteria.extend([
        crit(
            "paper Sharpe",
            p.map(|p| p.sharpe),
            format!("≥ {:.2}", g.min_paper_sharpe),
            f2,
            |v| v >= g.min_paper_sharpe,
        ),
        crit(
            "paper max drawdown",
            p.and_then(|p| p.max_drawdown),
            format!("≤ {}", pct(g.max_paper_drawdown)),
            pct,
            |v| v <= g.max_paper_drawdown,
        ),
        crit(
            "paper vs backtest win rate difference",
            win_gap,
            format!("≤ {}", pct(g.max_paper_win_rate_difference)),
            pct,
            |v| v <= g.max_paper_win_rate_difference,
        ),
    ]);
    if g.paper_on_broker {
        criteria.push(Criterion {
            name: "paper on a broker's paper account".into(),
            value: match p {
                None => "missing".into(),
                Some(p) => p
                    .venue
                    .clone()
                    .unwrap_or_else(|| "the simulated venue".into()),
            },
            threshold: "a paper_venue".into(),
            pass: p.is_some_and(|p| p.venue.is_some()),
        });
    }
    Readiness {
        gate: "PAPER → LIVE".into(),
        criteria,
    }
}
