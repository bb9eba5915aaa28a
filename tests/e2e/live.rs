//! LIVE deployments against a Binance spot test server on 127.0.0.1 (the
//! same server plays the kline feed and the exchange): signed orders that
//! the server verifies, fills booked from the venue's own trades, and the
//! failures a real venue produces — a lost response, "not found" right
//! after placement, 429s, a kill -9 while trading, fills while the host is
//! down, foreign orders and orders the journal does not know.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sandbar_test_support::binance::{BinanceServer, read_klines};
use sandbar_test_support::binance_spot::{API_KEY, API_SECRET};
use sandbar_test_support::shared_data;

use crate::service::Fixture;
use crate::util::*;

pub(crate) fn market(n: usize, bars_per_second: f64) -> BinanceServer {
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), n);
    BinanceServer::start("BTCUSDT", "1m", klines, bars_per_second)
}

/// sma-cross (3/8) on BTCUSDT promoted to LIVE (forced: the gates are
/// tested elsewhere), and a config sending its orders to the server.
fn live_deployment(server: &BinanceServer, orders: &str) -> (Fixture, PathBuf) {
    live_deployment_of(
        server,
        plugins::SMA_CROSS,
        "sma-cross@0.1.0",
        &["--param", "fast=3", "--param", "slow=8"],
        orders,
    )
}

/// `plugin` (`label`) with `params` on BTCUSDT, LIVE on the server.
pub(crate) fn live_deployment_of(
    server: &BinanceServer,
    plugin: &str,
    label: &str,
    params: &[&str],
    orders: &str,
) -> (Fixture, PathBuf) {
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugin]);
    let mut extra = params.to_vec();
    extra.extend(["--symbol", "BTCUSDT"]);
    f.paper("d", label, &extra);
    f.ok(&["deploy", "promote", "d", "--force", "--reason", "live test"]);
    let config = f.config(
        &format!(
            "[feeds.binance]\nkind = \"binance\"\nrest_url = {url:?}\nws_url = {ws:?}\n{COMPRESSED}\
             [venues.bx]\nkind = \"binance\"\nrest_url = {spot:?}\ntimeout_ms = 1000\n\
             [venues.bx.orders]\npoll_ms = 50\nnot_found_grace_ms = 600\n{orders}\n",
            url = server.rest_url,
            spot = format!("{}/spot", server.rest_url),
            ws = server.ws_url
        ),
        "[[deployments]]\nname = \"d\"\nfeed = \"binance\"\ninterval = \"1m\"\nstart = \"2024-01-01\"\nvenue = \"bx\"\n",
    );
    f.env = vec![
        ("BINANCE_API_KEY".into(), API_KEY.into()),
        ("BINANCE_API_SECRET".into(), API_SECRET.into()),
    ];
    // The scripts count bars: the run starts at the first, not behind a
    // backlog the fixture's setup let close (a cold compilation cache makes
    // it seconds long, and a burst of bars can supersede an order before it
    // leaves).
    server.restart_clock();
    (f, config)
}

pub(crate) fn journal(f: &Fixture) -> PathBuf {
    f.dir.path().join("journals/d-live.redb")
}

/// The journal's fills, by client order id suffix (order id), as
/// (quantity, price) in order.
pub(crate) fn journal_fills(entries: &[serde_json::Value]) -> HashMap<u64, Vec<(f64, f64)>> {
    let mut out: HashMap<u64, Vec<(f64, f64)>> = HashMap::new();
    for f in of_kind(entries, "fill") {
        let fill = &f["fill"];
        out.entry(fill["order_id"].as_u64().unwrap())
            .or_default()
            .push((
                fill["quantity"].as_f64().unwrap(),
                fill["price"].as_f64().unwrap(),
            ));
    }
    out
}

/// The server's trades, by the order id in the client order id.
pub(crate) fn venue_fills(server: &BinanceServer) -> HashMap<u64, Vec<(f64, f64)>> {
    let orders = server.spot().orders();
    let mut out: HashMap<u64, Vec<(f64, f64)>> = HashMap::new();
    for t in server.spot().trades() {
        let o = orders.iter().find(|o| o.order_id == t.order_id).unwrap();
        let id: u64 = o.client_id.rsplit('-').next().unwrap().parse().unwrap();
        // As the server writes them: eight decimals. A buy's fee is kept
        // out of the bitcoin bought: the books hold what the account got.
        let dec8 = |x: f64| format!("{x:.8}").parse::<f64>().unwrap();
        let kept = if t.side == "BUY" {
            dec8(t.commission)
        } else {
            0.0
        };
        out.entry(id)
            .or_default()
            .push((dec8(t.quantity) - kept, dec8(t.price)));
    }
    out
}

/// Take the bars of `config` from `feed` instead of `venue` (so the feed
/// can go while the venue stays).
pub(crate) fn feed_from(feed: &BinanceServer, venue: &BinanceServer, config: &std::path::Path) {
    let text = std::fs::read_to_string(config).unwrap().replacen(
        &format!(
            "[feeds.binance]\nkind = \"binance\"\nrest_url = {:?}\nws_url = {:?}",
            venue.rest_url, venue.ws_url
        ),
        &format!(
            "[feeds.binance]\nkind = \"binance\"\nrest_url = {:?}\nws_url = {:?}",
            feed.rest_url, feed.ws_url
        ),
        1,
    );
    std::fs::write(config, text).unwrap();
}

/// Give the venue of `config` the server's user data stream (the
/// WebSocket API), so pushes, not polls, tell of changes.
pub(crate) fn with_user_data_stream(server: &BinanceServer, config: &std::path::Path) {
    let ws_api = format!(
        "ws://{}/spot/ws-api/v3",
        server.rest_url.trim_start_matches("http://")
    );
    let text = std::fs::read_to_string(config).unwrap().replacen(
        "timeout_ms = 1000\n",
        &format!("timeout_ms = 1000\nws_api_url = {ws_api:?}\n"),
        1,
    );
    std::fs::write(config, text).unwrap();
}

/// A stop under every low of the first 200 bars of `klines`, and the
/// first bar after them that trades below it.
pub(crate) fn a_stop_reached_after_bar_200(
    klines: &[sandbar_test_support::binance::Kline],
) -> (f64, usize) {
    let floor = klines[..200]
        .iter()
        .map(|k| k.low)
        .fold(f64::INFINITY, f64::min);
    let stop = (floor - 1.0).floor();
    let reach = klines[200..]
        .iter()
        .position(|k| k.low < stop)
        .expect("the market goes lower later")
        + 200;
    (stop, reach)
}

/// A take-profit above every high of the first 200 bars and a stop below
/// every low until well after the target is reached: (target, stop, the
/// bar that reaches the target).
pub(crate) fn a_target_reached_after_bar_200(
    klines: &[sandbar_test_support::binance::Kline],
) -> (f64, f64, usize) {
    let ceiling = klines[..200].iter().map(|k| k.high).fold(0.0, f64::max);
    let target = (ceiling + 1.0).ceil();
    let reach = klines[200..]
        .iter()
        .position(|k| k.high >= target)
        .expect("the market goes higher later")
        + 200;
    let floor = klines[..reach + 20]
        .iter()
        .map(|k| k.low)
        .fold(f64::INFINITY, f64::min);
    (target, (floor - 1.0).floor(), reach)
}

/// The deployment's position in its first symbol, as status shows it.
pub(crate) fn held(s: &serde_json::Value) -> f64 {
    s["positions"]
        .as_array()
        .and_then(|p| p.first())
        .and_then(|p| p[1].as_f64())
        .unwrap_or(0.0)
}

/// Every client order id placed once: each sent once (the placements the
/// server received, recorded before any check), none refused as a
/// duplicate, none taken again after its order filled (a second order),
/// and every order at the venue under its own id.
pub(crate) fn assert_no_order_twice(server: &BinanceServer) {
    let spot = server.spot();
    let mut sent = std::collections::HashSet::new();
    for id in spot.attempts() {
        assert!(
            sent.insert(id.clone()),
            "{id} sent twice: {:?}",
            spot.attempts()
        );
    }
    assert_eq!(
        spot.duplicates.load(Ordering::SeqCst),
        0,
        "refused as duplicates"
    );
    assert_eq!(
        spot.reused.load(Ordering::SeqCst),
        0,
        "ids taken again after a fill"
    );
    let mut seen = std::collections::HashSet::new();
    for o in &spot.orders() {
        assert!(seen.insert(o.client_id.clone()), "{} twice", o.client_id);
    }
}

