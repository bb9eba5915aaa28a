//! Binance spot trading on the test server: the signed REST endpoints a
//! live venue uses, in the formats Binance documents, against an account
//! whose orders fill on the server's own klines.
//!
//! Checks as the exchange does: the `X-MBX-APIKEY` header (`-2014`), the
//! HMAC-SHA256 signature over the query string (`-1022`), `timestamp`
//! within `recvWindow` of the server's (virtual) clock (`-1021`), the
//! symbol's filters (`-1013`), a client order id of an order that is not
//! FILLED (`-2010`: rest-api.md "New order", `newClientOrderId`: "Orders
//! with the same `newClientOrderID` can be accepted only when the previous
//! one is filled" — so after a fill the same id places a second order),
//! the account's free balance (`-2010` "Account has insufficient balance
//! for requested action.", errors.md), an order that does not exist
//! (`-2013`, `-2011`). Fees (0.1 %) are charged in the asset the trade
//! pays out — a buy's in the base asset, a sell's in the quote — as an
//! account without BNB pays them (the `commissionAsset` of rest-api.md's
//! fills); the docs do not say more, so this is the least forgiving
//! reading: the account holds the quantity bought less its fee. Fills: a market order
//! at the last closed kline's close (in two trades when `partial` is
//! set); a limit order when a kline that closes after it was placed trades
//! through its price, at the price. The clock goes on while no client is
//! connected, so orders fill "while the host is down".
//!
//! What the test makes it do wrong ([`Faults`]): accept an order and answer
//! only after the client gave up, or answer `-1007`; say "not found" for a
//! while after placement; list an order's trades late (rest-api.md "Data
//! Sources": "some delay in the response is normal and expected"); answer
//! 429 or 418 with `Retry-After`; announce `serverShutdown` on the user
//! data stream and go quiet; and orders placed by someone else
//! ([`Spot::place_foreign`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::binance::Inner;

/// The API key the server accepts.
pub const API_KEY: &str = "sandbar-test-key-9f2c";
/// Its secret.
pub const API_SECRET: &str = "sandbar-test-secret-77e1b0d4";
/// Lot step and minimum of the served symbol.
pub const LOT_STEP: f64 = 0.00001;
/// Minimum notional.
pub const MIN_NOTIONAL: f64 = 5.0;
/// The `TRAILING_DELTA` filter's BIPS, above and below alike (filters.md's
/// example: 10 to 2,000).
pub const TRAILING_DELTA: (i64, i64) = (10, 2000);

/// What the test makes the server do wrong.
#[derive(Default)]
pub struct Faults {
    /// The next N placements are accepted, then answered only after this
    /// long (longer than the client waits): the response is lost.
    pub accept_then_hang: AtomicU64,
    /// How long a hung answer waits (milliseconds; default 3,000).
    pub hang_ms: AtomicU64,
    /// The next N placements are accepted and answered `-1007`.
    pub accept_then_1007: AtomicU64,
    /// Queries say "does not exist" for this long after placement (ms).
    pub hide_new_ms: AtomicU64,
    /// The next N signed requests are answered 429 with `Retry-After: 1`.
    pub too_many: AtomicU64,
    /// The next signed request starts an IP ban of `ban_secs` (default 1):
    /// it and every request until the ban is over are answered 418 with
    /// the seconds left in `Retry-After` (rest-api.md, LIMITS: "in the
    /// case of a 418, until the ban is over"); those sent during the ban
    /// are counted in [`Spot::during_ban`].
    pub banned: AtomicU64,
    /// How long a ban lasts (seconds; 0: 1).
    pub ban_secs: AtomicU64,
    /// Market orders fill in two trades.
    pub partial: AtomicBool,
    /// The exchange's clock runs this far ahead of real time (ms): a client
    /// that does not track the offset is refused with -1021.
    pub skew_ms: std::sync::atomic::AtomicI64,
    /// The user data stream: connections are refused while set.
    pub stream_down: AtomicBool,
    /// The user data stream closes each connection after this many events
    /// (0: never): a disconnect in the middle of trading.
    pub stream_drop_after: AtomicU64,
    /// Every event is sent twice (a duplicate update).
    pub stream_duplicates: AtomicBool,
    /// The next N user data stream connections send `serverShutdown`
    /// (web-socket-api.md "Server Shutdown") and then nothing more for a
    /// minute before they close.
    pub stream_shutdowns: AtomicU64,
    /// `GET /api/v3/account` fails (HTTP 500, `-1000`) while set: what a
    /// reconciliation reads cannot be read.
    pub account_down: AtomicBool,
    /// `myTrades` lists a trade only this long after it happened (ms),
    /// while the order already counts it in `executedQty`.
    pub trades_lag_ms: AtomicU64,
}

/// One order.
#[derive(Debug, Clone)]
pub struct SpotOrder {
    /// Exchange id.
    pub order_id: i64,
    /// Client order id.
    pub client_id: String,
    /// `BUY` / `SELL`.
    pub side: String,
    /// `MARKET` / `LIMIT`.
    pub kind: String,
    /// Quantity.
    pub quantity: f64,
    /// Limit price.
    pub price: f64,
    /// A `STOP_LOSS` order's `stopPrice` (0 otherwise).
    pub stop_price: f64,
    /// A trailing `STOP_LOSS`'s `trailingDelta` in BIPS (0: none).
    pub trailing_delta: i64,
    /// A trailing stop's best trade price since it started tracking (the
    /// highest for a `SELL`, the lowest for a `BUY`; NaN before the first
    /// trade after it was placed).
    pub best: f64,
    /// Filled.
    pub executed: f64,
    /// `NEW`, `PARTIALLY_FILLED`, `FILLED`, `CANCELED`, `EXPIRED`.
    pub status: String,
    /// The OCO order list it belongs to (-1: none).
    pub list_id: i64,
    /// Klines closed when it was placed (a limit fills on later ones).
    pub placed_at_kline: usize,
    placed: Instant,
}

