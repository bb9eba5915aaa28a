//! The journal sink of a running deployment: entries go to its redb
//! journal (committed before an order leaves), to its dashboard board, to
//! its metrics (time to fill) and to the alert rules that read entries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{dashboard, metrics, monitor};
use crate::data::live::Notes;
use crate::data::market::Bar;
use crate::store::journal::{Entry, Journal, JournalError, Recorder};

/// Intent entries kept in memory for shadow comparison, besides the journal.
pub(super) type Intents = Arc<Mutex<IntentLog>>;

/// A run's intent entries, kept only while something compares them: a
/// shadow's own run keeps all of them, a deployment's own run only while a
/// shadow runs beside it (a run without one keeps nothing: the journal has
/// them, and memory would grow with every bar).
#[derive(Debug, Default)]
pub(super) struct IntentLog {
    /// Keep what comes.
    pub(super) keep: bool,
    pub(super) entries: Vec<Entry>,
}

impl IntentLog {
    /// Start (or stop) keeping; either way, forget what was kept.
    pub(super) fn keep(&mut self, keep: bool) {
        self.keep = keep;
        self.entries = Vec::new();
    }
}
pub(super) type SharedJournal = Arc<Mutex<Journal>>;

/// Journals to a file (shared with the controller, which saves snapshots),
/// moves the feed's notes into it, and keeps intents for comparison.
pub(super) struct ServiceRecorder {
    pub(super) journal: SharedJournal,
    pub(super) notes: Notes,
    pub(super) intents: Intents,
    /// The deployment's name and its alerter, for the rules entries trigger.
    pub(super) name: String,
    pub(super) alerter: Option<Arc<monitor::Alerter>>,
    pub(super) metrics: metrics::DeploymentMetrics,
    /// Bars re-executed from the journal (not counted again).
    pub(super) recovered: u64,
    /// The dashboard's picture of the deployment (re-executed entries
    /// refill it after a restart).
    pub(super) board: Option<Board>,
    /// The run's symbol table (alerts name symbols).
    pub(super) symbols: Vec<String>,
    /// Market orders waiting for their first fill (the time-to-fill rule).
    pub(super) clock: FillClock,
    /// The version in service, as the entries last named it (alerts about
    /// entries that name none, such as a risk state change).
    pub(super) version: String,
    /// The refusals within the last [`monitor::REFUSAL_WINDOW_BARS`] bars
    /// (the `refusals` rule).
    pub(super) refused: monitor::Burst,
    /// The strategy's errors within the last [`monitor::ERROR_WINDOW_MS`]
    /// (the `errors` rule, beside the venue's: `venue_health.rs`).
    pub(super) errors: monitor::Burst,
    /// Bar time since the last fill (the `idle` rule).
    pub(super) quiet: monitor::Quiet,
    /// Open orders that close or protect a position (the `exit-refused`
    /// rule): id → what they are, as an alert says it.
    pub(super) exits: std::collections::HashMap<u64, String>,
}

/// When each market order became fillable and when it first filled.
///
/// Time to fill is the venue's time: from the moment the venue could fill
/// the order to its first execution. The simulated venue of a paper
/// deployment can fill a market order only on the next bar of its symbol,
/// so its clock starts when that bar arrives (what a bar interval takes is
/// the strategy's choice of bars, not the venue's latency); a live venue's
/// starts at submission. Limit and protective orders rest by design and are
/// not timed.
#[derive(Debug, Default)]
pub(super) struct FillClock {
    /// order id → (symbol, fillable since).
    pub(super) waiting: HashMap<u64, (u32, Option<Instant>)>,
}

impl FillClock {
    /// A market order was sent.
    pub(super) fn order(&mut self, id: u64, symbol: u32) {
        self.waiting.insert(id, (symbol, None));
    }

    /// A bar of `symbol` arrived: its waiting orders can fill from now.
    pub(super) fn bar(&mut self, symbol: u32, now: Instant) {
        for (s, since) in self.waiting.values_mut() {
            if *s == symbol && since.is_none() {
                *since = Some(now);
            }
        }
    }

    /// No order waits for its first fill.
    pub(super) fn idle(&self) -> bool {
        self.waiting.is_empty()
    }

