//! What Binance's official documentation says a spot account does, held
//! against a LIVE deployment (the test server imitates each rule, cited
//! in `tests/support/src/binance_spot.rs`; docs/going-live.md has the
//! table). Each of these lost or doubled money before the host followed
//! the rule:
//! - a quantity is sent rounded down to the lot step, and the order is
//!   complete when that much filled (filters.md `LOT_SIZE`);
//! - a buy's fee is kept out of the asset bought (the fills'
//!   `commissionAsset`): the books hold what the account holds, and a
//!   close sells no more than that;
//! - `newClientOrderId` is unique only among open orders: an order whose
//!   answer was lost is never resent under its id;
//! - an order's trade list can lag the order (rest-api.md "Data Sources");
//! - `serverShutdown` on the user data stream means: connect again now.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sandbar_test_support::binance::read_klines;
use sandbar_test_support::shared_data;

use crate::live::*;
use crate::util::*;

/// Reconciliation every second: a difference between the books and the
/// account would halt the run within the test.
const RECONCILE: &str = "[venues.bx.reconcile]\nevery_secs = 1\n";

#[test]
fn a_buy_rounded_to_the_lot_and_charged_in_bitcoin_is_booked_as_held_and_closed_whole() {
    // The close comes 6 s after the buy: filled by then however loaded the
    // machine (an intent supersedes an order still open).
    let server = market(160, 10.0);
    let (mut f, config) = live_deployment_of(
        &server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        &["--param", "script=2 buy 0 0.0212345; 62 close 0"],
        RECONCILE,
    );
    f.serve(&config);
    let s = settle_and_stop(&mut f, 160, || server.spot().balances().0);
    let orders = server.spot().orders();
    assert_eq!(orders.len(), 2, "{orders:?}");
    // A tenth of it in the run's first week (the ramp-up): 0.00212345,
    // sent at the lot step (0.00001), rounded down.
    assert_eq!(format!("{:.8}", orders[0].quantity), "0.00212000");
    // The account got 0.00212 less its fee of 0.00000212 BTC; the close
    // sold that, at the lot step: 0.00211.
    assert_eq!(format!("{:.8}", orders[1].quantity), "0.00211000");
    assert!(orders.iter().all(|o| o.status == "FILLED"), "{orders:?}");
    let (base, _) = server.spot().balances();
    assert!(
        (base - 0.00000788).abs() < 1e-12,
        "left on the account: {base}"
    );
    assert_eq!(s["open_orders"], 0, "both orders ended in the host: {s}");
    assert!(s["paused"].is_null(), "reconciliation found nothing: {s}");
    let entries = assert_books_match_the_venue(&f, &server);
    // The journal says at what quantity each left.
    let resized: Vec<_> = of_kind(&entries, "venue")
        .into_iter()
        .filter(|e| e.to_string().contains("Resized"))
        .collect();
    assert_eq!(resized.len(), 2, "{resized:?}");
}

#[test]
fn an_order_whose_answer_was_lost_and_that_the_venue_hides_is_never_placed_twice() {
    let server = market(200, 20.0);
    let spot = server.spot();
    // The first placement executes and is answered -1007; lookups say
    // "does not exist" for 4 s — past the 600 ms grace period.
    spot.faults.accept_then_1007.store(1, Ordering::SeqCst);
    spot.faults.hide_new_ms.store(4000, Ordering::SeqCst);
    let (mut f, config) = live_deployment_of(
        &server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        &["--param", "script=2 buy 0 0.01"],
        "",
    );
    f.serve(&config);
    let s = f.wait("d", "the run paused by the unknown order", |s| {
        s["paused"]
            .as_str()
            .is_some_and(|p| p.contains("never resent"))
    });
    assert_eq!(held(&s), 0.0, "{s}");
    // Once the venue shows it, polling books it — once.
    f.wait("d", "the order booked", |s| held(s) > 0.0);
    let s = settle_and_stop(&mut f, 200, || server.spot().balances().0);
    assert_eq!(
        spot.reused.load(Ordering::SeqCst),
        0,
        "a second order under the id"
    );
    assert_eq!(spot.attempts().len(), 1, "sent once: {:?}", spot.attempts());
    assert_eq!(spot.orders().len(), 1);
    assert!(
        s["paused"].as_str().is_some(),
        "still paused for the operator: {s}"
    );
    let entries = assert_books_match_the_venue(&f, &server);
    let paused = of_kind(&entries, "paused");
    assert_eq!(paused.len(), 1, "{paused:?}");
    assert_eq!(paused[0]["actor"], "venue");
}

