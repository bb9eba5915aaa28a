//! A faulted deployment goes on past its fault by an operator's journaled
//! decision — the faulting version skipping the faulting call, or another
//! version taking the faulting bar — and every later re-execution takes
//! the same way past it without diverging from the journal.

use std::path::PathBuf;

use crate::service::Fixture;
use crate::util::*;

/// The bar whose close `counter@2.0.0` cannot digest (`panic_on_close`).
const BAD: u64 = 15;

/// 3,000 flat minutes with one bad print at bar [`BAD`].
fn bars_with_a_bad_print(f: &Fixture) -> PathBuf {
    let mut bars = flat(3_000, 100.0);
    bars[BAD as usize] = (66.5, 66.5, 66.5, 66.5);
    bars_csv(f.dir.path(), "X.csv", MINUTE, &bars)
}

/// (seq, count, version) of every intent: the counters say their count.
fn counted(e: &[serde_json::Value]) -> Vec<(u64, u64, String)> {
    of_kind(e, "intent")
        .iter()
        .map(|i| {
            let reason = i["reason"].as_str().unwrap();
            (
                i["seq"].as_u64().unwrap(),
                reason.split_whitespace().nth(2).unwrap().parse().unwrap(),
                i["plugin"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn after_fault_commands(e: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    of_kind(e, "command")
        .into_iter()
        .filter(|c| c["action"].get("after-fault").is_some())
        .collect()
}

#[test]
fn a_faulted_deployment_goes_on_past_its_fault_only_by_a_journaled_decision() {
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::COUNTER_V1]);
    f.ok(&["plugin", "add", plugins::COUNTER_V2]);
    f.ok(&["plugin", "add", plugins::SMA_CROSS]);
    let bad = ["--param", "panic_on_close=66.5"];
    f.paper("skip", "counter@2.0.0", &bad);
    f.paper("other", "counter@2.0.0", &bad);
    let stubborn = [
        "--param",
        "panic_on_close=66.5",
        "--param",
        "reject_restore=true",
    ];
    f.paper("stubborn", "counter@2.0.0", &stubborn);
    f.paper("healthy", "counter@1.0.0", &[]);
    let data = bars_with_a_bad_print(&f);
    let config = f.recorded(&data);
    f.serve(&config);
    for name in ["skip", "other", "stubborn", "healthy"] {
        f.start(name, "X");
    }
    for name in ["skip", "other", "stubborn"] {
        let dead = f.wait(name, "the fault", |s| s["running"] == false);
        assert!(
            dead["ended"]
                .as_str()
                .unwrap()
                .starts_with(&format!("faulted at bar {BAD}: ")),
            "{dead}"
        );
    }

    // A plain start would re-execute into the same fault: refused, naming
    // the way on.
    let out = f.cmd(&[
        "deploy",
        "start",
        "skip",
        "--feed",
        "rec",
        "--symbol",
        "X",
        "--interval",
        "1m",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("deployment `skip` faulted at bar {BAD}"))
            && stderr(&out).contains("sandbar deploy continue skip --reason"),
        "{}",
        stderr(&out)
    );
    // Nothing to go on past, another plugin, no reason: refused.
    let refused = |args: &[&str], why: &str| {
        let out = f.cmd(args);
        assert!(
            !out.status.success() && stderr(&out).contains(why),
            "{}",
            stderr(&out)
        );
    };
    refused(
        &["deploy", "continue", "healthy", "--reason", "why not"],
        "deployment `healthy` is running: only a run that ended on a fault can continue",
    );
    f.ok(&["deploy", "stop", "healthy"]);
    f.wait("healthy", "the run to end", |s| s["running"] == false);
    refused(
        &["deploy", "continue", "healthy", "--reason", "why not"],
        "deployment `healthy` has no fault to go on past",
    );
    refused(
        &[
            "deploy",
            "continue",
            "other",
            "--plugin",
            "sma-cross@0.1.0",
            "--reason",
            "x",
        ],
        "runs plugin `counter`; sma-cross@0.1.0 is another plugin",
    );
    refused(
        &["deploy", "continue", "skip", "--reason", " "],
        "continuing after a fault needs a reason",
    );

    f.ok(&[
        "deploy",
        "continue",
        "skip",
        "--reason",
        "bad print at bar 15",
    ]);
    f.ok(&[
        "deploy",
        "continue",
        "other",
        "--plugin",
        "counter@1.0.0",
        "--reason",
        "v1 takes it",
    ]);
    f.ok(&["deploy", "continue", "stubborn", "--reason", "try"]);
    for name in ["skip", "other"] {
        f.wait(name, "trading on past the fault", |s| {
            s["running"] == true && s["seq"].as_u64() > Some(400)
        });
    }
    assert_eq!(f.status("other")["serving"], "counter@1.0.0");
    // The decision could not be carried out (the version refuses its own
    // state): the run ends at the fault again, saying why, and nothing new
    // is journaled.
    let stubborn_end = f.wait("stubborn", "the refused decision", |s| {
        s["running"] == false
    });
    assert!(
        stubborn_end["ended"].as_str().unwrap().contains(&format!(
            "could not go on past the fault at bar {BAD} with counter@2.0.0: counter@2.0.0 refused the state"
        )),
        "{stubborn_end}"
    );

    // Killed, and started again: the decision is re-executed from the
    // journal (a plain start now works) and nothing diverges.
    let journal = |name: &str| PathBuf::from(f.status(name)["journal"].as_str().unwrap());
    let (skip_journal, other_journal, stubborn_journal) =
        (journal("skip"), journal("other"), journal("stubborn"));
    f.stop_serving();
    let before = journal_entries(&skip_journal).len();
    f.serve(&config);
    f.start("skip", "X");
    f.start("other", "X");
    for name in ["skip", "other"] {
        let s = f.wait(name, "recovered and trading on", |s| {
            s["running"] == true && s["seq"].as_u64() > Some(2_900)
        });
        assert!(s["trouble"].is_null(), "{s}");
    }
    for name in ["skip", "other"] {
        f.ok(&["deploy", "stop", name]);
        f.wait(name, "the run to end", |s| s["running"] == false);
    }
    f.stop_serving();
    let shown = f.ok(&["deploy", "show", "skip"]);
    assert!(
        shown.contains(
            "resume PAUSED → PAPER by operator: continue after the fault: bad print at bar 15"
        ),
        "{shown}"
    );
    // A fault gone past is still a fault of the version: its evidence says so.
    assert!(
        shown
            .contains("3 days traded in PAPER, 0 trades, Sharpe 0.00, slippage 0.00 bps, 1 faults"),
        "{shown}"
    );

    let e = journal_entries(&skip_journal);
    assert!(e.len() > before, "the run went on after the restart");
    let faults = of_kind(&e, "fault");
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0]["seq"], BAD);
    let decided = after_fault_commands(&e);
    assert_eq!(decided.len(), 1, "{decided:?}");
    assert_eq!(decided[0]["seq"], BAD);
    assert_eq!(
        decided[0]["action"]["after-fault"],
        serde_json::json!({"version": "counter@2.0.0", "skip": true})
    );
    assert_eq!(decided[0]["actor"], "operator");
    // The decision follows the fault directly.
    let at = |want: &serde_json::Value| e.iter().position(|x| x == want).unwrap();
    let fault_at = e.iter().position(|x| x.get("fault").is_some()).unwrap();
    assert_eq!(
        at(&serde_json::json!({"command": decided[0].clone()})),
        fault_at + 1
    );
    // Skipped: bar 15 was never counted, so count 20 came at bar 20, not 19.
    let c = counted(&e);
    assert_eq!(c[0], (9, 10, "counter@2.0.0".to_string()));
    assert_eq!(c[1], (20, 20, "counter@2.0.0".to_string()));
    assert!(
        c.iter().skip(1).all(|(seq, count, _)| seq == count),
        "{c:?}"
    );

    // Another version took the faulting bar with the state from before it.
    let e = journal_entries(&other_journal);
    let decided = after_fault_commands(&e);
    assert_eq!(
        decided[0]["action"]["after-fault"],
        serde_json::json!({"version": "counter@1.0.0", "skip": false})
    );
    let c = counted(&e);
    assert_eq!(c[0], (9, 10, "counter@2.0.0".to_string()));
    assert_eq!(c[1], (19, 20, "counter@1.0.0".to_string()));
    assert_eq!(of_kind(&e, "fault").len(), 1);

    let e = journal_entries(&stubborn_journal);
    assert!(after_fault_commands(&e).is_empty());
    // The re-executed fault was verified against the journaled one, not
    // written again.
    assert_eq!(of_kind(&e, "fault").len(), 1);
}
