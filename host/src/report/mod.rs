//! Performance statistics of a run.
//!
//! Returns are bar-to-bar returns of the equity curve (one point per distinct
//! bar time). Annualisation follows the data: the number of periods per year
//! is the number of returns divided by the years the curve spans, so daily
//! stock bars annualise by ~252, minute crypto bars by ~525,600, monthly bars
//! by 12. The formulas (Sharpe, Sortino, drawdown, annualisation) are
//! [`crate::statistic`]'s, the one copy every caller shares.

pub mod evidence;
pub mod golden;
pub mod html;
pub mod levels;
pub mod rebuild;

use std::io::Write;

use serde::Serialize;

use crate::data::market::format_time;
use crate::engine::{RuleCount, RunOutcome};
use crate::statistic;

const YEAR_MS: f64 = 365.25 * 86_400_000.0;

/// Every figure the report shows.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Report {
    /// Starting equity.
    pub initial_equity: f64,
    /// Final equity.
    pub final_equity: f64,
    /// final / initial − 1.
    pub total_return: f64,
    /// Compound annual growth rate.
    pub cagr: f64,
    /// Annualised standard deviation of returns.
    pub volatility: f64,
    /// Annualised mean / standard deviation of returns.
    pub sharpe: f64,
    /// Annualised mean / downside deviation.
    pub sortino: f64,
    /// Largest peak-to-trough loss, as a fraction.
    pub max_drawdown: f64,
    /// Longest time under a previous peak, in days.
    pub max_drawdown_days: f64,
    /// Periods per year used for annualisation.
    pub periods_per_year: f64,
    /// Round trips closed.
    pub trades: usize,
    /// Share of trades with positive PnL.
    pub win_rate: f64,
    /// Gross profit / gross loss (∞ when no losses).
    pub profit_factor: f64,
    /// Mean PnL of winning trades.
    pub average_win: f64,
    /// Mean PnL of losing trades (negative).
    pub average_loss: f64,
    /// Share of bars with a position open.
    pub time_in_market: f64,
    /// Commissions paid.
    pub commission: f64,
    /// Slippage cost.
    pub slippage: f64,
    /// Bars processed.
    pub bars: u64,
    /// Orders sent.
    pub orders: u64,
    /// Of `orders`, the stop-losses and take-profits placed to keep a
    /// position protected (each re-size or re-price places a new one).
    #[serde(default)]
    pub protective_orders: u64,
    /// Intents refused.
    pub refusals: u64,
    /// First bar time.
    pub start: String,
    /// Last bar time.
    pub end: String,
    /// Batched delivery let the strategy see bars after the ones it decided
    /// on: figures may contain look-ahead (no evidence for a gate).
    pub lookahead: bool,
    /// Intents the strategy returned.
    pub intents: u64,
    /// Intents approved (that became an order).
    pub approved: u64,
    /// Refusals by rule, most frequent first, with the first one's values.
    pub refusals_by_rule: Vec<RuleCount>,
    /// Every change of trading state: when, to what, why.
    pub risk_states: Vec<RiskStateChange>,
}

/// A change of trading state as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RiskStateChange {
    /// Time of the bar it happened on.
    pub time: String,
    /// The state entered.
    pub state: String,
    /// Why, with values.
    pub reason: String,
}

fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

impl Report {
    /// Compute the report of a run.
    pub fn new(o: &RunOutcome) -> Report {
        let curve = &o.equity_curve;
        let initial = o.ledger.initial_cash;
        let last = curve.last().map_or(initial, |e| e.1);
        let (t0, t1) = (
            curve.first().map_or(0, |e| e.0),
            curve.last().map_or(0, |e| e.0),
        );
        let years = (t1 - t0) as f64 / YEAR_MS;
        let mut rets = Vec::with_capacity(curve.len());
        let mut prev = initial;
        for &(_, e) in curve {
            if prev > 0.0 {
                rets.push(e / prev - 1.0);
            }
            prev = e;
        }
        let ppy = if years > 0.0 && rets.len() > 1 {
            (rets.len() - 1) as f64 / years
        } else {
            0.0
        };
        let (mean, sd) = statistic::mean_sd(&rets).unwrap_or((0.0, 0.0));
        let down = statistic::downside_deviation(&rets);
        let dd = statistic::max_drawdown(initial, t0, curve);

        let record = crate::portfolio::TradeRecord::of(&o.ledger.trades);
        Report {
            initial_equity: initial,
            final_equity: last,
            total_return: last / initial - 1.0,
            cagr: if years > 0.0 && last > 0.0 {
                (last / initial).powf(1.0 / years) - 1.0
            } else {
                0.0
            },
            volatility: statistic::annualise(sd, ppy),
            sharpe: finite_or_zero(statistic::annualise(mean / sd, ppy)),
            sortino: finite_or_zero(statistic::annualise(mean / down, ppy)),
            max_drawdown: dd.depth,
            max_drawdown_days: dd.longest_ms as f64 / 86_400_000.0,
            periods_per_year: ppy,
            trades: record.trades,
            win_rate: record.win_rate(),
            profit_factor: record.profit_factor(),
            average_win: if record.wins == 0 {
                0.0
            } else {
                record.gross_profit / record.wins as f64
            },
            average_loss: if record.losses == 0 {
                0.0
            } else {
                -record.gross_loss / record.losses as f64
            },
            time_in_market: if o.bars > 0 {
                o.bars_in_market as f64 / o.bars as f64
            } else {
                0.0
            },
            commission: o.ledger.commissions,
            slippage: o.ledger.slippage,
            bars: o.bars,
            orders: o.orders,
            protective_orders: o.protective_orders,
            refusals: o.refusals,
            start: format_time(t0),
            end: format_time(t1),
            lookahead: o.lookahead,
            intents: o.intents,
            approved: o.approved,
            refusals_by_rule: o.refusals_by_rule.clone(),
            risk_states: o
                .state_changes
                .iter()
                .map(|(t, c)| RiskStateChange {
                    time: format_time(*t),
                    state: format!("{:?}", c.to).to_uppercase(),
                    reason: c.reason.clone(),
                })
                .collect(),
        }
    }

