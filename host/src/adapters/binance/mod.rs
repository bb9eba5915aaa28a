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
//!   fallback while it is down (or not configured);
//! - `limits.rs`: request weight and bans, which Binance counts per IP:
//!   one state for every connector to a host;
//! - `check.rs`: what `sandbar venue check` asks beyond a connection (the
//!   clock's skew, permissions, balances, a test order's price and size).

mod check;
pub mod client;
pub mod config;
pub mod feed;
pub mod filters;
pub mod limits;
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
    tls: &crate::net::tls::Tls,
    rt: &tokio::runtime::Handle,
) -> crate::data::live::Hub {
    let ws_url = ws_url.to_string();
    let history = feed::BinanceRest::new(rest_url, tls);
    let tls = tls.clone();
    crate::data::live::Hub::connected(
        name,
        None,
        std::sync::Arc::new(history),
        rt,
        move |shared| session::run(shared, ws_url, reconnect_after, tls),
    )
}

/// The venue registered: how its settings make a connector.
impl crate::execution::live::VenueAdapter for BinanceConfig {
    fn connect(
        &self,
        name: &str,
        symbols: &[String],
    ) -> anyhow::Result<Box<dyn crate::execution::live::Connector>> {
        let section = format!("venues.{name}");
        let (key, signer) = match &self.private_key_file {
            Some(file) => {
                let key = crate::adapters::credentials::key_only(
                    &section,
                    self.key_file.as_deref(),
                    &self.key_env,
                )?;
                let pem = std::fs::read_to_string(file).map_err(|e| {
                    anyhow::anyhow!("{section}.private_key_file: {}: {e}", file.display())
                })?;
                let signer = sign::Signer::ed25519_pem(&pem).map_err(|e| {
                    anyhow::anyhow!("{section}.private_key_file: {}: {e}", file.display())
                })?;
                (key, signer)
            }
            None => {
                let c = crate::adapters::credentials::Credentials::read(
                    &section,
                    self.key_file.as_deref(),
                    &self.key_env,
                    self.secret_file.as_deref(),
                    &self.secret_env,
                )?;
                (c.key, sign::Signer::new(&c.secret))
            }
        };
        let b = client::Binance::connect(self.clone(), key, signer, symbols)
            .map_err(|e| anyhow::anyhow!("{section}: {e:#}"))?;
        Ok(Box::new(b))
    }

    fn orders(&self) -> &crate::execution::live::CourierConfig {
        &self.orders
    }

    fn paper(&self) -> bool {
        self.paper
    }

    fn reconcile(&self) -> &crate::execution::live::ReconcileConfig {
        &self.reconcile
    }

    fn resolve(&mut self, base: &std::path::Path) {
        crate::adapters::credentials::resolve(&mut self.key_file, base);
        crate::adapters::credentials::resolve(&mut self.secret_file, base);
        crate::adapters::credentials::resolve(&mut self.private_key_file, base);
        crate::adapters::credentials::resolve(&mut self.ca_file, base);
    }

    fn check(&self, name: &str) -> anyhow::Result<()> {
        crate::adapters::check_http(&format!("venues.{name}.rest_url"), &self.rest_url)?;
        // rest-api.md, "Timing security": "Maximum `recvWindow` is 60000
        // milliseconds."
        if !(1..=60_000).contains(&self.recv_window_ms) {
            anyhow::bail!(
                "venues.{name}.recv_window_ms: {} is outside Binance's 1..=60000",
                self.recv_window_ms
            );
        }
        if !(self.weight_budget > 0.0 && self.weight_budget <= 1.0) {
            anyhow::bail!("venues.{name}.weight_budget: must be in (0, 1]");
        }
        if let Some(u) = &self.ws_api_url {
            crate::adapters::check_ws(&format!("venues.{name}.ws_api_url"), u)?;
        }
        Ok(())
    }
}
