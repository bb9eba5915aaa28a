//! Alpaca market data v2: minute bars over the WebSocket stream
//! (`/v2/iex` or `/v2/sip`) and `GET /v2/stocks/bars` for warm-up and gap
//! fill.
//!
//! What the provider documents and this module relies on:
//! - after connecting, the server says `[{"T":"success","msg":"connected"}]`;
//!   the client must send `{"action":"auth","key":…,"secret":…}` within 10
//!   seconds, and subscribe (`{"action":"subscribe","bars":[…]}`) only once
//!   `authenticated`;
//! - every message is a JSON *array* of objects told apart by `T`: `b` a
//!   minute bar (`S o h l c v t n vw`, `t` RFC 3339, the bar labelled by its
//!   start), `u` a late correction of a bar already sent (`updatedBars`),
//!   `error` with a `code` (401 not authenticated, 402 auth failed, 404 auth
//!   timeout, 406 connection limit exceeded — most plans allow a single
//!   market-data connection, so one connection serves every deployment);
//! - REST pages are `{"bars": {"SYM": [{…}]}, "next_page_token": …}`,
//!   authenticated with the `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY`
//!   headers.
//!
//! A correction is journaled as a feed note and never re-delivered: the
//! strategy already decided on the bar it saw.

use std::time::Duration;

use serde_json::Value;

use crate::adapters::credentials::Credentials;
use crate::data::live::{FeedError, History, RawBar, get_json, interval_ms};

/// What one stream message (one element of the array) says.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Connected, authenticated, or another success.
    Success(String),
    /// The subscription as the server holds it.
    Subscribed(Vec<String>),
    /// A minute bar.
    Bar {
        /// Symbol.
        symbol: String,
        /// The bar.
        bar: RawBar,
    },
    /// A correction of a bar already sent.
    Corrected {
        /// Symbol.
        symbol: String,
        /// The corrected bar.
        bar: RawBar,
    },
    /// An error with its code.
    Error {
        /// Code (406: connection limit).
        code: i64,
        /// Message.
        msg: String,
    },
    /// Anything else (trades, quotes).
    Other,
}

fn num(v: &Value, what: &str) -> Result<f64, String> {
    v.as_f64()
        .ok_or_else(|| format!("{what}: expected a number, got {v}"))
}

fn bar_of(o: &Value) -> Result<RawBar, String> {
    let t = o["t"].as_str().ok_or("bar without `t`")?;
    let time_ms = chrono::DateTime::parse_from_rfc3339(t)
        .map_err(|e| format!("t: {t:?}: {e}"))?
        .timestamp_millis();
    Ok(RawBar {
        time_ms,
        open: num(&o["o"], "o")?,
        high: num(&o["h"], "h")?,
        low: num(&o["l"], "l")?,
        close: num(&o["c"], "c")?,
        volume: num(&o["v"], "v")?,
    })
}

