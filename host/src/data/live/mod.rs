//! Live feeds: bars that arrive while the service runs.
//!
//! Two halves, because they live on different sides of the engine:
//! - a [`Hub`] per configured feed owns the one connection to the source
//!   (exchanges limit connections: Alpaca allows one, Binance caps streams
//!   per connection) and fans closed bars out to every deployment that
//!   subscribed. It reconnects with backoff and jitter and never decides
//!   what a deployment sees.
//! - a [`LiveFeed`] per deployment is the engine's [`Feed`]: it turns the
//!   hub's bars into the strict sequence the engine needs. It warms up and
//!   fills gaps over REST ([`History`]) *before* delivering newer bars,
//!   drops a bar it already delivered or one that arrives out of order (with
//!   a note in the journal, never silently), orders bars of several symbols
//!   by time, and marks itself STALE when no closed bar came for two
//!   intervals. It also keeps the deployment's live edge ([`Freshness`]):
//!   bars too far behind it are delivered as warm-up that cannot trade.
//!
//! Because the feed decides which bars a deployment sees from the bars alone
//! (never from when they arrived), a deployment restarted after a crash and
//! given "everything after my last journaled bar" sees the same sequence as
//! one that never stopped.

use crate::data::feed::Feed;
use crate::data::market::{Bar, SymbolId};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod feed;
mod freshness;
mod hub;
pub use feed::*;
pub use freshness::Freshness;
pub use hub::*;

pub mod recorded;

/// A bar as a source reports it, before it has a symbol index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawBar {
    /// Open time, UTC ms.
    pub time_ms: i64,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume.
    pub volume: f64,
}

impl From<&Bar> for RawBar {
    fn from(b: &Bar) -> RawBar {
        RawBar {
            time_ms: b.time_ms,
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
        }
    }
}

impl RawBar {
    /// The bar of symbol `symbol`.
    pub fn bar(&self, symbol: SymbolId) -> Bar {
        Bar {
            symbol,
            time_ms: self.time_ms,
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
        }
    }

    /// Why the bar cannot be traded on, if it cannot.
    pub fn invalid(&self) -> Option<String> {
        let prices = [self.open, self.high, self.low, self.close];
        if prices.iter().any(|p| !p.is_finite() || *p <= 0.0) {
            return Some(format!("prices must be positive: {self:?}"));
        }
        if !(self.volume.is_finite() && self.volume >= 0.0) {
            return Some(format!("volume must be non-negative: {self:?}"));
        }
        if self.high < self.low.max(self.open).max(self.close)
            || self.low > self.open.min(self.close)
        {
            return Some(format!("high/low do not bound open/close: {self:?}"));
        }
        None
    }
}

/// Errors of live feeds.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FeedError {
    /// A REST request failed.
    #[error("{0}")]
    Rest(String),
    /// The configuration names something the feed cannot serve.
    #[error("{0}")]
    Config(String),
}

/// Send a prepared GET and read its JSON answer; a failure names the URL
/// and, for an HTTP error, the status and the start of the body.
pub(crate) fn get_json(
    url: &str,
    request: reqwest::blocking::RequestBuilder,
) -> Result<serde_json::Value, FeedError> {
    let fail = |e: &dyn std::fmt::Display| FeedError::Rest(format!("GET {url}: {e}"));
    let r = request.send().map_err(|e| fail(&crate::net::chain(&e)))?;
    let status = r.status();
    let body = r.text().map_err(|e| fail(&e))?;
    if !status.is_success() {
        return Err(fail(&format!(
            "{status}: {}",
            body.chars().take(200).collect::<String>()
        )));
    }
    serde_json::from_str(&body).map_err(|e| fail(&e))
}

/// Bars of the past, for warm-up and gap fill.
pub trait History: Send + Sync {
    /// Closed bars of `symbol` with `from_ms <= open time < until_ms`
    /// (`until_ms = None`: up to now), oldest first, paged as the source needs.
    fn closed_bars(
        &self,
        symbol: &str,
        interval: &str,
        from_ms: i64,
        until_ms: Option<i64>,
    ) -> Result<Vec<RawBar>, FeedError>;
}

