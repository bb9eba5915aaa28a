//! Binance spot klines: the combined WebSocket stream for closed bars and
//! `GET /api/v3/klines` for warm-up and gap fill.
//!
//! What the exchange documents and this module relies on:
//! - stream names are lowercase, `<symbol>@kline_<interval>`, at most 1,024
//!   per connection, joined as `/stream?streams=a/b/…`; each message is
//!   `{"stream": …, "data": {"e": "kline", "k": {…}}}`;
//! - a kline is final only when `k.x` is true; earlier updates of the same
//!   kline are ignored;
//! - the server pings; a pong must carry the same payload (tungstenite
//!   answers pings itself while the connection is read);
//! - a connection lives at most 24 hours; the hub reconnects before that;
//! - REST rows are `[openTime, "open", "high", "low", "close", "volume",
//!   closeTime, …]`, at most 1,000 a request; the last row may be the kline
//!   still forming, so rows are kept only when `closeTime` is before the
//!   server's time (`GET /api/v3/time`).

use std::time::Duration;

use serde_json::Value;

use crate::data::live::{FeedError, History, RawBar, get_json};

/// Most streams one connection may carry.
pub const MAX_STREAMS: usize = 1024;
/// Most rows one REST request returns.
const PAGE: usize = 1000;

/// The stream name of a symbol's klines.
pub fn stream_name(symbol: &str, interval: &str) -> String {
    format!("{}@kline_{interval}", symbol.to_lowercase())
}

/// The URL of a combined stream.
pub fn stream_url(ws_url: &str, streams: &[String]) -> String {
    format!(
        "{}/stream?streams={}",
        ws_url.trim_end_matches('/'),
        streams.join("/")
    )
}

fn num(v: &Value, what: &str) -> Result<f64, String> {
    let x = match v {
        Value::String(s) => s
            .parse::<f64>()
            .map_err(|e| format!("{what}: {s:?}: {e}"))?,
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{what}: {n}"))?,
        other => return Err(format!("{what}: expected a number, got {other}")),
    };
    Ok(x)
}

fn int(v: &Value, what: &str) -> Result<i64, String> {
    v.as_i64()
        .ok_or_else(|| format!("{what}: expected an integer, got {v}"))
}

/// What one stream message says.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A closed kline.
    Closed {
        /// Symbol as the exchange spells it (`BTCUSDT`).
        symbol: String,
        /// Interval (`1m`).
        interval: String,
        /// The bar.
        bar: RawBar,
    },
    /// An update of a kline still forming (ignored).
    Forming,
    /// Something other than a kline (a subscription answer).
    Other,
}

/// Parse one text message of the combined stream.
pub fn parse_message(text: &str) -> Result<Message, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Some(data) = v.get("data") else {
        return Ok(Message::Other);
    };
    if data.get("e").and_then(Value::as_str) != Some("kline") {
        return Ok(Message::Other);
    }
    let k = data.get("k").ok_or("kline message without `k`")?;
    if k.get("x").and_then(Value::as_bool) != Some(true) {
        return Ok(Message::Forming);
    }
    let symbol = k
        .get("s")
        .and_then(Value::as_str)
        .ok_or("kline without `s`")?
        .to_string();
    let interval = k
        .get("i")
        .and_then(Value::as_str)
        .ok_or("kline without `i`")?
        .to_string();
    let bar = RawBar {
        time_ms: int(&k["t"], "k.t")?,
        open: num(&k["o"], "k.o")?,
        high: num(&k["h"], "k.h")?,
        low: num(&k["l"], "k.l")?,
        close: num(&k["c"], "k.c")?,
        volume: num(&k["v"], "k.v")?,
    };
    Ok(Message::Closed {
        symbol,
        interval,
        bar,
    })
}

/// Parse a REST klines answer; rows whose close time is not before
/// `server_ms` are still forming and left out.
pub fn parse_rows(body: &Value, server_ms: i64) -> Result<Vec<RawBar>, String> {
    let rows = body
        .as_array()
        .ok_or_else(|| format!("expected an array of klines, got {body}"))?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let r = row
            .as_array()
            .filter(|r| r.len() >= 7)
            .ok_or_else(|| format!("row {i}: expected at least 7 columns, got {row}"))?;
        let close_time = int(&r[6], &format!("row {i} closeTime"))?;
        if close_time >= server_ms {
            continue;
        }
        out.push(RawBar {
            time_ms: int(&r[0], &format!("row {i} openTime"))?,
            open: num(&r[1], &format!("row {i} open"))?,
            high: num(&r[2], &format!("row {i} high"))?,
            low: num(&r[3], &format!("row {i} low"))?,
            close: num(&r[4], &format!("row {i} close"))?,
            volume: num(&r[5], &format!("row {i} volume"))?,
        });
    }
    Ok(out)
}

