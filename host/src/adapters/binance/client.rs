//! Binance spot's REST API as a [`Connector`]: signed requests, the
//! exchange's filters applied before anything is sent, and every answer
//! turned into a typed [`Outcome`].
//!
//! How answers are read (Binance's "Error codes" and "LIMITS" pages):
//! - HTTP 429 (too many requests) and 418 (an IP ban for ignoring 429s):
//!   stop, wait `Retry-After` seconds, then retry — every request of this
//!   connector waits, not just the one refused. `X-MBX-USED-WEIGHT-1M` is
//!   tracked; above [`BinanceConfig::weight_budget`] of the minute's 6,000
//!   the connector waits for the next minute instead of earning a 429.
//! - `-1021` (timestamp outside `recvWindow`): the server-time offset is
//!   measured again (`GET /api/v3/time`) and the request retried.
//! - `-1007` (timeout at the backend, "execution status unknown"), any
//!   5xx, a timeout or a connection lost after sending: **unknown** — the
//!   courier queries by client order id before anything is resent.
//! - A connection that could not be opened: the request never left; retry.
//! - `-2013` (order does not exist) on a query: not found.
//! - Any other 4xx with a code: rejected, with the venue's code and text.
//!
//! The secret is held by the [`Signer`] only; errors quote the venue's
//! answer, never the request's headers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

use super::config::BinanceConfig;
use super::filters::{self, SymbolFilters};
use super::sign::{ClockOffset, Signer};
use crate::execution::Side;
use crate::execution::live::{
    Connector, Execution, NativeTrail, OpenOrder, Outcome, Placement, Report, Status,
};
use sandbar_sdk::protection::Trail;

/// The minute's weight limit of Binance spot's REST API.
const WEIGHT_LIMIT: f64 = 6000.0;

/// Binance spot, signed with one API key.
pub struct Binance {
    pub(super) config: BinanceConfig,
    pub(super) http: Client,
    tls: crate::net::tls::Tls,
    key: String,
    signer: Signer,
    clock: ClockOffset,
    /// The clock's offset, for the user data stream's signatures.
    offset_shared: std::sync::Arc<std::sync::atomic::AtomicI64>,
    pub(super) filters: HashMap<String, SymbolFilters>,
    /// (base, quote) asset of each symbol, for commissions.
    pub(super) assets: HashMap<String, (String, String)>,
    /// The order types each symbol allows (`orderTypes`), where listed.
    pub(super) order_types: HashMap<String, Vec<String>>,
    /// What the IP may do now, shared with every connector to this host.
    limits: std::sync::Arc<std::sync::Mutex<super::limits::IpLimits>>,
}

/// What went wrong talking to the venue, as the courier sees it.
pub(super) enum Failure {
    NeverSent(String),
    Unknown(String),
    Wait(Duration, String),
    Clock(String),
    Code(i64, String),
}

