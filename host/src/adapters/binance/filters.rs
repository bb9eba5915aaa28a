//! Binance's exchange filters (`GET /api/v3/exchangeInfo`): what an order
//! must satisfy to be accepted, applied before it is sent.
//!
//! "The safe way": a quantity is rounded *down* to the lot step (never more
//! than the risk engine approved); a buy limit price down to the tick (never
//! pay more than asked), a sell limit up (never sell for less). What cannot
//! be made valid by such rounding — below the minimum quantity, beyond the
//! maximum, a notional under the minimum, a price outside the band — is
//! refused with the filter named, before anything leaves for the venue.
//! Arithmetic is decimal (`rust_decimal`): the venue's steps are decimal
//! strings, and `0.1 + 0.2` must not decide whether an order passes.

use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::*;

use crate::execution::Side;

/// A `[min, max]` band and a step; a zero max or step means "none".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// Smallest value.
    pub min: Decimal,
    /// Largest value (0: none).
    pub max: Decimal,
    /// Increment (0: none).
    pub step: Decimal,
}

/// One symbol's filters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SymbolFilters {
    /// `PRICE_FILTER`.
    pub price: Option<Band>,
    /// `LOT_SIZE`.
    pub lot: Option<Band>,
    /// `MARKET_LOT_SIZE` (market orders).
    pub market_lot: Option<Band>,
    /// `NOTIONAL` / `MIN_NOTIONAL` minimum, and whether it applies to market orders.
    pub min_notional: Option<(Decimal, bool)>,
    /// `NOTIONAL` maximum, and whether it applies to market orders.
    pub max_notional: Option<(Decimal, bool)>,
    /// `TRAILING_DELTA`, where the symbol's `allowTrailingStop` is true
    /// (filters.md; errors.md "Trailing stop orders are not supported for
    /// this symbol" otherwise).
    pub trailing: Option<TrailingDelta>,
}

/// The `TRAILING_DELTA` filter: the `trailingDelta` (BIPS) a trailing
/// order may have — "above" for a `STOP_LOSS` `BUY`, "below" for a
/// `STOP_LOSS` `SELL` (filters.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrailingDelta {
    /// `minTrailingAboveDelta`, `maxTrailingAboveDelta`.
    pub above: (i64, i64),
    /// `minTrailingBelowDelta`, `maxTrailingBelowDelta`.
    pub below: (i64, i64),
}

/// An order made valid: the quantity and (for a limit) the price to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// Quantity, as sent.
    pub quantity: Decimal,
    /// Limit price, as sent.
    pub price: Option<Decimal>,
}

/// Why an order cannot be sent, naming the filter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    /// The symbol is not in the exchange information.
    #[error("{0}: not in the exchange information (not traded, or not on this venue)")]
    UnknownSymbol(String),
    /// `LOT_SIZE` / `MARKET_LOT_SIZE`.
    #[error("{filter}: quantity {quantity} {why}")]
    Lot {
        /// Which filter.
        filter: &'static str,
        /// The quantity after rounding to the step.
        quantity: Decimal,
        /// What is wrong.
        why: String,
    },
    /// `PRICE_FILTER`.
    #[error("PRICE_FILTER: price {price} {why}")]
    Price {
        /// The price after rounding to the tick.
        price: Decimal,
        /// What is wrong.
        why: String,
    },
    /// `NOTIONAL` / `MIN_NOTIONAL`.
    #[error("NOTIONAL: {notional} {why}")]
    Notional {
        /// Quantity × price.
        notional: Decimal,
        /// What is wrong.
        why: String,
    },
    /// A number that is not one.
    #[error("{what} {value} is not a positive finite number")]
    NotANumber {
        /// Which.
        what: &'static str,
        /// Its value.
        value: f64,
    },
}

fn dec(v: &serde_json::Value, key: &str, symbol: &str) -> Result<Decimal, String> {
    let text = v[key]
        .as_str()
        .ok_or_else(|| format!("exchangeInfo {symbol}: `{key}` missing or not a string"))?;
    Decimal::from_str(text).map_err(|e| format!("exchangeInfo {symbol}: `{key}` = {text:?}: {e}"))
}

