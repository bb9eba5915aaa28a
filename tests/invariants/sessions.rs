//! A run with a trading session (issue 26, item 3) trades only inside it
//! and counts its days in the market's zone: checked through the real
//! engine and simulated venue, per bar and in exact batching alike.
//!
//! Each test runs the same script without the session too, and shows that
//! there the thing the session forbids does happen: the assertions can fail.

use sandbar::execution::Origin;
use sandbar::journal::Entry;
use sandbar::market::{Bar, Recording};
use sandbar::risk::{RiskConfig, Rule};
use sandbar::runtime::Delivery;
use sandbar::session::calendar::parse_hm;
use sandbar::session::{Calendar, Hours, Session};

use crate::script::{Setup, Step, at, buy, protect, run, sell};

const MIN: i64 = 60_000;

fn ms(rfc3339: &str) -> i64 {
    sandbar::market::parse_time(rfc3339).unwrap()
}

/// New York's market days around Thanksgiving 2024, as Alpaca lists them.
fn us_equity() -> Session {
    let cal = Calendar::from_alpaca_json(
        r#"[{"date":"2024-11-27","open":"09:30","close":"16:00"},
            {"date":"2024-11-29","open":"09:30","close":"13:00"},
            {"date":"2024-12-02","open":"09:30","close":"16:00"}]"#,
        "test calendar",
    )
    .unwrap();
    Session::new("America/New_York", cal, MIN).unwrap()
}

/// Minute bars from `from` (inclusive) to `to` (exclusive), prices on a
/// slow wave so that orders fill at many prices.
fn minutes(spans: &[(&str, &str)]) -> Recording {
    let mut bars = Vec::new();
    for (from, to) in spans {
        let mut t = ms(from);
        while t < ms(to) {
            let i = bars.len() as f64;
            let p = 100.0 + 5.0 * (i / 40.0).sin();
            bars.push(Bar {
                symbol: 0,
                time_ms: t,
                open: p,
                high: p + 0.5,
                low: p - 0.5,
                close: p + 0.1,
                volume: 1e6,
            });
            t += MIN;
        }
    }
    Recording {
        symbols: vec!["SPY".into()],
        bars,
    }
}

fn with(session: Option<Session>, delivery: Delivery, risk: RiskConfig) -> Setup {
    Setup {
        session,
        delivery,
        risk,
        reads_view: true,
        ..Setup::default()
    }
}

/// When the strategy's orders were decided.
fn strategy_orders(journal: &[Entry]) -> Vec<i64> {
    journal
        .iter()
        .filter_map(|e| match e {
            Entry::Order { order, .. } if order.origin == Origin::Strategy => {
                Some(order.decided_ms)
            }
            _ => None,
        })
        .collect()
}

fn fills(journal: &[Entry]) -> Vec<i64> {
    journal
        .iter()
        .filter_map(|e| match e {
            Entry::Fill { fill, .. } => Some(fill.time_ms),
            _ => None,
        })
        .collect()
}

#[test]
fn a_us_equity_run_never_trades_outside_its_session() {
    // Pre-market to after hours on a full day, a holiday, an early close.
    let rec = minutes(&[
        ("2024-11-27T13:00:00Z", "2024-11-27T22:30:00Z"),
        ("2024-11-28T14:00:00Z", "2024-11-28T16:00:00Z"),
        ("2024-11-29T13:00:00Z", "2024-11-29T19:00:00Z"),
    ]);
    // In and out every ten bars, with a stop, whatever the hour.
    let steps: Vec<Step> = (0..rec.bars.len() as u64)
        .filter_map(|seq| match seq % 20 {
            0 => Some(at(seq, protect(buy(0, 1.0), Some(97.0), None))),
            10 => Some(at(seq, sell(0, 1.0))),
            _ => None,
        })
        .collect();
    let s = us_equity();
    let risk = RiskConfig {
        max_orders_per_day: 1_000,
        ..RiskConfig::default()
    };
    let (_, journal) = run(&rec, &steps, &with(Some(s.clone()), Delivery::PerBar, risk));
    let (_, exact) = run(&rec, &steps, &with(Some(s.clone()), Delivery::Exact, risk));
    assert_eq!(
        format!("{journal:?}"),
        format!("{exact:?}"),
        "per bar = exact"
    );

    let orders = strategy_orders(&journal);
    assert!(orders.len() > 20, "the script traded: {}", orders.len());
    for t in &orders {
        assert!(s.decides(*t), "an order decided at {t} outside the session");
    }
    let filled = fills(&journal);
    assert!(filled.len() > 20, "{}", filled.len());
    for t in &filled {
        assert!(s.fills(*t), "a fill at {t} outside the session");
    }

    // Without the session, the same script trades at every hour.
    let (_, anywhere) = run(&rec, &steps, &with(None, Delivery::PerBar, risk));
    assert!(strategy_orders(&anywhere).iter().any(|t| !s.decides(*t)));
    assert!(fills(&anywhere).iter().any(|t| !s.fills(*t)));
}