impl Binance {
    /// A connector for `symbols`: reads the server time and the exchange's
    /// filters, so that a wrong URL, key or symbol is an error at start.
    pub fn connect(
        config: BinanceConfig,
        key: String,
        signer: Signer,
        symbols: &[String],
    ) -> anyhow::Result<Binance> {
        let tls = crate::net::tls::Tls::new(config.ca_file.as_deref())?;
        let http = tls
            .http()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()?;
        let mut b = Binance {
            http,
            tls,
            key,
            signer,
            clock: ClockOffset::default(),
            offset_shared: Default::default(),
            filters: HashMap::new(),
            assets: HashMap::new(),
            order_types: HashMap::new(),
            limits: super::limits::shared(&config.rest_url),
            config,
        };
        for _ in 0..3 {
            b.sync_clock()
                .map_err(|e| anyhow::anyhow!("binance {}: server time: {e}", b.config.rest_url))?;
        }
        let list = serde_json::to_string(symbols)?;
        let info: Value = b
            .http
            .get(format!("{}/api/v3/exchangeInfo", b.config.rest_url))
            .query(&[("symbols", list.as_str())])
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json())
            .map_err(|e| anyhow::anyhow!("binance {}: exchangeInfo: {e}", b.config.rest_url))?;
        b.filters = filters::parse(&info).map_err(|e| anyhow::anyhow!("binance: {e}"))?;
        for s in info["symbols"].as_array().into_iter().flatten() {
            if let (Some(n), Some(base), Some(quote)) = (
                s["symbol"].as_str(),
                s["baseAsset"].as_str(),
                s["quoteAsset"].as_str(),
            ) {
                b.assets.insert(n.into(), (base.into(), quote.into()));
            }
            if let (Some(n), Some(types)) = (s["symbol"].as_str(), s["orderTypes"].as_array()) {
                let types = types.iter().filter_map(|t| t.as_str().map(String::from));
                b.order_types.insert(n.into(), types.collect());
            }
        }
        for s in symbols {
            if !b.filters.contains_key(s) {
                anyhow::bail!(
                    "binance {}: symbol {s} is not in the exchange information",
                    b.config.rest_url
                );
            }
        }
        // A signed request: a wrong key or secret is refused here.
        let mut last = String::new();
        for _ in 0..5 {
            match b.signed(reqwest::Method::GET, "/api/v3/account", &[]) {
                Ok(_) => return Ok(b),
                Err(Failure::Code(code, msg)) => {
                    anyhow::bail!("binance: the API key was refused ({code}: {msg})")
                }
                Err(Failure::Wait(after, m)) => {
                    last = m;
                    std::thread::sleep(after.min(Duration::from_secs(10)));
                }
                Err(Failure::NeverSent(m) | Failure::Unknown(m) | Failure::Clock(m)) => {
                    last = m;
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        anyhow::bail!("binance: account: {last}")
    }

    pub(super) fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }

    fn sync_clock(&mut self) -> Result<(), String> {
        let sent = Self::now_ms();
        let v: Value = self
            .http
            .get(format!("{}/api/v3/time", self.config.rest_url))
            .send()
            .and_then(|r| r.json())
            .map_err(|e| crate::net::chain(&e))?;
        let server = v["serverTime"].as_i64().ok_or("no serverTime")?;
        self.clock.observe(sent, server, Self::now_ms());
        self.offset_shared.store(
            self.clock.venue_time(0),
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(())
    }

    /// Whether a request may go now: not while a pause the venue asked for
    /// lasts (a 429's or a 418's `Retry-After`: rest-api.md, LIMITS — "in
    /// the case of a 418, until the ban is over"), nor past the weight
    /// budget before the next minute. Nothing is slept here: the wait goes
    /// back to the courier as a `Retry`, which it honours in steps of at
    /// most `max_retry_ms` and counts, so a ban shows in `deploy status`.
    fn wait_turn(&mut self) -> Result<(), Failure> {
        let mut l = self.limits.lock().expect("binance limits lock");
        if let Some(until) = l.pause_until {
            let now = Instant::now();
            if until > now {
                return Err(Failure::Wait(
                    until - now,
                    "binance asked this IP to wait (Retry-After); nothing sent".into(),
                ));
            }
            l.pause_until = None;
        }
        if l.used_weight > WEIGHT_LIMIT * self.config.weight_budget {
            let ms = 60_000 - Self::now_ms().rem_euclid(60_000);
            tracing::warn!(
                weight = l.used_weight,
                "binance: weight budget spent; waiting for the next minute"
            );
            l.used_weight = 0.0;
            l.pause_until = Some(Instant::now() + Duration::from_millis(ms as u64 + 50));
            return Err(Failure::Wait(
                Duration::from_millis(ms as u64 + 50),
                "binance weight budget spent; waiting for the next minute".into(),
            ));
        }
        Ok(())
    }

    fn send(&mut self, req: RequestBuilder) -> Result<Value, Failure> {
        self.wait_turn()?;
        let r: Response = match req.header("X-MBX-APIKEY", &self.key).send() {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Err(Failure::NeverSent(crate::net::chain(&e))),
            Err(e) => return Err(Failure::Unknown(crate::net::chain(&e))),
        };
        if let Some(w) = r
            .headers()
            .get("x-mbx-used-weight-1m")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok())
        {
            self.limits.lock().expect("binance limits lock").used_weight = w;
        }
        let status = r.status();
        if status.as_u16() == 429 || status.as_u16() == 418 {
            let secs = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            let wait = Duration::from_secs(secs);
            let mut l = self.limits.lock().expect("binance limits lock");
            let until = Instant::now() + wait;
            l.pause_until = Some(l.pause_until.map_or(until, |t| t.max(until)));
            return Err(Failure::Wait(
                wait,
                format!("HTTP {} (Retry-After {secs} s)", status.as_u16()),
            ));
        }
        let body = r.text().map_err(|e| Failure::Unknown(e.to_string()))?;
        if status.is_server_error() {
            return Err(Failure::Unknown(format!(
                "HTTP {}: {}",
                status.as_u16(),
                cut(&body)
            )));
        }
        let v: Value = serde_json::from_str(&body)
            .map_err(|e| Failure::Unknown(format!("unreadable answer ({e}): {}", cut(&body))))?;
        if !status.is_success() {
            let code = v["code"].as_i64().unwrap_or(0);
            let msg = v["msg"].as_str().unwrap_or("").to_string();
            return Err(match code {
                -1021 => Failure::Clock(msg),
                -1007 => Failure::Unknown(format!("-1007 {msg}")),
                _ => Failure::Code(code, msg),
            });
        }
        Ok(v)
    }

    pub(super) fn signed(
        &mut self,
        method: reqwest::Method,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<Value, Failure> {
        for attempt in 0..2 {
            let ts = self.clock.venue_time(Self::now_ms());
            let query = self
                .signer
                .signed_query(params, ts, self.config.recv_window_ms);
            let url = format!("{}{path}?{query}", self.config.rest_url);
            match self.send(self.http.request(method.clone(), url)) {
                Err(Failure::Clock(msg)) if attempt == 0 => {
                    tracing::warn!(%msg, "binance -1021: measuring the server time again");
                    // The offset is wrong: forget it, and take the better
                    // of two fresh samples.
                    self.clock.restart();
                    let _ = self.sync_clock();
                    let _ = self.sync_clock();
                }
                other => return other,
            }
        }
        Err(Failure::NeverSent(
            "timestamp refused twice (-1021)".to_string(),
        ))
    }

    fn outcome<T>(r: Result<T, Failure>) -> Outcome<T> {
        match r {
            Ok(v) => Outcome::Done(v),
            Err(Failure::NeverSent(m)) => Outcome::Retry(Duration::from_millis(500), m),
            Err(Failure::Wait(d, m)) => Outcome::Retry(d, m),
            Err(Failure::Unknown(m)) => Outcome::Unknown(m),
            Err(Failure::Clock(m)) => Outcome::Retry(Duration::from_millis(100), m),
            Err(Failure::Code(code, msg)) => Outcome::Rejected(format!("{code} {msg}")),
        }
    }

    /// One trade as the books take it. The fee is charged in the asset the
    /// trade pays out unless BNB pays it (the `commissionAsset` of a fill in
    /// rest-api.md "New order" and of "Account trade list"): a fee in the
    /// quote asset is a commission; one in the base asset is kept out of
    /// the quantity bought (`fee_base`), valued at the trade's price. A fee
    /// in a third asset (BNB) is not valued (0): the quote and base
    /// balances are untouched by it.
    fn execution(&self, symbol: &str, id: String, t: &Value) -> Execution {
        let price = num(&t["price"]);
        let fee = num(&t["commission"]);
        let (commission, fee_base) = match (self.assets.get(symbol), t["commissionAsset"].as_str())
        {
            (Some((_, quote)), Some(a)) if a == quote => (fee, 0.0),
            (Some((base, _)), Some(a)) if a == base => (fee * price, fee),
            _ => (0.0, 0.0),
        };
        Execution {
            id,
            quantity: num(&t["qty"]),
            price,
            commission,
            fee_base,
        }
    }

    /// A stop and its take-profit as one OCO order list (rest-api.md, New
    /// Order list - OCO): "activation of one order immediately cancels the
    /// other", and the list locks the quantity once. A `SELL` list is a
    /// `LIMIT_MAKER` above the market (the take-profit, filled at its
    /// price) and a `STOP_LOSS` below; a `BUY` list (closing a short) a
    /// `STOP_LOSS` above and a `TAKE_PROFIT` below (`LIMIT_MAKER` may only
    /// be the above order). Each leg carries its own client order id and is
    /// looked up and cancelled as an order ("Canceling an individual order
    /// from an order list will cancel the entire order list"). The answer
    /// is the stop's report; the take-profit is looked up after.
    fn place_oco(&mut self, p: &Placement) -> Outcome<Report> {
        let Some(leg) = p
            .target
            .as_ref()
            .filter(|_| p.stop.is_some() || p.trail.is_some())
        else {
            return Outcome::Rejected("an order list needs a stop and a take-profit".into());
        };
        let quantity = p.quantity.to_string();
        let target = leg.price.to_string();
        // The stop leg: at its price, or trailing (`belowTrailingDelta` /
        // `aboveTrailingDelta`, rest-api.md: "Either …StopPrice or
        // …TrailingDelta or both, must be specified").
        let (stop_key, stop) = match (p.stop, p.trail) {
            (Some(price), _) => ("StopPrice", price.to_string()),
            (None, trail) => (
                "TrailingDelta",
                trail.map(trailing_delta).unwrap_or_default(),
            ),
        };
        let below_stop = format!("below{stop_key}");
        let above_stop = format!("above{stop_key}");
        // The list's own id: the stop's client id with `l` (at most 35 of
        // the 36 characters allowed).
        let list_id = format!("{}l", p.client_id);
        let mut params: Vec<(&str, &str)> = vec![
            ("symbol", &p.symbol),
            ("listClientOrderId", &list_id),
            ("quantity", &quantity),
            ("newOrderRespType", "RESULT"),
        ];
        match p.side {
            Side::Sell => params.extend([
                ("side", "SELL"),
                ("aboveType", "LIMIT_MAKER"),
                ("abovePrice", target.as_str()),
                ("aboveClientOrderId", leg.client_id.as_str()),
                ("belowType", "STOP_LOSS"),
                (below_stop.as_str(), stop.as_str()),
                ("belowClientOrderId", p.client_id.as_str()),
            ]),
            Side::Buy => params.extend([
                ("side", "BUY"),
                ("aboveType", "STOP_LOSS"),
                (above_stop.as_str(), stop.as_str()),
                ("aboveClientOrderId", p.client_id.as_str()),
                ("belowType", "TAKE_PROFIT"),
                ("belowStopPrice", target.as_str()),
                ("belowClientOrderId", leg.client_id.as_str()),
            ]),
        }
        let r = match self.signed(reqwest::Method::POST, "/api/v3/orderList/oco", &params) {
            Err(Failure::Code(-2010, msg)) if msg.contains("Duplicate") => {
                return Outcome::Unknown(format!("-2010 {msg}"));
            }
            other => other,
        };
        let r = r.map(|v| {
            let stop_report = v["orderReports"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|o| o["clientOrderId"].as_str() == Some(p.client_id.as_str()));
            Report {
                status: stop_report.map_or(Status::Open, Self::status),
                executions: Vec::new(),
            }
        });
        Self::outcome(r)
    }

    fn status(v: &Value) -> Status {
        match v["status"].as_str().unwrap_or("") {
            "FILLED" => Status::Filled,
            "CANCELED" => Status::Cancelled,
            "REJECTED" => Status::Rejected("REJECTED by the venue".into()),
            "EXPIRED" | "EXPIRED_IN_MATCH" => Status::Expired,
            _ => Status::Open,
        }
    }

    /// The executions of an order (`myTrades`), by trade id.
    fn trades(&mut self, symbol: &str, order_id: i64) -> Result<Vec<Execution>, Failure> {
        let id = order_id.to_string();
        let v = self.signed(
            reqwest::Method::GET,
            "/api/v3/myTrades",
            // rest-api.md, "Account trade list": `limit` "Default: 500;
            // Maximum: 1000." — an order with more than 500 fills would
            // otherwise lose the rest.
            &[("symbol", symbol), ("orderId", &id), ("limit", "1000")],
        )?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .map(|t| self.execution(symbol, t["id"].to_string(), t))
            .collect())
    }
}

/// A trail by a fraction in BIPS (faqs/trailing-stop-faq.md: "100 … 1%");
/// the venue trails only fractions ([`Binance::native_trail`]).
fn trailing_delta(trail: Trail) -> String {
    match trail {
        Trail::Fraction(f) => format!("{}", (f * 1e4).round() as i64),
        Trail::Distance(_) => String::new(),
    }
}

fn num(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_f64())
        .unwrap_or(f64::NAN)
}

