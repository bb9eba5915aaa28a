//! A LIVE trailing stop held by the venue's own trailing order where the
//! venue has one (faqs/trailing-stop-faq.md: Binance `STOP_LOSS` with
//! `trailingDelta`; alpaca-docs trading/orders.md "Trailing Stop Orders":
//! `trailing_stop`): placed once, never re-placed as the stop ratchets,
//! and still trailing — then firing — while the host is dead.

use std::time::{Duration, Instant};

use sandbar_test_support::binance::{Kline, read_klines};
use sandbar_test_support::shared_data;

use crate::live::*;
use crate::util::*;

/// The bar of the run on which the scripted strategy trails its stop (its
/// buy, on bar 2, has filled by then).
const TRAIL_BAR: usize = 6;

/// The klines during which the trail may be placed: from the trailing bar
/// to three seconds (60 klines) later, for a host slow to start.
const PLACED: std::ops::Range<usize> = TRAIL_BAR - 2..TRAIL_BAR + 60;

/// Where a sell trail of `fraction` placed while kline `at` trades first
/// fires, reading each kline's trades as open, high, low, close; and at
/// what price (its best less the trail, or an open below it). `start`: its
/// best when placed (Alpaca: the market then); `None`: it starts from the
/// next trade (Binance without `stopPrice`), taken as `at`'s open.
fn fires(klines: &[Kline], at: usize, start: Option<f64>, fraction: f64) -> Option<(usize, f64)> {
    let mut best = start.unwrap_or(klines[at].open);
    for (i, k) in klines.iter().enumerate().skip(at) {
        for (n, x) in [k.open, k.high, k.low, k.close].into_iter().enumerate() {
            let level = best * (1.0 - fraction);
            if x <= level && !(i == at && n == 0 && start.is_none()) {
                return Some((i, if n == 0 { x } else { level }));
            }
            best = best.max(x);
        }
    }
    None
}

/// The smallest trail in whole BIPS that, placed at any kline of
/// [`PLACED`], sees a new high within 60 klines (the host's stop ratchets
/// while it runs), holds for at least 250 and fires within 1,500 — under
/// both starts (Binance's next trade, Alpaca's last price): (BIPS, fraction).
fn a_trail_that_holds_for_250_bars(klines: &[Kline]) -> (i64, f64) {
    (10..=500)
        .step_by(5)
        .map(|bips| (bips, bips as f64 / 1e4))
        .find(|(_, f)| {
            PLACED.into_iter().all(|at| {
                let ratchets = klines[at..at + 60]
                    .iter()
                    .any(|k| k.high > klines[at].close);
                let holds = |start| {
                    fires(klines, at, start, *f)
                        .is_some_and(|(i, _)| i >= at + 250 && i <= at + 1500)
                };
                ratchets && holds(None) && holds(Some(klines[at - 1].close))
            })
        })
        .expect("a trail that holds for 250 bars")
}

