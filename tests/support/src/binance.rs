//! A Binance spot test server on 127.0.0.1: `GET /api/v3/time`,
//! `GET /api/v3/klines` and the combined kline stream
//! `/stream?streams=<symbol>@kline_<interval>/…`, in the formats the
//! exchange documents, serving real klines from a Binance CSV.
//!
//! Its clock is virtual: bar `i` of the recording closes `(i + 1) /
//! bars_per_second` seconds after the server started (or after `resume_at`),
//! so a month of minute bars plays in seconds. REST answers what has closed
//! by then (plus the kline still forming, as Binance does); the stream pushes
//! each kline as it closes. The test controls misbehaviour: drop every
//! connection, skip or duplicate a bar on the stream, send one out of order,
//! go silent, send updates of the forming kline, ping.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

/// One kline: open time, open, high, low, close, volume, close time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kline {
    /// Open time (ms).
    pub open_time: i64,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume.
    pub volume: f64,
    /// Close time (ms).
    pub close_time: i64,
}

/// Read the first `n` rows of a Binance kline CSV (no header, 12 columns).
pub fn read_klines(path: &Path, n: usize) -> Vec<Kline> {
    let text = std::fs::read_to_string(path).expect("reading klines");
    text.lines()
        .take(n)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            Kline {
                open_time: c[0].parse().unwrap(),
                open: c[1].parse().unwrap(),
                high: c[2].parse().unwrap(),
                low: c[3].parse().unwrap(),
                close: c[4].parse().unwrap(),
                volume: c[5].parse().unwrap(),
                close_time: c[6].parse().unwrap(),
            }
        })
        .collect()
}

/// What the test makes the server do.
#[derive(Default)]
pub struct Behaviour {
    /// Open times never pushed on the stream (REST still has them).
    pub skip: Mutex<HashSet<i64>>,
    /// Open times pushed twice on the stream.
    pub duplicate: Mutex<HashSet<i64>>,
    /// Open times pushed after the next bar instead of before it.
    pub swap_with_next: Mutex<HashSet<i64>>,
    /// Push nothing while set (the clock goes on).
    pub silent: AtomicBool,
    /// Before each closed kline, push an update of it still forming (with
    /// a different close), which a client must ignore.
    pub forming_updates: AtomicBool,
    /// Ping every connection with this payload every 100 ms while set.
    pub ping: Mutex<Option<Vec<u8>>>,
}

pub(crate) struct Inner {
    pub(crate) symbol: String,
    interval: String,
    pub(crate) klines: Vec<Kline>,
    bars_per_second: f64,
    start: Mutex<Instant>,
    /// Bumped to close every open stream connection.
    generation: AtomicU64,
    behaviour: Behaviour,
    connections: AtomicU64,
    pongs: Mutex<Vec<Vec<u8>>>,
    streams_asked: Mutex<Vec<String>>,
    rest_requests: AtomicU64,
    /// The spot account and its orders (`binance_spot.rs`).
    pub(crate) spot: crate::binance_spot::Spot,
}

impl Inner {
    /// Klines closed by now.
    pub(crate) fn closed(&self) -> usize {
        let t = self.start.lock().unwrap().elapsed().as_secs_f64();
        ((t * self.bars_per_second) as usize).min(self.klines.len())
    }

    pub(crate) fn server_time(&self) -> i64 {
        let closed = self.closed();
        match self.klines.get(closed) {
            Some(k) => k.open_time + 1,
            None => self.klines.last().map_or(0, |k| k.close_time + 1),
        }
    }

    fn row(k: &Kline) -> Value {
        json!([
            k.open_time,
            format!("{:.8}", k.open),
            format!("{:.8}", k.high),
            format!("{:.8}", k.low),
            format!("{:.8}", k.close),
            format!("{:.8}", k.volume),
            k.close_time,
            "0",
            1,
            "0",
            "0",
            "0"
        ])
    }