#[test]
fn a_fill_found_by_polling_before_its_trades_are_listed_is_booked_when_they_are() {
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 200);
    let server =
        sandbar_test_support::binance::BinanceServer::start("BTCUSDT", "1m", klines.clone(), 20.0);
    // A limit buy just above bar 3's close fills on a later kline; the
    // order says FILLED at once, its trades are listed 1.5 s later.
    let limit = (klines[3].close * 1.002 * 100.0).round() / 100.0;
    server
        .spot()
        .faults
        .trades_lag_ms
        .store(1500, Ordering::SeqCst);
    let (mut f, config) = live_deployment_of(
        &server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        &["--param", &format!("script=3 limit-buy 0 0.01 {limit}")],
        RECONCILE,
    );
    f.serve(&config);
    let s = settle_and_stop(&mut f, 200, || server.spot().balances().0);
    assert_eq!(s["open_orders"], 0, "{s}");
    assert!(s["paused"].is_null(), "reconciliation found nothing: {s}");
    assert_books_match_the_venue(&f, &server);
}

#[test]
fn server_shutdown_on_the_user_data_stream_is_followed_by_a_new_connection_at_once() {
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 400);
    let server =
        sandbar_test_support::binance::BinanceServer::start("BTCUSDT", "1m", klines.clone(), 20.0);
    let limit = |bar: usize| (klines[bar].close * 1.002 * 100.0).round() / 100.0;
    let script = format!(
        "script=3 limit-buy 0 0.01 {}; 150 limit-buy 0 0.01 {}",
        limit(3),
        limit(150)
    );
    // While the stream is up, a poll only every minute.
    let (mut f, config) = live_deployment_of(
        &server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        &["--param", &script],
        "stream_poll_ms = 60000\n",
    );
    with_user_data_stream(&server, &config);
    let spot = server.spot();
    f.serve(&config);
    let s = f.wait("d", "the first limit filled", |s| held(s) > 0.0);
    let one = held(&s);
    // The server announces its shutdown, then says nothing for a minute.
    spot.faults.stream_shutdowns.store(1, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(15);
    while spot.stream_connections.load(Ordering::SeqCst) < 2 {
        assert!(
            Instant::now() < deadline,
            "no new connection 15 s after serverShutdown: {}",
            f.status("d")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The second fill comes through the new connection, not a poll.
    let s = f.wait("d", "the second limit filled", |s| held(s) > one * 1.5);
    assert!(s["venue"]["stream_up"] == true, "{s}");
    settle_and_stop(&mut f, 400, || server.spot().balances().0);
    assert_books_match_the_venue(&f, &server);
}

/// `sandbar venue check <venue> --symbol <symbol>` with the venue's keys
/// in the environment.
fn venue_check(
    config: &std::path::Path,
    venue: &str,
    symbol: &str,
    keys: [(&str, &str); 2],
    extra: &[&str],
) -> std::process::Output {
    std::process::Command::new(SANDBAR)
        .args(["venue", "check", venue, "--config"])
        .arg(config)
        .args(["--symbol", symbol])
        .args(extra)
        .envs(keys)
        .output()
        .unwrap()
}

#[test]
fn venue_check_reports_the_account_and_places_and_cancels_a_test_order_over_tls() {
    let ca = sandbar_test_support::tls::TestCa::new();
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 200);
    let server =
        sandbar_test_support::binance::BinanceServer::start_tls("BTCUSDT", "1m", klines, 20.0, &ca);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sandbar.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \".\"\n[venues.bx]\nkind = \"binance\"\nrest_url = \"{}/spot\"\nca_file = {:?}\n",
            server.rest_url,
            ca.ca_file()
        ),
    )
    .unwrap();
    let check = |secret: &str, extra: &[&str]| {
        let keys = [
            (
                "BINANCE_API_KEY",
                sandbar_test_support::binance_spot::API_KEY,
            ),
            ("BINANCE_API_SECRET", secret),
        ];
        venue_check(&config, "bx", "BTCUSDT", keys, extra)
    };
    let out = check(
        sandbar_test_support::binance_spot::API_SECRET,
        &["--place-test-order"],
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("{text}");
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "ok    server time",
        "ok    permissions               canTrade true, permissions [SPOT]",
        "ok    BTCUSDT rules             LOT_SIZE min 0.00001000 step 0.00001000",
        "ok    balance USDT",
        "ok    test order placed",
        "ok    test order cancelled",
        "ok    test order ended",
        "all 10 checks passed",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    // The order reached the venue under an id no run uses, below the
    // market, and was cancelled there.
    let orders = server.spot().orders();
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert!(orders[0].client_id.starts_with("sb-check-"), "{orders:?}");
    assert_eq!(orders[0].status, "CANCELED");
    assert_eq!(orders[0].executed, 0.0);
    // A wrong secret: the first line fails, naming the venue's refusal.
    let out = check("not-the-secret", &[]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success());
    assert!(text.starts_with("FAIL  connect"), "{text}");
    assert!(text.contains("-1022"), "{text}");
    assert!(!text.contains("not-the-secret"), "{text}");
}

