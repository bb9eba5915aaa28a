//! Alpaca's trading API (`https://paper-api.alpaca.markets`, live
//! `https://api.alpaca.markets`) as a [`Connector`].
//!
//! How answers are read (Alpaca's "Orders" and "Rate limit" pages):
//! - Every request carries `APCA-API-KEY-ID` / `APCA-API-SECRET-KEY`; 401
//!   or 403 on the account check at start is an error naming the key's
//!   refusal (the secret is never quoted).
//! - 200 requests a minute per key: `X-Ratelimit-Remaining` at 0 makes the
//!   connector wait for `X-Ratelimit-Reset` (a Unix time) before its next
//!   request; a 429 waits the same way (or a second, without the header).
//! - A timeout, a connection lost after sending, any 5xx: **unknown** — the
//!   courier looks the order up (`GET /v2/orders:by_client_order_id`)
//!   before anything is resent; 404 there is "not found".
//! - 422 "client_order_id must be unique" on a placement means the venue
//!   already has that order: unknown, so it is looked up, never taken as a
//!   rejection. Any other 4xx is a rejection with Alpaca's message.
//! - Executions: an order carries only its cumulative `filled_qty`; each
//!   fill with its own id comes from the account's `FILL` activities,
//!   matched by order id.
//! - Quantities are sent with at most 9 decimals, rounded down (fractional
//!   shares); limit prices to the cent (a hundredth of a cent below $1),
//!   buys down and sells up — never a worse price than approved.
//! - A stop with its take-profit is one OCO order (trading/orders.md, "OCO
//!   Orders"): `order_class` `oco`, `type` `limit`, the take-profit's
//!   `limit_price` and the stop's `stop_price`. The take-profit is the
//!   parent and carries its own client order id; the stop is a leg that
//!   Alpaca names itself, found under the parent's `legs` when orders are
//!   listed with `nested=true` — so the stop is looked up, cancelled
//!   (cancelling one cancels the group) and followed through its parent.
//!   Whole shares only: fractional quantities trade as simple orders.
//! - A trailing stop Alpaca trails itself (trading/orders.md, "Trailing
//!   Stop Orders"): `type` `trailing_stop` with `trail_price` (dollars,
//!   "the stop price is always `hwm - 2.00`") or `trail_percent` (percent),
//!   `gtc`; "supported only with single orders", so a stop beside a
//!   take-profit stays a plain stop in the OCO, and whole shares only
//!   (fractional trading is for `market` and `day` orders).
//! - Updates: the `trade_updates` stream (`authenticate`, then `listen`;
//!   the paper environment sends binary frames) says which order changed,
//!   and the order is looked up; polling covers the stream while it is
//!   down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};

use super::config::AlpacaConfig;
use crate::execution::Side;
use crate::execution::live::{
    Connector, Execution, NativeTrail, OpenOrder, Outcome, Placement, Report, Status,
};
use sandbar_sdk::protection::Trail;

mod oco;
mod trade_updates;
use trade_updates::TradeUpdates;

/// Alpaca, with one key.
pub struct Alpaca {
    config: AlpacaConfig,
    http: Client,
    tls: crate::net::tls::Tls,
    key: String,
    secret: String,
    /// No request before this (the minute's requests are spent).
    pause_until: Option<Instant>,
    /// A stop sent as an OCO's leg: its client order id → the OCO's (its
    /// take-profit's).
    lists: HashMap<String, String>,
    /// Alpaca's id of each stop leg seen → the host's client order id for
    /// it (the `trade_updates` stream names a leg by Alpaca's ids only).
    legs: Arc<Mutex<HashMap<String, String>>>,
}

enum Failure {
    NeverSent(String),
    Unknown(String),
    Wait(Duration, String),
    NotFound,
    Refused(u16, String),
}

