//! Binance spot, the pieces a live venue needs that can be built and
//! proven without the network: request signing (`sign.rs`) and the
//! exchange's filters (`filters.rs`), which decide whether an order the
//! risk engine approved can be sent at all, and with what quantity and
//! price.
//!
//! Not built yet (issue 15): the venue itself — placement with
//! `newClientOrderId`, the WebSocket API's `executionReport` stream with
//! polling as the fallback, typed outcomes (rejected / retryable /
//! unknown), weight and `Retry-After` tracking, reconciliation — and its
//! test server.

pub mod filters;
pub mod sign;
