//! Alerts: rules with WARNING and CRITICAL levels, a durable outbox, and
//! channels that are retried until they take the message.
//!
//! An alert is written to the outbox (`alerts.redb` in the data directory,
//! a durable redb commit) *before* anything is sent; a sender thread then
//! delivers it to every channel whose minimum level it reaches, retrying a
//! channel that is down with exponential backoff, from the outbox — so a
//! restart does not lose an alert that was raised but not yet delivered. A
//! condition that flaps is raised at most once per `cooldown_secs` for the
//! same deployment, rule and level. Credentials (the Telegram bot token)
//! come from the environment or a file, never from the config file, and are
//! never logged.
//!
//! Rules evaluated today: drawdown from the peak and daily loss (WARNING /
//! CRITICAL thresholds), and the always-CRITICAL events: a fault, HALTED, an
//! automatic rollback, a journal failure, a STALE feed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

/// Alerts by id (JSON).
const ALERTS: TableDefinition<u64, &str> = TableDefinition::new("alerts");
/// (alert id, channel index) still to deliver.
const PENDING: TableDefinition<(u64, u32), ()> = TableDefinition::new("pending");

/// How serious.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// For the record.
    Info,
    /// Look soon.
    Warning,
    /// Look now.
    Critical,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Critical => "CRITICAL",
        })
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Outbox id.
    pub id: u64,
    /// When it was raised (UTC, RFC 3339, wall clock).
    pub time: String,
    /// Level.
    pub level: Level,
    /// Deployment.
    pub deployment: String,
    /// `name@version` serving.
    pub version: String,
    /// Rule (`drawdown`, `daily-loss`, `fault`, `halted`, `rollback`, `journal`, `feed-stale`).
    pub rule: String,
    /// The value that crossed, when there is one.
    pub value: Option<f64>,
    /// The threshold it crossed.
    pub threshold: Option<f64>,
    /// Bar time of the event (RFC 3339), when there is one.
    pub bar_time: Option<String>,
    /// One line saying all of the above.
    pub message: String,
}

/// `[alerts]` in `sandbar.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Where alerts go.
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
    /// The same deployment, rule and level is not raised again within this many seconds.
    #[serde(default = "cooldown")]
    pub cooldown_secs: u64,
    /// Drawdown from the peak: [WARNING, CRITICAL].
    #[serde(default = "drawdown")]
    pub drawdown: [f64; 2],
    /// Loss since the start of the UTC day, as a fraction of it: [WARNING, CRITICAL].
    #[serde(default = "daily_loss")]
    pub daily_loss: [f64; 2],
    /// A fill's slippage, in basis points of its notional: [WARNING, CRITICAL].
    #[serde(default = "slippage")]
    pub slippage_bps: [f64; 2],
    /// A market order's time to its first fill, in seconds, from when the
    /// venue could fill it: [WARNING, CRITICAL].
    #[serde(default = "time_to_fill")]
    pub time_to_fill_secs: [f64; 2],
    /// |paper Sharpe − backtest Sharpe| ÷ |backtest Sharpe|, once 20 UTC days
    /// were traded: [WARNING, CRITICAL].
    #[serde(default = "sharpe")]
    pub sharpe_deviation: [f64; 2],
    /// Send a daily summary (INFO) at this UTC time (`HH:MM` or `HH:MM:SS`).
    #[serde(default)]
    pub daily_summary_utc: Option<String>,
}

fn cooldown() -> u64 {
    900
}
fn drawdown() -> [f64; 2] {
    [0.05, 0.10]
}
fn daily_loss() -> [f64; 2] {
    [0.01, 0.02]
}
fn slippage() -> [f64; 2] {
    [5.0, 15.0]
}
fn time_to_fill() -> [f64; 2] {
    [5.0, 30.0]
}
fn sharpe() -> [f64; 2] {
    [0.3, 0.5]
}

