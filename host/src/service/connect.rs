//! Connecting a LIVE deployment (or a PAPER one on a broker's paper
//! account) to its venue: the connector, the courier,
//! the venue's pace shared across deployments, and the kill handle.

use anyhow::{Context, bail};

use super::run::*;
use super::{Service, monitor, plan, reconcile};
use crate::execution::live::Naming;

impl Service {
    /// Connect a LIVE deployment to its venue and reconcile its open orders
    /// with the journal before anything trades (see [`live`]).
    pub(super) fn connect_live(
        &self,
        name: &str,
        venue: &str,
        run_id: &str,
        fixed: &Fixed,
        resumed: &crate::store::journal::Resumed,
    ) -> anyhow::Result<(Box<dyn crate::execution::Venue + Send>, VenueHandle)> {
        let vc = self.config.venues.get(venue).with_context(|| {
            format!("deployment `{name}` trades on venue `{venue}`, which the configuration does not define")
        })?;
        let (mut connector, mut courier) = vc.connect(venue, &fixed.symbols)?;
        // An order proven unsent at a restart goes only while its bar is
        // fresh: two bar intervals unless configured.
        if courier.unsent_max_age_ms.is_none() {
            let interval = crate::data::live::interval_ms(&fixed.feed.interval)
                .map_err(|e| anyhow::anyhow!("deployment `{name}`: {e}"))?;
            courier.unsent_max_age_ms = Some(2 * interval.max(0) as u64);
        }
        let naming = naming(run_id);
        let open = reconcile::open_orders(connector.as_mut(), &fixed.symbols)
            .with_context(|| format!("deployment `{name}` on venue `{venue}`"))?;
        let adopted = reconcile::adopted(&self.registry, name)?;
        let unknown = reconcile::unknown_orders(&open, &naming, resumed.last_order, &adopted);
        let foreign = open
            .iter()
            .filter(|o| !o.client_id.starts_with(&naming.prefix))
            .count();
        if !unknown.is_empty() {
            let report = reconcile::report(&unknown);
            self.registry
                .note(name, "engine", reconcile::MISMATCH, &report)?;
            if let Some(a) = &self.alerter {
                a.raise(monitor::Raise::new(
                    monitor::Level::Critical,
                    monitor::Rule::Reconciliation,
                    name,
                    "",
                    format!("HALTED by reconciliation: {report}"),
                ));
            }
            bail!(
                "deployment `{name}` is HALTED by reconciliation: {report}; resolve it with `sandbar deploy reconcile {name} --adopt|--flatten --reason …`"
            );
        }
        self.registry.note(
            name,
            "engine",
            "reconcile",
            &format!(
                "venue {venue}: {} open orders of this run, {foreign} of others left alone",
                open.len() - foreign
            ),
        )?;
        let pace = self
            .venue_paces
            .lock()
            .expect("paces lock")
            .entry(venue.to_string())
            .or_insert_with(|| {
                crate::execution::live::Pace::new(courier.max_venue_orders_per_second)
            })
            .clone();
        let mut v = crate::execution::live::LiveVenue::sharing(
            connector,
            courier,
            fixed.symbols.clone(),
            naming.clone(),
            resumed.venue.clone(),
            resumed.bars.len() as u64,
            Some(pace),
        );
        // The courier's write-ahead record of its sends, beside the run's
        // journal (a PAPER run on a broker's paper account has its own).
        let live = plan::is_live(&self.registry.deployment(name)?)?;
        let sent_path =
            plan::journal_path(&self.config.journals, name, live).with_extension("sent");
        v.set_sent_log(
            crate::execution::live::SentLog::open(&sent_path)
                .with_context(|| format!("deployment `{name}`: {}", sent_path.display()))?,
        );
        let handle = VenueHandle {
            name: venue.to_string(),
            kill: v.kill_handle(),
            waker: v.waker.clone(),
            counts: v.counts.clone(),
            problems: v.problems.clone(),
            switch: crate::engine::KillSwitch::new(resumed.bars.len() as u64),
            naming,
            // With reconciliation while running, the first comparison
            // comes before the first new bar.
            cleared: (vc.reconcile().every_secs > 0.0).then(|| v.gate()),
            keep_orders: v.keep_orders(),
        };
        Ok((Box::new(v), handle))
    }
}

/// A new run's id: 10 hex digits from the OS's generator, so that a
/// deployment created again under the same name never reuses a client
/// order id (Alpaca refuses any id it has seen; Binance one still open).
pub(super) fn new_run_id() -> anyhow::Result<String> {
    let mut b = [0u8; 5];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("random run id: {e}"))?;
    Ok(crate::digest::hex(&b))
}

/// The client order ids of a run: `sb-<run id>-<order id>` (at most 34
/// characters: within Binance's 36 and Alpaca's 48).
pub(super) fn naming(run_id: &str) -> Naming {
    Naming {
        prefix: format!("sb-{run_id}-"),
    }
}
