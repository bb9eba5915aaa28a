//! Durability: a PAPER deployment trading live bars from a Binance test
//! server survives SIGTERM and SIGKILL. After a clean stop it exits 0 with
//! a readable journal; after a restart it continues its journal instead of
//! replacing it; killed at random points and restarted each time, it ends
//! with exactly the journal, orders, fills, ledger and strategy state of a
//! run that was never interrupted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sandbar_test_support::binance::{BinanceServer, read_klines};
use sandbar_test_support::shared_data;

use crate::service::Fixture;
use crate::util::*;

/// Minute klines served, and how fast they close.
pub(crate) fn binance(n: usize, bars_per_second: f64) -> BinanceServer {
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), n);
    BinanceServer::start("BTCUSDT", "1m", klines, bars_per_second)
}

/// A registry with sma-cross deployed to PAPER as `d`, and a config running
/// `d` on the server's BTCUSDT minute bars from 2024-01-01.
pub(crate) fn deployed(server: &BinanceServer) -> (Fixture, PathBuf) {
    let f = Fixture::new();
    f.ok(&["plugin", "add", plugins::SMA_CROSS]);
    f.paper(
        "d",
        "sma-cross@0.1.0",
        &[
            "--param", "fast=3", "--param", "slow=8", "--symbol", "BTCUSDT",
        ],
    );
    let config = config_on(&f, server);
    (f, config)
}

/// `f`'s config running `d` on the server's BTCUSDT minute bars from 2024-01-01.
pub(crate) fn config_on(f: &Fixture, server: &BinanceServer) -> PathBuf {
    f.config(
        &format!(
            "[feeds.binance]\nkind = \"binance\"\nrest_url = {:?}\nws_url = {:?}\n{COMPRESSED}",
            server.rest_url, server.ws_url
        ),
        "[[deployments]]\nname = \"d\"\nfeed = \"binance\"\ninterval = \"1m\"\nstart = \"2024-01-01\"\n",
    )
}

/// Let both runs of `d` reach bar `bars`, stop them, and require the same
/// books, positions and orders as the service reports them, and the same
/// journal entry for entry (nothing lost, nothing twice); its entries.
pub(crate) fn ends_alike(
    calm: &mut Fixture,
    other: &mut Fixture,
    bars: u64,
) -> Vec<serde_json::Value> {
    let done = |s: &serde_json::Value| s["seq"].as_u64() == Some(bars);
    let deadline = Instant::now() + Duration::from_secs(120);
    let (calm_status, other_status) = loop {
        let (a, b) = (calm.status("d"), other.status("d"));
        if done(&a) && done(&b) {
            break (a, b);
        }
        assert!(Instant::now() < deadline, "runs did not finish: {a} / {b}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(calm.terminate().success());
    assert!(other.terminate().success());
    for key in [
        "equity",
        "cash",
        "positions",
        "orders",
        "open_orders",
        "risk_state",
    ] {
        assert_eq!(calm_status[key], other_status[key], "{key}");
    }
    let a = journal_entries(&journal_of(calm));
    let b = journal_entries(&journal_of(other));
    assert_eq!(a.len(), b.len(), "journal lengths");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "entry {i}");
    }
    b
}

pub(crate) fn journal_of(f: &Fixture) -> PathBuf {
    f.dir.path().join("journals/d.redb")
}

fn inputs(journal: &Path) -> serde_json::Value {
    let out = sandbar(["journal".as_ref(), journal.as_os_str(), "--inputs".as_ref()]);
    ok(&out);
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn sigterm_exits_zero_with_a_readable_journal_and_a_restart_continues_it() {
    let server = binance(3000, 200.0);
    let (mut f, config) = deployed(&server);
    f.serve(&config);
    f.wait("d", "bars", |s| s["seq"].as_u64() > Some(300));
    let status = f.terminate();
    assert!(status.success(), "{status:?}");
    let first = journal_entries(&journal_of(&f));
    let kept = inputs(&journal_of(&f));
    let bars = kept["bars"].as_u64().unwrap();
    assert!(bars > 300, "{kept}");
    assert_eq!(
        kept["snapshot"]["seq"], bars,
        "a snapshot at shutdown: {kept}"
    );
    assert!(!of_kind(&first, "order").is_empty(), "sma-cross traded");

    // The same deployment again: the journal grows, nothing before is rewritten.
    f.serve(&config);
    f.wait("d", "more bars", |s| s["seq"].as_u64() > Some(bars + 200));
    assert!(f.terminate().success());
    let second = journal_entries(&journal_of(&f));
    assert!(second.len() > first.len());
    assert_eq!(second[..first.len()], first[..]);
    let show = f.ok(&["deploy", "show", "d"]);
    assert!(
        show.contains(&format!("recovering {bars} journaled bars")),
        "{show}"
    );
}

#[test]
fn a_second_service_on_the_same_data_is_refused_and_changes_nothing() {
    let server = binance(3000, 100.0);
    let (mut f, config) = deployed(&server);
    f.serve(&config);
    f.wait("d", "bars", |s| s["seq"].as_u64() > Some(20));
    let out = std::process::Command::new(SANDBAR)
        .args(["serve", "--config"])
        .arg(&config)
        .env("SANDBAR_TOKEN", crate::service::TOKEN)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("registry") && stderr(&out).to_lowercase().contains("already open")
            || stderr(&out).contains("in use by another process"),
        "{}",
        stderr(&out)
    );
    f.wait("d", "the first to go on", |s| s["seq"].as_u64() > Some(60));
    assert!(f.terminate().success());
}

