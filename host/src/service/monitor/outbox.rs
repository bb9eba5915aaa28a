//! The alerter: a durable outbox and the thread that empties it.
//!
//! An alert is written to the outbox (`alerts.redb` in the data directory,
//! a durable redb commit) *before* anything is sent; a sender thread then
//! delivers it to every channel whose minimum level it reaches, retrying a
//! channel that is down with exponential backoff (`crate::net::Backoff`,
//! 200 ms doubling to a minute), from the outbox — so a restart does not
//! lose an alert that was raised but not yet delivered. A condition that
//! flaps is raised at most once per `cooldown_secs` for the same
//! deployment, rule and level.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::channel::Channel;
use super::{Alert, AlertsConfig, Level, Raise, Rule};
use crate::net::Backoff;

/// Alerts by id (JSON).
const ALERTS: TableDefinition<u64, &str> = TableDefinition::new("alerts");
/// (alert id, channel index) still to deliver.
const PENDING: TableDefinition<(u64, u32), ()> = TableDefinition::new("pending");

/// Raises alerts and delivers them.
pub struct Alerter {
    db: Database,
    path: PathBuf,
    config: AlertsConfig,
    cooldown: Mutex<HashMap<(String, Rule, Level), Instant>>,
    wake: Mutex<Sender<()>>,
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
        let mut alert = Alert {
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
    fn deliver(&self, channels: Vec<Box<dyn Channel>>, wake: Receiver<()>) {
        let backoff = || Backoff::new(Duration::from_millis(200), Duration::from_secs(60));
        let mut retry: Vec<(Instant, Backoff)> = vec![(Instant::now(), backoff()); channels.len()];
        loop {
            let pending = self.pending().unwrap_or_default();
            let mut waiting = false;
            for (alert, ch) in pending {
                let Some(c) = channels.get(ch as usize) else {
                    continue;
                };
                if alert.level < c.min_level() {
                    let _ = self.delivered(alert.id, ch);
                    continue;
                }
                let (next, ref mut wait) = retry[ch as usize];
                if Instant::now() < next {
                    waiting = true;
                    continue;
                }
                match c.send(&alert) {
                    Ok(()) => {
                        wait.reset();
                        retry[ch as usize].0 = Instant::now();
                        let _ = self.delivered(alert.id, ch);
                    }
                    Err(e) => {
                        tracing::warn!(channel = ch, %e, "alert channel down; retrying");
                        let after = wait.next_wait();
                        retry[ch as usize].0 = Instant::now() + after;
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
