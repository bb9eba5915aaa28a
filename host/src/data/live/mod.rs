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
//!   intervals.
//!
//! Because the feed decides which bars a deployment sees from the bars alone
//! (never from when they arrived), a deployment restarted after a crash and
//! given "everything after my last journaled bar" sees the same sequence as
//! one that never stopped.

pub mod recorded;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::data::feed::Feed;
use crate::data::market::{Bar, SymbolId};

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
    let r = request.send().map_err(|e| fail(&e))?;
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

/// What a hub tells its subscribers.
#[derive(Debug, Clone, PartialEq)]
pub enum HubEvent {
    /// A closed bar.
    Bar {
        /// Symbol (as configured, upper case).
        symbol: String,
        /// Interval.
        interval: String,
        /// The bar.
        bar: RawBar,
    },
    /// A correction of a bar already sent (journaled, never re-delivered).
    Corrected {
        /// Symbol.
        symbol: String,
        /// Interval.
        interval: String,
        /// The corrected bar.
        bar: RawBar,
    },
    /// The connection is up (again).
    Connected,
    /// The connection dropped.
    Disconnected(String),
}

/// How a feed is doing, for status and readiness.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FeedStatus {
    /// `connecting`, `live`, `down`.
    pub connection: String,
    /// Last error or reason for the last disconnect.
    pub last_error: Option<String>,
    /// Connections made so far.
    pub connects: u64,
}

/// Called after an event is queued for a subscriber (the service schedules
/// the deployment on a worker).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

struct Subscriber {
    streams: Vec<(String, String)>,
    tx: Sender<HubEvent>,
    wake: Option<Wake>,
}

impl Subscriber {
    fn send(&self, event: &HubEvent) -> bool {
        let ok = self.tx.send(event.clone()).is_ok();
        if ok && let Some(w) = &self.wake {
            w();
        }
        ok
    }
}

/// The shared half of a hub.
pub struct HubShared {
    subs: Mutex<Vec<Subscriber>>,
    last_bar: Mutex<Option<Instant>>,
    changed: tokio::sync::Notify,
    status: Mutex<FeedStatus>,
}

