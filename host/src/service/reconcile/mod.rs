//! Reconciliation while LIVE deployments run: the venue's holdings and open
//! orders against what the journals say, every `every_secs`.
//!
//! - **Holdings.** For each symbol, the account's holding at the venue must
//!   equal the sum of the positions of the LIVE deployments trading it there
//!   plus what someone else holds on the account (`foreign`): declared in
//!   `[venues.<name>.reconcile] foreign`, else measured at the first
//!   comparison (what the journals do not explain then is taken as someone
//!   else's, audited as `holdings-baseline`), and moved only by an
//!   operator's `deploy reconcile --adopt`. Kept in
//!   `journals/venue-<name>.redb`.
//! - **Orders.** An open order carrying a running deployment's prefix that
//!   its journal does not know (a second host on the same key, an old
//!   journal) — as at start.
//!
//! A run that starts (or restarts, after re-executing its journal and the
//! venue's first look) takes no new bar until a round found nothing about
//! it: the live venue's gate ([`crate::execution::live::LiveVenue::gate`]).
//! A symbol is compared only while no deployment has an order at the venue
//! that may still fill on it (every fill then has been booked; stops and
//! targets the host holds do not count), and a difference is believed only
//! when two rounds in a row see the same one — so an answer in flight is
//! never a mismatch. A believed difference HALTS the deployments concerned
//! as at start: their orders are cancelled at the venue, their strategies
//! paused (nothing is flattened: a position the host cannot explain is not
//! the host's to close), the report naming each difference is audited
//! (`reconcile-mismatch`) and alerted, and they do not start again until an
//! operator resolves it with `sandbar deploy reconcile`. Rounds that fail
//! (the venue does not answer, a credential revoked) are alerted on the
//! third in a row, once until one succeeds: a venue the host cannot compare
//! is one it cannot vouch for.

//!
//! Files: this one the rounds while deployments run; `at_start.rs`
//! reconciliation before a run's first bar and `deploy reconcile`;
//! `book.rs` what someone else holds; `difference.rs` differences and when
//! they are believed.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::execution::live::{Connector, Outcome, ReconcileConfig};

mod at_start;
mod book;
mod difference;

pub use at_start::*;
pub use book::*;
pub use difference::*;

/// A venue's reconciler between rounds.
#[derive(Default)]
struct Round {
    due: Option<std::time::Instant>,
    /// The connector and the symbols it was connected for.
    connector: Option<(Vec<String>, Box<dyn Connector>)>,
    suspects: Suspects,
    book: Option<VenueBook>,
    /// Connections of the venue's update streams seen at the last round:
    /// one more (a reconnect) brings the next round forward.
    connects: u64,
    /// When the last round began.
    last: Option<std::time::Instant>,
    /// Deployments halted by a mismatch: they wait for an operator, not
    /// for the next round.
    halted: std::collections::HashSet<String>,
    /// Rounds that failed in a row.
    failures: u32,
}

/// Record (or take as declared) what someone else holds under `key` the
/// first time it is compared; audited for `names`.
#[allow(clippy::too_many_arguments)]
fn baseline(
    service: &super::Service,
    book: &VenueBook,
    foreign: &mut BTreeMap<String, f64>,
    declared: &BTreeMap<String, f64>,
    venue: &str,
    key: &str,
    held: f64,
    journals: f64,
    names: &[String],
) -> anyhow::Result<()> {
    if foreign.contains_key(key) {
        return Ok(());
    }
    let (f, how) = match declared.get(key) {
        Some(f) => (*f, "declared".to_string()),
        None => (
            held - journals,
            format!("measured: the venue has {held}, the journals {journals}"),
        ),
    };
    book.set_foreign(key, f)?;
    foreign.insert(key.to_string(), f);
    for n in names {
        service.registry.note(
            n,
            "engine",
            BASELINE,
            &format!("venue {venue}: someone else holds {f} of {key} ({how})"),
        )?;
    }
    Ok(())
}

/// The venue's book of foreign holdings in `slot`, opened on first use.
fn open_book<'a>(
    slot: &'a mut Option<VenueBook>,
    journals: &Path,
    venue: &str,
) -> anyhow::Result<&'a VenueBook> {
    if slot.is_none() {
        *slot = Some(VenueBook::open(&VenueBook::path(journals, venue))?);
    }
    Ok(slot.as_ref().expect("opened"))
}

