use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn config(kind: AllocationKind) -> AccountConfig {
    AccountConfig {
        capital: 300_000.0,
        allocation: kind,
        fractions: BTreeMap::new(),
        lookback_days: 20,
        sharpe_floor: 0.25,
        rebalance_days: 7,
        max_gross_exposure: 1.0,
        daily_loss_limit: 0.03,
        rebalance_wait_seconds: 60.0,
    }
}

/// 2024-01-01 was a Monday: its day index starts a 7-day period.
const MONDAY: i64 = 19_723;

fn amounts(a: &Account, who: &str) -> Vec<f64> {
    a.commands(who)
        .into_iter()
        .filter_map(|c| match c {
            Command::Allocate { amount, .. } => Some(amount),
            _ => None,
        })
        .collect()
}

#[test]
fn periods_start_on_mondays_and_a_rebalance_waits_for_every_member() {
    let c = config(AllocationKind::RiskParity);
    assert_eq!(c.period_start(c.period(MONDAY + 3)), MONDAY);
    assert_eq!(c.period(MONDAY - 1) + 1, c.period(MONDAY));
    let names = ["a".to_string(), "b".to_string()];
    let acct = Account::new("main", c, &names);
    assert_eq!(acct.initial("a"), 150_000.0);
    // a: +1% and −1% alternating; b: ±2%. A week of bars each (Mon..Sun).
    let mut eq = [150_000.0f64, 150_000.0];
    for d in 0..7 {
        for (i, n) in names.iter().enumerate() {
            let step = if d % 2 == 0 { 1.0 } else { -1.0 } * (i + 1) as f64 * 0.01;
            eq[i] *= 1.0 + step;
            let ev = acct.after_bar(n, (MONDAY + d) * DAY_MS, eq[i], true);
            assert!(ev.is_empty(), "{ev:?}");
        }
    }
    // a reaches the next Monday first: nothing until b does.
    assert!(
        acct.after_bar("a", (MONDAY + 7) * DAY_MS, eq[0], true)
            .is_empty()
    );
    let ev = acct.after_bar("b", (MONDAY + 7) * DAY_MS, eq[1], true);
    assert!(matches!(&ev[..], [Event::Rebalanced(_)]), "{ev:?}");
    // By hand: a's returns ±1%, b's ±2% → weights 2/3 and 1/3 of the
    // closes' sum (Sunday's closes, nothing moved since).
    let total = eq[0] + eq[1];
    let a = amounts(&acct, "a");
    let b = amounts(&acct, "b");
    assert!((a[0] - (total * 2.0 / 3.0 - eq[0])).abs() < 1e-6, "{a:?}");
    assert!((b[0] - (total / 3.0 - eq[1])).abs() < 1e-6, "{b:?}");
    assert!((a[0] + b[0]).abs() < 1e-6, "money is only moved");
    assert!(acct.commands("a").is_empty(), "handed out once");
}

#[test]
fn a_fixed_account_keeps_its_unallocated_cash_and_rebalances_winners_back() {
    let mut c = config(AllocationKind::Fixed);
    c.fractions = [("a".to_string(), 0.5), ("b".to_string(), 0.3)].into();
    c.rebalance_days = 1;
    let names = ["a".to_string(), "b".to_string()];
    let acct = Account::new("main", c, &names);
    assert_eq!(acct.initial("a"), 150_000.0);
    assert_eq!(acct.initial("b"), 90_000.0);
    acct.after_bar("a", MONDAY * DAY_MS, 160_000.0, true);
    acct.after_bar("b", MONDAY * DAY_MS, 90_000.0, true);
    acct.after_bar("a", (MONDAY + 1) * DAY_MS, 160_000.0, true);
    acct.after_bar("b", (MONDAY + 1) * DAY_MS, 90_000.0, true);
    // Equity 60,000 + 160,000 + 90,000 = 310,000: a 155,000, b 93,000.
    assert_eq!(amounts(&acct, "a"), vec![-5_000.0]);
    assert_eq!(amounts(&acct, "b"), vec![3_000.0]);
    assert!((acct.status("a").unallocated - 62_000.0).abs() < 1e-9);
}

#[test]
fn a_day_loss_across_the_account_reduces_every_member_once() {
    let names = ["a".to_string(), "b".to_string()];
    let acct = Account::new("main", config(AllocationKind::RiskParity), &names);
    acct.after_bar("a", MONDAY * DAY_MS, 150_000.0, true);
    acct.after_bar("b", MONDAY * DAY_MS, 150_000.0, true);
    // a loses 5%, b gains 1%: the account loses 2% — under 3%.
    assert!(
        acct.after_bar("a", MONDAY * DAY_MS + 60_000, 142_500.0, true)
            .is_empty()
    );
    acct.after_bar("b", MONDAY * DAY_MS + 60_000, 151_500.0, true);
    assert!(acct.commands("b").is_empty());
    // a loses 8%: 3.5% across the account.
    let ev = acct.after_bar("a", MONDAY * DAY_MS + 120_000, 138_000.0, true);
    let [Event::LossLimit { loss, .. }] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert!((loss - (1.0 - 289_500.0 / 300_000.0)).abs() < 1e-12);
    for m in ["a", "b"] {
        assert!(matches!(&acct.commands(m)[..], [Command::Reduce { .. }]));
    }
    assert!(
        acct.after_bar("a", MONDAY * DAY_MS + 180_000, 130_000.0, true)
            .is_empty(),
        "once a day"
    );
    // Not while re-executing a journal.
    let acct = Account::new("main", config(AllocationKind::RiskParity), &names);
    acct.after_bar("a", MONDAY * DAY_MS, 100_000.0, false);
    assert!(acct.commands("a").is_empty());
}