/// A seeded generator, so that a failing schedule can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn killed_at_30_random_points_it_ends_exactly_like_an_uninterrupted_run() {
    const BARS: usize = 2400;
    const RATE: f64 = 80.0;
    let seed: u64 = std::env::var("SANDBAR_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261123);
    eprintln!("crash schedule seed {seed} (SANDBAR_CRASH_SEED replays it)");
    // Two identical markets, one for each run, closing bars at the same pace.
    let calm_market = binance(BARS, RATE);
    let rough_market = binance(BARS, RATE);
    let (mut calm, calm_config) = deployed(&calm_market);
    let (mut rough, rough_config) = deployed(&rough_market);
    calm.serve(&calm_config);
    rough.serve(&rough_config);

    let mut rng = Lcg(seed);
    let mut kills = 0;
    let mut seen_orders_between_kills = 0;
    while kills < 30 {
        // Let it trade for 50–400 ms, then kill -9 and start again.
        std::thread::sleep(Duration::from_millis(50 + rng.next() % 350));
        if let Ok(s) = std::panic::catch_unwind(|| rough.status("d")) {
            seen_orders_between_kills =
                seen_orders_between_kills.max(s["orders"].as_u64().unwrap_or(0));
        }
        rough.stop_serving();
        kills += 1;
        rough.serve(&rough_config);
    }
    let a = ends_alike(&mut calm, &mut rough, BARS as u64);
    let b = &a;
    let orders = of_kind(&a, "order").len();
    let fills = of_kind(&a, "fill").len();
    assert!(orders > 20 && fills > 20, "{orders} orders, {fills} fills");
    // The kills landed while it traded, not all before its first order
    // (else the test proves nothing of recovery in the middle of trading).
    assert!(
        seen_orders_between_kills > 0,
        "no kill saw an order: all {kills} landed before trading began"
    );
    let ids: Vec<u64> = of_kind(b, "order")
        .iter()
        .map(|o| o["order"]["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "order ids once each"
    );
    // The strategy's own state at the end is the same bytes.
    let (sa, sb) = (inputs(&journal_of(&calm)), inputs(&journal_of(&rough)));
    assert_eq!(sa["bars"], sb["bars"]);
    assert_eq!(sa["snapshot"]["sha256"], sb["snapshot"]["sha256"]);
    assert!(!sa["snapshot"]["sha256"].is_null());
    eprintln!(
        "{kills} kills; {orders} orders, {fills} fills; up to {seen_orders_between_kills} orders seen between kills"
    );
}

/// Operator commands are inputs too: a deployment paused, resumed and
/// swapped to another version, then killed, comes back by re-applying them
/// at the same bars — the journal verifies, the new version serves, and its
/// count carries on from where it was, bar for bar.
#[test]
fn commands_are_reapplied_at_their_bars_after_a_kill() {
    let server = binance(6000, 150.0);
    let f = Fixture::new();
    f.ok(&["plugin", "add", plugins::COUNTER_V1]);
    f.ok(&["plugin", "add", plugins::COUNTER_V2]);
    f.paper("d", "counter@1.0.0", &["--symbol", "BTCUSDT"]);
    let config = f.config(
        &format!(
            "[feeds.binance]\nkind = \"binance\"\nrest_url = {:?}\nws_url = {:?}\n{COMPRESSED}",
            server.rest_url, server.ws_url
        ),
        "[[deployments]]\nname = \"d\"\nfeed = \"binance\"\ninterval = \"1m\"\nstart = \"2024-01-01\"\n",
    );
    let mut f = f;
    f.serve(&config);
    f.wait("d", "bars", |s| s["seq"].as_u64() > Some(100));
    f.ok(&["deploy", "pause", "d", "--reason", "look"]);
    f.wait("d", "paused", |s| !s["paused"].is_null());
    f.ok(&["deploy", "resume", "d", "--reason", "fine"]);
    f.wait("d", "resumed", |s| s["paused"].is_null());
    f.ok(&["deploy", "swap", "d", "counter@2.0.0", "--reason", "v2"]);
    let swapped = f.wait("d", "v2", |s| s["serving"] == "counter@2.0.0");
    let at = swapped["seq"].as_u64().unwrap();
    f.wait("d", "v2 trading", |s| s["seq"].as_u64() > Some(at + 60));
    f.stop_serving(); // SIGKILL
    f.serve(&config);
    let back = f.wait("d", "recovered and on", |s| {
        s["recovering"] == false && s["seq"].as_u64() > Some(at + 200)
    });
    assert_eq!(back["serving"], "counter@2.0.0", "{back}");
    assert!(back["ended"].is_null(), "{back}");
    assert!(f.terminate().success());
    let e = journal_entries(&journal_of(&f));
    let commands: Vec<&str> = of_kind(&e, "command")
        .iter()
        .map(|c| {
            c["action"]
                .as_str()
                .or_else(|| {
                    c["action"]
                        .as_object()
                        .and_then(|o| o.keys().next().map(String::as_str))
                })
                .unwrap()
        })
        .collect();
    assert_eq!(
        commands,
        vec!["pause", "resume", "swap"],
        "each command once"
    );
    assert_eq!(of_kind(&e, "swap").len(), 1);
    // The count is the number of bars delivered while not paused, in both
    // versions, before and after the kill: no bar lost or seen twice.
    let counts: Vec<u64> = of_kind(&e, "intent")
        .iter()
        .map(|i| {
            i["reason"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .nth(2)
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(counts.len() > 20, "{counts:?}");
    assert!(counts.windows(2).all(|w| w[1] == w[0] + 10), "{counts:?}");
}