/// One trade.
#[derive(Debug, Clone)]
pub struct Trade {
    /// Trade id.
    pub id: i64,
    /// Order id.
    pub order_id: i64,
    /// Price.
    pub price: f64,
    /// Quantity.
    pub quantity: f64,
    /// Commission (0.1 %), in `commission_asset`.
    pub commission: f64,
    /// The asset the fee was taken in: the base for a buy, the quote for a
    /// sell.
    pub commission_asset: String,
    /// `BUY` / `SELL`.
    pub side: String,
    at: Instant,
}

impl Trade {
    /// What the trade moved the account's base balance by (signed): a
    /// buy's quantity less the fee kept from it, a sell's quantity.
    pub fn base_change(&self) -> f64 {
        if self.side == "BUY" {
            self.quantity - self.commission
        } else {
            -self.quantity
        }
    }
}

#[derive(Default)]
struct Book {
    orders: Vec<SpotOrder>,
    trades: Vec<Trade>,
    next_id: i64,
    matched_to: usize,
    base: f64,
    quote: f64,
    funded: bool,
}

/// The spot account and what it is told to do wrong.
#[derive(Default)]
pub struct Spot {
    book: Mutex<Book>,
    /// Misbehaviour.
    pub faults: Faults,
    /// Signed requests refused for a bad key or signature.
    pub refused: AtomicU64,
    /// Placements refused as duplicates of a client order id.
    pub duplicates: AtomicU64,
    /// Placements accepted under the client order id of a filled order
    /// (a second order).
    pub reused: AtomicU64,
    /// Signed requests received while an IP ban lasted.
    pub during_ban: AtomicU64,
    /// Signed requests received before a 429's `Retry-After` had passed
    /// (rest-api.md, LIMITS: "it's your obligation as an API to back off
    /// and not spam the API").
    pub during_retry_after: AtomicU64,
    retry_until: Mutex<Option<Instant>>,
    /// The account's key is an Ed25519 one with this public half.
    ed25519: Mutex<Option<ed25519_dalek::VerifyingKey>>,
    ban_until: Mutex<Option<Instant>>,
    /// Every placement request received (client order id), in order.
    attempts: Mutex<Vec<String>>,
    /// Every request line received (path and query, signature included).
    requests: Mutex<Vec<String>>,
    weight: AtomicU64,
    /// User data stream connections accepted, and events sent on them.
    pub stream_connections: AtomicU64,
    pub stream_events: AtomicU64,
    /// `MARKET_LOT_SIZE` `maxQty` (default 100), listed in the exchange
    /// information and enforced on market orders.
    pub market_max_qty: Mutex<Option<f64>>,
    /// `NOTIONAL` `maxNotional` with `applyMaxToMarket` true (default:
    /// 9,000,000 and false), listed and enforced on market orders.
    pub market_max_notional: Mutex<Option<f64>>,
}

impl Spot {
    /// `MARKET_LOT_SIZE` `maxQty`.
    pub fn market_max(&self) -> f64 {
        self.market_max_qty.lock().unwrap().unwrap_or(100.0)
    }
    /// Orders placed (accepted), in order.
    pub fn orders(&self) -> Vec<SpotOrder> {
        self.book.lock().unwrap().orders.clone()
    }
    /// Trades, in order.
    pub fn trades(&self) -> Vec<Trade> {
        self.book.lock().unwrap().trades.clone()
    }
    /// Placement requests received (client order ids), in order.
    pub fn attempts(&self) -> Vec<String> {
        self.attempts.lock().unwrap().clone()
    }
    /// Every request received, as path and query.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
    /// (base, quote) balances.
    pub fn balances(&self) -> (f64, f64) {
        let b = self.book.lock().unwrap();
        (b.base, b.quote)
    }
    /// Fill what the klines closed so far trade through (the server does
    /// this before answering any request).
    pub(crate) fn settle(&self, inner: &Inner) {
        inner.match_book(&mut self.book.lock().unwrap());
    }

    /// Someone else moves the account's base balance (a deposit, a trade
    /// by hand on the website).
    pub fn deposit(&self, base: f64) {
        self.book.lock().unwrap().base += base;
    }

    /// Someone else moves the account's quote balance (cash).
    pub fn deposit_quote(&self, quote: f64) {
        let mut b = self.book.lock().unwrap();
        if !b.funded {
            b.funded = true;
            b.quote = 1_000_000.0;
        }
        b.quote += quote;
    }

    /// An order someone else placed on the account: a resting limit buy.
    pub fn place_foreign(&self, client_id: &str, quantity: f64, price: f64) {
        let mut b = self.book.lock().unwrap();
        b.next_id += 1;
        let id = b.next_id;
        let at = b.matched_to;
        b.orders.push(SpotOrder {
            order_id: id,
            client_id: client_id.into(),
            side: "BUY".into(),
            kind: "LIMIT".into(),
            quantity,
            price,
            stop_price: 0.0,
            trailing_delta: 0,
            best: f64::NAN,
            executed: 0.0,
            status: "NEW".into(),
            list_id: -1,
            placed_at_kline: at,
            placed: Instant::now(),
        });
    }
}

/// The exchange's clock: real time plus the skew.
fn exchange_ms(s: &Inner) -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + s.spot.faults.skew_ms.load(Ordering::SeqCst)
}

async fn spot_time(State(s): State<Arc<Inner>>) -> Response {
    axum::Json(json!({ "serverTime": exchange_ms(&s) })).into_response()
}

fn err(status: StatusCode, code: i64, msg: &str) -> Response {
    (status, axum::Json(json!({"code": code, "msg": msg}))).into_response()
}

fn fmt(x: f64) -> String {
    format!("{x:.8}")
}

