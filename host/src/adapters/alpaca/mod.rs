//! Alpaca (US equities), everything about it in one folder.
//!
//! - `config.rs`: `[feeds.<name>]` and `[venues.<name>]` with
//!   `kind = "alpaca"` — settings, defaults, checks, and the factories
//!   that make a feed's hub and a venue's connector from them;
//! - `feed.rs`: market data v2 — stream frames, REST bars for warm-up and
//!   gap fill; `session.rs`: the market-data stream's one connection;
//! - `connector.rs`: the trading API the live venue sends orders through,
//!   and its `trade_updates` stream.

pub mod config;
pub mod connector;
pub mod feed;
pub mod session;

pub use config::{AlpacaConfig, AlpacaFeedConfig};
pub use connector::Alpaca;

/// An Alpaca market-data feed's hub (minute bars): one connection for
/// every deployment on it, its task on `rt`.
pub fn hub(
    name: &str,
    rest_url: &str,
    bars_path: &str,
    ws_url: &str,
    credentials: crate::adapters::credentials::Credentials,
    rt: &tokio::runtime::Handle,
) -> crate::data::live::Hub {
    let history = feed::AlpacaRest::new(rest_url, bars_path, credentials.clone());
    let ws_url = ws_url.to_string();
    crate::data::live::Hub::connected(
        name,
        Some("1m".into()),
        std::sync::Arc::new(history),
        rt,
        move |shared| session::run(shared, ws_url, credentials),
    )
}