/// A channel.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ChannelConfig {
    /// A JSON POST of the [`Alert`].
    Webhook {
        /// URL.
        url: String,
        /// Lowest level sent (default WARNING).
        #[serde(default = "warning")]
        min_level: Level,
    },
    /// E-mail over SMTP (the `lettre` crate), to a relay that takes plain
    /// SMTP (a local MTA; TLS to a remote server is not built in).
    Email {
        /// SMTP host.
        host: String,
        /// Port (default 25).
        #[serde(default = "smtp_port")]
        port: u16,
        /// Sender address.
        from: String,
        /// Recipients.
        to: Vec<String>,
        /// Environment variable holding `user:password`, if the relay wants a login.
        #[serde(default)]
        credentials_env: Option<String>,
        /// Lowest level sent (default WARNING).
        #[serde(default = "warning")]
        min_level: Level,
    },
    /// Telegram bot `sendMessage`.
    Telegram {
        /// API base (default `https://api.telegram.org`).
        #[serde(default = "telegram")]
        api_url: String,
        /// Environment variable holding the bot token.
        #[serde(default)]
        token_env: Option<String>,
        /// Or a file holding it.
        #[serde(default)]
        token_file: Option<PathBuf>,
        /// Chat to write to.
        chat_id: String,
        /// Lowest level sent (default WARNING).
        #[serde(default = "warning")]
        min_level: Level,
    },
}

fn smtp_port() -> u16 {
    25
}

fn warning() -> Level {
    Level::Warning
}
fn telegram() -> String {
    "https://api.telegram.org".into()
}

impl AlertsConfig {
    /// Check the thresholds.
    pub fn check(&self) -> anyhow::Result<()> {
        for (name, [w, c]) in [("drawdown", self.drawdown), ("daily_loss", self.daily_loss)] {
            if !(w > 0.0 && w <= c && c <= 1.0) {
                anyhow::bail!(
                    "alerts.{name}: expected [warning, critical] with 0 < warning <= critical <= 1"
                );
            }
        }
        for (i, ch) in self.channels.iter().enumerate() {
            if let ChannelConfig::Telegram {
                token_env,
                token_file,
                ..
            } = ch
                && token_env.is_some() == token_file.is_some()
            {
                anyhow::bail!(
                    "alerts.channels[{i}]: give exactly one of `token_env` or `token_file`"
                );
            }
        }
        Ok(())
    }
}

/// A channel ready to send (secrets read).
enum Channel {
    Webhook {
        url: String,
        min: Level,
    },
    Telegram {
        url: String,
        chat: String,
        min: Level,
    },
    Email {
        transport: lettre::SmtpTransport,
        from: lettre::message::Mailbox,
        to: Vec<lettre::message::Mailbox>,
        min: Level,
    },
}

impl Channel {
    fn min(&self) -> Level {
        match self {
            Channel::Webhook { min, .. }
            | Channel::Telegram { min, .. }
            | Channel::Email { min, .. } => *min,
        }
    }

    fn send(&self, http: &reqwest::blocking::Client, a: &Alert) -> Result<(), String> {
        if let Channel::Email {
            transport,
            from,
            to,
            ..
        } = self
        {
            use lettre::Transport;
            let mut m = lettre::Message::builder()
                .from(from.clone())
                .subject(format!("[sandbar] {} {} {}", a.level, a.deployment, a.rule));
            for t in to {
                m = m.to(t.clone());
            }
            let body = format!(
                "{}\n\n{}\n",
                a.message,
                serde_json::to_string_pretty(a).unwrap_or_default()
            );
            let m = m.body(body).map_err(|e| e.to_string())?;
            return transport.send(&m).map(|_| ()).map_err(|e| e.to_string());
        }
        let r = match self {
            Channel::Webhook { url, .. } => http.post(url).json(a).send(),
            Channel::Telegram { url, chat, .. } => http
                .post(url)
                .json(&serde_json::json!({"chat_id": chat, "text": a.message}))
                .send(),
            Channel::Email { .. } => unreachable!("sent above"),
        };
        match r {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("{}", r.status())),
            // Never print the URL: a Telegram URL holds the bot token.
            Err(e) => Err(e.without_url().to_string()),
        }
    }
}

/// Raises alerts and delivers them.
pub struct Alerter {
    db: Database,
    path: PathBuf,
    config: AlertsConfig,
    cooldown: Mutex<HashMap<(String, String, Level), Instant>>,
    wake: Mutex<Sender<()>>,
}

