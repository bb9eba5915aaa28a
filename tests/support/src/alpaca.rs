//! An Alpaca market-data v2 test server on 127.0.0.1: the stream at
//! `/v2/iex` (connect, authenticate, subscribe to `bars`, arrays of `b`
//! and `u` messages, `error` with codes 401/402/406) and
//! `GET /v2/stocks/bars` with `next_page_token` paging and key headers.
//!
//! Prices are real minute klines (the January 2024 BTCUSDT file) served
//! under a stock symbol: the protocol is what is under test. The clock is
//! virtual, as in the Binance server. The test can refuse credentials, allow
//! a single connection (406 for a second, as most plans do), drop
//! connections, and send late corrections of bars already sent.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::binance::Kline;

/// The key and secret the server accepts.
pub const KEY: &str = "PKTEST0123456789";
/// The secret the server accepts.
pub const SECRET: &str = "secret-0123456789abcdef";

pub(crate) struct Inner {
    pub(crate) symbol: String,
    pub(crate) klines: Vec<Kline>,
    bars_per_second: f64,
    start: Mutex<Instant>,
    page: usize,
    generation: AtomicU64,
    open: AtomicU64,
    connections: AtomicU64,
    refused_406: AtomicU64,
    corrections: Mutex<HashSet<i64>>,
    auth_messages: Mutex<Vec<Value>>,
    subscribe_before_auth: AtomicBool,
    /// The trading account (`alpaca_trading.rs`).
    pub(crate) trading: crate::alpaca_trading::Trading,
}

impl Inner {
    pub(crate) fn closed(&self) -> usize {
        ((self.start.lock().unwrap().elapsed().as_secs_f64() * self.bars_per_second) as usize)
            .min(self.klines.len())
    }

    fn bar(&self, k: &Kline, kind: &str, close: f64) -> Value {
        json!({
            "T": kind, "S": self.symbol,
            "o": k.open, "h": k.high.max(close), "l": k.low.min(close), "c": close, "v": k.volume,
            "t": rfc3339(k.open_time), "n": 1, "vw": k.close,
        })
    }
}

pub(crate) fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    // YYYY-MM-DDTHH:MM:SS(.fff)Z
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    // A fraction of a second, if any (`.942282` → 942 ms).
    let ms = match s.get(19..20) {
        Some(".") => {
            let digits: String = s[20..].chars().take_while(char::is_ascii_digit).collect();
            let three: String = digits.chars().chain("000".chars()).take(3).collect();
            three.parse::<i64>().ok()?
        }
        _ => 0,
    };
    Some(((days * 86_400) + hh * 3600 + mm * 60 + ss) * 1000 + ms)
}

/// `ms` as Alpaca writes an order's times: RFC 3339 with a fraction of a
/// second (microseconds).
pub(crate) fn rfc3339_micros(ms: i64) -> String {
    let whole = rfc3339(ms);
    format!(
        "{}.{:03}000Z",
        whole.trim_end_matches('Z'),
        ms.rem_euclid(1000)
    )
}

/// A running Alpaca test server.
pub struct AlpacaServer {
    /// REST base (`http://127.0.0.1:port`).
    pub rest_url: String,
    /// Stream URL (`ws://127.0.0.1:port/v2/iex`).
    pub ws_url: String,
    inner: Arc<Inner>,
    _rt: tokio::runtime::Runtime,
}

impl AlpacaServer {
    /// Serve `klines` as minute bars of `symbol`, `bars_per_second` closing
    /// per second; REST pages hold at most `page` bars.
    pub fn start(symbol: &str, klines: Vec<Kline>, bars_per_second: f64, page: usize) -> Self {
        Self::serving(symbol, klines, bars_per_second, page, None)
    }

    /// The same server over TLS only (`https://localhost:port`,
    /// `wss://localhost:port/v2/iex`), its certificate signed by `ca`.
    pub fn start_tls(
        symbol: &str,
        klines: Vec<Kline>,
        bars_per_second: f64,
        page: usize,
        ca: &crate::tls::TestCa,
    ) -> Self {
        Self::serving(symbol, klines, bars_per_second, page, Some(ca))
    }