impl Alpaca {
    /// Connect: the account is read, so a wrong URL or key fails here.
    pub fn connect(config: AlpacaConfig, key: String, secret: String) -> anyhow::Result<Alpaca> {
        let tls = crate::net::tls::Tls::new(config.ca_file.as_deref())?;
        let http = tls
            .http()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()?;
        let mut a = Alpaca {
            config,
            http,
            tls,
            key,
            secret,
            pause_until: None,
            lists: HashMap::new(),
            legs: Arc::default(),
        };
        let mut last = String::new();
        for _ in 0..5 {
            let req = a.http.get(format!("{}/v2/account", a.config.rest_url));
            match a.send(req) {
                Ok(_) => return Ok(a),
                Err(Failure::Refused(code, m)) => {
                    anyhow::bail!("alpaca: the API key was refused (HTTP {code}: {m})")
                }
                Err(Failure::Wait(d, m)) => {
                    last = m;
                    std::thread::sleep(d.min(Duration::from_secs(10)));
                }
                Err(Failure::NeverSent(m) | Failure::Unknown(m)) => {
                    last = m;
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(Failure::NotFound) => {
                    anyhow::bail!("alpaca: no /v2/account at {}", a.config.rest_url)
                }
            }
        }
        anyhow::bail!("alpaca: account: {last}")
    }

    fn send(&mut self, req: RequestBuilder) -> Result<Value, Failure> {
        if let Some(until) = self.pause_until.take() {
            let now = Instant::now();
            if until > now {
                std::thread::sleep(until - now);
            }
        }
        let r = match req
            .header("APCA-API-KEY-ID", &self.key)
            .header("APCA-API-SECRET-KEY", &self.secret)
            .send()
        {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Err(Failure::NeverSent(crate::net::chain(&e))),
            Err(e) => return Err(Failure::Unknown(crate::net::chain(&e))),
        };
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        let reset_wait = header("x-ratelimit-reset").map(|reset| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            Duration::from_secs(reset.saturating_sub(now).max(1))
        });
        if header("x-ratelimit-remaining") == Some(0) {
            self.pause_until = Some(Instant::now() + reset_wait.unwrap_or(Duration::from_secs(1)));
        }
        let status = r.status().as_u16();
        if status == 429 {
            let wait = reset_wait.unwrap_or(Duration::from_secs(1));
            self.pause_until = Some(Instant::now() + wait);
            return Err(Failure::Wait(wait, "HTTP 429 (rate limit)".into()));
        }
        let body = r.text().map_err(|e| Failure::Unknown(e.to_string()))?;
        if status >= 500 {
            return Err(Failure::Unknown(format!("HTTP {status}: {}", cut(&body))));
        }
        if status == 404 {
            return Err(Failure::NotFound);
        }
        let v: Value = if body.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&body)
                .map_err(|e| Failure::Unknown(format!("unreadable answer ({e})")))?
        };
        if status >= 400 {
            let m = v["message"].as_str().unwrap_or("").to_string();
            return Err(Failure::Refused(status, m));
        }
        Ok(v)
    }

    fn outcome<T>(r: Result<T, Failure>) -> Outcome<T> {
        match r {
            Ok(v) => Outcome::Done(v),
            Err(Failure::NeverSent(m)) => Outcome::Retry(Duration::from_millis(500), m),
            Err(Failure::Wait(d, m)) => Outcome::Retry(d, m),
            Err(Failure::Unknown(m)) => Outcome::Unknown(m),
            Err(Failure::NotFound) => Outcome::Rejected("HTTP 404 not found".into()),
            Err(Failure::Refused(code, m)) => Outcome::Rejected(format!("HTTP {code} {m}")),
        }
    }

    fn status(v: &Value) -> Status {
        match v["status"].as_str().unwrap_or("") {
            "filled" => Status::Filled,
            "canceled" => Status::Cancelled,
            "expired" => Status::Expired,
            // alpaca-docs, broker-api/trading/orders.md, "Order Lifecycle":
            // `done_for_day` is "done executing for the day, and will not
            // receive further updates until the next trading day" — it can
            // still fill tomorrow, so it stays open (never booked as ended).
            "rejected" => Status::Rejected("rejected by Alpaca".into()),
            _ => Status::Open,
        }
    }

    /// The executions of order `id` from the account's fill activities,
    /// every page of them (alpaca-docs, trading-api/account-activities.md,
    /// "Paging of Results": at most 100 a page; `page_token` the id of the
    /// page's end; `asc` begins right after it), from a minute before the
    /// order was created (`after`), until the order's `filled` quantity is
    /// accounted for or the list ends.
    fn executions(
        &mut self,
        id: &str,
        created_at: Option<&str>,
        filled: f64,
    ) -> Result<Vec<Execution>, Failure> {
        const PAGE: usize = 100;
        let after = created_at
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| {
                (t - chrono::Duration::minutes(1))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            });
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut got = 0.0;
        // Bounded: 1,000 pages are 100,000 fills since the order.
        for _ in 0..1000 {
            let mut query = vec![
                ("direction", "asc".to_string()),
                ("page_size", PAGE.to_string()),
            ];
            if let Some(a) = &after {
                query.push(("after", a.clone()));
            }
            if let Some(t) = &token {
                query.push(("page_token", t.clone()));
            }
            let req = self
                .http
                .get(format!(
                    "{}/v2/account/activities/FILL",
                    self.config.rest_url
                ))
                .query(&query);
            let v = self.send(req)?;
            let rows = v.as_array().cloned().unwrap_or_default();
            for a in rows.iter().filter(|a| a["order_id"].as_str() == Some(id)) {
                let e = Execution {
                    id: a["id"].as_str().unwrap_or("").to_string(),
                    quantity: num(&a["qty"]),
                    price: num(&a["price"]),
                    commission: 0.0,
                    fee_base: 0.0,
                };
                got += e.quantity;
                out.push(e);
            }
            token = rows.last().and_then(|a| a["id"].as_str()).map(String::from);
            if rows.len() < PAGE || got >= filled - 1e-9 || token.is_none() {
                break;
            }
        }
        Ok(out)
    }

    fn report(&mut self, v: &Value) -> Result<Report, Failure> {
        let filled = num(&v["filled_qty"]);
        let executions = if filled > 0.0 {
            let id = v["id"].as_str().unwrap_or("").to_string();
            let created = v["created_at"].as_str().map(String::from);
            self.executions(&id, created.as_deref(), filled)?
        } else {
            Vec::new()
        };
        // The activities can lag the order: a `filled` order whose listed
        // executions do not add up to its `filled_qty` yet is not ended —
        // it is looked up again, so no fill is lost.
        let listed: f64 = executions.iter().map(|e| e.quantity).sum();
        let status = match Self::status(v) {
            Status::Filled | Status::Cancelled | Status::Expired if listed < filled - 1e-9 => {
                Status::Open
            }
            s => s,
        };
        Ok(Report { status, executions })
    }

    /// Alpaca's id of the order with this client order id.
    fn id_of(&mut self, client_id: &str) -> Result<Value, Failure> {
        let req = self
            .http
            .get(format!(
                "{}/v2/orders:by_client_order_id",
                self.config.rest_url
            ))
            .query(&[("client_order_id", client_id)]);
        self.send(req)
    }
}

