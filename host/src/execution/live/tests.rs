//! The live venue against a scripted connector: what it sends, what it
//! books, and that recovery from the journaled notes is exact.
use super::*;
use crate::execution::Origin;
use crate::execution::approved::SubmitUnchecked;
use std::time::{Duration, Instant};

/// A venue whose answers the test writes.
#[derive(Default)]
struct Script {
    /// Placements received.
    placed: Vec<Placement>,
    /// Queries received (client ids).
    queried: Vec<String>,
    /// Cancels received.
    cancelled: Vec<String>,
    /// Answers to placements, in order (then: filled at 100).
    place: Vec<Outcome<Report>>,
    /// Answers to queries, in order (then: `fallback`).
    query: Vec<Outcome<Option<Report>>>,
    fallback: Option<Report>,
    /// Stops and targets rest at the venue, as lists of whole quantities
    /// only (Alpaca's OCO).
    whole_lists: bool,
    /// Stops rest at the venue, which trails them by a fraction (as
    /// Binance's `trailingDelta`, 10 to 2000 BIPS).
    trails: bool,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Script>>);

fn filled(id: &str, q: f64) -> Report {
    Report {
        status: Status::Filled,
        executions: vec![Execution {
            id: id.into(),
            quantity: q,
            price: 100.0,
            commission: 0.1,
            fee_base: 0.0,
        }],
    }
}

impl Connector for Fake {
    fn prepare(&mut self, p: Placement) -> Result<Placement, String> {
        if p.quantity < 0.5 {
            return Err("LOT_SIZE: too small".into());
        }
        Ok(p)
    }
    fn place(&mut self, p: &Placement) -> Outcome<Report> {
        let mut s = self.0.lock().unwrap();
        s.placed.push(p.clone());
        if s.place.is_empty() {
            Outcome::Done(filled(&format!("t{}", s.placed.len()), p.quantity))
        } else {
            s.place.remove(0)
        }
    }
    fn cancel(&mut self, _: &str, client_id: &str) -> Outcome<()> {
        self.0.lock().unwrap().cancelled.push(client_id.into());
        Outcome::Rejected("-2011 Unknown order sent.".into())
    }
    fn query(&mut self, _: &str, client_id: &str) -> Outcome<Option<Report>> {
        let mut s = self.0.lock().unwrap();
        s.queried.push(client_id.into());
        if s.query.is_empty() {
            Outcome::Done(s.fallback.clone())
        } else {
            s.query.remove(0)
        }
    }
    fn open_orders(&mut self, _: &[String]) -> Outcome<Vec<OpenOrder>> {
        Outcome::Done(vec![])
    }
    fn holds_stops(&self) -> bool {
        let s = self.0.lock().unwrap();
        s.whole_lists || s.trails
    }
    fn native_trail(&mut self, _: &str) -> NativeTrail {
        if !self.0.lock().unwrap().trails {
            return NativeTrail::default();
        }
        NativeTrail {
            fraction_step: Some(0.0001),
            sell: (0.001, 0.2),
            buy: (0.001, 0.2),
            listed: true,
            fractional: true,
            ..NativeTrail::default()
        }
    }
    fn holds_targets(&self) -> bool {
        self.0.lock().unwrap().whole_lists
    }
    fn lists_fractional(&self) -> bool {
        !self.0.lock().unwrap().whole_lists
    }
}

fn config() -> CourierConfig {
    CourierConfig {
        poll_ms: 20,
        not_found_grace_ms: 150,
        max_orders_per_second: 1000.0,
        max_venue_orders_per_second: 1000.0,
        max_retry_ms: 50,
        stream_poll_ms: 1000,
        unsent_max_age_ms: None,
    }
}

fn venue(fake: &Fake, journaled: Vec<(u64, VenueNote)>, recovered: u64) -> LiveVenue {
    LiveVenue::new(
        Box::new(fake.clone()),
        config(),
        vec!["BTCUSDT".into()],
        Naming {
            prefix: "sb-test-".into(),
        },
        journaled,
        recovered,
    )
}

fn bar(t: i64) -> Bar {
    Bar {
        symbol: 0,
        time_ms: t,
        open: 100.0,
        high: 101.0,
        low: 99.0,
        close: 100.0,
        volume: 10.0,
    }
}

fn order(id: u64, kind: OrderKind, q: f64) -> Order {
    Order {
        id,
        symbol: 0,
        side: Side::Buy,
        quantity: q,
        kind,
        origin: Origin::Strategy,
        decided_seq: 0,
        decided_ms: 0,
        reduce_only: false,
    }
}