    /// A fill of order `id`: the time it took, on its first fill.
    pub(super) fn fill(&mut self, id: u64, now: Instant) -> Option<Duration> {
        let (_, since) = self.waiting.remove(&id)?;
        since.map(|t| now.saturating_duration_since(t))
    }

    /// An order that ended without a fill.
    pub(super) fn forget(&mut self, id: u64) {
        self.waiting.remove(&id);
    }

    /// The time-to-fill metric and rule, from an entry as written.
    pub(super) fn on_entry(
        &mut self,
        entry: &Entry,
        metrics: &metrics::DeploymentMetrics,
        alerter: Option<&monitor::Alerter>,
        name: &str,
    ) {
        use crate::execution::{OrderKind, Origin};
        match entry {
            Entry::Order { order, .. }
                if order.kind == OrderKind::Market
                    && matches!(
                        order.origin,
                        Origin::Strategy | Origin::RiskFlatten | Origin::Rebalance
                    ) =>
            {
                self.order(order.id, order.symbol);
            }
            Entry::Cancel { order_id, .. } => self.forget(*order_id),
            Entry::Fill { fill, plugin, .. } => {
                let Some(took) = self.fill(fill.order_id, Instant::now()) else {
                    return;
                };
                let secs = took.as_secs_f64();
                metrics.time_to_fill_seconds.observe(secs);
                if let Some(a) = alerter
                    && let Some((level, threshold)) =
                        monitor::level_of(secs, a.config().time_to_fill_secs)
                {
                    a.raise(monitor::Raise::new(level, monitor::Rule::TimeToFill, name, plugin, format!(
                            "market order {} took {secs:.1} s to its first fill, over the {level} threshold {threshold:.0} s",
                            fill.order_id
                        )).value(secs).threshold(threshold).at_bar(crate::data::market::format_time(fill.time_ms)));
                }
            }
            _ => {}
        }
    }
}

/// A deployment's dashboard board, shared by its recorder, its controller and the API.
pub(super) type Board = Arc<Mutex<dashboard::Board>>;

impl ServiceRecorder {
    pub(super) fn take_notes(&self, j: &mut Journal) {
        let notes = std::mem::take(&mut *self.notes.lock().expect("notes lock"));
        for n in &notes {
            j.note(n);
        }
    }
}

impl Recorder for ServiceRecorder {
    fn record(&mut self, entry: Entry) -> Result<(), JournalError> {
        if let Some(b) = &self.board {
            b.lock().expect("board lock").entry(&entry);
        }
        if matches!(entry, Entry::Intent { .. }) {
            let mut log = self.intents.lock().expect("intents lock");
            if log.keep {
                log.entries.push(entry.clone());
            }
        }
        match &entry {
            Entry::Intent { plugin, .. }
            | Entry::Fill { plugin, .. }
            | Entry::Refusal { plugin, .. }
            | Entry::Amend { plugin, .. }
                if *plugin != self.version =>
            {
                plugin.clone_into(&mut self.version)
            }
            Entry::Swap { to, .. } => to.clone_into(&mut self.version),
            _ => {}
        }
        if let Entry::Fill { fill, .. } = &entry {
            // Re-executed fills count too: a restart does not restart the silence.
            self.quiet.happened(fill.time_ms);
        }
        let mut j = self.journal.lock().expect("journal lock");
        // Re-executed orders are tracked too (a flatten sent before a crash
        // and refused after it is told); only what is new is alerted.
        exit_refused(
            &mut self.exits,
            self.alerter.as_deref().filter(|_| !j.verifying()),
            &self.name,
            &self.version,
            &self.symbols,
            &entry,
        );
        if !j.verifying() {
            self.metrics.entry(&entry);
            if let Some(a) = &self.alerter {
                alert_on_entry(a, &self.name, &self.version, &self.symbols, &entry);
            }
            self.clock
                .on_entry(&entry, &self.metrics, self.alerter.as_deref(), &self.name);
            count_refusal(
                &mut self.refused,
                self.alerter.as_deref(),
                &self.name,
                &self.version,
                &entry,
            );
            count_strategy_error(
                &mut self.errors,
                self.alerter.as_deref(),
                &self.name,
                &self.version,
                &entry,
                crate::data::market::now_ms().max(0) as u64,
            );
        }
        j.record(entry)
    }

    fn keeps_inputs(&self) -> bool {
        true
    }