fn num(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_f64())
        .unwrap_or(0.0)
}

fn cut(s: &str) -> String {
    s.chars().take(200).collect()
}

/// `x` as the decimal it was written as: the shortest text that reads back
/// as `x` (`187.45`, `0.3`), not the binary value's expansion
/// (`187.449999…`, which rounds down a cent too far).
fn decimal(x: f64) -> rust_decimal::Decimal {
    x.to_string()
        .parse()
        .ok()
        .or_else(|| rust_decimal::Decimal::from_f64_retain(x))
        .unwrap_or_default()
}

/// `x` rounded down to `decimals` places.
fn floor_to(x: f64, decimals: u32) -> f64 {
    let d = decimal(x);
    let r = d.round_dp_with_strategy(decimals, rust_decimal::RoundingStrategy::ToZero);
    r.to_string().parse().unwrap_or(0.0)
}

fn round_price(p: f64, side: Side) -> f64 {
    use rust_decimal::RoundingStrategy::{ToNegativeInfinity, ToPositiveInfinity};
    let dp = if p >= 1.0 { 2 } else { 4 };
    let d = decimal(p);
    let r = d.round_dp_with_strategy(
        dp,
        if side == Side::Buy {
            ToNegativeInfinity
        } else {
            ToPositiveInfinity
        },
    );
    r.to_string().parse().unwrap_or(f64::NAN)
}

impl Failure {
    fn text(&self) -> String {
        match self {
            Failure::NeverSent(m) => format!("not sent: {m}"),
            Failure::Unknown(m) => format!("no answer: {m}"),
            Failure::Wait(d, m) => format!("{m} (wait {d:?})"),
            Failure::NotFound => "not found".into(),
            Failure::Refused(code, m) => format!("HTTP {code}: {m}"),
        }
    }
}