impl Inner {
    /// Fill what the klines closed since the last look trade through.
    fn match_book(&self, b: &mut Book) {
        let closed = self.closed();
        if !b.funded {
            b.funded = true;
            b.quote = 1_000_000.0;
        }
        while b.matched_to < closed {
            let k = self.klines[b.matched_to];
            let i = b.matched_to;
            b.matched_to += 1;
            let mut fills = Vec::new();
            for (n, o) in b.orders.iter_mut().enumerate() {
                if o.placed_at_kline > i || !open(&o.status) {
                    continue;
                }
                let buy = o.side == "BUY";
                if o.trailing_delta > 0 {
                    if let Some(px) = trail(o, &k) {
                        fills.push((n, o.quantity - o.executed, px));
                    }
                    continue;
                }
                match o.kind.as_str() {
                    "LIMIT" | "LIMIT_MAKER"
                        if (buy && k.low <= o.price) || (!buy && k.high >= o.price) =>
                    {
                        fills.push((n, o.quantity - o.executed, o.price));
                    }
                    // A market order once the kline trades at the stop: at
                    // the stop, or at the open when it gapped through.
                    "STOP_LOSS" if !buy && k.low <= o.stop_price => {
                        fills.push((n, o.quantity - o.executed, k.open.min(o.stop_price)));
                    }
                    "STOP_LOSS" if buy && k.high >= o.stop_price => {
                        fills.push((n, o.quantity - o.executed, k.open.max(o.stop_price)));
                    }
                    // A buy list's `TAKE_PROFIT` below: a market order once
                    // the market falls to it.
                    "TAKE_PROFIT" if buy && k.low <= o.stop_price => {
                        fills.push((n, o.quantity - o.executed, k.open.min(o.stop_price)));
                    }
                    _ => {}
                }
            }
            for (n, q, p) in fills {
                // rest-api.md, New Order list - OCO: "activation of one
                // order immediately cancels the other" — the other leg
                // ends EXPIRED (a status the host did not ask for), and
                // once a leg traded the other never does.
                let list = b.orders[n].list_id;
                if list >= 0
                    && b.orders.iter().any(|o| {
                        o.list_id == list && o.order_id != b.orders[n].order_id && !open(&o.status)
                    })
                {
                    continue;
                }
                trade(b, n, q, p, self.base_asset());
                if list >= 0 {
                    let me = b.orders[n].order_id;
                    for o in b.orders.iter_mut() {
                        if o.list_id == list && o.order_id != me && open(&o.status) {
                            o.status = "EXPIRED".into();
                        }
                    }
                }
            }
        }
    }

    fn base_asset(&self) -> &str {
        self.symbol.trim_end_matches("USDT")
    }

    fn last_close(&self) -> f64 {
        let c = self.closed();
        self.klines[c.saturating_sub(1).min(self.klines.len() - 1)].close
    }
}

/// A trailing `STOP_LOSS` over one kline (faqs/trailing-stop-faq.md): it
/// tracks "from the next trade" after it was placed — the best price the
/// highest trade for a `SELL`, the lowest for a `BUY` — and triggers once
/// the market moves `trailingDelta` BIPS against it from there, a market
/// order at that price (at the open when it gapped through). The kline's
/// trades are taken in the order least kind to the order: for a `SELL`
/// open, high, low, close (the high raises the stop before the low comes),
/// for a `BUY` open, low, high, close. Where it filled, if it did.
fn trail(o: &mut SpotOrder, k: &crate::binance::Kline) -> Option<f64> {
    let sell = o.side == "SELL";
    let delta = o.trailing_delta as f64 / 1e4;
    let path = if sell {
        [k.open, k.high, k.low, k.close]
    } else {
        [k.open, k.low, k.high, k.close]
    };
    let trigger = |best: f64| {
        if sell {
            best * (1.0 - delta)
        } else {
            best * (1.0 + delta)
        }
    };
    let against = |x: f64, level: f64| if sell { x <= level } else { x >= level };
    for (n, x) in path.into_iter().enumerate() {
        if o.best.is_nan() {
            o.best = x;
            continue;
        }
        let level = trigger(o.best);
        if against(x, level) {
            return Some(if n == 0 { x } else { level });
        }
        o.best = if sell { o.best.max(x) } else { o.best.min(x) };
    }
    None
}

fn open(status: &str) -> bool {
    status == "NEW" || status == "PARTIALLY_FILLED"
}

fn trade(b: &mut Book, n: usize, q: f64, p: f64, base_asset: &str) {
    b.next_id += 1;
    let id = b.next_id;
    let o = &mut b.orders[n];
    o.executed += q;
    o.status = if o.executed >= o.quantity - 1e-12 {
        "FILLED".into()
    } else {
        "PARTIALLY_FILLED".into()
    };
    let order_id = o.order_id;
    let side = o.side.clone();
    // The fee in the asset received, rounded to the asset's 8 decimals.
    let round8 = |x: f64| (x * 1e8).round() / 1e8;
    let (commission, commission_asset) = if side == "BUY" {
        let fee = round8(q * 0.001);
        b.base += q - fee;
        b.quote -= q * p;
        (fee, base_asset.to_string())
    } else {
        let fee = round8(q * p * 0.001);
        b.base -= q;
        b.quote += q * p - fee;
        (fee, "USDT".to_string())
    };
    b.trades.push(Trade {
        id,
        order_id,
        price: p,
        quantity: q,
        commission,
        commission_asset,
        side,
        at: Instant::now(),
    });
}

/// What open orders hold of each balance: (base, quote).
fn locked(b: &Book) -> (f64, f64) {
    let mut lists = std::collections::HashSet::new();
    b.orders
        .iter()
        .filter(|o| open(&o.status))
        // The legs of a list lock the quantity once.
        .filter(|o| o.list_id < 0 || lists.insert(o.list_id))
        .fold((0.0, 0.0), |(base, quote), o| {
            let left = o.quantity - o.executed;
            if o.side == "SELL" {
                (base + left, quote)
            } else {
                (base, quote + left * o.price.max(o.stop_price))
            }
        })
}

fn order_json(o: &SpotOrder, symbol: &str) -> Value {
    json!({
        "symbol": symbol,
        "orderId": o.order_id,
        "orderListId": o.list_id,
        "clientOrderId": o.client_id,
        "price": fmt(o.price),
        "stopPrice": fmt(o.stop_price),
        "trailingDelta": o.trailing_delta,
        "trailingTime": -1,
        "origQty": fmt(o.quantity),
        "executedQty": fmt(o.executed),
        "status": o.status,
        "timeInForce": "GTC",
        "type": o.kind,
        "side": o.side,
    })
}