    fn message(&self, k: &Kline, closed: bool, close: f64) -> String {
        json!({
            "stream": format!("{}@kline_{}", self.symbol.to_lowercase(), self.interval),
            "data": {
                "e": "kline",
                "E": k.close_time,
                "s": self.symbol,
                "k": {
                    "t": k.open_time,
                    "T": k.close_time,
                    "s": self.symbol,
                    "i": self.interval,
                    "f": 1, "L": 2,
                    "o": format!("{:.8}", k.open),
                    "c": format!("{:.8}", close),
                    "h": format!("{:.8}", k.high),
                    "l": format!("{:.8}", k.low),
                    "v": format!("{:.8}", k.volume),
                    "n": 1,
                    "x": closed,
                    "q": "0", "V": "0", "Q": "0", "B": "0"
                }
            }
        })
        .to_string()
    }
}

/// A running test server.
pub struct BinanceServer {
    /// REST base URL (`http://127.0.0.1:port`).
    pub rest_url: String,
    /// WebSocket base URL (`ws://127.0.0.1:port`).
    pub ws_url: String,
    inner: Arc<Inner>,
    _rt: tokio::runtime::Runtime,
}

impl BinanceServer {
    /// Serve `klines` of `symbol` at `interval`, `bars_per_second` closing
    /// per second from now.
    pub fn start(symbol: &str, interval: &str, klines: Vec<Kline>, bars_per_second: f64) -> Self {
        Self::serving(symbol, interval, klines, bars_per_second, None)
    }

    /// The same server over TLS only (`https://localhost:port`,
    /// `wss://localhost:port`), its certificate signed by `ca`.
    pub fn start_tls(
        symbol: &str,
        interval: &str,
        klines: Vec<Kline>,
        bars_per_second: f64,
        ca: &crate::tls::TestCa,
    ) -> Self {
        Self::serving(symbol, interval, klines, bars_per_second, Some(ca))
    }