/// A running LIVE deployment as a round sees it.
/// Differences found in one round: (key, amount) to confirm next round,
/// and for each key the deployments concerned and the report's line.
#[derive(Default)]
struct Findings {
    found: Vec<(String, f64)>,
    reports: HashMap<String, (Vec<String>, String)>,
}

impl Findings {
    fn add(&mut self, key: String, amount: f64, names: Vec<String>, line: String) {
        self.found.push((key.clone(), amount));
        self.reports.insert(key, (names, line));
    }
}

struct Member {
    name: String,
    symbols: Vec<String>,
    status: crate::engine::Status,
    naming: crate::execution::live::Naming,
    kill: crate::execution::live::KillHandle,
    tx: std::sync::mpsc::Sender<crate::engine::Command<'static>>,
    /// Set when a round finds nothing about it: its new bars may go.
    cleared: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl super::Service {
    /// Compare every configured venue with the journals every
    /// `every_secs`, and alert on what happens at them
    /// (`venue_health.rs`), on a thread of its own, while the service lives.
    pub fn start_reconciler(self: &std::sync::Arc<Self>) {
        if self.config.venues.is_empty() {
            return;
        }
        let venues: Vec<String> = self
            .config
            .venues
            .iter()
            .filter(|(_, v)| v.reconcile().every_secs > 0.0)
            .map(|(n, _)| n.clone())
            .collect();
        let weak = std::sync::Arc::downgrade(self);
        std::thread::Builder::new()
            .name("reconcile".into())
            .spawn(move || {
                let mut rounds: HashMap<String, Round> = HashMap::new();
                let mut seen = HashMap::new();
                loop {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    let Some(service) = weak.upgrade() else {
                        return;
                    };
                    service.watch_venues(&mut seen);
                    for v in &venues {
                        let r = rounds.entry(v.clone()).or_default();
                        // After a reconnect of an update stream, at once;
                        // for a run waiting to be cleared, twice a second.
                        let connects = service.stream_connects(v);
                        let now = std::time::Instant::now();
                        if connects > r.connects {
                            r.connects = connects;
                            r.due = None;
                        } else if service.waiting_to_clear(v, &r.halted) {
                            let soon = r
                                .last
                                .map_or(now, |t| t + std::time::Duration::from_millis(500));
                            r.due = Some(r.due.map_or(soon, |d| d.min(soon)));
                        }
                        if r.due.is_some_and(|d| d > now) {
                            continue;
                        }
                        let every = service.config.venues[v].reconcile().every_secs;
                        r.last = Some(now);
                        match service.reconcile_round(v, r) {
                            // Nothing to compare yet (a run re-executing its
                            // journal): again at the next look.
                            Ok(false) => {}
                            Ok(true) => {
                                r.failures = 0;
                                r.due = Some(now + std::time::Duration::from_secs_f64(every))
                            }
                            Err(e) => {
                                tracing::warn!(venue = %v, "reconciliation round: {e:#}");
                                r.failures += 1;
                                if r.failures == 3 {
                                    service.round_failing(v, &format!("{e:#}"));
                                }
                                r.due = Some(now + std::time::Duration::from_secs_f64(every));
                            }
                        }
                    }
                }
            })
            .ok();
    }

    /// Whether a running deployment on `venue` (not `halted`) waits for its
    /// first clean comparison.
    fn waiting_to_clear(&self, venue: &str, halted: &std::collections::HashSet<String>) -> bool {
        let runs = self.runs.lock().expect("runs lock");
        runs.iter()
            .filter(|(name, _)| !halted.contains(*name))
            .map(|(_, r)| r)
            .filter(|r| r.ended.lock().expect("ended").is_none())
            .filter_map(|r| r.venue.as_ref())
            .filter(|v| v.name == venue)
            .any(|v| {
                v.cleared
                    .as_ref()
                    .is_some_and(|c| !c.load(std::sync::atomic::Ordering::SeqCst))
            })
    }

    /// The running deployments on `venue` and the version each serves.
    fn live_on(&self, venue: &str) -> Vec<(String, String)> {
        let runs = self.runs.lock().expect("runs lock");
        runs.iter()
            .filter(|(_, r)| r.venue.as_ref().is_some_and(|v| v.name == venue))
            .filter(|(_, r)| r.ended.lock().expect("ended").is_none())
            .map(|(n, r)| (n.clone(), r.status.lock().expect("status").serving.clone()))
            .collect()
    }

    /// Connections the update streams of `venue`'s running deployments made.
    fn stream_connects(&self, venue: &str) -> u64 {
        let runs = self.runs.lock().expect("runs lock");
        runs.values()
            .filter_map(|r| r.venue.as_ref())
            .filter(|v| v.name == venue)
            .map(|v| v.counts.lock().expect("counts lock").stream_connects)
            .sum()
    }

    /// One comparison of venue `venue` with its running deployments
    /// (`false`: none could be compared yet).
    fn reconcile_round(&self, venue: &str, r: &mut Round) -> anyhow::Result<bool> {
        let vc = &self.config.venues[venue];
        let rc = vc.reconcile().clone();
        let Some(members) = self.members(venue) else {
            // One is still re-executing its journal: compare later.
            return Ok(false);
        };
        // Those already halted by a mismatch wait for the operator.
        let (members, halted): (Vec<Member>, Vec<Member>) = members.into_iter().partition(|m| {
            standing_mismatch(&self.registry, &m.name)
                .ok()
                .flatten()
                .is_none()
        });
        r.halted.extend(halted.into_iter().map(|m| m.name));
        if members.is_empty() {
            return Ok(false);
        }
        let mut symbols: Vec<String> = members.iter().flat_map(|m| m.symbols.clone()).collect();
        symbols.sort();
        symbols.dedup();
        if r.connector.as_ref().is_none_or(|(s, _)| *s != symbols) {
            let (c, _) = vc.connect(venue, &symbols)?;
            r.connector = Some((symbols.clone(), c));
        }
        let mut f = Findings::default();
        let c = &mut r.connector.as_mut().expect("connector").1;
        self.unknown_orders(c.as_mut(), &members, &symbols, &mut f)?;
        if rc.holdings {
            self.compare_holdings(
                venue,
                &rc,
                c.as_mut(),
                &mut r.book,
                &members,
                &symbols,
                &mut f,
            )?;
        }
        if rc.cash {
            self.compare_cash(
                venue,
                &rc,
                c.as_mut(),
                &mut r.book,
                &members,
                &symbols,
                &mut f,
            )?;
        }
        self.settle(r, &rc, &members, f)?;
        Ok(true)
    }

    /// The venue's running deployments, or `None` while one of them is
    /// still re-executing its journal.
    fn members(&self, venue: &str) -> Option<Vec<Member>> {
        let runs = self.runs.lock().expect("runs lock");
        let mut out = Vec::new();
        for (name, run) in runs.iter() {
            let Some(v) = &run.venue else { continue };
            if v.name != venue || run.ended.lock().expect("ended").is_some() {
                continue;
            }
            let status = run.status.lock().expect("status").clone();
            if status.seq < run.recovered {
                return None;
            }
            out.push(Member {
                name: name.clone(),
                symbols: run.symbols.clone(),
                status,
                naming: v.naming.clone(),
                kill: v.kill.clone(),
                tx: run.tx.clone(),
                cleared: v.cleared.clone(),
            });
        }
        Some(out)
    }

    /// Orders in a running deployment's name that its journal does not know.
    fn unknown_orders(
        &self,
        c: &mut dyn Connector,
        members: &[Member],
        symbols: &[String],
        f: &mut Findings,
    ) -> anyhow::Result<()> {
        let open = match c.open_orders(symbols) {
            Outcome::Done(v) => v,
            other => anyhow::bail!("open orders: {}", outcome_text(&other)),
        };
        for m in members {
            let adopted = adopted(&self.registry, &m.name)?;
            for o in unknown_orders(&open, &m.naming, m.status.orders, &adopted) {
                f.add(
                    format!("order {}", o.client_id),
                    1.0,
                    vec![m.name.clone()],
                    report(&[o]),
                );
            }
        }
        Ok(())
    }

    /// Holdings, of the symbols no deployment has an order open on: the
    /// venue's against the journals' plus someone else's share.
    #[allow(clippy::too_many_arguments)]
    fn compare_holdings(
        &self,
        venue: &str,
        rc: &ReconcileConfig,
        c: &mut dyn Connector,
        book_slot: &mut Option<VenueBook>,
        members: &[Member],
        symbols: &[String],
        f: &mut Findings,
    ) -> anyhow::Result<()> {
        let quiet: Vec<String> = symbols
            .iter()
            .filter(|s| !members.iter().any(|m| m.status.in_motion.contains(s)))
            .cloned()
            .collect();
        if quiet.is_empty() {
            return Ok(());
        }
        {
            let held = match c.holdings(&quiet) {
                Outcome::Done(v) => v,
                other => anyhow::bail!("holdings: {}", outcome_text(&other)),
            };
            let mut journals: BTreeMap<String, f64> = BTreeMap::new();
            for m in members {
                for (s, q, _) in &m.status.positions {
                    *journals.entry(s.clone()).or_default() += q;
                }
            }
            let book = open_book(book_slot, &self.config.journals, venue)?;
            let mut foreign = book.foreign()?;
            // The deployments trading a symbol.
            let traders = |s: &String| -> Vec<String> {
                members
                    .iter()
                    .filter(|m| m.symbols.contains(s))
                    .map(|m| m.name.clone())
                    .collect()
            };
            for (s, q) in &held {
                let names = traders(s);
                let j = journals.get(s).copied().unwrap_or(0.0);
                baseline(
                    self,
                    book,
                    &mut foreign,
                    &rc.foreign,
                    venue,
                    s,
                    *q,
                    j,
                    &names,
                )?;
            }
            for d in differences(&held, &journals, &foreign, rc.tolerance) {
                f.add(
                    format!("holding {}", d.symbol),
                    d.amount(),
                    traders(&d.symbol),
                    format!("venue {venue}: {}", d.describe()),
                );
            }
        }
        Ok(())
    }

    /// Cash: each quote asset's balance against what the deployments
    /// trading against it paid and received (their cash less their
    /// capital), compared while none of them has an order open.
    #[allow(clippy::too_many_arguments)]
    fn compare_cash(
        &self,
        venue: &str,
        rc: &ReconcileConfig,
        c: &mut dyn Connector,
        book_slot: &mut Option<VenueBook>,
        members: &[Member],
        symbols: &[String],
        f: &mut Findings,
    ) -> anyhow::Result<()> {
        // Cash: each quote asset's balance against what the deployments
        // trading against it paid and received (their cash less their
        // capital), compared while none of them has an order open.
        {
            let mut flows: BTreeMap<String, (f64, Vec<String>, bool)> = BTreeMap::new();
            for m in members {
                let mut assets: Vec<String> =
                    m.symbols.iter().filter_map(|s| c.quote_asset(s)).collect();
                assets.sort();
                assets.dedup();
                // One cash per deployment: its books do not split it by asset.
                let [asset] = &assets[..] else { continue };
                let e = flows.entry(cash_key(asset)).or_default();
                e.0 += m.status.cash - m.status.capital;
                e.1.push(m.name.clone());
                e.2 |= !m.status.in_motion.is_empty();
            }
            flows.retain(|_, (_, _, busy)| !*busy);
            if !flows.is_empty() {
                let balances = match c.cash(symbols) {
                    Outcome::Done(v) => v,
                    other => anyhow::bail!("cash: {}", outcome_text(&other)),
                };
                let held: Vec<(String, f64)> = balances
                    .into_iter()
                    .map(|(a, q)| (cash_key(&a), q))
                    .filter(|(k, _)| flows.contains_key(k))
                    .collect();
                let book = open_book(book_slot, &self.config.journals, venue)?;
                let mut foreign = book.foreign()?;
                let journals: BTreeMap<String, f64> =
                    flows.iter().map(|(k, v)| (k.clone(), v.0)).collect();
                for (k, q) in &held {
                    baseline(
                        self,
                        book,
                        &mut foreign,
                        &rc.foreign,
                        venue,
                        k,
                        *q,
                        journals[k],
                        &flows[k].1,
                    )?;
                }
                for d in differences(&held, &journals, &foreign, rc.cash_tolerance) {
                    f.add(
                        format!("cash {}", d.symbol),
                        d.amount(),
                        flows[&d.symbol].1.clone(),
                        format!("venue {venue}: {}", d.describe()),
                    );
                }
            }
        }
        Ok(())
    }

    /// What was found: a member nothing was found about may trade its new
    /// bars; a difference seen twice in a row halts the members concerned.
    fn settle(
        &self,
        r: &mut Round,
        rc: &ReconcileConfig,
        members: &[Member],
        f: Findings,
    ) -> anyhow::Result<()> {
        // A member nothing was found about may trade its new bars.
        for m in members {
            let suspected = f
                .found
                .iter()
                .filter_map(|(k, _)| f.reports.get(k))
                .any(|(names, _)| names.contains(&m.name));
            if !suspected && let Some(c) = &m.cleared {
                c.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let confirmed = r
            .suspects
            .confirm(f.found, rc.tolerance.max(rc.cash_tolerance));
        for m in members {
            let lines: Vec<&str> = confirmed
                .iter()
                .filter_map(|k| f.reports.get(k))
                .filter(|(names, _)| names.contains(&m.name))
                .map(|(_, line)| line.as_str())
                .collect();
            if !lines.is_empty() {
                self.halt_mismatched(m, &lines.join("; "))?;
                r.halted.insert(m.name.clone());
            }
        }
        Ok(())
    }

    /// A believed mismatch: cancel the deployment's orders at the venue,
    /// Three rounds in a row failed: every LIVE deployment on `venue` is
    /// told (the alert names the venue and the error).
    fn round_failing(&self, venue: &str, error: &str) {
        let Some(a) = &self.alerter else { return };
        for (name, serving) in self.live_on(venue) {
            a.raise(super::monitor::Raise::new(
                super::monitor::Level::Warning,
                super::monitor::Rule::Reconciliation,
                &name,
                &serving,
                format!(
                    "venue {venue}: reconciliation failed three rounds in a row ({error}); \
                     the books are not being compared with the account"
                ),
            ));
        }
    }

    /// pause its strategy, audit and alert; it stays HALTED until an
    /// operator runs `deploy reconcile`.
    fn halt_mismatched(&self, m: &Member, report: &str) -> anyhow::Result<()> {
        tracing::error!(deployment = %m.name, %report, "reconciliation mismatch");
        self.registry.note(&m.name, "engine", MISMATCH, report)?;
        m.kill.cancel_all();
        let _ = m.tx.send(crate::engine::Command::Pause {
            actor: "reconciliation".into(),
            reason: format!("HALTED by reconciliation: {report}"),
        });
        let _ = self.registry.transition(
            &m.name,
            crate::lifecycle::Move::Pause,
            Some(format!("HALTED by reconciliation: {report}")),
            false,
            &crate::lifecycle::GateConfig::default(),
            "reconciliation",
        );
        if let Some(a) = &self.alerter {
            a.raise(super::monitor::Raise::new(super::monitor::Level::Critical, super::monitor::Rule::Reconciliation, &m.name, &m.status.serving, format!(
                    "HALTED by reconciliation: {report}; resolve it with `sandbar deploy reconcile {} --adopt|--flatten --reason …`",
                    m.name
                )));
        }
        Ok(())
    }
}

fn outcome_text<T>(o: &Outcome<T>) -> String {
    match o {
        Outcome::Done(_) => "done".into(),
        Outcome::Rejected(w) | Outcome::Unknown(w) => w.clone(),
        Outcome::Retry(after, w) => format!("{w} (retry after {after:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holding_is_explained_by_the_journals_and_someone_elses_share() {
        let held = vec![("BTCUSDT".to_string(), 1.5), ("ETHUSDT".to_string(), 2.0)];
        let journals = [("BTCUSDT".to_string(), 0.5)].into();
        let foreign = [("BTCUSDT".to_string(), 1.0), ("ETHUSDT".to_string(), 1.0)].into();
        let d = differences(&held, &journals, &foreign, 1e-8);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].symbol, "ETHUSDT");
        assert_eq!(d[0].amount(), 1.0);
        assert_eq!(
            d[0].describe(),
            "holding of ETHUSDT: the venue has 2, the journals 0 and someone else 1 — +1 unexplained"
        );
    }

    #[test]
    fn a_difference_is_believed_when_two_rounds_see_it_the_same() {
        let mut s = Suspects::default();
        assert!(s.confirm(vec![("BTCUSDT".into(), 0.5)], 1e-8).is_empty());
        // In flight: it changed, not yet.
        assert!(s.confirm(vec![("BTCUSDT".into(), 0.25)], 1e-8).is_empty());
        assert_eq!(s.confirm(vec![("BTCUSDT".into(), 0.25)], 1e-8), ["BTCUSDT"]);
        // Gone, then back: counted from its return.
        assert!(s.confirm(vec![], 1e-8).is_empty());
        assert!(s.confirm(vec![("BTCUSDT".into(), 0.25)], 1e-8).is_empty());
    }

    #[test]
    fn the_venue_book_keeps_foreign_holdings() {
        let dir = tempfile::tempdir().unwrap();
        let p = VenueBook::path(dir.path(), "bx");
        let b = VenueBook::open(&p).unwrap();
        b.set_foreign("BTCUSDT", 0.75).unwrap();
        drop(b);
        let b = VenueBook::open(&p).unwrap();
        assert_eq!(b.foreign().unwrap()["BTCUSDT"], 0.75);
    }
}