/// The trading routes, served under `/spot` (the venue's base URL is
/// `<server>/spot`). The exchange's clock there is real time — shifted by
/// [`Faults::skew_ms`] — while the kline feed's clock is virtual.
pub(crate) fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/api/v3/time", get(spot_time))
        .route("/api/v3/exchangeInfo", get(exchange_info))
        .route("/api/v3/ticker/price", get(ticker_price))
        .route("/api/v3/order", get(signed).post(signed).delete(signed))
        .route("/api/v3/orderList/oco", post(signed))
        .route("/api/v3/openOrders", get(signed))
        .route("/api/v3/myTrades", get(signed))
        .route("/api/v3/account", get(signed))
        .route("/ws-api/v3", get(ws_api))
}

/// The WebSocket API, as far as a live venue uses it:
/// `userDataStream.subscribe.signature` (the `apiKey`, `timestamp` and an
/// HMAC-SHA256 `signature` over `apiKey=…&timestamp=…` checked), then an
/// `executionReport` event for every change of an order — placed, traded,
/// cancelled — found by matching the book every 20 ms.
async fn ws_api(State(s): State<Arc<Inner>>, ws: axum::extract::ws::WebSocketUpgrade) -> Response {
    if s.spot.faults.stream_down.load(Ordering::SeqCst) {
        return err(
            StatusCode::SERVICE_UNAVAILABLE,
            -1001,
            "Service unavailable.",
        );
    }
    ws.on_upgrade(move |socket| user_stream(s, socket))
}

async fn user_stream(s: Arc<Inner>, mut socket: axum::extract::ws::WebSocket) {
    use axum::extract::ws::Message;
    // The subscription request first.
    let request: Value = loop {
        match socket.recv().await {
            Some(Ok(Message::Text(t))) => match serde_json::from_str(t.as_str()) {
                Ok(v) => break v,
                Err(_) => return,
            },
            Some(Ok(_)) => continue,
            _ => return,
        }
    };
    let params = &request["params"];
    let key = params["apiKey"].as_str().unwrap_or("");
    let ts = params["timestamp"].as_i64().unwrap_or(0);
    let signed = format!("apiKey={key}&timestamp={ts}");
    let now = exchange_ms(&s);
    let refusal = if request["method"] != "userDataStream.subscribe.signature" {
        Some((-1000, "Unknown method."))
    } else if key != API_KEY {
        Some((-2014, "API-key format invalid."))
    } else if !s
        .spot
        .verifies(&signed, params["signature"].as_str().unwrap_or(""))
    {
        Some((-1022, "Signature for this request is not valid."))
    } else if ts > now + 1000 || now - ts > 5000 {
        Some((
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ))
    } else {
        None
    };
    if let Some((code, msg)) = refusal {
        s.spot.refused.fetch_add(1, Ordering::SeqCst);
        let _ = socket
            .send(Message::Text(
                json!({"id": request["id"], "status": 400, "error": {"code": code, "msg": msg}})
                    .to_string()
                    .into(),
            ))
            .await;
        return;
    }
    if socket
        .send(Message::Text(
            json!({"id": request["id"], "status": 200, "result": {"subscriptionId": 0}})
                .to_string()
                .into(),
        ))
        .await
        .is_err()
    {
        return;
    }
    s.spot.stream_connections.fetch_add(1, Ordering::SeqCst);
    // What this connection has told of each order: (status, executed).
    let mut told: HashMap<String, (String, f64)> = {
        let b = s.spot.book.lock().unwrap();
        b.orders
            .iter()
            .map(|o| (o.client_id.clone(), (o.status.clone(), o.executed)))
            .collect()
    };
    let mut sent = 0u64;
    loop {
        if take(&s.spot.faults.stream_shutdowns) {
            // web-socket-api.md "Server Shutdown": the event, then the
            // connection goes; here it goes quiet first, for a minute.
            let shutdown = json!({"event": {"e": "serverShutdown", "E": exchange_ms(&s)}});
            let _ = socket
                .send(Message::Text(shutdown.to_string().into()))
                .await;
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        }
        let events: Vec<Value> = {
            let mut b = s.spot.book.lock().unwrap();
            s.match_book(&mut b);
            let mut out = Vec::new();
            for o in &b.orders {
                let now = (o.status.clone(), o.executed);
                if told.get(&o.client_id) == Some(&now) {
                    continue;
                }
                let before = told.insert(o.client_id.clone(), now).map_or(0.0, |t| t.1);
                let last = o.executed - before;
                let execution = match o.status.as_str() {
                    "CANCELED" => "CANCELED",
                    _ if last > 0.0 => "TRADE",
                    _ => "NEW",
                };
                out.push(json!({
                    "subscriptionId": 0,
                    "event": {
                        "e": "executionReport",
                        "E": exchange_ms(&s),
                        "s": s.symbol,
                        "c": if execution == "CANCELED" { "web_cancel_request" } else { o.client_id.as_str() },
                        "C": if execution == "CANCELED" { o.client_id.as_str() } else { "" },
                        "S": o.side,
                        "o": o.kind,
                        "q": fmt(o.quantity),
                        "p": fmt(o.price),
                        "x": execution,
                        "X": o.status,
                        "i": o.order_id,
                        "l": fmt(last.max(0.0)),
                        "z": fmt(o.executed),
                    }
                }));
            }
            out
        };
        let turn = crate::StreamTurn {
            counter: &s.spot.stream_events,
            drop_after: &s.spot.faults.stream_drop_after,
            copies: if s.spot.faults.stream_duplicates.load(Ordering::SeqCst) {
                2
            } else {
                1
            },
        };
        let events = events
            .into_iter()
            .map(|e| Message::Text(e.to_string().into()))
            .collect();
        if !turn.run(&mut socket, events, &mut sent).await {
            return;
        }
    }
}