/// Stop, then compare the journal's fills with the venue's trades, order
/// by order, and the books with the account.
pub(crate) fn assert_books_match_the_venue(
    f: &Fixture,
    server: &BinanceServer,
) -> Vec<serde_json::Value> {
    let entries = journal_entries(&journal(f));
    let ours = journal_fills(&entries);
    let theirs = venue_fills(server);
    assert!(!theirs.is_empty(), "the venue filled orders");
    assert_eq!(ours, theirs, "the journal's fills are the venue's trades");
    let position: f64 = of_kind(&entries, "fill")
        .iter()
        .map(|f| {
            let q = f["fill"]["quantity"].as_f64().unwrap();
            if f["fill"]["side"] == "buy" { q } else { -q }
        })
        .sum();
    let (base, _) = server.spot().balances();
    eprintln!(
        "venue: {} orders, {} trades, {} placement requests; journal: {} orders, {} fills, {} venue notes; position {position}",
        server.spot().orders().len(),
        server.spot().trades().len(),
        server.spot().attempts().len(),
        of_kind(&entries, "order").len(),
        of_kind(&entries, "fill").len(),
        of_kind(&entries, "venue").len(),
    );
    assert!(
        (position - base).abs() < 1e-9,
        "journal position {position} vs the account's {base}"
    );
    entries
}

/// After the recording's last bar (`bars` of them): wait until the books
/// hold what the account holds, twice a second apart (every answer of the
/// venue booked), then stop the service cleanly.
pub(crate) fn settle_and_stop(
    f: &mut Fixture,
    bars: usize,
    account: impl Fn() -> f64,
) -> serde_json::Value {
    let s = settle(f, bars, account);
    assert!(f.terminate().success());
    s
}