#[test]
fn an_ip_ban_is_waited_out_without_a_request_and_shown_to_the_operator() {
    // The second buy comes 8 s after the first: the ban is set between.
    let server = market(100, 5.0);
    let spot = server.spot();
    // Two buys: the second meets a 6 s IP ban (418, Retry-After).
    let (mut f, config) = live_deployment_of(
        &server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        &["--param", "script=2 buy 0 0.01; 40 buy 0 0.01"],
        "max_retry_ms = 500\n",
    );
    f.serve(&config);
    let s = f.wait("d", "the first buy booked", |s| held(s) > 0.0);
    let one = held(&s);
    spot.faults.ban_secs.store(6, Ordering::SeqCst);
    spot.faults.banned.store(1, Ordering::SeqCst);
    let s = f.wait("d", "the ban shown", |s| {
        s["venue"]["problems"].as_array().is_some_and(|p| {
            p.iter()
                .any(|p| p.as_str().unwrap_or("").contains("asked to wait"))
        })
    });
    eprintln!("{s}");
    let s = f.wait("d", "the second buy booked after the ban", |s| {
        held(s) > one * 1.5
    });
    assert!(s["venue"]["retries"].as_u64() >= Some(1), "{s}");
    assert_eq!(
        spot.during_ban.load(Ordering::SeqCst),
        0,
        "nothing sent while banned"
    );
    settle_and_stop(&mut f, 100, || server.spot().balances().0);
    assert_books_match_the_venue(&f, &server);
}

