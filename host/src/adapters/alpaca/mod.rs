//! Alpaca (US equities), everything about it in one folder.
//!
//! - `config.rs`: `[feeds.<name>]` and `[venues.<name>]` with
//!   `kind = "alpaca"` — settings, defaults, checks, and the factories
//!   that make a feed's hub and a venue's connector from them;
//! - `feed.rs`: market data v2 — stream frames, REST bars for warm-up and
//!   gap fill; `session.rs`: the market-data stream's one connection;
//! - `connector.rs`: the trading API the live venue sends orders through
//!   (`connector/oco.rs`: a stop and take-profit as one OCO order;
//!   `connector/trade_updates.rs`: its update stream); `calendar.rs`: the
//!   market calendar a US-equity session is read from.

pub mod calendar;
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
    tls: &crate::net::tls::Tls,
    rt: &tokio::runtime::Handle,
) -> crate::data::live::Hub {
    let history = feed::AlpacaRest::new(rest_url, bars_path, ws_url, credentials.clone(), tls);
    let ws_url = ws_url.to_string();
    let tls = tls.clone();
    crate::data::live::Hub::connected(
        name,
        Some("1m".into()),
        std::sync::Arc::new(history),
        rt,
        move |shared| session::run(shared, ws_url, credentials, tls),
    )
}

/// The venue registered: how its settings make a connector.
impl crate::execution::live::VenueAdapter for AlpacaConfig {
    fn connect(
        &self,
        name: &str,
        _symbols: &[String],
    ) -> anyhow::Result<Box<dyn crate::execution::live::Connector>> {
        let c = self.credentials(name)?;
        let a = connector::Alpaca::connect(self.clone(), c.key, c.secret)
            .map_err(|e| anyhow::anyhow!("venues.{name}: {e:#}"))?;
        Ok(Box::new(a))
    }

    fn orders(&self) -> &crate::execution::live::CourierConfig {
        &self.orders
    }

    fn paper(&self) -> bool {
        self.paper
    }

    fn calendar(
        &self,
        name: &str,
        start: &str,
        end: &str,
    ) -> anyhow::Result<crate::session::Calendar> {
        calendar::fetch(self, name, start, end)
    }

    fn reconcile(&self) -> &crate::execution::live::ReconcileConfig {
        &self.reconcile
    }

    fn resolve(&mut self, base: &std::path::Path) {
        crate::adapters::credentials::resolve(&mut self.key_file, base);
        crate::adapters::credentials::resolve(&mut self.secret_file, base);
        crate::adapters::credentials::resolve(&mut self.ca_file, base);
    }

    fn check(&self, name: &str) -> anyhow::Result<()> {
        crate::adapters::check_http(&format!("venues.{name}.rest_url"), &self.rest_url)?;
        if let Some(u) = &self.stream_url {
            crate::adapters::check_ws(&format!("venues.{name}.stream_url"), u)?;
        }
        Ok(())
    }
}
