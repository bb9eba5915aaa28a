//! The alert rules, by name: what the service watches and raises.

use serde::{Deserialize, Serialize};

use super::Level;

/// What an alert is about. Conditions (a value against WARNING and
/// CRITICAL thresholds, or a state that persists) can flap and are held back
/// by the cooldown; events are each sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Drawdown from the equity peak (condition).
    Drawdown,
    /// Loss since the start of the day (condition).
    DailyLoss,
    /// Paper Sharpe ratio off the backtest's (condition).
    SharpeDeviation,
    /// A fill's slippage (condition).
    Slippage,
    /// A market order's time to its first fill (condition).
    TimeToFill,
    /// No closed bar for too long (condition).
    FeedStale,
    /// The journal could not be written (condition).
    Journal,
    /// A fill (event, INFO).
    Fill,
    /// A hot swap (event, INFO).
    Swap,
    /// A promotion (event, INFO).
    Promotion,
    /// An automatic rollback (event).
    Rollback,
    /// A strategy fault (event).
    Fault,
    /// HALTED by the risk engine (event).
    Halted,
    /// REDUCING by the risk engine: new risk refused (event).
    Reducing,
    /// A configured deployment did not start; the others run (event).
    StartFailed,
    /// The kill switch was pulled (event).
    KillSwitch,
    /// The venue and the journals disagree (event).
    Reconciliation,
    /// An account's loss limit was reached (event).
    AccountDailyLoss,
    /// The daily summary (event, INFO).
    DailySummary,
    /// A channel refused an alert for good: it was sent on the others
    /// (event).
    Undelivered,
    /// Bars too far behind the feed's newest were delivered as warm-up:
    /// nothing decided on them was sent (event, WARNING).
    OldBars,
    /// A burst of refusals: too many within the last bars (condition).
    Refusals,
    /// Repeated venue and API errors: too many within the last
    /// [`super::ERROR_WINDOW_MS`] (condition).
    Errors,
    /// A venue's update stream dropped: orders are followed by polling
    /// until it reconnects (event, WARNING).
    StreamDown,
    /// No fill for `idle_hours` of bars (event, WARNING; once per silence).
    Idle,
    /// The venue ended an order that closes or protects a position — a
    /// flatten, a stop-loss — without filling it: the position stays open,
    /// or unprotected (event, CRITICAL).
    ExitRefused,
}

impl Rule {
    /// Its name, as alerts carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Drawdown => "drawdown",
            Rule::DailyLoss => "daily-loss",
            Rule::SharpeDeviation => "sharpe-deviation",
            Rule::Slippage => "slippage",
            Rule::TimeToFill => "time-to-fill",
            Rule::FeedStale => "feed-stale",
            Rule::Journal => "journal",
            Rule::Fill => "fill",
            Rule::Swap => "swap",
            Rule::Promotion => "promotion",
            Rule::Rollback => "rollback",
            Rule::Fault => "fault",
            Rule::Halted => "halted",
            Rule::Reducing => "reducing",
            Rule::StartFailed => "start-failed",
            Rule::KillSwitch => "kill-switch",
            Rule::Reconciliation => "reconciliation",
            Rule::AccountDailyLoss => "account-daily-loss",
            Rule::DailySummary => "daily-summary",
            Rule::Undelivered => "undelivered",
            Rule::OldBars => "old-bars",
            Rule::Refusals => "refusals",
            Rule::Errors => "errors",
            Rule::StreamDown => "stream-down",
            Rule::Idle => "idle",
            Rule::ExitRefused => "exit-refused",
        }
    }

    /// Whether it watches a condition, which can flap: held back by the
    /// cooldown. The others are events, each one sent.
    pub fn is_condition(self) -> bool {
        matches!(
            self,
            Rule::Drawdown
                | Rule::DailyLoss
                | Rule::SharpeDeviation
                | Rule::Slippage
                | Rule::TimeToFill
                | Rule::FeedStale
                | Rule::Journal
                | Rule::Refusals
                | Rule::Errors
        )
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The level a value reaches against [warning, critical], if any, with the
/// threshold it crossed.
pub fn level_of(value: f64, [warning, critical]: [f64; 2]) -> Option<(Level, f64)> {
    if value >= critical {
        Some((Level::Critical, critical))
    } else if value >= warning {
        Some((Level::Warning, warning))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_is_written_by_its_name() {
        for r in [Rule::Fill, Rule::AccountDailyLoss, Rule::KillSwitch] {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(serde_json::from_str::<Rule>(&json).unwrap(), r);
        }
    }

    #[test]
    fn only_conditions_are_held_back() {
        assert!(Rule::Drawdown.is_condition() && Rule::Journal.is_condition());
        assert!(!Rule::Fault.is_condition() && !Rule::Fill.is_condition());
    }
}