#[test]
fn a_stop_crossed_after_hours_fills_at_the_next_open() {
    // Bought at 15:00 with a stop at 95; after hours the price falls
    // through it; the market opens two days later (Thanksgiving between).
    let bar = |t: &str, p: f64| Bar {
        symbol: 0,
        time_ms: ms(t),
        open: p,
        high: p,
        low: p,
        close: p,
        volume: 1e6,
    };
    let rec = Recording {
        symbols: vec!["SPY".into()],
        bars: vec![
            bar("2024-11-27T20:00:00Z", 100.0), // 15:00
            bar("2024-11-27T20:01:00Z", 100.0), // 15:01: the buy fills
            bar("2024-11-27T22:00:00Z", 90.0),  // 17:00, after hours
            bar("2024-11-28T15:00:00Z", 89.0),  // Thanksgiving
            bar("2024-11-29T14:30:00Z", 92.0),  // 09:30, the open
        ],
    };
    let steps = vec![at(0, protect(buy(0, 1.0), Some(95.0), None))];
    let s = us_equity();
    for delivery in [Delivery::PerBar, Delivery::Exact] {
        let (_, journal) = run(
            &rec,
            &steps,
            &with(Some(s.clone()), delivery, RiskConfig::default()),
        );
        let sold: Vec<(i64, f64)> = journal
            .iter()
            .filter_map(|e| match e {
                Entry::Fill { fill, .. } if fill.origin == Origin::StopLoss => {
                    Some((fill.time_ms, fill.price))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            sold,
            vec![(ms("2024-11-29T14:30:00Z"), 92.0)],
            "{delivery:?}"
        );
    }
    let (_, anywhere) = run(
        &rec,
        &steps,
        &with(None, Delivery::PerBar, RiskConfig::default()),
    );
    assert!(
        anywhere.iter().any(|e| matches!(e, Entry::Fill { fill, .. }
            if fill.origin == Origin::StopLoss && fill.time_ms == ms("2024-11-27T22:00:00Z"))),
        "without a session the stop fills after hours"
    );
}

#[test]
fn orders_per_day_count_the_markets_day_not_utcs() {
    // Sydney trades 10:00–16:00 local; on 2024-12-03 (AEDT, UTC+11) that is
    // 23:00Z on the 2nd to 05:00Z on the 3rd: one market day, two UTC days.
    let cal = Calendar::Weekdays(Hours {
        open: parse_hm("10:00").unwrap(),
        close: parse_hm("16:00").unwrap(),
    });
    let s = Session::new("Australia/Sydney", cal, MIN).unwrap();
    let rec = minutes(&[("2024-12-02T23:00:00Z", "2024-12-03T02:00:00Z")]);
    let steps = vec![
        at(30, buy(0, 1.0)),  // 10:30 local, 23:30Z on the 2nd
        at(90, buy(0, 1.0)),  // 11:30 local, 00:30Z on the 3rd
        at(150, buy(0, 1.0)), // 12:30 local
    ];
    let risk = RiskConfig {
        max_orders_per_day: 2,
        ..RiskConfig::default()
    };
    let refused = |j: &[Entry]| {
        j.iter()
            .filter(|e| {
                matches!(
                    e,
                    Entry::Refusal {
                        rule: Rule::MaxOrdersPerDay,
                        ..
                    }
                )
            })
            .count()
    };
    let (_, local) = run(&rec, &steps, &with(Some(s), Delivery::PerBar, risk));
    assert_eq!(strategy_orders(&local).len(), 2);
    assert_eq!(
        refused(&local),
        1,
        "the third order of Sydney's day is refused"
    );
    let (_, utc) = run(&rec, &steps, &with(None, Delivery::PerBar, risk));
    assert_eq!(refused(&utc), 0, "UTC counts two days");
}
