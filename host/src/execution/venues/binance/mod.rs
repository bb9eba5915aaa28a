//! Binance spot: request signing (`sign.rs`), the exchange's filters
//! (`filters.rs`), which decide whether an order the risk engine approved
//! can be sent at all and with what quantity and price, and the REST
//! connector the live venue sends through (`client.rs`).
//!
//! Order updates come from polling each open order (`GET /api/v3/order`,
//! `myTrades`); the WebSocket API's `executionReport` stream is not
//! connected yet.

pub mod client;
pub mod filters;
pub mod sign;

pub use client::{Binance, BinanceConfig};