/// The REST side of a Binance feed.
pub struct BinanceRest {
    base: String,
    http: reqwest::blocking::Client,
}

impl BinanceRest {
    /// A client of `base` (`https://api.binance.com`, or a test server)
    /// trusting `tls`'s roots.
    pub fn new(base: &str, tls: &crate::net::tls::Tls) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            http: tls
                .http()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, FeedError> {
        let url = format!("{}{path}", self.base);
        get_json(&url, self.http.get(&url).query(query))
    }

    /// The exchange's clock.
    pub fn server_time(&self) -> Result<i64, FeedError> {
        let v = self.get("/api/v3/time", &[])?;
        v["serverTime"]
            .as_i64()
            .ok_or_else(|| FeedError::Rest(format!("/api/v3/time: no serverTime in {v}")))
    }
}

impl History for BinanceRest {
    fn closed_bars(
        &self,
        symbol: &str,
        interval: &str,
        from_ms: i64,
        until_ms: Option<i64>,
    ) -> Result<Vec<RawBar>, FeedError> {
        let now = self.server_time()?;
        let until_ms = until_ms.unwrap_or(now);
        let mut out: Vec<RawBar> = Vec::new();
        let mut from = from_ms;
        while from < until_ms {
            let body = self.get(
                "/api/v3/klines",
                &[
                    ("symbol", symbol.to_uppercase()),
                    ("interval", interval.to_string()),
                    ("startTime", from.to_string()),
                    ("endTime", (until_ms - 1).to_string()),
                    ("limit", PAGE.to_string()),
                ],
            )?;
            let rows = body.as_array().map_or(0, Vec::len);
            let page = parse_rows(&body, now)
                .map_err(|e| FeedError::Rest(format!("/api/v3/klines {symbol}: {e}")))?;
            let Some(last) = page.last() else { break };
            if last.time_ms < from {
                return Err(FeedError::Rest(format!(
                    "/api/v3/klines {symbol}: asked from {from}, got rows ending at {}",
                    last.time_ms
                )));
            }
            from = last.time_ms + 1;
            out.extend(page.into_iter().filter(|b| b.time_ms < until_ms));
            if rows < PAGE {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_closed_kline_is_a_bar() {
        let closed = r#"{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":60000,"T":119999,"s":"BTCUSDT","i":"1m","o":"1.5","c":"2","h":"2.5","l":"1","v":"10","n":3,"x":true}}}"#;
        assert_eq!(
            parse_message(closed).unwrap(),
            Message::Closed {
                symbol: "BTCUSDT".into(),
                interval: "1m".into(),
                bar: RawBar {
                    time_ms: 60000,
                    open: 1.5,
                    high: 2.5,
                    low: 1.0,
                    close: 2.0,
                    volume: 10.0
                }
            }
        );
        let forming = closed.replace(r#""x":true"#, r#""x":false"#);
        assert_eq!(parse_message(&forming).unwrap(), Message::Forming);
        assert_eq!(
            parse_message(r#"{"result":null,"id":1}"#).unwrap(),
            Message::Other
        );
        let bad = closed.replace(r#""o":"1.5""#, r#""o":"one""#);
        let e = parse_message(&bad).unwrap_err();
        assert!(e.contains("k.o") && e.contains("one"), "{e}");
    }

    #[test]
    fn rest_rows_still_forming_are_left_out() {
        let body: Value = serde_json::from_str(
            r#"[[0,"1","2","0.5","1.5","7",59999,"0",1,"0","0","0"],
                [60000,"1.5","2","1","1.8","3",119999,"0",1,"0","0","0"]]"#,
        )
        .unwrap();
        let rows = parse_rows(&body, 100_000).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].close, 1.5);
        assert_eq!(parse_rows(&body, 120_000).unwrap().len(), 2);
    }
}
