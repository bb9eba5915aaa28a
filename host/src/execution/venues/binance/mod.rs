//! Binance spot: request signing (`sign.rs`), the exchange's filters
//! (`filters.rs`), which decide whether an order the risk engine approved
//! can be sent at all and with what quantity and price, and the REST
//! connector the live venue sends through (`client.rs`).
//!
//! Order updates: the WebSocket API's user data stream (`stream.rs`) says
//! which order changed, and the order is looked up over REST
//! (`GET /api/v3/order`, `myTrades`); polling every open order is the
//! fallback while the stream is down (or not configured).

pub mod client;
pub mod filters;
pub mod sign;
pub mod stream;

pub use client::{Binance, BinanceConfig};