    fn serving(
        symbol: &str,
        klines: Vec<Kline>,
        bars_per_second: f64,
        page: usize,
        ca: Option<&crate::tls::TestCa>,
    ) -> Self {
        let inner = Arc::new(Inner {
            symbol: symbol.into(),
            klines,
            bars_per_second,
            start: Mutex::new(Instant::now()),
            page,
            generation: AtomicU64::new(0),
            open: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            refused_406: AtomicU64::new(0),
            corrections: Mutex::new(HashSet::new()),
            auth_messages: Mutex::new(Vec::new()),
            subscribe_before_auth: AtomicBool::new(false),
            trading: Default::default(),
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let app = Router::new()
            .route("/v2/iex", get(stream))
            .route("/v2/stocks/bars", get(bars))
            .merge(crate::alpaca_trading::routes())
            .with_state(inner.clone());
        let addr = crate::tls::serve(&rt, app, ca);
        let (http, ws) = if ca.is_some() {
            ("https", "wss")
        } else {
            ("http", "ws")
        };
        AlpacaServer {
            rest_url: format!("{http}://{addr}"),
            ws_url: format!("{ws}://{addr}/v2/iex"),
            inner,
            _rt: rt,
        }
    }

    /// The trading account: orders, fills, and what it is told to do wrong.
    pub fn trading(&self) -> &crate::alpaca_trading::Trading {
        &self.inner.trading
    }

    /// Send a correction of this bar after it has been sent.
    pub fn correct(&self, open_time: i64) {
        self.inner.corrections.lock().unwrap().insert(open_time);
    }

    /// Close every stream connection now.
    pub fn drop_connections(&self) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Bars closed so far.
    pub fn closed(&self) -> usize {
        self.inner.closed()
    }

    /// Fill what the bars closed so far trade through (the server does so
    /// before answering any request; this does it with no client).
    pub fn settle(&self) {
        let mut b = self.inner.trading.book.lock().unwrap();
        self.inner.settle(&mut b);
    }

    /// Start the clock again from the first bar (a test that prepared its
    /// fixture slowly does not begin with a backlog of closed bars).
    pub fn restart_clock(&self) {
        *self.inner.start.lock().unwrap() = Instant::now();
    }

    /// The served bars.
    pub fn klines(&self) -> &[Kline] {
        &self.inner.klines
    }

    /// Stream connections accepted (past the connection limit).
    pub fn connections(&self) -> u64 {
        self.inner.connections.load(Ordering::SeqCst)
    }

    /// Connections refused with 406.
    pub fn refused(&self) -> u64 {
        self.inner.refused_406.load(Ordering::SeqCst)
    }

    /// The auth messages received.
    pub fn auth_messages(&self) -> Vec<Value> {
        self.inner.auth_messages.lock().unwrap().clone()
    }

    /// Whether a client ever subscribed before it was authenticated.
    pub fn subscribed_before_auth(&self) -> bool {
        self.inner.subscribe_before_auth.load(Ordering::SeqCst)
    }
}

async fn bars(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let key = headers.get("APCA-API-KEY-ID").and_then(|v| v.to_str().ok());
    let secret = headers
        .get("APCA-API-SECRET-KEY")
        .and_then(|v| v.to_str().ok());
    if key != Some(KEY) || secret != Some(SECRET) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "forbidden"})),
        )
            .into_response();
    }
    if q.get("timeframe").map(String::as_str) != Some("1Min") {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"message": "invalid timeframe"})),
        )
            .into_response();
    }
    let start = q
        .get("start")
        .and_then(|t| parse_rfc3339(t))
        .unwrap_or(i64::MIN);
    let end = q
        .get("end")
        .and_then(|t| parse_rfc3339(t))
        .unwrap_or(i64::MAX);
    let from: usize = q
        .get("page_token")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let symbol_ok = q
        .get("symbols")
        .is_some_and(|x| x.split(',').any(|y| y == s.symbol));
    // alpaca-docs market-data-api, historical bars, `feed`: "Default is
    // `iex` for free plans and `sip` for paid". This account is on a paid
    // plan and streams IEX (`/v2/iex`): bars asked without `feed=iex` come
    // from the consolidated tape, with its larger volume.
    let tape = if q.get("feed").map(String::as_str) == Some("iex") {
        1.0
    } else {
        3.0
    };
    let closed = s.closed();
    let matching: Vec<(usize, &Kline)> = s.klines[..closed]
        .iter()
        .enumerate()
        .filter(|(_, k)| symbol_ok && k.open_time >= start && k.open_time <= end)
        .filter(|(i, _)| *i >= from)
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .take(s.page)
        .map(|(_, k)| {
            let mut b = s.bar(k, "b", k.close);
            b.as_object_mut().unwrap().remove("T");
            b.as_object_mut().unwrap().remove("S");
            b["v"] = json!(k.volume * tape);
            b
        })
        .collect();
    let next = matching.get(s.page).map(|(i, _)| i.to_string());
    axum::Json(json!({
        "bars": { s.symbol.clone(): page },
        "next_page_token": next,
    }))
    .into_response()
}

