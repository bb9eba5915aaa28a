//! Alpaca's trading API on the test server: `POST /v2/orders`,
//! `GET /v2/orders:by_client_order_id`, `DELETE /v2/orders/{id}`,
//! `GET /v2/orders`, `GET /v2/account/activities/FILL`, `GET /v2/positions`
//! and `GET /v2/account` (and `GET /v2/calendar`: `alpaca_calendar.rs`),
//! with the key headers checked (`APCA-API-KEY-ID`,
//! `APCA-API-SECRET-KEY`; 401 otherwise), a client order id accepted once
//! ever (422 "client_order_id must be unique"), 200 requests a minute with
//! `X-Ratelimit-Limit/Remaining/Reset` (429 past it).
//!
//! Orders fill on the server's klines: a market order at the last closed
//! bar's close, a limit order when a later bar trades through its price.
//!
//! OCO orders as trading/orders.md ("OCO Orders", "Bracket Orders",
//! "Threshold on stop price of stop-loss orders") describes them: exits
//! only; `type` `limit`; the take-profit (`take_profit.limit_price`) is the
//! parent under the client's id, the stop (`stop_loss.stop_price`) a leg
//! with an id and client order id of Alpaca's; the stop at least $0.01
//! below (a buy: above) both the take-profit's price and the market; when
//! one fills or is cancelled the other is cancelled; `GET /v2/orders`
//! lists each leg as an order of its own, or under its parent's `legs`
//! with `nested=true`; nothing else shows `legs`. Where the docs are
//! silent, the least forgiving reading: fractional quantities are refused
//! (fractional-trading.md supports "market and day order types" only), and
//! a bar that reaches both legs fills the one listed first, the parent.
//! The test can lose the response to a placement (answered after the
//! client gave up), answer 500 after accepting, hide a new order from
//! lookups for a while, and exhaust the rate limit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde_json::{Value, json};

use crate::alpaca::{Inner, KEY, SECRET, rfc3339};

/// What the test makes the server do wrong.
#[derive(Default)]
pub struct TradingFaults {
    /// The next N placements are accepted and answered after `hang_ms`.
    pub accept_then_hang: AtomicU64,
    /// How long (ms; default 3,000).
    pub hang_ms: AtomicU64,
    /// The next N placements are accepted and answered 500.
    pub accept_then_500: AtomicU64,
    /// Lookups say 404 for this long after placement (ms).
    pub hide_new_ms: AtomicU64,
    /// The next N requests find the minute's 200 spent (429).
    pub exhausted: AtomicU64,
    /// `trade_updates`: connections refused while set.
    pub stream_down: std::sync::atomic::AtomicBool,
    /// `trade_updates` closes each connection after this many events (0: never).
    pub stream_drop_after: AtomicU64,
}

/// One order.
#[derive(Debug, Clone)]
pub struct AlpacaOrder {
    /// Alpaca's id.
    pub id: String,
    /// Client order id.
    pub client_order_id: String,
    /// `buy` / `sell`.
    pub side: String,
    /// `market` / `limit`.
    pub kind: String,
    /// Quantity.
    pub qty: f64,
    /// Limit price.
    pub limit: f64,
    /// A `stop` order's `stop_price` (0 otherwise); a `trailing_stop`'s
    /// as it stands (`hwm` less the trail).
    pub stop: f64,
    /// A `trailing_stop`'s `trail_price` (dollars) or `trail_percent`.
    pub trail: Option<Trail>,
    /// A `trailing_stop`'s high water mark: "the highest (for sell, lowest
    /// for buy) prices … since the order was submitted".
    pub hwm: f64,
    /// Filled.
    pub filled: f64,
    /// `new`, `partially_filled`, `filled`, `canceled`.
    pub status: String,
    /// `""` (simple) or `oco`.
    pub order_class: String,
    /// An OCO's stop leg: its parent's id.
    pub parent: Option<String>,
    /// The bar in progress when it was placed (it trades from that bar on).
    pub at_bar: usize,
    created: Instant,
    created_at: String,
}

/// How a `trailing_stop` trails (trading/orders.md, "Trailing Stop
/// Orders").
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trail {
    /// `trail_price`: "the stop price is always `hwm - 2.00`" (a sell).
    Price(f64),
    /// `trail_percent`: "the stop price is always `hwm * 0.99`" for 1.0.
    Percent(f64),
}

impl Trail {
    fn stop(self, hwm: f64, sell: bool) -> f64 {
        let d = if sell { 1.0 } else { -1.0 };
        match self {
            Trail::Price(x) => hwm - d * x,
            Trail::Percent(x) => hwm * (1.0 - d * x / 100.0),
        }
    }
}