/// Parse one text frame: an array of messages.
pub fn parse_frame(text: &str) -> Result<Vec<Message>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let items = v
        .as_array()
        .ok_or_else(|| format!("expected an array of messages, got {v}"))?;
    items
        .iter()
        .map(|o| {
            Ok(match o["T"].as_str() {
                Some("success") => Message::Success(o["msg"].as_str().unwrap_or_default().into()),
                Some("subscription") => Message::Subscribed(
                    o["bars"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                Some("b") => Message::Bar {
                    symbol: o["S"].as_str().ok_or("bar without `S`")?.into(),
                    bar: bar_of(o)?,
                },
                Some("u") => Message::Corrected {
                    symbol: o["S"].as_str().ok_or("correction without `S`")?.into(),
                    bar: bar_of(o)?,
                },
                Some("error") => Message::Error {
                    code: o["code"].as_i64().unwrap_or_default(),
                    msg: o["msg"].as_str().unwrap_or_default().into(),
                },
                _ => Message::Other,
            })
        })
        .collect()
}

/// Alpaca's name of an interval (`1Min`, `5Min`, `1Hour`, `1Day`).
pub fn timeframe(interval: &str) -> Result<String, FeedError> {
    let ms = interval_ms(interval)?;
    Ok(match ms {
        m if m % 86_400_000 == 0 => format!("{}Day", m / 86_400_000),
        m if m % 3_600_000 == 0 => format!("{}Hour", m / 3_600_000),
        m if m % 60_000 == 0 => format!("{}Min", m / 60_000),
        _ => {
            return Err(FeedError::Config(format!(
                "interval {interval}: Alpaca bars are in minutes, hours or days"
            )));
        }
    })
}

/// The REST side of an Alpaca feed.
pub struct AlpacaRest {
    base: String,
    bars_path: String,
    /// The stream's feed (`iex`, `sip`), asked of REST too: its default is
    /// "`iex` for free plans and `sip` for paid" (alpaca-docs
    /// market-data-api, historical bars, `feed`), so warm-up and gap fill
    /// would otherwise come from another tape than the stream's.
    feed: Option<String>,
    credentials: Credentials,
    http: reqwest::blocking::Client,
}

impl AlpacaRest {
    /// A client of `base` (`https://data.alpaca.markets`), bars at
    /// `bars_path`, of the feed the stream at `ws_url` carries.
    pub fn new(
        base: &str,
        bars_path: &str,
        ws_url: &str,
        credentials: Credentials,
        tls: &crate::net::tls::Tls,
    ) -> Self {
        Self {
            base: base.trim_end_matches('/').into(),
            bars_path: bars_path.into(),
            feed: stream_feed(ws_url),
            credentials,
            http: tls
                .http()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }
}

/// The feed a stock stream URL carries (`…/v2/iex` → `iex`,
/// `…/v2/delayed_sip` → `sip`); `None` for another stream (crypto).
pub fn stream_feed(ws_url: &str) -> Option<String> {
    match ws_url.trim_end_matches('/').rsplit('/').next()? {
        "iex" => Some("iex".into()),
        "sip" | "delayed_sip" => Some("sip".into()),
        "otc" => Some("otc".into()),
        _ => None,
    }
}

fn rfc3339(ms: i64) -> String {
    crate::data::market::format_time(ms)
}

impl History for AlpacaRest {
    fn closed_bars(
        &self,
        symbol: &str,
        interval: &str,
        from_ms: i64,
        until_ms: Option<i64>,
    ) -> Result<Vec<RawBar>, FeedError> {
        let step = interval_ms(interval)?;
        let now = chrono::Utc::now().timestamp_millis();
        let until = until_ms.unwrap_or(now);
        let url = format!("{}{}", self.base, self.bars_path);
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut q: Vec<(&str, String)> = vec![
                ("symbols", symbol.to_string()),
                ("timeframe", timeframe(interval)?),
                ("start", rfc3339(from_ms)),
                ("end", rfc3339(until - 1)),
                ("limit", "10000".into()),
            ];
            if let Some(p) = &page {
                q.push(("page_token", p.clone()));
            }
            if let Some(f) = &self.feed {
                q.push(("feed", f.clone()));
            }
            let v = get_json(
                &url,
                self.http
                    .get(&url)
                    .header("APCA-API-KEY-ID", &self.credentials.key)
                    .header("APCA-API-SECRET-KEY", &self.credentials.secret)
                    .query(&q),
            )?;
            if let Some(rows) = v["bars"][symbol].as_array() {
                for row in rows {
                    let b = bar_of(row).map_err(|e| FeedError::Rest(format!("GET {url}: {e}")))?;
                    // A bar still forming is not history yet.
                    if b.time_ms + step <= now && b.time_ms >= from_ms && b.time_ms < until {
                        out.push(b);
                    }
                }
            }
            match v["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => page = Some(t.into()),
                _ => break,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_arrays_of_typed_messages() {
        let m = parse_frame(
            r#"[{"T":"b","S":"SPY","o":1.5,"h":2.5,"l":1,"c":2,"v":10,"t":"2024-01-01T00:01:00Z","n":3,"vw":2.1},
                {"T":"u","S":"SPY","o":1.5,"h":2.5,"l":1,"c":2.2,"v":11,"t":"2024-01-01T00:00:00Z","n":3,"vw":2.1},
                {"T":"error","code":406,"msg":"connection limit exceeded"},
                {"T":"success","msg":"authenticated"},
                {"T":"t","S":"SPY"}]"#,
        )
        .unwrap();
        assert_eq!(
            m[0],
            Message::Bar {
                symbol: "SPY".into(),
                bar: RawBar {
                    time_ms: 1_704_067_260_000,
                    open: 1.5,
                    high: 2.5,
                    low: 1.0,
                    close: 2.0,
                    volume: 10.0
                }
            }
        );
        assert!(matches!(&m[1], Message::Corrected { bar, .. } if bar.close == 2.2));
        assert_eq!(
            m[2],
            Message::Error {
                code: 406,
                msg: "connection limit exceeded".into()
            }
        );
        assert_eq!(m[3], Message::Success("authenticated".into()));
        assert_eq!(m[4], Message::Other);
        assert!(parse_frame(r#"{"T":"b"}"#).unwrap_err().contains("array"));
    }

    #[test]
    fn rest_bars_come_from_the_feed_the_stream_carries() {
        assert_eq!(
            stream_feed("wss://stream.data.alpaca.markets/v2/iex").as_deref(),
            Some("iex")
        );
        assert_eq!(
            stream_feed("wss://stream.data.alpaca.markets/v2/sip/").as_deref(),
            Some("sip")
        );
        assert_eq!(
            stream_feed("wss://stream.data.alpaca.markets/v2/delayed_sip").as_deref(),
            Some("sip")
        );
        assert_eq!(
            stream_feed("wss://stream.data.alpaca.markets/v1beta3/crypto/us"),
            None
        );
    }

    #[test]
    fn timeframes_are_named_as_alpaca_names_them() {
        assert_eq!(timeframe("1m").unwrap(), "1Min");
        assert_eq!(timeframe("15m").unwrap(), "15Min");
        assert_eq!(timeframe("1h").unwrap(), "1Hour");
        assert_eq!(timeframe("1d").unwrap(), "1Day");
        assert!(timeframe("30s").is_err());
    }
}