impl Connector for Alpaca {
    /// The account (alpaca-docs trading-api, account: `status`,
    /// `trading_blocked`, `account_blocked`, `cash`, `buying_power`).
    fn check(&mut self, _symbols: &[String]) -> Vec<crate::execution::live::Finding> {
        use crate::execution::live::Finding;
        let req = self
            .http
            .get(format!("{}/v2/account", self.config.rest_url));
        match self.send(req) {
            Ok(v) => {
                let detail = format!(
                    "status {}, trading_blocked {}, cash {}, buying_power {}",
                    v["status"], v["trading_blocked"], v["cash"], v["buying_power"]
                );
                let fit = v["status"] == "ACTIVE"
                    && v["trading_blocked"] != true
                    && v["account_blocked"] != true;
                vec![if fit {
                    Finding::ok("account", detail)
                } else {
                    Finding::fail("account", format!("{detail}: this account cannot trade"))
                }]
            }
            Err(e) => vec![Finding::fail("account", e.text())],
        }
    }

    /// One share (or unit) at `price`: Alpaca's trading API has no last
    /// price, so the operator gives one well below the market.
    fn test_order(
        &mut self,
        symbol: &str,
        client_id: &str,
        price: Option<f64>,
    ) -> Result<Placement, String> {
        let price =
            price.ok_or("Alpaca gives no last price here: give --price, well below the market")?;
        Ok(Placement {
            client_id: client_id.into(),
            symbol: symbol.into(),
            side: Side::Buy,
            quantity: 1.0,
            limit: Some(price),
            stop: None,
            target: None,
            reference: price,
            trail: None,
        })
    }

    fn prepare(&mut self, mut p: Placement) -> Result<Placement, String> {
        if p.client_id.len() > 48 {
            return Err(format!(
                "client_order_id {} is over 48 characters",
                p.client_id
            ));
        }
        let q = floor_to(p.quantity, 9);
        if q.is_nan() || q <= 0.0 {
            return Err(format!("qty {} rounds to nothing (9 decimals)", p.quantity));
        }
        p.quantity = q;
        p.limit = p.limit.map(|l| round_price(l, p.side));
        if p.limit.is_some_and(|l| l.is_nan() || l <= 0.0) {
            return Err("limit_price is not a positive price".into());
        }
        // A stop to the cent as a limit on its side: a sell stop up, a buy
        // stop down — it triggers sooner, never later.
        p.stop = p.stop.map(|l| round_price(l, p.side));
        if p.stop.is_some_and(|l| l.is_nan() || l <= 0.0) {
            return Err("stop_price is not a positive price".into());
        }
        if p.trail.is_some() && (p.target.is_some() || p.quantity.fract() != 0.0) {
            return Err(format!(
                "a trailing_stop is a single order for whole shares, not {} beside a take-profit: {}",
                p.quantity,
                p.target.is_some()
            ));
        }
        if let Some(leg) = &mut p.target {
            if p.quantity.fract() != 0.0 {
                return Err(format!(
                    "an OCO order is for whole shares, not {}",
                    p.quantity
                ));
            }
            leg.price = round_price(leg.price, p.side);
            if leg.price.is_nan() || leg.price <= 0.0 {
                return Err("take_profit.limit_price is not a positive price".into());
            }
        }
        Ok(p)
    }

    /// By price in cents or by percent in hundredths (the docs give no
    /// finer step: a trail between steps stays with the host, never
    /// rounded), alone, for whole shares.
    fn native_trail(&mut self, _symbol: &str) -> NativeTrail {
        if !(self.config.stops_at_venue && self.config.trailing_at_venue) {
            return NativeTrail::default();
        }
        TRAIL
    }

    fn holds_stops(&self) -> bool {
        self.config.stops_at_venue
    }

    /// Take-profits rest where stops do: alone as a limit order, beside a
    /// stop as one OCO order.
    fn holds_targets(&self) -> bool {
        self.config.stops_at_venue
    }

    fn lists_fractional(&self) -> bool {
        false
    }

    fn remember(&mut self, p: &Placement) {
        if let Some(leg) = &p.target {
            self.lists
                .insert(p.client_id.clone(), leg.client_id.clone());
        }
    }

