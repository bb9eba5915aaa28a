//! Deployment lifecycle: the states a deployment moves through, the only
//! edges allowed between them, and the promotion gates.
//!
//! ```text
//!  DRAFT → TESTING → PAPER → LIVE
//!                      │  ↖   │ ↖
//!                      ↓   ╲  ↓  ╲
//!                      PAUSED ────  (back only by an explicit resume, with a reason,
//!                                    to the state it was paused from)
//!  DEPRECATED: from DRAFT, TESTING, PAPER or PAUSED (pause a LIVE deployment first)
//! ```
//!
//! A gate is evaluated into a [`Readiness`] report: every criterion with its
//! measured value, threshold and verdict. Promotion happens only when all
//! pass, or with `--force` and a reason (journaled as forced).

use serde::{Deserialize, Serialize};

/// Where a deployment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Stage {
    /// Created, not yet tested.
    Draft,
    /// Being backtested.
    Testing,
    /// Trading on paper.
    Paper,
    /// Trading real money.
    Live,
    /// Stopped from PAPER or LIVE.
    Paused,
    /// Retired.
    Deprecated,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Stage::Draft => "DRAFT",
            Stage::Testing => "TESTING",
            Stage::Paper => "PAPER",
            Stage::Live => "LIVE",
            Stage::Paused => "PAUSED",
            Stage::Deprecated => "DEPRECATED",
        };
        f.write_str(s)
    }
}

/// A move along the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// To the next stage (DRAFT→TESTING→PAPER→LIVE).
    Promote,
    /// PAPER or LIVE → PAUSED.
    Pause,
    /// PAUSED → the stage it was paused from.
    Resume,
    /// → DEPRECATED.
    Deprecate,
}

/// Why a move is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a deployment in {from}: {why}")]
pub struct IllegalMove {
    /// The attempted move, as a verb.
    pub action: &'static str,
    /// Current stage.
    pub from: Stage,
    /// Which edges exist instead.
    pub why: String,
}

/// The stage a move leads to, or why it is illegal. `paused_from` is the
/// stage a PAUSED deployment came from.
pub fn next(from: Stage, mv: Move, paused_from: Option<Stage>) -> Result<Stage, IllegalMove> {
    use Stage::*;
    let illegal = |action, why: &str| {
        Err(IllegalMove {
            action,
            from,
            why: why.into(),
        })
    };
    match (mv, from) {
        (Move::Promote, Draft) => Ok(Testing),
        (Move::Promote, Testing) => Ok(Paper),
        (Move::Promote, Paper) => Ok(Live),
        (Move::Promote, Live) => illegal("promote", "LIVE is the last stage"),
        (Move::Promote, Paused) => illegal("promote", "resume it first"),
        (Move::Promote, Deprecated) => illegal("promote", "DEPRECATED is final"),
        (Move::Pause, Paper | Live) => Ok(Paused),
        (Move::Pause, _) => illegal("pause", "only PAPER and LIVE deployments can be paused"),
        (Move::Resume, Paused) => match paused_from {
            Some(s @ (Paper | Live)) => Ok(s),
            _ => illegal("resume", "the stage it was paused from is unknown"),
        },
        (Move::Resume, _) => illegal("resume", "only PAUSED deployments can be resumed"),
        (Move::Deprecate, Draft | Testing | Paper | Paused) => Ok(Deprecated),
        (Move::Deprecate, Live) => illegal("deprecate", "pause it first"),
        (Move::Deprecate, Deprecated) => illegal("deprecate", "it is already DEPRECATED"),
    }
}

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
        }
    }
}