/// The symbols a subscription lists on one channel.
fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

async fn stream(State(s): State<Arc<Inner>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| serve(s, socket))
}

async fn send(socket: &mut WebSocket, v: Value) -> bool {
    socket
        .send(Message::Text(v.to_string().into()))
        .await
        .is_ok()
}

async fn serve(s: Arc<Inner>, mut socket: WebSocket) {
    if s.open.fetch_add(1, Ordering::SeqCst) > 0 {
        s.refused_406.fetch_add(1, Ordering::SeqCst);
        let _ = send(
            &mut socket,
            json!([{"T": "error", "code": 406, "msg": "connection limit exceeded"}]),
        )
        .await;
        let _ = socket.send(Message::Close(None)).await;
        s.open.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    s.connections.fetch_add(1, Ordering::SeqCst);
    session(&s, &mut socket).await;
    s.open.fetch_sub(1, Ordering::SeqCst);
}

async fn session(s: &Inner, socket: &mut WebSocket) {
    let generation = s.generation.load(Ordering::SeqCst);
    if !send(socket, json!([{"T": "success", "msg": "connected"}])).await {
        return;
    }
    let mut authenticated = false;
    let mut subscribed = false;
    let mut corrections_wanted = false;
    let mut next = s.closed();
    let mut pending_corrections: Vec<Kline> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if s.generation.load(Ordering::SeqCst) != generation {
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        if !authenticated && Instant::now() > deadline {
            let _ = send(
                socket,
                json!([{"T": "error", "code": 404, "msg": "auth timeout"}]),
            )
            .await;
            return;
        }
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(1), socket.recv()).await
        {
            let Ok(Message::Text(text)) = m else {
                if matches!(m, Ok(Message::Close(_)) | Err(_)) {
                    return;
                }
                continue;
            };
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            match v["action"].as_str() {
                Some("auth") => {
                    s.auth_messages.lock().unwrap().push(v.clone());
                    if v["key"] == KEY && v["secret"] == SECRET {
                        authenticated = true;
                        if !send(socket, json!([{"T": "success", "msg": "authenticated"}])).await {
                            return;
                        }
                    } else {
                        let _ = send(
                            socket,
                            json!([{"T": "error", "code": 402, "msg": "auth failed"}]),
                        )
                        .await;
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                }
                Some("subscribe") => {
                    if !authenticated {
                        s.subscribe_before_auth.store(true, Ordering::SeqCst);
                        let _ = send(
                            socket,
                            json!([{"T": "error", "code": 401, "msg": "not authenticated"}]),
                        )
                        .await;
                        continue;
                    }
                    let bars = names(&v["bars"]);
                    subscribed |= bars.contains(&s.symbol);
                    // Corrections (`u`) come on the `updatedBars` channel,
                    // to those who subscribe to it (alpaca-docs: the
                    // subscription message lists `bars` and `updatedBars`
                    // apart).
                    let updated = names(&v["updatedBars"]);
                    corrections_wanted |= updated.contains(&s.symbol);
                    let _ = send(
                        socket,
                        json!([{"T": "subscription", "trades": [], "quotes": [], "bars": bars, "updatedBars": updated}]),
                    )
                    .await;
                }
                _ => {}
            }
        }
        let closed = s.closed();
        if subscribed && next < closed {
            // Several bars in one array, corrections of earlier ones after them.
            let mut frame: Vec<Value> = Vec::new();
            for k in &s.klines[next..closed] {
                frame.push(s.bar(k, "b", k.close));
                if s.corrections.lock().unwrap().contains(&k.open_time) {
                    pending_corrections.push(*k);
                }
            }
            next = closed;
            if !send(socket, Value::Array(frame)).await {
                return;
            }
            for k in pending_corrections.drain(..) {
                if corrections_wanted
                    && !send(socket, json!([s.bar(&k, "u", k.close * 1.01)])).await
                {
                    return;
                }
            }
        } else if !subscribed {
            next = closed;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
