//! `sandbar.toml`: what a service runs, read once at start.
//!
//! Every key is checked: an unknown key, a bad value or a reference to
//! something that does not exist (a deployment naming an unknown feed) is an
//! error at start naming the file and the key. Secrets are never in this
//! file: API tokens and exchange credentials are read from the environment
//! variables or files it names. `host/sandbar.example.toml` documents every
//! key (a test checks that it parses and names them all).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::live::interval_ms;

/// The whole file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFile {
    /// Where the registry (`registry.redb`) and the journals (`journals/`)
    /// live; relative paths are relative to the config file.
    pub data_dir: PathBuf,
    /// Take a strategy snapshot this often (minutes) and at shutdown.
    #[serde(default = "default_snapshot_minutes")]
    pub snapshot_minutes: f64,
    /// Close every position at shutdown (SIGINT/SIGTERM).
    #[serde(default)]
    pub flatten_on_shutdown: bool,
    /// Drawdown from the peak at which a deployment pauses itself.
    #[serde(default = "default_pause_drawdown")]
    pub pause_drawdown: f64,
    /// Worker threads that run the deployments (default: one per core).
    #[serde(default)]
    pub workers: Option<usize>,
    /// The control API.
    #[serde(default)]
    pub api: ApiConfig,
    /// Market-data feeds, by name.
    #[serde(default)]
    pub feeds: BTreeMap<String, FeedConfig>,
    /// Deployments to run at start.
    #[serde(default)]
    pub deployments: Vec<DeploymentConfig>,
    /// Alert rules and channels.
    #[serde(default)]
    pub alerts: Option<crate::service::monitor::AlertsConfig>,
    /// Live venues, by name: where LIVE deployments send their orders.
    #[serde(default)]
    pub venues: BTreeMap<String, VenueConfig>,
    /// A new LIVE run's ramp-up: `[days from its first bar, fraction of its
    /// capital]` steps, then all of it. Default `[[7, 0.1], [14, 0.25],
    /// [21, 0.5]]`; `[]` trades all of it from the start. Fixed in the
    /// run's journal when it starts.
    #[serde(default = "default_ramp_up")]
    pub ramp_up: Vec<(f64, f64)>,
    /// Accounts shared by several deployments, by name: capital allocated
    /// between them on a schedule, account-wide exposure and loss caps.
    #[serde(default)]
    pub accounts: BTreeMap<String, crate::service::account::AccountConfig>,
    /// The promotion gates a promotion through the API is held to (the
    /// same keys as `deploy promote --gates FILE`; default the reference
    /// thresholds). Going LIVE also needs the pre-live checklist done.
    #[serde(default)]
    pub gates: crate::lifecycle::GateConfig,
}

fn default_ramp_up() -> Vec<(f64, f64)> {
    crate::portfolio::allocation::RampUp::default().0
}

fn default_snapshot_minutes() -> f64 {
    5.0
}

fn default_pause_drawdown() -> f64 {
    0.10
}

/// The control API.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address (default `127.0.0.1:7878`). A non-loopback address is
    /// refused unless `insecure_listen` is set (put TLS in a reverse proxy).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Allow a non-loopback listen address without TLS.
    #[serde(default)]
    pub insecure_listen: bool,
    /// Host header values accepted besides the listen address and
    /// `localhost`/`127.0.0.1`/`[::1]` with its port (DNS rebinding guard).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Operators and where their tokens are. With none, the token is read
    /// from `SANDBAR_TOKEN` (or the file named by `SANDBAR_TOKEN_FILE`) and
    /// the operator is called `operator`.
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            insecure_listen: false,
            allowed_hosts: Vec::new(),
            tokens: Vec::new(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:7878".into()
}

/// One operator's token: its identity and where to read it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it; recorded as the actor of every command sent with it.
    pub name: String,
    /// Environment variable holding the token.
    #[serde(default)]
    pub env: Option<String>,
    /// File holding the token (first line).
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// `read`, `operate` or `admin` (default: admin — promoting to LIVE and
    /// the kill switch are an admin's).
    #[serde(default)]
    pub role: crate::service::api::Role,
}