impl Alerter {
    /// Open (or create) the outbox in `dir` and start the sender.
    pub fn start(dir: &Path, config: AlertsConfig) -> anyhow::Result<Arc<Alerter>> {
        config.check()?;
        let mut channels = Vec::new();
        for (i, c) in config.channels.iter().enumerate() {
            channels.push(match c {
                ChannelConfig::Webhook { url, min_level } => Channel::Webhook {
                    url: url.clone(),
                    min: *min_level,
                },
                ChannelConfig::Email {
                    host,
                    port,
                    from,
                    to,
                    credentials_env,
                    min_level,
                } => {
                    let parse = |a: &str| {
                        a.parse::<lettre::message::Mailbox>().map_err(|e| {
                            anyhow::anyhow!("alerts.channels[{i}]: address {a:?}: {e}")
                        })
                    };
                    let mut b = lettre::SmtpTransport::builder_dangerous(host.as_str())
                        .port(*port)
                        .timeout(Some(Duration::from_secs(10)));
                    if let Some(v) = credentials_env {
                        let c = std::env::var(v).map_err(|_| {
                            anyhow::anyhow!(
                                "alerts.channels[{i}]: environment variable {v} is not set"
                            )
                        })?;
                        let (user, pass) = c.split_once(':').ok_or_else(|| {
                            anyhow::anyhow!("alerts.channels[{i}]: {v} must hold user:password")
                        })?;
                        b = b.credentials(
                            lettre::transport::smtp::authentication::Credentials::new(
                                user.into(),
                                pass.into(),
                            ),
                        );
                    }
                    Channel::Email {
                        transport: b.build(),
                        from: parse(from)?,
                        to: to.iter().map(|t| parse(t)).collect::<anyhow::Result<_>>()?,
                        min: *min_level,
                    }
                }
                ChannelConfig::Telegram {
                    api_url,
                    token_env,
                    token_file,
                    chat_id,
                    min_level,
                } => {
                    let token = match (token_env, token_file) {
                        (Some(v), _) => std::env::var(v).map_err(|_| {
                            anyhow::anyhow!(
                                "alerts.channels[{i}]: environment variable {v} is not set"
                            )
                        })?,
                        (_, Some(f)) => std::fs::read_to_string(f)
                            .map_err(|e| {
                                anyhow::anyhow!("alerts.channels[{i}]: {}: {e}", f.display())
                            })?
                            .trim()
                            .to_string(),
                        _ => anyhow::bail!("alerts.channels[{i}]: no token"),
                    };
                    Channel::Telegram {
                        url: format!("{}/bot{token}/sendMessage", api_url.trim_end_matches('/')),
                        chat: chat_id.clone(),
                        min: *min_level,
                    }
                }
            });
        }
        let path = dir.join("alerts.redb");
        let db = Database::create(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        {
            let tx = db.begin_write()?;
            tx.open_table(ALERTS)?;
            tx.open_table(PENDING)?;
            tx.commit()?;
        }
        let (tx, rx) = channel();
        let alerter = Arc::new(Alerter {
            db,
            path,
            config,
            cooldown: Mutex::new(HashMap::new()),
            wake: Mutex::new(tx),
        });
        let a = alerter.clone();
        std::thread::Builder::new()
            .name("alerts".into())
            .spawn(move || a.deliver(channels, rx))?;
        Ok(alerter)
    }

    /// The thresholds.
    pub fn config(&self) -> &AlertsConfig {
        &self.config
    }

    /// Raise an alert: journaled in the outbox, then sent. `false` if the
    /// cooldown held it back.
    #[allow(clippy::too_many_arguments)]
    pub fn raise(
        &self,
        level: Level,
        deployment: &str,
        version: &str,
        rule: &str,
        value: Option<f64>,
        threshold: Option<f64>,
        bar_time: Option<String>,
        what: &str,
    ) -> bool {
        let key = (deployment.to_string(), rule.to_string(), level);
        if is_condition(rule) {
            let mut c = self.cooldown.lock().expect("cooldown");
            if c.get(&key)
                .is_some_and(|t| t.elapsed() < Duration::from_secs(self.config.cooldown_secs))
            {
                return false;
            }
            c.insert(key, Instant::now());
        }
        let time = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let at = bar_time
            .as_deref()
            .map(|t| format!(" at bar {t}"))
            .unwrap_or_default();
        let message = format!("{level} {deployment} ({version}): {what}{at}");
        let mut alert = Alert {
            id: 0,
            time,
            level,
            deployment: deployment.into(),
            version: version.into(),
            rule: rule.into(),
            value,
            threshold,
            bar_time,
            message,
        };
        if let Err(e) = self.journal(&mut alert) {
            tracing::error!(%e, "alert outbox {}", self.path.display());
            return false;
        }
        tracing::warn!(level = %alert.level, message = %alert.message, "alert");
        let _ = self.wake.lock().expect("wake").send(());
        true
    }

    fn journal(&self, a: &mut Alert) -> anyhow::Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(ALERTS)?;
            a.id = t.last()?.map_or(1, |(k, _)| k.value() + 1);
            t.insert(a.id, serde_json::to_string(a)?.as_str())?;
            let mut p = tx.open_table(PENDING)?;
            for i in 0..self.config.channels.len() as u32 {
                p.insert((a.id, i), ())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every alert raised, oldest first.
    pub fn history(&self) -> anyhow::Result<Vec<Alert>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(ALERTS)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (_, v) = item?;
            out.push(serde_json::from_str(v.value())?);
        }
        Ok(out)
    }

