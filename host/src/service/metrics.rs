//! Prometheus metrics of the service (`GET /metrics`), with the official
//! `prometheus-client` crate and a registry of the service's own (no global).
//!
//! Where the numbers come from, so that none is computed twice: the
//! deployment's recorder sees every journal entry (intents, orders, fills,
//! refusals by rule, swaps, rollbacks, state changes) and every commit (its
//! latency); the controller sees the status after each bar (equity, cash,
//! drawdown, daily PnL, exposure, positions, trading state) and times the
//! bar from boundary to decision; a wrapper around the strategy times its
//! calls; feeds and lifecycle stages are read when `/metrics` is rendered.
//! Entries re-executed during a recovery are not counted again.
//!
//! `host/monitoring/` has a Grafana dashboard and a Prometheus scrape
//! configuration; a test checks that every metric the dashboard queries is
//! in the output.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::engine::{Status, StrategyDriver};
use crate::sandbox::runtime::{AccountView, CallError, Event, Intent};
use crate::store::journal::Entry;

/// Labels of a deployment's series.
pub type Labels = Vec<(String, String)>;
type F64Gauge = Gauge<f64, AtomicU64>;

fn histogram() -> Histogram {
    // 10 µs … ~5 s.
    Histogram::new(exponential_buckets(1e-5, 2.5, 15))
}

