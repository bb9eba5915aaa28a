//! The pre-live checklist: what is checked from the configuration and the
//! registry, and what an operator confirms by hand.

use serde::Serialize;

use super::evidence::{BacktestEvidence, PaperEvidence};
use super::gates::GateConfig;

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
    let mut items = backtest_items(b, risk, g);
    items.extend(paper_items(p, plugin, g));
    items.push(risk_item(risk));
    items.extend(manual_items(plugin, confirmations));
    items
}

fn missing() -> String {
    "missing".to_string()
}

fn measured(id: &'static str, what: &'static str, value: String, done: bool) -> ChecklistItem {
    ChecklistItem {
        id,
        what,
        manual: false,
        value,
        done,
    }
}

/// What the backtest of this version measured: its length and statistics,
/// out of sample, and resampled.
fn backtest_items(
    b: Option<&BacktestEvidence>,
    risk: &crate::risk::RiskConfig,
    g: &GateConfig,
) -> Vec<ChecklistItem> {
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
    items
}

/// What the paper run of this version measured, and its comparison with
/// the replay of its own bars.
fn paper_items(p: Option<&PaperEvidence>, plugin: &str, g: &GateConfig) -> Vec<ChecklistItem> {
    let mut items = Vec::new();
    items.push(measured(
        "paper-days",
        "days traded in PAPER",
        p.map_or_else(missing, |p| format!("{:.0} days", p.days)),
        p.is_some_and(|p| p.days >= super::gates::required_paper_days(g, Some(p))),
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
    items
}

/// Every risk limit set (none switched off).
fn risk_item(risk: &crate::risk::RiskConfig) -> ChecklistItem {
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
    measured(
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
    )
}

/// What a person confirms for this version, and whether they did.
fn manual_items(plugin: &str, confirmations: &[Confirmation]) -> Vec<ChecklistItem> {
    let mut items = Vec::new();
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