    /// The figures as (label, value) rows, as the text and HTML reports
    /// show them.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let pct = |x: f64| format!("{:.2}%", x * 100.0);
        vec![
            ("Period", format!("{} → {}", self.start, self.end)),
            ("Bars", self.bars.to_string()),
            ("Initial equity", format!("{:.2}", self.initial_equity)),
            ("Final equity", format!("{:.2}", self.final_equity)),
            ("Total return", pct(self.total_return)),
            ("CAGR", pct(self.cagr)),
            ("Volatility (ann.)", pct(self.volatility)),
            ("Sharpe", format!("{:.2}", self.sharpe)),
            ("Sortino", format!("{:.2}", self.sortino)),
            ("Max drawdown", pct(self.max_drawdown)),
            (
                "Max drawdown duration",
                format!("{:.0} days", self.max_drawdown_days),
            ),
            ("Trades", self.trades.to_string()),
            ("Win rate", pct(self.win_rate)),
            ("Profit factor", format!("{:.2}", self.profit_factor)),
            ("Average win", format!("{:.2}", self.average_win)),
            ("Average loss", format!("{:.2}", self.average_loss)),
            ("Time in market", pct(self.time_in_market)),
            ("Commission paid", format!("{:.2}", self.commission)),
            ("Slippage paid", format!("{:.2}", self.slippage)),
            (
                "Orders / refusals",
                format!("{} / {}", self.orders, self.refusals),
            ),
            (
                "  of which protective",
                format!(
                    "{} (stops and targets placed, re-sized or re-priced)",
                    self.protective_orders
                ),
            ),
        ]
    }

    /// A two-column table for the terminal.
    pub fn table(&self) -> String {
        let rows = self.rows();
        let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let mut out: String = rows
            .iter()
            .map(|(k, v)| format!("{k:<w$}  {v}\n"))
            .collect();
        if !self.refusals_by_rule.is_empty() {
            out.push_str(
                "\nRefusals by rule (the strategy was told each one; an exit only \
                 reduced a position, anything else counts as an entry):\n",
            );
            for r in &self.refusals_by_rule {
                out.push_str(&format!(
                    "  {} ×{} (entries {}, exits {}): {}\n",
                    r.rule.as_str(),
                    r.count,
                    r.count - r.exits,
                    r.exits,
                    r.first
                ));
            }
        }
        if !self.risk_states.is_empty() {
            const SHOWN: usize = 10;
            out.push_str("\nRisk states:\n");
            for s in self.risk_states.iter().take(SHOWN) {
                out.push_str(&format!("  {} at {}: {}\n", s.state, s.time, s.reason));
            }
            if self.risk_states.len() > SHOWN {
                out.push_str(&format!(
                    "  … and {} more (every change is in the journal and in the JSON report)\n",
                    self.risk_states.len() - SHOWN
                ));
            }
        }
        if self.intents > 0 && self.approved == 0 {
            let why = self
                .refusals_by_rule
                .first()
                .map(|r| format!(" (most often {}: {})", r.rule.as_str(), r.first))
                .unwrap_or_default();
            out.push_str(&format!(
                "\nWARNING: the strategy asked {} time(s) and no intent was approved{why}; \
                 see the refusals above, and the risk limits (--set risk.<limit>=…) in the README.\n",
                self.intents
            ));
        }
        if self.lookahead {
            out.push_str(
                "WARNING: batched delivery handed the strategy several bars per call, so a \
                 decision could read later bars (look-ahead); these figures are no evidence \
                 for a promotion gate. Replay with --delivery per-bar for evidence.\n",
            );
        }
        out
    }

    /// JSON, with non-finite numbers as null.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Write the equity curve as `time,equity` CSV.
pub fn write_equity_csv(o: &RunOutcome, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "time,equity")?;
    for &(t, e) in &o.equity_curve {
        writeln!(out, "{},{e}", format_time(t))?;
    }
    Ok(())
}
