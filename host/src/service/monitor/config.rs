//! `[alerts]` in `sandbar.toml`: thresholds, the cooldown, the daily
//! summary's time, and the channels.

use serde::{Deserialize, Serialize};

pub use super::channel::ChannelConfig;

/// `[alerts]` in `sandbar.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Where alerts go.
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
    /// The same deployment, rule and level is not raised again within this many seconds.
    #[serde(default = "cooldown")]
    pub cooldown_secs: u64,
    /// Drawdown from the peak: [WARNING, CRITICAL].
    #[serde(default = "drawdown")]
    pub drawdown: [f64; 2],
    /// Loss since the start of the UTC day, as a fraction of it: [WARNING, CRITICAL].
    #[serde(default = "daily_loss")]
    pub daily_loss: [f64; 2],
    /// A fill's slippage, in basis points of its notional: [WARNING, CRITICAL].
    #[serde(default = "slippage")]
    pub slippage_bps: [f64; 2],
    /// A market order's time to its first fill, in seconds, from when the
    /// venue could fill it: [WARNING, CRITICAL].
    #[serde(default = "time_to_fill")]
    pub time_to_fill_secs: [f64; 2],
    /// |paper Sharpe − backtest Sharpe| ÷ |backtest Sharpe|, once 20 UTC days
    /// were traded: [WARNING, CRITICAL].
    #[serde(default = "sharpe")]
    pub sharpe_deviation: [f64; 2],
    /// Refusals within the last [`REFUSAL_WINDOW_BARS`] bars: [WARNING,
    /// CRITICAL] (a strategy fighting its limits, or limits set too tight).
    #[serde(default = "refusals")]
    pub refusals: [f64; 2],
    /// Venue and API errors of a LIVE deployment (orders rejected, lookups
    /// failing, long waits, orders left unknown) within the last
    /// [`ERROR_WINDOW_MS`]: [WARNING, CRITICAL] (default [3, 6]: three warn,
    /// more than five are critical).
    #[serde(default = "errors")]
    pub errors: [f64; 2],
    /// A deployment with no fill for this many hours of bars is told once
    /// (WARNING), until its next fill (default: not watched).
    #[serde(default)]
    pub idle_hours: Option<f64>,
    /// Send a daily summary (INFO) at this UTC time (`HH:MM` or `HH:MM:SS`).
    #[serde(default)]
    pub daily_summary_utc: Option<String>,
    /// A dead man's switch: a URL the service requests every
    /// `heartbeat_secs` while it lives, so a monitoring service (the kind
    /// that alerts when pings stop) notices the silence of a service that
    /// died, hung or lost its network — which no alert of its own can say.
    #[serde(default)]
    pub heartbeat_url: Option<String>,
    /// Seconds between two heartbeats (default 60; 0.1 to 86,400).
    #[serde(default = "heartbeat_secs")]
    pub heartbeat_secs: f64,
}

fn heartbeat_secs() -> f64 {
    60.0
}

fn cooldown() -> u64 {
    900
}
fn drawdown() -> [f64; 2] {
    [0.05, 0.10]
}
fn daily_loss() -> [f64; 2] {
    [0.01, 0.02]
}
fn slippage() -> [f64; 2] {
    [5.0, 15.0]
}
fn time_to_fill() -> [f64; 2] {
    [5.0, 30.0]
}
fn sharpe() -> [f64; 2] {
    [0.3, 0.5]
}
fn refusals() -> [f64; 2] {
    [10.0, 50.0]
}
fn errors() -> [f64; 2] {
    [3.0, 6.0]
}

/// The time over which venue and API errors are counted for the `errors`
/// rule (ten minutes).
pub const ERROR_WINDOW_MS: u64 = 600_000;

/// The bars over which refusals are counted for the `refusals` rule.
pub const REFUSAL_WINDOW_BARS: u64 = 100;

impl AlertsConfig {
    /// Check the thresholds and the channels' settings.
    pub fn check(&self) -> anyhow::Result<()> {
        for (name, [w, c]) in [("drawdown", self.drawdown), ("daily_loss", self.daily_loss)] {
            if !(w > 0.0 && w <= c && c <= 1.0) {
                anyhow::bail!(
                    "alerts.{name}: expected [warning, critical] with 0 < warning <= critical <= 1"
                );
            }
        }
        // A NaN or infinite threshold would silence its alert for good
        // (nothing compares above NaN or infinity).
        for (name, [w, c]) in [
            ("slippage_bps", self.slippage_bps),
            ("time_to_fill_secs", self.time_to_fill_secs),
            ("sharpe_deviation", self.sharpe_deviation),
            ("refusals", self.refusals),
            ("errors", self.errors),
        ] {
            if !(w.is_finite() && c.is_finite() && w > 0.0 && w <= c) {
                anyhow::bail!(
                    "alerts.{name}: expected [warning, critical], finite, with 0 < warning <= critical (got [{w}, {c}])"
                );
            }
        }
        if let Some(h) = self.idle_hours
            && !(h.is_finite() && h > 0.0)
        {
            anyhow::bail!("alerts.idle_hours: {h} must be a positive number of hours");
        }
        if let Some(url) = &self.heartbeat_url {
            crate::net::tls::require_secure("alerts.heartbeat_url", url, "https", "http")?;
        }
        if !(self.heartbeat_secs.is_finite() && (0.1..=86_400.0).contains(&self.heartbeat_secs)) {
            anyhow::bail!(
                "alerts.heartbeat_secs: {} must be 0.1 to 86400 seconds",
                self.heartbeat_secs
            );
        }
        for (i, ch) in self.channels.iter().enumerate() {
            ch.check()
                .map_err(|e| anyhow::anyhow!("alerts.channels[{i}]: {e}"))?;
        }
        Ok(())
    }
}

/// Seconds after UTC midnight of `HH:MM[:SS]`.
pub fn summary_time(t: &str) -> anyhow::Result<u32> {
    let parsed = chrono::NaiveTime::parse_from_str(t, "%H:%M:%S")
        .or_else(|_| chrono::NaiveTime::parse_from_str(t, "%H:%M"))
        .map_err(|_| {
            anyhow::anyhow!("alerts.daily_summary_utc {t:?}: expected HH:MM or HH:MM:SS")
        })?;
    use chrono::Timelike;
    Ok(parsed.num_seconds_from_midnight())
}
