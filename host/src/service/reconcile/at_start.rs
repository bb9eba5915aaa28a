//! Reconciliation at start: whether a LIVE deployment may trade, and how
//! an operator resolves a mismatch (`sandbar deploy reconcile`).
//!
//! At start (before the first bar) the venue's open orders are read:
//! - an order whose client order id carries this run's prefix but names an
//!   order the journal never wrote is a **mismatch** — something placed
//!   orders in this deployment's name that the host does not know of (a
//!   journal restored from an old copy, a second host on the same key). The
//!   deployment does not start: the report naming each order is kept in the
//!   audit trail (`reconcile-mismatch`), alerted, and stands until an
//!   operator resolves it with `sandbar deploy reconcile <name>
//!   --adopt|--flatten --reason …` (`reconcile-resolved`);
//! - every other order (no Sandbar prefix, or another run's) belongs to
//!   someone else and is left alone.
//!
//! Orders the journal knows are reconciled by the live venue itself at its
//! first bar after the journaled ones (see
//! [`crate::execution::live`]): looked up by client order id, fills
//! made while the host was down adopted, never-sent ones sent.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::bail;

use crate::execution::live::{Connector, Naming, OpenOrder, Outcome};
use crate::store::registry::Registry;

/// Audit actions of reconciliation.
pub const MISMATCH: &str = "reconcile-mismatch";
/// An operator resolved a mismatch.
pub const RESOLVED: &str = "reconcile-resolved";
/// An order an operator adopted (its client order id), left alone since.
pub const ADOPTED: &str = "reconcile-adopt";

/// The venue's open orders on `symbols`, waiting out what it asks to wait.
pub fn open_orders(c: &mut dyn Connector, symbols: &[String]) -> anyhow::Result<Vec<OpenOrder>> {
    for _ in 0..5 {
        match c.open_orders(symbols) {
            Outcome::Done(v) => return Ok(v),
            Outcome::Retry(after, why) => {
                tracing::warn!(%why, "open orders: retrying");
                std::thread::sleep(after.min(Duration::from_secs(10)));
            }
            Outcome::Unknown(why) | Outcome::Rejected(why) => {
                bail!("reading the venue's open orders: {why}")
            }
        }
    }
    bail!("reading the venue's open orders: the venue kept asking to wait")
}

/// Orders at the venue in this run's name that the journal does not know
/// (it wrote orders 1 to `last_order`), not adopted before.
pub fn unknown_orders(
    open: &[OpenOrder],
    naming: &Naming,
    last_order: u64,
    adopted: &HashSet<String>,
) -> Vec<OpenOrder> {
    open.iter()
        .filter(|o| o.client_id.starts_with(&naming.prefix))
        .filter(|o| {
            naming
                .order_id(&o.client_id)
                .is_none_or(|id| id > last_order || id == 0)
        })
        .filter(|o| !adopted.contains(&o.client_id))
        .cloned()
        .collect()
}

/// The mismatch standing for `name`, if the last reconciliation note is one.
pub fn standing_mismatch(registry: &Registry, name: &str) -> anyhow::Result<Option<String>> {
    let trail = registry.audit_trail(Some(name))?;
    Ok(trail
        .iter()
        .rev()
        .find(|e| e.action == MISMATCH || e.action == RESOLVED)
        .filter(|e| e.action == MISMATCH)
        .map(|e| e.to.clone().unwrap_or_default()))
}

/// Client order ids adopted for `name`.
pub fn adopted(registry: &Registry, name: &str) -> anyhow::Result<HashSet<String>> {
    Ok(registry
        .audit_trail(Some(name))?
        .into_iter()
        .filter(|e| e.action == ADOPTED)
        .filter_map(|e| e.to)
        .collect())
}