/// What a backtest showed, kept as evidence for the TESTING → PAPER gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestEvidence {
    /// `name@version` that was replayed: evidence counts only for that version.
    #[serde(default)]
    pub plugin: String,
    /// The run let the strategy see bars after its decisions (batched
    /// delivery): such a run is no evidence.
    #[serde(default)]
    pub lookahead: bool,
    /// Data files replayed.
    pub data: Vec<String>,
    /// Bars replayed.
    pub bars: u64,
    /// Years covered.
    pub years: f64,
    /// Sharpe ratio.
    pub sharpe: f64,
    /// Max drawdown (fraction).
    pub max_drawdown: f64,
    /// Round trips.
    pub trades: u64,
    /// Whether the run faulted.
    pub faulted: bool,
    /// A walk-forward of the deployment's version on the same data.
    #[serde(default)]
    pub walk_forward: Option<WalkForwardEvidence>,
    /// A Monte Carlo resampling of the backtest's round trips.
    #[serde(default)]
    pub monte_carlo: Option<MonteCarloEvidence>,
}

/// What a walk-forward showed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalkForwardEvidence {
    /// `3y/1y` (train/test), `anchored` or not.
    pub spans: String,
    /// Windows run.
    pub windows: usize,
    /// Grid, as `--grid` texts.
    pub grid: Vec<String>,
    /// Out-of-sample Sharpe of the stitched test spans.
    pub sharpe: f64,
    /// Out-of-sample ÷ mean in-sample annualised return.
    pub efficiency: f64,
}

/// What a Monte Carlo resampling showed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonteCarloEvidence {
    /// Paths simulated.
    pub runs: usize,
    /// What was resampled (`trades`).
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// 95th percentile of the maximum drawdown (fraction).
    pub p95_drawdown: f64,
}

/// What paper trading showed, for the PAPER → LIVE gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaperEvidence {
    /// `name@version` in service when the paper run ended.
    #[serde(default)]
    pub plugin: String,
    /// UTC calendar days on which the paper run traded bars (not wall time
    /// since the promotion: a stopped deployment earns no days).
    pub days: f64,
    /// Round trips.
    pub trades: u64,
    /// Sharpe ratio.
    pub sharpe: f64,
    /// Average slippage in bps.
    pub slippage_bps: f64,
    /// Faults not handled.
    pub faults: u64,
    /// The paper run's bars replayed through the backtest engine
    /// (`deploy compare --record`); a later paper run replaces the evidence
    /// and so asks for a new comparison.
    #[serde(default)]
    pub replay: Option<crate::research::compare::Comparison>,
}

