//! `[accounts.<name>]`: how an account is configured, and the checks that
//! refuse a configuration naming what is wrong before anything runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::portfolio::allocation::{Method, weights};

/// How an account shares its capital.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllocationKind {
    /// The configured `fractions`, as given.
    Fixed,
    /// Inversely to each deployment's daily-return volatility.
    #[default]
    RiskParity,
    /// In proportion to each one's trailing Sharpe ratio, floored.
    Performance,
}

/// `[accounts.<name>]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The capital its deployments share (account currency).
    pub capital: f64,
    /// `fixed`, `risk-parity` (default) or `performance`.
    #[serde(default)]
    pub allocation: AllocationKind,
    /// `fixed`: each deployment's fraction by name (their sum at most 1;
    /// the rest stays unallocated).
    #[serde(default)]
    pub fractions: BTreeMap<String, f64>,
    /// Daily returns that risk parity and performance weighting look at (default 60).
    #[serde(default = "default_lookback")]
    pub lookback_days: usize,
    /// `performance`: the least annualised Sharpe ratio (√365 × daily) a
    /// deployment is weighed with, so a bad patch keeps a share (default 0.25).
    #[serde(default = "default_floor")]
    pub sharpe_floor: f64,
    /// Rebalance every this many days (default 7: every Monday).
    #[serde(default = "default_rebalance")]
    pub rebalance_days: u32,
    /// Gross exposure across the account, as a multiple of its equity (default 1.0).
    #[serde(default = "default_gross")]
    pub max_gross_exposure: f64,
    /// Loss across the account in a day, as a fraction of the day's start,
    /// that stops new risk in all its deployments for the day (default 0.03).
    #[serde(default = "default_daily_loss")]
    pub daily_loss_limit: f64,
    /// Seconds a deployment waits at the first bar of a new period for the
    /// others to get there, so that the rebalance's moves land on that bar
    /// (default 60). Past it, the deployment goes on and its move lands on
    /// a later bar (a `rebalance-late` note names who was waited for).
    #[serde(default = "default_wait")]
    pub rebalance_wait_seconds: f64,
}

fn default_lookback() -> usize {
    60
}
fn default_floor() -> f64 {
    0.25
}
fn default_rebalance() -> u32 {
    7
}
fn default_gross() -> f64 {
    1.0
}
fn default_daily_loss() -> f64 {
    0.03
}
fn default_wait() -> f64 {
    60.0
}

impl AccountConfig {
    /// Check the account `name` against the deployments that name it.
    pub fn check(&self, name: &str, members: &[&str]) -> Result<(), String> {
        let at = format!("accounts.{name}");
        if !(self.capital.is_finite() && self.capital > 0.0) {
            return Err(format!("{at}.capital: must be positive"));
        }
        if members.is_empty() {
            return Err(format!(
                "{at}: no deployment names it (give deployments `account = \"{name}\"`)"
            ));
        }
        if self.lookback_days < 2 {
            return Err(format!(
                "{at}.lookback_days: at least 2 returns are needed to measure volatility"
            ));
        }
        if self.rebalance_days == 0 {
            return Err(format!("{at}.rebalance_days: must be at least 1"));
        }
        if !(self.sharpe_floor.is_finite() && self.sharpe_floor > 0.0) {
            return Err(format!("{at}.sharpe_floor: must be positive"));
        }
        for (key, v) in [
            ("max_gross_exposure", self.max_gross_exposure),
            ("daily_loss_limit", self.daily_loss_limit),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{at}.{key}: must be positive"));
            }
        }
        if !(self.rebalance_wait_seconds.is_finite() && self.rebalance_wait_seconds >= 0.0) {
            return Err(format!(
                "{at}.rebalance_wait_seconds: must be a number of seconds, 0 or more"
            ));
        }
        match self.allocation {
            AllocationKind::Fixed => {
                for m in members {
                    if !self.fractions.contains_key(*m) {
                        return Err(format!("{at}.fractions: no fraction for deployment `{m}`"));
                    }
                }
                for k in self.fractions.keys() {
                    if !members.contains(&k.as_str()) {
                        return Err(format!(
                            "{at}.fractions.{k}: no deployment `{k}` names this account"
                        ));
                    }
                }
                let f: Vec<f64> = members.iter().map(|m| self.fractions[*m]).collect();
                weights(&Method::Fixed(f), &vec![vec![]; members.len()])
                    .map_err(|e| format!("{at}.fractions: {e}"))?;
            }
            _ if !self.fractions.is_empty() => {
                return Err(format!(
                    "{at}.fractions: only `allocation = \"fixed\"` takes fractions"
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// Each member's capital before any rebalance: its fraction, or an equal share.
    pub fn initial(&self, member: &str, members: usize) -> f64 {
        match self.allocation {
            AllocationKind::Fixed => {
                self.capital * self.fractions.get(member).copied().unwrap_or(0.0)
            }
            _ => self.capital / members.max(1) as f64,
        }
    }

    /// The rebalance period of a UTC day index.
    pub(super) fn period(&self, day: i64) -> i64 {
        (day + 3).div_euclid(self.rebalance_days as i64)
    }

    /// The first UTC day of a period.
    pub(super) fn period_start(&self, period: i64) -> i64 {
        period * self.rebalance_days as i64 - 3
    }
}