#[test]
fn a_trailing_stop_rests_at_binance_as_one_trailing_order_that_fires_there_with_the_host_dead() {
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 3000);
    let (bips, fraction) = a_trail_that_holds_for_250_bars(&klines);
    let script = format!("2 buy 0 0.1; {TRAIL_BAR} trail-pct 0 {fraction}");
    let (server, mut f, config) = crate::venue_rules::scripted_on(&klines, &script);
    let spot = server.spot();
    f.serve(&config);
    let deadline = Instant::now() + Duration::from_secs(30);
    let stop = || spot.orders().into_iter().find(|o| o.kind == "STOP_LOSS");
    while stop().is_none() {
        assert!(
            Instant::now() < deadline,
            "no stop at the venue: {:?} {}",
            spot.orders(),
            f.status("d")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let resting = stop().unwrap();
    assert_eq!(
        (
            resting.side.as_str(),
            resting.trailing_delta,
            resting.stop_price
        ),
        ("SELL", bips, 0.0),
        "a trailing STOP_LOSS with no stopPrice: it trails from the next trade"
    );
    let (held_before, _) = spot.balances();
    assert!((resting.quantity - held_before).abs() < 1e-9, "{resting:?}");
    let at = resting.placed_at_kline;
    assert!(
        PLACED.contains(&at),
        "placed at kline {at}, later than planned for"
    );
    // The host runs while the market makes a new high: its stop ratchets,
    // and the venue's order stays as it is.
    server.wait_closed(at + 60);
    let s = f.status("d");
    assert_eq!(
        spot.attempts().len(),
        2,
        "the buy and the trailing stop, each once, nothing re-placed: {:?} {s}",
        spot.orders()
    );
    // Killed and back while it rests: the journal's trailing stop is the
    // venue's order, found again and left in place as the stop ratchets on.
    f.stop_serving(); // SIGKILL
    f.serve(&config);
    let s = f.wait("d", "recovered and trading on", |s| {
        s["recovering"] == false && s["running"] == true
    });
    assert_eq!(
        (
            &s["venue"]["unknown"],
            &s["venue"]["problems"],
            &s["open_orders"]
        ),
        (
            &serde_json::json!(0),
            &serde_json::json!([]),
            &serde_json::json!(1)
        ),
        "{s}"
    );
    server.wait_closed(at + 150);
    assert_eq!(spot.attempts().len(), 2, "{:?}", spot.orders());
    f.stop_serving(); // SIGKILL: no host
    let (fired_at, price) = fires(&klines, at, None, fraction).unwrap();
    server.wait_closed(fired_at + 5);
    server.settle();
    let fired = stop().unwrap();
    assert_eq!(
        fired.status, "FILLED",
        "the venue's trail fired, the host dead"
    );
    assert!(spot.balances().0.abs() < 1e-9);
    let trade = spot.trades().into_iter().last().unwrap();
    assert!((trade.price - price).abs() < 1e-6, "{trade:?} vs {price}");
    assert!(
        price > klines[at].close * (1.0 - fraction),
        "it trailed up from where it was placed"
    );
    f.serve(&config);
    let s = f.wait("d", "the trail's fill adopted", |s| {
        s["open_orders"] == 0 && held(s) == 0.0 && s["seq"].as_u64() > Some(10)
    });
    assert!(f.terminate().success(), "{s}");
    assert_books_match_the_venue(&f, &server);
    assert_no_order_twice(&server);
    let entries = journal_entries(&journal(&f));
    let kinds: Vec<&serde_json::Value> = of_kind(&entries, "order")
        .into_iter()
        .map(|e| &e["order"]["kind"])
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(
        kinds[1]["trailing-stop"][1],
        serde_json::json!({ "fraction": fraction })
    );
}

#[test]
fn a_trailing_stop_rests_at_alpaca_as_one_trailing_stop_order_that_fires_there_with_the_host_dead()
{
    use sandbar_test_support::alpaca::AlpacaServer;
    use sandbar_test_support::alpaca_trading::Trail;
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 3000);
    let (bips, fraction) = a_trail_that_holds_for_250_bars(&klines);
    let server = AlpacaServer::start("SPY", klines.clone(), 20.0, 1000);
    let t = server.trading();
    // One whole share (10 at LIVE's first ramp-up step of 10%): Alpaca
    // trails whole shares only.
    let script = format!("script=2 buy 0 10; {TRAIL_BAR} trail-pct 0 {fraction}");
    let (mut f, config) = crate::live::alpaca::deployment_of(
        &server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        &["--param", &script],
        "",
        "",
    );
    server.restart_clock();
    f.serve(&config);
    let deadline = Instant::now() + Duration::from_secs(30);
    let stop = || t.orders().into_iter().find(|o| o.side == "sell");
    while stop().is_none() {
        assert!(
            Instant::now() < deadline,
            "no stop at the venue: {:?} {}",
            t.orders(),
            f.status("d")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let resting = stop().unwrap();
    assert_eq!(
        (resting.kind.as_str(), resting.trail, resting.qty),
        (
            "trailing_stop",
            Some(Trail::Percent(bips as f64 / 100.0)),
            1.0
        ),
        "Alpaca's own trailing stop, by percent"
    );
    let at = resting.at_bar;
    assert!(
        PLACED.contains(&at),
        "placed at bar {at}, later than planned for"
    );
    while server.closed() < at + 60 {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        t.attempts().len(),
        2,
        "the buy and the trailing stop, each once, nothing re-placed: {:?}",
        t.orders()
    );
    f.stop_serving(); // SIGKILL: no host
    let (fired_at, price) = fires(&klines, at, Some(klines[at - 1].close), fraction).unwrap();
    while server.closed() < fired_at + 5 {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.settle();
    let fired = stop().unwrap();
    assert_eq!(
        fired.status, "filled",
        "the venue's trail fired, the host dead"
    );
    assert!(t.position().abs() < 1e-9);
    let fill = t.fills().into_iter().last().unwrap();
    assert!((fill.price - price).abs() < 1e-6, "{fill:?} vs {price}");
    f.serve(&config);
    let s = f.wait("d", "the trail's fill adopted", |s| {
        s["open_orders"] == 0 && held(s) == 0.0
    });
    assert!(f.terminate().success(), "{s}");
    assert_eq!(t.attempts().len(), 2, "{:?}", t.attempts());
    let fills = journal_fills(&journal_entries(&journal(&f)));
    assert!(
        fills
            .values()
            .flatten()
            .any(|(_, p)| (p - price).abs() < 1e-6),
        "booked at the venue's price: {fills:?}"
    );
}

#[test]
fn with_a_take_profit_the_binance_trail_is_the_stop_leg_of_the_oco_list_and_its_fire_expires_the_target()
 {
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 3000);
    let (bips, fraction) = a_trail_that_holds_for_250_bars(&klines);
    // A target above every trade until well after the trail fires.
    let last = PLACED
        .filter_map(|at| fires(&klines, at, None, fraction))
        .map(|(i, _)| i)
        .max()
        .unwrap();
    let target = (klines[..last + 20]
        .iter()
        .map(|k| k.high)
        .fold(0.0, f64::max)
        + 1.0)
        .ceil();
    let script = format!("2 buy 0 0.1 tp={target}; {TRAIL_BAR} trail-pct 0 {fraction}");
    let (server, mut f, config) = crate::venue_rules::scripted_on(&klines, &script);
    let spot = server.spot();
    f.serve(&config);
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = || -> Vec<_> {
        spot.orders()
            .into_iter()
            .filter(|o| o.list_id >= 0)
            .collect()
    };
    while listed().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no list at the venue: {:?} {}",
            spot.orders(),
            f.status("d")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let legs: Vec<(String, String, f64, f64, i64)> = listed()
        .into_iter()
        .map(|o| (o.side, o.kind, o.price, o.stop_price, o.trailing_delta))
        .collect();
    assert_eq!(
        legs,
        [
            ("SELL".into(), "LIMIT_MAKER".into(), target, 0.0, 0),
            ("SELL".into(), "STOP_LOSS".into(), 0.0, 0.0, bips)
        ],
        "the take-profit above, the trail below as belowTrailingDelta"
    );
    let at = listed()[1].placed_at_kline;
    assert!(
        PLACED.contains(&at),
        "placed at kline {at}, later than planned for"
    );
    server.wait_closed(at + 60);
    let sent = spot.attempts().len();
    assert_eq!(
        sent,
        4,
        "the buy, the take-profit alone, then both as one list; nothing re-placed as the stop ratchets: {:?}",
        spot.orders()
    );
    f.stop_serving(); // SIGKILL: no host
    let (fired_at, price) = fires(&klines, at, None, fraction).unwrap();
    server.wait_closed(fired_at + 5);
    server.settle();
    let ends: Vec<String> = listed().into_iter().map(|o| o.status).collect();
    assert_eq!(
        ends,
        ["EXPIRED", "FILLED"],
        "the trail fired and the target expired"
    );
    let trade = spot.trades().into_iter().last().unwrap();
    assert!((trade.price - price).abs() < 1e-6, "{trade:?} vs {price}");
    f.serve(&config);
    let s = f.wait("d", "the trail's fill adopted", |s| {
        s["open_orders"] == 0 && held(s) == 0.0 && s["seq"].as_u64() > Some(10)
    });
    assert!(f.terminate().success(), "{s}");
    assert_books_match_the_venue(&f, &server);
    assert_no_order_twice(&server);
}