    fn place(&mut self, p: &Placement) -> Outcome<Report> {
        if let (Some(leg), Some(stop)) = (&p.target, p.stop) {
            return self.place_oco(p, leg, stop);
        }
        let fractional = p.quantity.fract() != 0.0;
        let mut body = json!({
            "symbol": p.symbol,
            "qty": p.quantity.to_string(),
            "side": if p.side == Side::Buy { "buy" } else { "sell" },
            // alpaca-docs trading-api, orders: `type` market, limit, stop
            // (`stop_price`: a market order once the stop is reached).
            "type": match (p.limit, p.stop, p.trail) {
                (Some(_), _, _) => "limit",
                (None, Some(_), _) => "stop",
                (None, None, Some(_)) => "trailing_stop",
                (None, None, None) => "market",
            },
            // Fractional orders must be DAY orders; whole ones stay until cancelled.
            "time_in_force": if fractional { "day" } else { "gtc" },
            "client_order_id": p.client_id,
        });
        if let Some(l) = p.limit {
            body["limit_price"] = json!(l.to_string());
        }
        if let Some(s) = p.stop {
            body["stop_price"] = json!(s.to_string());
        }
        match p.trail {
            Some(Trail::Distance(d)) => body["trail_price"] = json!(hundredths(d)),
            Some(Trail::Fraction(f)) => body["trail_percent"] = json!(hundredths(f * 100.0)),
            None => {}
        }
        let req = self
            .http
            .post(format!("{}/v2/orders", self.config.rest_url))
            .json(&body);
        match self.send(req) {
            Ok(v) => Self::outcome(self.report(&v)),
            // The venue already has this client order id: find out, never resend.
            Err(Failure::Refused(422, m)) if m.contains("client_order_id must be unique") => {
                Outcome::Unknown(format!("HTTP 422 {m}"))
            }
            Err(e) => Self::outcome(Err(e)),
        }
    }

    fn cancel(&mut self, _symbol: &str, client_id: &str) -> Outcome<()> {
        // A stop leg goes with its OCO: "if any one of the orders is
        // canceled, any remaining open order in the group is canceled".
        let client_id = self.lists.get(client_id).map_or(client_id, String::as_str);
        let client_id = client_id.to_string();
        let v = match self.id_of(&client_id) {
            Ok(v) => v,
            Err(e) => return Self::outcome(Err(e)),
        };
        let id = v["id"].as_str().unwrap_or("").to_string();
        let req = self
            .http
            .delete(format!("{}/v2/orders/{id}", self.config.rest_url));
        Self::outcome(self.send(req).map(|_| ()))
    }

    fn query(&mut self, symbol: &str, client_id: &str) -> Outcome<Option<Report>> {
        if let Some(parent) = self.lists.get(client_id).cloned() {
            return Self::outcome(self.leg_report(symbol, client_id, &parent));
        }
        match self.id_of(client_id) {
            Ok(v) => Self::outcome(self.report(&v).map(Some)),
            Err(Failure::NotFound) => Outcome::Done(None),
            Err(e) => Self::outcome(Err(e)),
        }
    }

    fn holdings(&mut self, symbols: &[String]) -> Outcome<Vec<(String, f64)>> {
        let req = self
            .http
            .get(format!("{}/v2/positions", self.config.rest_url));
        Self::outcome(self.send(req).map(|v| {
            let qty = |s: &str| {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .find(|p| p["symbol"].as_str() == Some(s))
                    .and_then(|p| p["qty"].as_str().and_then(|q| q.parse::<f64>().ok()))
                    .unwrap_or(0.0)
            };
            symbols.iter().map(|s| (s.clone(), qty(s))).collect()
        }))
    }

    fn cash(&mut self, _symbols: &[String]) -> Outcome<Vec<(String, f64)>> {
        let req = self
            .http
            .get(format!("{}/v2/account", self.config.rest_url));
        Self::outcome(self.send(req).map(|v| {
            let cash = v["cash"]
                .as_str()
                .and_then(|c| c.parse::<f64>().ok())
                .unwrap_or(0.0);
            vec![("USD".to_string(), cash)]
        }))
    }

    fn quote_asset(&self, _symbol: &str) -> Option<String> {
        Some("USD".into())
    }

    fn pushes(&self) -> Option<Box<dyn crate::execution::live::Pushes>> {
        Some(Box::new(TradeUpdates {
            url: self.config.stream_url.clone()?,
            key: self.key.clone(),
            secret: self.secret.clone(),
            tls: self.tls.clone(),
            legs: self.legs.clone(),
        }))
    }

