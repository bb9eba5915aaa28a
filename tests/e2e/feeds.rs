//! Live feeds against a Binance test server on 127.0.0.1 serving the real
//! January 2024 BTCUSDT minute klines: whatever the connection does — drops,
//! skipped, duplicated or reordered bars, silence, updates of the forming
//! kline — a deployment's feed delivers every closed bar exactly once, in
//! time order, and notes what it repaired.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sandbar::data::feed::Feed;
use sandbar::data::live::{Hub, LiveFeed, Notes};
use sandbar::data::market::Bar;
use sandbar::net::tls::Tls;
use sandbar_test_support::binance::{BinanceServer, Kline, read_klines};
use sandbar_test_support::shared_data;
use sandbar_test_support::tls::TestCa;

fn server(n: usize, bars_per_second: f64) -> BinanceServer {
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), n);
    BinanceServer::start("BTCUSDT", "1m", klines, bars_per_second)
}

struct Client {
    feed: LiveFeed,
    notes: Notes,
    stop: Arc<AtomicBool>,
    _hub: Hub,
    _rt: tokio::runtime::Runtime,
}

/// A deployment's feed on the server, from the bar after `after` (or the next live one).
fn client(s: &BinanceServer, after: Option<i64>, stale_after: Option<Duration>) -> Client {
    client_trusting(s, after, stale_after, &Tls::webpki())
}

/// The same, its connections trusting `tls`'s roots.
fn client_trusting(
    s: &BinanceServer,
    after: Option<i64>,
    stale_after: Option<Duration>,
    tls: &Tls,
) -> Client {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut hub = sandbar::adapters::binance::hub(
        "binance",
        &s.rest_url,
        &s.ws_url,
        Duration::from_secs(3600),
        tls,
        rt.handle(),
    );
    hub.stale_after = stale_after;
    let stop = Arc::new(AtomicBool::new(false));
    let notes: Notes = Arc::default();
    let feed = hub
        .subscribe(
            &["BTCUSDT".to_string()],
            "1m",
            vec![after],
            stop.clone(),
            notes.clone(),
        )
        .unwrap();
    Client {
        feed,
        notes,
        stop,
        _hub: hub,
        _rt: rt,
    }
}

impl Client {
    /// The next `n` bars (at most 20 s: a watchdog stops the feed).
    fn take(&mut self, n: usize) -> Vec<Bar> {
        let stop = self.stop.clone();
        let done = Arc::new(AtomicBool::new(false));
        let d2 = done.clone();
        let watchdog = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && !d2.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if !d2.load(Ordering::SeqCst) {
                stop.store(true, Ordering::SeqCst);
            }
        });
        let mut out = Vec::new();
        while out.len() < n {
            let want = n - out.len();
            if self.feed.next_batch(&mut out, want) == 0 {
                break;
            }
        }
        done.store(true, Ordering::SeqCst);
        watchdog.join().unwrap();
        assert_eq!(out.len(), n, "the feed stopped after {} bars", out.len());
        out
    }

    fn notes(&self, kind: &str) -> Vec<serde_json::Value> {
        self.notes
            .lock()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == kind)
            .cloned()
            .collect()
    }
}

/// The bars are exactly consecutive klines of the recording, with their prices.
#[track_caller]
fn assert_consecutive(bars: &[Bar], klines: &[Kline]) {
    let first = klines
        .iter()
        .position(|k| k.open_time == bars[0].time_ms)
        .expect("first bar is a served kline");
    for (i, b) in bars.iter().enumerate() {
        let k = klines[first + i];
        assert_eq!(
            (b.time_ms, b.open, b.high, b.low, b.close, b.volume),
            (k.open_time, k.open, k.high, k.low, k.close, k.volume),
            "bar {i} of the feed"
        );
    }
}

#[test]
fn closed_klines_arrive_in_order_and_updates_of_a_forming_kline_are_ignored() {
    let s = server(2000, 100.0);
    s.behaviour().forming_updates.store(true, Ordering::SeqCst);
    let mut c = client(&s, None, None);
    let bars = c.take(30);
    assert_consecutive(&bars, s.klines());
    assert_eq!(s.streams_asked(), vec!["btcusdt@kline_1m".to_string()]);
}