/// Wait for `d`'s last bar and for its books to agree with the venue's
/// twice in a row (a minute at most); the service goes on.
pub(crate) fn settle(f: &mut Fixture, bars: usize, account: impl Fn() -> f64) -> serde_json::Value {
    f.wait("d", "the last bar", |s| {
        s["seq"].as_u64() >= Some(bars as u64)
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut agreed = 0;
    loop {
        let s = f.status("d");
        agreed = if (held(&s) - account()).abs() < 1e-9 {
            agreed + 1
        } else {
            0
        };
        // Past the deadline the caller's comparison says what differs.
        if agreed >= 2 || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_live_deployment_trades_on_the_venue_with_signed_orders_and_books_its_trades() {
    let server = market(800, 80.0);
    let (mut f, config) = live_deployment(&server, "");
    f.serve(&config);
    let s = f.wait("d", "trading", |s| s["orders"].as_u64() >= Some(6));
    assert_eq!(s["stage"], "LIVE", "{s}");
    assert_eq!(s["venue"]["name"], "bx", "{s}");
    // What the API and the metrics say, for the secret grep below.
    let http = sandbar::net::tls::Tls::webpki().http().build().unwrap();
    let mut answers = vec![s.to_string()];
    for path in [
        "/metrics",
        "/deployments",
        "/deployments/d",
        "/deployments/d/history",
    ] {
        let r = http
            .get(format!("{}{path}", f.url()))
            .bearer_auth(crate::service::TOKEN)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        answers.push(r.text().unwrap());
    }
    settle(&mut f, 800, || server.spot().balances().0);
    // Once the LIVE run has stopped, the API pages its own journal (not the
    // paper one, which this deployment never wrote).
    f.ok(&["deploy", "stop", "d"]);
    let page = http
        .get(format!("{}/deployments/d/journal?limit=10000", f.url()))
        .bearer_auth(crate::service::TOKEN)
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let served: Vec<serde_json::Value> = page
        .text()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["entry"].clone())
        .collect();
    assert!(f.terminate().success());
    assert_eq!(
        served,
        journal_entries(&journal(&f)),
        "the live journal, whole"
    );
    assert_eq!(
        server.spot().refused.load(Ordering::SeqCst),
        0,
        "every request signed"
    );
    assert_no_order_twice(&server);
    let entries = assert_books_match_the_venue(&f, &server);
    // Every placement names a journaled order, journaled before it was sent.
    let orders = of_kind(&entries, "order");
    for o in server.spot().orders() {
        let id: u64 = o.client_id.rsplit('-').next().unwrap().parse().unwrap();
        assert!(
            orders.iter().any(|j| j["order"]["id"] == id),
            "{}",
            o.client_id
        );
        assert!(o.client_id.starts_with("sb-") && o.client_id.len() <= 36);
    }
    // What the venue said is journaled, and a quantity sent is on the lot step.
    assert!(!of_kind(&entries, "venue").is_empty());
    for o in server.spot().orders() {
        let steps = o.quantity / 0.00001;
        assert!((steps - steps.round()).abs() < 1e-6, "{}", o.quantity);
    }
    // The secret appears nowhere: not in the journal, the log, the status.
    let log = std::fs::read_to_string(f.dir.path().join("serve.log")).unwrap_or_default();
    let exported = stdout(&sandbar(["journal".as_ref(), journal(&f).as_os_str()]));
    answers.extend([log, exported]);
    for text in &answers {
        assert!(!text.contains(API_SECRET), "the secret leaked: {text}");
    }
    // The key is no secret to the venue, but it is not ours to print either.
    assert!(!answers.iter().any(|t| t.contains(API_KEY)));
}

#[test]
fn a_wrong_secret_or_a_missing_credential_stops_the_start_naming_it() {
    let server = market(100, 10.0);
    let (mut f, config) = live_deployment(&server, "");
    f.env = vec![("BINANCE_API_KEY".into(), API_KEY.into())];
    let e = serve_refused_with(&config, &[("BINANCE_API_KEY", API_KEY)]);
    assert!(e.contains("BINANCE_API_SECRET"), "{e}");
    let e = serve_refused_with(
        &config,
        &[
            ("BINANCE_API_KEY", API_KEY),
            ("BINANCE_API_SECRET", "not-the-secret"),
        ],
    );
    assert!(e.contains("refused") && e.contains("-1022"), "{e}");
    assert!(!e.contains("not-the-secret"), "{e}");
    f.stop_serving();
}

#[test]
fn a_lost_response_and_not_found_after_placement_never_place_an_order_twice() {
    let server = market(800, 80.0);
    // Every placement's answer is lost (the client gives up after 1 s),
    // and the order is "not found" for 300 ms after it is placed.
    server
        .spot()
        .faults
        .accept_then_hang
        .store(3, Ordering::SeqCst);
    server.spot().faults.hang_ms.store(1500, Ordering::SeqCst);
    server
        .spot()
        .faults
        .hide_new_ms
        .store(300, Ordering::SeqCst);
    let (mut f, config) = live_deployment(&server, "");
    f.serve(&config);
    let s = f.wait("d", "orders after lost answers", |s| {
        s["venue"]["unknown"].as_u64() >= Some(3) && s["orders"].as_u64() >= Some(6)
    });
    settle_and_stop(&mut f, 800, || server.spot().balances().0);
    assert_no_order_twice(&server);
    assert_eq!(
        server.spot().duplicates.load(Ordering::SeqCst),
        0,
        "no resend of a placed order: {s}"
    );
    assert_books_match_the_venue(&f, &server);
}

#[test]
fn answers_of_minus_1007_and_429_are_waited_out_and_looked_up() {
    let server = market(800, 80.0);
    server
        .spot()
        .faults
        .accept_then_1007
        .store(2, Ordering::SeqCst);
    server.spot().faults.partial.store(true, Ordering::SeqCst);
    // The exchange's clock runs 90 s ahead of ours (recvWindow is 5 s).
    server.spot().faults.skew_ms.store(90_000, Ordering::SeqCst);
    let (mut f, config) = live_deployment(&server, "");
    f.serve(&config);
    f.wait("d", "trading", |s| s["venue"]["placed"].as_u64() >= Some(3));
    server.spot().faults.too_many.store(3, Ordering::SeqCst);
    f.wait("d", "trading past the 429s", |s| {
        s["venue"]["placed"].as_u64() >= Some(8) && s["venue"]["retries"].as_u64() >= Some(1)
    });
    assert_eq!(server.spot().faults.too_many.load(Ordering::SeqCst), 0);
    // Waited out: no signed request came before a 429's Retry-After (1 s)
    // had passed (a blind resend would).
    assert_eq!(
        server.spot().during_retry_after.load(Ordering::SeqCst),
        0,
        "requests sent inside a 429's Retry-After"
    );
    // Then it jumps back two minutes: -1021 once, the offset measured again.
    server
        .spot()
        .faults
        .skew_ms
        .store(-30_000, Ordering::SeqCst);
    let placed = f.status("d")["venue"]["placed"].as_u64().unwrap();
    f.wait("d", "trading after the jump", |s| {
        s["venue"]["placed"].as_u64() >= Some(placed + 3)
    });
    settle_and_stop(&mut f, 800, || server.spot().balances().0);
    assert_no_order_twice(&server);
    let entries = assert_books_match_the_venue(&f, &server);
    // Partial fills: market orders in two trades each, both booked.
    let fills = journal_fills(&entries);
    assert!(fills.values().any(|v| v.len() == 2), "{fills:?}");
}

#[test]
fn killed_while_trading_it_comes_back_with_every_fill_and_no_order_twice() {
    let server = market(1600, 80.0);
    let (mut f, config) = live_deployment(&server, "");
    let mut kills = 0;
    while kills < 6 {
        f.serve(&config);
        std::thread::sleep(Duration::from_millis(700 + 300 * (kills % 3)));
        f.stop_serving(); // SIGKILL
        kills += 1;
        // Down for a while: the venue's clock goes on.
        std::thread::sleep(Duration::from_millis(200));
    }
    f.serve(&config);
    settle_and_stop(&mut f, 1600, || server.spot().balances().0);
    assert_no_order_twice(&server);
    assert_eq!(server.spot().duplicates.load(Ordering::SeqCst), 0);
    assert_books_match_the_venue(&f, &server);
}

#[test]
fn foreign_orders_are_left_alone_and_unknown_ones_of_the_run_halt_it_until_reconciled() {
    let server = market(3000, 40.0);
    server.spot().place_foreign("web_manual_1", 0.001, 30_000.0);
    let (mut f, config) = live_deployment(&server, "");
    f.serve(&config);
    f.wait("d", "trading", |s| s["venue"]["placed"].as_u64() >= Some(2));
    assert!(f.terminate().success());
    let foreign = server.spot().orders();
    assert_eq!(foreign[0].status, "NEW", "the foreign order is untouched");
    // An order in the run's name the journal never wrote.
    let stray = format!("{}999999", run_prefix(&server));
    server.spot().place_foreign(&stray, 0.001, 30_000.0);
    let e = serve_refused(&config);
    assert!(
        e.contains("HALTED by reconciliation") && e.contains(&stray),
        "{e}"
    );
    // Still refused until an operator resolves it, even with the order gone.
    let trail = f.ok(&["deploy", "show", "d"]);
    assert!(trail.contains("reconcile-mismatch"), "{trail}");
    let out = f.cmd(&[
        "deploy",
        "reconcile",
        "d",
        "--config",
        config.to_str().unwrap(),
        "--flatten",
    ]);
    assert!(!out.status.success(), "a reason is required");
    f.env = vec![
        ("BINANCE_API_KEY".into(), API_KEY.into()),
        ("BINANCE_API_SECRET".into(), API_SECRET.into()),
    ];
    let out = f.cmd(&[
        "deploy",
        "reconcile",
        "d",
        "--config",
        config.to_str().unwrap(),
        "--flatten",
        "--reason",
        "stray order from the old host",
    ]);
    ok(&out);
    assert!(stdout(&out).contains(&stray), "{}", stdout(&out));
    let stray_now = server
        .spot()
        .orders()
        .into_iter()
        .find(|o| o.client_id == stray)
        .unwrap();
    assert_eq!(stray_now.status, "CANCELED");
    f.serve(&config);
    f.wait("d", "trading again", |s| {
        s["running"] == true && s["seq"].as_u64() > Some(10)
    });
    assert!(f.terminate().success());
    let trail = f.ok(&["deploy", "show", "d"]);
    assert!(trail.contains("reconcile-resolved"), "{trail}");
}

#[test]
fn a_limit_order_that_fills_while_the_host_is_down_is_adopted_once_at_restart() {
    const RATE: f64 = 20.0;
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 3000);
    // A limit buy placed on the 6th bar at a price the market reaches
    // only after bar 200: below every low before it.
    let floor = klines[..200]
        .iter()
        .map(|k| k.low)
        .fold(f64::INFINITY, f64::min);
    let reach = klines[200..]
        .iter()
        .position(|k| k.low < floor - 1.0)
        .expect("the market goes lower later")
        + 200;
    let price = (floor - 1.0).floor();
    let server = BinanceServer::start("BTCUSDT", "1m", klines, RATE);
    // 0.1 asked: 0.01 in the first week of the ramp-up.
    let script = format!("script=5 limit-buy 0 0.1 {price}");
    let (mut f, config) = live_deployment_of(
        &server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        &["--param", &script],
        "",
    );
    f.serve(&config);
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.spot().orders().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the order never reached the venue: {} {}",
            f.status("d"),
            std::fs::read_to_string(f.dir.path().join("serve.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    f.stop_serving(); // SIGKILL, the order resting at the venue
    let order = server.spot().orders()[0].clone();
    assert_eq!(order.status, "NEW", "not filled yet when the host died");
    // The venue fills it while the host is down.
    server.wait_closed(reach + 5);
    server.settle();
    assert_eq!(server.spot().orders()[0].status, "FILLED");
    f.serve(&config);
    // 0.01 bought, its fee of 0.00001 BTC kept by the venue.
    let s = f.wait("d", "the fill adopted", |s| {
        s["positions"][0][1].as_f64() == Some(0.01 - 0.00001)
    });
    assert!(f.terminate().success());
    assert_eq!(
        server.spot().attempts(),
        vec![order.client_id.clone()],
        "placed once, never resent: {s}"
    );
    let entries = assert_books_match_the_venue(&f, &server);
    // Booked at the restart's first look at the venue, before the first
    // new bar: right after the bars journaled before the kill.
    let show = f.ok(&["deploy", "show", "d"]);
    let recovered: u64 = show
        .split("recovering ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{show}"));
    let fill = of_kind(&entries, "fill")[0];
    assert_eq!(fill["seq"].as_u64(), Some(recovered), "{fill}");
    assert!((recovered as usize) < reach);
}

pub(crate) mod alpaca {
    //! The same pipeline on Alpaca: key headers, JSON orders with a client
    //! order id, fills from the account's activities, the minute's rate
    //! limit, and the failures above.
    use super::*;
    use sandbar_test_support::alpaca::{AlpacaServer, KEY, SECRET};

    fn deployment(server: &AlpacaServer) -> (Fixture, PathBuf) {
        deployment_of(
            server,
            plugins::SMA_CROSS,
            "sma-cross@0.1.0",
            &["--param", "fast=3", "--param", "slow=8"],
            "",
            "",
        )
    }

    /// A LIVE deployment of `plugin` on SPY; `venue` and `orders` are
    /// extra keys of `[venues.ax]` and `[venues.ax.orders]`.
    pub(crate) fn deployment_of(
        server: &AlpacaServer,
        plugin: &str,
        label: &str,
        params: &[&str],
        venue: &str,
        orders: &str,
    ) -> (Fixture, PathBuf) {
        deployment_with(server, plugin, label, params, venue, orders, "")
    }

    /// The same, with `deployment` appended to its `[[deployments]]` entry.
    fn deployment_with(
        server: &AlpacaServer,
        plugin: &str,
        label: &str,
        params: &[&str],
        venue: &str,
        orders: &str,
        deployment: &str,
    ) -> (Fixture, PathBuf) {
        let mut f = Fixture::new();
        f.ok(&["plugin", "add", plugin]);
        let mut extra = params.to_vec();
        extra.extend(["--symbol", "SPY"]);
        f.paper("d", label, &extra);
        f.ok(&["deploy", "promote", "d", "--force", "--reason", "live test"]);
        let config = f.config(
            &format!(
                "[feeds.alpaca]\nkind = \"alpaca\"\nrest_url = {url:?}\nws_url = {ws:?}\n{COMPRESSED}\
                 [venues.ax]\nkind = \"alpaca\"\nrest_url = {url:?}\ntimeout_ms = 1000\n{venue}\
                 [venues.ax.orders]\npoll_ms = 50\nnot_found_grace_ms = 600\n{orders}",
                url = server.rest_url,
                ws = server.ws_url
            ),
            &format!("[[deployments]]\nname = \"d\"\nfeed = \"alpaca\"\ninterval = \"1m\"\nstart = \"2024-01-01\"\nvenue = \"ax\"\n{deployment}"),
        );
        f.env = vec![
            ("APCA_API_KEY_ID".into(), KEY.into()),
            ("APCA_API_SECRET_KEY".into(), SECRET.into()),
        ];
        server.restart_clock();
        (f, config)
    }

    #[test]
    fn a_us_equity_deployment_trades_only_in_new_yorks_session_from_alpacas_calendar() {
        // BTC minutes served as SPY from 2024-01-01 00:00Z: New Year's Day
        // is a holiday; 2024-01-02 trades 09:30–16:00 New York, 14:30Z to
        // 21:00Z. The strategy crosses its averages at every hour.
        let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 2_900);
        let server = AlpacaServer::start("SPY", klines, 400.0, 1000);
        let t = server.trading();
        let (mut f, config) = deployment_with(
            &server,
            plugins::SMA_CROSS,
            "sma-cross@0.1.0",
            &["--param", "fast=3", "--param", "slow=8"],
            "",
            "",
            "[deployments.session]\ntimezone = \"America/New_York\"\ncalendar = \"venue\"\n",
        );
        f.serve(&config);
        settle_and_stop(&mut f, 2_900, || t.position());
        assert_eq!(
            *t.calendar_asks.lock().unwrap(),
            vec![format!(
                "{:?}-{:?}",
                Some("2023-12-22"),
                Some(&day_in_a_year())
            )],
            "the calendar is asked once, from ten days before the first bar"
        );
        let entries = journal_entries(&journal(&f));
        let decided: Vec<i64> = of_kind(&entries, "order")
            .iter()
            .filter(|o| o["order"]["origin"] == "strategy")
            .map(|o| o["order"]["decided_ms"].as_i64().unwrap())
            .collect();
        assert!(decided.len() >= 4, "it traded in the session: {decided:?}");
        let (open, close) = (1_704_205_800_000, 1_704_229_200_000); // 14:30Z, 21:00Z
        for d in &decided {
            assert!(
                *d >= open && d + 60_000 < close,
                "an order decided on the bar opening at {d}, outside 2024-01-02's session"
            );
        }
    }

    #[test]
    fn a_paper_deployment_on_alpacas_paper_account_trades_there_and_its_evidence_says_so() {
        let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 1200);
        let server = AlpacaServer::start("SPY", klines, 80.0, 1000);
        let t = server.trading();
        let mut f = Fixture::new();
        f.ok(&["plugin", "add", plugins::SMA_CROSS]);
        let extra = ["--param", "fast=3", "--param", "slow=8", "--symbol", "SPY"];
        f.paper("d", "sma-cross@0.1.0", &extra);
        let config = f.config(
            &format!(
                "[feeds.alpaca]\nkind = \"alpaca\"\nrest_url = {url:?}\nws_url = {ws:?}\n{COMPRESSED}\
                 [venues.ax]\nkind = \"alpaca\"\nrest_url = {url:?}\ntimeout_ms = 1000\npaper = true\n\
                 [venues.ax.orders]\npoll_ms = 50\nnot_found_grace_ms = 600\n",
                url = server.rest_url,
                ws = server.ws_url
            ),
            "[[deployments]]\nname = \"d\"\nfeed = \"alpaca\"\ninterval = \"1m\"\nstart = \"2024-01-01\"\npaper_venue = \"ax\"\n",
        );
        f.env = vec![
            ("APCA_API_KEY_ID".into(), KEY.into()),
            ("APCA_API_SECRET_KEY".into(), SECRET.into()),
        ];
        server.restart_clock();
        f.serve(&config);
        settle_and_stop(&mut f, 1200, || t.position());
        // Its orders went to the paper account, journaled in its PAPER journal.
        assert!(t.orders().len() >= 3, "{}", t.orders().len());
        let journals = f.dir.path().join("journals");
        assert!(!journals.join("d-live.redb").exists());
        let entries = journal_entries(&journals.join("d.redb"));
        let position: f64 = of_kind(&entries, "fill")
            .iter()
            .map(|f| {
                let q = f["fill"]["quantity"].as_f64().unwrap();
                if f["fill"]["side"] == "buy" { q } else { -q }
            })
            .sum();
        assert!(
            (position - t.position()).abs() < 1e-6,
            "{position} vs {}",
            t.position()
        );
        // Its evidence names the paper account, and a gate that asks for one passes.
        let show = f.ok(&["deploy", "show", "d"]);
        assert!(show.contains("on venue ax's paper account"), "{show}");
        let gates = f.dir.path().join("gates.toml");
        std::fs::write(&gates, "paper_on_broker = true\n").unwrap();
        let g = gates.to_str().unwrap();
        let gate = stderr(&f.cmd(&["deploy", "promote", "d", "--gates", g]));
        assert!(
            gate.contains("[pass] paper on a broker's paper account"),
            "{gate}"
        );
    }

    #[test]
    fn alpacas_calendar_is_saved_to_a_file_a_session_reads() {
        let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 10);
        let server = AlpacaServer::start("SPY", klines, 1.0, 1000);
        let (f, config) = deployment(&server);
        let out = f.dir.path().join("nyse.json");
        let cfg = config.to_str().unwrap();
        let o = out.to_str().unwrap();
        let calendar = |from: &str| {
            std::process::Command::new(SANDBAR)
                .args(["venue", "calendar", "ax", "--config", cfg, "--from", from])
                .args(["--to", "2024-12-03", "--out", o])
                .envs([("APCA_API_KEY_ID", KEY), ("APCA_API_SECRET_KEY", SECRET)])
                .output()
                .unwrap()
        };
        let said = calendar("2024-11-25");
        assert!(said.status.success(), "{}", stderr(&said));
        assert!(stdout(&said).contains("6 market days"), "{}", stdout(&said));
        let text = std::fs::read_to_string(&out).unwrap();
        let session = sandbar::session::Calendar::from_alpaca_json(&text, o).unwrap();
        assert_eq!(session.len(), 6, "what a session reads");
        let days: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        let listed: Vec<(&str, &str)> = days
            .iter()
            .map(|d| (d["date"].as_str().unwrap(), d["close"].as_str().unwrap()))
            .collect();
        assert_eq!(
            listed,
            vec![
                ("2024-11-25", "16:00"),
                ("2024-11-26", "16:00"),
                ("2024-11-27", "16:00"),
                ("2024-11-29", "13:00"),
                ("2024-12-02", "16:00"),
                ("2024-12-03", "16:00"),
            ]
        );
        assert_eq!(
            *server.trading().calendar_asks.lock().unwrap(),
            vec![format!("{:?}-{:?}", Some("2024-11-25"), Some("2024-12-03"))]
        );
        // A day that is not a date is refused before anything is asked.
        let bad = calendar("2024-11-5");
        assert!(!bad.status.success() && stderr(&bad).contains("--from \"2024-11-5\""));
    }

    /// The last day a deployment starting now asks Alpaca's calendar for.
    fn day_in_a_year() -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let days = (now + 366 * 86_400_000).div_euclid(86_400_000);
        sandbar::market::format_time(days * 86_400_000)
    }

    #[test]
    fn a_positions_stop_rests_at_alpaca_and_fills_there_while_the_host_is_dead() {
        let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 3000);
        let (stop, reach) = a_stop_reached_after_bar_200(&klines);
        let server = AlpacaServer::start("SPY", klines, 20.0, 1000);
        let t = server.trading();
        let (mut f, config) = deployment_of(
            &server,
            plugins::SCRIPTED,
            "scripted@0.1.0",
            &["--param", &format!("script=2 buy 0 0.1 sl={stop}")],
            "",
            "",
        );
        server.restart_clock();
        f.serve(&config);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !t.orders().iter().any(|o| o.kind == "stop") {
            assert!(
                Instant::now() < deadline,
                "no stop at the venue: {:?}",
                t.orders()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let resting = t.orders().into_iter().find(|o| o.kind == "stop").unwrap();
        assert_eq!((resting.side.as_str(), resting.stop), ("sell", stop));
        f.stop_serving(); // SIGKILL
        while server.closed() < reach + 5 {
            std::thread::sleep(Duration::from_millis(20));
        }
        server.settle();
        let fired = t.orders().into_iter().find(|o| o.kind == "stop").unwrap();
        assert_eq!(
            fired.status, "filled",
            "the stop fired at the venue, the host dead"
        );
        assert!(t.position().abs() < 1e-9);
        f.serve(&config);
        let s = f.wait("d", "the stop's fill adopted", |s| {
            s["open_orders"] == 0 && held(s) == 0.0
        });
        assert!(f.terminate().success(), "{s}");
        let attempts = t.attempts();
        assert_eq!(
            attempts.len(),
            2,
            "the buy and its stop, each once: {attempts:?}"
        );
    }

    #[test]
    fn a_positions_stop_and_take_profit_rest_as_one_oco_at_alpaca_and_the_target_fills_there_while_the_host_is_dead()
     {
        let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 3000);
        let (target, stop, reach) = a_target_reached_after_bar_200(&klines);
        let server = AlpacaServer::start("SPY", klines, 20.0, 1000);
        let t = server.trading();
        // One whole share (10 at LIVE's first ramp-up step of 10%):
        // Alpaca's OCO orders are not fractional.
        let script = format!("script=2 buy 0 10 sl={stop} tp={target}");
        let (mut f, config) = deployment_of(
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
        let oco = |t: &sandbar_test_support::alpaca_trading::Trading| -> Vec<_> {
            t.orders()
                .into_iter()
                .filter(|o| o.order_class == "oco")
                .collect()
        };
        let legs = loop {
            let legs = oco(t);
            if legs.len() == 2 {
                break legs;
            }
            assert!(
                Instant::now() < deadline,
                "no OCO at the venue: {:?} {}",
                t.orders(),
                f.status("d")
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let shape: Vec<(&str, &str, f64, f64, f64, bool)> = legs
            .iter()
            .map(|o| {
                let leg = o.parent.is_some();
                (
                    o.side.as_str(),
                    o.kind.as_str(),
                    o.limit,
                    o.stop,
                    o.qty,
                    leg,
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("sell", "limit", target, 0.0, 1.0, false),
                ("sell", "stop", 0.0, stop, 1.0, true)
            ],
            "the take-profit the parent, the stop its leg"
        );
        assert!(legs[0].client_order_id.starts_with("sb-"), "{legs:?}");
        // Killed and back while the OCO rests: the stop is found again
        // through its OCO (its leg has no client order id of ours), not
        // taken for an order whose fate is unknown.
        f.stop_serving(); // SIGKILL
        f.serve(&config);
        let s = f.wait("d", "recovered, and polling past the grace period", |s| {
            s["recovering"] == false && s["venue"]["queries"].as_u64() > Some(30)
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
                &serde_json::json!(2)
            ),
            "{s}"
        );
        assert!(
            server.closed() < reach,
            "the market reached the target too soon"
        );
        f.stop_serving(); // SIGKILL
        while server.closed() < reach + 5 {
            std::thread::sleep(Duration::from_millis(20));
        }
        server.settle();
        let after: Vec<String> = oco(t).into_iter().map(|o| o.status).collect();
        assert_eq!(
            after,
            ["filled", "canceled"],
            "the take-profit filled at the venue with the host dead; the stop went with it"
        );
        assert!(t.position().abs() < 1e-9);
        // Back up: the target's fill is booked and the stop's end adopted,
        // the stop found again through its OCO.
        f.serve(&config);
        let s = f.wait("d", "the take-profit's fill adopted", |s| {
            s["open_orders"] == 0 && held(s) == 0.0
        });
        assert!(f.terminate().success(), "{s}");
        let attempts = t.attempts();
        assert_eq!(
            attempts.len(),
            2,
            "the buy and the OCO, each once: {attempts:?}"
        );
        let entries = journal_entries(&journal(&f));
        let fills = journal_fills(&entries);
        assert!(
            fills.values().flatten().any(|(_, price)| *price == target),
            "booked at the take-profit's price: {fills:?}"
        );
    }

    /// `serve` with the fixture's credentials, its deployment expected to
    /// refuse to start: what it says.
    fn refused(f: &Fixture, config: &std::path::Path) -> String {
        let env: Vec<(&str, &str)> = f
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        super::serve_refused_with(config, &env)
    }

    #[test]
    fn an_order_of_the_run_behind_500_open_orders_is_found_at_start() {
        // Alpaca lists at most 500 orders a request, newest first unless
        // asked: an order in the run's name that the journal never wrote,
        // older than 510 open orders of someone else, is on no first page.
        let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 3000);
        let first = klines[0].open_time;
        let server = AlpacaServer::start("SPY", klines, 40.0, 1000);
        let t = server.trading();
        let (mut f, config) = deployment(&server);
        f.serve(&config);
        f.wait("d", "an order", |s| {
            s["venue"]["placed"].as_u64() >= Some(1)
        });
        assert!(f.terminate().success());
        let ours = t
            .orders()
            .into_iter()
            .find(|o| o.client_order_id.starts_with("sb-"))
            .unwrap()
            .client_order_id;
        let prefix = &ours[..ours.rfind('-').unwrap() + 1];
        t.foreign_open_orders(&format!("{prefix}99999"), 1, first - 120_000);
        t.foreign_open_orders("web-", 510, first - 60_000);
        let e = refused(&f, &config);
        assert!(
            e.contains("HALTED by reconciliation") && e.contains(&format!("{prefix}999990")),
            "{e}"
        );
    }

    #[test]
    fn fills_past_the_first_page_of_activities_are_booked() {
        // 150 fills of someone else's order listed before ours and not
        // filtered out by time (the venue's clock runs ahead with the
        // klines, so they carry the recording's last time): Alpaca lists at
        // most 100 activities a page, so ours is on the second.
        let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 600);
        let server = AlpacaServer::start("SPY", klines.clone(), 40.0, 1000);
        let t = server.trading();
        t.earlier_fills(150, klines[599].open_time);
        let (mut f, config) = deployment_of(
            &server,
            plugins::SCRIPTED,
            "scripted@0.1.0",
            &["--param", "script=1 buy 0 10"],
            "",
            "",
        );
        let earlier = t.position();
        f.serve(&config);
        let s = f.wait("d", "the buy booked", |s| held(s) > 0.0);
        assert_eq!(s["open_orders"], 0, "the order ended: {s}");
        let ours: Vec<_> = t
            .fills()
            .into_iter()
            .filter(|a| a.order_id != "someone-else")
            .collect();
        let venue: f64 = ours.iter().map(|a| a.qty).sum();
        assert!(venue > 0.0);
        assert!((held(&s) - venue).abs() < 1e-9, "{s}");
        assert!((t.position() - earlier - venue).abs() < 1e-9);
        f.stop_serving();
    }

    #[test]
    fn a_live_deployment_trades_on_alpaca_through_lost_answers_500s_and_the_rate_limit() {
        let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 1200);
        let server = AlpacaServer::start("SPY", klines, 80.0, 1000);
        let t = server.trading();
        t.faults.accept_then_hang.store(2, Ordering::SeqCst);
        t.faults.hang_ms.store(1500, Ordering::SeqCst);
        t.faults.accept_then_500.store(2, Ordering::SeqCst);
        t.faults.hide_new_ms.store(300, Ordering::SeqCst);
        t.faults.exhausted.store(2, Ordering::SeqCst);
        let (mut f, config) = deployment(&server);
        // Trading, killed twice along the way.
        for _ in 0..2 {
            f.serve(&config);
            f.wait("d", "orders", |s| s["venue"]["placed"].as_u64() >= Some(3));
            f.stop_serving();
        }
        f.serve(&config);
        let s = settle_and_stop(&mut f, 1200, || t.position());
        // Every fault was met along the way.
        for (what, c) in [
            ("lost answers", &t.faults.accept_then_hang),
            ("500s", &t.faults.accept_then_500),
            ("429s", &t.faults.exhausted),
        ] {
            assert_eq!(c.load(Ordering::SeqCst), 0, "{what} left");
        }
        assert_eq!(
            t.refused.load(Ordering::SeqCst),
            0,
            "every request carried the key"
        );
        assert_eq!(
            t.duplicates.load(Ordering::SeqCst),
            0,
            "nothing resent: {s}"
        );
        let orders = t.orders();
        let mut seen = std::collections::HashSet::new();
        for o in &orders {
            assert!(
                seen.insert(o.client_order_id.clone()),
                "twice: {}",
                o.client_order_id
            );
        }
        // The journal's fills are the account's fills, order by order.
        let entries = journal_entries(&journal(&f));
        let ours = journal_fills(&entries);
        let mut theirs: HashMap<u64, Vec<(f64, f64)>> = HashMap::new();
        for a in t.fills() {
            let o = orders.iter().find(|o| o.id == a.order_id).unwrap();
            let id: u64 = o
                .client_order_id
                .rsplit('-')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            theirs.entry(id).or_default().push((a.qty, a.price));
        }
        assert!(!theirs.is_empty());
        assert_eq!(ours, theirs);
        let position: f64 = of_kind(&entries, "fill")
            .iter()
            .map(|f| {
                let q = f["fill"]["quantity"].as_f64().unwrap();
                if f["fill"]["side"] == "buy" { q } else { -q }
            })
            .sum();
        assert!(
            (position - t.position()).abs() < 1e-6,
            "{position} vs {}",
            t.position()
        );
        let log = std::fs::read_to_string(f.dir.path().join("serve.log")).unwrap_or_default();
        assert!(!log.contains(SECRET) && !s.to_string().contains(SECRET));
    }

    #[test]
    fn alpaca_fills_are_booked_from_trade_updates_and_polling_covers_its_disconnects() {
        let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 1200);
        let limit = |bar: usize| (klines[bar].close * 1.002 * 100.0).round() / 100.0;
        let script = format!(
            "script=3 limit-buy 0 1 {}; 60 limit-buy 0 1 {}",
            limit(3),
            limit(60)
        );
        let server = AlpacaServer::start("SPY", klines, 20.0, 1000);
        let t = server.trading();
        let (mut f, config) = deployment_of(
            &server,
            plugins::SCRIPTED,
            "scripted@0.1.0",
            &["--param", &script],
            &format!(
                "stream_url = \"ws://{}/stream\"\n",
                server.rest_url.trim_start_matches("http://")
            ),
            "stream_poll_ms = 60000\n",
        );
        f.serve(&config);
        f.wait("d", "listening", |s| s["venue"]["stream_up"] == true);
        let s = f.wait("d", "the first limit filled", |s| held(s) > 0.0);
        let one = held(&s);
        assert!(s["venue"]["pushed"].as_u64() >= Some(1), "{s}");
        // The stream drops and stays down: polling at poll_ms books the next.
        t.faults.stream_drop_after.store(1, Ordering::SeqCst);
        t.faults.stream_down.store(true, Ordering::SeqCst);
        f.wait("d", "the stream down", |s| s["venue"]["stream_up"] == false);
        f.wait("d", "the second limit filled, by polling", |s| {
            held(s) > one * 1.5
        });
        t.faults.stream_drop_after.store(0, Ordering::SeqCst);
        t.faults.stream_down.store(false, Ordering::SeqCst);
        f.wait("d", "listening again", |s| {
            s["venue"]["stream_up"] == true && s["venue"]["stream_connects"].as_u64() >= Some(2)
        });
        assert_eq!(t.refused.load(Ordering::SeqCst), 0);
        assert!(t.stream_connections.load(Ordering::SeqCst) >= 2);
        let s = settle_and_stop(&mut f, 100, || t.position());
        assert!((held(&s) - t.position()).abs() < 1e-9, "{s}");
        assert_eq!(t.duplicates.load(Ordering::SeqCst), 0);
        let log = std::fs::read_to_string(f.dir.path().join("serve.log")).unwrap_or_default();
        assert!(!log.contains(SECRET), "the secret is never logged");
    }
}

