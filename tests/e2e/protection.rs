//! Protection a strategy reads and moves (contract 0.3.0), through the
//! sandbox: a trailing stop the host owns ratchets only toward the price
//! and exits at the level it reached; moving the stop keeps the target;
//! a change with nothing to protect is refused in the host's words; exact
//! windows and per-bar delivery write the same journal.

use crate::util::*;

/// The scripted plugin's `protection bar N …` log lines, in order.
fn readings(out: &std::process::Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter_map(|l| {
            let (_, r) = l.split_once("protection bar ")?;
            Some(r.split(" plugin=").next().unwrap_or(r).to_string())
        })
        .collect()
}

/// Prices of the protective orders of `origin`, in the order placed.
fn placed(entries: &[serde_json::Value], origin: &str) -> Vec<f64> {
    of_kind(entries, "order")
        .iter()
        .filter(|o| o["order"]["origin"] == origin)
        .map(|o| {
            let k = &o["order"]["kind"];
            k["stop-loss"]
                .as_f64()
                .or(k["take-profit"].as_f64())
                .unwrap_or_else(|| panic!("{o}"))
        })
        .collect()
}

#[test]
fn a_trailing_stop_ratchets_only_toward_the_price_and_exits_where_it_reached() {
    let dir = scratch();
    // Bought at 100 (bar 1's open); trailed 5 behind from bar 1's close;
    // highs of 104 and 110 move it to 99 and 105; a dip to 107 moves it
    // nowhere; the fall to 103 goes through 105.
    let bars = TRAILING_BARS;
    let data = bars_csv(dir.path(), "X.csv", DAY, &bars);
    let script = "0 buy 0 10 tp=200; 1 trail 0 5";
    let args = |delivery: &str| {
        vec![
            "replay".to_string(),
            "--log".into(),
            "plugin=info".into(),
            "--plugin".into(),
            plugins::SCRIPTED.into(),
            "--param".into(),
            format!("script={script}"),
            "--param".into(),
            "show_protection=true".into(),
            "--data".into(),
            data.display().to_string(),
            "--delivery".into(),
            delivery.into(),
            "--journal".into(),
            dir.path()
                .join(format!("{delivery}.redb"))
                .display()
                .to_string(),
        ]
    };
    let out = sandbar(args("exact"));
    ok(&out);
    let entries = journal_entries(&dir.path().join("exact.redb"));
    let fills = of_kind(&entries, "fill");
    assert_eq!(fills.len(), 2, "{fills:#?}");
    assert_eq!(fills[0]["fill"]["price"].as_f64(), Some(100.0));
    assert_eq!(fills[1]["fill"]["origin"], "stop-loss");
    assert_eq!(fills[1]["fill"]["price"].as_f64(), Some(105.0));
    assert_eq!(fills[1]["seq"].as_u64(), Some(5));
    // The stop went 95, 99, 105 and never back; the target stayed at 200
    // (re-placed beside each new stop) until the position was flat.
    assert_eq!(placed(&entries, "stop-loss"), vec![95.0, 99.0, 105.0]);
    assert!(
        placed(&entries, "take-profit").iter().all(|p| *p == 200.0),
        "{entries:#?}"
    );
    let amends = of_kind(&entries, "amend");
    assert_eq!(amends.len(), 1);
    assert_eq!(amends[0]["seq"].as_u64(), Some(1));
    // What the strategy read on each bar.
    assert_eq!(
        readings(&out),
        vec![
            "0 stop=None trail=None target=None",
            "1 stop=None trail=None target=Some(200.0)",
            "2 stop=Some(99.0) trail=Some(Distance(5.0)) target=Some(200.0)",
            "3 stop=Some(105.0) trail=Some(Distance(5.0)) target=Some(200.0)",
            "4 stop=Some(105.0) trail=Some(Distance(5.0)) target=Some(200.0)",
            "5 stop=None trail=None target=None",
            "6 stop=None trail=None target=None",
        ]
    );
    // Per-bar delivery: the same journal, entry for entry.
    let out = sandbar(args("per-bar"));
    ok(&out);
    let per_bar = journal_entries(&dir.path().join("per-bar.redb"));
    assert_eq!(entries, per_bar);
}

#[test]
fn moving_the_stop_keeps_the_target_and_cancelling_the_target_keeps_the_stop() {
    let dir = scratch();
    let data = bars_csv(dir.path(), "X.csv", DAY, &flat(6, 100.0));
    let (out, entries) = scripted(
        dir.path(),
        &[&data],
        "0 buy 0 10 sl=90 tp=120; 2 stop 0 95; 3 cancel-target 0",
        &[],
    );
    ok(&out);
    // Protective orders are re-placed together (a venue may hold them as
    // one list, where cancelling a leg cancels both): moving the stop
    // re-places the target at its price, cancelling the target re-places
    // the stop at its.
    assert_eq!(placed(&entries, "stop-loss"), vec![90.0, 95.0, 95.0]);
    assert_eq!(placed(&entries, "take-profit"), vec![120.0, 120.0]);
    let open_at_end: Vec<_> = of_kind(&entries, "final");
    assert_eq!(open_at_end.len(), 1);
    // The last target was cancelled at bar 3, the stop kept.
    let cancels = of_kind(&entries, "cancel");
    let last = cancels.last().unwrap();
    assert_eq!(last["seq"].as_u64(), Some(3), "{cancels:#?}");
    assert_eq!(of_kind(&entries, "amend").len(), 2);
    assert!(refusal_rules(&entries).is_empty());
}

#[test]
fn a_change_with_nothing_to_protect_or_out_of_range_is_refused_in_the_hosts_words() {
    let dir = scratch();
    let data = bars_csv(dir.path(), "X.csv", DAY, &flat(4, 100.0));
    let (out, entries) = scripted(
        dir.path(),
        &[&data],
        "1 trail 0 5; 2 buy 0 1; 2 trail-pct 0 1.5",
        &[],
    );
    ok(&out);
    let details: Vec<&str> = of_kind(&entries, "refusal")
        .iter()
        .map(|r| r["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        details,
        vec![
            "trailing stop 5 behind on X: no position, and no intent for one, to protect",
            "trailing fraction 1.5 is not a number between 0 and 1",
        ]
    );
    assert!(
        refusal_rules(&entries)
            .iter()
            .all(|r| r == "invalid-intent")
    );
    assert!(
        stderr(&out).contains("event rejected invalid-intent: trailing stop 5 behind on X"),
        "the strategy hears it"
    );
}