/// One fill activity.
#[derive(Debug, Clone)]
pub struct Activity {
    /// Activity id.
    pub id: String,
    /// Order id.
    pub order_id: String,
    /// Quantity.
    pub qty: f64,
    /// Price.
    pub price: f64,
}

#[derive(Default)]
pub(crate) struct Book {
    orders: Vec<AlpacaOrder>,
    fills: Vec<Activity>,
    matched_to: usize,
    position: f64,
    cash: f64,
    next: u64,
}

/// The trading account.
#[derive(Default)]
pub struct Trading {
    pub(crate) book: Mutex<Book>,
    /// Misbehaviour.
    pub faults: TradingFaults,
    /// Requests refused for bad keys.
    pub refused: AtomicU64,
    /// Placements refused as a client order id seen before.
    pub duplicates: AtomicU64,
    attempts: Mutex<Vec<String>>,
    /// `trade_updates` connections authorized, and events sent on them.
    pub stream_connections: AtomicU64,
    pub stream_events: AtomicU64,
    /// `GET /v2/calendar` requests: `start`-`end` as asked.
    pub calendar_asks: Mutex<Vec<String>>,
}

impl Trading {
    /// Accepted orders, in order.
    pub fn orders(&self) -> Vec<AlpacaOrder> {
        self.book.lock().unwrap().orders.clone()
    }
    /// `n` open limit buys at 1.0 that someone else placed on the account
    /// a millisecond apart from `at_ms` (they never fill), under the client
    /// ids `<prefix><i>`.
    pub fn foreign_open_orders(&self, prefix: &str, n: usize, at_ms: i64) {
        let mut b = self.book.lock().unwrap();
        for i in 0..n {
            let created_at = crate::alpaca::rfc3339_micros(at_ms + i as i64);
            b.next += 1;
            let id = format!("foreign-{}", b.next);
            b.orders.push(AlpacaOrder {
                id,
                client_order_id: format!("{prefix}{i}"),
                side: "buy".into(),
                kind: "limit".into(),
                qty: 1.0,
                limit: 1.0,
                stop: 0.0,
                trail: None,
                hwm: 0.0,
                filled: 0.0,
                status: "new".into(),
                order_class: String::new(),
                parent: None,
                at_bar: 0,
                created: Instant::now(),
                created_at,
            });
        }
    }

    /// `n` fills someone else made on the account at `at_ms` (a filled
    /// order of another client, one activity per fill).
    pub fn earlier_fills(&self, n: usize, at_ms: i64) {
        let mut b = self.book.lock().unwrap();
        let created_at = crate::alpaca::rfc3339(at_ms);
        b.orders.push(AlpacaOrder {
            id: "someone-else".into(),
            client_order_id: "someone-else".into(),
            side: "buy".into(),
            kind: "market".into(),
            qty: n as f64,
            limit: 0.0,
            stop: 0.0,
            trail: None,
            hwm: 0.0,
            filled: 0.0,
            status: "new".into(),
            order_class: String::new(),
            parent: None,
            at_bar: 0,
            created: Instant::now(),
            created_at,
        });
        let k = b.orders.len() - 1;
        for _ in 0..n {
            fill(&mut b, k, 1.0, 1.0);
        }
    }

    /// Fills, in order.
    pub fn fills(&self) -> Vec<Activity> {
        self.book.lock().unwrap().fills.clone()
    }
    /// Placement requests (client order ids), in order.
    pub fn attempts(&self) -> Vec<String> {
        self.attempts.lock().unwrap().clone()
    }
    /// The account's position.
    pub fn position(&self) -> f64 {
        self.book.lock().unwrap().position
    }
}

fn open(s: &str) -> bool {
    s == "new" || s == "accepted" || s == "partially_filled"
}

impl Inner {
    pub(crate) fn settle(&self, b: &mut Book) {
        let closed = self.closed();
        while b.matched_to < closed {
            let k = self.klines[b.matched_to];
            let i = b.matched_to;
            b.matched_to += 1;
            let trailed: Vec<(usize, f64)> = b
                .orders
                .iter_mut()
                .enumerate()
                .filter(|(_, o)| o.at_bar <= i && open(&o.status))
                .filter_map(|(n, o)| trail(o, &k).map(|p| (n, p)))
                .collect();
            for (n, p) in trailed {
                let q = b.orders[n].qty - b.orders[n].filled;
                fill(b, n, q, p);
            }
            // A limit at its price; a stop (alpaca-docs: a market order
            // once the stop price is reached) at the stop, or at the open
            // when the bar gapped through it.
            let hits: Vec<(usize, f64)> = b
                .orders
                .iter()
                .enumerate()
                .filter(|(_, o)| o.at_bar <= i && open(&o.status))
                .filter_map(|(n, o)| match (o.kind.as_str(), o.side.as_str()) {
                    ("limit", "buy") if k.low <= o.limit => Some((n, o.limit)),
                    ("limit", "sell") if k.high >= o.limit => Some((n, o.limit)),
                    ("stop", "sell") if k.low <= o.stop => Some((n, k.open.min(o.stop))),
                    ("stop", "buy") if k.high >= o.stop => Some((n, k.open.max(o.stop))),
                    _ => None,
                })
                .collect();
            for (n, p) in hits {
                // The other leg of an OCO is cancelled once one fills.
                if !open(&b.orders[n].status) {
                    continue;
                }
                let q = b.orders[n].qty - b.orders[n].filled;
                fill(b, n, q, p);
                cancel_group(b, n);
            }
        }
    }

