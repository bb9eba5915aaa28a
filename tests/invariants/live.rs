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
//! come in different groups each case.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use sandbar::engine::{Engine, EngineConfig};
use sandbar::execution::venues::live::{
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

    fn trade(&mut self, q: f64, price: f64) -> Execution {
        self.next_trade += 1;
        Execution {
            id: format!("t{}", self.next_trade),
            quantity: q,
            price,
            commission: q * price * 0.001,
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
                let (a, b) = (v.trade(half, price), v.trade(p.quantity - half, price));
                Report {
                    status: Status::Filled,
                    executions: vec![a, b],
                }
            }
            _ => {
                let t = v.trade(p.quantity, price);
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
                    let t = v.trade(p.quantity, p.limit.unwrap_or(p.reference));
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
        max_retry_ms: 5,
    }
}

fn engine<'a>(
    venue: LiveVenue,
    symbols: Vec<String>,
    journal: &'a mut Vec<Entry>,
) -> Engine<'a, LiveVenue> {
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
        symbols: symbols.clone(),
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
            daily_loss_limit: 0.003,
            max_drawdown: 0.04,
            max_consecutive_losses: 1,
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
    Engine::new(
        cfg,
        symbols,
        Box::new(strategy),
        venue,
        journal as &mut dyn sandbar::journal::Recorder,
    )
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
            for (seq, bar) in rec.bars.iter().enumerate() {
                let (n, pause) = looks[seq];
                for _ in 0..n {
                    std::thread::sleep(Duration::from_millis(pause));
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
        prop_assert!(fills > 0, "the run traded");

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