pub use crate::adapters::{FeedConfig, VenueConfig};

/// A deployment the service runs at start.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// Its name in the registry (created with `sandbar deploy create`).
    pub name: String,
    /// The feed it trades on.
    pub feed: String,
    /// Symbols (default: the deployment's own, from the registry).
    #[serde(default)]
    pub symbols: Vec<String>,
    /// Bar interval (`1m`, `1h`, `1d`).
    pub interval: String,
    /// First bar the strategy sees, RFC 3339 or `YYYY-MM-DD` (fetched from
    /// there over REST; bars older than the feed's `max_bar_age_secs` only
    /// warm it up); default: the next bar that closes.
    #[serde(default)]
    pub start: Option<String>,
    /// The venue a LIVE deployment sends its orders to (a `[venues]` name,
    /// not a `paper = true` one).
    #[serde(default)]
    pub venue: Option<String>,
    /// The venue a PAPER deployment sends its orders to: a broker's paper
    /// account or a testnet (a `paper = true` venue). Without one it
    /// trades on the simulated venue. Its evidence says which.
    #[serde(default)]
    pub paper_venue: Option<String>,
    /// The account whose capital it trades (an `[accounts]` name); without
    /// one, it trades the capital it was created with.
    #[serde(default)]
    pub account: Option<String>,
    /// The market's trading sessions (`crate::session`): its zone and
    /// calendar. Without one it trades 24/7 and its days are UTC's.
    #[serde(default)]
    pub session: Option<crate::session::SessionSpec>,
}

impl DeploymentConfig {
    /// The open time of the first bar to trade, if one is configured.
    pub fn start_ms(&self) -> anyhow::Result<Option<i64>> {
        super::plan::start_ms(&super::FeedSpec {
            feed: self.feed.clone(),
            symbols: vec![],
            interval: self.interval.clone(),
            start: self.start.clone(),
        })
    }
}