fn cut(s: &str) -> String {
    s.chars().take(200).collect()
}

impl Failure {
    /// What went wrong, for an operator.
    pub(super) fn text(&self) -> String {
        match self {
            Failure::NeverSent(m) => format!("not sent: {m}"),
            Failure::Unknown(m) => format!("no answer: {m}"),
            Failure::Wait(d, m) => format!("{m} (wait {d:?})"),
            Failure::Clock(m) => format!("timestamp refused (-1021): {m}"),
            Failure::Code(code, m) => format!("{code}: {m}"),
        }
    }
}

impl Connector for Binance {
    fn holds_stops(&self) -> bool {
        self.config.stops_at_venue
    }

    fn holds_targets(&self) -> bool {
        self.config.stops_at_venue
    }

    /// filters.md: `LOT_SIZE` applies to every order and `MARKET_LOT_SIZE`
    /// to market orders too (a `maxQty` of 0 is none); `NOTIONAL`'s
    /// `maxNotional` to market orders where `applyMaxToMarket`.
    fn largest_market(&mut self, symbol: &str) -> (Option<f64>, Option<f64>) {
        let Some(f) = self.filters.get(symbol) else {
            return (None, None);
        };
        let number = |d: rust_decimal::Decimal| d.to_string().parse::<f64>().ok();
        let quantity = [f.lot, f.market_lot]
            .into_iter()
            .flatten()
            .map(|b| b.max)
            .filter(|m| *m > rust_decimal::Decimal::ZERO)
            .min()
            .and_then(number);
        let notional = f
            .max_notional
            .filter(|(max, to_market)| *to_market && *max > rust_decimal::Decimal::ZERO)
            .and_then(|(max, _)| number(max));
        (quantity, notional)
    }