/// Every symbol's filters from an `exchangeInfo` answer; a malformed one
/// is an error naming the symbol and the field.
pub fn parse(info: &serde_json::Value) -> Result<HashMap<String, SymbolFilters>, String> {
    let symbols = info["symbols"]
        .as_array()
        .ok_or("exchangeInfo: no `symbols` array")?;
    let mut out = HashMap::new();
    for s in symbols {
        let name = s["symbol"]
            .as_str()
            .ok_or("exchangeInfo: a symbol without `symbol`")?
            .to_string();
        let mut f = SymbolFilters::default();
        for filter in s["filters"].as_array().into_iter().flatten() {
            let band = |min: &str, max: &str, step: &str| -> Result<Band, String> {
                Ok(Band {
                    min: dec(filter, min, &name)?,
                    max: dec(filter, max, &name)?,
                    step: dec(filter, step, &name)?,
                })
            };
            match filter["filterType"].as_str() {
                Some("PRICE_FILTER") => f.price = Some(band("minPrice", "maxPrice", "tickSize")?),
                Some("LOT_SIZE") => f.lot = Some(band("minQty", "maxQty", "stepSize")?),
                Some("MARKET_LOT_SIZE") => {
                    f.market_lot = Some(band("minQty", "maxQty", "stepSize")?)
                }
                Some("NOTIONAL") => {
                    f.min_notional = Some((
                        dec(filter, "minNotional", &name)?,
                        filter["applyMinToMarket"].as_bool().unwrap_or(true),
                    ));
                    if filter.get("maxNotional").is_some() {
                        f.max_notional = Some((
                            dec(filter, "maxNotional", &name)?,
                            filter["applyMaxToMarket"].as_bool().unwrap_or(false),
                        ));
                    }
                }
                Some("TRAILING_DELTA") if s["allowTrailingStop"].as_bool() == Some(true) => {
                    let bips = |key: &str| {
                        filter[key].as_i64().ok_or_else(|| {
                            format!("exchangeInfo {name}: `{key}` missing or not an integer")
                        })
                    };
                    f.trailing = Some(TrailingDelta {
                        above: (
                            bips("minTrailingAboveDelta")?,
                            bips("maxTrailingAboveDelta")?,
                        ),
                        below: (
                            bips("minTrailingBelowDelta")?,
                            bips("maxTrailingBelowDelta")?,
                        ),
                    });
                }
                Some("MIN_NOTIONAL") => {
                    f.min_notional = Some((
                        dec(filter, "minNotional", &name)?,
                        filter["applyToMarket"].as_bool().unwrap_or(true),
                    ))
                }
                _ => {}
            }
        }
        out.insert(name, f);
    }
    Ok(out)
}

fn to_dec(what: &'static str, x: f64) -> Result<Decimal, FilterError> {
    if !(x.is_finite() && x > 0.0) {
        return Err(FilterError::NotANumber { what, value: x });
    }
    // The shortest text that reads back as `x`, then exact decimal.
    Decimal::from_str(&format!("{x}"))
        .or_else(|_| Decimal::from_f64(x).ok_or(()))
        .map_err(|()| FilterError::NotANumber { what, value: x })
}

/// Round `x` to a multiple of `step`, down or up (no step: as is).
fn round(x: Decimal, step: Decimal, up: bool) -> Decimal {
    if step.is_zero() {
        return x;
    }
    let units = x / step;
    let whole = if up { units.ceil() } else { units.floor() };
    (whole * step).normalize()
}