    fn input_bar(&mut self, seq: u64, bar: &Bar) -> Result<(), JournalError> {
        if let Some(a) = &self.alerter
            && let Some(hours) = a.config().idle_hours
        {
            let limit = (hours * 3_600_000.0) as i64;
            // Re-executed bars move the clock, and tell nothing again.
            if let Some(quiet) = self.quiet.silent_for(bar.time_ms, limit)
                && seq >= self.recovered
            {
                a.raise(
                    monitor::Raise::new(
                        monitor::Level::Warning,
                        monitor::Rule::Idle,
                        &self.name,
                        &self.version,
                        format!(
                            "no fill for {:.1} h of bars (the limit is {hours} h): the strategy \
                         has stopped trading, or cannot",
                            quiet as f64 / 3_600_000.0
                        ),
                    )
                    .value(quiet as f64 / 3_600_000.0)
                    .threshold(hours)
                    .at_bar(crate::data::market::format_time(bar.time_ms)),
                );
            }
        }
        if seq >= self.recovered {
            self.metrics.bars.inc();
            // Per bar: the clock is read only while a market order waits.
            if !self.clock.idle() {
                self.clock.bar(bar.symbol, Instant::now());
            }
        }
        let mut j = self.journal.lock().expect("journal lock");
        self.take_notes(&mut j);
        j.input_bar(seq, bar)
    }

    fn barrier(&mut self) -> Result<(), JournalError> {
        let mut j = self.journal.lock().expect("journal lock");
        self.take_notes(&mut j);
        if j.verifying() {
            return j.barrier();
        }
        let t = Instant::now();
        let r = j.barrier();
        self.metrics
            .journal_commit_seconds
            .observe(t.elapsed().as_secs_f64());
        r
    }
}

/// The `exit-refused` rule: an order that closes or protects a position (a
/// flatten of the risk engine, the kill switch or an operator; a
/// stop-loss) that the venue ends without filling it — refused by its
/// filters or its balance, expired — leaves the position open or
/// unprotected: CRITICAL, at once.
fn exit_refused(
    exits: &mut std::collections::HashMap<u64, String>,
    alerter: Option<&monitor::Alerter>,
    name: &str,
    version: &str,
    symbols: &[String],
    entry: &Entry,
) {
    use crate::execution::Origin;
    match entry {
        Entry::Order { order, .. }
            if matches!(order.origin, Origin::RiskFlatten | Origin::StopLoss) =>
        {
            let symbol = symbols
                .get(order.symbol as usize)
                .map_or("?", String::as_str);
            let what = format!(
                "order {} ({} {} {symbol}, {})",
                order.id,
                order.side.as_str(),
                order.quantity,
                order.origin.as_str()
            );
            exits.insert(order.id, what);
        }
        Entry::Fill { fill, .. } if fill.done => {
            exits.remove(&fill.order_id);
        }
        Entry::Cancel { order_id, .. } => {
            exits.remove(order_id);
        }
        Entry::Venue { note, .. } => {
            let (Some(why), Some(what)) = (&note.ended, exits.get(&note.order_id)) else {
                return;
            };
            if let Some(a) = alerter {
                a.raise(monitor::Raise::new(
                    monitor::Level::Critical,
                    monitor::Rule::ExitRefused,
                    name,
                    version,
                    format!(
                        "the venue ended {what} without filling it: {why}; the position \
                         stays open or unprotected until someone acts"
                    ),
                ));
            }
            exits.remove(&note.order_id);
        }
        _ => {}
    }
}

/// The `refusals` rule: a refusal counted with those of the last
/// [`monitor::REFUSAL_WINDOW_BARS`] bars, raised at its thresholds (a
/// condition: the cooldown holds back a burst that goes on).
fn count_refusal(
    refused: &mut monitor::Burst,
    alerter: Option<&monitor::Alerter>,
    name: &str,
    version: &str,
    entry: &Entry,
) {
    let Entry::Refusal {
        seq, rule, detail, ..
    } = entry
    else {
        return;
    };
    let n = refused.count(*seq, monitor::REFUSAL_WINDOW_BARS) as f64;
    let Some(a) = alerter else { return };
    if let Some((level, threshold)) = monitor::level_of(n, a.config().refusals) {
        a.raise(
                monitor::Raise::new(
                    level,
                    monitor::Rule::Refusals,
                    name,
                    version,
                    format!(
                        "{n} refusals in the last {} bars, over the {level} threshold {threshold} (latest: {} — {detail})",
                        monitor::REFUSAL_WINDOW_BARS,
                        rule.as_str()
                    ),
                )
                .value(n)
                .threshold(threshold),
            );
    }
}