    /// Every open order of `symbols`, page by page: `GET /v2/orders`
    /// returns at most 500 (data/webapi/endpoints/orders.yaml, `limit`;
    /// trading-api/orders.md points to the "Get All Orders" recipe), so
    /// pages are read oldest first (`direction=asc`) and each next one
    /// starts at the last one's submission time. `after` is exclusive and
    /// orders can share a timestamp, so a page starts a millisecond before
    /// it and orders already seen are skipped by id.
    fn open_orders(&mut self, symbols: &[String]) -> Outcome<Vec<OpenOrder>> {
        const PAGE: usize = 500;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![
                ("status", "open".to_string()),
                ("limit", PAGE.to_string()),
                ("direction", "asc".to_string()),
                ("symbols", symbols.join(",")),
            ];
            if let Some(a) = &after {
                query.push(("after", a.clone()));
            }
            let req = self
                .http
                .get(format!("{}/v2/orders", self.config.rest_url))
                .query(&query);
            let page = match self.send(req) {
                Ok(v) => v,
                Err(f) => return Self::outcome(Err(f)),
            };
            let rows = page.as_array().map(Vec::as_slice).unwrap_or_default();
            let mut new = 0;
            for o in rows {
                if !seen.insert(o["id"].as_str().unwrap_or("").to_string()) {
                    continue;
                }
                new += 1;
                let symbol = o["symbol"].as_str().unwrap_or("");
                if symbols.iter().any(|x| x == symbol) {
                    out.push(OpenOrder {
                        client_id: o["client_order_id"].as_str().unwrap_or("").to_string(),
                        symbol: symbol.to_string(),
                    });
                }
            }
            if rows.len() < PAGE {
                return Outcome::Done(out);
            }
            let last = rows
                .last()
                .and_then(|o| o["submitted_at"].as_str())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            let (Some(last), true) = (last, new > 0) else {
                return Outcome::Rejected(format!(
                    "GET /v2/orders: a full page of {PAGE} open orders that cannot be paged past \
                     ({} read; a missing or repeated `submitted_at`)",
                    out.len()
                ));
            };
            after = Some(
                (last - chrono::Duration::milliseconds(1))
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            );
        }
    }
}

/// A trail to the hundredth (`trail_price` in cents, `trail_percent`), as
/// Alpaca takes a number in a string.
fn hundredths(x: f64) -> String {
    format!("{}", (x * 100.0).round() / 100.0)
}

/// Alpaca's `trailing_stop` (trading/orders.md, "Trailing Stop Orders"):
/// `trail_price` in cents or `trail_percent` in hundredths of a percent,
/// "supported only with single orders", whole shares.
const TRAIL: NativeTrail = NativeTrail {
    distance_step: Some(0.01),
    fraction_step: Some(1e-4),
    sell: (1e-4, 0.9999),
    buy: (1e-4, 0.9999),
    listed: false,
    fractional: false,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trail_rests_at_alpaca_by_the_cent_or_hundredth_alone_and_for_whole_shares() {
        assert!(TRAIL.allows(Side::Sell, 3.0, Trail::Distance(2.5), false));
        assert!(TRAIL.allows(Side::Buy, 3.0, Trail::Fraction(0.0125), false));
        assert!(
            !TRAIL.allows(Side::Sell, 3.0, Trail::Distance(2.505), false),
            "sub-cent"
        );
        assert!(
            !TRAIL.allows(Side::Sell, 3.0, Trail::Fraction(0.012345), false),
            "between hundredths of a percent"
        );
        assert!(
            !TRAIL.allows(Side::Sell, 3.0, Trail::Distance(2.5), true),
            "single orders only"
        );
        assert!(
            !TRAIL.allows(Side::Sell, 2.5, Trail::Distance(2.5), false),
            "whole shares only"
        );
    }

    #[test]
    fn done_for_day_is_not_the_end_of_an_order() {
        let v = |s: &str| json!({"status": s});
        assert_eq!(Alpaca::status(&v("done_for_day")), Status::Open);
        assert_eq!(Alpaca::status(&v("expired")), Status::Expired);
        assert_eq!(Alpaca::status(&v("filled")), Status::Filled);
    }

    #[test]
    fn quantities_round_down_and_prices_never_worse() {
        assert_eq!(floor_to(0.1234567899, 9), 0.123456789);
        assert_eq!(round_price(187.456, Side::Buy), 187.45);
        assert_eq!(round_price(187.451, Side::Sell), 187.46);
        assert_eq!(round_price(0.123456, Side::Buy), 0.1234);
        // Prices and quantities written exactly stay as written (the
        // binary value of 187.45 is 187.4499…, of 0.3 is 0.2999…).
        assert_eq!(round_price(187.45, Side::Buy), 187.45);
        assert_eq!(round_price(187.45, Side::Sell), 187.45);
        assert_eq!(floor_to(0.3, 9), 0.3);
        assert_eq!(floor_to(1.1, 9), 1.1);
    }
}