/// An interval's length (`1m`, `15m`, `1h`, `1d`, `1w`).
pub fn interval_ms(interval: &str) -> Result<i64, FeedError> {
    let bad = || {
        FeedError::Config(format!(
            "interval {interval:?}: expected a number and a unit (s, m, h, d, w), like 1m or 4h"
        ))
    };
    let split = interval
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(bad)?;
    let (n, unit) = interval.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return Err(bad()),
    };
    if n <= 0 {
        return Err(bad());
    }
    Ok(n * unit_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_read_with_their_unit() {
        assert_eq!(interval_ms("1m").unwrap(), 60_000);
        assert_eq!(interval_ms("4h").unwrap(), 4 * 3_600_000);
        assert_eq!(interval_ms("1d").unwrap(), 86_400_000);
        for bad in ["", "m", "1", "0m", "1y", "-1m"] {
            let e = interval_ms(bad).unwrap_err().to_string();
            assert!(e.contains("interval"), "{bad}: {e}");
        }
    }
}

#[cfg(test)]
mod alignment {
    use super::*;

    fn bar(t: i64, close: f64) -> RawBar {
        RawBar {
            time_ms: t * 60_000,
            open: close,
            high: close,
            low: close,
            close,
            volume: 1.0,
        }
    }

    /// A feed on a loopback hub for symbols A and B (1m), polled without waiting.
    fn feed() -> (LiveFeed, Loopback, Notes) {
        let (hub, lb) = Hub::loopback("t");
        let notes: Notes = Arc::default();
        let f = hub
            .subscribe(
                &["A".into(), "B".into()],
                "1m",
                vec![None, None],
                Arc::new(AtomicBool::new(false)),
                notes.clone(),
            )
            .unwrap();
        (f, lb, notes)
    }

    fn drain(f: &mut LiveFeed) -> Vec<(i64, u32)> {
        let mut out = Vec::new();
        f.poll(&mut out, 100);
        out.iter().map(|b| (b.time_ms / 60_000, b.symbol)).collect()
    }

    #[test]
    fn bars_of_several_symbols_come_out_in_time_then_symbol_order() {
        let (mut f, lb, _) = feed();
        // B's bar of minute 1 arrives before A's: nothing is released until
        // both symbols have reached minute 1.
        lb.push("B", "1m", bar(1, 2.0));
        assert_eq!(drain(&mut f), vec![]);
        lb.push("A", "1m", bar(1, 1.0));
        assert_eq!(drain(&mut f), vec![(1, 0), (1, 1)]);
        lb.push("A", "1m", bar(2, 1.0));
        lb.push("B", "1m", bar(2, 2.0));
        lb.push("B", "1m", bar(3, 2.0));
        assert_eq!(drain(&mut f), vec![(2, 0), (2, 1)]);
        lb.push("A", "1m", bar(3, 1.0));
        assert_eq!(drain(&mut f), vec![(3, 0), (3, 1)]);
    }

    #[test]
    fn a_symbol_that_skips_a_bar_does_not_hold_the_others_back_and_its_late_bar_is_dropped() {
        let (mut f, lb, notes) = feed();
        lb.push("A", "1m", bar(1, 1.0));
        lb.push("B", "1m", bar(1, 2.0));
        assert_eq!(drain(&mut f), vec![(1, 0), (1, 1)]);
        // B is silent at minute 2; once A is two bars ahead, minute 2 goes out
        // without B (no history to fill from on a loopback feed).
        lb.push("A", "1m", bar(2, 1.0));
        assert_eq!(drain(&mut f), vec![]);
        lb.push("A", "1m", bar(3, 1.0));
        assert_eq!(drain(&mut f), vec![(2, 0)]);
        // B's minute 2 turns up after minute 2 went out: dropped, noted.
        lb.push("B", "1m", bar(2, 2.0));
        lb.push("B", "1m", bar(3, 2.0));
        assert_eq!(drain(&mut f), vec![(3, 0), (3, 1)]);
        let notes = notes.lock().unwrap();
        assert!(
            notes
                .iter()
                .any(|n| n["kind"] == "late" && n["symbol"] == "B"),
            "{notes:?}"
        );
    }
}
