//! The alerter: a durable outbox and the thread that empties it.
//!
//! An alert is written to the outbox (`alerts.redb` in the data directory,
//! a durable redb commit) *before* anything is sent; a sender thread then
//! delivers it to every channel whose minimum level it reaches, from the
//! outbox — so a restart does not lose an alert that was raised but not
//! yet delivered. Each (alert, channel) is retried on its own with
//! exponential backoff (`crate::net::Backoff`, 200 ms doubling to a
//! minute), so no alert waits behind another:
//! - a channel that is down ([`SendError::Down`]) is tried again for as
//!   long as it takes;
//! - an alert a channel refuses ([`SendError::Refused`]: Telegram's text
//!   limit, a webhook's 400) is given up on that channel after
//!   [`MAX_REFUSALS`] refusals and an [`Rule::Undelivered`] alert naming it
//!   goes to the other channels.
//!
//! When the outbox cannot be written (a full disk — when the operator most
//! needs to hear), the alert is still sent, from memory, and the failure is
//! logged at ERROR; it is lost only if the process also stops before it is
//! delivered. A condition that flaps is raised at most once per
//! `cooldown_secs` for the same deployment, rule and level.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::channel::{Channel, SendError};
use super::{Alert, AlertsConfig, Level, Raise, Rule};
use crate::net::Backoff;

/// Alerts by id (JSON).
const ALERTS: TableDefinition<u64, &str> = TableDefinition::new("alerts");
/// (alert id, channel index) still to deliver.
const PENDING: TableDefinition<(u64, u32), ()> = TableDefinition::new("pending");

/// Refusals of one alert by one channel before it is given up there.
pub const MAX_REFUSALS: u32 = 3;

/// Raises alerts and delivers them.
pub struct Alerter {
    db: std::sync::Arc<Database>,
    path: PathBuf,
    config: AlertsConfig,
    cooldown: Mutex<HashMap<(String, Rule, Level), Instant>>,
    wake: Mutex<Sender<()>>,
    /// How many channels there are.
    channel_count: usize,
    /// Alerts the outbox could not take, with the channels still to send
    /// them to (ids from the top of the range down, never an outbox id).
    unjournaled: Mutex<Vec<(Alert, Vec<u32>)>>,
}

/// One (alert, channel)'s retries.
struct Retry {
    next: Instant,
    wait: Backoff,
    refusals: u32,
}

impl Alerter {
    /// Open (or create) the outbox in `dir` and start the sender.
    pub fn start(dir: &Path, config: AlertsConfig) -> anyhow::Result<Arc<Alerter>> {
        config.check()?;
        let http = crate::net::tls::Tls::webpki()
            .http()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let mut channels = Vec::new();
        for (i, c) in config.channels.iter().enumerate() {
            channels.push(
                c.open(&http)
                    .map_err(|e| anyhow::anyhow!("alerts.channels[{i}]: {e}"))?,
            );
        }
        Self::start_with(dir, config, channels)
    }