#[test]
fn warm_up_pages_through_rest_from_the_first_bar_asked() {
    let s = server(4000, 1000.0);
    s.wait_closed(2600);
    let first = s.klines()[0].open_time;
    let mut c = client(&s, Some(first - 60_000), None);
    let bars = c.take(2700);
    assert_eq!(bars[0].time_ms, first);
    assert_consecutive(&bars, s.klines());
    assert!(s.rest_requests() >= 3, "{} requests", s.rest_requests());
    assert_eq!(c.notes("warm-up").len(), 1);
}

#[test]
fn a_dropped_connection_is_reconnected_and_the_gap_filled_over_rest_first() {
    let s = server(5000, 100.0);
    let mut c = client(&s, None, None);
    let mut bars = c.take(10);
    s.drop_connections();
    bars.extend(c.take(60));
    assert_consecutive(&bars, s.klines());
    assert!(s.connections() >= 2, "{} connections", s.connections());
    assert!(!c.notes("disconnected").is_empty());
    assert!(
        !c.notes("gap-filled").is_empty(),
        "bars closed while reconnecting come over REST: {:?}",
        c.notes.lock().unwrap()
    );
}

#[test]
fn a_skipped_bar_is_filled_before_the_next_one_is_delivered() {
    let s = server(5000, 50.0);
    let skip = s.klines()[s.closed() + 40].open_time;
    s.behaviour().skip.lock().unwrap().insert(skip);
    let mut c = client(&s, None, None);
    let bars = c.take(80);
    assert_consecutive(&bars, s.klines());
    assert!(bars.iter().any(|b| b.time_ms == skip));
    let filled = c.notes("gap-filled");
    assert_eq!(filled.len(), 1, "{filled:?}");
    assert_eq!(filled[0]["from_ms"], skip);
}

#[test]
fn duplicated_and_reordered_bars_are_delivered_once_in_order_with_a_note() {
    let s = server(5000, 50.0);
    let base = s.closed() + 30;
    let dup = s.klines()[base].open_time;
    let late = s.klines()[base + 20].open_time;
    s.behaviour().duplicate.lock().unwrap().insert(dup);
    s.behaviour().swap_with_next.lock().unwrap().insert(late);
    let mut c = client(&s, None, None);
    let bars = c.take(80);
    assert_consecutive(&bars, s.klines());
    let dups = c.notes("duplicate");
    assert!(dups.iter().any(|n| n["time_ms"] == dup), "{dups:?}");
    let ooo = c.notes("out-of-order");
    assert!(ooo.iter().any(|n| n["time_ms"] == late), "{ooo:?}");
}

#[test]
fn a_silent_feed_is_marked_stale_and_fresh_again_when_bars_return() {
    let s = server(5000, 50.0);
    let mut c = client(&s, None, Some(Duration::from_millis(600)));
    let stale = c.feed.stale_flag();
    let mut bars = c.take(5);
    s.behaviour().silent.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    // The feed is pulled while silent (as the engine would be waiting on it).
    let t = std::thread::spawn(move || {
        let more = c.take(40);
        (c, more)
    });
    while !stale.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "never marked STALE");
        std::thread::sleep(Duration::from_millis(10));
    }
    s.behaviour().silent.store(false, Ordering::SeqCst);
    let (c, more) = t.join().unwrap();
    bars.extend(more);
    assert_consecutive(&bars, s.klines());
    assert!(!stale.load(Ordering::SeqCst));
    // (At least once: a loaded machine may stall longer than 600 ms elsewhere too.)
    assert!(!c.notes("stale").is_empty());
    assert!(!c.notes("fresh").is_empty());
    assert!(
        !c.notes("gap-filled").is_empty(),
        "silent bars come over REST"
    );
}

#[test]
fn pings_are_answered_with_pongs_carrying_the_same_payload() {
    let s = server(5000, 20.0);
    *s.behaviour().ping.lock().unwrap() = Some(b"are-you-there-42".to_vec());
    let mut c = client(&s, None, None);
    c.take(10);
    let pongs = s.pongs();
    assert!(!pongs.is_empty(), "no pong");
    assert!(pongs.iter().all(|p| p == b"are-you-there-42"), "{pongs:?}");
}

