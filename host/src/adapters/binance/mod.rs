//! Binance spot, everything about it in one folder.
//!
//! - `config.rs`: `[feeds.<name>]` and `[venues.<name>]` with
//!   `kind = "binance"` — settings, defaults, checks, and the factories
//!   that make a feed's hub and a venue's connector from them;
//! - `feed.rs`: klines — stream names, message and REST row parsing, the
//!   REST history for warm-up and gap fill; `session.rs`: the kline
//!   stream's one connection;
//! - `client.rs`: the signed REST connector the live venue sends orders
//!   through; `sign.rs`: request signing and the server-time offset;
//!   `filters.rs`: the exchange's filters, which decide whether an approved
//!   order can be sent at all and with what quantity and price;
//! - `stream.rs`: the WebSocket API's user data stream, which says which
//!   order changed (the order is then looked up over REST:
//!   `GET /api/v3/order`, `myTrades`); polling every open order is the
//!   fallback while it is down (or not configured).

pub mod client;
pub mod config;
pub mod feed;
pub mod filters;
pub mod session;
pub mod sign;
pub mod stream;

pub use client::Binance;
pub use config::{BinanceConfig, BinanceFeedConfig};

/// A Binance spot kline feed's hub: its connection task runs on `rt`.
pub fn hub(
    name: &str,
    rest_url: &str,
    ws_url: &str,
    reconnect_after: std::time::Duration,
    rt: &tokio::runtime::Handle,
) -> crate::data::live::Hub {
    let ws_url = ws_url.to_string();
    crate::data::live::Hub::connected(
        name,
        None,
        std::sync::Arc::new(feed::BinanceRest::new(rest_url)),
        rt,
        move |shared| session::run(shared, ws_url, reconnect_after),
    )
}
