//! Principle 3 on a live venue: whatever the venue answered, whenever the
//! answers arrived and however they were grouped, re-executing the journal
//! — its bars and its venue notes, with nothing sent — writes the same
//! journal, entry for entry. That is what recovery after a crash relies on.
//!
//! The live run trades the real `sma-cross` (3/8) natively on real BTCUSDT
//! minutes under tight risk limits (so fills change the risk state between
//! notes), against a scripted venue that answers on its courier thread with
//! seeded variety: partial fills, answers lost (unknown outcomes), orders
//! left open and filled later, rejections. The test looks at the venue a
//! random number of times between bars, with random pauses, so the answers
//! come in different groups each case. In some cases the kill switch is
//! pulled between bars, after some of a boundary's answers: re-execution
//! applies it again after exactly as many (checked by sabotage: applying it
//! at the boundary's first note diverges).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use sandbar::engine::{Engine, EngineConfig, KillSwitch};
use sandbar::execution::live::{
    Connector, CourierConfig, Execution, LiveVenue, Naming, OpenOrder, Outcome, Placement, Report,
    Status,
};
use sandbar::journal::Entry;
use sandbar::market::{LoadOptions, Recording};
use sandbar::native::NativeStrategy;
use sandbar::risk::RiskConfig;
use sandbar::runtime::{Delivery, InitConfig, ParamValue};

/// A venue with seeded habits. Orders are kept by client id.
struct Venue {
    rng: u64,
    orders: Vec<(String, Placement, Report)>,
    next_trade: u64,
    placed: u64,
}

impl Venue {
    fn roll(&mut self, n: u64) -> u64 {
        self.rng = self
            .rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.rng >> 33) % n
    }

    /// A trade; a buy's fee is kept in the asset bought, as Binance does
    /// without BNB.
    fn trade(&mut self, q: f64, price: f64, buy: bool) -> Execution {
        self.next_trade += 1;
        Execution {
            id: format!("t{}", self.next_trade),
            quantity: q,
            price,
            commission: q * price * 0.001,
            fee_base: if buy { q * 0.001 } else { 0.0 },
        }
    }
}

#[derive(Clone)]
struct Fake(Arc<Mutex<Venue>>);

impl Connector for Fake {
    fn prepare(&mut self, p: Placement) -> Result<Placement, String> {
        if p.quantity < 1e-4 {
            return Err(format!("LOT_SIZE: {} below 0.0001", p.quantity));
        }
        // Rounded down to the lot step, as the venue takes it.
        let mut p = p;
        p.quantity = (p.quantity * 1e4).floor() / 1e4;
        Ok(p)
    }

    fn place(&mut self, p: &Placement) -> Outcome<Report> {
        let mut v = self.0.lock().unwrap();
        v.placed += 1;
        if v.orders.iter().any(|(c, _, _)| *c == p.client_id) {
            return Outcome::Unknown("duplicate client order id".into());
        }
        let price = p.limit.unwrap_or(p.reference);
        let report = match v.roll(5) {
            // Rejected for good.
            0 => return Outcome::Rejected("-2010 insufficient balance".into()),
            // Left open: fills when next looked up.
            1 => Report {
                status: Status::Open,
                executions: vec![],
            },
            // In two trades.
            2 => {
                let half = p.quantity / 2.0;
                let buy = p.side == sandbar::execution::Side::Buy;
                let (a, b) = (
                    v.trade(half, price, buy),
                    v.trade(p.quantity - half, price, buy),
                );
                Report {
                    status: Status::Filled,
                    executions: vec![a, b],
                }
            }
            _ => {
                let t = v.trade(p.quantity, price, p.side == sandbar::execution::Side::Buy);
                Report {
                    status: Status::Filled,
                    executions: vec![t],
                }
            }
        };
        v.orders
            .push((p.client_id.clone(), p.clone(), report.clone()));
        // The answer is lost one time in five: the order stands all the same.
        if v.roll(5) == 0 {
            return Outcome::Unknown("timeout after sending".into());
        }
        Outcome::Done(report)
    }

    fn cancel(&mut self, _: &str, client_id: &str) -> Outcome<()> {
        let mut v = self.0.lock().unwrap();
        match v.orders.iter_mut().find(|(c, _, _)| c == client_id) {
            Some((_, _, r)) if r.status == Status::Open => {
                r.status = Status::Cancelled;
                Outcome::Done(())
            }
            _ => Outcome::Rejected("-2011 unknown order".into()),
        }
    }