    /// faqs/trailing-stop-faq.md: a `STOP_LOSS` with `trailingDelta` (BIPS,
    /// within the `TRAILING_DELTA` filter) and no `stopPrice` "starts
    /// tracking price changes from the next trade"; "OCO orders also
    /// support trailing stop orders in the contingent leg". By a fraction
    /// only: there is no trail by price.
    fn native_trail(&mut self, symbol: &str) -> NativeTrail {
        let stop_loss = self
            .order_types
            .get(symbol)
            .is_none_or(|t| t.iter().any(|t| t == "STOP_LOSS"));
        match self.filters.get(symbol).and_then(|f| f.trailing) {
            Some(t) if self.config.stops_at_venue && self.config.trailing_at_venue && stop_loss => {
                let fraction = |(min, max): (i64, i64)| (min as f64 / 1e4, max as f64 / 1e4);
                NativeTrail {
                    distance_step: None,
                    fraction_step: Some(1e-4),
                    sell: fraction(t.below),
                    buy: fraction(t.above),
                    listed: true,
                    fractional: true,
                }
            }
            _ => NativeTrail::default(),
        }
    }

    fn check(&mut self, symbols: &[String]) -> Vec<crate::execution::live::Finding> {
        self.findings(symbols)
    }

    fn test_order(
        &mut self,
        symbol: &str,
        client_id: &str,
        price: Option<f64>,
    ) -> Result<Placement, String> {
        self.test_placement(symbol, client_id, price)
    }