impl PaperEvidence {
    /// What a finished paper run of `plugin` shows: `None` for a run that
    /// traded no bar (an empty run is no evidence). Days are the UTC calendar
    /// days of the bars traded, not wall time.
    pub fn of_run(plugin: String, o: &crate::engine::RunOutcome) -> Option<PaperEvidence> {
        if o.bars == 0 {
            return None;
        }
        let mut days: Vec<i64> = o
            .equity_curve
            .iter()
            .map(|(t, _)| t.div_euclid(86_400_000))
            .collect();
        days.dedup();
        let l = &o.ledger;
        Some(PaperEvidence {
            plugin,
            days: days.len() as f64,
            trades: l.trades.len() as u64,
            sharpe: crate::report::Report::new(o).sharpe,
            slippage_bps: if l.traded_notional > 0.0 {
                l.slippage / l.traded_notional * 1e4
            } else {
                0.0
            },
            faults: u64::from(o.fault.is_some()),
            replay: None,
        })
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
    let f2 = |x: f64| format!("{x:.2}");
    let pct = |x: f64| format!("{:.2}%", x * 100.0);
    let int = |x: f64| format!("{x:.0}");
    match from {
        Stage::Testing => {
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
        Stage::Paper => {
            let p = paper;
            let ratio = match (p, backtest) {
                (Some(p), Some(b)) if b.sharpe > 0.0 => Some(p.sharpe / b.sharpe),
                _ => None,
            };
            let criteria = vec![
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
                    format!("≥ {:.0}", g.min_paper_days),
                    f2,
                    |v| v >= g.min_paper_days,
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
            Readiness {
                gate: "PAPER → LIVE".into(),
                criteria,
            }
        }
        other => Readiness {
            gate: format!(
                "{other} → {}",
                next(other, Move::Promote, None).map_or("?".into(), |s| s.to_string())
            ),
            criteria: vec![],
        },
    }
}

/// One item of the pre-live checklist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChecklistItem {
    /// Its id, for `--confirm`.
    pub id: &'static str,
    /// What it asks.
    pub what: &'static str,
    /// Measured by Sandbar, or confirmed by a person.
    pub manual: bool,
    /// What was measured, or who confirmed it when and why.
    pub value: String,
    /// Whether it is done.
    pub done: bool,
}

/// A person's confirmation of a manual item, as audited.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirmation {
    /// The item.
    pub item: String,
    /// The version it was confirmed for.
    pub version: String,
    /// Who.
    pub actor: String,
    /// When.
    pub time: String,
    /// Why, as given.
    pub reason: String,
}

/// The manual items: what a person must confirm, because Sandbar cannot
/// see it from here.
pub const MANUAL_ITEMS: &[(&str, &str)] = &[
    (
        "alert-channels",
        "alert channels configured and a test alert received",
    ),
    (
        "kill-switch",
        "the kill switch was tested against the venue",
    ),
    (
        "credentials",
        "venue credentials present for the LIVE account",
    ),
];

/// The pre-live checklist of the reference lifecycle for a deployment
/// running `plugin` with `risk`: each item measured from the evidence where
/// it can be, else confirmed by a person for this version.
pub fn checklist(
    plugin: &str,
    backtest: Option<&BacktestEvidence>,
    paper: Option<&PaperEvidence>,
    risk: &crate::risk::RiskConfig,
    g: &GateConfig,
    confirmations: &[Confirmation],
) -> Vec<ChecklistItem> {
    let b = backtest.filter(|b| b.plugin == plugin && !b.lookahead);
    let p = paper.filter(|p| p.plugin == plugin);
    let missing = || "missing".to_string();
    let measured = |id, what, value: String, done| ChecklistItem {
        id,
        what,
        manual: false,
        value,
        done,
    };
    let mut items = vec![
        measured(
            "backtest-length",
            "backtest of this version over enough history",
            b.map_or_else(missing, |b| {
                format!("{:.2} years, {} bars", b.years, b.bars)
            }),
            b.is_some_and(|b| match g.min_backtest_bars {
                Some(n) => b.bars >= n,
                None => b.years >= g.min_backtest_years,
            }),
        ),
        measured(
            "backtest-statistics",
            "backtest Sharpe, drawdown and trades within the gates",
            b.map_or_else(missing, |b| {
                format!(
                    "Sharpe {:.2}, max drawdown {:.2}%, {} trades",
                    b.sharpe,
                    b.max_drawdown * 100.0,
                    b.trades
                )
            }),
            b.is_some_and(|b| {
                b.sharpe >= g.min_backtest_sharpe
                    && b.max_drawdown <= g.max_backtest_drawdown
                    && b.trades >= g.min_backtest_trades
                    && !b.faulted
            }),
        ),
    ];
    let wf = b.and_then(|b| b.walk_forward.as_ref());
    items.push(measured(
        "out-of-sample",
        "walk-forward out-of-sample Sharpe positive (or at its gate)",
        wf.map_or_else(missing, |w| {
            format!(
                "Sharpe {:.2} over {} windows ({})",
                w.sharpe, w.windows, w.spans
            )
        }),
        wf.is_some_and(|w| w.sharpe >= g.min_walk_forward_sharpe.unwrap_or(f64::MIN_POSITIVE)),
    ));
    items.push(measured(
        "walk-forward-efficiency",
        "walk-forward efficiency at least 0.5 (or its gate)",
        wf.map_or_else(missing, |w| format!("{:.3}", w.efficiency)),
        wf.is_some_and(|w| w.efficiency >= g.min_walk_forward_efficiency.unwrap_or(0.5)),
    ));
    let mc = b.and_then(|b| b.monte_carlo.as_ref());
    let mc_limit = g.max_monte_carlo_drawdown.unwrap_or(risk.max_drawdown);
    items.push(measured(
        "monte-carlo",
        "Monte Carlo 95th-percentile drawdown within the drawdown limit",
        mc.map_or_else(missing, |m| {
            format!(
                "{:.2}% over {} paths (limit {:.2}%)",
                m.p95_drawdown * 100.0,
                m.runs,
                mc_limit * 100.0
            )
        }),
        mc.is_some_and(|m| m.p95_drawdown <= mc_limit),
    ));
    items.push(measured(
        "paper-days",
        "days traded in PAPER",
        p.map_or_else(missing, |p| format!("{:.0} days", p.days)),
        p.is_some_and(|p| p.days >= g.min_paper_days),
    ));
    items.push(measured(
        "paper-trades",
        "round trips in PAPER",
        p.map_or_else(missing, |p| format!("{} trades", p.trades)),
        p.is_some_and(|p| p.trades >= g.min_paper_trades),
    ));
    let replay = p
        .and_then(|p| p.replay.as_ref())
        .filter(|r| r.plugin == plugin);
    items.push(measured(
        "paper-vs-backtest",
        "the paper run against the backtest of its own bars (deploy compare)",
        replay.map_or_else(missing, |r| {
            format!(
                "fills {}/{} the same, Sharpe deviation {:.2}%",
                r.matching_fills,
                r.paper_fills,
                r.sharpe_deviation * 100.0
            )
        }),
        replay.is_some_and(|r| r.sharpe_deviation <= g.max_replay_sharpe_deviation),
    ));
    let off: Vec<&str> = [
        ("max_order_notional", risk.max_order_notional.is_none()),
        ("max_position", risk.max_position == f64::INFINITY),
        (
            "max_gross_exposure",
            risk.max_gross_exposure == f64::INFINITY,
        ),
        ("max_open_positions", risk.max_open_positions == usize::MAX),
        ("max_orders_per_day", risk.max_orders_per_day == u32::MAX),
        ("daily_loss_limit", risk.daily_loss_limit == f64::INFINITY),
        ("max_drawdown", risk.max_drawdown == f64::INFINITY),
        (
            "max_consecutive_losses",
            risk.max_consecutive_losses == u32::MAX,
        ),
    ]
    .iter()
    .filter(|(_, off)| *off)
    .map(|(name, _)| *name)
    .collect();
    items.push(measured(
        "risk-limits",
        "every risk limit set (none switched off)",
        if off.is_empty() {
            format!(
                "position {:.0}%, drawdown {:.0}%, daily loss {:.0}%, {} orders a day",
                risk.max_position * 100.0,
                risk.max_drawdown * 100.0,
                risk.daily_loss_limit * 100.0,
                risk.max_orders_per_day
            )
        } else {
            format!("switched off: {}", off.join(", "))
        },
        off.is_empty(),
    ));
    for (id, what) in MANUAL_ITEMS {
        let c = confirmations
            .iter()
            .rev()
            .find(|c| c.item == *id && c.version == plugin);
        items.push(ChecklistItem {
            id,
            what,
            manual: true,
            value: c.map_or(
                "to confirm (--confirm ".to_string() + id + " --reason …)",
                |c| format!("confirmed by {} at {}: {}", c.actor, c.time, c.reason),
            ),
            done: c.is_some(),
        });
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use Stage::*;

    #[test]
    fn only_the_documented_edges_exist() {
        let all = [Draft, Testing, Paper, Live, Paused, Deprecated];
        let moves = [Move::Promote, Move::Pause, Move::Resume, Move::Deprecate];
        let mut legal = Vec::new();
        for from in all {
            for mv in moves {
                if let Ok(to) = next(from, mv, Some(Live)) {
                    legal.push((from, mv, to));
                }
            }
        }
        assert_eq!(
            legal,
            vec![
                (Draft, Move::Promote, Testing),
                (Draft, Move::Deprecate, Deprecated),
                (Testing, Move::Promote, Paper),
                (Testing, Move::Deprecate, Deprecated),
                (Paper, Move::Promote, Live),
                (Paper, Move::Pause, Paused),
                (Paper, Move::Deprecate, Deprecated),
                (Live, Move::Pause, Paused),
                (Paused, Move::Resume, Live),
                (Paused, Move::Deprecate, Deprecated),
            ]
        );
        assert_eq!(next(Paused, Move::Resume, Some(Paper)), Ok(Paper));
        assert_eq!(
            next(Live, Move::Deprecate, None).unwrap_err().to_string(),
            "cannot deprecate a deployment in LIVE: pause it first"
        );
    }

    fn evidence(years: f64, sharpe: f64, dd: f64, trades: u64) -> BacktestEvidence {
        BacktestEvidence {
            plugin: "p@1.0.0".into(),
            lookahead: false,
            data: vec![],
            bars: 1000,
            years,
            sharpe,
            max_drawdown: dd,
            trades,
            faulted: false,
            walk_forward: None,
            monte_carlo: None,
        }
    }

    #[test]
    fn walk_forward_and_monte_carlo_gates_apply_when_configured() {
        let good = evidence(5.0, 1.5, 0.1, 30);
        // Not configured: not asked for.
        let r = gate(
            Testing,
            &GateConfig::default(),
            Some(&good),
            None,
            "p@1.0.0",
        );
        assert!(r.criteria.iter().all(|c| c.pass));
        assert!(
            !r.criteria
                .iter()
                .any(|c| c.name.starts_with("walk-forward"))
        );
        let g = GateConfig {
            min_walk_forward_sharpe: Some(0.5),
            min_walk_forward_efficiency: Some(0.5),
            max_monte_carlo_drawdown: Some(0.25),
            ..GateConfig::default()
        };
        // Configured and missing: refused, saying so.
        let r = gate(Testing, &g, Some(&good), None, "p@1.0.0");
        let missing: Vec<(&str, &str)> = r
            .criteria
            .iter()
            .filter(|c| !c.pass)
            .map(|c| (c.name.as_str(), c.value.as_str()))
            .collect();
        assert_eq!(
            missing,
            vec![
                ("walk-forward out-of-sample Sharpe", "missing"),
                ("walk-forward efficiency", "missing"),
                ("Monte Carlo 95th-percentile drawdown", "missing"),
            ]
        );
        let with = BacktestEvidence {
            walk_forward: Some(WalkForwardEvidence {
                spans: "3y/1y".into(),
                windows: 6,
                grid: vec![],
                sharpe: 0.68,
                efficiency: 0.40,
            }),
            monte_carlo: Some(MonteCarloEvidence {
                runs: 10_000,
                method: "trades".into(),
                seed: 0,
                p95_drawdown: 0.18,
            }),
            ..good
        };
        let r = gate(Testing, &g, Some(&with), None, "p@1.0.0");
        let failed: Vec<&str> = r
            .criteria
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(failed, vec!["walk-forward efficiency"], "0.40 < 0.50");
    }

    #[test]
    fn testing_gate_checks_every_criterion_against_its_threshold() {
        let g = GateConfig::default();
        assert!(
            gate(
                Testing,
                &g,
                Some(&evidence(3.5, 1.2, 0.1, 4)),
                None,
                "p@1.0.0"
            )
            .ready()
        );
        let r = gate(
            Testing,
            &g,
            Some(&evidence(2.0, 0.8, 0.25, 0)),
            None,
            "p@1.0.0",
        );
        let failed: Vec<_> = r
            .criteria
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            failed,
            vec![
                "backtest years",
                "backtest Sharpe",
                "backtest max drawdown",
                "backtest trades"
            ]
        );
        let none = gate(Testing, &g, None, None, "p@1.0.0");
        assert!(!none.ready() && none.criteria.iter().all(|c| c.value == "missing"));
        assert!(
            r.table().contains("[FAIL] backtest Sharpe"),
            "{}",
            r.table()
        );
    }

    #[test]
    fn evidence_counts_only_for_its_own_version_and_without_look_ahead() {
        // Issue 8.9: a later version inherited the evidence of an earlier one.
        let g = GateConfig::default();
        let b = evidence(3.5, 1.2, 0.1, 4);
        let r = gate(Testing, &g, Some(&b), None, "p@2.0.0");
        assert!(!r.ready());
        assert!(
            r.table().contains("[FAIL] backtest of this version"),
            "{}",
            r.table()
        );
        let batched = BacktestEvidence {
            lookahead: true,
            ..b
        };
        let r = gate(Testing, &g, Some(&batched), None, "p@1.0.0");
        assert!(!r.ready());
        assert!(
            r.table().contains("[FAIL] backtest without look-ahead"),
            "{}",
            r.table()
        );
    }

    fn outcome(bar_times: &[i64]) -> crate::engine::RunOutcome {
        crate::engine::RunOutcome {
            ledger: crate::portfolio::Ledger::new(1000.0, 1),
            equity_curve: bar_times.iter().map(|t| (*t, 1000.0)).collect(),
            bars: bar_times.len() as u64,
            bars_in_market: 0,
            intents: 0,
            orders: 0,
            refusals: 0,
            approved: 0,
            refusals_by_rule: vec![],
            state_changes: vec![],
            state: crate::risk::TradingState::Active,
            fault: None,
            lookahead: false,
        }
    }

    #[test]
    fn paper_days_are_days_traded_and_an_empty_run_is_no_evidence() {
        // Issue 8.9: days counted wall time, and an empty run recorded evidence.
        assert_eq!(PaperEvidence::of_run("p@1.0.0".into(), &outcome(&[])), None);
        let hour = 3_600_000;
        let two_days = outcome(&[0, hour, 2 * hour, 86_400_000, 86_400_000 + hour]);
        let e = PaperEvidence::of_run("p@1.0.0".into(), &two_days).unwrap();
        assert_eq!((e.days, e.plugin.as_str()), (2.0, "p@1.0.0"));
    }

    #[test]
    fn paper_gate_compares_paper_with_backtest_sharpe() {
        let g = GateConfig::default();
        let b = evidence(3.5, 2.0, 0.1, 4);
        let p = PaperEvidence {
            plugin: "p@1.0.0".into(),
            days: 20.0,
            trades: 6,
            sharpe: 1.5,
            slippage_bps: 4.0,
            faults: 0,
            replay: None,
        };
        // Without the comparison on its own bars, not ready.
        let r = gate(Paper, &g, Some(&b), Some(&p), "p@1.0.0");
        let failed: Vec<&str> = r
            .criteria
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            failed,
            vec!["paper vs replay of its bars: Sharpe deviation"]
        );
        let check = |plugin: &str, deviation: f64| crate::research::compare::Comparison {
            plugin: plugin.into(),
            bars: 100,
            stopped_at: None,
            paper_fills: 4,
            replay_fills: 4,
            matching_fills: 4,
            first_difference: None,
            max_price_difference_bps: 0.0,
            slippage: (0.0, 0.0),
            pnl: (10.0, 10.0),
            sharpe: (1.5, 1.5),
            sharpe_deviation: deviation,
        };
        let p = PaperEvidence {
            replay: Some(check("p@1.0.0", 0.0)),
            ..p
        };
        assert!(gate(Paper, &g, Some(&b), Some(&p), "p@1.0.0").ready());
        let other = PaperEvidence {
            replay: Some(check("p@0.9.0", 0.0)),
            ..p.clone()
        };
        assert!(
            !gate(Paper, &g, Some(&b), Some(&other), "p@1.0.0").ready(),
            "another version's comparison"
        );
        let far = PaperEvidence {
            replay: Some(check("p@1.0.0", 0.31)),
            ..p.clone()
        };
        assert!(
            !gate(Paper, &g, Some(&b), Some(&far), "p@1.0.0").ready(),
            "31% > 30%"
        );
        let weak = PaperEvidence { sharpe: 1.2, ..p };
        assert!(
            !gate(Paper, &g, Some(&b), Some(&weak), "p@1.0.0").ready(),
            "1.2 / 2.0 = 60% < 70%"
        );
        assert!(!gate(Paper, &g, Some(&b), None, "p@1.0.0").ready());
    }
}