    fn serving(
        symbol: &str,
        interval: &str,
        klines: Vec<Kline>,
        bars_per_second: f64,
        ca: Option<&crate::tls::TestCa>,
    ) -> Self {
        let inner = Arc::new(Inner {
            symbol: symbol.to_uppercase(),
            interval: interval.into(),
            klines,
            bars_per_second,
            start: Mutex::new(Instant::now()),
            generation: AtomicU64::new(0),
            behaviour: Behaviour::default(),
            connections: AtomicU64::new(0),
            pongs: Mutex::new(Vec::new()),
            streams_asked: Mutex::new(Vec::new()),
            rest_requests: AtomicU64::new(0),
            spot: crate::binance_spot::Spot::default(),
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let app = Router::new()
            .route("/api/v3/time", get(time))
            .route("/api/v3/klines", get(klines_route))
            .route("/stream", get(stream))
            .nest("/spot", crate::binance_spot::routes())
            .with_state(inner.clone());
        let addr = crate::tls::serve(&rt, app, ca);
        let (http, ws) = if ca.is_some() {
            ("https", "wss")
        } else {
            ("http", "ws")
        };
        *inner.start.lock().unwrap() = Instant::now();
        BinanceServer {
            rest_url: format!("{http}://{addr}"),
            ws_url: format!("{ws}://{addr}"),
            inner,
            _rt: rt,
        }
    }

    /// The spot account: orders, trades, and what it is told to do wrong.
    pub fn spot(&self) -> &crate::binance_spot::Spot {
        &self.inner.spot
    }

    /// Match the spot account's resting orders against the klines closed
    /// by now, as the server does before any answer.
    pub fn settle(&self) {
        self.inner.spot.settle(&self.inner);
    }

    /// What to misbehave with.
    pub fn behaviour(&self) -> &Behaviour {
        &self.inner.behaviour
    }

    /// Close every stream connection now.
    pub fn drop_connections(&self) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Klines closed so far.
    pub fn closed(&self) -> usize {
        self.inner.closed()
    }

    /// Stream connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.inner.connections.load(Ordering::SeqCst)
    }

    /// REST kline requests answered so far.
    pub fn rest_requests(&self) -> u64 {
        self.inner.rest_requests.load(Ordering::SeqCst)
    }

    /// Payloads of the pongs received.
    pub fn pongs(&self) -> Vec<Vec<u8>> {
        self.inner.pongs.lock().unwrap().clone()
    }

    /// The `streams` query of every connection.
    pub fn streams_asked(&self) -> Vec<String> {
        self.inner.streams_asked.lock().unwrap().clone()
    }

    /// The served klines.
    pub fn klines(&self) -> &[Kline] {
        &self.inner.klines
    }

    /// Start the clock again from the first kline (a test that prepared
    /// its fixture slowly does not begin with a backlog of closed bars).
    pub fn restart_clock(&self) {
        *self.inner.start.lock().unwrap() = Instant::now();
    }

    /// Wait until `n` klines have closed.
    pub fn wait_closed(&self, n: usize) {
        while self.closed() < n {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

async fn time(State(s): State<Arc<Inner>>) -> Response {
    axum::Json(json!({ "serverTime": s.server_time() })).into_response()
}

async fn klines_route(
    State(s): State<Arc<Inner>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    s.rest_requests.fetch_add(1, Ordering::SeqCst);
    let bad = |m: &str| {
        (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(json!({"code": -1100, "msg": m})),
        )
            .into_response()
    };
    if q.get("symbol").map(|x| x.to_uppercase()) != Some(s.symbol.clone()) {
        return bad("Invalid symbol.");
    }
    if q.get("interval") != Some(&s.interval) {
        return bad("Invalid interval.");
    }
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
    let start = num("startTime").unwrap_or(i64::MIN);
    let end = num("endTime").unwrap_or(i64::MAX);
    let limit = num("limit").unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return bad("Illegal characters found in parameter 'limit'; legal range is '1 - 1000'.");
    }
    // Closed klines and the one still forming, as Binance answers.
    let visible = (s.closed() + 1).min(s.klines.len());
    let rows: Vec<Value> = s.klines[..visible]
        .iter()
        .filter(|k| k.open_time >= start && k.open_time <= end)
        .take(limit as usize)
        .map(Inner::row)
        .collect();
    axum::Json(Value::Array(rows)).into_response()
}

async fn stream(
    State(s): State<Arc<Inner>>,
    RawQuery(q): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    let streams = q
        .unwrap_or_default()
        .strip_prefix("streams=")
        .unwrap_or_default()
        .to_string();
    s.streams_asked.lock().unwrap().push(streams.clone());
    let ours = format!("{}@kline_{}", s.symbol.to_lowercase(), s.interval);
    let wanted = streams.split('/').any(|x| x == ours);
    ws.on_upgrade(move |socket| serve_stream(s, socket, wanted))
}

async fn serve_stream(s: Arc<Inner>, mut socket: WebSocket, wanted: bool) {
    s.connections.fetch_add(1, Ordering::SeqCst);
    let generation = s.generation.load(Ordering::SeqCst);
    let mut next = s.closed();
    let mut held: Option<Kline> = None;
    let mut last_ping = Instant::now();
    loop {
        if s.generation.load(Ordering::SeqCst) != generation {
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        // Read what the client sent (pongs) without blocking the pushes.
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(1), socket.recv()).await
        {
            match m {
                Ok(Message::Pong(p)) => s.pongs.lock().unwrap().push(p.to_vec()),
                Ok(Message::Close(_)) | Err(_) => return,
                _ => {}
            }
        }
        let ping = s.behaviour.ping.lock().unwrap().clone();
        if let Some(p) = ping
            && last_ping.elapsed() >= Duration::from_millis(100)
        {
            last_ping = Instant::now();
            if socket.send(Message::Ping(p.into())).await.is_err() {
                return;
            }
        }
        let closed = s.closed();
        while wanted && next < closed {
            let k = s.klines[next];
            next += 1;
            if s.behaviour.silent.load(Ordering::SeqCst)
                || s.behaviour.skip.lock().unwrap().contains(&k.open_time)
            {
                continue;
            }
            if s.behaviour
                .swap_with_next
                .lock()
                .unwrap()
                .contains(&k.open_time)
            {
                held = Some(k);
                continue;
            }
            let mut out = Vec::new();
            if s.behaviour.forming_updates.load(Ordering::SeqCst) {
                out.push(s.message(&k, false, k.close * 1.5));
            }
            out.push(s.message(&k, true, k.close));
            if s.behaviour.duplicate.lock().unwrap().contains(&k.open_time) {
                out.push(s.message(&k, true, k.close));
            }
            if let Some(h) = held.take() {
                out.push(s.message(&h, true, h.close));
            }
            for m in out {
                if socket.send(Message::Text(m.into())).await.is_err() {
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