    fn prepare(&mut self, mut p: Placement) -> Result<Placement, String> {
        let f = self
            .filters
            .get(&p.symbol)
            .ok_or_else(|| format!("{}: not in the exchange information", p.symbol))?;
        if (p.stop.is_some() || p.trail.is_some())
            && self
                .order_types
                .get(&p.symbol)
                .is_some_and(|t| !t.iter().any(|t| t == "STOP_LOSS"))
        {
            return Err(format!(
                "{}: STOP_LOSS is not among the symbol's orderTypes (set stops_at_venue = false)",
                p.symbol
            ));
        }
        if let Some(trail) = p.trail {
            let (min, max) = f.trailing.map_or((1, 0), |t| {
                if p.side == Side::Sell {
                    t.below
                } else {
                    t.above
                }
            });
            match trail {
                Trail::Fraction(x)
                    if ((x * 1e4).round() as i64) >= min && ((x * 1e4).round() as i64) <= max => {}
                _ => {
                    return Err(format!(
                        "TRAILING_DELTA: a trail of {trail:?} is not a trailingDelta of {min} to {max} BIPS on {}",
                        p.symbol
                    ));
                }
            }
        }
        // A stop's price is rounded as a limit's on the same side: a sell
        // stop up (it triggers sooner, never later), a buy stop down.
        let ok = f
            .prepare(p.side, p.quantity, p.limit.or(p.stop), p.reference)
            .map_err(|e| e.to_string())?;
        p.quantity = ok.quantity.to_string().parse().unwrap_or(p.quantity);
        if let Some(leg) = &mut p.target {
            // The take-profit is a limit on the same side: a sell no
            // cheaper than asked (rounded up), a buy no dearer.
            let tp = f
                .prepare(p.side, p.quantity, Some(leg.price), p.reference)
                .map_err(|e| e.to_string())?;
            leg.price = tp
                .price
                .map_or(f64::NAN, |d| d.to_string().parse().unwrap_or(f64::NAN));
        }
        let price = ok.price.map(|d| d.to_string().parse().unwrap_or(f64::NAN));
        if p.stop.is_some() {
            p.stop = price;
        } else {
            p.limit = price;
        }
        Ok(p)
    }

