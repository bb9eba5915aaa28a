//! A strategy that returns exactly the intents it was given, bar by bar, and
//! a one-call way to run the engine on bars with it.

use std::collections::BTreeMap;

use sandbar::engine::{Engine, EngineConfig, RunOutcome, StrategyDriver};
use sandbar::execution::{SimConfig, SimulatedVenue};
use sandbar::feed::RecordedFeed;
use sandbar::journal::Entry;
use sandbar::market::{Bar, Recording};
use sandbar::risk::RiskConfig;
use sandbar::runtime::{
    AccountView, Action, CallError, Delivery, Event, Intent, LimitOrder, MarketOrder, Protect, Side,
};

/// An intent to return after a given bar (by sequence number, so the same
/// script means the same thing in per-bar and batched delivery).
#[derive(Debug, Clone)]
pub struct Step {
    pub seq: u64,
    pub intent: Intent,
}

/// Intent builders.
pub fn intent(symbol: u32, action: Action) -> Intent {
    Intent {
        bar_index: 0,
        symbol,
        action,
        stop_loss: None,
        take_profit: None,
        reason: String::new(),
    }
}
pub fn weight(symbol: u32, w: f64) -> Intent {
    intent(symbol, Action::TargetWeight(w))
}
pub fn buy(symbol: u32, quantity: f64) -> Intent {
    intent(
        symbol,
        Action::Market(MarketOrder {
            side: Side::Buy,
            quantity,
        }),
    )
}
pub fn sell(symbol: u32, quantity: f64) -> Intent {
    intent(
        symbol,
        Action::Market(MarketOrder {
            side: Side::Sell,
            quantity,
        }),
    )
}
pub fn limit(symbol: u32, side: Side, quantity: f64, price: f64) -> Intent {
    intent(
        symbol,
        Action::Limit(LimitOrder {
            side,
            quantity,
            price,
        }),
    )
}
pub fn protect(mut i: Intent, sl: Option<f64>, tp: Option<f64>) -> Intent {
    i.stop_loss = sl.map(Protect::Price);
    i.take_profit = tp.map(Protect::Price);
    i
}

/// The driver: decides without reading its account, so per-bar and batched
/// runs of the same script must agree. It takes exact-batching windows (as
/// a 0.2.0 component does, marking its view at each bar it takes) and, with
/// `reads_view`, writes the account it read and the number of events it has
/// heard into every intent's reason, so a view or an event that reaches it
/// at another bar in one delivery than in the other shows in the journal.
pub struct Script {
    steps: BTreeMap<u64, Vec<Intent>>,
    next_seq: u64,
    view: AccountView,
    reads_view: bool,
    /// Events heard so far (fills, refusals, cancels).
    heard: usize,
}

impl Script {
    pub fn new(steps: &[Step], reads_view: bool) -> Self {
        let mut map: BTreeMap<u64, Vec<Intent>> = BTreeMap::new();
        for s in steps {
            map.entry(s.seq).or_default().push(s.intent.clone());
        }
        Self {
            steps: map,
            next_seq: 0,
            view: AccountView::default(),
            reads_view,
            heard: 0,
        }
    }

    /// The intents of the next bar, as decided on it.
    fn decide(&mut self, bar_index: u32, out: &mut Vec<Intent>) -> bool {
        let seq = self.next_seq;
        self.next_seq += 1;
        let Some(v) = self.steps.get(&seq) else {
            return false;
        };
        let read = self.reads_view.then(|| {
            format!(
                " | equity {:?} cash {:?} positions {:?} events heard {}",
                self.view.equity, self.view.cash, self.view.positions, self.heard
            )
        });
        out.extend(v.iter().cloned().map(|mut i| {
            i.bar_index = bar_index;
            if let Some(r) = &read {
                i.reason.push_str(r);
            }
            i
        }));
        true
    }
}