    fn last(&self) -> f64 {
        let c = self.closed().max(1).min(self.klines.len());
        self.klines[c - 1].close
    }
}

/// A `trailing_stop` over one bar: the high water mark follows the
/// trades, the stop `hwm` less the trail, and it turns into a market order
/// once a trade reaches the stop — at the stop, at the open when the bar
/// gapped through. The bar's trades are taken in the order least kind to
/// the order (a sell: open, high, low, close). Where it filled, if it did.
fn trail(o: &mut AlpacaOrder, k: &crate::binance::Kline) -> Option<f64> {
    let t = o.trail?;
    let sell = o.side == "sell";
    let path = if sell {
        [k.open, k.high, k.low, k.close]
    } else {
        [k.open, k.low, k.high, k.close]
    };
    for (n, x) in path.into_iter().enumerate() {
        let stop = t.stop(o.hwm, sell);
        if (sell && x <= stop) || (!sell && x >= stop) {
            return Some(if n == 0 { x } else { stop });
        }
        o.hwm = if sell { o.hwm.max(x) } else { o.hwm.min(x) };
        o.stop = t.stop(o.hwm, sell);
    }
    None
}

fn fill(b: &mut Book, n: usize, q: f64, p: f64) {
    b.next += 1;
    let id = format!("20240101000000000::act-{}", b.next);
    let o = &mut b.orders[n];
    o.filled += q;
    o.status = if o.filled >= o.qty - 1e-12 {
        "filled".into()
    } else {
        "partially_filled".into()
    };
    let sign = if o.side == "buy" { 1.0 } else { -1.0 };
    b.position += sign * q;
    b.cash -= sign * q * p;
    let order_id = o.id.clone();
    b.fills.push(Activity {
        id,
        order_id,
        qty: q,
        price: p,
    });
}

/// Cancel what is still open of the OCO group order `n` belongs to.
fn cancel_group(b: &mut Book, n: usize) {
    let o = &b.orders[n];
    if o.order_class != "oco" {
        return;
    }
    let group = o.parent.clone().unwrap_or_else(|| o.id.clone());
    for x in b.orders.iter_mut() {
        let member = x.id == group || x.parent.as_deref() == Some(group.as_str());
        if member && open(&x.status) {
            x.status = "canceled".into();
        }
    }
}

fn order_json(b: &Book, o: &AlpacaOrder, symbol: &str) -> Value {
    let fills: Vec<&Activity> = b.fills.iter().filter(|f| f.order_id == o.id).collect();
    let notional: f64 = fills.iter().map(|f| f.qty * f.price).sum();
    json!({
        "id": o.id,
        "client_order_id": o.client_order_id,
        "created_at": o.created_at,
        "submitted_at": o.created_at,
        "symbol": symbol,
        "asset_class": "us_equity",
        "qty": format!("{}", o.qty),
        "filled_qty": format!("{}", o.filled),
        "filled_avg_price": if o.filled > 0.0 { json!(format!("{}", notional / o.filled)) } else { Value::Null },
        "order_type": o.kind, "type": o.kind,
        "side": o.side,
        "time_in_force": "day",
        "limit_price": if o.kind == "limit" { json!(format!("{}", o.limit)) } else { Value::Null },
        "stop_price": if o.kind == "stop" || o.kind == "trailing_stop" { json!(format!("{}", o.stop)) } else { Value::Null },
        "trail_price": match o.trail { Some(Trail::Price(x)) => json!(format!("{x}")), _ => Value::Null },
        "trail_percent": match o.trail { Some(Trail::Percent(x)) => json!(format!("{x}")), _ => Value::Null },
        "hwm": if o.trail.is_some() { json!(format!("{}", o.hwm)) } else { Value::Null },
        "status": o.status,
        "order_class": o.order_class,
        "legs": Value::Null,
    })
}