    fn place(&mut self, p: &Placement) -> Outcome<Report> {
        if p.target.is_some() {
            return self.place_oco(p);
        }
        let side = match p.side {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        };
        let quantity = p.quantity.to_string();
        let price = p.limit.map(|x| x.to_string());
        let stop = p.stop.map(|x| x.to_string());
        let delta = p.trail.map(trailing_delta);
        let mut params: Vec<(&str, &str)> = vec![
            ("symbol", &p.symbol),
            ("side", side),
            ("quantity", &quantity),
            ("newClientOrderId", &p.client_id),
            ("newOrderRespType", "FULL"),
        ];
        match (&price, &stop) {
            (Some(px), _) => {
                params.push(("type", "LIMIT"));
                params.push(("timeInForce", "GTC"));
                params.push(("price", px));
            }
            // rest-api.md, New order: `STOP_LOSS` takes `quantity` and
            // `stopPrice` and "will execute a MARKET order when the
            // conditions are met".
            (None, Some(sp)) => {
                params.push(("type", "STOP_LOSS"));
                params.push(("stopPrice", sp));
            }
            // faqs/trailing-stop-faq.md: without `stopPrice` the order
            // "starts tracking price changes from the next trade".
            (None, None) if delta.is_some() => {
                params.push(("type", "STOP_LOSS"));
                params.push(("trailingDelta", delta.as_deref().unwrap_or_default()));
            }
            (None, None) => params.push(("type", "MARKET")),
        }
        let r = match self.signed(reqwest::Method::POST, "/api/v3/order", &params) {
            // The venue already has this client order id open: find out, never resend.
            Err(Failure::Code(-2010, msg)) if msg.contains("Duplicate") => {
                return Outcome::Unknown(format!("-2010 {msg}"));
            }
            other => other,
        };
        let r = r.map(|v| {
            let executions = v["fills"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| self.execution(&p.symbol, t["tradeId"].to_string(), t))
                .collect();
            Report {
                status: Self::status(&v),
                executions,
            }
        });
        Self::outcome(r)
    }

    fn cancel(&mut self, symbol: &str, client_id: &str) -> Outcome<()> {
        let r = self
            .signed(
                reqwest::Method::DELETE,
                "/api/v3/order",
                &[("symbol", symbol), ("origClientOrderId", client_id)],
            )
            .map(|_| ());
        Self::outcome(r)
    }

