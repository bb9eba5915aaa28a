//! Read models: what the API, the dashboard and `/metrics` show of the
//! service and its deployments. Nothing here changes a run.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use anyhow::Context;

use super::types::*;
use super::{Service, dashboard, metrics, monitor};
use crate::data::live::FeedStatus;

impl Service {
    /// Feeds and their connections.
    pub fn feeds(&self) -> BTreeMap<String, FeedStatus> {
        self.hubs
            .iter()
            .map(|(k, h)| (k.clone(), h.status()))
            .collect()
    }

    /// `/metrics`: the counters and gauges the deployments keep, with the
    /// feeds, stages and staleness read now.
    pub fn metrics_text(&self) -> String {
        let m = &self.metrics;
        for (name, hub) in &self.hubs {
            let l = vec![("feed".to_string(), name.clone())];
            m.feed_up
                .get_or_create(&l)
                .set(i64::from(hub.status().connection == "live"));
            if let Some(age) = hub.last_bar_age() {
                m.feed_last_bar_age.get_or_create(&l).set(age.as_secs_f64());
            }
        }
        if let Ok(ds) = self.registry.deployments() {
            for d in ds {
                let l = metrics::labels(&d.name);
                for stage in ["DRAFT", "TESTING", "PAPER", "LIVE", "PAUSED", "DEPRECATED"] {
                    m.stage
                        .get_or_create(&metrics::with(&l, "stage", stage))
                        .set(i64::from(d.stage.to_string() == stage));
                }
            }
        }
        for (name, run) in self.runs.lock().expect("runs lock").iter() {
            m.feed_stale
                .get_or_create(&metrics::labels(name))
                .set(i64::from(run.stale.load(Ordering::Relaxed)));
        }
        m.render()
    }

    /// Whether the journal directory takes writes (readiness).
    /// Configured deployments that did not start, and why.
    pub fn failed(&self) -> BTreeMap<String, String> {
        self.failed.lock().expect("failed lock").clone()
    }

    pub fn journals_writable(&self) -> anyhow::Result<()> {
        let probe = self.config.journals.join(".ready-probe");
        std::fs::write(&probe, b"ok")
            .and_then(|()| std::fs::remove_file(&probe))
            .with_context(|| format!("journal directory {}", self.config.journals.display()))
    }

    /// Every deployment in the registry, with its status where it runs.
    pub fn list(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        let mut out = Vec::new();
        for d in self.registry.deployments()? {
            let status = self.status(&d.name).ok();
            let failed = self
                .failed
                .lock()
                .expect("failed lock")
                .get(&d.name)
                .cloned();
            out.push(serde_json::json!({
                "name": d.name,
                "plugin": d.plugin,
                "stage": d.stage.to_string(),
                "capital": d.capital,
                "status": status,
                "failed": failed,
                "deployment": d,
            }));
        }
        Ok(out)
    }

    /// A deployment as stored, with its audit trail.
    pub fn history(&self, name: &str) -> anyhow::Result<serde_json::Value> {
        let d = self.registry.deployment(name)?;
        let audit = self.registry.audit_trail(Some(name))?;
        Ok(serde_json::json!({"deployment": d, "audit": audit}))
    }

    /// A page of a deployment's journal as JSON lines: entries `offset..`,
    /// at most `limit`, optionally only those of bars in `[from, to)`.
    pub fn journal_lines(
        &self,
        name: &str,
        offset: u64,
        limit: u64,
        from: Option<i64>,
        to: Option<i64>,
    ) -> anyhow::Result<String> {
        // The run's own journal (a LIVE run writes its own), read through
        // the open file while it runs: the lock is held only to share it.
        let (path, open) = match self.runs.lock().expect("runs lock").get(name) {
            Some(r) => (r.journal.clone(), r.journal_handle.clone()),
            None => {
                let live = self
                    .registry
                    .deployment(name)
                    .is_ok_and(|d| d.stage == crate::lifecycle::Stage::Live);
                (
                    super::plan::journal_path(&self.config.journals, name, live),
                    None,
                )
            }
        };
        let reader = match open {
            Some(j) => j.lock().expect("journal lock").reader(),
            None => crate::store::journal::JournalReader::open(&path)?,
        };
        let page = reader.page(offset, limit as usize, from, to)?;
        let mut out = String::new();
        for (i, e) in page {
            out.push_str(&serde_json::json!({"index": i, "entry": e}).to_string());
            out.push('\n');
        }
        Ok(out)
    }

    /// Names of the deployments started in this service.
    /// Changes to what the dashboard shows (its event stream sends when
    /// this moves).
    pub fn dashboard_version(&self) -> u64 {
        let runs = self.runs.lock().expect("runs lock");
        runs.values()
            .map(|r| r.board.lock().expect("board lock").version())
            .sum::<u64>()
            + runs.len() as u64
    }

    /// One dashboard update: every deployment (stage, status, sparkline,
    /// today's PnL) and, for `selected`, everything its page shows.
    pub fn dashboard_update(&self, selected: Option<&str>) -> anyhow::Result<serde_json::Value> {
        let mut overview = Vec::new();
        for d in self.registry.deployments()? {
            let status = self.status(&d.name).ok();
            let equity = status.as_ref().map_or(0.0, |s| s.equity);
            let (spark, today) = self
                .with_board(&d.name, |b| (b.sparkline(60), b.today(equity)))
                .unwrap_or_default();
            overview.push(serde_json::json!({
                "name": d.name,
                "plugin": d.plugin,
                "stage": d.stage.to_string(),
                "status": status,
                "spark": spark,
                "today": today,
            }));
        }
        let detail = match selected {
            Some(name) => Some(self.dashboard_detail(name)?),
            None => None,
        };
        Ok(serde_json::json!({ "overview": overview, "detail": detail }))
    }