    fn query(&mut self, _: &str, client_id: &str) -> Outcome<Option<Report>> {
        let mut v = self.0.lock().unwrap();
        let Some(i) = v.orders.iter().position(|(c, _, _)| c == client_id) else {
            return Outcome::Done(None);
        };
        // An open order, when looked up, fills, stays open, or is ended by
        // the venue.
        if v.orders[i].2.status == Status::Open {
            match v.roll(4) {
                0 => {}
                1 => v.orders[i].2.status = Status::Expired,
                _ => {
                    let p = v.orders[i].1.clone();
                    let buy = p.side == sandbar::execution::Side::Buy;
                    let t = v.trade(p.quantity, p.limit.unwrap_or(p.reference), buy);
                    let r = &mut v.orders[i].2;
                    r.executions.push(t);
                    r.status = Status::Filled;
                }
            }
        }
        Outcome::Done(Some(v.orders[i].2.clone()))
    }

    fn open_orders(&mut self, _: &[String]) -> Outcome<Vec<OpenOrder>> {
        Outcome::Done(vec![])
    }
}

fn courier() -> CourierConfig {
    CourierConfig {
        poll_ms: 5,
        not_found_grace_ms: 30,
        max_orders_per_second: 100_000.0,
        max_venue_orders_per_second: 100_000.0,
        max_retry_ms: 5,
        stream_poll_ms: 1000,
        unsent_max_age_ms: None,
    }
}

fn parts(
    symbols: &[String],
    losses: u32,
) -> (EngineConfig, Box<dyn sandbar::engine::StrategyDriver>) {
    use sandbar_sdk::Strategy;
    let params = sma_cross::SmaCross::describe()
        .params
        .into_iter()
        .map(|p| {
            let v = match (p.name.as_str(), p.default) {
                ("fast", _) => ParamValue::Integer(3),
                ("slow", _) => ParamValue::Integer(8),
                (_, sandbar_sdk::ParamValue::Integer(i)) => ParamValue::Integer(i),
                (_, sandbar_sdk::ParamValue::Float(f)) => ParamValue::Float(f),
                (_, sandbar_sdk::ParamValue::Boolean(b)) => ParamValue::Boolean(b),
                (_, sandbar_sdk::ParamValue::Text(t)) => ParamValue::Text(t),
            };
            (p.name, v)
        })
        .collect();
    let strategy = NativeStrategy::<sma_cross::SmaCross>::new(&InitConfig {
        params,
        symbols: symbols.to_vec(),
        seed: 0,
    })
    .unwrap();
    let cfg = EngineConfig {
        initial_cash: 100_000.0,
        risk: RiskConfig {
            max_order_notional: None,
            max_position: 0.5,
            max_gross_exposure: 1.0,
            max_open_positions: 10,
            max_orders_per_day: 10_000,
            daily_loss_limit: 0.003 * f64::from(losses),
            max_drawdown: 0.04 * f64::from(losses),
            max_consecutive_losses: losses,
            max_risk_per_trade: f64::INFINITY,
        },
        batch_size: 1,
        delivery: Delivery::PerBar,
        plugin_label: "sma-cross@0.1.0".into(),
        rollback_window: 100,
        rollback_drawdown: None,
        pause_drawdown: None,
        final_entry: false,
        warmup: 0,
    };
    (cfg, Box::new(strategy))
}

fn engine<'a>(
    venue: LiveVenue,
    symbols: Vec<String>,
    journal: &'a mut Vec<Entry>,
) -> Engine<'a, LiveVenue> {
    let (cfg, strategy) = parts(&symbols, 1);
    Engine::new(
        cfg,
        symbols,
        strategy,
        venue,
        journal as &mut dyn sandbar::journal::Recorder,
    )
}

fn engine_with(
    venue: LiveVenue,
    symbols: Vec<String>,
    journal: Box<dyn sandbar::journal::Recorder>,
) -> Engine<'static, LiveVenue> {
    // Looser limits: the run keeps trading across its lives.
    let (cfg, strategy) = parts(&symbols, 8);
    Engine::owning(cfg, symbols, strategy, venue, journal)
}

fn naming() -> Naming {
    Naming {
        prefix: "sb-prop-".into(),
    }
}