#[test]
fn the_kill_switch_cancels_and_flattens_a_live_deployment_at_the_venue_while_its_feed_is_down() {
    // The feed from one server, the venue on another: the feed can die alone.
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 3000);
    // Five bars a second: the limit buy of bar 40 comes 8 s after the
    // market buy of bar 1, which has filled by then however loaded the
    // machine (a new intent supersedes an order still open).
    let feed = BinanceServer::start("BTCUSDT", "1m", klines.clone(), 5.0);
    let venue = BinanceServer::start("BTCUSDT", "1m", klines, 5.0);
    let (feed_rest, feed_ws) = (feed.rest_url.clone(), feed.ws_url.clone());
    // A position (a market buy), then a limit buy far below the market,
    // resting at the venue.
    let (mut f, config) = live_deployment_of(
        &venue,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        &["--param", "script=1 buy 0 0.02; 40 limit-buy 0 0.01 20000"],
        "",
    );
    feed.restart_clock();
    let (base_before, _) = venue.spot().balances();
    feed_from(&feed, &venue, &config);
    f.serve(&config);
    let deadline = Instant::now() + Duration::from_secs(30);
    while venue.spot().orders().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no order at the venue: {}",
            f.status("d")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(feed); // the feed is gone: no bar will come
    std::thread::sleep(Duration::from_millis(300));
    let seq = f.status("d")["seq"].as_u64().unwrap();
    let out = std::process::Command::new(SANDBAR)
        .args([
            "kill",
            "--server",
            &f.url(),
            "--reason",
            "venue incident drill",
        ])
        .env("SANDBAR_TOKEN", crate::service::TOKEN)
        .output()
        .unwrap();
    ok(&out);
    let deadline = Instant::now() + Duration::from_secs(10);
    while venue.spot().orders()[1].status != "CANCELED" {
        assert!(
            Instant::now() < deadline,
            "the resting order was not cancelled"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Booked without a bar: the engine heard the cancellation and closed
    // the position with a market sell the venue filled. The buy's fee was
    // kept in bitcoin (0.002 bought, 0.001998 held) and the sell goes at
    // the lot step (0.00199): 0.000008 BTC of dust stays, below the
    // smallest lot, in the books as at the venue.
    let s = f.wait("d", "the cancellation and the close booked", |s| {
        s["open_orders"] == 0 && held(s) < 0.00001
    });
    assert_eq!(s["seq"].as_u64(), Some(seq), "no bar came: {s}");
    let (base_after, _) = venue.spot().balances();
    assert!(
        (base_after - base_before - held(&s)).abs() < 1e-9,
        "the account holds {base_after} BTC, {base_before} before the buy; the books {s}"
    );
    let orders = venue.spot().orders();
    assert_eq!(orders.len(), 3, "{orders:?}");
    assert_eq!(
        (orders[2].side.as_str(), orders[2].kind.as_str()),
        ("SELL", "MARKET")
    );
    assert!(f.terminate().success());
    let entries = journal_entries(&journal(&f));
    let cancels = of_kind(&entries, "cancel");
    assert_eq!(
        cancels.iter().filter(|c| c["order_id"] == 2).count(),
        1,
        "{cancels:?}"
    );
    let kills = of_kind(&entries, "kill");
    assert_eq!(kills.len(), 1, "{kills:?}");
    assert_eq!(kills[0]["seq"].as_u64(), Some(seq));
    assert_eq!(kills[0]["reason"], "venue incident drill");
    let closing = &of_kind(&entries, "order")[2]["order"];
    assert_eq!(closing["origin"], "risk-flatten", "{closing}");
    // Paused by the kill switch, audited.
    assert_eq!(s["stage"], "PAUSED", "{s}");
    let show = f.ok(&["deploy", "show", "d"]);
    assert!(show.contains("kill switch: venue incident drill"), "{show}");
    // A restart re-executes the kill where it happened: nothing sent again.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&feed_rest, &venue.rest_url)
        .replace(&feed_ws, &venue.ws_url);
    std::fs::write(&config, text).unwrap();
    f.serve(&config);
    let s = f.wait("d", "bars after the restart", |s| {
        s["seq"].as_u64() > Some(seq + 2)
    });
    assert!(s["ended"].is_null(), "{s}");
    assert_eq!(venue.spot().orders().len(), 3, "nothing sent again");
    assert!(f.terminate().success());
    let again = journal_entries(&journal(&f));
    assert_eq!(of_kind(&again, "kill").len(), 1);
    assert_eq!(
        &again[..entries.len()],
        &entries[..],
        "re-executed as journaled"
    );
}

#[test]
fn a_new_live_run_trades_a_tenth_of_what_it_asks_in_its_first_week() {
    let server = market(400, 40.0);
    // Half its capital in BTC on the 6th bar.
    let (mut f, config) = live_deployment_of(
        &server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        &["--param", "script=5 weight 0 0.5"],
        "",
    );
    f.serve(&config);
    let s = f.wait("d", "the order filled", |s| {
        !s["positions"].as_array().unwrap().is_empty()
    });
    assert_eq!(s["ramp_up"].as_f64(), Some(0.1), "{s}");
    assert!(f.terminate().success());
    let entries = journal_entries(&journal(&f));
    let order = &of_kind(&entries, "order")[0]["order"];
    let intent = of_kind(&entries, "intent")[0];
    let seq = intent["seq"].as_u64().unwrap() as usize;
    let close = server.klines()[seq].close;
    let asked = 0.5 * 100_000.0 / close;
    let q = order["quantity"].as_f64().unwrap();
    assert!((q - 0.1 * asked).abs() < 1e-9, "{q} vs a tenth of {asked}");
}

/// `sandbar serve` on `config`, whose deployment must refuse to start:
/// what it says.
pub(crate) fn serve_refused(config: &std::path::Path) -> String {
    serve_refused_with(
        config,
        &[
            ("BINANCE_API_KEY", API_KEY),
            ("BINANCE_API_SECRET", API_SECRET),
        ],
    )
}

/// `sandbar serve` on `config` with `env`, whose deployment must not
/// start. A service degrades: it comes up, the deployment is marked failed
/// and the others run; this returns why it failed (from the API) and the
/// service's log. A configuration the service cannot run at all makes it
/// exit: then its error output.
pub(crate) fn serve_refused_with(config: &std::path::Path, env: &[(&str, &str)]) -> String {
    let dir = scratch();
    let (addr, log) = (dir.path().join("addr"), dir.path().join("serve.log"));
    let mut child = std::process::Command::new(SANDBAR)
        .args(["serve", "--config"])
        .arg(config)
        .arg("--addr-file")
        .arg(&addr)
        .env("SANDBAR_TOKEN", crate::service::TOKEN)
        .envs(env.iter().copied())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success(), "serve exited cleanly");
            return std::fs::read_to_string(&log).unwrap();
        }
        let url = std::fs::read_to_string(&addr).unwrap_or_default();
        if !url.is_empty() {
            break url;
        }
        assert!(
            Instant::now() < deadline,
            "serve neither started nor refused"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let list: Vec<serde_json::Value> = sandbar::net::tls::Tls::webpki()
        .http()
        .build()
        .unwrap()
        .get(format!("{url}/deployments"))
        .bearer_auth(crate::service::TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let failed: Vec<&str> = list.iter().filter_map(|d| d["failed"].as_str()).collect();
    assert!(!failed.is_empty(), "no deployment failed: {list:?}");
    format!(
        "{}\n{}",
        failed.join("\n"),
        std::fs::read_to_string(&log).unwrap()
    )
}

/// The deployment's audit trail, from the running service.
fn history(f: &Fixture) -> String {
    sandbar::net::tls::Tls::webpki()
        .http()
        .build()
        .unwrap()
        .get(format!("{}/deployments/d/history", f.url()))
        .bearer_auth(crate::service::TOKEN)
        .send()
        .unwrap()
        .text()
        .unwrap()
}

/// The run's client order prefix, from its first order at the venue.
fn run_prefix(server: &BinanceServer) -> String {
    let orders = server.spot().orders();
    let o = orders
        .iter()
        .find(|o| o.client_id.starts_with("sb-"))
        .unwrap();
    o.client_id[..o.client_id.rfind('-').unwrap() + 1].to_string()
}

#[test]
fn a_holding_the_journals_cannot_explain_halts_the_deployment_until_an_operator_adopts_it() {
    let server = market(3000, 20.0);
    let (mut f, config) = live_deployment_of(
        &server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        &["--param", "script=1 buy 0 0.02; 40 buy 0 0.02"],
        "[venues.bx.reconcile]\nevery_secs = 0.2\n",
    );
    let (base_at_start, _) = server.spot().balances();
    f.serve(&config);
    let s = f.wait("d", "the buy filled", |s| {
        !s["positions"].as_array().unwrap().is_empty()
    });
    let held = s["positions"][0][1].as_f64().unwrap();
    // The first comparison with the venue, whenever it comes.
    let deadline = Instant::now() + Duration::from_secs(30);
    let show = loop {
        let show = history(&f);
        if show.contains("holdings-baseline") || Instant::now() > deadline {
            break show;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        show.contains("holdings-baseline")
            && show.contains(&format!("someone else holds {base_at_start} of BTCUSDT")),
        "measured at the first comparison: {show}"
    );
    assert!(
        !show.contains("reconcile-mismatch"),
        "explained so far: {show}"
    );
    assert_eq!(f.status("d")["stage"], "LIVE");
    // Someone trades 0.5 BTC on the account by hand.
    server.spot().deposit(0.5);
    let s = f.wait("d", "halted by reconciliation", |s| s["stage"] == "PAUSED");
    let show = history(&f);
    assert!(
        show.contains("reconcile-mismatch") && show.contains("+0.5 unexplained"),
        "{show}"
    );
    // Nothing flattened: a holding the host cannot explain is not its to close.
    assert_eq!(s["positions"][0][1].as_f64(), Some(held), "{s}");
    let placed = server.spot().orders().len();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        server.spot().orders().len(),
        placed,
        "no order after the halt"
    );
    assert!(f.terminate().success());
    // The start is refused until an operator decides.
    let e = serve_refused(&config);
    assert!(e.contains("HALTED by reconciliation"), "{e}");
    f.env = vec![
        ("BINANCE_API_KEY".into(), API_KEY.into()),
        ("BINANCE_API_SECRET".into(), API_SECRET.into()),
    ];
    let reconcile = |f: &Fixture, how: &str| {
        f.cmd(&[
            "deploy",
            "reconcile",
            "d",
            "--config",
            config.to_str().unwrap(),
            how,
            "--reason",
            "a manual trade on the website",
        ])
    };
    let out = reconcile(&f, "--flatten");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("trade it at the venue yourself"),
        "{}",
        stderr(&out)
    );
    ok(&reconcile(&f, "--adopt"));
    f.serve(&config);
    f.wait("d", "running again", |s| s["running"] == true);
    std::thread::sleep(Duration::from_millis(1500));
    let show = history(&f);
    assert_eq!(show.matches("reconcile-mismatch").count(), 1, "{show}");
    assert!(show.contains("reconcile-adopt-holding"), "{show}");
    // Cash too: 1,000 USDT appearing on the account is not the journals'.
    f.ok(&["deploy", "resume", "d", "--reason", "reconciled"]);
    server.spot().deposit_quote(1000.0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let show = loop {
        let show = history(&f);
        if show.matches("reconcile-mismatch").count() == 2 {
            break show;
        }
        assert!(Instant::now() < deadline, "not halted for the cash: {show}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        show.contains("USDT (cash)") && show.contains("+1000 unexplained"),
        "{show}"
    );
    let last = f.status("d")["seq"].as_u64().unwrap();
    assert!(f.terminate().success());
    ok(&reconcile(&f, "--adopt"));
    // A difference that appears while the host is down: the restarted run
    // re-executes its journal, then waits for the first comparison — which
    // halts it before it takes a single new bar.
    server.spot().deposit(0.25);
    f.serve(&config);
    let deadline = Instant::now() + Duration::from_secs(20);
    while history(&f).matches("reconcile-mismatch").count() < 3 {
        assert!(Instant::now() < deadline, "not halted at the restart");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The feed goes on (20 bars a second); the run does not.
    let halted_at = f.status("d")["seq"].as_u64();
    std::thread::sleep(Duration::from_millis(1000));
    let s = f.status("d");
    assert_eq!(s["seq"].as_u64(), halted_at, "no new bar was traded: {s}");
    assert!(
        halted_at.is_some_and(|h| h <= last + 20),
        "halted at {halted_at:?}, the journal ended near {last}"
    );
    assert!(f.terminate().success());
}

#[test]
fn an_order_in_the_runs_name_appearing_while_it_trades_halts_it() {
    let server = market(3000, 20.0);
    let (mut f, config) = live_deployment_of(
        &server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        // A limit buy far below the market: it rests at the venue.
        &["--param", "script=1 limit-buy 0 0.1 20000"],
        "[venues.bx.reconcile]\nevery_secs = 0.2\n",
    );
    f.serve(&config);
    let ours = |server: &BinanceServer| {
        server
            .spot()
            .orders()
            .into_iter()
            .find(|o| o.price == 20_000.0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while ours(&server).is_none() {
        assert!(Instant::now() < deadline, "no order: {}", f.status("d"));
        std::thread::sleep(Duration::from_millis(10));
    }
    // A second host on the same key, the same run: an order the journal
    // never wrote.
    let stray = format!("{}777", run_prefix(&server));
    server.spot().place_foreign(&stray, 0.001, 30_000.0);
    f.wait("d", "halted by reconciliation", |s| s["stage"] == "PAUSED");
    let show = history(&f);
    assert!(
        show.contains("reconcile-mismatch") && show.contains(&stray),
        "{show}"
    );
    // Its own order is cancelled at the venue; the stray one is not its to
    // cancel.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ours(&server).unwrap().status != "CANCELED" {
        assert!(Instant::now() < deadline, "{:?}", server.spot().orders());
        std::thread::sleep(Duration::from_millis(20));
    }
    let stray_order = server
        .spot()
        .orders()
        .into_iter()
        .find(|o| o.client_id == stray)
        .unwrap();
    assert_eq!(stray_order.status, "NEW", "the stray left alone");
    assert!(f.terminate().success());
}

#[test]
fn binance_fills_are_booked_from_the_user_data_stream_and_polling_covers_its_disconnects() {
    const RATE: f64 = 20.0;
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 3000);
    let server = BinanceServer::start("BTCUSDT", "1m", klines.clone(), RATE);
    // Limit buys just above a bar's close: they fill on a later kline,
    // which only the stream (or a poll) tells of.
    let limit = |bar: usize| (klines[bar].close * 1.002 * 100.0).round() / 100.0;
    let script = format!(
        "script=3 limit-buy 0 0.01 {}; 60 limit-buy 0 0.01 {}; 120 limit-buy 0 0.01 {}",
        limit(3),
        limit(60),
        limit(120)
    );
    // While the stream is up, a poll only every minute: a fill booked
    // sooner came through the stream.
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
    f.wait("d", "the stream subscribed", |s| {
        s["venue"]["stream_up"] == true
    });
    // The first fill, booked from a push (a poll would take a minute).
    let s = f.wait("d", "the first limit filled", |s| held(s) > 0.0);
    assert!(s["venue"]["pushed"].as_u64() >= Some(1), "{s}");
    let one = held(&s);
    // The stream drops after its next event and cannot reconnect: every
    // open order is polled at poll_ms meanwhile.
    spot.faults.stream_drop_after.store(1, Ordering::SeqCst);
    spot.faults.stream_down.store(true, Ordering::SeqCst);
    f.wait("d", "the stream down", |s| s["venue"]["stream_up"] == false);
    let s = f.wait("d", "the second limit filled, by polling", |s| {
        held(s) > one * 1.5
    });
    assert_eq!(s["venue"]["stream_up"], false, "{s}");
    // Back, with every event twice: each order is looked up again, booked once.
    spot.faults.stream_drop_after.store(0, Ordering::SeqCst);
    spot.faults.stream_duplicates.store(true, Ordering::SeqCst);
    spot.faults.stream_down.store(false, Ordering::SeqCst);
    let s = f.wait("d", "reconnected", |s| {
        s["venue"]["stream_up"] == true && s["venue"]["stream_connects"].as_u64() >= Some(2)
    });
    let s2 = f.wait("d", "the third limit filled", |s| held(s) > one * 2.5);
    assert!(
        s2["venue"]["pushed"].as_u64() > s["venue"]["pushed"].as_u64(),
        "{s2}"
    );
    assert!(spot.stream_connections.load(Ordering::SeqCst) >= 2);
    assert_eq!(
        spot.refused.load(Ordering::SeqCst),
        0,
        "every subscription signed right"
    );
    settle_and_stop(&mut f, 200, || server.spot().balances().0);
    assert_books_match_the_venue(&f, &server);
    assert_no_order_twice(&server);
}

// TLS: a venue as it really is — https and wss only, keys and orders never
// in clear. The test venue's certificate is signed by a CA made now; the
// host trusts it only where the configuration names it (`ca_file`).

/// A LIVE scripted deployment on `server` (TLS), the feed, the venue and
/// its user data stream all over TLS; `ca` written as their `ca_file`
/// (none: Mozilla's roots only).
fn tls_deployment(server: &BinanceServer, ca: Option<&std::path::Path>) -> (Fixture, PathBuf) {
    let (f, config) = live_deployment_of(
        server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        // One market buy: nothing later on the symbol can supersede it
        // before the venue's first reconciliation lets it leave.
        &["--param", "script=1 buy 0 0.02"],
        "",
    );
    let ca_line = ca.map_or(String::new(), |p| format!("ca_file = {:?}\n", p));
    let ws_api = format!(
        "wss://{}/spot/ws-api/v3",
        server.rest_url.trim_start_matches("https://")
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replacen(
            "[venues.bx]\nkind = \"binance\"\n",
            &format!("[venues.bx]\nkind = \"binance\"\n{ca_line}ws_api_url = {ws_api:?}\n"),
            1,
        )
        .replacen(
            "[feeds.binance]\nkind = \"binance\"\n",
            &format!("[feeds.binance]\nkind = \"binance\"\n{ca_line}"),
            1,
        );
    std::fs::write(&config, text).unwrap();
    (f, config)
}

#[test]
fn over_tls_a_live_deployment_trades_with_its_ca_trusted_and_refuses_to_start_without() {
    let ca = sandbar_test_support::tls::TestCa::new();
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 800);
    let server = BinanceServer::start_tls("BTCUSDT", "1m", klines, 20.0, &ca);
    assert!(
        server.rest_url.starts_with("https://"),
        "{}",
        server.rest_url
    );
    // Mozilla's roots only: the venue's certificate is not trusted, the
    // start is refused and says why.
    let (_f, config) = tls_deployment(&server, None);
    let e = serve_refused(&config);
    assert!(e.contains("certificate"), "{e}");
    assert!(
        server.spot().orders().is_empty(),
        "nothing reached the venue"
    );
    // The CA trusted: REST over https, the user data stream over wss, the
    // feed over both.
    let (mut f, config) = tls_deployment(&server, Some(&ca.ca_file()));
    server.restart_clock();
    f.serve(&config);
    let s = f.wait("d", "the stream subscribed over wss", |s| {
        s["venue"]["stream_up"] == true
    });
    assert_eq!(s["venue"]["problems"], serde_json::json!([]), "{s}");
    f.wait("d", "the market buy filled", |s| held(s) > 0.0);
    assert_eq!(server.spot().orders().len(), 1, "{}", f.status("d"));
    assert_eq!(
        server.spot().refused.load(Ordering::SeqCst),
        0,
        "every request signed"
    );
    assert!(server.spot().stream_connections.load(Ordering::SeqCst) >= 1);
    settle_and_stop(&mut f, 200, || server.spot().balances().0);
    assert_books_match_the_venue(&f, &server);
    assert_no_order_twice(&server);
}

#[test]
fn a_plain_http_venue_or_feed_off_loopback_is_refused_naming_the_key() {
    let server = market(50, 10.0);
    let (_f, config) = live_deployment(&server, "");
    for (from, to, key) in [
        (
            "rest_url = \"http://127.0.0.1",
            "rest_url = \"http://10.1.2.3",
            "rest_url",
        ),
        (
            "ws_url = \"ws://127.0.0.1",
            "ws_url = \"ws://10.1.2.3",
            "feeds.binance.ws_url",
        ),
    ] {
        let text = std::fs::read_to_string(&config).unwrap();
        let bad = config.with_extension("bad.toml");
        std::fs::write(&bad, text.replacen(from, to, 1)).unwrap();
        let e = serve_refused(&bad);
        assert!(e.contains(key) && e.contains("in clear"), "{e}");
    }
}