/// `sandbar deploy reconcile`: resolve `name`'s mismatch with the venue —
/// cancel the unknown orders (`adopt = false`) or adopt them as someone
/// else's — and record it. Returns the client order ids acted on.
pub fn resolve(
    registry: &Registry,
    file: &crate::service::config::ServiceFile,
    name: &str,
    adopt: bool,
    actor: &str,
    reason: &str,
) -> anyhow::Result<Vec<String>> {
    if reason.trim().is_empty() {
        bail!("reconciling `{name}` needs a reason (--reason)");
    }
    // A LIVE run's journal, or a PAPER run's on a broker's paper account.
    let live = crate::service::plan::is_live(&registry.deployment(name)?).unwrap_or(true);
    let path = crate::service::plan::journal_path(&file.data_dir.join("journals"), name, live);
    let reader = crate::store::journal::JournalReader::open(&path).map_err(|e| {
        anyhow::anyhow!(
            "deployment `{name}` has no journal at a venue ({}): {e}",
            path.display()
        )
    })?;
    let fixed: crate::service::run::Fixed = toml::from_str(&reader.meta()?.service)
        .map_err(|e| anyhow::anyhow!("{}: not a service journal: {e}", path.display()))?;
    let (Some(venue), Some(run_id)) = (&fixed.venue, &fixed.run_id) else {
        bail!("{}: not a LIVE run's journal", path.display());
    };
    let last_order = reader.last_order()?;
    drop(reader);
    let vc = file.venues.get(venue).ok_or_else(|| {
        anyhow::anyhow!("the configuration has no venue `{venue}` (the journal's)")
    })?;
    let (mut c, _) = vc.connect(venue, &fixed.symbols)?;
    let naming = crate::service::connect::naming(run_id);
    let open = open_orders(c.as_mut(), &fixed.symbols)?;
    let unknown = unknown_orders(&open, &naming, last_order, &adopted(registry, name)?);
    // Holdings: every LIVE journal on this venue against what it holds.
    let differences = if vc.reconcile().holdings || vc.reconcile().cash {
        holding_differences(file, venue, vc, c.as_mut())?
    } else {
        vec![]
    };
    if !adopt && let Some(d) = differences.first() {
        bail!(
            "{}; Sandbar does not trade a holding it cannot explain (it does not know whose it is): trade it at the venue yourself, or take it as someone else's with --adopt",
            d.describe()
        );
    }
    let mut done = Vec::new();
    if !differences.is_empty() {
        let book = super::VenueBook::open(&super::VenueBook::path(
            &file.data_dir.join("journals"),
            venue,
        ))?;
        for d in &differences {
            book.set_foreign(&d.symbol, d.foreign + d.amount())?;
            registry.note(name, actor, super::ADOPTED_HOLDING, &d.describe())?;
            done.push(format!("holding {} {:+}", d.symbol, d.amount()));
        }
    }
    for o in &unknown {
        if adopt {
            registry.note(name, actor, ADOPTED, &o.client_id)?;
        } else {
            loop {
                match c.cancel(&o.symbol, &o.client_id) {
                    Outcome::Done(()) => break,
                    Outcome::Retry(after, _) => {
                        std::thread::sleep(after.min(Duration::from_secs(10)))
                    }
                    Outcome::Rejected(why) | Outcome::Unknown(why) => {
                        bail!("cancelling {} at {venue}: {why}", o.client_id)
                    }
                }
            }
        }
        done.push(o.client_id.clone());
    }
    registry.note(
        name,
        actor,
        RESOLVED,
        &format!(
            "{} {}: {reason}",
            if adopt { "adopted" } else { "cancelled" },
            if done.is_empty() {
                "nothing".to_string()
            } else {
                done.join(", ")
            }
        ),
    )?;
    Ok(done)
}