    pub(super) fn with_board<T>(
        &self,
        name: &str,
        f: impl FnOnce(&dashboard::Board) -> T,
    ) -> Option<T> {
        let runs = self.runs.lock().expect("runs lock");
        runs.get(name)
            .map(|r| f(&r.board.lock().expect("board lock")))
    }

    /// The alert history, newest first: at most `limit` (1 to 1,000) of one
    /// deployment and at or above a level when asked. Empty when no alerts
    /// are configured.
    pub fn alerts(
        &self,
        limit: usize,
        deployment: Option<&str>,
        min_level: Option<monitor::Level>,
    ) -> anyhow::Result<serde_json::Value> {
        let alerts = match &self.alerter {
            Some(a) => a.recent(limit.clamp(1, 1000), deployment, min_level)?,
            None => Vec::new(),
        };
        Ok(serde_json::json!({ "alerts": alerts }))
    }

    /// Everything one deployment's page shows.
    pub(super) fn dashboard_detail(&self, name: &str) -> anyhow::Result<serde_json::Value> {
        let d = self.registry.deployment(name)?;
        let status = self.status(name).ok();
        let equity = status.as_ref().map_or(d.capital, |s| s.equity);
        let board = self.with_board(name, |b| (b.detail(), b.today(equity)));
        let (board, today) =
            board.unwrap_or_else(|| (dashboard::Board::new(Vec::new()).detail(), 0.0));
        let alerts = match &self.alerter {
            Some(a) => {
                let mut v: Vec<monitor::Alert> = a
                    .history()?
                    .into_iter()
                    .filter(|x| x.deployment == name)
                    .collect();
                v.reverse();
                v.truncate(dashboard::RECENT);
                v
            }
            None => Vec::new(),
        };
        let serving = status
            .as_ref()
            .map_or(d.plugin.clone(), |s| s.serving.clone());
        let plugin_name = serving.split('@').next().unwrap_or_default().to_string();
        let swappable: Vec<String> = self
            .registry
            .plugins()?
            .into_iter()
            .filter(|p| p.name == plugin_name)
            .map(|p| p.label())
            .filter(|l| *l != serving)
            .collect();
        Ok(serde_json::json!({
            "name": name,
            "stage": d.stage.to_string(),
            "status": status,
            "today": today,
            "board": board,
            "alerts": alerts,
            "swappable": swappable,
        }))
    }

    pub fn running(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .runs
            .lock()
            .expect("runs lock")
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// A deployment's status.
    pub fn status(&self, name: &str) -> anyhow::Result<DeploymentStatus> {
        let stage = self.registry.deployment(name)?.stage.to_string();
        let runs = self.runs.lock().expect("runs lock");
        let Some(run) = runs.get(name) else {
            match self.failed.lock().expect("failed lock").get(name) {
                Some(why) => anyhow::bail!("deployment `{name}` did not start: {why}"),
                None => anyhow::bail!("deployment `{name}` has not been started"),
            }
        };
        let s = run.status.lock().expect("status").clone();
        let mut ended = run.ended.lock().expect("ended").clone();
        if let Some(t) = run.trouble.lock().expect("trouble").clone() {
            ended = Some(ended.map_or(t.clone(), |e| format!("{e}; {t}")));
        }
        let feed = self
            .hubs
            .get(&run.spec.feed)
            .map(|h| {
                let f = h.status();
                FeedState {
                    name: run.spec.feed.clone(),
                    connection: f.connection,
                    stale: run.stale.load(Ordering::Relaxed),
                    last_error: f.last_error,
                }
            })
            .unwrap_or_default();
        let equity = if s.seq == 0 { run.capital } else { s.equity };
        let peak = s.peak_equity.max(equity);
        Ok(DeploymentStatus {
            name: name.into(),
            stage,
            seq: s.seq,
            serving: s.serving,
            standby: s.standby,
            equity,
            cash: if s.seq == 0 { run.capital } else { s.cash },
            pnl: equity - run.capital,
            drawdown: if peak > 0.0 { 1.0 - equity / peak } else { 0.0 },
            risk_state: s.risk_state,
            positions: s.positions,
            open_orders: s.open_orders,
            orders: s.orders,
            trades: s.trades,
            paused: s.paused,
            running: ended.is_none(),
            recovering: s.seq < run.recovered,
            ended,
            shadow: run.shadow.as_ref().map(|sh| sh.label.clone()),
            feed,
            last_bar: (s.last_bar_ms != i64::MIN && s.seq > 0)
                .then(|| crate::data::market::format_time(s.last_bar_ms)),
            journal: run.journal.clone(),
            ramp_up: s.ramp,
            account: self.account_of(name).map(|a| a.status(name)),
            venue: run.venue.as_ref().map(|v| {
                let c = *v.counts.lock().expect("counts lock");
                let p = v.problems.lock().expect("problems lock");
                VenueState {
                    name: v.name.clone(),
                    placed: c.placed,
                    unknown: c.unknown,
                    queries: c.queries,
                    retries: c.retries,
                    pushed: c.pushed,
                    stream_connects: c.stream_connects,
                    stream_up: c.stream_up,
                    problems: p.iter().rev().take(20).rev().cloned().collect(),
                }
            }),
        })
    }
}