impl HubShared {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            subs: Mutex::new(Vec::new()),
            last_bar: Mutex::new(None),
            changed: tokio::sync::Notify::new(),
            status: Mutex::new(FeedStatus {
                connection: "connecting".into(),
                ..FeedStatus::default()
            }),
        })
    }

    /// Every (symbol, interval) some subscriber wants, sorted, unique.
    pub fn streams(&self) -> Vec<(String, String)> {
        let subs = self.subs.lock().expect("hub lock");
        let mut all: Vec<(String, String)> = subs
            .iter()
            .flat_map(|s| s.streams.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// Send an event to the subscribers it concerns.
    pub fn fan_out(&self, event: &HubEvent) {
        if matches!(event, HubEvent::Bar { .. }) {
            *self.last_bar.lock().expect("hub lock") = Some(Instant::now());
        }
        let mut subs = self.subs.lock().expect("hub lock");
        subs.retain(|s| match event {
            HubEvent::Bar {
                symbol, interval, ..
            }
            | HubEvent::Corrected {
                symbol, interval, ..
            } => {
                if s.streams
                    .iter()
                    .any(|(sym, i)| sym == symbol && i == interval)
                {
                    s.send(event)
                } else {
                    true
                }
            }
            _ => s.send(event),
        });
    }

    /// Change what the feed's status says (its connection, its errors).
    pub fn set_status(&self, f: impl FnOnce(&mut FeedStatus)) {
        f(&mut self.status.lock().expect("status lock"));
    }

    /// Wait until a subscriber is added or removed (the streams to carry
    /// may have changed).
    pub async fn subscriptions_changed(&self) {
        self.changed.notified().await
    }

    /// The connection is down for `why`: the status says so and every
    /// subscriber hears it.
    pub fn disconnected(&self, why: String) {
        self.set_status(|s| {
            s.connection = "down".into();
            s.last_error = Some(why.clone());
        });
        self.fan_out(&HubEvent::Disconnected(why));
    }
}

/// A configured source of bars (`[feeds.<name>]`). Each adapter's feed
/// settings implement it (and the recorded feed's here);
/// `crate::adapters::FeedConfig` picks one by its `kind`.
pub trait FeedSource {
    /// The feed's hub; its connection runs on `rt`. Credentials are read now.
    fn hub(&self, name: &str, rt: &tokio::runtime::Handle) -> anyhow::Result<Hub>;
    /// STALE after this many quiet seconds (default: two intervals).
    fn stale_after_secs(&self) -> Option<f64>;
    /// Make relative paths relative to the config file's folder.
    fn resolve(&mut self, base: &std::path::Path);
    /// Refuse settings that cannot work, naming `feeds.<name>.<key>`.
    fn check(&self, name: &str) -> anyhow::Result<()>;
    /// Whether the feed is itself a recording (nothing to record from it).
    fn is_recording(&self) -> bool {
        false
    }
}

/// One configured feed: its connection, its subscribers, its history.
pub struct Hub {
    /// Its name in the configuration.
    pub name: String,
    /// Its bar interval, when the feed has one (a recording), else `None`.
    pub fixed_interval: Option<String>,
    shared: Arc<HubShared>,
    history: Arc<dyn History>,
    /// Quiet time after which a deployment's feed is STALE (default: two intervals).
    pub stale_after: Option<Duration>,
}

impl Hub {
    /// A feed from an exchange: `session` owns its one connection (it
    /// reads what to subscribe from the shared half and fans bars out to
    /// it) and runs on `rt`; `history` serves warm-up and gap fill. Each
    /// adapter (`crate::adapters::<venue>`) builds its hub with this: the
    /// hub knows no exchange.
    pub fn connected<S>(
        name: &str,
        fixed_interval: Option<String>,
        history: Arc<dyn History>,
        rt: &tokio::runtime::Handle,
        session: impl FnOnce(Arc<HubShared>) -> S,
    ) -> Hub
    where
        S: std::future::Future<Output = ()> + Send + 'static,
    {
        let shared = HubShared::new();
        rt.spawn(session(shared.clone()));
        Hub {
            name: name.into(),
            fixed_interval,
            shared,
            history,
            stale_after: None,
        }
    }

    /// A feed whose bars the caller pushes ([`Loopback::push`]); it has no
    /// history. Benchmarks measure the host's own latency with it.
    pub fn loopback(name: &str) -> (Hub, Loopback) {
        struct NoHistory;
        impl History for NoHistory {
            fn closed_bars(
                &self,
                _: &str,
                _: &str,
                _: i64,
                _: Option<i64>,
            ) -> Result<Vec<RawBar>, FeedError> {
                Ok(Vec::new())
            }
        }
        let shared = HubShared::new();
        shared.set_status(|s| s.connection = "live".into());
        (
            Hub {
                name: name.into(),
                fixed_interval: None,
                shared: shared.clone(),
                history: Arc::new(NoHistory),
                stale_after: None,
            },
            Loopback { shared },
        )
    }

    /// A recording replayed at a pace, as if it were live (demos, tests).
    pub fn recorded(name: &str, source: recorded::RecordedSource) -> Hub {
        let shared = HubShared::new();
        let source = Arc::new(source);
        let interval = source.interval.clone();
        recorded::spawn(source.clone(), shared.clone());
        Hub {
            name: name.into(),
            fixed_interval: Some(interval),
            shared,
            history: source,
            stale_after: None,
        }
    }

    /// Time since the last closed bar came in, if one has.
    pub fn last_bar_age(&self) -> Option<Duration> {
        self.shared
            .last_bar
            .lock()
            .expect("hub lock")
            .map(|t| t.elapsed())
    }

    /// The connection's state.
    pub fn status(&self) -> FeedStatus {
        self.shared.status.lock().expect("status lock").clone()
    }

    /// A deployment's view of this feed: `symbols` at `interval`, from the
    /// bar after `after[s]` for each symbol (`None`: from the next live bar).
    pub fn subscribe(
        &self,
        symbols: &[String],
        interval: &str,
        after: Vec<Option<i64>>,
        stop: Arc<AtomicBool>,
        notes: Notes,
    ) -> Result<LiveFeed, FeedError> {
        self.subscribe_waking(symbols, interval, after, stop, notes, None)
    }

    /// [`Hub::subscribe`], calling `wake` whenever something arrives.
    pub fn subscribe_waking(
        &self,
        symbols: &[String],
        interval: &str,
        after: Vec<Option<i64>>,
        stop: Arc<AtomicBool>,
        notes: Notes,
        wake: Option<Wake>,
    ) -> Result<LiveFeed, FeedError> {
        let step = interval_ms(interval)?;
        if let Some(fixed) = &self.fixed_interval
            && fixed != interval
        {
            return Err(FeedError::Config(format!(
                "feed `{}` delivers {fixed} bars, not {interval}",
                self.name
            )));
        }
        let (tx, rx) = std::sync::mpsc::channel();
        self.shared.subs.lock().expect("hub lock").push(Subscriber {
            streams: symbols
                .iter()
                .map(|s| (s.to_uppercase(), interval.to_string()))
                .collect(),
            tx,
            wake,
        });
        self.shared.changed.notify_one();
        let n = symbols.len();
        Ok(LiveFeed {
            feed: self.name.clone(),
            symbols: symbols.iter().map(|s| s.to_uppercase()).collect(),
            interval: interval.into(),
            step,
            rx,
            history: self.history.clone(),
            last: vec![None; n],
            released: i64::MIN,
            pending: BTreeMap::new(),
            warm: Some(after),
            notes,
            stop,
            last_arrival: Instant::now(),
            stale: Arc::new(AtomicBool::new(false)),
            stale_ms: self.stale_after.map_or(2 * step, |d| d.as_millis() as i64),
            on_stale: None,
        })
    }
}

/// The sending end of a loopback hub.
pub struct Loopback {
    shared: Arc<HubShared>,
}

impl Loopback {
    /// Deliver a closed bar to the subscribers of `symbol` at `interval`.
    pub fn push(&self, symbol: &str, interval: &str, bar: RawBar) {
        self.shared.fan_out(&HubEvent::Bar {
            symbol: symbol.to_uppercase(),
            interval: interval.into(),
            bar,
        });
    }
}

/// Feed notes waiting to be journaled (the journal's `feed-notes` table).
pub type Notes = Arc<Mutex<Vec<serde_json::Value>>>;

/// A deployment's feed: the engine pulls bars from it.
pub struct LiveFeed {
    feed: String,
    symbols: Vec<String>,
    interval: String,
    step: i64,
    rx: Receiver<HubEvent>,
    history: Arc<dyn History>,
    last: Vec<Option<i64>>,
    released: i64,
    pending: BTreeMap<(i64, SymbolId), Bar>,
    warm: Option<Vec<Option<i64>>>,
    notes: Notes,
    stop: Arc<AtomicBool>,
    last_arrival: Instant,
    stale: Arc<AtomicBool>,
    stale_ms: i64,
    on_stale: Option<Box<dyn Fn(i64) + Send>>,
}

impl LiveFeed {
    /// Call `f` with the quiet time (ms) when the feed turns STALE.
    pub fn on_stale(&mut self, f: impl Fn(i64) + Send + 'static) {
        self.on_stale = Some(Box::new(f));
    }

    /// Whether the feed is STALE (no closed bar for two intervals).
    pub fn stale_flag(&self) -> Arc<AtomicBool> {
        self.stale.clone()
    }

    fn note(&self, v: serde_json::Value) {
        tracing::info!(feed = %self.feed, note = %v, "feed");
        self.notes.lock().expect("notes lock").push(v);
    }

    /// Past bars of symbol `s` from `from_ms` (to `until`), retried until
    /// they come or the deployment stops; `false` if it stopped.
    fn fill(&mut self, s: usize, from_ms: i64, until: Option<i64>, why: &str) -> bool {
        let mut wait = Duration::from_millis(200);
        loop {
            match self
                .history
                .closed_bars(&self.symbols[s], &self.interval, from_ms, until)
            {
                Ok(bars) => {
                    if !bars.is_empty() {
                        self.note(json!({
                            "kind": why,
                            "symbol": self.symbols[s],
                            "from_ms": from_ms,
                            "until_ms": until,
                            "bars": bars.len(),
                        }));
                    }
                    for b in bars {
                        self.accept(s, b, "rest");
                    }
                    return true;
                }
                Err(e) => {
                    self.note(json!({"kind": "rest-error", "symbol": self.symbols[s], "error": e.to_string()}));
                    let deadline = Instant::now() + wait;
                    while Instant::now() < deadline {
                        if self.stop.load(Ordering::Relaxed) {
                            return false;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Take a bar of symbol `s` if it is new and in order.
    fn accept(&mut self, s: usize, b: RawBar, via: &str) {
        let symbol = &self.symbols[s];
        if let Some(why) = b.invalid() {
            self.note(json!({"kind": "invalid-bar", "symbol": symbol, "time_ms": b.time_ms, "via": via, "error": why}));
            return;
        }
        if b.time_ms.rem_euclid(self.step) != 0 && self.step <= 86_400_000 {
            self.note(json!({"kind": "misaligned-bar", "symbol": symbol, "time_ms": b.time_ms, "via": via}));
            return;
        }
        match self.last[s] {
            Some(l) if b.time_ms == l => {
                self.note(json!({"kind": "duplicate", "symbol": symbol, "time_ms": b.time_ms, "via": via}));
                return;
            }
            Some(l) if b.time_ms < l => {
                self.note(json!({"kind": "out-of-order", "symbol": symbol, "time_ms": b.time_ms, "after_ms": l, "via": via}));
                return;
            }
            _ => {}
        }
        if b.time_ms <= self.released {
            self.note(json!({"kind": "late", "symbol": symbol, "time_ms": b.time_ms, "released_ms": self.released, "via": via}));
            return;
        }
        self.last[s] = Some(b.time_ms);
        self.pending
            .insert((b.time_ms, s as SymbolId), b.bar(s as SymbolId));
    }

    /// A bar from the stream: fill the gap before it first.
    fn on_stream_bar(&mut self, s: usize, b: RawBar) {
        if let Some(l) = self.last[s]
            && b.time_ms > l + self.step
            && !self.fill(s, l + self.step, Some(b.time_ms), "gap-filled")
        {
            return;
        }
        self.accept(s, b, "stream");
    }

    /// Bars every symbol has reached (or that a lagging symbol skipped).
    fn release(&mut self, out: &mut Vec<Bar>, max: usize) -> usize {
        let newest = self.last.iter().flatten().max().copied();
        let Some(newest) = newest else { return 0 };
        let all = self.last.iter().copied().collect::<Option<Vec<i64>>>();
        let upto = match all {
            Some(v) => v
                .into_iter()
                .min()
                .unwrap_or(newest)
                .max(newest - self.step),
            None => newest - self.step,
        };
        let mut n = 0;
        while n < max {
            let Some((&(t, s), _)) = self.pending.first_key_value() else {
                break;
            };
            if t > upto {
                break;
            }
            let bar = self.pending.remove(&(t, s)).expect("pending bar");
            self.released = self.released.max(t);
            out.push(bar);
            n += 1;
        }
        n
    }
}

impl Feed for LiveFeed {
    fn symbols(&self) -> &[String] {
        &self.symbols
    }

    fn next_batch(&mut self, out: &mut Vec<Bar>, max: usize) -> usize {
        if !self.warm_up() {
            return 0;
        }
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return 0;
            }
            let n = self.release(out, max);
            if n > 0 {
                return n;
            }
            match self.rx.recv_timeout(Duration::from_millis(50)) {
                Ok(ev) => self.handle(ev),
                Err(RecvTimeoutError::Timeout) => self.check_stale(),
                Err(RecvTimeoutError::Disconnected) => return 0,
            }
        }
    }
}

impl LiveFeed {
    /// Fetch the bars after `after` over REST, once; `false` if stopped meanwhile.
    fn warm_up(&mut self) -> bool {
        if let Some(after) = self.warm.take() {
            for (s, a) in after.into_iter().enumerate() {
                if let Some(a) = a {
                    self.last[s] = Some(a);
                    self.released = self.released.max(a);
                    if !self.fill(s, a + self.step, None, "warm-up") {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Without waiting: take what the hub sent, and hand out up to `max`
    /// bars that are ready (the service's workers poll when woken).
    pub fn poll(&mut self, out: &mut Vec<Bar>, max: usize) -> usize {
        if !self.warm_up() {
            return 0;
        }
        while let Ok(ev) = self.rx.try_recv() {
            self.handle(ev);
        }
        let n = self.release(out, max);
        if n == 0 {
            self.check_stale();
        }
        n
    }

    fn handle(&mut self, ev: HubEvent) {
        match ev {
            HubEvent::Bar {
                symbol,
                interval,
                bar,
            } => {
                if interval != self.interval {
                    return;
                }
                let Some(s) = self.symbols.iter().position(|x| *x == symbol) else {
                    return;
                };
                self.last_arrival = Instant::now();
                if self.stale.swap(false, Ordering::Relaxed) {
                    self.note(json!({"kind": "fresh", "symbol": symbol, "time_ms": bar.time_ms}));
                }
                self.on_stream_bar(s, bar);
            }
            HubEvent::Corrected {
                symbol,
                interval,
                bar,
            } => {
                if interval == self.interval && self.symbols.contains(&symbol) {
                    self.note(json!({
                        "kind": "late-correction",
                        "symbol": symbol,
                        "time_ms": bar.time_ms,
                        "open": bar.open, "high": bar.high, "low": bar.low,
                        "close": bar.close, "volume": bar.volume,
                    }));
                }
            }
            HubEvent::Connected => {}
            HubEvent::Disconnected(why) => {
                self.note(json!({"kind": "disconnected", "why": why}));
            }
        }
    }

    fn check_stale(&mut self) {
        let quiet = self.last_arrival.elapsed().as_millis() as i64;
        if quiet > self.stale_ms && !self.stale.swap(true, Ordering::Relaxed) {
            self.note(json!({"kind": "stale", "quiet_ms": quiet}));
            if let Some(f) = &self.on_stale {
                f(quiet);
            }
        }
    }
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