/// The `errors` rule for the strategy's own errors (a delivery it
/// answered with an error: no intents taken): counted with those of the
/// last [`monitor::ERROR_WINDOW_MS`] by the host's clock at `now_ms`, raised
/// at the rule's thresholds as the venue's errors are.
fn count_strategy_error(
    errors: &mut monitor::Burst,
    alerter: Option<&monitor::Alerter>,
    name: &str,
    version: &str,
    entry: &Entry,
    now_ms: u64,
) {
    let Entry::StrategyError { seq, message } = entry else {
        return;
    };
    let n = errors.count(now_ms, monitor::ERROR_WINDOW_MS) as f64;
    if let Some(a) = alerter {
        a.raise_errors(
            name,
            version,
            n,
            "strategy errors",
            &format!(", at bar {seq}: {message}"),
        );
    }
}

/// Rules a journal entry triggers: a fill's slippage, a version change
/// (INFO), REDUCING (WARNING: new risk is refused, and says why).
pub(super) fn alert_on_entry(
    a: &monitor::Alerter,
    name: &str,
    version: &str,
    symbols: &[String],
    entry: &Entry,
) {
    match entry {
        Entry::State { change, .. } if change.to == crate::risk::TradingState::Reducing => {
            a.raise(monitor::Raise::new(
                monitor::Level::Warning,
                monitor::Rule::Reducing,
                name,
                version,
                format!(
                    "trading REDUCING by the risk engine (new risk refused, exits allowed): {}",
                    change.reason
                ),
            ));
        }
        Entry::Fill { fill, plugin, .. } if fill.quantity * fill.price > 0.0 => {
            let symbol = symbols
                .get(fill.symbol as usize)
                .map_or("?", String::as_str);
            let side = match fill.side {
                crate::execution::Side::Buy => "bought",
                crate::execution::Side::Sell => "sold",
            };
            a.raise(
                monitor::Raise::new(
                    monitor::Level::Info,
                    monitor::Rule::Fill,
                    name,
                    plugin,
                    format!(
                        "{side} {} {symbol} at {} ({}, order {}{})",
                        fill.quantity,
                        fill.price,
                        fill.origin.as_str(),
                        fill.order_id,
                        if fill.done { "" } else { ", partly" }
                    ),
                )
                .value(fill.price)
                .at_bar(crate::data::market::format_time(fill.time_ms)),
            );
            let bps = fill.slippage / (fill.quantity * fill.price) * 10_000.0;
            if let Some((level, threshold)) = monitor::level_of(bps, a.config().slippage_bps) {
                a.raise(monitor::Raise::new(level, monitor::Rule::Slippage, name, plugin, format!(
                        "order {} filled with {bps:.1} bps of slippage, over the {level} threshold {threshold:.1} bps",
                        fill.order_id
                    )).value(bps).threshold(threshold).at_bar(crate::data::market::format_time(fill.time_ms)));
            }
        }
        Entry::Swap {
            from,
            to,
            actor,
            reason,
            ..
        } => {
            a.raise(monitor::Raise::new(
                monitor::Level::Info,
                monitor::Rule::Swap,
                name,
                to,
                format!("{to} put in service (was {from}) by {actor}: {reason}"),
            ));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::{FillReport, Origin, Side};
    use std::path::Path;

    fn alerter(dir: &Path) -> Arc<monitor::Alerter> {
        let config: monitor::AlertsConfig = toml::from_str("").unwrap();
        monitor::Alerter::start(dir, config).unwrap()
    }

    fn fill(slippage_per_unit: f64) -> Entry {
        Entry::Fill {
            seq: 7,
            fill: FillReport {
                order_id: 3,
                symbol: 0,
                side: Side::Buy,
                quantity: 10.0,
                price: 100.0,
                commission: 0.0,
                slippage: slippage_per_unit * 10.0,
                time_ms: 0,
                origin: Origin::Strategy,
                done: true,
            },
            plugin: "p@1".into(),
        }
    }

    #[test]
    fn repeated_strategy_errors_warn_at_three_and_are_critical_past_five() {
        let dir = tempfile::tempdir().unwrap();
        let a = alerter(dir.path());
        let mut errors = monitor::Burst::default();
        let error = |seq: u64| Entry::StrategyError {
            seq,
            message: "no price for ETH".into(),
        };
        let minute = 60_000;
        // Two, then a third eleven minutes later: never three within ten minutes.
        for (seq, at) in [(1, 0), (2, minute), (3, 12 * minute)] {
            count_strategy_error(&mut errors, Some(&a), "d", "p@1", &error(seq), at);
        }
        assert!(a.history().unwrap().is_empty());
        // Then five more at once: six within ten minutes with the third.
        for seq in 4..=8 {
            count_strategy_error(&mut errors, Some(&a), "d", "p@1", &error(seq), 13 * minute);
        }
        let levels: Vec<_> = a
            .history()
            .unwrap()
            .iter()
            .map(|x| (x.level, x.rule, x.value))
            .collect();
        assert_eq!(
            levels,
            vec![
                (monitor::Level::Warning, monitor::Rule::Errors, Some(3.0)),
                (monitor::Level::Critical, monitor::Rule::Errors, Some(6.0)),
            ],
            "the third within the window warns, the sixth is critical"
        );
        let all = a.history().unwrap();
        assert!(
            all[1]
                .message
                .contains("latest, at bar 8: no price for ETH"),
            "{}",
            all[1].message
        );
    }

    #[test]
    fn a_flatten_or_a_stop_the_venue_ends_unfilled_is_critical_at_once() {
        use crate::execution::order_state::{OrderState, Update};
        use crate::execution::{Order, OrderKind, VenueNote};
        let dir = tempfile::tempdir().unwrap();
        let a = alerter(dir.path());
        let order = |id: u64, origin: Origin| Entry::Order {
            order: Order {
                id,
                symbol: 0,
                side: Side::Sell,
                quantity: 150.0,
                kind: OrderKind::Market,
                origin,
                decided_seq: 3,
                decided_ms: 0,
                reduce_only: true,
            },
            plugin: "p@1".into(),
        };
        let ended = |id: u64, why: &str| Entry::Venue {
            seq: 4,
            note: VenueNote {
                order_id: id,
                update: Update::Rejected { reason: why.into() },
                state: OrderState::Rejected,
                ended: Some(why.into()),
            },
        };
        let mut exits = std::collections::HashMap::new();
        let symbols = ["BTCUSDT".to_string()];
        let mut feed = |e: &Entry| exit_refused(&mut exits, Some(&a), "d", "p@1", &symbols, e);
        // A strategy's own order ended by the venue: the errors rule's, not this one's.
        feed(&order(1, Origin::Strategy));
        feed(&ended(1, "LOT_SIZE"));
        // A stop that filled, then a stray note: nothing.
        feed(&order(2, Origin::StopLoss));
        let mut done = fill(0.0);
        if let Entry::Fill { fill, .. } = &mut done {
            fill.order_id = 2;
        }
        feed(&done);
        feed(&ended(2, "EXPIRED"));
        // The kill switch's flatten, refused: told at once.
        feed(&order(3, Origin::RiskFlatten));
        feed(&ended(
            3,
            "MARKET_LOT_SIZE: quantity 150 is above maxQty 120",
        ));
        let all = a.history().unwrap();
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(
            (all[0].level, all[0].rule),
            (monitor::Level::Critical, monitor::Rule::ExitRefused)
        );
        assert_eq!(
            all[0].message,
            "CRITICAL d (p@1): the venue ended order 3 (sell 150 BTCUSDT, risk-flatten) without \
             filling it: MARKET_LOT_SIZE: quantity 150 is above maxQty 120; the position stays \
             open or unprotected until someone acts"
        );
    }

    #[test]
    fn reducing_is_alerted_as_a_warning_with_the_risk_engines_reason() {
        use crate::risk::{StateChange, TradingState};
        let dir = tempfile::tempdir().unwrap();
        let a = alerter(dir.path());
        let change = |to| Entry::State {
            seq: 4,
            change: StateChange {
                from: TradingState::Active,
                to,
                reason: "daily loss 2.10% reached its limit 2.00%".into(),
            },
        };
        alert_on_entry(&a, "d", "p@1", &[], &change(TradingState::Reducing));
        alert_on_entry(&a, "d", "p@1", &[], &change(TradingState::Active));
        let all = a.history().unwrap();
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(
            (all[0].level, all[0].rule),
            (monitor::Level::Warning, monitor::Rule::Reducing)
        );
        assert_eq!(
            all[0].message,
            "WARNING d (p@1): trading REDUCING by the risk engine (new risk refused, exits \
             allowed): daily loss 2.10% reached its limit 2.00%"
        );
    }

    #[test]
    fn a_fill_slipping_past_a_threshold_and_a_swap_raise_alerts() {
        let dir = tempfile::tempdir().unwrap();
        let a = alerter(dir.path());
        // 0.04 on 100 = 4 bps: nothing; 0.1 = 10 bps: WARNING; 0.2 = 20 bps: CRITICAL.
        for s in [0.04, 0.1, 0.2] {
            alert_on_entry(&a, "d", "p@1", &["X".into()], &fill(s));
        }
        alert_on_entry(
            &a,
            "d",
            "p@1",
            &[],
            &Entry::Swap {
                seq: 9,
                from: "p@1".into(),
                to: "p@2".into(),
                state_bytes: 0,
                actor: "alice".into(),
                reason: "better".into(),
            },
        );
        let all = a.history().unwrap();
        // Every fill is told at INFO, naming the symbol.
        let fills: Vec<&monitor::Alert> = all
            .iter()
            .filter(|x| x.rule == monitor::Rule::Fill)
            .collect();
        assert_eq!(fills.len(), 3);
        assert_eq!(
            fills[0].message,
            "INFO d (p@1): bought 10 X at 100 (strategy, order 3) at bar 1970-01-01"
        );
        let h: Vec<monitor::Alert> = all
            .into_iter()
            .filter(|x| x.rule != monitor::Rule::Fill)
            .collect();
        let got: Vec<(monitor::Level, &str)> =
            h.iter().map(|x| (x.level, x.rule.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (monitor::Level::Warning, "slippage"),
                (monitor::Level::Critical, "slippage"),
                (monitor::Level::Info, "swap"),
            ]
        );
        assert!(
            h[1].message
                .contains("20.0 bps of slippage, over the CRITICAL threshold 15.0 bps"),
            "{}",
            h[1].message
        );
        assert_eq!(
            h[2].message,
            "INFO d (p@2): p@2 put in service (was p@1) by alice: better"
        );
        // Within the cooldown the same rule and level is not raised again.
        alert_on_entry(&a, "d", "p@1", &["X".into()], &fill(0.2));
        let h = a.history().unwrap();
        assert_eq!(
            h.iter().filter(|x| x.rule != monitor::Rule::Fill).count(),
            3
        );
        assert_eq!(
            h.iter().filter(|x| x.rule == monitor::Rule::Fill).count(),
            4,
            "events are not held back"
        );
    }

    #[test]
    fn time_to_fill_runs_from_when_the_venue_could_fill_the_order() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut c = FillClock::default();
        c.order(1, 0);
        c.order(2, 1);
        c.bar(1, at(50)); // another symbol's bar: order 1 cannot fill yet
        c.bar(0, at(60_000)); // the next bar of symbol 0, a minute later
        c.bar(0, at(120_000)); // a later bar does not restart the clock
        assert_eq!(c.fill(1, at(120_003)), Some(Duration::from_millis(60_003)));
        assert_eq!(c.fill(1, at(130_000)), None, "only the first fill is timed");
        assert_eq!(c.fill(2, at(1_000)), Some(Duration::from_millis(950)));
        c.order(3, 0);
        c.forget(3);
        assert_eq!(
            c.fill(3, at(200_000)),
            None,
            "cancelled orders are not timed"
        );
        c.order(4, 0);
        assert_eq!(
            c.fill(4, at(1)),
            None,
            "filled before any bar: not a venue delay"
        );
        let a = alerter(tempfile::tempdir().unwrap().path());
        assert_eq!(
            monitor::level_of(60.0, a.config().time_to_fill_secs),
            Some((monitor::Level::Critical, 30.0))
        );
        assert_eq!(
            monitor::level_of(6.0, a.config().time_to_fill_secs),
            Some((monitor::Level::Warning, 5.0))
        );
        assert_eq!(monitor::level_of(0.001, a.config().time_to_fill_secs), None);
    }
}