#[test]
fn sandbar_record_captures_the_feed_into_a_recording_a_replay_reads() {
    let s = server(3000, 400.0);
    s.wait_closed(200);
    // Bars the stream never sends still reach the recording (over REST).
    let skip = s.klines()[s.closed() + 50].open_time;
    s.behaviour().skip.lock().unwrap().insert(skip);
    let dir = crate::util::scratch();
    let config = dir.path().join("sandbar.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"var\"\n[feeds.binance]\nkind = \"binance\"\nrest_url = {:?}\nws_url = {:?}\n",
            s.rest_url, s.ws_url
        ),
    )
    .unwrap();
    let out = dir.path().join("btc.rec");
    let run = crate::util::sandbar([
        "record",
        "--config",
        config.to_str().unwrap(),
        "--feed",
        "binance",
        "--symbol",
        "btcusdt",
        "--interval",
        "1m",
        "--start",
        "2024-01-01",
        "--bars",
        "600",
        "--out",
        out.to_str().unwrap(),
    ]);
    crate::util::ok(&run);
    assert!(
        crate::util::stderr(&run).contains("recorded 600 bars of BTCUSDT"),
        "{}",
        crate::util::stderr(&run)
    );
    let (rec, _) =
        sandbar::data::market::load(std::slice::from_ref(&out), &Default::default()).unwrap();
    assert_eq!(rec.symbols, vec!["BTCUSDT".to_string()]);
    assert_eq!(rec.bars.len(), 600);
    assert_eq!(rec.bars[0].time_ms, s.klines()[0].open_time);
    assert_consecutive(&rec.bars, s.klines());
    // And it replays.
    let replay = crate::util::sandbar([
        "replay",
        "--plugin",
        sandbar_test_support::SMA_CROSS,
        "--data",
        out.to_str().unwrap(),
    ]);
    crate::util::ok(&replay);
}

// Alpaca market data: one connection, authenticated first, corrections noted.

mod alpaca {
    use super::*;
    use sandbar::adapters::credentials::Credentials;
    use sandbar_test_support::alpaca::{AlpacaServer, KEY, SECRET};

    fn server(bars_per_second: f64, page: usize) -> AlpacaServer {
        let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 5000);
        AlpacaServer::start("SPY", klines, bars_per_second, page)
    }

    fn hub(s: &AlpacaServer, secret: &str, rt: &tokio::runtime::Runtime) -> Hub {
        sandbar::adapters::alpaca::hub(
            "alpaca",
            &s.rest_url,
            "/v2/stocks/bars",
            &s.ws_url,
            Credentials {
                key: KEY.into(),
                secret: secret.into(),
            },
            &Tls::webpki(),
            rt.handle(),
        )
    }

    fn client_on(hub: &Hub, after: Option<i64>) -> (LiveFeed, Notes, Arc<AtomicBool>) {
        let stop = Arc::new(AtomicBool::new(false));
        let notes: Notes = Arc::default();
        let feed = hub
            .subscribe(
                &["SPY".to_string()],
                "1m",
                vec![after],
                stop.clone(),
                notes.clone(),
            )
            .unwrap();
        (feed, notes, stop)
    }

    fn take(feed: &mut LiveFeed, stop: &Arc<AtomicBool>, n: usize) -> Vec<Bar> {
        // A guard that stops a feed stuck for 20 s, and is called off when
        // the bars came (a guard left behind would cut a later take short).
        let stop = stop.clone();
        let (done, called_off) = std::sync::mpsc::channel::<()>();
        let guard = std::thread::spawn(move || {
            if called_off.recv_timeout(Duration::from_secs(20))
                == Err(std::sync::mpsc::RecvTimeoutError::Timeout)
            {
                stop.store(true, Ordering::SeqCst);
            }
        });
        let mut out = Vec::new();
        while out.len() < n {
            let want = n - out.len();
            if feed.next_batch(&mut out, want) == 0 {
                break;
            }
        }
        drop(done);
        guard.join().unwrap();
        assert_eq!(out.len(), n, "the feed stopped after {} bars", out.len());
        out
    }

    #[test]
    fn bars_come_after_authentication_and_a_late_correction_is_noted_not_delivered() {
        let s = server(50.0, 1000);
        let corrected = s.klines()[s.closed() + 10].open_time;
        s.correct(corrected);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let h = hub(&s, SECRET, &rt);
        let (mut feed, notes, stop) = client_on(&h, None);
        let bars = take(&mut feed, &stop, 30);
        assert_consecutive(&bars, s.klines());
        assert!(!s.subscribed_before_auth());
        assert_eq!(s.auth_messages()[0]["action"], "auth");
        // Delivered as first sent; the correction is in the notes only.
        let b = bars.iter().find(|b| b.time_ms == corrected).unwrap();
        let k = s
            .klines()
            .iter()
            .find(|k| k.open_time == corrected)
            .unwrap();
        assert_eq!(b.close, k.close);
        let notes = notes.lock().unwrap();
        let c: Vec<_> = notes
            .iter()
            .filter(|n| n["kind"] == "late-correction")
            .collect();
        assert_eq!(c.len(), 1, "{notes:?}");
        assert_eq!(c[0]["time_ms"], corrected);
        assert!((c[0]["close"].as_f64().unwrap() - k.close * 1.01).abs() < 1e-6);
    }

    #[test]
    fn refused_credentials_leave_the_feed_down_with_the_reason() {
        let s = server(50.0, 1000);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let h = hub(&s, "wrong-secret", &rt);
        let _c = client_on(&h, None);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = h.status();
            if let (true, Some(e)) = (st.connection == "down", st.last_error.clone()) {
                assert!(e.contains("402") && e.contains("refused"), "{e}");
                assert!(!e.contains("wrong-secret"), "a secret is never shown: {e}");
                break;
            }
            assert!(Instant::now() < deadline, "{st:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn one_connection_serves_every_deployment_and_a_drop_is_filled_over_paged_rest() {
        // Pages of 20 bars, so a gap spans several pages.
        let s = server(100.0, 20);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let h = hub(&s, SECRET, &rt);
        let (mut a, _, stop_a) = client_on(&h, None);
        let (mut b, notes_b, stop_b) = client_on(&h, None);
        let first_a = take(&mut a, &stop_a, 10);
        let first_b = take(&mut b, &stop_b, 10);
        s.drop_connections();
        std::thread::sleep(Duration::from_millis(600));
        let more_b = take(&mut b, &stop_b, 120);
        let more_a = take(&mut a, &stop_a, 120);
        let all_a: Vec<Bar> = first_a.into_iter().chain(more_a).collect();
        let all_b: Vec<Bar> = first_b.into_iter().chain(more_b).collect();
        assert_consecutive(&all_a, s.klines());
        assert_consecutive(&all_b, s.klines());
        assert_eq!(s.refused(), 0, "never a second connection");
        assert_eq!(s.connections(), 2, "one, and one after the drop");
        let notes = notes_b.lock().unwrap();
        let filled: u64 = notes
            .iter()
            .filter(|n| n["kind"] == "gap-filled")
            .map(|n| n["bars"].as_u64().unwrap())
            .sum();
        assert!(filled > 20, "the gap spans pages: {notes:?}");
    }
}

