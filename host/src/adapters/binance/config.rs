//! `[feeds.<name>]` and `[venues.<name>]` with `kind = "binance"`: the
//! settings, their defaults and checks, and how each becomes a hub or a
//! connector.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::data::live::{FeedSource, Hub};
use crate::execution::live::{CourierConfig, ReconcileConfig};

/// Binance spot klines (WebSocket + REST).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BinanceFeedConfig {
    /// REST base (default `https://api.binance.com`).
    #[serde(default = "default_rest")]
    pub rest_url: String,
    /// WebSocket base (default `wss://stream.binance.com:9443`).
    #[serde(default = "default_ws")]
    pub ws_url: String,
    /// Reconnect after this many seconds, before the exchange's 24-hour cut.
    #[serde(default = "default_reconnect")]
    pub reconnect_after_secs: u64,
    /// STALE after this many quiet seconds (default: two intervals).
    #[serde(default)]
    pub stale_after_secs: Option<f64>,
    /// A bar opening more than this many seconds before the newest bar the
    /// deployment's feed has is delivered as warm-up: nothing decided on it
    /// is sent (default: two intervals).
    #[serde(default)]
    pub max_bar_age_secs: Option<f64>,
    /// A PEM file of extra CA certificates to trust beside Mozilla's roots
    /// (a private endpoint, a TLS-inspecting proxy); relative to the config file.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_rest() -> String {
    "https://api.binance.com".into()
}
fn default_ws() -> String {
    "wss://stream.binance.com:9443".into()
}
fn default_reconnect() -> u64 {
    23 * 3600 + 50 * 60
}

impl FeedSource for BinanceFeedConfig {
    fn hub(&self, name: &str, rt: &tokio::runtime::Handle) -> anyhow::Result<Hub> {
        let tls = crate::net::tls::Tls::new(self.ca_file.as_deref())
            .map_err(|e| anyhow::anyhow!("feeds.{name}.ca_file: {e:#}"))?;
        Ok(super::hub(
            name,
            &self.rest_url,
            &self.ws_url,
            Duration::from_secs(self.reconnect_after_secs),
            &tls,
            rt,
        ))
    }

    fn stale_after_secs(&self) -> Option<f64> {
        self.stale_after_secs
    }

    fn max_bar_age_secs(&self) -> Option<f64> {
        self.max_bar_age_secs
    }

    fn resolve(&mut self, base: &Path) {
        crate::adapters::credentials::resolve(&mut self.ca_file, base);
    }

    fn check(&self, name: &str) -> anyhow::Result<()> {
        crate::data::live::check_secs(
            &format!("feeds.{name}.stale_after_secs"),
            self.stale_after_secs,
        )?;
        crate::data::live::check_secs(
            &format!("feeds.{name}.max_bar_age_secs"),
            self.max_bar_age_secs,
        )?;
        crate::adapters::check_http(&format!("feeds.{name}.rest_url"), &self.rest_url)?;
        crate::adapters::check_ws(&format!("feeds.{name}.ws_url"), &self.ws_url)
    }
}

/// Binance spot (REST, signed): testnet `https://testnet.binance.vision`,
/// production `https://api.binance.com`. The URL is always given (no
/// default), so that testnet or production is a decision written in the
/// file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BinanceConfig {
    /// REST base URL.
    pub rest_url: String,
    /// Environment variable holding the API key (default `BINANCE_API_KEY`).
    #[serde(default = "default_key_env")]
    pub key_env: String,
    /// Environment variable holding the secret (default `BINANCE_API_SECRET`).
    #[serde(default = "default_secret_env")]
    pub secret_env: String,
    /// Or a file holding the key (first line).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Or a file holding the secret (first line).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// An Ed25519 private key (PKCS#8 PEM, relative to the config file):
    /// the key type Binance recommends ("HMAC keys are deprecated",
    /// faqs/api_key_types.md). When set, requests are signed with it and
    /// no HMAC secret is read.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// `recvWindow` of signed requests (ms, default 5,000).
    #[serde(default = "default_recv_window")]
    pub recv_window_ms: u64,
    /// Request timeout (ms, default 10,000): past it, a placement's
    /// outcome is unknown and is looked up before any resend.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Share of the minute's request weight (6,000) used before waiting
    /// for the next minute (default 0.8).
    #[serde(default = "default_budget")]
    pub weight_budget: f64,
    /// The WebSocket API whose user data stream says which order
    /// changed (`wss://ws-api.binance.com:443/ws-api/v3`, testnet
    /// `wss://ws-api.testnet.binance.vision/ws-api/v3`); without it,
    /// every open order is polled.
    #[serde(default)]
    pub ws_api_url: Option<String>,
    /// A PEM file of extra CA certificates to trust beside Mozilla's roots
    /// (a private endpoint, a TLS-inspecting proxy); relative to the config file.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Rest each LIVE position's stop-loss and take-profit at the
    /// exchange (default true; the symbol's `orderTypes` must allow
    /// `STOP_LOSS`): a stop alone as a `STOP_LOSS` order, a take-profit
    /// alone as a `LIMIT` order, both as one OCO order list (a `STOP_LOSS`
    /// below, a `LIMIT_MAKER` above), so they hold while the host is down;
    /// false: the host triggers them on closed bars and sends a market
    /// order.
    #[serde(default = "default_stops")]
    pub stops_at_venue: bool,
    /// With `stops_at_venue`: a trailing stop by a fraction rests as the
    /// exchange's own trailing order (`STOP_LOSS` with `trailingDelta`,
    /// where the symbol allows it), which trails every trade while the
    /// host is down (default true); false: a plain `STOP_LOSS` the host
    /// re-places as it ratchets on bars, as in the replay.
    #[serde(default = "default_stops")]
    pub trailing_at_venue: bool,
    /// How orders are followed and paced.
    #[serde(default)]
    pub orders: CourierConfig,
    /// How holdings and open orders are compared with the journals.
    #[serde(default)]
    pub reconcile: ReconcileConfig,
    /// The endpoint trades no money (Binance's spot testnet, `https://testnet.binance.vision`): only a PAPER
    /// deployment's `paper_venue` may name it, and a LIVE deployment's
    /// `venue` may not (default false).
    #[serde(default)]
    pub paper: bool,
}

fn default_key_env() -> String {
    "BINANCE_API_KEY".into()
}
fn default_secret_env() -> String {
    "BINANCE_API_SECRET".into()
}
fn default_recv_window() -> u64 {
    5000
}
fn default_timeout() -> u64 {
    10_000
}
fn default_budget() -> f64 {
    0.8
}
fn default_stops() -> bool {
    true
}