/// Every metric of the service.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Bars processed.
    pub bars: Family<Labels, Counter>,
    /// Intents the strategy returned.
    pub intents: Family<Labels, Counter>,
    /// Orders sent to the venue.
    pub orders: Family<Labels, Counter>,
    /// Fills.
    pub fills: Family<Labels, Counter>,
    /// Refusals, labelled by rule.
    pub refusals: Family<Labels, Counter>,
    /// Faults, labelled by kind.
    pub faults: Family<Labels, Counter>,
    /// Swaps.
    pub swaps: Family<Labels, Counter>,
    /// Rollbacks.
    pub rollbacks: Family<Labels, Counter>,
    /// Equity.
    pub equity: Family<Labels, F64Gauge>,
    /// Cash.
    pub cash: Family<Labels, F64Gauge>,
    /// Drawdown from the equity peak (fraction).
    pub drawdown: Family<Labels, F64Gauge>,
    /// PnL since the start of the UTC day.
    pub daily_pnl: Family<Labels, F64Gauge>,
    /// Gross exposure at the last marks ÷ equity.
    pub exposure: Family<Labels, F64Gauge>,
    /// Open positions.
    pub open_positions: Family<Labels, Gauge>,
    /// Trading state: 1 on the current state's series (ACTIVE, REDUCING, HALTED, PAUSED).
    pub trading_state: Family<Labels, Gauge>,
    /// Lifecycle stage: 1 on the current stage's series.
    pub stage: Family<Labels, Gauge>,
    /// Feed connected (1) or not.
    pub feed_up: Family<Labels, Gauge>,
    /// Seconds since the feed's last closed bar.
    pub feed_last_bar_age: Family<Labels, F64Gauge>,
    /// A deployment's feed is STALE (1).
    pub feed_stale: Family<Labels, Gauge>,
    /// Boundary to decision: a bar's whole processing (fills, marks, risk, the strategy, orders).
    pub bar_seconds: Family<Labels, Histogram>,
    /// One strategy call.
    pub plugin_call_seconds: Family<Labels, Histogram>,
    /// One durable journal commit.
    pub journal_commit_seconds: Family<Labels, Histogram>,
    /// A market order's time to its first fill, from when the venue could fill it.
    pub time_to_fill_seconds: Family<Labels, Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric, prefixed `sandbar_`.
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("sandbar")),
            bars: Family::default(),
            intents: Family::default(),
            orders: Family::default(),
            fills: Family::default(),
            refusals: Family::default(),
            faults: Family::default(),
            swaps: Family::default(),
            rollbacks: Family::default(),
            equity: Family::default(),
            cash: Family::default(),
            drawdown: Family::default(),
            daily_pnl: Family::default(),
            exposure: Family::default(),
            open_positions: Family::default(),
            trading_state: Family::default(),
            stage: Family::default(),
            feed_up: Family::default(),
            feed_last_bar_age: Family::default(),
            feed_stale: Family::default(),
            bar_seconds: Family::new_with_constructor(histogram),
            plugin_call_seconds: Family::new_with_constructor(histogram),
            journal_commit_seconds: Family::new_with_constructor(histogram),
            time_to_fill_seconds: Family::new_with_constructor(histogram),
        };
        {
            let mut r = m.registry.lock().expect("registry lock");
            r.register("bars", "Bars processed", m.bars.clone());
            r.register(
                "intents",
                "Intents returned by the strategy",
                m.intents.clone(),
            );
            r.register("orders", "Orders sent to the venue", m.orders.clone());
            r.register("fills", "Fills", m.fills.clone());
            r.register("refusals", "Intents refused, by rule", m.refusals.clone());
            r.register("faults", "Strategy faults, by kind", m.faults.clone());
            r.register("swaps", "Versions put in service", m.swaps.clone());
            r.register("rollbacks", "Rollbacks", m.rollbacks.clone());
            r.register("equity", "Equity", m.equity.clone());
            r.register("cash", "Cash", m.cash.clone());
            r.register(
                "drawdown",
                "Drawdown from the equity peak (fraction)",
                m.drawdown.clone(),
            );
            r.register(
                "daily_pnl",
                "PnL since the start of the UTC day",
                m.daily_pnl.clone(),
            );
            r.register(
                "exposure",
                "Gross exposure at the last marks / equity",
                m.exposure.clone(),
            );
            r.register("open_positions", "Open positions", m.open_positions.clone());
            r.register(
                "trading_state",
                "1 on the series of the current trading state",
                m.trading_state.clone(),
            );
            r.register(
                "stage",
                "1 on the series of the current lifecycle stage",
                m.stage.clone(),
            );
            r.register("feed_up", "Feed connected", m.feed_up.clone());
            r.register(
                "feed_last_bar_age_seconds",
                "Seconds since the feed's last closed bar",
                m.feed_last_bar_age.clone(),
            );
            r.register(
                "feed_stale",
                "The deployment's feed is STALE",
                m.feed_stale.clone(),
            );
            r.register(
                "bar_seconds",
                "A bar's processing, boundary to decision",
                m.bar_seconds.clone(),
            );
            r.register(
                "plugin_call_seconds",
                "One strategy call",
                m.plugin_call_seconds.clone(),
            );
            r.register(
                "journal_commit_seconds",
                "One durable journal commit",
                m.journal_commit_seconds.clone(),
            );
            r.register(
                "time_to_fill_seconds",
                "A market order's first fill, from when the venue could fill it",
                m.time_to_fill_seconds.clone(),
            );
        }
        m
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().expect("registry lock");
        let _ = encode(&mut out, &r);
        out
    }

    /// A deployment's series: every counter starts at zero on every label
    /// it can take, so that `rate()` and `increase()` see the first event.
    pub fn deployment(&self, l: &Labels) -> DeploymentMetrics {
        self.zero(l);
        let states = ["ACTIVE", "REDUCING", "HALTED", "PAUSED"].map(|st| {
            (
                st,
                self.trading_state
                    .get_or_create_owned(&with(l, "state", st)),
            )
        });
        DeploymentMetrics {
            bars: self.bars.get_or_create_owned(l),
            intents: self.intents.get_or_create_owned(l),
            orders: self.orders.get_or_create_owned(l),
            fills: self.fills.get_or_create_owned(l),
            swaps: self.swaps.get_or_create_owned(l),
            rollbacks: self.rollbacks.get_or_create_owned(l),
            refusals: crate::risk::Rule::ALL
                .iter()
                .map(|r| {
                    (
                        *r,
                        self.refusals
                            .get_or_create_owned(&with(l, "rule", r.as_str())),
                    )
                })
                .collect(),
            equity: self.equity.get_or_create_owned(l),
            cash: self.cash.get_or_create_owned(l),
            drawdown: self.drawdown.get_or_create_owned(l),
            daily_pnl: self.daily_pnl.get_or_create_owned(l),
            exposure: self.exposure.get_or_create_owned(l),
            open_positions: self.open_positions.get_or_create_owned(l),
            states,
            bar_seconds: self.bar_seconds.get_or_create_owned(l),
            plugin_call_seconds: self.plugin_call_seconds.get_or_create_owned(l),
            journal_commit_seconds: self.journal_commit_seconds.get_or_create_owned(l),
            time_to_fill_seconds: self.time_to_fill_seconds.get_or_create_owned(l),
        }
    }

    /// Start a deployment's counters at zero, every label they can take.
    pub fn zero(&self, l: &Labels) {
        for c in [
            &self.bars,
            &self.intents,
            &self.orders,
            &self.fills,
            &self.swaps,
            &self.rollbacks,
        ] {
            let _ = c.get_or_create(l);
        }
        for rule in crate::risk::Rule::ALL {
            let _ = self.refusals.get_or_create(&with(l, "rule", rule.as_str()));
        }
        for kind in ["timeout", "memory", "trap", "bound"] {
            let _ = self.faults.get_or_create(&with(l, "kind", kind));
        }
    }

    /// A fault, by kind.
    pub fn fault(&self, l: &Labels, kind: &str) {
        self.faults.get_or_create(&with(l, "kind", kind)).inc();
    }
}