/// Bars until the courier's answers have arrived: (notes, fills) of each.
fn step(v: &mut LiveVenue, seq: u64, out: &mut Vec<(u64, VenueNote)>) -> Vec<FillReport> {
    let mut fills = Vec::new();
    while let Some((n, f)) = v.next_note(seq) {
        out.push((seq, n));
        fills.extend(f);
    }
    v.begin_bar(&bar(seq as i64 * 60_000), seq, 0.0);
    fills
}

fn until<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(x) = f() {
            return x;
        }
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_fill_is_noted_then_booked_at_the_next_bar_and_recovery_repeats_it_without_sending() {
    let fake = Fake::default();
    let mut v = venue(&fake, vec![], 0);
    let mut notes = Vec::new();
    assert!(step(&mut v, 0, &mut notes).is_empty());
    v.submit_unchecked(order(1, OrderKind::Market, 2.0));
    until(|| (!v.inbox.lock().unwrap().is_empty()).then_some(()));
    let fills = step(&mut v, 1, &mut notes);
    assert_eq!(fills.len(), 1);
    assert_eq!(
        (
            fills[0].quantity,
            fills[0].price,
            fills[0].commission,
            fills[0].done
        ),
        (2.0, 100.0, 0.1, true)
    );
    let states: Vec<OrderState> = notes.iter().map(|(_, n)| n.state).collect();
    assert_eq!(states, [OrderState::Accepted, OrderState::Filled]);
    assert_eq!(fake.0.lock().unwrap().placed[0].client_id, "sb-test-1");

    // Recovery: the same order submitted again while re-executing, the
    // journaled notes fed back at their bars — the same fills, nothing sent.
    let again = Fake::default();
    again.0.lock().unwrap().fallback = Some(filled("t1", 2.0));
    let mut r = venue(&again, notes.clone(), 2);
    let mut renotes = Vec::new();
    step(&mut r, 0, &mut renotes);
    r.submit_unchecked(order(1, OrderKind::Market, 2.0));
    assert_eq!(step(&mut r, 1, &mut renotes), fills);
    assert_eq!(renotes, notes);
    assert!(again.0.lock().unwrap().placed.is_empty());
    // Live again: the finished order is not looked up, nothing is resent.
    step(&mut r, 2, &mut renotes);
    std::thread::sleep(Duration::from_millis(100));
    let s = again.0.lock().unwrap();
    assert!(s.placed.is_empty() && s.queried.is_empty());
}

#[test]
fn an_order_the_journal_left_open_is_looked_up_first_and_its_fills_adopted_once() {
    // The previous run placed order 1 and heard it was accepted; the
    // venue filled it while the host was down.
    let note = VenueNote {
        order_id: 1,
        update: Update::Accepted,
        state: OrderState::Accepted,
        ended: None,
    };
    let fake = Fake::default();
    fake.0.lock().unwrap().fallback = Some(filled("t9", 2.0));
    let mut v = venue(&fake, vec![(1, note)], 2);
    let mut notes = Vec::new();
    step(&mut v, 0, &mut notes);
    v.submit_unchecked(order(1, OrderKind::Limit(99.5), 2.0));
    step(&mut v, 1, &mut notes);
    step(&mut v, 2, &mut notes); // goes live: looks order 1 up
    let fills = until(|| {
        let f = step(&mut v, 3, &mut Vec::new());
        (!f.is_empty()).then_some(f)
    });
    assert_eq!(fills.len(), 1, "adopted once");
    // Polling goes on reporting the same execution: never booked twice.
    std::thread::sleep(Duration::from_millis(100));
    assert!(step(&mut v, 4, &mut Vec::new()).is_empty());
    let s = fake.0.lock().unwrap();
    assert!(s.placed.is_empty(), "found at the venue: not sent again");
    assert_eq!(s.queried[0], "sb-test-1");
}