impl ServiceFile {
    /// Read and check a config file.
    pub fn load(path: &Path) -> anyhow::Result<ServiceFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut file = Self::parse(&text, &path.display().to_string())?;
        let base = path.parent().unwrap_or(Path::new("."));
        file.resolve(base);
        Ok(file)
    }

    /// Parse and check config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<ServiceFile> {
        let file: ServiceFile = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start].matches('\n').count() + 1;
                    format!(":{line}")
                })
                .unwrap_or_default();
            anyhow::anyhow!("{origin}{at}: {}", e.message())
        })?;
        file.check().map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        Ok(file)
    }

    /// Make relative paths relative to `base`.
    pub fn resolve(&mut self, base: &Path) {
        let abs = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        abs(&mut self.data_dir);
        for t in &mut self.api.tokens {
            if let Some(f) = &mut t.file {
                abs(f);
            }
        }
        for f in self.feeds.values_mut() {
            f.source_mut().resolve(base);
        }
        for v in self.venues.values_mut() {
            v.adapter_mut().resolve(base);
        }
        for s in self
            .deployments
            .iter_mut()
            .filter_map(|d| d.session.as_mut())
        {
            if let Some(f) = s.file().map(PathBuf::from)
                && f.is_relative()
            {
                s.calendar = base.join(f).display().to_string();
            }
        }
        for c in self.alerts.iter_mut().flat_map(|a| a.channels.iter_mut()) {
            if let crate::service::monitor::ChannelConfig::Email(e) = c {
                e.resolve(base);
            }
        }
    }

    fn check(&self) -> anyhow::Result<()> {
        if let Some(a) = &self.alerts {
            a.check()?;
        }
        if !(self.snapshot_minutes.is_finite() && self.snapshot_minutes > 0.0) {
            anyhow::bail!("snapshot_minutes: must be positive");
        }
        self.gates
            .check()
            .map_err(|e| anyhow::anyhow!("gates.{e}"))?;
        if !(self.pause_drawdown > 0.0 && self.pause_drawdown <= 1.0) {
            anyhow::bail!("pause_drawdown: must be in (0, 1]");
        }
        for (i, (days, fraction)) in self.ramp_up.iter().enumerate() {
            if !(days.is_finite() && *days > 0.0 && *fraction > 0.0 && *fraction <= 1.0) {
                anyhow::bail!(
                    "ramp_up[{i}]: [{days}, {fraction}] must be [days > 0, fraction in (0, 1]]"
                );
            }
            if i > 0 && *days <= self.ramp_up[i - 1].0 {
                anyhow::bail!(
                    "ramp_up[{i}]: days must increase ({days} after {})",
                    self.ramp_up[i - 1].0
                );
            }
        }
        for (i, t) in self.api.tokens.iter().enumerate() {
            if t.name.trim().is_empty() {
                anyhow::bail!("api.tokens[{i}].name: must not be empty");
            }
            if t.env.is_some() == t.file.is_some() {
                anyhow::bail!("api.tokens[{i}]: give exactly one of `env` or `file`");
            }
        }
        for (name, f) in &self.feeds {
            f.source().check(name)?;
        }
        let mut seen = std::collections::HashSet::new();
        for (i, d) in self.deployments.iter().enumerate() {
            let at = format!("deployments[{i}] ({})", d.name);
            if !seen.insert(&d.name) {
                anyhow::bail!("{at}.name: `{}` appears twice", d.name);
            }
            if !self.feeds.contains_key(&d.feed) {
                anyhow::bail!(
                    "{at}.feed: no feed named `{}` (feeds: {})",
                    d.feed,
                    self.feeds.keys().cloned().collect::<Vec<_>>().join(", ")
                );
            }
            interval_ms(&d.interval).map_err(|e| anyhow::anyhow!("{at}.{e}"))?;
            d.start_ms().map_err(|e| anyhow::anyhow!("{at}.{e}"))?;
            if let Some(s) = &d.session {
                s.check()
                    .map_err(|e| anyhow::anyhow!("{at}.session: {e}"))?;
                if s.from_venue() && d.venue.is_none() {
                    anyhow::bail!(
                        "{at}.session.calendar: \"venue\" and the deployment names no venue (whose calendar it would be)"
                    );
                }
            }
            if let Some(a) = &d.account
                && !self.accounts.contains_key(a)
            {
                anyhow::bail!(
                    "{at}.account: no account named `{a}` (accounts: {})",
                    self.accounts.keys().cloned().collect::<Vec<_>>().join(", ")
                );
            }
            for (key, v, paper) in [
                ("venue", &d.venue, false),
                ("paper_venue", &d.paper_venue, true),
            ] {
                let Some(v) = v else { continue };
                let Some(vc) = self.venues.get(v) else {
                    anyhow::bail!(
                        "{at}.{key}: no venue named `{v}` (venues: {})",
                        self.venues.keys().cloned().collect::<Vec<_>>().join(", ")
                    );
                };
                if vc.adapter().paper() != paper {
                    anyhow::bail!(
                        "{at}.{key}: venue `{v}` {}",
                        if paper {
                            "trades money (no `paper = true`): a PAPER deployment's orders go to a paper account or a testnet only"
                        } else {
                            "is a paper account (`paper = true`): a LIVE deployment's orders go where money is"
                        }
                    );
                }
            }
        }
        for (name, a) in &self.accounts {
            let members: Vec<&str> = self
                .deployments
                .iter()
                .filter(|d| d.account.as_deref() == Some(name))
                .map(|d| d.name.as_str())
                .collect();
            a.check(name, &members).map_err(|e| anyhow::anyhow!(e))?;
            let venues: std::collections::BTreeSet<_> = self
                .deployments
                .iter()
                .filter(|d| d.account.as_deref() == Some(name))
                .filter_map(|d| d.venue.as_deref())
                .collect();
            if venues.len() > 1 {
                anyhow::bail!(
                    "accounts.{name}: its deployments name different venues ({}); an account is at one venue",
                    venues.into_iter().collect::<Vec<_>>().join(", ")
                );
            }
        }
        for (name, v) in &self.venues {
            let adapter = v.adapter();
            adapter.check(name)?;
            let orders = adapter.orders();
            for (key, rate) in [
                ("max_orders_per_second", orders.max_orders_per_second),
                (
                    "max_venue_orders_per_second",
                    orders.max_venue_orders_per_second,
                ),
            ] {
                if !(rate.is_finite() && rate > 0.0) {
                    anyhow::bail!("venues.{name}.orders.{key}: must be positive");
                }
            }
            v.reconcile()
                .check()
                .map_err(|e| anyhow::anyhow!("venues.{name}.reconcile.{e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
data_dir = "var"
[api]
listen = "127.0.0.1:0"
[[api.tokens]]
name = "alice"
env = "ALICE_TOKEN"
[feeds.binance]
kind = "binance"
rest_url = "http://127.0.0.1:1"
ws_url = "ws://127.0.0.1:1"
[[deployments]]
name = "d1"
feed = "binance"
symbols = ["BTCUSDT"]
interval = "1m"
start = "2024-01-01"
"#;

    /// An Alpaca venue marked as a paper account.
    const ALPACA_PAPER: &str = "[venues.ap]\nkind = \"alpaca\"\nrest_url = \"https://paper-api.alpaca.markets\"\npaper = true\n";

    #[test]
    fn a_good_file_reads() {
        let f = ServiceFile::parse(GOOD, "sandbar.toml").unwrap();
        assert_eq!(
            f.deployments[0].start_ms().unwrap(),
            Some(1_704_067_200_000)
        );
        assert_eq!(f.snapshot_minutes, 5.0);
    }

    /// Every key path of a JSON value (`a.b`, `a[0].c`), leaves and tables
    /// alike; an array of scalars is one leaf.
    fn key_paths(v: &serde_json::Value, at: &str, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let path = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    out.insert(path.clone());
                    key_paths(v, &path, out);
                }
            }
            // An array of tables: a key named in any of them is named.
            serde_json::Value::Array(items) if items.iter().all(|i| i.is_object()) => {
                for v in items {
                    key_paths(v, &format!("{at}[]"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn the_example_config_names_every_key_the_config_types_have() {
        // What the example spells, against what the types read from it
        // hold: serialised as JSON, a type keeps every field, an unset
        // optional one as `null`, so a field the example never mentions
        // shows up on one side only (and `deny_unknown_fields` refuses a
        // key the types do not have).
        let text = include_str!("../../sandbar.example.toml");
        let f = ServiceFile::parse(text, "sandbar.example.toml").unwrap();
        assert_eq!(f.feeds.len(), 3);
        let spelled: toml::Value = toml::from_str(text).unwrap();
        let mut in_example = std::collections::BTreeSet::new();
        key_paths(
            &serde_json::to_value(&spelled).unwrap(),
            "",
            &mut in_example,
        );
        let mut in_types = std::collections::BTreeSet::new();
        key_paths(&serde_json::to_value(&f).unwrap(), "", &mut in_types);
        // A key that is an alternative to another (`file` instead of `env`)
        // or off by default is named in a comment: `# key = …`.
        let commented = |path: &str| {
            let leaf = path.rsplit(['.', ']']).next().unwrap_or(path);
            text.lines().any(|l| {
                l.split_once('#')
                    .is_some_and(|(_, c)| c.contains(&format!("{leaf} = ")))
            })
        };
        let unmentioned: Vec<_> = in_types
            .difference(&in_example)
            .filter(|p| !commented(p))
            .collect();
        let unread: Vec<_> = in_example.difference(&in_types).collect();
        assert!(
            unmentioned.is_empty() && unread.is_empty(),
            "keys of the config types the example never mentions: {unmentioned:?}; \
             keys the example has and the types do not give back: {unread:?}"
        );
    }

    #[test]
    fn mistakes_name_the_file_line_and_key() {
        let cases = [
            (
                GOOD.replace("[api]", "[api]\nlisten_on = 1"),
                "sandbar.toml:",
                "listen_on",
            ),
            (
                GOOD.replace("feed = \"binance\"", "feed = \"bnb\""),
                "deployments[0] (d1).feed",
                "bnb",
            ),
            (
                GOOD.replace("interval = \"1m\"", "interval = \"1x\""),
                "deployments[0] (d1).interval",
                "1x",
            ),
            (
                GOOD.replace("kind = \"binance\"", "kind = \"nasdaq\""),
                "sandbar.toml:",
                "nasdaq",
            ),
            (
                GOOD.replace("env = \"ALICE_TOKEN\"", ""),
                "api.tokens[0]",
                "exactly one",
            ),
            (
                GOOD.replace("ws://", "http://"),
                "feeds.binance.ws_url",
                "ws://",
            ),
            (
                GOOD.replace("ws_url = ", "max_bar_age_secs = -1\nws_url = "),
                "feeds.binance.max_bar_age_secs",
                "more than 0",
            ),
            (
                GOOD.replace("ws_url = ", "stale_after_secs = nan\nws_url = "),
                "feeds.binance.stale_after_secs",
                "NaN",
            ),
            (
                GOOD.replace("start = \"2024-01-01\"", "start = \"soon\""),
                "deployments[0] (d1).start",
                "soon",
            ),
            (
                format!("{GOOD}account = \"main\"\n"),
                "deployments[0] (d1).account",
                "no account named `main`",
            ),
            (
                format!("{GOOD}venue = \"ap\"\n{ALPACA_PAPER}"),
                "deployments[0] (d1).venue",
                "is a paper account",
            ),
            (
                format!(
                    "{GOOD}paper_venue = \"ap\"\n{}",
                    ALPACA_PAPER.replace("paper = true", "")
                ),
                "deployments[0] (d1).paper_venue",
                "trades money",
            ),
            (
                format!(
                    "{GOOD}session = {{ timezone = \"America/New_York\", calendar = \"venue\" }}\n"
                ),
                "deployments[0] (d1).session.calendar",
                "names no venue",
            ),
            (
                format!(
                    "{GOOD}session = {{ timezone = \"New York\", calendar = \"weekdays\", hours = \"09:30-16:00\" }}\n"
                ),
                "deployments[0] (d1).session",
                "\"New York\" is not in the tz database",
            ),
            (
                format!(
                    "{GOOD}session = {{ timezone = \"UTC\", calendar = \"weekdays\", hours = \"16:00-09:30\" }}\n"
                ),
                "deployments[0] (d1).session",
                "closes before it opens",
            ),
            (
                format!(
                    "{GOOD}account = \"main\"\n[accounts.main]\ncapital = 1000\nallocation = \"fixed\"\nfractions = {{ d2 = 0.5 }}\n"
                ),
                "accounts.main.fractions",
                "no fraction for deployment `d1`",
            ),
            (
                format!(
                    "{GOOD}account = \"main\"\n[accounts.main]\ncapital = 1000\nallocation = \"fixed\"\nfractions = {{ d1 = 1.5 }}\n"
                ),
                "accounts.main.fractions",
                "more than the account",
            ),
            (
                format!(
                    "{GOOD}[venues.bx]\nkind = \"binance\"\nrest_url = \"https://testnet.binance.vision\"\nrecv_window_ms = 90000\n"
                ),
                "venues.bx.recv_window_ms",
                "outside Binance's 1..=60000",
            ),
            (
                format!("{GOOD}[accounts.main]\ncapital = 1000\n"),
                "accounts.main",
                "no deployment names it",
            ),
            (
                format!(
                    "{GOOD}account = \"main\"\n[accounts.main]\ncapital = 1000\nrebalance_days = 0\n"
                ),
                "accounts.main.rebalance_days",
                "at least 1",
            ),
        ];
        for (text, place, what) in cases {
            let e = format!(
                "{:#}",
                ServiceFile::parse(&text, "sandbar.toml").unwrap_err()
            );
            assert!(e.contains(place) && e.contains(what), "{place}/{what}: {e}");
        }
    }
}