// TLS: what an exchange speaks. The test server serves https and wss only,
// with a certificate signed by a CA made for this test.

#[test]
fn over_tls_the_feed_warms_up_and_streams_with_its_ca_trusted_and_nothing_without() {
    let ca = TestCa::new();
    let klines = read_klines(&shared_data("binance-btcusdt-1m-2024-01.csv"), 400);
    let s = BinanceServer::start_tls("BTCUSDT", "1m", klines.clone(), 40.0, &ca);
    assert!(
        s.rest_url.starts_with("https://localhost:"),
        "{}",
        s.rest_url
    );
    assert!(s.ws_url.starts_with("wss://localhost:"), "{}", s.ws_url);
    std::thread::sleep(Duration::from_millis(300));
    // Trusted: the warm-up over https from the first kline, then live bars over wss.
    let trusted = Tls::new(Some(&ca.ca_file())).unwrap();
    let mut c = client_trusting(&s, Some(klines[0].open_time - 60_000), None, &trusted);
    let bars = c.take(30);
    assert_consecutive(&bars, &klines);
    assert!(s.connections() >= 1, "the stream connected over wss");
    // Not trusted (Mozilla's roots only): no bar at all, and the feed says why.
    let mut untrusted = client_trusting(&s, None, None, &Tls::webpki());
    let deadline = Instant::now() + Duration::from_secs(20);
    let why = loop {
        let st = untrusted._hub.status();
        if let Some(e) = st.last_error.as_ref().filter(|e| e.contains("certificate")) {
            break e.clone();
        }
        assert!(Instant::now() < deadline, "no certificate error: {st:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        why.contains("UnknownIssuer") || why.contains("unknown issuer"),
        "{why}"
    );
    untrusted.stop.store(true, Ordering::SeqCst);
    let mut none = Vec::new();
    assert_eq!(untrusted.feed.next_batch(&mut none, 5), 0, "{none:?}");
}