#[test]
fn an_unknown_placement_is_looked_up_and_never_resent_however_long_it_is_not_found() {
    // Found on the second lookup: placed once.
    let fake = Fake::default();
    {
        let mut s = fake.0.lock().unwrap();
        s.place = vec![Outcome::Unknown("timeout".into())];
        s.query = vec![Outcome::Done(None), Outcome::Done(Some(filled("t1", 2.0)))];
    }
    let mut v = venue(&fake, vec![], 0);
    step(&mut v, 0, &mut Vec::new());
    v.submit_unchecked(order(1, OrderKind::Market, 2.0));
    let fills = until(|| {
        let f = step(&mut v, 1, &mut Vec::new());
        (!f.is_empty()).then_some(f)
    });
    assert_eq!(fills.len(), 1);
    assert_eq!(fake.0.lock().unwrap().placed.len(), 1);
    assert_eq!(v.counts.lock().unwrap().unknown, 1);

    // Not found through the grace period: a client order id may be taken
    // again once its order filled (Binance), so a resend could be a second
    // order. Never resent: the engine hears `Unknown`, polling goes on.
    let fake = Fake::default();
    fake.0.lock().unwrap().place = vec![Outcome::Unknown("HTTP 503".into())];
    let started = Instant::now();
    let mut v = venue(&fake, vec![], 0);
    step(&mut v, 0, &mut Vec::new());
    v.submit_unchecked(order(1, OrderKind::Market, 2.0));
    let mut notes = Vec::new();
    until(|| {
        step(&mut v, 1, &mut notes);
        notes
            .iter()
            .any(|(_, n)| matches!(n.update, Update::Unknown { .. }))
            .then_some(())
    });
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "not before the grace"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(fake.0.lock().unwrap().placed.len(), 1, "never resent");
    // The venue shows it at last (filled): booked, once.
    fake.0.lock().unwrap().fallback = Some(filled("t1", 2.0));
    let fills = until(|| {
        let f = step(&mut v, 2, &mut notes);
        (!f.is_empty()).then_some(f)
    });
    assert_eq!(fills.len(), 1);
    let s = fake.0.lock().unwrap();
    assert_eq!(s.placed.len(), 1);
    assert!(s.queried.len() >= 2);
}

#[test]
fn an_unknown_placement_is_never_resent_while_the_venue_does_not_answer_lookups() {
    let fake = Fake::default();
    {
        let mut s = fake.0.lock().unwrap();
        s.place = vec![Outcome::Unknown("timeout".into())];
        s.query = (0..100)
            .map(|_| Outcome::Unknown("HTTP 503".into()))
            .collect();
        s.fallback = Some(filled("t1", 2.0));
    }
    let mut v = venue(&fake, vec![], 0);
    step(&mut v, 0, &mut Vec::new());
    v.submit_unchecked(order(1, OrderKind::Market, 2.0));
    until(|| {
        let p = v.problems.lock().unwrap();
        p.iter().any(|p| p.contains("never resent")).then_some(())
    });
    assert_eq!(fake.0.lock().unwrap().placed.len(), 1, "not resent blind");
    // The polling goes on and finds it (the fallback: filled).
    until(|| {
        let f = step(&mut v, 1, &mut Vec::new());
        (!f.is_empty()).then_some(())
    });
    assert_eq!(fake.0.lock().unwrap().placed.len(), 1, "placed once");
}

/// A restart with order 1 journaled, no note of it, and the venue not
/// showing it: what the courier's record of its sends says decides.
fn restart_with_an_unanswered_order(sent: &[&str]) -> (Fake, LiveVenue, Vec<(u64, VenueNote)>) {
    restart_with(sent, None, 0, Origin::Strategy)
}

