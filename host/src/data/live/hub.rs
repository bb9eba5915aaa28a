//! A hub per configured feed: it owns the one connection to the source (exchanges limit connections: Alpaca allows one, Binance caps streams per connection) and fans closed bars out to every deployment that subscribed. The hub knows no exchange: each adapter builds it with `Hub::connected` and its own session.

use super::*;

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

pub(super) struct Subscriber {
    pub(super) streams: Vec<(String, String)>,
    pub(super) tx: Sender<HubEvent>,
    pub(super) wake: Option<Wake>,
}

impl Subscriber {
    pub(super) fn send(&self, event: &HubEvent) -> bool {
        let ok = self.tx.send(event.clone()).is_ok();
        if ok && let Some(w) = &self.wake {
            w();
        }
        ok
    }
}

/// The shared half of a hub.
pub struct HubShared {
    pub(super) subs: Mutex<Vec<Subscriber>>,
    pub(super) last_bar: Mutex<Option<Instant>>,
    pub(super) changed: tokio::sync::Notify,
    pub(super) status: Mutex<FeedStatus>,
}

impl HubShared {
    pub(super) fn new() -> Arc<Self> {
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
    /// Bars opening more than this many seconds before the newest are
    /// warm-up only (default: two intervals; see [`Freshness`]).
    fn max_bar_age_secs(&self) -> Option<f64> {
        None
    }
    /// Make relative paths relative to the config file's folder.
    fn resolve(&mut self, base: &std::path::Path);
    /// Refuse settings that cannot work, naming `feeds.<name>.<key>`.
    fn check(&self, name: &str) -> anyhow::Result<()>;
    /// Whether the feed is itself a recording (nothing to record from it).
    fn is_recording(&self) -> bool {
        false
    }
}

/// Refuse a duration in seconds that is not a positive finite number of
/// at most a year (a feed's `stale_after_secs`, `max_bar_age_secs`),
/// naming the key.
pub fn check_secs(key: &str, value: Option<f64>) -> anyhow::Result<()> {
    match value {
        Some(v) if !(v.is_finite() && v > 0.0 && v <= 366.0 * 86_400.0) => {
            anyhow::bail!("{key} = {v}: expected seconds, more than 0 and at most a year")
        }
        _ => Ok(()),
    }
}

/// One configured feed: its connection, its subscribers, its history.
pub struct Hub {
    /// Its name in the configuration.
    pub name: String,
    /// Its bar interval, when the feed has one (a recording), else `None`.
    pub fixed_interval: Option<String>,
    pub(super) shared: Arc<HubShared>,
    pub(super) history: Arc<dyn History>,
    /// Quiet time after which a deployment's feed is STALE (default: two intervals).
    pub stale_after: Option<Duration>,
    /// Whether bars are judged by age ([`Freshness`]): not for a recording.
    pub judges_age: bool,
    /// Maximum age of a bar behind the live edge (default: two intervals).
    pub max_bar_age: Option<Duration>,
    /// Every symbol the feed can deliver, when it knows them all (a
    /// recording); a subscription to another is refused, never left silent.
    pub(super) symbols: Option<Vec<String>>,
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
            judges_age: true,
            max_bar_age: None,
            symbols: None,
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
                judges_age: true,
                max_bar_age: None,
                symbols: None,
            },
            Loopback { shared },
        )
    }

    /// A recording replayed at a pace, as if it were live (demos, tests).
    pub fn recorded(name: &str, source: recorded::RecordedSource) -> Hub {
        let shared = HubShared::new();
        let source = Arc::new(source);
        let interval = source.interval.clone();
        let symbols = Some(source.symbols());
        recorded::spawn(source.clone(), shared.clone());
        Hub {
            name: name.into(),
            fixed_interval: Some(interval),
            shared,
            history: source,
            stale_after: None,
            // A recording has no live edge (see `Freshness`).
            judges_age: false,
            max_bar_age: None,
            symbols,
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
        if let Some(known) = &self.symbols
            && let Some(missing) = symbols
                .iter()
                .find(|s| !known.iter().any(|k| k.eq_ignore_ascii_case(s)))
        {
            return Err(FeedError::Config(format!(
                "feed `{}` has no symbol {missing} (its recording has: {}; a CSV without a \
                 symbol column is named after its file unless `symbol` is set in [feeds.{}])",
                self.name,
                known.join(", "),
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
            freshness: self.judges_age.then(|| {
                Freshness::new(self.max_bar_age.map_or(2 * step, |d| d.as_millis() as i64))
            }),
        })
    }
}

/// The sending end of a loopback hub.
pub struct Loopback {
    pub(super) shared: Arc<HubShared>,
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