pub(crate) fn msg(status: StatusCode, code: u64, m: &str) -> Response {
    (status, axum::Json(json!({"code": code, "message": m}))).into_response()
}

fn take(c: &AtomicU64) -> bool {
    c.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// Key headers and the rate limit; `Err` is the answer.
pub(crate) fn gate(s: &Inner, h: &HeaderMap) -> Result<(), Box<Response>> {
    let key = h.get("APCA-API-KEY-ID").and_then(|v| v.to_str().ok());
    let secret = h.get("APCA-API-SECRET-KEY").and_then(|v| v.to_str().ok());
    if key != Some(KEY) || secret != Some(SECRET) {
        s.trading.refused.fetch_add(1, Ordering::SeqCst);
        return Err(Box::new(msg(
            StatusCode::UNAUTHORIZED,
            40110000,
            "request is not authorized",
        )));
    }
    if take(&s.trading.faults.exhausted) {
        let reset = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1;
        return Err(Box::new(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    ("x-ratelimit-limit", "200".to_string()),
                    ("x-ratelimit-remaining", "0".to_string()),
                    ("x-ratelimit-reset", reset.to_string()),
                ],
                axum::Json(json!({"code": 42910000, "message": "rate limit exceeded"})),
            )
                .into_response(),
        ));
    }
    Ok(())
}

pub(crate) fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/v2/orders", get(list).post(place))
        .route("/v2/orders:by_client_order_id", get(by_client))
        .route("/v2/orders/{id}", delete(cancel))
        .route("/v2/account/activities/FILL", get(activities))
        .route("/v2/positions", get(positions))
        .route("/v2/account", get(account))
        .route("/v2/calendar", get(crate::alpaca_calendar::calendar))
        .route("/stream", get(trade_updates))
}

/// `/stream`, as the paper environment serves it: binary frames of JSON;
/// `authenticate` (`key_id`, `secret_key`), then `listen` to
/// `trade_updates`, then an event for every change of an order (`new`,
/// `fill`, `partial_fill`, `canceled`), found by matching the book every
/// 20 ms.
async fn trade_updates(
    State(s): State<Arc<Inner>>,
    ws: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    if s.trading.faults.stream_down.load(Ordering::SeqCst) {
        return msg(StatusCode::SERVICE_UNAVAILABLE, 50300000, "unavailable");
    }
    ws.on_upgrade(move |socket| serve_trade_updates(s, socket))
}