/// The holdings at `venue` that its LIVE journals (the configured
/// deployments trading there) and the foreign holdings recorded for it do
/// not explain.
fn holding_differences(
    file: &crate::service::config::ServiceFile,
    venue: &str,
    vc: &crate::service::config::VenueConfig,
    c: &mut dyn Connector,
) -> anyhow::Result<Vec<super::Difference>> {
    use std::collections::BTreeMap;
    let journals_dir = file.data_dir.join("journals");
    let rc = vc.reconcile();
    let mut journals: BTreeMap<String, f64> = BTreeMap::new();
    let mut symbols = Vec::new();
    // LIVE runs on a venue that trades money, PAPER runs on a paper one.
    let on = |d: &&crate::service::config::DeploymentConfig| {
        d.venue.as_deref() == Some(venue) || d.paper_venue.as_deref() == Some(venue)
    };
    for d in file.deployments.iter().filter(on) {
        let live = d.venue.as_deref() == Some(venue);
        let path = crate::service::plan::journal_path(&journals_dir, &d.name, live);
        if !path.exists() {
            continue;
        }
        let reader = crate::store::journal::JournalReader::open(&path)?;
        let meta = reader.meta()?;
        symbols.extend(meta.symbols.iter().cloned());
        // A deployment's cash is one quote asset's (as the reconciler sees it).
        let mut quotes: Vec<String> = meta
            .symbols
            .iter()
            .filter_map(|s| c.quote_asset(s))
            .collect();
        quotes.sort();
        quotes.dedup();
        for e in reader.entries()? {
            if let crate::store::journal::Entry::Fill { fill, .. } = e {
                let s = meta
                    .symbols
                    .get(fill.symbol as usize)
                    .cloned()
                    .unwrap_or_default();
                let signed = fill.side.sign() * fill.quantity;
                *journals.entry(s).or_default() += signed;
                if let [quote] = &quotes[..] {
                    *journals.entry(super::cash_key(quote)).or_default() -=
                        signed * fill.price + fill.commission;
                }
            }
        }
    }
    symbols.sort();
    symbols.dedup();
    if symbols.is_empty() {
        return Ok(vec![]);
    }
    let book_path = super::VenueBook::path(&journals_dir, venue);
    if !book_path.exists() {
        return Ok(vec![]);
    }
    let foreign = super::VenueBook::open(&book_path)?.foreign()?;
    let held = waited(&format!("reading the holdings at {venue}"), || {
        c.holdings(&symbols)
    })?;
    // Only what was compared before (a foreign share recorded for it).
    let held: Vec<_> = held
        .into_iter()
        .filter(|(s, _)| foreign.contains_key(s))
        .collect();
    let mut out = if rc.holdings {
        super::differences(&held, &journals, &foreign, rc.tolerance)
    } else {
        vec![]
    };
    if rc.cash {
        let cash = waited(&format!("reading the cash at {venue}"), || c.cash(&symbols))?;
        let cash: Vec<_> = cash
            .into_iter()
            .map(|(a, q)| (super::cash_key(&a), q))
            .filter(|(k, _)| foreign.contains_key(k))
            .collect();
        out.extend(super::differences(
            &cash,
            &journals,
            &foreign,
            rc.cash_tolerance,
        ));
    }
    Ok(out)
}

/// What `ask` gets once the venue stops asking to wait (an error says `what`).
fn waited<T>(what: &str, mut ask: impl FnMut() -> Outcome<T>) -> anyhow::Result<T> {
    loop {
        match ask() {
            Outcome::Done(v) => return Ok(v),
            Outcome::Retry(after, _) => std::thread::sleep(after.min(Duration::from_secs(10))),
            Outcome::Rejected(why) | Outcome::Unknown(why) => bail!("{what}: {why}"),
        }
    }
}

/// The report of a mismatch, one line per difference.
pub fn report(unknown: &[OpenOrder]) -> String {
    unknown
        .iter()
        .map(|o| {
            format!(
                "open order {} on {} carries this deployment's prefix and is not in its journal",
                o.client_id, o.symbol
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_runs_orders_beyond_the_journal_are_unknown() {
        let n = crate::service::connect::naming("0a1b2c3d4e");
        let o = |id: &str| OpenOrder {
            client_id: id.into(),
            symbol: "BTCUSDT".into(),
        };
        let open = [
            o("sb-0a1b2c3d4e-3"),  // journaled
            o("sb-0a1b2c3d4e-9"),  // beyond the journal
            o("sb-0a1b2c3d4e-x"),  // ours in form, no order id
            o("sb-ffffffffff-12"), // another run's
            o("web_8a7f3c"),       // someone else's
            o("sb-0a1b2c3d4e-10"), // adopted before
        ];
        let adopted: HashSet<String> = ["sb-0a1b2c3d4e-10".to_string()].into();
        let unknown: Vec<String> = unknown_orders(&open, &n, 5, &adopted)
            .into_iter()
            .map(|o| o.client_id)
            .collect();
        assert_eq!(unknown, ["sb-0a1b2c3d4e-9", "sb-0a1b2c3d4e-x"]);
        assert!(n.client_id(u64::MAX).len() <= 36);
        assert_eq!(n.order_id("sb-0a1b2c3d4e-42"), Some(42));
    }
}
