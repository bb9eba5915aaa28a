//! The daily summary alert: each deployment's day, once a day at the
//! configured time.

use std::sync::Arc;
use std::time::Duration;

use super::{Service, metrics, monitor};

impl Service {
    /// Send the daily summary (INFO) at the configured UTC time, every day.
    pub fn start_daily_summary(self: &Arc<Self>) {
        let (Some(a), Some(at)) = (
            self.alerter.clone(),
            self.config
                .alerts
                .as_ref()
                .and_then(|c| c.daily_summary_utc.clone()),
        ) else {
            return;
        };
        let Ok(at) = monitor::summary_time(&at) else {
            return;
        };
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("daily-summary".into())
            .spawn(move || {
                loop {
                    let now = chrono::Utc::now();
                    use chrono::Timelike;
                    let secs = now.num_seconds_from_midnight();
                    let wait = (i64::from(at) - i64::from(secs)).rem_euclid(86_400).max(1);
                    std::thread::sleep(Duration::from_secs(wait as u64));
                    let Some(service) = weak.upgrade() else {
                        return;
                    };
                    service.daily_summary(&a);
                }
            })
            .ok();
    }

    /// Request `[alerts] heartbeat_url` every `heartbeat_secs` while the
    /// service lives (a dead man's switch). A failed request is logged and
    /// the next one tried on time: the monitor on the other end alerts
    /// when requests stop arriving, whatever the reason.
    pub fn start_heartbeat(self: &Arc<Self>) {
        let Some((url, every)) = self
            .config
            .alerts
            .as_ref()
            .and_then(|c| c.heartbeat_url.clone().map(|u| (u, c.heartbeat_secs)))
        else {
            return;
        };
        let client = match crate::net::tls::Tls::webpki()
            .http()
            .timeout(Duration::from_secs(10))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("heartbeat: no HTTP client: {e}");
                return;
            }
        };
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("heartbeat".into())
            .spawn(move || {
                loop {
                    if weak.upgrade().is_none() {
                        return;
                    }
                    match client.get(&url).send() {
                        Ok(r) if r.status().is_success() => {}
                        Ok(r) => tracing::warn!("heartbeat {url}: HTTP {}", r.status()),
                        Err(e) => tracing::warn!("heartbeat {url}: {}", crate::net::chain(&e)),
                    }
                    std::thread::sleep(Duration::from_secs_f64(every));
                }
            })
            .ok();
    }

    /// One INFO alert per running deployment: PnL of the day and overall,
    /// trades, drawdown, state, version changes and alerts of the day.
    pub(super) fn daily_summary(&self, a: &monitor::Alerter) {
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let history = a.history().unwrap_or_default();
        for name in self.running() {
            let Ok(s) = self.status(&name) else { continue };
            if !s.running {
                continue;
            }
            let daily = self
                .metrics
                .daily_pnl
                .get_or_create(&metrics::labels(&name))
                .get();
            let versions: Vec<String> = self
                .registry
                .audit_trail(Some(&name))
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e.action == "version" && e.time.starts_with(&today))
                .map(|e| {
                    format!(
                        "{} → {}",
                        e.from.unwrap_or_default(),
                        e.to.unwrap_or_default()
                    )
                })
                .collect();
            let alerts_today = history
                .iter()
                .filter(|h| {
                    // Warnings and criticals: INFO (fills, swaps, summaries) is the day's news.
                    h.deployment == name
                        && h.time.starts_with(&today)
                        && h.level > monitor::Level::Info
                })
                .count();
            a.raise(monitor::Raise::new(monitor::Level::Info, monitor::Rule::DailySummary, &name, &s.serving, format!(
                    "daily summary: PnL today {daily:.2}, since start {:.2}; {} trades; drawdown {:.2}%; {} {}; version changes today: {}; alerts today: {alerts_today}",
                    s.pnl,
                    s.trades,
                    s.drawdown * 100.0,
                    s.stage,
                    s.risk_state,
                    if versions.is_empty() { "none".to_string() } else { versions.join(", ") },
                )).value(daily).at_bar(s.last_bar.clone()));
        }
    }
}
