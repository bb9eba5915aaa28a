//! Venues, one folder each: everything the host knows about one exchange or
//! broker — its configuration section, its market-data feed (REST history
//! and stream session), its order connector and update stream, its filters,
//! signing and credentials — lives in `adapters/<venue>/`.
//!
//! The rest of the host knows no venue by name. A feed is a
//! [`FeedSource`] (it makes a [`Hub`](crate::data::live::Hub)); a venue is a
//! [`VenueAdapter`] (it makes a [`Connector`](crate::execution::live::Connector)
//! for the live venue's courier). The two enums below are the registry the
//! configuration file is read through: **adding a venue is a new folder
//! here and one line in each enum's variants and `adapter` match**.

use serde::{Deserialize, Serialize};

use crate::data::live::FeedSource;
use crate::data::live::recorded::RecordedConfig;
use crate::execution::live::{Connector, CourierConfig, ReconcileConfig, VenueAdapter};

pub mod alpaca;
pub mod binance;
pub mod credentials;

/// `[feeds.<name>]`: a market-data feed, by `kind`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FeedConfig {
    /// Binance spot klines (WebSocket + REST).
    Binance(binance::BinanceFeedConfig),
    /// Alpaca market data v2 (minute bars; WebSocket + REST).
    Alpaca(alpaca::AlpacaFeedConfig),
    /// Recorded files served at a pace as if live (demos, tests).
    Recorded(RecordedConfig),
}

impl FeedConfig {
    /// The feed's settings, whatever its kind.
    pub fn source(&self) -> &dyn FeedSource {
        match self {
            FeedConfig::Binance(c) => c,
            FeedConfig::Alpaca(c) => c,
            FeedConfig::Recorded(c) => c,
        }
    }

    /// The same, to change (paths resolved against the config file).
    pub fn source_mut(&mut self) -> &mut dyn FeedSource {
        match self {
            FeedConfig::Binance(c) => c,
            FeedConfig::Alpaca(c) => c,
            FeedConfig::Recorded(c) => c,
        }
    }

    /// The feed's hub; its connection runs on `rt`. Credentials are read now.
    pub fn hub(
        &self,
        name: &str,
        rt: &tokio::runtime::Handle,
    ) -> anyhow::Result<crate::data::live::Hub> {
        let source = self.source();
        let mut hub = source.hub(name, rt)?;
        hub.stale_after = source
            .stale_after_secs()
            .map(std::time::Duration::from_secs_f64);
        hub.max_bar_age = source
            .max_bar_age_secs()
            .map(std::time::Duration::from_secs_f64);
        Ok(hub)
    }
}

/// `[venues.<name>]`: where a LIVE deployment's orders go, by `kind`.
/// Credentials are read from the environment variables (or files) named
/// there, at start, and never written anywhere.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum VenueConfig {
    /// Binance spot (REST, signed).
    Binance(binance::BinanceConfig),
    /// Alpaca's trading API.
    Alpaca(alpaca::AlpacaConfig),
}

impl VenueConfig {
    /// The venue's settings, whatever its kind.
    pub fn adapter(&self) -> &dyn VenueAdapter {
        match self {
            VenueConfig::Binance(c) => c,
            VenueConfig::Alpaca(c) => c,
        }
    }

    /// The same, to change (paths resolved against the config file).
    pub fn adapter_mut(&mut self) -> &mut dyn VenueAdapter {
        match self {
            VenueConfig::Binance(c) => c,
            VenueConfig::Alpaca(c) => c,
        }
    }

    /// Read the credentials (an error names the variable or file) and
    /// connect for `symbols`; with the courier's settings.
    pub fn connect(
        &self,
        name: &str,
        symbols: &[String],
    ) -> anyhow::Result<(Box<dyn Connector>, CourierConfig)> {
        let adapter = self.adapter();
        Ok((adapter.connect(name, symbols)?, *adapter.orders()))
    }

    /// How this venue is reconciled with the journals.
    pub fn reconcile(&self) -> &ReconcileConfig {
        self.adapter().reconcile()
    }
}

/// Refuse a REST URL that is not `https://` (or `http://` to loopback),
/// naming the key.
pub fn check_http(key: &str, url: &str) -> anyhow::Result<()> {
    crate::net::tls::require_secure(key, url, "https", "http")
}

/// Refuse a WebSocket URL that is not `wss://` (or `ws://` to loopback),
/// naming the key.
pub fn check_ws(key: &str, url: &str) -> anyhow::Result<()> {
    crate::net::tls::require_secure(key, url, "wss", "ws")
}