    /// As [`Alerter::start`], sending to `channels` (opened already).
    pub(crate) fn start_with(
        dir: &Path,
        config: AlertsConfig,
        channels: Vec<Box<dyn Channel>>,
    ) -> anyhow::Result<Arc<Alerter>> {
        let path = dir.join("alerts.redb");
        let db = crate::store::backup::create(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
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
            channel_count: channels.len(),
            unjournaled: Mutex::new(Vec::new()),
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

    /// The `errors` rule: `n` errors of a kind (`what`: "venue errors at
    /// `x`", "strategy errors") within [`super::ERROR_WINDOW_MS`], raised at
    /// the rule's level for `n`, if any, naming the latest.
    pub fn raise_errors(&self, name: &str, version: &str, n: f64, what: &str, latest: &str) {
        if let Some((level, threshold)) = super::level_of(n, self.config().errors) {
            self.raise(
                Raise::new(
                    level,
                    super::Rule::Errors,
                    name,
                    version,
                    format!(
                        "{n} {what} in the last {} min, over the {level} threshold {threshold} \
                         (latest{latest})",
                        super::ERROR_WINDOW_MS / 60_000
                    ),
                )
                .value(n)
                .threshold(threshold),
            );
        }
    }

    /// Raise an alert: journaled in the outbox, then sent. `false` if the
    /// cooldown held it back.
    pub fn raise(&self, r: Raise) -> bool {
        if r.rule.is_condition() {
            let key = (r.deployment.clone(), r.rule, r.level);
            let mut c = self.cooldown.lock().expect("cooldown");
            if c.get(&key)
                .is_some_and(|t| t.elapsed() < Duration::from_secs(self.config.cooldown_secs))
            {
                return false;
            }
            c.insert(key, Instant::now());
        }
        let time = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let at = r
            .bar_time
            .as_deref()
            .map(|t| format!(" at bar {t}"))
            .unwrap_or_default();
        let message = format!(
            "{} {} ({}): {}{at}",
            r.level, r.deployment, r.version, r.what
        );
        let alert = Alert {
            id: 0,
            time,
            level: r.level,
            deployment: r.deployment,
            version: r.version,
            rule: r.rule,
            value: r.value,
            threshold: r.threshold,
            bar_time: r.bar_time,
            message,
        };
        let channels: Vec<u32> = (0..self.channel_count as u32).collect();
        self.send(alert, channels);
        true
    }

    /// Journal `alert` for `channels` and wake the sender; when the outbox
    /// fails, keep it in memory (and say so loudly).
    fn send(&self, mut alert: Alert, channels: Vec<u32>) {
        if let Err(e) = self.journal(&mut alert, &channels) {
            let mut memory = self.unjournaled.lock().expect("unjournaled");
            alert.id = u64::MAX - memory.len() as u64;
            tracing::error!(
                %e,
                message = %alert.message,
                "alert outbox {} cannot be written: sending the alert from memory \
                 (lost if the host stops before it is delivered)",
                self.path.display()
            );
            memory.push((alert, channels));
        } else {
            tracing::warn!(level = %alert.level, message = %alert.message, "alert");
        }
        let _ = self.wake.lock().expect("wake").send(());
    }

    fn journal(&self, a: &mut Alert, channels: &[u32]) -> anyhow::Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(ALERTS)?;
            a.id = t.last()?.map_or(1, |(k, _)| k.value() + 1);
            t.insert(a.id, serde_json::to_string(a)?.as_str())?;
            let mut p = tx.open_table(PENDING)?;
            for &i in channels {
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

    /// The newest alerts first, at most `limit`, of one deployment and at
    /// or above a level when asked. The scan stops at `limit` matches.
    pub fn recent(
        &self,
        limit: usize,
        deployment: Option<&str>,
        min_level: Option<Level>,
    ) -> anyhow::Result<Vec<Alert>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(ALERTS)?;
        let mut out = Vec::new();
        for item in t.iter()?.rev() {
            if out.len() >= limit {
                break;
            }
            let (_, v) = item?;
            let a: Alert = serde_json::from_str(v.value())?;
            if deployment.is_some_and(|d| a.deployment != d)
                || min_level.is_some_and(|l| a.level < l)
            {
                continue;
            }
            out.push(a);
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
        let mut memory = self.unjournaled.lock().expect("unjournaled");
        if let Some(i) = memory.iter().position(|(a, _)| a.id == id) {
            memory[i].1.retain(|c| *c != ch);
            if memory[i].1.is_empty() {
                memory.remove(i);
            }
            return Ok(());
        }
        drop(memory);
        let tx = self.db.begin_write()?;
        tx.open_table(PENDING)?.remove((id, ch))?;
        tx.commit()?;
        Ok(())
    }

    /// What is still to send: the outbox's, then what only memory holds.
    fn all_pending(&self) -> Vec<(Alert, u32)> {
        let mut out = self.pending().unwrap_or_else(|e| {
            tracing::error!(%e, "alert outbox {} cannot be read", self.path.display());
            Vec::new()
        });
        for (a, channels) in self.unjournaled.lock().expect("unjournaled").iter() {
            out.extend(channels.iter().map(|&c| (a.clone(), c)));
        }
        out
    }

    /// `ch` refused `alert` for good: given up there, told on the others.
    fn give_up(&self, alert: &Alert, ch: u32, why: &str, channels: usize) {
        tracing::error!(
            alert = alert.id,
            channel = ch,
            why,
            "alert refused by its channel; given up there"
        );
        let _ = self.delivered(alert.id, ch);
        let others: Vec<u32> = (0..channels as u32).filter(|&c| c != ch).collect();
        if alert.rule == Rule::Undelivered || others.is_empty() {
            return; // never a chain of reports about reports
        }
        let what = format!(
            "alerts.channels[{ch}] refused alert {} ({} {}) {MAX_REFUSALS} times: {why}",
            alert.id, alert.rule, alert.level
        );
        let undelivered = Alert {
            id: 0,
            time: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            level: alert.level.max(Level::Warning),
            deployment: alert.deployment.clone(),
            version: alert.version.clone(),
            rule: Rule::Undelivered,
            value: None,
            threshold: None,
            bar_time: None,
            message: format!(
                "{} {} ({}): {what}",
                alert.level.max(Level::Warning),
                alert.deployment,
                alert.version
            ),
        };
        self.send(undelivered, others);
    }

    /// The sender: whatever is pending, to each channel, each (alert,
    /// channel) retried on its own after 0.2 s, 0.4 s, … up to a minute.
    fn deliver(&self, channels: Vec<Box<dyn Channel>>, wake: Receiver<()>) {
        let mut retries: HashMap<(u64, u32), Retry> = HashMap::new();
        loop {
            let pending = self.all_pending();
            // Retry state of what is no longer pending goes.
            retries.retain(|k, _| pending.iter().any(|(a, c)| (a.id, *c) == *k));
            let mut waiting = false;
            for (alert, ch) in pending {
                let Some(c) = channels.get(ch as usize) else {
                    continue;
                };
                if alert.level < c.min_level() {
                    let _ = self.delivered(alert.id, ch);
                    continue;
                }
                let retry = retries.entry((alert.id, ch)).or_insert_with(|| Retry {
                    next: Instant::now(),
                    wait: Backoff::new(Duration::from_millis(200), Duration::from_secs(60)),
                    refusals: 0,
                });
                if Instant::now() < retry.next {
                    waiting = true;
                    continue;
                }
                match c.send(&alert) {
                    Ok(()) => {
                        let _ = self.delivered(alert.id, ch);
                    }
                    Err(SendError::Refused(why)) if retry.refusals + 1 >= MAX_REFUSALS => {
                        self.give_up(&alert, ch, &why, channels.len());
                    }
                    Err(e) => {
                        if matches!(e, SendError::Refused(_)) {
                            retry.refusals += 1;
                        }
                        tracing::warn!(alert = alert.id, channel = ch, %e, "alert not delivered; retrying");
                        retry.next = Instant::now() + retry.wait.next_wait();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A channel that refuses every alert whose text holds `poison` and
    /// keeps the texts of the others.
    struct Picky {
        poison: &'static str,
        got: Arc<Mutex<Vec<String>>>,
        tries: Arc<Mutex<u32>>,
    }

    impl Channel for Picky {
        fn min_level(&self) -> Level {
            Level::Info
        }
        fn send(&self, a: &Alert) -> Result<(), SendError> {
            if a.message.contains(self.poison) {
                *self.tries.lock().unwrap() += 1;
                return Err(SendError::Refused("400 message is too long".into()));
            }
            self.got.lock().unwrap().push(a.message.clone());
            Ok(())
        }
    }

    fn raise(a: &Alerter, what: &str) {
        assert!(a.raise(Raise::new(
            Level::Critical,
            Rule::Fault,
            "d",
            "p@1",
            what.to_string()
        )));
    }

    #[test]
    fn an_alert_a_channel_refuses_neither_blocks_the_next_nor_goes_unreported() {
        let dir = tempfile::tempdir().unwrap();
        let (got0, got1) = (Arc::default(), Arc::default());
        let tries: Arc<Mutex<u32>> = Arc::default();
        let channels: Vec<Box<dyn Channel>> = vec![
            Box::new(Picky {
                poison: "POISON",
                got: Arc::clone(&got0),
                tries: tries.clone(),
            }),
            Box::new(Picky {
                poison: "never",
                got: Arc::clone(&got1),
                tries: Arc::default(),
            }),
        ];
        let a = Alerter::start_with(
            dir.path(),
            toml::from_str::<AlertsConfig>("").unwrap(),
            channels,
        )
        .unwrap();
        raise(&a, "POISON text");
        raise(&a, "the next one");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let g0: Vec<String> = got0.lock().unwrap().clone();
            let g1: Vec<String> = got1.lock().unwrap().clone();
            let reported = g1
                .iter()
                .any(|m| m.contains("refused alert 1") && m.contains("400"));
            if g0.iter().any(|m| m.contains("the next one")) && reported {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "channel 0 got {g0:?}, channel 1 got {g1:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(*tries.lock().unwrap(), MAX_REFUSALS, "tried, then given up");
        // Nothing is left pending: the refused alert is not retried for ever.
        std::thread::sleep(Duration::from_millis(300));
        assert!(a.all_pending().is_empty(), "{:?}", a.all_pending());
        assert_eq!(*tries.lock().unwrap(), MAX_REFUSALS);
    }
}
