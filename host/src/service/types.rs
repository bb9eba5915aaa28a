//! The service's data types: its configuration as the facade takes it,
//! what a create request carries, and the status a deployment reports (its
//! venue's and its feed's state included).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::{DeploymentConfig, FeedConfig};
use super::{account, config, monitor};

/// Service settings.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Where running deployments write their journals.
    pub journals: PathBuf,
    /// Drawdown from the peak at which a PAPER or LIVE deployment pauses
    /// itself (default 0.10).
    pub pause_drawdown: f64,
    /// How often a running deployment's strategy state is snapshotted.
    pub snapshot_every: Duration,
    /// Close every position when the service shuts down.
    pub flatten_on_shutdown: bool,
    /// The configured feeds.
    pub feeds: BTreeMap<String, FeedConfig>,
    /// The configured deployments (what `start` uses when a request names
    /// no feed).
    pub deployments: Vec<DeploymentConfig>,
    /// Worker threads running the deployments (default: one per core).
    pub workers: usize,
    /// Alert rules and channels.
    pub alerts: Option<monitor::AlertsConfig>,
    /// Live venues, by name.
    pub venues: BTreeMap<String, config::VenueConfig>,
    /// The ramp-up of a new LIVE run: (days from its first bar, fraction of
    /// its capital), then all of it (default 10%, 25%, 50% by week).
    pub ramp_up: Vec<(f64, f64)>,
    /// Accounts shared by several deployments, by name.
    pub accounts: BTreeMap<String, account::AccountConfig>,
    /// The gates a promotion through the API is held to (`[gates]`).
    pub gates: crate::lifecycle::GateConfig,
}

impl ServiceConfig {
    /// Settings with no feeds and no deployments.
    pub fn new(journals: PathBuf) -> Self {
        Self {
            journals,
            pause_drawdown: 0.10,
            snapshot_every: Duration::from_secs(300),
            flatten_on_shutdown: false,
            feeds: BTreeMap::new(),
            deployments: Vec::new(),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            alerts: None,
            venues: BTreeMap::new(),
            ramp_up: crate::portfolio::allocation::RampUp::default().0,
            accounts: BTreeMap::new(),
            gates: crate::lifecycle::GateConfig::default(),
        }
    }
}

/// Where a deployment's bars come from: a configured feed, symbols, an
/// interval, and optionally the first bar to trade.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeedSpec {
    /// A feed named in the configuration.
    pub feed: String,
    /// Symbols (default: the deployment's own).
    #[serde(default)]
    pub symbols: Vec<String>,
    /// Bar interval (`1m`).
    pub interval: String,
    /// First bar the strategy sees (RFC 3339 or `YYYY-MM-DD`); bars older
    /// than the feed's `max_bar_age_secs` only warm it up.
    #[serde(default)]
    pub start: Option<String>,
}

/// A request to create a deployment.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// Its name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// `name@version` (or `name` for the newest).
    pub plugin: String,
    /// Parameters, `name=value`.
    #[serde(default)]
    pub params: Vec<String>,
    /// Symbols it trades.
    #[serde(default)]
    pub symbols: Vec<String>,
    /// Capital (default 100,000).
    #[serde(default = "default_capital")]
    pub capital: f64,
    /// Risk overrides, `key=value`.
    #[serde(default)]
    pub risk: Vec<String>,
}

pub(super) fn default_capital() -> f64 {
    100_000.0
}

/// What the service reports about a deployment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeploymentStatus {
    /// Name.
    pub name: String,
    /// Lifecycle stage in the registry.
    pub stage: String,
    /// Next bar to process.
    pub seq: u64,
    /// `name@version` in service.
    pub serving: String,
    /// Version a rollback returns to.
    pub standby: Option<String>,
    /// Equity.
    pub equity: f64,
    /// Cash.
    pub cash: f64,
    /// PnL since the start (equity − capital).
    pub pnl: f64,
    /// Drawdown from the equity peak (fraction).
    pub drawdown: f64,
    /// Risk state (`ACTIVE`, `REDUCING`, `HALTED`).
    pub risk_state: String,
    /// Open positions: (symbol, quantity, average price).
    pub positions: Vec<(String, f64, f64)>,
    /// Orders resting at the venue.
    pub open_orders: usize,
    /// Orders sent.
    pub orders: u64,
    /// Round trips closed.
    pub trades: usize,
    /// Why paused, if paused.
    pub paused: Option<String>,
    /// Still running.
    pub running: bool,
    /// Re-executing its journal after a restart.
    pub recovering: bool,
    /// How it ended, once it has.
    pub ended: Option<String>,
    /// Candidate running in shadow.
    pub shadow: Option<String>,
    /// The feed, its connection and whether it is STALE.
    pub feed: FeedState,
    /// Last bar processed (RFC 3339).
    pub last_bar: Option<String>,
    /// The deployment's journal.
    pub journal: PathBuf,
    /// A LIVE deployment's venue and what its courier did.
    #[serde(default)]
    pub venue: Option<VenueState>,
    /// A ramping-up LIVE deployment: the fraction of its capital it trades now.
    #[serde(default)]
    pub ramp_up: Option<f64>,
    /// The shared account whose capital it trades, if any.
    #[serde(default)]
    pub account: Option<account::AccountStatus>,
}

/// A live venue, as status shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VenueState {
    /// The `[venues]` name.
    pub name: String,
    /// Placements sent (resends after an unknown outcome included).
    pub placed: u64,
    /// Placements whose outcome was unknown (looked up before any resend).
    pub unknown: u64,
    /// Lookups by client order id.
    pub queries: u64,
    /// Waits the venue asked for (429, 418) or retries.
    pub retries: u64,
    /// Changes the venue's update stream announced.
    #[serde(default)]
    pub pushed: u64,
    /// Times the update stream connected.
    #[serde(default)]
    pub stream_connects: u64,
    /// Whether the update stream is connected now.
    #[serde(default)]
    pub stream_up: bool,
    /// What could not be done, latest last (at most 20).
    pub problems: Vec<String>,
}

/// A deployment's feed, as status shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FeedState {
    /// Feed name.
    pub name: String,
    /// `connecting`, `live`, `down`.
    pub connection: String,
    /// No closed bar for two intervals.
    pub stale: bool,
    /// Last connection error.
    pub last_error: Option<String>,
}
