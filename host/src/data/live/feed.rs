//! A deployment's live feed: the engine's `Feed`, turning the hub's bars into the strict sequence the engine needs — warm-up and gap fill over REST before newer bars, duplicates and late bars dropped with a note, symbols ordered by time, STALE after two quiet intervals.

use super::*;

/// Feed notes waiting to be journaled (the journal's `feed-notes` table).
pub type Notes = Arc<Mutex<Vec<serde_json::Value>>>;

/// A deployment's feed: the engine pulls bars from it.
pub struct LiveFeed {
    pub(super) feed: String,
    pub(super) symbols: Vec<String>,
    pub(super) interval: String,
    pub(super) step: i64,
    pub(super) rx: Receiver<HubEvent>,
    pub(super) history: Arc<dyn History>,
    pub(super) last: Vec<Option<i64>>,
    pub(super) released: i64,
    pub(super) pending: BTreeMap<(i64, SymbolId), Bar>,
    pub(super) warm: Option<Vec<Option<i64>>>,
    pub(super) notes: Notes,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) last_arrival: Instant,
    pub(super) stale: Arc<AtomicBool>,
    pub(super) stale_ms: i64,
    pub(super) on_stale: Option<Box<dyn Fn(i64) + Send>>,
    pub(super) freshness: Option<Freshness>,
}

impl LiveFeed {
    /// Call `f` with the quiet time (ms) when the feed turns STALE.
    pub fn on_stale(&mut self, f: impl Fn(i64) + Send + 'static) {
        self.on_stale = Some(Box::new(f));
    }

    /// The deployment's live edge and maximum bar age (`None`: a recording,
    /// whose bars are never old).
    pub fn freshness(&self) -> Option<Freshness> {
        self.freshness.clone()
    }

    /// Whether the feed is STALE (no closed bar for two intervals).
    pub fn stale_flag(&self) -> Arc<AtomicBool> {
        self.stale.clone()
    }

    pub(super) fn note(&self, v: serde_json::Value) {
        tracing::info!(feed = %self.feed, note = %v, "feed");
        self.notes.lock().expect("notes lock").push(v);
    }

    /// Past bars of symbol `s` from `from_ms` (to `until`), retried until
    /// they come or the deployment stops; `false` if it stopped.
    pub(super) fn fill(&mut self, s: usize, from_ms: i64, until: Option<i64>, why: &str) -> bool {
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
    pub(super) fn accept(&mut self, s: usize, b: RawBar, via: &str) {
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
        if let Some(f) = &self.freshness {
            f.saw(b.time_ms);
        }
        self.pending
            .insert((b.time_ms, s as SymbolId), b.bar(s as SymbolId));
    }

    /// A bar from the stream: fill the gap before it first.
    pub(super) fn on_stream_bar(&mut self, s: usize, b: RawBar) {
        if let Some(l) = self.last[s]
            && b.time_ms > l + self.step
            && !self.fill(s, l + self.step, Some(b.time_ms), "gap-filled")
        {
            return;
        }
        self.accept(s, b, "stream");
    }

    /// Bars every symbol has reached (or that a lagging symbol skipped).
    pub(super) fn release(&mut self, out: &mut Vec<Bar>, max: usize) -> usize {
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
    pub(super) fn warm_up(&mut self) -> bool {
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

    pub(super) fn handle(&mut self, ev: HubEvent) {
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

    pub(super) fn check_stale(&mut self) {
        let quiet = self.last_arrival.elapsed().as_millis() as i64;
        if quiet > self.stale_ms && !self.stale.swap(true, Ordering::Relaxed) {
            self.note(json!({"kind": "stale", "quiet_ms": quiet}));
            if let Some(f) = &self.on_stale {
                f(quiet);
            }
        }
    }
}