    fn query(&mut self, symbol: &str, client_id: &str) -> Outcome<Option<Report>> {
        let r = self.signed(
            reqwest::Method::GET,
            "/api/v3/order",
            &[("symbol", symbol), ("origClientOrderId", client_id)],
        );
        let v = match r {
            Ok(v) => v,
            Err(Failure::Code(-2013, _)) => return Outcome::Done(None),
            Err(e) => return Self::outcome(Err(e)),
        };
        let mut status = Self::status(&v);
        let executed = num(&v["executedQty"]);
        let executions = if executed > 0.0 {
            match self.trades(symbol, v["orderId"].as_i64().unwrap_or(0)) {
                Ok(t) => t,
                Err(e) => return Self::outcome(Err(e)),
            }
        } else {
            Vec::new()
        };
        // rest-api.md "Data Sources": "The API system is asynchronous, so
        // some delay in the response is normal and expected" — the order
        // and its trade list are read apart, and trades that do not add up
        // to `executedQty` yet are not the whole story: the order is not
        // ended on them (the next look books the rest).
        let listed: f64 = executions.iter().map(|e| e.quantity).sum();
        if listed < executed * (1.0 - 1e-9) && status != Status::Open {
            tracing::info!(
                symbol,
                client_id,
                executed,
                listed,
                "trade list behind the order; looking again later"
            );
            status = Status::Open;
        }
        Outcome::Done(Some(Report { status, executions }))
    }

    fn holdings(&mut self, symbols: &[String]) -> Outcome<Vec<(String, f64)>> {
        // The account's balances (weight 20): each symbol's base asset.
        let v = match self.signed(reqwest::Method::GET, "/api/v3/account", &[]) {
            Ok(v) => v,
            Err(e) => return Self::outcome(Err(e)),
        };
        let balance = |asset: &str| {
            v["balances"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|b| b["asset"].as_str() == Some(asset))
                .map_or(0.0, |b| num(&b["free"]) + num(&b["locked"]))
        };
        Outcome::Done(
            symbols
                .iter()
                .map(|s| {
                    let held = self.assets.get(s).map_or(0.0, |(base, _)| balance(base));
                    (s.clone(), held)
                })
                .collect(),
        )
    }

    fn cash(&mut self, symbols: &[String]) -> Outcome<Vec<(String, f64)>> {
        let v = match self.signed(reqwest::Method::GET, "/api/v3/account", &[]) {
            Ok(v) => v,
            Err(e) => return Self::outcome(Err(e)),
        };
        let mut assets: Vec<String> = symbols.iter().filter_map(|s| self.quote_asset(s)).collect();
        assets.sort();
        assets.dedup();
        Outcome::Done(
            assets
                .into_iter()
                .map(|a| {
                    let held = v["balances"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|b| b["asset"].as_str() == Some(a.as_str()))
                        .map_or(0.0, |b| num(&b["free"]) + num(&b["locked"]));
                    (a, held)
                })
                .collect(),
        )
    }

    fn quote_asset(&self, symbol: &str) -> Option<String> {
        self.assets.get(symbol).map(|(_, quote)| quote.clone())
    }

    fn pushes(&self) -> Option<Box<dyn crate::execution::live::Pushes>> {
        let url = self.config.ws_api_url.clone()?;
        Some(Box::new(super::stream::UserStream {
            url,
            key: self.key.clone(),
            signer: self.signer.clone(),
            offset_ms: self.offset_shared.clone(),
            tls: self.tls.clone(),
        }))
    }

    fn open_orders(&mut self, symbols: &[String]) -> Outcome<Vec<OpenOrder>> {
        // One request per symbol: weight 6 each, where the account-wide
        // list weighs 80.
        let mut out = Vec::new();
        for s in symbols {
            match self.signed(reqwest::Method::GET, "/api/v3/openOrders", &[("symbol", s)]) {
                Ok(v) => out.extend(v.as_array().into_iter().flatten().map(|o| OpenOrder {
                    client_id: o["clientOrderId"].as_str().unwrap_or("").to_string(),
                    symbol: s.clone(),
                })),
                Err(e) => return Self::outcome(Err(e)),
            }
        }
        Outcome::Done(out)
    }
}