/// As [`restart_with_an_unanswered_order`], the courier refusing unsent
/// strategy orders older than `max_age_ms`, order 1 decided at `decided_ms`.
fn restart_with(
    sent: &[&str],
    max_age_ms: Option<u64>,
    decided_ms: i64,
    origin: Origin,
) -> (Fake, LiveVenue, Vec<(u64, VenueNote)>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d-live.sent");
    let mut log = SentLog::open(&path).unwrap();
    for id in sent {
        log.mark(id).unwrap();
    }
    drop(log);
    let fake = Fake::default();
    let mut v = LiveVenue::new(
        Box::new(fake.clone()),
        CourierConfig {
            unsent_max_age_ms: max_age_ms,
            ..config()
        },
        vec!["BTCUSDT".into()],
        Naming {
            prefix: "sb-test-".into(),
        },
        vec![],
        1,
    );
    v.set_sent_log(SentLog::open(&path).unwrap());
    let mut notes = Vec::new();
    step(&mut v, 0, &mut notes);
    v.submit_unchecked(Order {
        decided_ms,
        origin,
        ..order(1, OrderKind::Market, 2.0)
    });
    step(&mut v, 1, &mut notes); // goes live: looks order 1 up
    (fake, v, notes)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn a_strategy_order_proven_unsent_is_refused_at_restart_once_its_bar_is_too_old() {
    let (fake, mut v, mut notes) =
        restart_with(&[], Some(120_000), now_ms() - 600_000, Origin::Strategy);
    until(|| {
        step(&mut v, 2, &mut notes);
        notes
            .iter()
            .any(|(_, n)| n.state == OrderState::Rejected)
            .then_some(())
    });
    let note = notes
        .iter()
        .find(|(_, n)| n.state == OrderState::Rejected)
        .unwrap();
    let reason = note.1.ended.as_deref().unwrap();
    assert!(
        reason.contains("600 s old") && reason.contains("unsent_max_age_ms"),
        "{reason}"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        fake.0.lock().unwrap().placed.is_empty(),
        "a stale decision is never sent"
    );
    let problems = v.problems.lock().unwrap();
    assert!(
        problems.iter().any(|p| p.contains("not sent")),
        "{problems:?}"
    );
}

#[test]
fn a_fresh_strategy_order_and_an_old_protective_one_are_sent_at_restart() {
    for (decided_ms, origin) in [
        (now_ms() - 10_000, Origin::Strategy),
        (now_ms() - 600_000, Origin::StopLoss),
        (now_ms() - 600_000, Origin::RiskFlatten),
    ] {
        let (fake, mut v, mut notes) = restart_with(&[], Some(120_000), decided_ms, origin);
        until(|| (!step(&mut v, 2, &mut notes).is_empty()).then_some(()));
        assert_eq!(fake.0.lock().unwrap().placed.len(), 1, "{origin:?}");
    }
}

#[test]
fn an_order_journaled_but_never_recorded_as_sent_is_sent_at_restart() {
    let (fake, mut v, mut notes) = restart_with_an_unanswered_order(&[]);
    let fills = until(|| {
        let f = step(&mut v, 2, &mut notes);
        (!f.is_empty()).then_some(f)
    });
    assert_eq!(fills.len(), 1);
    let s = fake.0.lock().unwrap();
    assert_eq!(s.placed.len(), 1, "sent once, after the grace");
    assert!(!s.queried.is_empty(), "looked up first");
}

#[test]
fn an_order_recorded_as_sent_that_the_venue_does_not_show_is_unknown_at_restart() {
    let (fake, mut v, mut notes) = restart_with_an_unanswered_order(&["sb-test-1"]);
    until(|| {
        step(&mut v, 2, &mut notes);
        notes
            .iter()
            .any(|(_, n)| matches!(n.update, Update::Unknown { .. }))
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(fake.0.lock().unwrap().placed.is_empty(), "never resent");
}

#[test]
fn deployments_on_one_venue_share_its_order_pace() {
    // Two deployments, 20 placements a second for the venue: ten orders
    // between them take at least 9 gaps of 50 ms.
    let pace = Pace::new(20.0);
    let (a, b) = (Fake::default(), Fake::default());
    let mut venues: Vec<LiveVenue> = [&a, &b]
        .into_iter()
        .map(|f| {
            LiveVenue::sharing(
                Box::new(f.clone()),
                config(),
                vec!["BTCUSDT".into()],
                Naming {
                    prefix: "sb-test-".into(),
                },
                vec![],
                0,
                Some(pace.clone()),
            )
        })
        .collect();
    for v in &mut venues {
        step(v, 0, &mut Vec::new());
    }
    let started = Instant::now();
    for i in 0..10 {
        venues[i % 2].submit_unchecked(order(i as u64 + 1, OrderKind::Market, 2.0));
    }
    until(|| {
        (a.0.lock().unwrap().placed.len() + b.0.lock().unwrap().placed.len() == 10).then_some(())
    });
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_cancel_that_crossed_a_fill_books_the_fill_and_a_refused_order_ends_told() {
    let fake = Fake::default();
    {
        let mut s = fake.0.lock().unwrap();
        s.place = vec![Outcome::Done(Report {
            status: Status::Open,
            executions: vec![],
        })];
        s.fallback = Some(filled("t1", 2.0));
    }
    let mut v = venue(&fake, vec![], 0);
    step(&mut v, 0, &mut Vec::new());
    v.submit_unchecked(order(1, OrderKind::Limit(99.0), 2.0));
    until(|| (!v.inbox.lock().unwrap().is_empty()).then_some(()));
    step(&mut v, 1, &mut Vec::new());
    assert!(v.cancel(1), "open: a cancel is asked for");
    assert!(!v.cancel(1), "asked once");
    assert!(v.open_orders(0).is_empty());
    assert_eq!(v.in_flight(0), 2.0, "may still fill: targets count it");
    let fills = until(|| {
        let f = step(&mut v, 2, &mut Vec::new());
        (!f.is_empty()).then_some(f)
    });
    assert_eq!(fills[0].quantity, 2.0, "the venue filled it first");
    assert_eq!(v.in_flight(0), 0.0);

    // A quantity the venue's rules refuse: rejected, told as ended.
    v.submit_unchecked(order(2, OrderKind::Market, 0.1));
    let mut notes = Vec::new();
    until(|| {
        step(&mut v, 3, &mut notes);
        (!notes.is_empty()).then_some(())
    });
    assert_eq!(notes[0].1.state, OrderState::Rejected);
    assert!(notes[0].1.ended.as_deref().unwrap().contains("LOT_SIZE"));
}

#[test]
fn where_lists_are_whole_a_fractional_positions_target_stays_with_the_host_and_its_stop_rests_alone()
 {
    let resting = Report {
        status: Status::Open,
        executions: vec![],
    };
    for (quantity, listed) in [(2.0, true), (1.5, false)] {
        let fake = Fake::default();
        {
            let mut s = fake.0.lock().unwrap();
            s.whole_lists = true;
            s.place = vec![
                Outcome::Done(resting.clone()),
                Outcome::Done(resting.clone()),
            ];
            s.fallback = Some(resting.clone());
        }
        let mut v = venue(&fake, vec![], 0);
        step(&mut v, 0, &mut Vec::new());
        let protective = |id, kind, origin| Order {
            side: Side::Sell,
            origin,
            reduce_only: true,
            ..order(id, kind, quantity)
        };
        v.submit_unchecked(protective(1, OrderKind::StopLoss(90.0), Origin::StopLoss));
        v.submit_unchecked(protective(
            2,
            OrderKind::TakeProfit(110.0),
            Origin::TakeProfit,
        ));
        v.protection_done(0);
        until(|| (!fake.0.lock().unwrap().placed.is_empty()).then_some(()));
        std::thread::sleep(Duration::from_millis(50));
        let placed = fake.0.lock().unwrap().placed.clone();
        assert_eq!(placed.len(), 1, "{quantity}: one request: {placed:?}");
        assert_eq!(placed[0].stop, Some(90.0));
        assert_eq!(
            placed[0].target.as_ref().map(|l| l.price),
            listed.then_some(110.0),
            "{quantity}: the target in the stop's list, or held by the host"
        );
        // The host's target triggers on a bar that reaches it.
        let mut high = bar(120_000);
        high.high = 111.0;
        v.begin_bar(&high, 2, quantity);
        std::thread::sleep(Duration::from_millis(50));
        let placed = fake.0.lock().unwrap().placed.clone();
        let market = placed
            .iter()
            .filter(|p| p.limit.is_none() && p.stop.is_none())
            .count();
        assert_eq!(market, usize::from(!listed), "{quantity}: {placed:?}");
    }
}

#[test]
fn a_trailing_stop_the_venue_rejects_is_held_by_the_host_from_then_on() {
    use sandbar_sdk::protection::Trail;
    let trail = Trail::Fraction(0.01);
    let fake = Fake::default();
    {
        let mut s = fake.0.lock().unwrap();
        s.trails = true;
        s.place = vec![Outcome::Rejected(
            "-2010 Trailing stops are not enabled for this account.".into(),
        )];
    }
    let mut v = venue(&fake, vec![], 0);
    let mut notes = Vec::new();
    step(&mut v, 0, &mut notes);
    assert!(v.trails(0, Side::Sell, 2.0, trail, false), "offered: tried");
    v.submit_unchecked(Order {
        side: Side::Sell,
        origin: Origin::StopLoss,
        reduce_only: true,
        ..order(1, OrderKind::TrailingStop(99.0, trail), 2.0)
    });
    v.protection_done(0);
    until(|| {
        step(&mut v, 1, &mut notes);
        (!notes.is_empty()).then_some(())
    });
    assert_eq!(notes[0].1.state, OrderState::Rejected);
    assert!(
        !v.trails(0, Side::Sell, 2.0, trail, false),
        "refused once: the next stop is the host's plain one, not the same order again"
    );

    // Recovery from the journaled notes comes to the same answer.
    let again = Fake::default();
    again.0.lock().unwrap().trails = true;
    let mut r = venue(&again, notes.clone(), 2);
    step(&mut r, 0, &mut Vec::new());
    r.submit_unchecked(Order {
        side: Side::Sell,
        origin: Origin::StopLoss,
        reduce_only: true,
        ..order(1, OrderKind::TrailingStop(99.0, trail), 2.0)
    });
    r.protection_done(0);
    step(&mut r, 1, &mut Vec::new());
    assert!(!r.trails(0, Side::Sell, 2.0, trail, false));
}