async fn serve_trade_updates(s: Arc<Inner>, mut socket: axum::extract::ws::WebSocket) {
    use axum::extract::ws::Message;
    async fn read(socket: &mut axum::extract::ws::WebSocket) -> Option<Value> {
        loop {
            match socket.recv().await? {
                Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
                Ok(Message::Binary(b)) => return serde_json::from_slice(&b).ok(),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }
    let frame = |v: Value| Message::Binary(v.to_string().into_bytes().into());
    let Some(auth) = read(&mut socket).await else {
        return;
    };
    let ok = auth["action"] == "authenticate"
        && auth["data"]["key_id"] == KEY
        && auth["data"]["secret_key"] == SECRET;
    let status = if ok { "authorized" } else { "unauthorized" };
    if !ok {
        s.trading.refused.fetch_add(1, Ordering::SeqCst);
    }
    let _ = socket
        .send(frame(json!({"stream": "authorization", "data": {"status": status, "action": "authenticate"}})))
        .await;
    if !ok {
        return;
    }
    let Some(listen) = read(&mut socket).await else {
        return;
    };
    if listen["action"] != "listen" || listen["data"]["streams"][0] != "trade_updates" {
        return;
    }
    if socket
        .send(frame(
            json!({"stream": "listening", "data": {"streams": ["trade_updates"]}}),
        ))
        .await
        .is_err()
    {
        return;
    }
    s.trading.stream_connections.fetch_add(1, Ordering::SeqCst);
    let mut told: std::collections::HashMap<String, (String, f64)> = {
        let b = s.trading.book.lock().unwrap();
        b.orders
            .iter()
            .map(|o| (o.client_order_id.clone(), (o.status.clone(), o.filled)))
            .collect()
    };
    let mut sent = 0u64;
    loop {
        let events: Vec<Value> = {
            let mut b = s.trading.book.lock().unwrap();
            s.settle(&mut b);
            let mut out = Vec::new();
            for o in &b.orders {
                let now = (o.status.clone(), o.filled);
                if told.get(&o.client_order_id) == Some(&now) {
                    continue;
                }
                told.insert(o.client_order_id.clone(), now);
                let event = match o.status.as_str() {
                    "filled" => "fill",
                    "partially_filled" => "partial_fill",
                    "canceled" => "canceled",
                    _ => "new",
                };
                out.push(json!({
                    "stream": "trade_updates",
                    "data": {
                        "event": event,
                        "timestamp": rfc3339(0),
                        "order": {
                            "id": o.id,
                            "client_order_id": o.client_order_id,
                            "symbol": s.symbol,
                            "side": o.side,
                            "type": o.kind,
                            "qty": format!("{}", o.qty),
                            "filled_qty": format!("{}", o.filled),
                            "status": o.status,
                        }
                    }
                }));
            }
            out
        };
        let turn = crate::StreamTurn {
            counter: &s.trading.stream_events,
            drop_after: &s.trading.faults.stream_drop_after,
            copies: 1,
        };
        let events = events.into_iter().map(frame).collect();
        if !turn.run(&mut socket, events, &mut sent).await {
            return;
        }
    }
}

async fn place(State(s): State<Arc<Inner>>, h: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Err(r) = gate(&s, &h) {
        return *r;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return msg(StatusCode::UNPROCESSABLE_ENTITY, 40010000, "invalid body");
    };
    let t = &s.trading;
    let client = v["client_order_id"].as_str().unwrap_or("").to_string();
    t.attempts.lock().unwrap().push(client.clone());
    if client.len() > 48 {
        return msg(
            StatusCode::UNPROCESSABLE_ENTITY,
            40010000,
            "client_order_id must be no more than 48 characters",
        );
    }
    if v["symbol"].as_str() != Some(s.symbol.as_str()) {
        return msg(
            StatusCode::UNPROCESSABLE_ENTITY,
            40010001,
            "asset not found",
        );
    }
    let qty: f64 = v["qty"]
        .as_str()
        .and_then(|q| q.parse().ok())
        .unwrap_or(0.0);
    let side = v["side"].as_str().unwrap_or("").to_string();
    let kind = v["type"].as_str().unwrap_or("").to_string();
    let limit: f64 = v["limit_price"]
        .as_str()
        .and_then(|q| q.parse().ok())
        .unwrap_or(0.0);
    let stop: f64 = v["stop_price"]
        .as_str()
        .and_then(|q| q.parse().ok())
        .unwrap_or(0.0);
    if qty <= 0.0
        || (side != "buy" && side != "sell")
        || !["market", "limit", "stop", "trailing_stop"].contains(&kind.as_str())
        || (kind == "stop" && stop <= 0.0)
    {
        return msg(StatusCode::UNPROCESSABLE_ENTITY, 40010000, "invalid order");
    }
    let trail = if kind == "trailing_stop" {
        match trailing(&v, qty) {
            Ok(t) => Some(t),
            Err(refused) => return *refused,
        }
    } else {
        None
    };
    if kind == "stop" && !cents(stop) {
        return msg(
            StatusCode::UNPROCESSABLE_ENTITY,
            42210000,
            "invalid stop_price: sub-penny increment does not fulfill minimum pricing criteria",
        );
    }
    if kind == "limit" && !cents(limit) {
        return msg(
            StatusCode::UNPROCESSABLE_ENTITY,
            42210000,
            "invalid limit_price: sub-penny increment does not fulfill minimum pricing criteria",
        );
    }
    if v["order_class"] == "oco" {
        return place_oco(&s, &v, client, qty, side).await;
    }
    let lost = take(&t.faults.accept_then_hang);
    let e500 = take(&t.faults.accept_then_500);
    let body = {
        let mut b = t.book.lock().unwrap();
        s.settle(&mut b);
        if let Some(refused) = reused(t, &b, &client) {
            return refused;
        }
        b.next += 1;
        let at = b.matched_to;
        let created_at =
            crate::alpaca::rfc3339_micros(s.klines[at.min(s.klines.len() - 1)].open_time);
        let sell = side == "sell";
        let order = AlpacaOrder {
            id: format!("61e69015-8549-4bfd-b9c3-{:012}", b.next),
            client_order_id: client,
            side,
            kind: kind.clone(),
            qty,
            limit,
            stop: trail.map_or(stop, |t| t.stop(s.last(), sell)),
            trail,
            hwm: s.last(),
            filled: 0.0,
            status: "new".into(),
            order_class: String::new(),
            parent: None,
            at_bar: at,
            created: Instant::now(),
            created_at,
        };
        b.orders.push(order);
        let n = b.orders.len() - 1;
        if kind == "market" {
            let p = s.last();
            fill(&mut b, n, qty, p);
        }
        order_json(&b, &b.orders[n], &s.symbol)
    };
    if e500 {
        return msg(
            StatusCode::INTERNAL_SERVER_ERROR,
            50010000,
            "internal server error",
        );
    }
    if lost {
        let ms = match t.faults.hang_ms.load(Ordering::SeqCst) {
            0 => 3000,
            n => n,
        };
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    (
        [
            ("x-ratelimit-limit", "200"),
            ("x-ratelimit-remaining", "150"),
        ],
        axum::Json(body),
    )
        .into_response()
}

/// A `trailing_stop`'s trail (trading/orders.md, "Trailing Stop Orders"):
/// `trail_price` or `trail_percent` — one, positive; `time_in_force` `day`
/// or `gtc`; and, where the docs say nothing finer, to the hundredth.
/// Single orders only (an `oco` takes `limit` alone) and whole shares
/// (fractional-trading.md: "`market` and `day` order types").
fn trailing(v: &Value, qty: f64) -> Result<Trail, Box<Response>> {
    let invalid = |m: &str| Box::new(msg(StatusCode::UNPROCESSABLE_ENTITY, 42210000, m));
    let number = |k: &str| v[k].as_str().and_then(|x| x.parse::<f64>().ok());
    let trail = match (number("trail_price"), number("trail_percent")) {
        (Some(x), None) if x > 0.0 && cents(x) => Trail::Price(x),
        (None, Some(x)) if x > 0.0 && x < 100.0 && cents(x) => Trail::Percent(x),
        (None, None) => {
            return Err(invalid(
                "trail_price or trail_percent is required for trailing_stop",
            ));
        }
        _ => return Err(invalid("invalid trail_price or trail_percent")),
    };
    if !["day", "gtc"].contains(&v["time_in_force"].as_str().unwrap_or("")) {
        return Err(invalid("invalid time_in_force for trailing_stop"));
    }
    if qty.fract() != 0.0 {
        return Err(invalid("fractional orders must be market or day orders"));
    }
    Ok(trail)
}

/// A client order id seen before: refused (422), counted.
fn reused(t: &Trading, b: &Book, client: &str) -> Option<Response> {
    if !b.orders.iter().any(|o| o.client_order_id == client) {
        return None;
    }
    t.duplicates.fetch_add(1, Ordering::SeqCst);
    Some(msg(
        StatusCode::UNPROCESSABLE_ENTITY,
        40010001,
        "client_order_id must be unique",
    ))
}

/// A price in whole cents (sub-penny prices are refused).
fn cents(x: f64) -> bool {
    ((x * 100.0).round() - x * 100.0).abs() <= 1e-6
}

/// `POST /v2/orders` with `order_class` `oco` (see the module's docs).
async fn place_oco(s: &Inner, v: &Value, client: String, qty: f64, side: String) -> Response {
    let price = |x: &Value| {
        x.as_str()
            .and_then(|q| q.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let tp = price(&v["take_profit"]["limit_price"]);
    let sl = price(&v["stop_loss"]["stop_price"]);
    let tif = v["time_in_force"].as_str().unwrap_or("");
    let invalid = |m: &str| msg(StatusCode::UNPROCESSABLE_ENTITY, 40010000, m);
    if v["type"] != "limit" {
        return invalid("oco orders must be limit orders");
    }
    if tp <= 0.0 || sl <= 0.0 {
        return invalid("oco orders require take_profit.limit_price and stop_loss.stop_price");
    }
    if tif != "day" && tif != "gtc" {
        return invalid("oco orders require time_in_force day or gtc");
    }
    if qty.fract() != 0.0 {
        return invalid("fractional orders must be simple orders");
    }
    if !cents(tp) || !cents(sl) {
        return msg(
            StatusCode::UNPROCESSABLE_ENTITY,
            42210000,
            "invalid price: sub-penny increment does not fulfill minimum pricing criteria",
        );
    }
    let t = &s.trading;
    let mut b = t.book.lock().unwrap();
    s.settle(&mut b);
    if let Some(refused) = reused(t, &b, &client) {
        return refused;
    }
    // Exits only, and the shares one exit holds no other may sell.
    let sell = side == "sell";
    let held: f64 = b
        .orders
        .iter()
        .filter(|o| open(&o.status) && o.side == side && o.parent.is_none())
        .map(|o| o.qty - o.filled)
        .sum();
    let available = if sell { b.position } else { -b.position } - held;
    if available < qty - 1e-9 {
        return msg(
            StatusCode::FORBIDDEN,
            40310000,
            &format!(
                "insufficient qty available for order (requested: {qty}, available: {available})"
            ),
        );
    }
    // "at least $0.01 below (for stop-loss sell, above for buy) than the
    // base price": the take-profit's price and the market's.
    let last = s.last();
    let threshold = if sell {
        sl <= tp.min(last) - 0.01 + 1e-9
    } else {
        sl >= tp.max(last) + 0.01 - 1e-9
    };
    if !threshold {
        return msg(
            StatusCode::UNPROCESSABLE_ENTITY,
            42210000,
            &format!(
                "stop price must not be greater than base price / 0.01. sub-penny increment does not fulfill minimum pricing criteria (stop_price {sl}, base {})",
                if sell { tp.min(last) } else { tp.max(last) }
            ),
        );
    }
    let at = b.matched_to;
    let created_at = crate::alpaca::rfc3339_micros(s.klines[at.min(s.klines.len() - 1)].open_time);
    let order = |b: &mut Book, client: String, kind: &str, parent: Option<String>| {
        b.next += 1;
        let o = AlpacaOrder {
            id: format!("61e69015-8549-4bfd-b9c3-{:012}", b.next),
            client_order_id: client,
            side: side.clone(),
            kind: kind.into(),
            qty,
            limit: if kind == "limit" { tp } else { 0.0 },
            stop: if kind == "stop" { sl } else { 0.0 },
            trail: None,
            hwm: 0.0,
            filled: 0.0,
            status: "new".into(),
            order_class: "oco".into(),
            parent,
            at_bar: at,
            created: Instant::now(),
            created_at: created_at.clone(),
        };
        b.orders.push(o);
        b.orders.len() - 1
    };
    let parent = order(&mut b, client, "limit", None);
    let parent_id = b.orders[parent].id.clone();
    let leg_client = format!("9a1b2c3d-leg-{:08}", b.next + 1);
    order(&mut b, leg_client, "stop", Some(parent_id));
    axum::Json(order_json(&b, &b.orders[parent], &s.symbol)).into_response()
}

async fn by_client(
    State(s): State<Arc<Inner>>,
    h: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Err(r) = gate(&s, &h) {
        return *r;
    }
    let t = &s.trading;
    let mut b = t.book.lock().unwrap();
    s.settle(&mut b);
    let hide = Duration::from_millis(t.faults.hide_new_ms.load(Ordering::SeqCst));
    let client = q.get("client_order_id").cloned().unwrap_or_default();
    match b.orders.iter().find(|o| o.client_order_id == client) {
        Some(o) if o.created.elapsed() >= hide => {
            axum::Json(order_json(&b, o, &s.symbol)).into_response()
        }
        _ => msg(StatusCode::NOT_FOUND, 40410000, "order not found"),
    }
}

async fn cancel(State(s): State<Arc<Inner>>, h: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = gate(&s, &h) {
        return *r;
    }
    let mut b = s.trading.book.lock().unwrap();
    s.settle(&mut b);
    match b.orders.iter_mut().find(|o| o.id == id) {
        Some(o) if open(&o.status) => {
            o.status = "canceled".into();
            let n = b.orders.iter().position(|o| o.id == id).unwrap();
            cancel_group(&mut b, n);
            StatusCode::NO_CONTENT.into_response()
        }
        Some(_) => msg(
            StatusCode::UNPROCESSABLE_ENTITY,
            42210000,
            "order is not cancelable",
        ),
        None => msg(StatusCode::NOT_FOUND, 40410000, "order not found"),
    }
}

/// `GET /v2/orders` as alpaca-docs describes it (data/webapi/endpoints/
/// orders.yaml, "Get a list of orders"): `status` `open` (default),
/// `closed` or `all`; `limit` the most orders returned, default 50 and
/// maximum 500 (more is refused: the least forgiving reading); `after` and
/// `until` submission times, both exclusive; `direction` by submission
/// time, `asc` or `desc` (default `desc`); `symbols` a comma-separated
/// filter.
async fn list(
    State(s): State<Arc<Inner>>,
    h: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Err(r) = gate(&s, &h) {
        return *r;
    }
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 50,
        Some(Ok(l)) if (1..=500).contains(&l) => l,
        Some(_) => {
            return msg(StatusCode::UNPROCESSABLE_ENTITY, 40010000, "invalid limit");
        }
    };
    let time = |key: &str| match q.get(key) {
        None => Ok(None),
        Some(t) => crate::alpaca::parse_rfc3339(t).map(Some).ok_or(()),
    };
    let (Ok(after), Ok(until)) = (time("after"), time("until")) else {
        return msg(
            StatusCode::UNPROCESSABLE_ENTITY,
            40010000,
            "invalid timestamp",
        );
    };
    let desc = q.get("direction").is_none_or(|d| d != "asc");
    let symbols: Option<Vec<&str>> = q.get("symbols").map(|l| l.split(',').collect());
    let mut b = s.trading.book.lock().unwrap();
    s.settle(&mut b);
    let status = q.get("status").map_or("open", String::as_str);
    let nested = q.get("nested").is_some_and(|n| n == "true");
    let mut list: Vec<&AlpacaOrder> = b
        .orders
        .iter()
        .filter(|o| !(nested && o.parent.is_some()))
        .filter(|o| match status {
            "closed" => !open(&o.status),
            "all" => true,
            _ => open(&o.status),
        })
        .filter(|_| {
            symbols
                .as_ref()
                .is_none_or(|l| l.contains(&s.symbol.as_str()))
        })
        .filter(|o| {
            let at = crate::alpaca::parse_rfc3339(&o.created_at).unwrap_or(0);
            after.is_none_or(|a| at > a) && until.is_none_or(|u| at < u)
        })
        .collect();
    // By submission time (stable: equal times keep the order they came in).
    list.sort_by_key(|o| crate::alpaca::parse_rfc3339(&o.created_at).unwrap_or(0));
    if desc {
        list.reverse();
    }
    let list: Vec<Value> = list
        .into_iter()
        .take(limit)
        .map(|o| {
            let mut v = order_json(&b, o, &s.symbol);
            if nested && o.order_class == "oco" {
                let legs = b.orders.iter().filter(|x| x.parent.as_ref() == Some(&o.id));
                v["legs"] = legs.map(|x| order_json(&b, x, &s.symbol)).collect();
            }
            v
        })
        .collect();
    axum::Json(Value::Array(list)).into_response()
}

/// `GET /v2/account/activities/FILL`, paged as alpaca-docs describes it
/// (trading-api/account-activities.md, "Paging of Results", and
/// data/webapi/endpoints/account-activities.yaml): `direction` `asc` or
/// `desc` (default `desc`); `page_size` the most entries returned, default
/// and maximum 100 (no `date` here); `page_token` the id of the end of the
/// current page — `desc` results end before it, `asc` results begin right
/// after it; `after` only activities after that time (strictly: the
/// least forgiving reading).
async fn activities(
    State(s): State<Arc<Inner>>,
    h: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Err(r) = gate(&s, &h) {
        return *r;
    }
    let mut b = s.trading.book.lock().unwrap();
    s.settle(&mut b);
    let desc = q.get("direction").is_none_or(|d| d != "asc");
    let page_size = q
        .get("page_size")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 100);
    let after = q.get("after").and_then(|a| crate::alpaca::parse_rfc3339(a));
    let mut all: Vec<(&Activity, &AlpacaOrder)> = b
        .fills
        .iter()
        .map(|f| (f, b.orders.iter().find(|o| o.id == f.order_id).unwrap()))
        .filter(|(_, o)| {
            after.is_none_or(|a| crate::alpaca::parse_rfc3339(&o.created_at).is_some_and(|t| t > a))
        })
        .collect();
    if desc {
        all.reverse();
    }
    let start = match q.get("page_token") {
        Some(t) => match all.iter().position(|(f, _)| &f.id == t) {
            Some(i) => i + 1,
            None => all.len(),
        },
        None => 0,
    };
    let list: Vec<Value> = all
        .iter()
        .skip(start)
        .take(page_size)
        .map(|(f, o)| {
            json!({
                "id": f.id, "activity_type": "FILL", "type": "fill",
                "order_id": f.order_id, "symbol": s.symbol, "side": o.side,
                "qty": format!("{}", f.qty), "price": format!("{}", f.price),
                "cum_qty": format!("{}", o.filled), "leaves_qty": format!("{}", o.qty - o.filled),
                "transaction_time": o.created_at,
            })
        })
        .collect();
    axum::Json(Value::Array(list)).into_response()
}

async fn positions(State(s): State<Arc<Inner>>, h: HeaderMap) -> Response {
    if let Err(r) = gate(&s, &h) {
        return *r;
    }
    let mut b = s.trading.book.lock().unwrap();
    s.settle(&mut b);
    let list = if b.position.abs() > 1e-12 {
        vec![
            json!({"symbol": s.symbol, "qty": format!("{}", b.position), "side": if b.position > 0.0 {"long"} else {"short"}}),
        ]
    } else {
        vec![]
    };
    axum::Json(Value::Array(list)).into_response()
}

async fn account(State(s): State<Arc<Inner>>, h: HeaderMap) -> Response {
    if let Err(r) = gate(&s, &h) {
        return *r;
    }
    let b = s.trading.book.lock().unwrap();
    axum::Json(json!({
        "account_number": "PA3TESTACCT", "status": "ACTIVE", "currency": "USD",
        "cash": format!("{}", 1_000_000.0 + b.cash), "trading_blocked": false,
    }))
    .into_response()
}