fn btc(n: usize) -> Recording {
    let path = sandbar_test_support::shared_data("binance-btcusdt-1m-2024-01.csv");
    let mut r = sandbar::market::load(&[path], &LoadOptions::default())
        .unwrap()
        .0;
    r.bars.truncate(n);
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn re_executing_a_live_journal_writes_it_again_whatever_the_answers_grouping(
        venue_seed in any::<u64>(),
        looks in prop::collection::vec((0u8..4, 0u64..4), 240),
        kill in prop::option::of((10usize..200, 0u8..4)),
    ) {
        const BARS: usize = 240;
        let rec = btc(BARS);
        let fake = Fake(Arc::new(Mutex::new(Venue {
            rng: venue_seed,
            orders: Vec::new(),
            next_trade: 0,
            placed: 0,
        })));
        // The live run: between bars, a random number of looks, with pauses.
        let mut original = Vec::new();
        {
            let live = LiveVenue::new(
                Box::new(fake.clone()),
                courier(),
                rec.symbols.clone(),
                naming(),
                vec![],
                0,
            );
            let mut e = engine(live, rec.symbols.clone(), &mut original);
            // The kill switch pulled between bars, before one of the looks.
            let switch = KillSwitch::new(0);
            e.set_kill_switch(switch.clone(), vec![]);
            let (mut pulled, mut placed_before) = (false, 0);
            for (seq, bar) in rec.bars.iter().enumerate() {
                let (n, pause) = looks[seq];
                // Pulled at the first boundary from `kill` on that follows a
                // placement, once its answers had time to arrive: the kill
                // then comes after some of the boundary's notes.
                let placed = fake.0.lock().unwrap().placed;
                let pull_at = kill
                    .filter(|k| {
                        !pulled && seq >= k.0 && (placed > placed_before || seq == BARS - 1)
                    })
                    .map(|k| k.1.min(n));
                placed_before = placed;
                for look in 0..=n {
                    if pull_at == Some(look) {
                        std::thread::sleep(Duration::from_millis(15));
                        e.tick(seq as u64).unwrap();
                        switch.pull("prop", "drill");
                        pulled = true;
                    }
                    if look < n {
                        std::thread::sleep(Duration::from_millis(pause));
                        e.tick(seq as u64).unwrap();
                    }
                }
                if pull_at.is_some() {
                    e.tick(seq as u64).unwrap();
                }
                while !e.venue_ready() {
                    std::thread::sleep(Duration::from_millis(1));
                    e.tick(seq as u64).unwrap();
                }
                prop_assert!(e.step(bar, seq as u64).unwrap());
            }
            // Let the last answers arrive, and book them.
            std::thread::sleep(Duration::from_millis(100));
            e.tick(BARS as u64).unwrap();
        }
        let notes: Vec<_> = original
            .iter()
            .filter_map(|e| match e {
                Entry::Venue { seq, note } => Some((*seq, note.clone())),
                _ => None,
            })
            .collect();
        let fills = original.iter().filter(|e| matches!(e, Entry::Fill { .. })).count();
        prop_assert!(fills > 0 || kill.is_some(), "the run traded");
        let kills: Vec<(u64, u32, String, String)> = original
            .iter()
            .filter_map(|e| match e {
                Entry::Kill { seq, notes, actor, reason } => {
                    Some((*seq, *notes, actor.clone(), reason.clone()))
                }
                _ => None,
            })
            .collect();
        prop_assert!(kills.len() <= 1);

        // Re-execution from the journal: the same bars, the journaled notes
        // at their looks, and a venue that must never be asked anything.
        let silent = Fake(Arc::new(Mutex::new(Venue {
            rng: 0,
            orders: Vec::new(),
            next_trade: 0,
            placed: 0,
        })));
        let mut again = Vec::new();
        {
            let replay = LiveVenue::new(
                Box::new(silent.clone()),
                courier(),
                rec.symbols.clone(),
                naming(),
                notes,
                BARS as u64 + 1,
            );
            let mut e = engine(replay, rec.symbols.clone(), &mut again);
            e.set_kill_switch(KillSwitch::new(u64::MAX), kills);
            for (seq, bar) in rec.bars.iter().enumerate() {
                prop_assert!(e.step(bar, seq as u64).unwrap());
            }
            e.tick(BARS as u64).unwrap();
        }
        prop_assert_eq!(silent.0.lock().unwrap().placed, 0, "re-execution sent nothing");
        prop_assert_eq!(again.len(), original.len());
        for (i, (a, b)) in original.iter().zip(&again).enumerate() {
            prop_assert_eq!(a, b, "entry {}", i);
        }
    }
}

/// A write-ahead journal in memory that commits as the service's does: at
/// every barrier, and now and then when a bar is kept (the real one does so
/// at least once a second). A crash keeps what was committed.
#[derive(Default)]
struct Wal {
    entries: Vec<Entry>,
    bars: u64,
    committed: (usize, u64),
    /// Entries of the file being re-executed: what is recorded must match.
    expected: Vec<Entry>,
    rng: u64,
}

