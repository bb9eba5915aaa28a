//! What `sandbar venue check` asks Binance, beside what a connection
//! already proved (the key, the symbols, the filters): the exchange's clock
//! against ours, whether the account may trade, each symbol's rules, the
//! balances; and a test order's price and size.
//!
//! Sources: rest-api.md "Check server time" (`GET /api/v3/time`),
//! "Account information" (`canTrade`, `permissions`, `balances`), "Symbol
//! price ticker" (`GET /api/v3/ticker/price`); filters.md for the rules.

use serde_json::Value;

use super::client::Binance;
use crate::execution::Side;
use crate::execution::live::{Finding, Placement};

fn dec(d: rust_decimal::Decimal) -> f64 {
    d.to_string().parse().unwrap_or(f64::NAN)
}

fn num(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_f64())
        .unwrap_or(f64::NAN)
}

impl Binance {
    /// The findings of a check of `symbols`.
    pub(super) fn findings(&mut self, symbols: &[String]) -> Vec<Finding> {
        let mut out = vec![self.clock_finding()];
        let account = self.signed(reqwest::Method::GET, "/api/v3/account", &[]);
        match &account {
            Ok(v) => {
                let permissions: Vec<&str> = v["permissions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let detail = format!(
                    "canTrade {}, permissions [{}]",
                    v["canTrade"],
                    permissions.join(", ")
                );
                out.push(if v["canTrade"] == true {
                    Finding::ok("permissions", detail)
                } else {
                    Finding::fail(
                        "permissions",
                        format!("{detail}: this account cannot trade"),
                    )
                });
            }
            Err(e) => out.push(Finding::fail("permissions", e.text())),
        }
        for s in symbols {
            let Some(f) = self.filters.get(s) else {
                out.push(Finding::fail(
                    &format!("{s} rules"),
                    "not in the exchange information".into(),
                ));
                continue;
            };
            let band = |b: &Option<super::filters::Band>| {
                b.as_ref().map_or("none".to_string(), |b| {
                    format!("min {} step {}", b.min, b.step)
                })
            };
            out.push(Finding::ok(
                &format!("{s} rules"),
                format!(
                    "LOT_SIZE {}; PRICE_FILTER {}; min notional {}",
                    band(&f.lot),
                    f.price
                        .as_ref()
                        .map_or("none".to_string(), |b| format!("tick {}", b.step)),
                    f.min_notional
                        .map_or("none".to_string(), |(n, _)| n.to_string())
                ),
            ));
        }
        if let Ok(v) = &account {
            let mut assets: Vec<&String> = symbols
                .iter()
                .filter_map(|s| self.assets.get(s))
                .flat_map(|(b, q)| [b, q])
                .collect();
            assets.sort();
            assets.dedup();
            for a in assets {
                let row = v["balances"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|b| b["asset"].as_str() == Some(a.as_str()));
                let (free, locked) =
                    row.map_or((0.0, 0.0), |b| (num(&b["free"]), num(&b["locked"])));
                out.push(Finding::ok(
                    &format!("balance {a}"),
                    format!("free {free}, locked {locked}"),
                ));
            }
        }
        out
    }

    /// The exchange's clock against ours: one sample, with its round trip.
    fn clock_finding(&mut self) -> Finding {
        let sent = Self::now_ms();
        let answer: Result<Value, String> = self
            .http
            .get(format!("{}/api/v3/time", self.config.rest_url))
            .send()
            .and_then(|r| r.json())
            .map_err(|e| crate::net::chain(&e));
        let received = Self::now_ms();
        match answer.map(|v| v["serverTime"].as_i64()) {
            Ok(Some(server)) => {
                let round_trip = received - sent;
                let skew = server - (sent + received) / 2;
                let detail = format!(
                    "the exchange's clock is {skew:+} ms from ours (round trip {round_trip} ms); \
                     signed requests follow the exchange's"
                );
                if round_trip as u64 >= self.config.recv_window_ms {
                    Finding::fail(
                        "server time",
                        format!(
                            "{detail}: a round trip longer than recvWindow ({} ms)",
                            self.config.recv_window_ms
                        ),
                    )
                } else {
                    Finding::ok("server time", detail)
                }
            }
            Ok(None) => Finding::fail("server time", "no serverTime in the answer".into()),
            Err(e) => Finding::fail("server time", e),
        }
    }

    /// A limit buy at `price`, or at the last price less 20%, for the
    /// smallest quantity the symbol's filters take (its minimum notional
    /// with 10% to spare).
    pub(super) fn test_placement(
        &mut self,
        symbol: &str,
        client_id: &str,
        price: Option<f64>,
    ) -> Result<Placement, String> {
        let f = self
            .filters
            .get(symbol)
            .cloned()
            .ok_or_else(|| format!("{symbol}: not in the exchange information"))?;
        let last = match price {
            Some(p) => p / 0.8,
            None => {
                let v: Value = self
                    .http
                    .get(format!("{}/api/v3/ticker/price", self.config.rest_url))
                    .query(&[("symbol", symbol)])
                    .send()
                    .and_then(|r| r.error_for_status())
                    .and_then(|r| r.json())
                    .map_err(|e| format!("last price: {}", crate::net::chain(&e)))?;
                num(&v["price"])
            }
        };
        if !(last.is_finite() && last > 0.0) {
            return Err(format!(
                "{symbol}: no last price to place below (give --price)"
            ));
        }
        let limit = price.unwrap_or(last * 0.8);
        let tick = f.price.as_ref().map_or(0.0, |b| dec(b.step));
        let limit = if tick > 0.0 {
            (limit / tick).floor() * tick
        } else {
            limit
        };
        let notional = f.min_notional.map_or(0.0, |(n, _)| dec(n)) * 1.1;
        let (min, step) = f
            .lot
            .as_ref()
            .map_or((0.0, 0.0), |b| (dec(b.min), dec(b.step)));
        let mut quantity = (notional / limit).max(min);
        if step > 0.0 {
            quantity = (quantity / step).ceil() * step;
        }
        Ok(Placement {
            client_id: client_id.into(),
            symbol: symbol.into(),
            side: Side::Buy,
            quantity,
            limit: Some(limit),
            stop: None,
            target: None,
            reference: last,
            trail: None,
        })
    }
}