impl SymbolFilters {
    /// Make an order valid the safe way, or say which filter refuses it.
    /// `reference` is the price a market order is valued at (the last close).
    pub fn prepare(
        &self,
        side: Side,
        quantity: f64,
        limit: Option<f64>,
        reference: f64,
    ) -> Result<Prepared, FilterError> {
        let market = limit.is_none();
        let q = to_dec("quantity", quantity)?;
        // LOT_SIZE applies to every order; MARKET_LOT_SIZE also to market
        // orders, where its fields are set (zero means none).
        let mut q = q;
        let mut lots = vec![("LOT_SIZE", self.lot)];
        if market {
            lots.push(("MARKET_LOT_SIZE", self.market_lot));
        }
        for (name, lot) in lots {
            let Some(b) = lot else { continue };
            q = round(q, b.step, false);
            if q < b.min || q.is_zero() {
                return Err(FilterError::Lot {
                    filter: name,
                    quantity: q,
                    why: format!(
                        "is below minQty {} (step {})",
                        b.min.normalize(),
                        b.step.normalize()
                    ),
                });
            }
            if !b.max.is_zero() && q > b.max {
                return Err(FilterError::Lot {
                    filter: name,
                    quantity: q,
                    why: format!("is above maxQty {}", b.max.normalize()),
                });
            }
        }
        let price = match limit {
            Some(p) => {
                let p = to_dec("limit price", p)?;
                let p = match self.price {
                    Some(b) => {
                        // Buy no dearer, sell no cheaper than asked.
                        let p = round(p, b.step, side == Side::Sell);
                        if p < b.min || p.is_zero() {
                            return Err(FilterError::Price {
                                price: p,
                                why: format!("is below minPrice {}", b.min.normalize()),
                            });
                        }
                        if !b.max.is_zero() && p > b.max {
                            return Err(FilterError::Price {
                                price: p,
                                why: format!("is above maxPrice {}", b.max.normalize()),
                            });
                        }
                        p
                    }
                    None => p,
                };
                Some(p)
            }
            None => None,
        };
        let valued = match price {
            Some(p) => p,
            None => to_dec("reference price", reference)?,
        };
        let notional = (q * valued).normalize();
        if let Some((min, to_market)) = self.min_notional
            && (!market || to_market)
            && notional < min
        {
            return Err(FilterError::Notional {
                notional,
                why: format!("is below minNotional {}", min.normalize()),
            });
        }
        if let Some((max, to_market)) = self.max_notional
            && (!market || to_market)
            && !max.is_zero()
            && notional > max
        {
            return Err(FilterError::Notional {
                notional,
                why: format!("is above maxNotional {}", max.normalize()),
            });
        }
        Ok(Prepared { quantity: q, price })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// BTCUSDT's filters as `exchangeInfo` gives them.
    fn btcusdt() -> SymbolFilters {
        let info = serde_json::json!({"symbols": [{
            "symbol": "BTCUSDT",
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
                {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "120.00000000", "stepSize": "0.00000000"},
                {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": true,
                 "maxNotional": "9000000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5}
            ]
        }]});
        parse(&info).unwrap().remove("BTCUSDT").unwrap()
    }

    #[test]
    fn quantities_round_down_and_prices_round_against_the_trader() {
        let f = btcusdt();
        let p = f
            .prepare(Side::Buy, 0.123456789, Some(42_000.129), 42_000.0)
            .unwrap();
        assert_eq!(p.quantity.to_string(), "0.12345");
        assert_eq!(
            p.price.unwrap().to_string(),
            "42000.12",
            "a buy pays no more"
        );
        let p = f
            .prepare(Side::Sell, 0.1, Some(42_000.121), 42_000.0)
            .unwrap();
        assert_eq!(
            p.price.unwrap().to_string(),
            "42000.13",
            "a sell gets no less"
        );
        // Exactly on the step stays (0.1 + 0.2 is not a decimal problem here).
        let p = f.prepare(Side::Buy, 0.3, None, 42_000.0).unwrap();
        assert_eq!(p.quantity.to_string(), "0.3");
    }

    #[test]
    fn what_rounding_cannot_fix_is_refused_naming_the_filter() {
        let f = btcusdt();
        let e = f.prepare(Side::Buy, 0.000004, None, 42_000.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "LOT_SIZE: quantity 0 is below minQty 0.00001 (step 0.00001)"
        );
        let e = f.prepare(Side::Buy, 200.0, None, 1.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "MARKET_LOT_SIZE: quantity 200 is above maxQty 120"
        );
        let e = f
            .prepare(Side::Buy, 0.000004, Some(42_000.0), 42_000.0)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "LOT_SIZE: quantity 0 is below minQty 0.00001 (step 0.00001)"
        );
        let e = f
            .prepare(Side::Buy, 0.0001, Some(42_000.0), 42_000.0)
            .unwrap_err();
        assert_eq!(e.to_string(), "NOTIONAL: 4.2 is below minNotional 5");
        let e = f.prepare(Side::Buy, 10_000.0, Some(1.0), 1.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "LOT_SIZE: quantity 10000 is above maxQty 9000"
        );
        let e = f
            .prepare(Side::Sell, 1.0, Some(2_000_000.0), 1.0)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "PRICE_FILTER: price 2000000 is above maxPrice 1000000"
        );
        let e = f.prepare(Side::Buy, f64::NAN, None, 1.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "quantity NaN is not a positive finite number"
        );
        assert!(
            parse(&serde_json::json!({"symbols": [{"symbol": "X", "filters": [
            {"filterType": "LOT_SIZE", "minQty": "abc", "maxQty": "1", "stepSize": "1"}]}]}))
            .unwrap_err()
            .contains("exchangeInfo X: `minQty` = \"abc\"")
        );
    }

    #[test]
    fn a_trailing_delta_band_is_read_only_where_the_symbol_allows_trailing_stops() {
        let info = |allow: Option<bool>| {
            let mut symbol = serde_json::json!({"symbol": "X", "filters": [
                {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
                 "minTrailingBelowDelta": 20, "maxTrailingBelowDelta": 1000}]});
            if let Some(a) = allow {
                symbol["allowTrailingStop"] = serde_json::json!(a);
            }
            parse(&serde_json::json!({ "symbols": [symbol] }))
                .unwrap()
                .remove("X")
                .unwrap()
                .trailing
        };
        assert_eq!(
            info(Some(true)),
            Some(TrailingDelta {
                above: (10, 2000),
                below: (20, 1000)
            })
        );
        assert_eq!(info(Some(false)), None, "allowTrailingStop false");
        assert_eq!(
            info(None),
            None,
            "no allowTrailingStop: not taken for allowed"
        );
    }

    proptest! {
        /// Whatever the risk engine approved, what is sent is never more
        /// than it, on the step, and a buy never pays more (a sell never
        /// gets less) than the strategy's limit.
        #[test]
        fn the_safe_way_never_sends_more_or_worse_than_approved(
            q in 0.00001f64..100.0,
            limit in 1.0f64..100_000.0,
            buy in any::<bool>(),
        ) {
            let f = btcusdt();
            let side = if buy { Side::Buy } else { Side::Sell };
            if let Ok(p) = f.prepare(side, q, Some(limit), limit) {
                let sent_q = p.quantity.to_f64().unwrap();
                prop_assert!(sent_q <= q + 1e-12);
                prop_assert!((p.quantity / Decimal::from_str("0.00001").unwrap()).fract().is_zero());
                let sent_p = p.price.unwrap().to_f64().unwrap();
                if buy { prop_assert!(sent_p <= limit + 1e-9) } else { prop_assert!(sent_p >= limit - 1e-9) }
                prop_assert!(p.quantity * p.price.unwrap() >= Decimal::from(5));
            }
        }
    }
}