impl StrategyDriver for Script {
    fn version(&self) -> String {
        "1.0.0".into()
    }
    fn view_mut(&mut self) -> &mut AccountView {
        &mut self.view
    }
    fn on_bars(
        &mut self,
        bars: &[Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> Result<(), CallError> {
        self.heard += events.len();
        for j in 0..bars.len() {
            self.decide(j as u32, out);
        }
        Ok(())
    }
    fn exact(&self) -> bool {
        true
    }
    fn on_window(
        &mut self,
        bars: &[Bar],
        events: &[Event],
        out: &mut Vec<Intent>,
    ) -> (usize, Result<(), CallError>) {
        self.heard += events.len();
        for (j, bar) in bars.iter().enumerate() {
            if j > 0 {
                // What the `next-bar` import does to the view.
                self.view.mark(bar.symbol, bar.close);
            }
            if self.decide(0, out) {
                return (j + 1, Ok(()));
            }
        }
        (bars.len(), Ok(()))
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, CallError> {
        Ok(Vec::new())
    }
    fn restore(&mut self, _: &str, _: &[u8]) -> Result<(), CallError> {
        Ok(())
    }
}

/// One run's settings.
#[derive(Debug, Clone)]
pub struct Setup {
    pub cash: f64,
    pub risk: RiskConfig,
    pub sim: SimConfig,
    pub delivery: Delivery,
    pub batch_size: usize,
    /// The script writes the account it read into its reasons.
    pub reads_view: bool,
    /// Bars that only warm the strategy up.
    pub warmup: u64,
    /// The market's sessions (none: 24/7).
    pub session: Option<sandbar::session::Session>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            cash: 100_000.0,
            risk: RiskConfig::default(),
            sim: SimConfig::default(),
            delivery: Delivery::PerBar,
            batch_size: 1024,
            reads_view: false,
            warmup: 0,
            session: None,
        }
    }
}

/// Run the engine over `rec` with the script; the journal and the outcome.
pub fn run(rec: &Recording, steps: &[Step], setup: &Setup) -> (RunOutcome, Vec<Entry>) {
    let mut journal: Vec<Entry> = Vec::new();
    let cfg = EngineConfig {
        initial_cash: setup.cash,
        risk: setup.risk,
        batch_size: setup.batch_size,
        delivery: setup.delivery,
        plugin_label: "script@1.0.0".into(),
        rollback_window: 100,
        rollback_drawdown: None,
        pause_drawdown: None,
        final_entry: true,
        warmup: setup.warmup,
    };
    let mut engine = Engine::new(
        cfg,
        rec.symbols.clone(),
        Box::new(Script::new(steps, setup.reads_view)),
        SimulatedVenue::new(setup.sim),
        &mut journal,
    );
    if let Some(s) = &setup.session {
        engine.set_session(s.clone());
    }
    let mut feed = RecordedFeed::new(rec.clone());
    let outcome = engine
        .run(&mut feed, &mut |_| {})
        .expect("in-memory journal");
    (outcome, journal)
}

/// One symbol's bars: (open, high, low, close, volume), a day apart.
pub fn daily(bars: &[(f64, f64, f64, f64, f64)]) -> Recording {
    Recording {
        symbols: vec!["X".into()],
        bars: bars
            .iter()
            .enumerate()
            .map(|(i, &(open, high, low, close, volume))| Bar {
                symbol: 0,
                time_ms: i as i64 * 86_400_000,
                open,
                high,
                low,
                close,
                volume,
            })
            .collect(),
    }
}

/// `n` flat bars at `price` on each of `symbols` symbols, interleaved by time.
pub fn flat(symbols: usize, n: usize, price: f64, volume: f64) -> Recording {
    let mut bars = Vec::new();
    for i in 0..n {
        for s in 0..symbols {
            bars.push(Bar {
                symbol: s as u32,
                time_ms: i as i64 * 86_400_000,
                open: price,
                high: price,
                low: price,
                close: price,
                volume,
            });
        }
    }
    Recording {
        symbols: (0..symbols).map(|s| format!("S{s}")).collect(),
        bars,
    }
}

pub fn at(seq: u64, intent: Intent) -> Step {
    Step { seq, intent }
}