#[test]
fn a_live_run_stopped_cancels_its_resting_orders_and_a_shutdown_leaves_them_for_the_restart() {
    // Bar 40 comes 8 s after bar 1: the buy has filled (an intent
    // supersedes an order still open).
    let server = market(3000, 5.0);
    let spot = server.spot();
    let (mut f, config) = live_deployment_of(
        &server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        // A position with its stop (at the venue), and a limit buy far
        // below the market: both rest.
        &[
            "--param",
            "script=1 buy 0 0.1 sl=20000; 40 limit-buy 0 0.1 20000",
        ],
        "",
    );
    f.serve(&config);
    let kind_of = |kind: &str| spot.orders().into_iter().find(|o| o.kind == kind);
    let deadline = Instant::now() + Duration::from_secs(30);
    while kind_of("LIMIT").is_none() || kind_of("STOP_LOSS").is_none() {
        assert!(
            Instant::now() < deadline,
            "orders: {:?} {}",
            spot.orders(),
            f.status("d")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // A clean shutdown (SIGTERM) leaves them: the next start looks them up.
    assert!(f.terminate().success());
    assert_eq!(
        kind_of("LIMIT").unwrap().status,
        "NEW",
        "left for the restart"
    );
    assert_eq!(kind_of("STOP_LOSS").unwrap().status, "NEW");
    f.serve(&config);
    f.wait("d", "running again", |s| {
        s["running"] == true && s["open_orders"] == 2
    });
    // The operator stops the deployment: nobody watches its orders now, so
    // the entry is cancelled at the venue; the stop stays, protecting the
    // position left behind.
    f.ok(&["deploy", "stop", "d"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while kind_of("LIMIT").unwrap().status != "CANCELED" {
        assert!(
            Instant::now() < deadline,
            "a stopped run's order still resting: {:?}",
            spot.orders()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        kind_of("STOP_LOSS").unwrap().status,
        "NEW",
        "{:?}",
        spot.orders()
    );
    assert_eq!(spot.orders().len(), 3);
}

#[test]
fn a_ban_seen_by_one_connection_holds_every_connection_from_the_ip() {
    let server = market(3000, 20.0);
    let spot = server.spot();
    // A resting limit buy the courier polls every 50 ms, and the
    // reconciler comparing every second: two connectors, one IP.
    let (mut f, config) = live_deployment_of(
        &server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        &["--param", "script=3 limit-buy 0 0.1 20000"],
        &format!("max_retry_ms = 500\n{RECONCILE}"),
    );
    f.serve(&config);
    f.wait("d", "the order resting", |s| {
        s["open_orders"] == 1 && s["venue"]["queries"].as_u64() >= Some(3)
    });
    // Binance bans the IP for 4 s: whichever connection meets the 418
    // first, the other must not send until the ban is over.
    spot.faults.ban_secs.store(4, Ordering::SeqCst);
    spot.faults.banned.store(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        spot.during_ban.load(Ordering::SeqCst),
        0,
        "requests sent during the IP ban: {}",
        f.status("d")
    );
    // And both go on afterwards.
    let q = f.status("d")["venue"]["queries"].as_u64().unwrap();
    f.wait("d", "polling again", |s| {
        s["venue"]["queries"].as_u64() > Some(q + 3)
    });
    assert!(f.terminate().success());
}

/// A LIVE scripted deployment whose BTCUSDT market comes from `klines`.
pub(crate) fn scripted_on(
    klines: &[sandbar_test_support::binance::Kline],
    script: &str,
) -> (
    sandbar_test_support::binance::BinanceServer,
    crate::service::Fixture,
    std::path::PathBuf,
) {
    let server =
        sandbar_test_support::binance::BinanceServer::start("BTCUSDT", "1m", klines.to_vec(), 20.0);
    let (f, config) = live_deployment_of(
        &server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        &["--param", &format!("script={script}")],
        "",
    );
    (server, f, config)
}

#[test]
fn a_live_positions_stop_rests_at_the_venue_and_fills_there_while_the_host_is_dead() {
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 3000);
    let (stop, reach) = a_stop_reached_after_bar_200(&klines);
    let (server, mut f, config) = scripted_on(&klines, &format!("2 buy 0 0.1 sl={stop}"));
    let spot = server.spot();
    f.serve(&config);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !spot.orders().iter().any(|o| o.kind == "STOP_LOSS") {
        assert!(
            Instant::now() < deadline,
            "no stop at the venue: {:?} {}",
            spot.orders(),
            f.status("d")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let resting = spot
        .orders()
        .into_iter()
        .find(|o| o.kind == "STOP_LOSS")
        .unwrap();
    assert_eq!((resting.side.as_str(), resting.stop_price), ("SELL", stop));
    // What the account holds after the buy's fee: the stop sells all of it.
    let (held_before, _) = spot.balances();
    assert!(
        (resting.quantity - held_before).abs() < 1e-9,
        "{resting:?} vs {held_before}"
    );
    f.stop_serving(); // SIGKILL: no host
    server.wait_closed(reach + 5);
    server.settle();
    let stopped = spot
        .orders()
        .into_iter()
        .find(|o| o.kind == "STOP_LOSS")
        .unwrap();
    assert_eq!(
        stopped.status, "FILLED",
        "the venue's stop fired with the host dead"
    );
    assert!(spot.balances().0.abs() < 1e-9);
    // Back up: the stop's fill is adopted at the first look.
    f.serve(&config);
    let s = f.wait("d", "the stop's fill adopted", |s| {
        s["open_orders"] == 0 && held(s) == 0.0 && s["seq"].as_u64() > Some(10)
    });
    assert!(f.terminate().success(), "{s}");
    assert_books_match_the_venue(&f, &server);
    assert_no_order_twice(&server);
}

#[test]
fn a_positions_stop_and_take_profit_rest_as_one_oco_list_and_the_target_fills_there_while_the_host_is_dead()
 {
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 3000);
    let (target, stop, reach) = crate::live::a_target_reached_after_bar_200(&klines);
    let (server, mut f, config) =
        scripted_on(&klines, &format!("2 buy 0 0.1 sl={stop} tp={target}"));
    let spot = server.spot();
    f.serve(&config);
    let deadline = Instant::now() + Duration::from_secs(30);
    let legs = loop {
        let legs: Vec<_> = spot
            .orders()
            .into_iter()
            .filter(|o| o.list_id >= 0)
            .collect();
        if legs.len() == 2 {
            break legs;
        }
        assert!(
            Instant::now() < deadline,
            "no OCO list at the venue: {:?} {}",
            spot.orders(),
            f.status("d")
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let kinds: Vec<(&str, &str, f64, f64)> = legs
        .iter()
        .map(|o| (o.side.as_str(), o.kind.as_str(), o.price, o.stop_price))
        .collect();
    assert_eq!(
        kinds,
        [
            ("SELL", "LIMIT_MAKER", target, 0.0),
            ("SELL", "STOP_LOSS", 0.0, stop)
        ]
    );
    assert_eq!(legs[0].list_id, legs[1].list_id, "one list");
    // Both sell what the account holds after the buy's fee, locked once.
    let (held_before, _) = spot.balances();
    assert!(
        legs.iter().all(|o| (o.quantity - held_before).abs() < 1e-9),
        "{legs:?} vs {held_before}"
    );
    f.stop_serving(); // SIGKILL: no host
    server.wait_closed(reach + 5);
    server.settle();
    let after: Vec<_> = spot
        .orders()
        .into_iter()
        .filter(|o| o.list_id >= 0)
        .collect();
    assert_eq!(
        after.iter().map(|o| o.status.as_str()).collect::<Vec<_>>(),
        ["FILLED", "EXPIRED"],
        "the take-profit filled at the venue with the host dead; the stop expired"
    );
    assert!(spot.balances().0.abs() < 1e-9);
    // Back up: the target's fill and the stop's end are adopted.
    f.serve(&config);
    let s = f.wait("d", "the take-profit's fill adopted", |s| {
        s["open_orders"] == 0 && held(s) == 0.0 && s["seq"].as_u64() > Some(10)
    });
    assert!(f.terminate().success(), "{s}");
    let entries = assert_books_match_the_venue(&f, &server);
    assert_no_order_twice(&server);
    // Booked at the take-profit's price.
    let fills = crate::live::journal_fills(&entries);
    assert!(
        fills.values().flatten().any(|(_, price)| *price == target),
        "{fills:?}"
    );
}

#[test]
fn an_exit_first_takes_its_stop_off_the_venue_so_the_balance_it_locks_is_free() {
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 200);
    let (server, mut f, config) = scripted_on(&klines, "2 buy 0 0.0212345 sl=20000; 122 close 0");
    let spot = server.spot();
    f.serve(&config);
    let s = settle_and_stop(&mut f, 200, || server.spot().balances().0);
    let orders = spot.orders();
    let kinds: Vec<(&str, &str, &str)> = orders
        .iter()
        .map(|o| (o.side.as_str(), o.kind.as_str(), o.status.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("BUY", "MARKET", "FILLED"),
            ("SELL", "STOP_LOSS", "CANCELED"),
            ("SELL", "MARKET", "FILLED")
        ],
        "{s}"
    );
    assert_eq!(s["open_orders"], 0, "{s}");
    assert_books_match_the_venue(&f, &server);
}

#[test]
fn an_ed25519_key_signs_every_request_and_the_user_data_stream() {
    use sandbar_test_support::binance_spot::ed25519_key;
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 200);
    let (server, mut f, config) = scripted_on(&klines, "2 buy 0 0.1");
    let spot = server.spot();
    // The account's key is an Ed25519 one: HMAC signatures are refused.
    let (pem, public) = ed25519_key();
    spot.use_ed25519(public);
    let original = std::fs::read_to_string(&config).unwrap();
    let ws_api = format!(
        "ws://{}/spot/ws-api/v3",
        server.rest_url.trim_start_matches("http://")
    );
    let file = f.dir.path().join("binance-ed25519.pem");
    let configure = |pem: &str| {
        std::fs::write(&file, pem).unwrap();
        let text = original.replacen(
            "[venues.bx]\nkind = \"binance\"\n",
            &format!(
                "[venues.bx]\nkind = \"binance\"\nprivate_key_file = {file:?}\nws_api_url = {ws_api:?}\n"
            ),
            1,
        );
        std::fs::write(&config, text).unwrap();
    };
    // Another key: the start is refused with the venue's -1022, the key
    // never printed.
    configure(&ed25519_key().0);
    let e = serve_refused(&config);
    assert!(e.contains("-1022"), "{e}");
    assert!(!e.contains("PRIVATE KEY"), "{e}");
    // The right one: REST and the user data stream's subscription signed.
    configure(&pem);
    let refused_before = spot.refused.load(Ordering::SeqCst);
    server.restart_clock();
    f.serve(&config);
    let s = f.wait("d", "subscribed and bought", |s| {
        s["venue"]["stream_up"] == true && held(s) > 0.0
    });
    assert_eq!(
        spot.refused.load(Ordering::SeqCst),
        refused_before,
        "every request verified: {s}"
    );
    settle_and_stop(&mut f, 200, || server.spot().balances().0);
    assert_books_match_the_venue(&f, &server);
}

#[test]
fn reconciliation_that_cannot_read_the_account_is_alerted_not_just_logged() {
    let (url, received, _rt) = crate::alerts::receivers();
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 3000);
    let server = sandbar_test_support::binance::BinanceServer::start("BTCUSDT", "1m", klines, 20.0);
    let (mut f, config) = live_deployment_of(
        &server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        &["--param", "script=2 buy 0 0.1"],
        &format!(
            "{RECONCILE}[alerts]\n[[alerts.channels]]\nkind = \"webhook\"\nurl = \"{url}/hook\"\nmin_level = \"WARNING\"\n"
        ),
    );
    f.serve(&config);
    f.wait("d", "the buy booked", |s| held(s) > 0.0);
    // The account cannot be read: every round fails from now on.
    server
        .spot()
        .faults
        .account_down
        .store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    let alert = loop {
        let hooks = received.hooks.lock().unwrap().clone();
        if let Some(h) = hooks.iter().find(|h| {
            h.to_string()
                .contains("reconciliation failed three rounds in a row")
        }) {
            break h.clone();
        }
        assert!(Instant::now() < deadline, "no alert; webhook got {hooks:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(alert.to_string().contains("venue bx"), "{alert}");
    assert!(f.terminate().success());
}

#[test]
fn deploy_flatten_on_a_live_run_acts_now_without_waiting_for_a_bar() {
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 3000);
    // Five bars a second: the limit buy of bar 40 comes 8 s after the
    // market buy of bar 1, which has filled by then however loaded the
    // machine (a new intent supersedes an order still open).
    let feed =
        sandbar_test_support::binance::BinanceServer::start("BTCUSDT", "1m", klines.clone(), 5.0);
    let venue = sandbar_test_support::binance::BinanceServer::start("BTCUSDT", "1m", klines, 5.0);
    // A position, then a limit buy far below the market, resting.
    let (mut f, config) = live_deployment_of(
        &venue,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        &["--param", "script=1 buy 0 0.02; 40 limit-buy 0 0.01 20000"],
        "",
    );
    feed.restart_clock();
    feed_from(&feed, &venue, &config);
    f.serve(&config);
    let deadline = Instant::now() + Duration::from_secs(30);
    while venue.spot().orders().len() < 2 {
        assert!(Instant::now() < deadline, "no orders: {}", f.status("d"));
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(feed); // no bar will come
    std::thread::sleep(Duration::from_millis(300));
    let seq = f.status("d")["seq"].as_u64().unwrap();
    f.ok(&["deploy", "flatten", "d", "--reason", "one deployment out"]);
    let s = f.wait("d", "cancelled and closed without a bar", |s| {
        s["open_orders"] == 0 && held(s) < 0.00001 && s["paused"].is_string()
    });
    assert_eq!(s["seq"].as_u64(), Some(seq), "no bar came: {s}");
    let orders = venue.spot().orders();
    assert_eq!(orders[1].status, "CANCELED", "{orders:?}");
    assert_eq!(
        (
            orders[2].side.as_str(),
            orders[2].kind.as_str(),
            orders[2].status.as_str()
        ),
        ("SELL", "MARKET", "FILLED")
    );
    assert!(f.terminate().success());
    assert_books_match_the_venue(&f, &venue);
}

/// Issue 23: `sandbar venue check` against the Alpaca test server over TLS
/// — the account (alpaca-docs, trading-api `GET /v2/account`: `status`,
/// `trading_blocked`), and with `--place-test-order --price` a limit buy
/// far below the market placed under an `sb-check-` id and cancelled there;
/// wrong keys fail the first line with the venue's refusal, never the key.
#[test]
fn venue_check_at_alpaca_reads_the_account_and_places_and_cancels_a_test_order_over_tls() {
    let ca = sandbar_test_support::tls::TestCa::new();
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 200);
    let server =
        sandbar_test_support::alpaca::AlpacaServer::start_tls("BTC/USD", klines, 20.0, 1000, &ca);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sandbar.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \".\"\n[venues.ax]\nkind = \"alpaca\"\nrest_url = {:?}\nca_file = {:?}\n",
            server.rest_url,
            ca.ca_file()
        ),
    )
    .unwrap();
    let check = |secret: &str, extra: &[&str]| {
        let keys = [
            ("APCA_API_KEY_ID", sandbar_test_support::alpaca::KEY),
            ("APCA_API_SECRET_KEY", secret),
        ];
        venue_check(&config, "ax", "BTC/USD", keys, extra)
    };
    let out = check(
        sandbar_test_support::alpaca::SECRET,
        &["--place-test-order", "--price", "30000"],
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "ok    account                   status \"ACTIVE\", trading_blocked false",
        "ok    test order placed",
        "ok    test order cancelled",
        "ok    test order ended",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    let orders = server.trading().orders();
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert!(
        orders[0].client_order_id.starts_with("sb-check-"),
        "{orders:?}"
    );
    assert_eq!(
        (orders[0].kind.as_str(), orders[0].limit),
        ("limit", 30000.0)
    );
    assert_eq!(orders[0].status, "canceled");
    assert_eq!(orders[0].filled, 0.0);
    // Wrong keys: the first line fails with the venue's words, not the key.
    let out = check("not-the-secret", &[]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success(), "{text}");
    assert!(text.starts_with("FAIL"), "{text}");
    assert!(!text.contains("not-the-secret"), "{text}");
}

/// Webhook alerts of `rule`, as received so far.
fn hooks_of(received: &crate::alerts::Received, rule: &str) -> Vec<serde_json::Value> {
    received
        .hooks
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h["rule"] == rule)
        .cloned()
        .collect()
}

#[test]
fn repeated_venue_errors_warn_at_three_and_are_critical_past_five_and_a_dropped_stream_is_told() {
    // Issue 26, item 6 (the reference deployment guide: "≥ 3 errors warn,
    // > 5 critical"). Six orders the venue's LOT_SIZE refuses, a few bars
    // apart: each is an order error the courier reports.
    let (url, received, _rt) = crate::alerts::receivers();
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 3000);
    let server = sandbar_test_support::binance::BinanceServer::start("BTCUSDT", "1m", klines, 20.0);
    let mut script: Vec<String> = (0..6)
        .map(|i| format!("{} buy 0 0.000000001", 2 + 3 * i))
        .collect();
    // Then a real buy, ten seconds in: its execution is the event the
    // update stream drops on.
    script.push("200 buy 0 0.01".into());
    let (mut f, config) = live_deployment_of(
        &server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        &["--param", &format!("script={}", script.join("; "))],
        &format!(
            "[alerts]\ncooldown_secs = 900\n[[alerts.channels]]\nkind = \"webhook\"\nurl = \"{url}/hook\"\nmin_level = \"WARNING\"\n"
        ),
    );
    with_user_data_stream(&server, &config);
    f.serve(&config);
    f.wait("d", "the stream subscribed", |s| {
        s["venue"]["stream_up"] == true
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let errors = loop {
        let errors = hooks_of(&received, "errors");
        if errors.iter().any(|h| h["level"] == "CRITICAL") {
            break errors;
        }
        assert!(
            Instant::now() < deadline,
            "no CRITICAL errors alert: {:?}; status {}",
            received.hooks.lock().unwrap(),
            f.status("d")
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // Once at each level (a condition: the cooldown holds the repeats back).
    let levels: Vec<(&str, f64)> = errors
        .iter()
        .map(|h| (h["level"].as_str().unwrap(), h["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(levels, [("WARNING", 3.0), ("CRITICAL", 6.0)], "{errors:?}");
    let text = errors[1]["message"].as_str().unwrap();
    assert!(
        text.contains("6 venue errors at `bx` in the last 10 min") && text.contains("LOT_SIZE"),
        "{text}"
    );
    assert!(hooks_of(&received, "stream-down").is_empty());

    // The update stream drops at the buy's execution and cannot come back:
    // told once.
    let spot = server.spot();
    spot.faults.stream_down.store(true, Ordering::SeqCst);
    spot.faults.stream_drop_after.store(1, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    while hooks_of(&received, "stream-down").is_empty() {
        assert!(
            Instant::now() < deadline,
            "no stream-down alert; status {}",
            f.status("d")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let down = hooks_of(&received, "stream-down");
    assert_eq!(down.len(), 1, "{down:?}");
    assert_eq!(down[0]["level"], "WARNING");
    assert!(f.terminate().success());
}

/// Issue 23: Binance refuses a market order above `MARKET_LOT_SIZE`
/// `maxQty`, or above `NOTIONAL`'s `maxNotional` where `applyMaxToMarket`
/// (filters.md), so a flatten of a position larger than that goes out in
/// equal parts, each under it, and closes the position.
#[test]
fn a_flatten_larger_than_the_largest_market_order_goes_out_in_parts_that_close_the_position() {
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 3000);
    // Two buys of 0.04 (LIVE's first ramp-up step of 10%) under a largest
    // market order of 0.05 BTC, or of 2,200 USDT (0.05 BTC at 44,000).
    for (max_qty, max_notional) in [(Some(0.05), None), (None, Some(2_200.0))] {
        let (server, mut f, config) = scripted_on(&klines, "1 buy 0 0.4; 3 buy 0 0.4");
        *server.spot().market_max_qty.lock().unwrap() = max_qty;
        *server.spot().market_max_notional.lock().unwrap() = max_notional;
        f.serve(&config);
        let s = f.wait("d", "both buys booked", |s| held(s) > 0.079);
        let position = held(&s);
        assert!(position > 0.05, "larger than one market order: {s}");
        f.ok(&["deploy", "flatten", "d", "--reason", "out"]);
        let s = f.wait("d", "flat", |s| s["open_orders"] == 0 && held(s) < 0.00001);
        let sells: Vec<(String, f64, String)> = server
            .spot()
            .orders()
            .into_iter()
            .filter(|o| o.side == "SELL")
            .map(|o| (o.kind, o.quantity, o.status))
            .collect();
        assert_eq!(sells.len(), 2, "two parts: {sells:?}");
        for (kind, quantity, status) in &sells {
            assert_eq!((kind.as_str(), status.as_str()), ("MARKET", "FILLED"));
            assert!(*quantity <= 0.05, "{sells:?}");
        }
        assert!(f.terminate().success(), "{s}");
        assert_books_match_the_venue(&f, &server);
        assert_no_order_twice(&server);
    }
}
