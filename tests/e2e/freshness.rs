//! Old bars only warm a strategy up: a LIVE deployment never sends an order
//! decided on a bar more than the maximum age (default: two intervals)
//! behind the newest bar its feed has — the backlog of a warm-up from
//! `start`, or the gap a restart fills — and a re-execution of its journal
//! drops the same decisions.
//!
//! The test venue closes a minute bar every quarter second, so the default
//! age (two minutes of its time) is half a second of ours: enough for a
//! host that keeps up, far too little for the backlogs made here on purpose.

use std::time::{Duration, Instant};

use crate::live::{journal, live_deployment_of, market};
use crate::util::*;

/// The open times (ms) of the bars intents were decided on, by the
/// scripted plugin's reason (`script step at bar N`): (bar N, seq, time).
fn intents(entries: &[serde_json::Value]) -> Vec<(u64, u64, i64)> {
    of_kind(entries, "intent")
        .iter()
        .map(|i| {
            let bar = i["reason"]
                .as_str()
                .unwrap()
                .rsplit(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            (
                bar,
                i["seq"].as_u64().unwrap(),
                i["time_ms"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The thresholds journaled: (seq, before_ms, actor).
fn warm_ups(entries: &[serde_json::Value]) -> Vec<(u64, i64, String)> {
    of_kind(entries, "command")
        .iter()
        .filter_map(|c| {
            let before = c["action"]["warm-up"]["before_ms"].as_i64()?;
            Some((
                c["seq"].as_u64().unwrap(),
                before,
                c["actor"].as_str().unwrap().to_string(),
            ))
        })
        .collect()
}

#[test]
fn old_bars_from_a_backlog_or_a_restarts_gap_only_warm_up_and_never_reach_the_venue() {
    const RATE: f64 = 4.0;
    let server = market(400, RATE);
    let klines = server.klines().to_vec();
    // Bar 3 lies in the backlog the warm-up from `start` fetches, bar 70
    // in the gap left while the host is down; bars 36–38 are traded live.
    let script =
        "script=3 buy 0 0.011; 36 buy 0 0.02; 37 buy 0 0.02; 38 buy 0 0.02; 70 buy 0 0.013";
    let (mut f, config) = live_deployment_of(
        &server,
        plugins::SCRIPTED,
        "scripted@0.1.0",
        &["--param", script],
        "",
    );
    // The rule as an operator gets it: the default maximum age; and its
    // alert posted to a Slack-style incoming webhook.
    let (hooks, received, _rt) = crate::alerts::receivers();
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(COMPRESSED));
    std::fs::write(
        &config,
        format!(
            "{}\n[alerts]\n[[alerts.channels]]\nkind = \"webhook\"\nurl = \"{hooks}/hook\"\nformat = \"slack\"\n",
            text.replace(COMPRESSED, "")
        ),
    )
    .unwrap();

    // A backlog of 24 closed bars before the host starts.
    server.wait_closed(24);
    f.serve(&config);
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.spot().attempts().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no live order reached the venue: {}",
            f.status("d")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Killed, and down while the venue closes 30 more bars.
    server.wait_closed(45);
    f.stop_serving();
    server.wait_closed(76);
    f.serve(&config);
    f.wait("d", "the gap filled and passed", |s| {
        s["seq"].as_u64() > Some(80)
    });
    // Killed again: the restart re-executes the journal, warm-ups included
    // (a re-execution that traded on bar 70 would not match it).
    f.stop_serving();
    f.serve(&config);
    let s = f.wait("d", "recovered and going on", |s| {
        s["seq"].as_u64() > Some(84)
    });
    assert!(s["running"] == true && s["ended"].is_null(), "{s}");
    assert!(f.terminate().success());

    let entries = journal_entries(&journal(&f));
    let decided = intents(&entries);
    let bars: Vec<u64> = decided.iter().map(|d| d.0).collect();
    assert!(
        !bars.contains(&3) && !bars.contains(&70),
        "an intent decided on an old bar became an intent: {bars:?}"
    );
    assert!(bars.contains(&36), "the live bars traded: {bars:?}");
    // The strategy saw every bar (its count matches the klines): old
    // bars were delivered, not skipped.
    for (bar, seq, time) in &decided {
        assert_eq!((*seq, *time), (*bar, klines[*bar as usize].open_time));
    }
    // Thresholds that only rise: the backlog's first, covering bar 3 and
    // sparing bar 36; the gap's covering bar 70 (a worker that fell behind
    // meanwhile may have added one); each naming the feed.
    let w = warm_ups(&entries);
    assert!(w.len() >= 2, "{w:?}");
    assert!(
        w.iter().all(|(_, _, actor)| actor == "feed:binance"),
        "{w:?}"
    );
    assert!(
        w.windows(2).all(|p| p[0].1 < p[1].1 && p[0].0 < p[1].0),
        "{w:?}"
    );
    assert!(
        w[0].1 > klines[3].open_time && w[0].1 <= klines[36].open_time,
        "{w:?}"
    );
    assert!(w.last().unwrap().1 > klines[70].open_time, "{w:?}");
    // Each threshold raised a WARNING, posted as Slack takes it: the
    // message alone, as `text`.
    let deadline = Instant::now() + Duration::from_secs(30);
    let old_bars = loop {
        let texts: Vec<String> = received
            .hooks
            .lock()
            .unwrap()
            .iter()
            .filter_map(|h| h["text"].as_str().map(str::to_string))
            .filter(|t| t.contains("nothing decided on them is sent"))
            .collect();
        if texts.len() >= 2 || Instant::now() > deadline {
            break texts;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(old_bars.len() >= 2, "{old_bars:?}");
    assert!(
        old_bars[0].starts_with("WARNING d (scripted@0.1.0): bars opening before"),
        "{old_bars:?}"
    );
    // Every order the venue received was journaled, from a live bar's intent.
    let orders = of_kind(&entries, "order");
    assert!(!orders.is_empty());
    assert_eq!(server.spot().attempts().len(), orders.len());
}