    fn pending(&self) -> anyhow::Result<Vec<(Alert, u32)>> {
        let tx = self.db.begin_read()?;
        let p = tx.open_table(PENDING)?;
        let a = tx.open_table(ALERTS)?;
        let mut out = Vec::new();
        for item in p.iter()? {
            let (k, _) = item?;
            let (id, ch) = k.value();
            if let Some(v) = a.get(id)? {
                out.push((serde_json::from_str(v.value())?, ch));
            }
        }
        Ok(out)
    }

    fn delivered(&self, id: u64, ch: u32) -> anyhow::Result<()> {
        let tx = self.db.begin_write()?;
        tx.open_table(PENDING)?.remove((id, ch))?;
        tx.commit()?;
        Ok(())
    }

    /// The sender: whatever is pending, to each channel, retrying a channel
    /// that failed after 0.2 s, 0.4 s, … up to a minute.
    fn deliver(&self, channels: Vec<Channel>, wake: Receiver<()>) {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let mut retry: Vec<(Instant, Duration)> =
            vec![(Instant::now(), Duration::from_millis(200)); channels.len()];
        loop {
            let pending = self.pending().unwrap_or_default();
            let mut waiting = false;
            for (alert, ch) in pending {
                let Some(c) = channels.get(ch as usize) else {
                    continue;
                };
                if alert.level < c.min() {
                    let _ = self.delivered(alert.id, ch);
                    continue;
                }
                let (next, backoff) = retry[ch as usize];
                if Instant::now() < next {
                    waiting = true;
                    continue;
                }
                match c.send(&http, &alert) {
                    Ok(()) => {
                        retry[ch as usize] = (Instant::now(), Duration::from_millis(200));
                        let _ = self.delivered(alert.id, ch);
                    }
                    Err(e) => {
                        tracing::warn!(channel = ch, %e, "alert channel down; retrying");
                        retry[ch as usize] = (
                            Instant::now() + backoff,
                            (backoff * 2).min(Duration::from_secs(60)),
                        );
                        waiting = true;
                    }
                }
            }
            let timeout = if waiting {
                Duration::from_millis(100)
            } else {
                Duration::from_secs(5)
            };
            match wake.recv_timeout(timeout) {
                Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

/// Rules that watch a condition, which can flap: held back by the
/// cooldown. The others are events (a fill, a swap, a promotion, a
/// rollback, a fault, HALTED, the daily summary), each one sent.
pub fn is_condition(rule: &str) -> bool {
    matches!(
        rule,
        "drawdown"
            | "daily-loss"
            | "sharpe-deviation"
            | "slippage"
            | "time-to-fill"
            | "feed-stale"
            | "journal"
    )
}

/// Seconds after UTC midnight of `HH:MM[:SS]`.
pub fn summary_time(t: &str) -> anyhow::Result<u32> {
    let parsed = chrono::NaiveTime::parse_from_str(t, "%H:%M:%S")
        .or_else(|_| chrono::NaiveTime::parse_from_str(t, "%H:%M"))
        .map_err(|_| {
            anyhow::anyhow!("alerts.daily_summary_utc {t:?}: expected HH:MM or HH:MM:SS")
        })?;
    use chrono::Timelike;
    Ok(parsed.num_seconds_from_midnight())
}

/// Annualised Sharpe ratio of daily equity closes (`crate::statistic`).
pub use crate::statistic::daily_sharpe;

/// The level a value reaches against [warning, critical], if any.
pub fn level_of(value: f64, [warning, critical]: [f64; 2]) -> Option<(Level, f64)> {
    if value >= critical {
        Some((Level::Critical, critical))
    } else if value >= warning {
        Some((Level::Warning, warning))
    } else {
        None
    }
}