#[test]
fn moves_are_netted_out_of_the_daily_returns() {
    let names = ["a".to_string()];
    let acct = Account::new("main", config(AllocationKind::RiskParity), &names);
    acct.after_bar("a", MONDAY * DAY_MS, 300_000.0, true);
    // 100,000 moved in before Tuesday's bar, which ends at 404,000: +1%.
    acct.replayed_move("a", 100_000.0);
    acct.after_bar("a", (MONDAY + 1) * DAY_MS, 404_000.0, true);
    acct.after_bar("a", (MONDAY + 2) * DAY_MS, 404_000.0, true);
    let b = acct.book();
    let r: Vec<f64> = b.members["a"].returns.iter().map(|x| x.1).collect();
    assert_eq!(r.len(), 2);
    assert!(r[0].abs() < 1e-12 && (r[1] - 0.01).abs() < 1e-12, "{r:?}");
}

/// A week of bars for `a` and `b` as the service delivers them (arrival,
/// then the bar): a at ±1% a day, b at ±2%. Their equities after it.
fn a_week(acct: &Account) -> [f64; 2] {
    let mut eq = [150_000.0f64, 150_000.0];
    // Whoever comes first waits at the first bar for the other.
    acct.arrive("a", MONDAY * DAY_MS, true);
    for d in 0..7 {
        for (i, n) in [(1, "b"), (0, "a")] {
            let step = if d % 2 == 0 { 1.0 } else { -1.0 } * (i + 1) as f64 * 0.01;
            eq[i] *= 1.0 + step;
            assert!(acct.arrive(n, (MONDAY + d) * DAY_MS, true));
            acct.after_bar(n, (MONDAY + d) * DAY_MS, eq[i], true);
        }
    }
    eq
}

#[test]
fn a_faster_member_is_held_at_the_first_bar_of_a_period_until_the_rebalance_is_decided() {
    let names = ["a".to_string(), "b".to_string()];
    let acct = Account::new("main", config(AllocationKind::RiskParity), &names);
    let woken = Arc::new(AtomicUsize::new(0));
    let w = woken.clone();
    acct.set_waker(
        "a",
        Arc::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        }),
    );
    assert!(
        !acct.arrive("a", MONDAY * DAY_MS, true),
        "the first bar waits for every member"
    );
    let eq = a_week(&acct);
    // a gets to next Monday first: held, with nothing to apply.
    let monday = (MONDAY + 7) * DAY_MS;
    assert!(!acct.arrive("a", monday, true));
    assert!(!acct.arrive("a", monday, true), "still held");
    assert!(acct.commands("a").is_empty());
    // b arrives: the rebalance is decided (from Sunday's closes), a is woken
    // and both apply their moves before Monday's bar.
    let before = woken.load(Ordering::SeqCst);
    assert!(acct.arrive("b", monday, true));
    assert!(woken.load(Ordering::SeqCst) > before, "a was not woken");
    assert!(acct.arrive("a", monday, true));
    let total = eq[0] + eq[1];
    let a = amounts(&acct, "a");
    assert!((a[0] - (total * 2.0 / 3.0 - eq[0])).abs() < 1e-6, "{a:?}");
    let b = amounts(&acct, "b");
    assert!((b[0] - (total / 3.0 - eq[1])).abs() < 1e-6, "{b:?}");
    // The decision is reported once, after the bar of who decided it.
    let ev = acct.after_bar("b", monday, total / 3.0, true);
    assert!(matches!(&ev[..], [Event::Rebalanced(_)]), "{ev:?}");
    assert!(
        acct.after_bar("a", monday, total * 2.0 / 3.0, true)
            .is_empty()
    );
    // Later bars of the period pass.
    assert!(acct.arrive("a", monday + DAY_MS, true));
}

#[test]
fn a_journal_re_executing_is_never_held_and_a_member_that_leaves_releases_the_others() {
    let names = ["a".to_string(), "b".to_string()];
    let acct = Account::new("main", config(AllocationKind::RiskParity), &names);
    a_week(&acct);
    let monday = (MONDAY + 7) * DAY_MS;
    assert!(acct.arrive("a", monday, false), "re-executed bars pass");
    assert!(!acct.arrive("a", monday + 60_000, true));
    acct.leave("b");
    assert!(
        acct.arrive("a", monday + 60_000, true),
        "b is not waited for"
    );
}

#[test]
fn a_hold_ends_after_the_configured_wait_and_says_who_was_waited_for() {
    let names = ["a".to_string(), "b".to_string()];
    let mut c = config(AllocationKind::RiskParity);
    c.rebalance_wait_seconds = 0.0;
    let acct = Account::new("main", c, &names);
    a_week(&acct);
    let monday = (MONDAY + 7) * DAY_MS;
    assert!(acct.arrive("a", monday, true));
    let ev = acct.after_bar("a", monday, 150_000.0, true);
    let [Event::Late(why)] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert!(why.contains("`a` waited 0 s for b"), "{why}");
    assert!(acct.arrive("a", monday + 60_000, true));
    assert!(
        acct.after_bar("a", monday + 60_000, 150_000.0, true)
            .is_empty(),
        "said once"
    );
}