/// One deployment's series, looked up once (a lookup hashes the labels;
/// a handle is an atomic).
#[derive(Clone)]
pub struct DeploymentMetrics {
    /// Bars processed.
    pub bars: Counter,
    intents: Counter,
    orders: Counter,
    fills: Counter,
    swaps: Counter,
    rollbacks: Counter,
    refusals: Vec<(crate::risk::Rule, Counter)>,
    equity: F64Gauge,
    cash: F64Gauge,
    drawdown: F64Gauge,
    daily_pnl: F64Gauge,
    exposure: F64Gauge,
    open_positions: Gauge,
    states: [(&'static str, Gauge); 4],
    /// Boundary to decision.
    pub bar_seconds: Histogram,
    /// One strategy call.
    pub plugin_call_seconds: Histogram,
    /// One durable commit.
    pub journal_commit_seconds: Histogram,
    /// A market order's time to its first fill.
    pub time_to_fill_seconds: Histogram,
}

impl DeploymentMetrics {
    /// Count a journal entry.
    pub fn entry(&self, e: &Entry) {
        match e {
            Entry::Intent { .. } => {
                self.intents.inc();
            }
            Entry::Order { .. } => {
                self.orders.inc();
            }
            Entry::Fill { .. } => {
                self.fills.inc();
            }
            Entry::Refusal { rule, .. } => {
                if let Some((_, c)) = self.refusals.iter().find(|(r, _)| r == rule) {
                    c.inc();
                }
            }
            Entry::Swap { .. } => {
                self.swaps.inc();
            }
            Entry::Rollback { .. } => {
                self.rollbacks.inc();
            }
            _ => {}
        }
    }

    /// Gauges from the status after a bar; `day_start` is the equity at the
    /// start of the bar's UTC day.
    pub fn status(&self, s: &Status, day_start: f64) {
        self.equity.set(s.equity);
        self.cash.set(s.cash);
        let peak = s.peak_equity.max(s.equity);
        self.drawdown.set(if peak > 0.0 {
            1.0 - s.equity / peak
        } else {
            0.0
        });
        self.daily_pnl.set(s.equity - day_start);
        self.exposure.set(if s.equity > 0.0 {
            s.gross_exposure / s.equity
        } else {
            0.0
        });
        self.open_positions.set(s.positions.len() as i64);
        let current = if s.paused.is_some() {
            "PAUSED"
        } else {
            s.risk_state.as_str()
        };
        for (state, g) in &self.states {
            g.set(i64::from(*state == current));
        }
    }
}

/// `l` plus one label.
pub fn with(l: &Labels, k: &str, v: &str) -> Labels {
    let mut out = l.clone();
    out.push((k.into(), v.into()));
    out
}

/// A deployment's labels.
pub fn labels(deployment: &str) -> Labels {
    vec![("deployment".into(), deployment.into())]
}

/// A strategy whose calls are timed.
pub struct Timed<D> {
    /// The strategy.
    pub inner: D,
    /// Where the times go.
    pub histogram: Histogram,
}

impl<D: StrategyDriver> StrategyDriver for Timed<D> {
    fn version(&self) -> String {
        self.inner.version()
    }
    fn view_mut(&mut self) -> &mut AccountView {
        self.inner.view_mut()
    }
    fn on_bars(
        &mut self,
        bars: &[crate::data::market::Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> Result<(), CallError> {
        let t = std::time::Instant::now();
        let r = self.inner.on_bars(bars, events, out);
        self.histogram.observe(t.elapsed().as_secs_f64());
        r
    }
    fn take_amends(&mut self) -> Vec<crate::engine::Amendment> {
        self.inner.take_amends()
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, CallError> {
        self.inner.snapshot()
    }
    fn restore(&mut self, from_version: &str, state: &[u8]) -> Result<(), CallError> {
        self.inner.restore(from_version, state)
    }
    fn set_budget(&mut self, budget: crate::sandbox::runtime::CallBudget) {
        self.inner.set_budget(budget)
    }
}
