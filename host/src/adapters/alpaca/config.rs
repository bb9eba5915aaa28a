//! `[feeds.<name>]` and `[venues.<name>]` with `kind = "alpaca"`: the
//! settings, their defaults and checks, and how each becomes a hub or a
//! connector.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::adapters::credentials::{self, Credentials};
use crate::data::live::{FeedSource, Hub};
use crate::execution::live::{CourierConfig, ReconcileConfig};

/// Alpaca market data v2 (minute bars; WebSocket + REST).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlpacaFeedConfig {
    /// REST base (default `https://data.alpaca.markets`).
    #[serde(default = "default_data_rest")]
    pub rest_url: String,
    /// Bars endpoint (default `/v2/stocks/bars`).
    #[serde(default = "default_bars")]
    pub bars_path: String,
    /// Stream (default `wss://stream.data.alpaca.markets/v2/iex`; `/v2/sip` with a paid plan).
    #[serde(default = "default_ws")]
    pub ws_url: String,
    /// Environment variable holding the key id (default `APCA_API_KEY_ID`).
    #[serde(default = "default_key_env")]
    pub key_env: String,
    /// Environment variable holding the secret (default `APCA_API_SECRET_KEY`).
    #[serde(default = "default_secret_env")]
    pub secret_env: String,
    /// Or a file holding the key id (first line).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Or a file holding the secret (first line).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
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

fn default_data_rest() -> String {
    "https://data.alpaca.markets".into()
}
fn default_bars() -> String {
    "/v2/stocks/bars".into()
}
fn default_ws() -> String {
    "wss://stream.data.alpaca.markets/v2/iex".into()
}
fn default_key_env() -> String {
    "APCA_API_KEY_ID".into()
}
fn default_secret_env() -> String {
    "APCA_API_SECRET_KEY".into()
}
fn default_timeout() -> u64 {
    10_000
}

impl FeedSource for AlpacaFeedConfig {
    fn hub(&self, name: &str, rt: &tokio::runtime::Handle) -> anyhow::Result<Hub> {
        let credentials = Credentials::read(
            &format!("feeds.{name}"),
            self.key_file.as_deref(),
            &self.key_env,
            self.secret_file.as_deref(),
            &self.secret_env,
        )?;
        let tls = crate::net::tls::Tls::new(self.ca_file.as_deref())
            .map_err(|e| anyhow::anyhow!("feeds.{name}.ca_file: {e:#}"))?;
        Ok(super::hub(
            name,
            &self.rest_url,
            &self.bars_path,
            &self.ws_url,
            credentials,
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
        credentials::resolve(&mut self.key_file, base);
        credentials::resolve(&mut self.secret_file, base);
        credentials::resolve(&mut self.ca_file, base);
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

/// Alpaca's trading API: paper `https://paper-api.alpaca.markets`, live
/// `https://api.alpaca.markets`. The URL is always given (no default).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlpacaConfig {
    /// Trading API base URL.
    pub rest_url: String,
    /// Environment variable holding the key id (default `APCA_API_KEY_ID`).
    #[serde(default = "default_key_env")]
    pub key_env: String,
    /// Environment variable holding the secret (default `APCA_API_SECRET_KEY`).
    #[serde(default = "default_secret_env")]
    pub secret_env: String,
    /// Or a file holding the key id (first line).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Or a file holding the secret (first line).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Request timeout (ms, default 10,000): past it a placement's outcome
    /// is unknown.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// The `trade_updates` stream (`wss://paper-api.alpaca.markets/stream`,
    /// live `wss://api.alpaca.markets/stream`); without it, every open
    /// order is polled.
    #[serde(default)]
    pub stream_url: Option<String>,
    /// A PEM file of extra CA certificates to trust beside Mozilla's roots
    /// (a private endpoint, a TLS-inspecting proxy); relative to the config file.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How orders are followed and paced.
    #[serde(default)]
    pub orders: CourierConfig,
    /// Rest each LIVE position's stop-loss at Alpaca as a `stop` order
    /// (default true), so it holds while the host is down; false: the host
    /// triggers it on closed bars.
    #[serde(default = "default_stops")]
    pub stops_at_venue: bool,
    /// With `stops_at_venue`: a trailing stop of a whole-share position
    /// with no take-profit rests as Alpaca's own `trailing_stop`, which
    /// trails every trade while the host is down (default true); false: a
    /// plain `stop` the host re-places as it ratchets on bars, as in the
    /// replay.
    #[serde(default = "default_stops")]
    pub trailing_at_venue: bool,
    /// How holdings and open orders are compared with the journals.
    #[serde(default)]
    pub reconcile: ReconcileConfig,
    /// The endpoint trades no money (Alpaca's paper environment, `https://paper-api.alpaca.markets`): only a PAPER
    /// deployment's `paper_venue` may name it, and a LIVE deployment's
    /// `venue` may not (default false).
    #[serde(default)]
    pub paper: bool,
}

impl AlpacaConfig {
    /// The key of venue `name`, from its variables or files (an error
    /// names which).
    pub fn credentials(&self, name: &str) -> anyhow::Result<Credentials> {
        Credentials::read(
            &format!("venues.{name}"),
            self.key_file.as_deref(),
            &self.key_env,
            self.secret_file.as_deref(),
            &self.secret_env,
        )
    }
}

fn default_stops() -> bool {
    true
}