/// rest-api.md "Symbol price ticker": `{"symbol", "price"}`, the last
/// closed kline's close here.
async fn ticker_price(State(s): State<Arc<Inner>>, RawQuery(q): RawQuery) -> Response {
    let p = form_pairs(&q.unwrap_or_default());
    if p.get("symbol") != Some(&s.symbol) {
        return err(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
    }
    axum::Json(json!({"symbol": s.symbol, "price": fmt(s.last_close())})).into_response()
}

async fn exchange_info(State(s): State<Arc<Inner>>) -> Response {
    axum::Json(json!({
        "timezone": "UTC",
        "serverTime": exchange_ms(&s),
        "symbols": [{
            "symbol": s.symbol,
            "status": "TRADING",
            "baseAsset": s.symbol.trim_end_matches("USDT"),
            "quoteAsset": "USDT",
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"],
            "allowTrailingStop": true,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
                {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": format!("{:.8}", s.spot.market_max()), "stepSize": "0.00000000"},
                {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": true,
                 "maxNotional": format!("{:.8}", s.spot.market_max_notional.lock().unwrap().unwrap_or(9_000_000.0)),
                 "applyMaxToMarket": s.spot.market_max_notional.lock().unwrap().is_some(), "avgPriceMins": 5},
                {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": TRAILING_DELTA.0, "maxTrailingAboveDelta": TRAILING_DELTA.1,
                 "minTrailingBelowDelta": TRAILING_DELTA.0, "maxTrailingBelowDelta": TRAILING_DELTA.1}
            ]
        }]
    }))
    .into_response()
}

async fn signed(
    State(s): State<Arc<Inner>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let query = q.unwrap_or_default();
    let spot = &s.spot;
    spot.requests
        .lock()
        .unwrap()
        .push(format!("{method} {}?{query}", uri.path()));
    let weight = spot.weight.fetch_add(2, Ordering::SeqCst) + 2;
    let mut r = answer(&s, &method, uri.path(), &headers, &query).await;
    r.headers_mut()
        .insert("x-mbx-used-weight-1m", weight.to_string().parse().unwrap());
    r
}

impl Spot {
    /// Take Ed25519 signatures made with the private key of `public`
    /// (the account's API key is then an Ed25519 one: HMAC no longer
    /// verifies), as Binance does for a key registered with its public
    /// half (faqs/api_key_types.md).
    pub fn use_ed25519(&self, public: ed25519_dalek::VerifyingKey) {
        *self.ed25519.lock().unwrap() = Some(public);
    }

    /// Whether `signature` (as read: hex for HMAC, base64 for Ed25519)
    /// signs `payload` with the account's key.
    fn verifies(&self, payload: &str, signature: &str) -> bool {
        match *self.ed25519.lock().unwrap() {
            Some(public) => {
                use base64::Engine;
                use ed25519_dalek::Verifier;
                base64::engine::general_purpose::STANDARD
                    .decode(signature)
                    .ok()
                    .and_then(|b| ed25519_dalek::Signature::from_slice(&b).ok())
                    .is_some_and(|sig| public.verify(payload.as_bytes(), &sig).is_ok())
            }
            None => hmac_hex(payload) == signature,
        }
    }
}

/// A new Ed25519 key pair: its private half in PKCS#8 PEM (for the host's
/// `private_key_file`) and its public half (for [`Spot::use_ed25519`]).
pub fn ed25519_key() -> (String, ed25519_dalek::VerifyingKey) {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    (pem, key.verifying_key())
}

/// The signature a request signed with the test secret carries.
fn hmac_hex(payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(API_SECRET.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn take(counter: &AtomicU64) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

async fn answer(
    s: &Arc<Inner>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    query: &str,
) -> Response {
    let spot = &s.spot;
    if headers.get("x-mbx-apikey").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
        spot.refused.fetch_add(1, Ordering::SeqCst);
        return err(StatusCode::UNAUTHORIZED, -2014, "API-key format invalid.");
    }
    let Some((payload, signature)) = query.rsplit_once("&signature=") else {
        spot.refused.fetch_add(1, Ordering::SeqCst);
        return err(
            StatusCode::BAD_REQUEST,
            -1102,
            "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
        );
    };
    // The query carries the signature percent-encoded (a base64 one has
    // `+`, `/`, `=`).
    if !spot.verifies(payload, &decode(signature)) {
        spot.refused.fetch_add(1, Ordering::SeqCst);
        return err(
            StatusCode::BAD_REQUEST,
            -1022,
            "Signature for this request is not valid.",
        );
    }
    let p: HashMap<String, String> = form_pairs(payload);
    let num = |k: &str| p.get(k).and_then(|v| v.parse::<f64>().ok());
    let ts = num("timestamp").unwrap_or(0.0) as i64;
    let window = num("recvWindow").unwrap_or(5000.0) as i64;
    let now = exchange_ms(s);
    if ts > now + 1000 || now - ts > window {
        return err(
            StatusCode::BAD_REQUEST,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        );
    }
    {
        let mut until = spot.retry_until.lock().unwrap();
        if until.is_some_and(|t| t > Instant::now()) {
            spot.during_retry_after.fetch_add(1, Ordering::SeqCst);
        }
        if take(&spot.faults.too_many) {
            *until = Some(Instant::now() + Duration::from_secs(1));
            drop(until);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                axum::Json(json!({"code": -1003, "msg": "Too much request weight used."})),
            )
                .into_response();
        }
    }
    let ban_left = {
        let mut until = spot.ban_until.lock().unwrap();
        if take(&spot.faults.banned) {
            let secs = spot.faults.ban_secs.load(Ordering::SeqCst).max(1);
            *until = Some(Instant::now() + Duration::from_secs(secs));
        } else if until.is_some_and(|t| t > Instant::now()) {
            spot.during_ban.fetch_add(1, Ordering::SeqCst);
        }
        match *until {
            Some(t) if t > Instant::now() => Some((t - Instant::now()).as_secs() + 1),
            _ => None,
        }
    };
    if let Some(secs) = ban_left {
        return (
            StatusCode::IM_A_TEAPOT,
            [("retry-after", secs.to_string())],
            axum::Json(
                json!({"code": -1003, "msg": "Way too much request weight used; IP banned."}),
            ),
        )
            .into_response();
    }
    let symbol = s.symbol.clone();
    if p.get("symbol").is_some_and(|x| *x != symbol) {
        return err(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
    }
    match (method.as_str(), path) {
        ("POST", "/api/v3/order") => place(s, &p).await,
        ("POST", "/api/v3/orderList/oco") => place_oco(s, &p),
        ("GET", "/api/v3/order") => {
            let mut b = spot.book.lock().unwrap();
            s.match_book(&mut b);
            let client = p.get("origClientOrderId").cloned().unwrap_or_default();
            let hide = Duration::from_millis(spot.faults.hide_new_ms.load(Ordering::SeqCst));
            // The newest order of that id (after a fill the id can be
            // used again).
            match b.orders.iter().rev().find(|o| o.client_id == client) {
                Some(o) if o.placed.elapsed() >= hide => {
                    axum::Json(order_json(o, &symbol)).into_response()
                }
                _ => err(StatusCode::BAD_REQUEST, -2013, "Order does not exist."),
            }
        }
        ("DELETE", "/api/v3/order") => {
            let mut b = spot.book.lock().unwrap();
            s.match_book(&mut b);
            let client = p.get("origClientOrderId").cloned().unwrap_or_default();
            match b.orders.iter().rposition(|o| o.client_id == client) {
                Some(n) if open(&b.orders[n].status) => {
                    // rest-api.md, Cancel order: "Canceling an individual
                    // order from an order list will cancel the entire
                    // order list."
                    let list = b.orders[n].list_id;
                    for (i, o) in b.orders.iter_mut().enumerate() {
                        if (i == n || (list >= 0 && o.list_id == list)) && open(&o.status) {
                            o.status = "CANCELED".into();
                        }
                    }
                    axum::Json(order_json(&b.orders[n], &symbol)).into_response()
                }
                _ => err(StatusCode::BAD_REQUEST, -2011, "Unknown order sent."),
            }
        }
        ("GET", "/api/v3/openOrders") => {
            let mut b = spot.book.lock().unwrap();
            s.match_book(&mut b);
            let list: Vec<Value> = b
                .orders
                .iter()
                .filter(|o| open(&o.status))
                .map(|o| order_json(o, &symbol))
                .collect();
            axum::Json(Value::Array(list)).into_response()
        }
        ("GET", "/api/v3/myTrades") => {
            let mut b = spot.book.lock().unwrap();
            s.match_book(&mut b);
            let id = num("orderId").map(|x| x as i64);
            let lag = Duration::from_millis(spot.faults.trades_lag_ms.load(Ordering::SeqCst));
            let limit = num("limit").unwrap_or(500.0).clamp(1.0, 1000.0) as usize;
            let list: Vec<Value> = b
                .trades
                .iter()
                .filter(|t| id.is_none_or(|i| i == t.order_id) && t.at.elapsed() >= lag)
                .take(limit)
                .map(|t| {
                    json!({
                        "symbol": symbol, "id": t.id, "orderId": t.order_id,
                        "price": fmt(t.price), "qty": fmt(t.quantity),
                        "quoteQty": fmt(t.price * t.quantity),
                        "commission": fmt(t.commission), "commissionAsset": t.commission_asset,
                        "isBuyer": t.side == "BUY", "isMaker": false
                    })
                })
                .collect();
            axum::Json(Value::Array(list)).into_response()
        }
        ("GET", "/api/v3/account") if spot.faults.account_down.load(Ordering::SeqCst) => err(
            StatusCode::INTERNAL_SERVER_ERROR,
            -1000,
            "An unknown error occurred while processing the request.",
        ),
        ("GET", "/api/v3/account") => {
            let mut b = spot.book.lock().unwrap();
            s.match_book(&mut b);
            let (base_locked, quote_locked) = locked(&b);
            axum::Json(json!({
                "canTrade": true,
                "accountType": "SPOT",
                "permissions": ["SPOT"],
                "balances": [
                    {"asset": s.base_asset(), "free": fmt(b.base - base_locked), "locked": fmt(base_locked)},
                    {"asset": "USDT", "free": fmt(b.quote - quote_locked), "locked": fmt(quote_locked)}
                ]
            }))
            .into_response()
        }
        _ => err(StatusCode::NOT_FOUND, -1000, "Unknown endpoint."),
    }
}

fn form_pairs(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `trailingDelta`, where sent: only on the contingent types
/// (faqs/trailing-stop-faq.md; this server takes it on `STOP_LOSS`, the
/// one a host sends), a whole number of BIPS within the `TRAILING_DELTA`
/// filter — its above and below bands are the same here (errors.md
/// "Filter failure: TRAILING_DELTA"); 0: not sent.
fn trailing_delta(sent: Option<&String>, kind: &str) -> Result<i64, Box<Response>> {
    let Some(text) = sent else {
        return Ok(0);
    };
    if kind != "STOP_LOSS" {
        return Err(Box::new(err(
            StatusCode::BAD_REQUEST,
            -1106,
            "Parameter 'trailingDelta' sent when not required.",
        )));
    }
    match text.parse::<i64>() {
        Ok(d) if (TRAILING_DELTA.0..=TRAILING_DELTA.1).contains(&d) => Ok(d),
        Ok(_) => Err(Box::new(err(
            StatusCode::BAD_REQUEST,
            -1013,
            "Filter failure: TRAILING_DELTA",
        ))),
        Err(_) => Err(Box::new(err(
            StatusCode::BAD_REQUEST,
            -1102,
            "Mandatory parameter 'trailingDelta' was not sent, was empty/null, or malformed.",
        ))),
    }
}

/// What a trailing stop's notional is checked at: where it would trigger
/// from the last price.
fn trail_reference(last: f64, side: &str, delta: i64) -> f64 {
    let d = delta as f64 / 1e4;
    if side == "SELL" {
        last * (1.0 - d)
    } else {
        last * (1.0 + d)
    }
}

async fn place(s: &Arc<Inner>, p: &HashMap<String, String>) -> Response {
    let spot = &s.spot;
    let client = p.get("newClientOrderId").cloned().unwrap_or_default();
    spot.attempts.lock().unwrap().push(client.clone());
    let side = p.get("side").cloned().unwrap_or_default();
    let kind = p.get("type").cloned().unwrap_or_default();
    let quantity: f64 = p
        .get("quantity")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let price: f64 = p.get("price").and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let stop_price: f64 = p
        .get("stopPrice")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let trailing_delta = match trailing_delta(p.get("trailingDelta"), &kind) {
        Ok(d) => d,
        Err(refused) => return *refused,
    };
    if kind == "STOP_LOSS" && trailing_delta == 0 && p.get("stopPrice").is_none() {
        return err(
            StatusCode::BAD_REQUEST,
            -1102,
            "Param 'stopPrice' or 'trailingDelta' must be sent, but both were empty/null!",
        );
    }
    if kind == "STOP_LOSS"
        && p.contains_key("stopPrice")
        && ((stop_price * 100.0 - (stop_price * 100.0).round()).abs() > 1e-6 || stop_price <= 0.0)
    {
        return err(
            StatusCode::BAD_REQUEST,
            -1013,
            "Filter failure: PRICE_FILTER",
        );
    }
    if side != "BUY" && side != "SELL" {
        return err(
            StatusCode::BAD_REQUEST,
            -1100,
            "Illegal characters found in parameter 'side'.",
        );
    }
    let steps = quantity / LOT_STEP;
    if quantity < LOT_STEP || (steps - steps.round()).abs() > 1e-6 {
        return err(StatusCode::BAD_REQUEST, -1013, "Filter failure: LOT_SIZE");
    }
    // filters.md, MARKET_LOT_SIZE: "quantity <= maxQty" for MARKET orders.
    if kind == "MARKET" && quantity > spot.market_max() + 1e-12 {
        return err(
            StatusCode::BAD_REQUEST,
            -1013,
            "Filter failure: MARKET_LOT_SIZE",
        );
    }
    if kind == "LIMIT" && ((price * 100.0 - (price * 100.0).round()).abs() > 1e-6 || price <= 0.0) {
        return err(
            StatusCode::BAD_REQUEST,
            -1013,
            "Filter failure: PRICE_FILTER",
        );
    }
    let (lost, timeout);
    let body = {
        let mut b = spot.book.lock().unwrap();
        s.match_book(&mut b);
        let reference = match kind.as_str() {
            "MARKET" => s.last_close(),
            "STOP_LOSS" if trailing_delta > 0 => {
                trail_reference(s.last_close(), &side, trailing_delta)
            }
            "STOP_LOSS" => stop_price,
            _ => price,
        };
        // rest-api.md, New order: a `STOP_LOSS` `SELL` rests below the
        // market, a `BUY` above; errors.md: "Order would trigger
        // immediately." otherwise.
        if kind == "STOP_LOSS" && trailing_delta == 0 {
            let last = s.last_close();
            let wrong = if side == "SELL" {
                stop_price >= last
            } else {
                stop_price <= last
            };
            if wrong {
                return err(
                    StatusCode::BAD_REQUEST,
                    -2010,
                    "Order would trigger immediately.",
                );
            }
        }
        if quantity * reference < MIN_NOTIONAL {
            return err(StatusCode::BAD_REQUEST, -1013, "Filter failure: NOTIONAL");
        }
        // filters.md, NOTIONAL: "applyMaxToMarket determines whether the
        // maxNotional will be applied to MARKET orders".
        let max_notional = *spot.market_max_notional.lock().unwrap();
        if kind == "MARKET" && max_notional.is_some_and(|m| quantity * reference > m) {
            return err(StatusCode::BAD_REQUEST, -1013, "Filter failure: NOTIONAL");
        }
        // rest-api.md "New order", `newClientOrderId`: "can be accepted
        // only when the previous one is filled, otherwise the order will
        // be rejected".
        if b.orders
            .iter()
            .any(|o| o.client_id == client && o.status != "FILLED")
        {
            spot.duplicates.fetch_add(1, Ordering::SeqCst);
            return err(StatusCode::BAD_REQUEST, -2010, "Duplicate order sent.");
        }
        if b.orders.iter().any(|o| o.client_id == client) {
            spot.reused.fetch_add(1, Ordering::SeqCst);
        }
        // The free balance pays for it (errors.md: "Account has
        // insufficient balance for requested action.").
        let (base_locked, quote_locked) = locked(&b);
        let short = if side == "SELL" {
            quantity > b.base - base_locked + 1e-12
        } else {
            quantity * reference > b.quote - quote_locked
        };
        if short {
            return err(
                StatusCode::BAD_REQUEST,
                -2010,
                "Account has insufficient balance for requested action.",
            );
        }
        // Accepted: the faults that lose its answer apply to it.
        lost = take(&spot.faults.accept_then_hang);
        timeout = take(&spot.faults.accept_then_1007);
        b.next_id += 1;
        let order_id = b.next_id;
        let at = b.matched_to;
        b.orders.push(SpotOrder {
            order_id,
            client_id: client.clone(),
            side: side.clone(),
            kind: kind.clone(),
            quantity,
            price,
            stop_price,
            trailing_delta,
            best: f64::NAN,
            executed: 0.0,
            status: "NEW".into(),
            list_id: -1,
            placed_at_kline: at,
            placed: Instant::now(),
        });
        let n = b.orders.len() - 1;
        let first = b.trades.len();
        if kind == "MARKET" {
            let px = s.last_close();
            if spot.faults.partial.load(Ordering::SeqCst) {
                let half = ((quantity / 2.0) / LOT_STEP).floor() * LOT_STEP;
                if half > 0.0 {
                    trade(&mut b, n, half, px, s.base_asset());
                }
                let rest = b.orders[n].quantity - b.orders[n].executed;
                trade(&mut b, n, rest, px, s.base_asset());
            } else {
                trade(&mut b, n, quantity, px, s.base_asset());
            }
        }
        let mut v = order_json(&b.orders[n], &s.symbol);
        v["fills"] = Value::Array(
            b.trades[first..]
                .iter()
                .map(|t| {
                    json!({
                        "price": fmt(t.price), "qty": fmt(t.quantity),
                        "commission": fmt(t.commission), "commissionAsset": t.commission_asset,
                        "tradeId": t.id
                    })
                })
                .collect(),
        );
        v
    };
    if timeout {
        return err(
            StatusCode::SERVICE_UNAVAILABLE,
            -1007,
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        );
    }
    if lost {
        let ms = match spot.faults.hang_ms.load(Ordering::SeqCst) {
            0 => 3000,
            n => n,
        };
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    axum::Json(body).into_response()
}

/// `POST /api/v3/orderList/oco` as rest-api.md describes it ("New Order
/// list - OCO"): an above order (`LIMIT_MAKER`, `TAKE_PROFIT`, …) and a
/// below order (`STOP_LOSS`, …, or `TAKE_PROFIT` for a buy) of one
/// `quantity`; on the `SELL` side "`LIMIT_MAKER` `price` > Last Traded
/// Price > `STOP_LOSS` `stopPrice`" (on the `BUY` side the stop above, the
/// take-profit below), else errors.md's "The relationship of the prices
/// for the orders is not correct."; the client order ids unique among open
/// orders as for one order; the free balance pays for the quantity once.
/// Only the pairs a host sends are taken (a `SELL` `LIMIT_MAKER` with a
/// `STOP_LOSS`, a `BUY` `STOP_LOSS` with a `TAKE_PROFIT`); anything else
/// is refused.
fn place_oco(s: &Arc<Inner>, p: &HashMap<String, String>) -> Response {
    let spot = &s.spot;
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    let num = |k: &str| p.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let side = get("side");
    let quantity = num("quantity");
    let (above, below) = (get("aboveClientOrderId"), get("belowClientOrderId"));
    spot.attempts.lock().unwrap().push(above.clone());
    spot.attempts.lock().unwrap().push(below.clone());
    // (kind, price, stop price, client id, trailingDelta) of each leg.
    let delta = |k: &str| trailing_delta(p.get(k), "STOP_LOSS");
    let (above_delta, below_delta) =
        match (delta("aboveTrailingDelta"), delta("belowTrailingDelta")) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(refused), _) | (_, Err(refused)) => return *refused,
        };
    let legs = match (
        side.as_str(),
        get("aboveType").as_str(),
        get("belowType").as_str(),
    ) {
        ("SELL", "LIMIT_MAKER", "STOP_LOSS") if above_delta == 0 => [
            ("LIMIT_MAKER", num("abovePrice"), 0.0, above, 0),
            ("STOP_LOSS", 0.0, num("belowStopPrice"), below, below_delta),
        ],
        ("BUY", "STOP_LOSS", "TAKE_PROFIT") if below_delta == 0 => [
            ("STOP_LOSS", 0.0, num("aboveStopPrice"), above, above_delta),
            ("TAKE_PROFIT", 0.0, num("belowStopPrice"), below, 0),
        ],
        _ => {
            return err(
                StatusCode::BAD_REQUEST,
                -1106,
                "Parameter sent when not required.",
            );
        }
    };
    // rest-api.md: "Either …StopPrice or …TrailingDelta or both, must be
    // specified"; a trailing leg without a stop price has none to check.
    let ticks = |x: f64| x > 0.0 && (x * 100.0 - (x * 100.0).round()).abs() <= 1e-6;
    if legs
        .iter()
        .any(|(_, px, sp, _, d)| !(ticks(px.max(*sp)) || (*d > 0 && px.max(*sp) == 0.0)))
    {
        return err(
            StatusCode::BAD_REQUEST,
            -1013,
            "Filter failure: PRICE_FILTER",
        );
    }
    let steps = quantity / LOT_STEP;
    if quantity < LOT_STEP || (steps - steps.round()).abs() > 1e-6 {
        return err(StatusCode::BAD_REQUEST, -1013, "Filter failure: LOT_SIZE");
    }
    let mut b = spot.book.lock().unwrap();
    s.match_book(&mut b);
    let last = s.last_close();
    // A trailing leg with no stop price triggers `trailingDelta` from the
    // market: that is its price here.
    let leg_price = |(_, px, sp, _, d): &(&str, f64, f64, String, i64)| match px.max(*sp) {
        0.0 if *d > 0 => trail_reference(last, &side, *d),
        x => x,
    };
    let (above_px, below_px) = (leg_price(&legs[0]), leg_price(&legs[1]));
    if !(above_px > last && last > below_px) {
        return err(
            StatusCode::BAD_REQUEST,
            -2010,
            "The relationship of the prices for the orders is not correct.",
        );
    }
    if quantity * below_px < MIN_NOTIONAL {
        return err(StatusCode::BAD_REQUEST, -1013, "Filter failure: NOTIONAL");
    }
    for (_, _, _, client, _) in &legs {
        if b.orders
            .iter()
            .any(|o| &o.client_id == client && o.status != "FILLED")
        {
            spot.duplicates.fetch_add(1, Ordering::SeqCst);
            return err(StatusCode::BAD_REQUEST, -2010, "Duplicate order sent.");
        }
    }
    let (base_locked, quote_locked) = locked(&b);
    let short = if side == "SELL" {
        quantity > b.base - base_locked + 1e-12
    } else {
        quantity * above_px > b.quote - quote_locked
    };
    if short {
        return err(
            StatusCode::BAD_REQUEST,
            -2010,
            "Account has insufficient balance for requested action.",
        );
    }
    b.next_id += 1;
    let list_id = b.next_id;
    let at = b.matched_to;
    let mut reports = Vec::new();
    for (kind, price, stop_price, client, trailing_delta) in legs {
        b.next_id += 1;
        let order_id = b.next_id;
        b.orders.push(SpotOrder {
            order_id,
            client_id: client,
            side: side.clone(),
            kind: kind.into(),
            quantity,
            price,
            stop_price,
            trailing_delta,
            best: f64::NAN,
            executed: 0.0,
            status: "NEW".into(),
            list_id,
            placed_at_kline: at,
            placed: Instant::now(),
        });
        reports.push(order_json(b.orders.last().unwrap(), &s.symbol));
    }
    axum::Json(json!({
        "orderListId": list_id,
        "contingencyType": "OCO",
        "listStatusType": "EXEC_STARTED",
        "listOrderStatus": "EXECUTING",
        "listClientOrderId": get("listClientOrderId"),
        "symbol": s.symbol,
        "orders": reports.iter().map(|r| json!({"symbol": s.symbol, "orderId": r["orderId"], "clientOrderId": r["clientOrderId"]})).collect::<Vec<_>>(),
        "orderReports": reports,
    }))
    .into_response()
}
