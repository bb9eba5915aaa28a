//! A recording served as if it were live: bars "close" at a pace from the
//! moment the service starts, and only closed bars are history. Demos and
//! tests use it; a deployment on it behaves as on an exchange feed (warm-up,
//! gap fill, restarts), without a network.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{FeedError, FeedSource, History, Hub, HubEvent, HubShared, RawBar, interval_ms};
use crate::data::market::Recording;

/// `[feeds.<name>] kind = "recorded"`: recorded files served at a pace as
/// if live (demos, tests).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedConfig {
    /// Data files (CSV or recordings); relative to the config file.
    pub files: Vec<PathBuf>,
    /// The files' bar interval (`1d`, `1m`).
    pub interval: String,
    /// Bars per second.
    pub bars_per_second: f64,
    /// STALE after this many quiet seconds (default: two intervals).
    #[serde(default)]
    pub stale_after_secs: Option<f64>,
    /// The symbol of a file without a symbol column (a Binance kline CSV,
    /// for one); default: the file's name without its extension. Only with
    /// one file.
    #[serde(default)]
    pub symbol: Option<String>,
}

impl FeedSource for RecordedConfig {
    fn hub(&self, name: &str, _rt: &tokio::runtime::Handle) -> anyhow::Result<Hub> {
        let opts = crate::data::market::LoadOptions {
            symbol: self.symbol.clone(),
            ..Default::default()
        };
        let (rec, _) = crate::data::market::load(&self.files, &opts)
            .map_err(|e| anyhow::anyhow!("feeds.{name}: {e}"))?;
        Ok(Hub::recorded(
            name,
            RecordedSource::new(rec, &self.interval, self.bars_per_second),
        ))
    }

    fn stale_after_secs(&self) -> Option<f64> {
        self.stale_after_secs
    }

    fn resolve(&mut self, base: &Path) {
        for p in &mut self.files {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    fn check(&self, name: &str) -> anyhow::Result<()> {
        if self.files.is_empty() {
            anyhow::bail!("feeds.{name}.files: no files");
        }
        if self.symbol.is_some() && self.files.len() > 1 {
            anyhow::bail!(
                "feeds.{name}.symbol: names the symbol of one file; give one file, or files with a symbol column"
            );
        }
        interval_ms(&self.interval).map_err(|e| anyhow::anyhow!("feeds.{name}.{e}"))?;
        if !(self.bars_per_second.is_finite() && self.bars_per_second > 0.0) {
            anyhow::bail!("feeds.{name}.bars_per_second: must be positive");
        }
        crate::data::live::check_secs(
            &format!("feeds.{name}.stale_after_secs"),
            self.stale_after_secs,
        )
    }

    fn is_recording(&self) -> bool {
        true
    }
}

/// A recording and its pace.
pub struct RecordedSource {
    rec: Recording,
    /// The recording's bar interval (`1d`, `1m`).
    pub interval: String,
    start: Instant,
    bars_per_second: f64,
}

impl RecordedSource {
    /// Serve `rec` at `bars_per_second` from now.
    pub fn new(rec: Recording, interval: &str, bars_per_second: f64) -> Self {
        Self {
            rec,
            interval: interval.into(),
            start: Instant::now(),
            bars_per_second,
        }
    }

    /// The recording's symbols.
    pub fn symbols(&self) -> Vec<String> {
        self.rec.symbols.clone()
    }

    /// Bars closed by now (a prefix of the recording).
    fn closed(&self) -> usize {
        ((self.start.elapsed().as_secs_f64() * self.bars_per_second) as usize)
            .min(self.rec.bars.len())
    }
}

impl History for RecordedSource {
    fn closed_bars(
        &self,
        symbol: &str,
        _interval: &str,
        from_ms: i64,
        until_ms: Option<i64>,
    ) -> Result<Vec<RawBar>, FeedError> {
        let Some(id) = self
            .rec
            .symbols
            .iter()
            .position(|s| s.eq_ignore_ascii_case(symbol))
        else {
            return Err(FeedError::Config(format!(
                "the recording has no symbol {symbol} (it has {})",
                self.rec.symbols.join(", ")
            )));
        };
        let until = until_ms.unwrap_or(i64::MAX);
        Ok(self.rec.bars[..self.closed()]
            .iter()
            .filter(|b| b.symbol as usize == id && b.time_ms >= from_ms && b.time_ms < until)
            .map(RawBar::from)
            .collect())
    }
}

/// Deliver the recording's bars to the hub's subscribers as they close.
pub(super) fn spawn(source: Arc<RecordedSource>, hub: Arc<HubShared>) {
    hub.set_status(|s| {
        s.connection = "live".into();
        s.connects = 1;
    });
    std::thread::Builder::new()
        .name("feed-recorded".into())
        .spawn(move || {
            let mut sent = 0;
            while sent < source.rec.bars.len() {
                let due = source.closed();
                for b in &source.rec.bars[sent..due] {
                    hub.fan_out(&HubEvent::Bar {
                        symbol: source.rec.symbols[b.symbol as usize].to_uppercase(),
                        interval: source.interval.clone(),
                        bar: RawBar::from(b),
                    });
                }
                sent = due;
                let next = (sent + 1) as f64 / source.bars_per_second;
                let wait = next - source.start.elapsed().as_secs_f64();
                std::thread::sleep(Duration::from_secs_f64(wait.clamp(0.0, 0.05)));
            }
        })
        .expect("spawning the recorded feed");
}