#[derive(Clone, Default)]
struct SharedWal(Arc<Mutex<Wal>>);

impl sandbar::journal::Recorder for SharedWal {
    fn record(&mut self, entry: Entry) -> Result<(), sandbar::journal::JournalError> {
        let mut w = self.0.lock().unwrap();
        let i = w.entries.len();
        if let Some(e) = w.expected.get(i) {
            assert_eq!(e, &entry, "recovery diverged at entry {i}");
        }
        w.entries.push(entry);
        Ok(())
    }
    fn keeps_inputs(&self) -> bool {
        true
    }
    fn input_bar(
        &mut self,
        seq: u64,
        _: &sandbar::market::Bar,
    ) -> Result<(), sandbar::journal::JournalError> {
        let mut w = self.0.lock().unwrap();
        w.bars = w.bars.max(seq + 1);
        w.rng = w
            .rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        if (w.rng >> 33).is_multiple_of(4) {
            w.committed = (w.entries.len(), w.bars);
        }
        Ok(())
    }
    fn barrier(&mut self) -> Result<(), sandbar::journal::JournalError> {
        let mut w = self.0.lock().unwrap();
        w.committed = (w.entries.len(), w.bars);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// Killed at random bars — what was committed kept, the rest lost, the
    /// venue going on (orders in flight land or not) — and restarted each
    /// time, every life re-executes the committed journal exactly and ends
    /// with no order placed twice.
    #[test]
    fn killed_and_restarted_a_live_run_re_executes_its_journal_exactly(
        venue_seed in any::<u64>(),
        wal_seed in any::<u64>(),
        lives in prop::collection::vec(20usize..80, 3..6),
        looks in prop::collection::vec((0u8..3, 0u64..3), 400),
    ) {
        let rec = btc(400);
        let fake = Fake(Arc::new(Mutex::new(Venue {
            rng: venue_seed,
            orders: Vec::new(),
            next_trade: 0,
            placed: 0,
        })));
        let mut file: Vec<Entry> = Vec::new();
        let mut bars_in_file = 0u64;
        let mut end = 0usize;
        for (life, length) in lives.iter().enumerate() {
            end = (end.max(bars_in_file as usize) + length).min(rec.bars.len());
            let notes: Vec<_> = file
                .iter()
                .filter_map(|e| match e {
                    Entry::Venue { seq, note } => Some((*seq, note.clone())),
                    _ => None,
                })
                .collect();
            let wal = SharedWal(Arc::new(Mutex::new(Wal {
                expected: file.clone(),
                rng: wal_seed ^ life as u64,
                ..Wal::default()
            })));
            let venue = LiveVenue::new(
                Box::new(fake.clone()),
                courier(),
                rec.symbols.clone(),
                naming(),
                notes,
                bars_in_file,
            );
            let mut e = engine_with(venue, rec.symbols.clone(), Box::new(wal.clone()));
            for (seq, &(n, pause)) in looks.iter().enumerate().take(end) {
                for _ in 0..n {
                    std::thread::sleep(Duration::from_millis(pause));
                    e.tick(seq as u64).unwrap();
                }
                e.tick(seq as u64).unwrap();
                while !e.venue_ready() {
                    std::thread::sleep(Duration::from_millis(1));
                    e.tick(seq as u64).unwrap();
                }
                prop_assert!(e.step(&rec.bars[seq], seq as u64).unwrap());
            }
            e.tick(end as u64).unwrap();
            drop(e); // kill -9: the courier may still be sending
            let w = wal.0.lock().unwrap();
            prop_assert!(w.entries.len() >= file.len(), "life {} re-executed its journal", life);
            if std::env::var_os("SANDBAR_LIVE_STATS").is_some() {
                let notes = w.entries.iter().filter(|e| matches!(e, Entry::Venue { .. })).count();
                eprintln!(
                    "life {life}: re-executed {} entries / {bars_in_file} bars, wrote {} ({notes} venue notes), committed {:?}",
                    file.len(),
                    w.entries.len(),
                    w.committed
                );
            }
            file = w.entries[..w.committed.0.max(file.len())].to_vec();
            bars_in_file = w.committed.1.max(bars_in_file);
        }
        // No client order id placed twice at the venue.
        let v = fake.0.lock().unwrap();
        let mut ids: Vec<&String> = v.orders.iter().map(|(c, _, _)| c).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        prop_assert_eq!(ids.len(), n, "an order placed twice");
    }
}
