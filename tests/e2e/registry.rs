//! The plugin registry and the deployment lifecycle, through the CLI.

use crate::util::*;

struct Reg {
    _dir: tempfile::TempDir,
    path: String,
}

impl Reg {
    fn new() -> Reg {
        let dir = scratch();
        let path = dir.path().join("registry.redb").display().to_string();
        Reg { _dir: dir, path }
    }
    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--registry", &self.path]);
        let mut cmd = std::process::Command::new(SANDBAR);
        cmd.args(&all).env("USER", "tester");
        cmd.env(
            "SANDBAR_CACHE_DIR",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbar-cache"),
        );
        cmd.output().unwrap()
    }
    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        ok(&out);
        stdout(&out)
    }
    #[track_caller]
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        stderr(&out)
    }
}

#[test]
fn adding_validates_and_is_content_addressed() {
    let reg = Reg::new();
    let added = reg.ok(&["plugin", "add", plugins::SMA_CROSS, "--note", "first cut"]);
    assert!(
        added.starts_with("added sma-cross@0.1.0 (sha256 "),
        "{added}"
    );
    let again = reg.ok(&["plugin", "add", plugins::SMA_CROSS]);
    assert!(
        again.contains("already registered with these bytes"),
        "{again}"
    );

    // Same name@version, different bytes (a custom section appended): refused.
    let dir = scratch();
    let mut bytes = std::fs::read(plugins::SMA_CROSS).unwrap();
    bytes.extend_from_slice(&[0, 6, 5, b'n', b'o', b't', b'e', b'!']);
    let other = dir.path().join("sma-cross-rebuilt.wasm");
    std::fs::write(&other, bytes).unwrap();
    let err = reg.fails(&["plugin", "add", other.to_str().unwrap()]);
    assert!(
        err.contains("sma-cross@0.1.0 is already registered with different bytes")
            && err.contains("bump the version"),
        "{err}"
    );

    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, "hello, this is not a component").unwrap();
    let err = reg.fails(&["plugin", "add", text.to_str().unwrap()]);
    assert!(
        err.contains("rejected: plugin") && err.contains("no WebAssembly magic number"),
        "{err}"
    );

    let list = reg.ok(&["plugin", "list"]);
    assert_eq!(list.lines().count(), 1, "{list}");
    let show = reg.ok(&["plugin", "show", "sma-cross"]);
    assert!(
        show.contains("fast (integer, default 10 in [1, 1000]) fast SMA period"),
        "{show}"
    );
    assert!(show.contains("by cli:tester — first cut"), "{show}");
    assert!(show.contains("plugin-add sha256:"), "{show}");
}

#[test]
fn the_lifecycle_follows_its_edges_and_gates_with_a_readiness_report() {
    let reg = Reg::new();
    reg.ok(&["plugin", "add", plugins::SMA_CROSS]);
    let goog = plugins::shared_data("goog-daily-2004-2013.csv");
    let goog = goog.to_str().unwrap();

    // Parameters are checked against the version at creation.
    let err = reg.fails(&[
        "deploy",
        "create",
        "bad",
        "--plugin",
        "sma-cross@0.1.0",
        "--param",
        "fast=0",
    ]);
    assert!(err.contains("outside the allowed range"), "{err}");

    reg.ok(&[
        "deploy",
        "create",
        "weak",
        "--plugin",
        "sma-cross@0.1.0",
        "--param",
        "fast=12",
        "--symbol",
        "GOOG",
    ]);
    reg.ok(&[
        "deploy",
        "create",
        "good",
        "--plugin",
        "sma-cross",
        "--symbol",
        "GOOG",
    ]);
    for name in ["weak", "good"] {
        let err = reg.fails(&["deploy", "pause", name, "--reason", "x"]);
        assert!(
            err.contains(
                "cannot pause a deployment in DRAFT: only PAPER and LIVE deployments can be paused"
            ),
            "{err}"
        );
        assert!(
            reg.ok(&["deploy", "promote", name])
                .contains("is now TESTING")
        );
    }
    // Without a backtest, every criterion is missing.
    let err = reg.fails(&["deploy", "promote", "good"]);
    assert!(
        err.contains("[FAIL] backtest years                    missing"),
        "{err}"
    );

    reg.ok(&["deploy", "backtest", "weak", "--data", goog]);
    reg.ok(&["deploy", "backtest", "good", "--data", goog]);
    let err = reg.fails(&["deploy", "promote", "weak"]);
    assert!(
        err.contains("weak is not ready for TESTING → PAPER"),
        "{err}"
    );
    assert!(
        err.contains("[FAIL] backtest Sharpe                      0.97  (needs ≥ 1.00)"),
        "{err}"
    );
    assert!(
        err.contains("[pass] backtest years                       8.53  (needs ≥ 3.0)"),
        "{err}"
    );
    let promoted = reg.ok(&["deploy", "promote", "good"]);
    assert!(
        promoted.contains("[pass] backtest Sharpe                      1.01")
            && promoted.contains("good is now PAPER"),
        "{promoted}"
    );

    // Forcing needs a reason and is journaled as forced.
    let err = reg.fails(&["deploy", "promote", "weak", "--force"]);
    assert!(err.contains("--force needs a reason"), "{err}");
    reg.ok(&[
        "deploy",
        "promote",
        "weak",
        "--force",
        "--reason",
        "accepting 0.97 for the drill",
    ]);

    // PAPER → LIVE needs paper trading evidence, which a replay never gives.
    let err = reg.fails(&["deploy", "promote", "good"]);
    assert!(err.contains("good is not ready for PAPER → LIVE"), "{err}");
    assert!(
        err.contains("[FAIL] days traded in PAPER") && err.contains("missing  (needs ≥ 14)"),
        "{err}"
    );

    // Pause and resume need reasons and go back where they came from.
    assert!(
        reg.fails(&["deploy", "pause", "good"])
            .contains("pause needs a reason")
    );
    reg.ok(&["deploy", "pause", "good", "--reason", "drawdown drill"]);
    assert!(
        reg.fails(&["deploy", "promote", "good"])
            .contains("cannot promote a deployment in PAUSED: resume it first")
    );
    assert!(
        reg.ok(&["deploy", "resume", "good", "--reason", "drill over"])
            .contains("good is now PAPER")
    );
    assert!(
        reg.fails(&["deploy", "resume", "good", "--reason", "again"])
            .contains("only PAUSED deployments can be resumed")
    );

    // Removing a version in use is refused until its deployments are deprecated.
    let err = reg.fails(&["plugin", "remove", "sma-cross@0.1.0"]);
    assert!(
        err.contains("sma-cross@0.1.0 is used by deployment(s) good, weak"),
        "{err}"
    );
    reg.ok(&["deploy", "deprecate", "weak", "--reason", "retired"]);
    reg.ok(&["deploy", "deprecate", "good", "--reason", "retired"]);
    assert!(
        reg.fails(&["deploy", "promote", "good"])
            .contains("DEPRECATED is final")
    );
    reg.ok(&["plugin", "remove", "sma-cross@0.1.0"]);
    assert!(reg.ok(&["plugin", "list"]).is_empty());

    // The audit trail has every change with actor, from, to and reason.
    let show = reg.ok(&["deploy", "show", "weak"]);
    let history: Vec<&str> = show
        .lines()
        .skip_while(|l| *l != "history:")
        .skip(1)
        .map(|l| l.split_once(' ').unwrap().1.trim())
        .collect();
    let history: Vec<String> = history
        .iter()
        .map(|l| l.split_once(' ').map_or(l.to_string(), |x| x.1.to_string()))
        .collect();
    assert_eq!(
        history,
        vec![
            "deploy-create  → DRAFT sma-cross@0.1.0 by cli:tester",
            "promote DRAFT → TESTING by cli:tester",
            "backtest  → sma-cross@0.1.0: 2148 bars, 8.53 years, Sharpe 0.97, max drawdown 6.23%, 33 trades by cli:tester",
            "promote TESTING → PAPER by cli:tester FORCED: accepting 0.97 for the drill",
            "deprecate PAPER → DEPRECATED by cli:tester: retired",
        ]
    );
}

/// Concurrent changes to one deployment (the engine pausing it while an
/// operator resumes it) are serialised: every stage change in the audit
/// trail starts from the stage the previous one ended in, none is lost.
#[test]
fn concurrent_lifecycle_changes_never_start_from_a_stale_stage() {
    use sandbar::lifecycle::{GateConfig, Move};
    use sandbar::store::registry::Registry;
    let dir = scratch();
    let reg = Registry::open(&dir.path().join("r.redb")).unwrap();
    let rt = sandbar::runtime::Runtime::new(None).unwrap();
    reg.add_plugin(&rt, std::path::Path::new(plugins::COUNTER_V1), None, "t")
        .unwrap();
    reg.create_deployment("d", "counter@1.0.0", &[], vec![], 1e5, vec![], "t")
        .unwrap();
    let g = GateConfig::default();
    reg.transition("d", Move::Promote, Some("go".into()), true, &g, "t")
        .unwrap();
    reg.transition("d", Move::Promote, Some("go".into()), true, &g, "t")
        .unwrap();
    std::thread::scope(|s| {
        for k in 0..6 {
            let reg = &reg;
            let g = &g;
            s.spawn(move || {
                for i in 0..40 {
                    let mv = if (i + k) % 2 == 0 {
                        Move::Pause
                    } else {
                        Move::Resume
                    };
                    let _ = reg.transition("d", mv, Some(format!("{k}/{i}")), false, g, "t");
                    let _ = reg.record_version(
                        "d",
                        if i % 2 == 0 {
                            "counter@1.0.0"
                        } else {
                            "counter@1.0.1"
                        },
                        "t",
                        "flip",
                    );
                }
            });
        }
    });
    let stages: Vec<(Option<String>, Option<String>)> = reg
        .audit_trail(Some("d"))
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.action.as_str(), "pause" | "resume" | "promote"))
        .map(|e| (e.from, e.to))
        .collect();
    assert!(stages.len() > 10, "{stages:?}");
    for w in stages.windows(2) {
        assert_eq!(w[1].0, w[0].1, "a change started from a stale stage: {w:?}");
    }
    let versions: Vec<(Option<String>, Option<String>)> = reg
        .audit_trail(Some("d"))
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "version")
        .map(|e| (e.from, e.to))
        .collect();
    for w in versions.windows(2) {
        assert_eq!(w[1].0, w[0].1, "a version change was lost: {w:?}");
    }
}

#[test]
fn a_deployment_that_could_not_be_stored_or_would_leave_the_journals_is_refused_naming_the_field() {
    let reg = Reg::new();
    reg.ok(&["plugin", "add", plugins::SMA_CROSS]);
    reg.ok(&["deploy", "create", "good", "--plugin", "sma-cross"]);
    for (args, field) in [
        (&["y", "--capital", "nan"][..], "capital NaN"),
        (&["y", "--capital", "inf"][..], "capital inf"),
        (&["y", "--capital=-5"][..], "capital -5"),
        (&["../evil"][..], "name \"../evil\""),
        (&["a/b"][..], "name \"a/b\""),
        (&[".."][..], "name \"..\""),
    ] {
        let mut all = vec!["deploy", "create"];
        all.extend_from_slice(args);
        all.extend(["--plugin", "sma-cross"]);
        let e = reg.fails(&all);
        assert!(e.contains(field), "{args:?}: {e}");
    }
    // Nothing was written: the registry still lists, and only `good`.
    let list = reg.ok(&["deploy", "list"]);
    assert!(list.contains("good") && !list.contains("evil"), "{list}");
    assert_eq!(
        list.lines().filter(|l| l.contains("sma-cross")).count(),
        1,
        "{list}"
    );
}

#[test]
fn the_paper_gate_can_require_walk_forward_and_monte_carlo_evidence() {
    let reg = Reg::new();
    reg.ok(&["plugin", "add", plugins::SMA_CROSS]);
    let goog = plugins::shared_data("goog-daily-2004-2013.csv");
    let goog = goog.to_str().unwrap();
    reg.ok(&["deploy", "create", "wf", "--plugin", "sma-cross@0.1.0"]);
    reg.ok(&["deploy", "promote", "wf"]);
    let out = reg.ok(&[
        "deploy",
        "backtest",
        "wf",
        "--data",
        goog,
        "--grid",
        "fast=5..20:5",
        "--grid",
        "slow=20..60:20",
        "--train",
        "3y",
        "--test",
        "1y",
    ]);
    assert!(
        out.contains("walk-forward (3y/1y, 6 windows of 12 combinations): out-of-sample Sharpe "),
        "{out}"
    );
    assert!(out.contains("Monte Carlo (10000 paths of the "), "{out}");
    let show = reg.ok(&["deploy", "show", "wf"]);
    assert!(
        show.contains("  walk-forward 3y/1y over 6 windows (fast=5..20:5 slow=20..60:20)"),
        "{show}"
    );
    assert!(
        show.contains("  Monte Carlo: 10000 paths (trades, seed 0), 95th-percentile drawdown "),
        "{show}"
    );
    let efficiency: f64 = show
        .split("efficiency ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap();
    // Gates that ask for more than the evidence shows refuse, naming it.
    let dir = scratch();
    let gates = dir.path().join("gates.toml");
    std::fs::write(
        &gates,
        format!(
            "min_backtest_sharpe = 0.0\nmin_walk_forward_efficiency = {}\nmax_monte_carlo_drawdown = 0.5\n",
            efficiency + 1.0
        ),
    )
    .unwrap();
    let err = reg.fails(&[
        "deploy",
        "promote",
        "wf",
        "--gates",
        gates.to_str().unwrap(),
    ]);
    assert!(err.contains("[FAIL] walk-forward efficiency"), "{err}");
    // The references' minimum of trades per window binds once a
    // walk-forward ran: sma-cross trades once in its thinnest year.
    assert!(
        err.contains(
            "[FAIL] walk-forward trades in its thinnest window            1  (needs ≥ 10)"
        ),
        "{err}"
    );
    assert!(
        err.contains("[pass] Monte Carlo 95th-percentile drawdown"),
        "{err}"
    );
    std::fs::write(
        &gates,
        format!(
            "min_backtest_sharpe = 0.0\nmin_walk_forward_efficiency = {}\nmin_walk_forward_sharpe = -10.0\nmin_walk_forward_window_trades = 1\n",
            efficiency - 0.01
        ),
    )
    .unwrap();
    let ok = reg.ok(&[
        "deploy",
        "promote",
        "wf",
        "--gates",
        gates.to_str().unwrap(),
    ]);
    assert!(
        ok.contains("[pass] walk-forward efficiency") && ok.contains("wf is now PAPER"),
        "{ok}"
    );
}

#[test]
fn the_pre_live_checklist_measures_what_it_can_and_audits_what_a_person_confirms() {
    let reg = Reg::new();
    reg.ok(&["plugin", "add", plugins::SMA_CROSS]);
    let goog = plugins::shared_data("goog-daily-2004-2013.csv");
    reg.ok(&[
        "deploy",
        "create",
        "c",
        "--plugin",
        "sma-cross@0.1.0",
        "--risk",
        "max_order_notional=50000",
        "--risk",
        "max_drawdown=0.25",
    ]);
    reg.ok(&["deploy", "promote", "c"]);
    let out = reg.run(&["deploy", "checklist", "c"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("[FAIL] backtest-length"), "{text}");
    assert!(text.contains("[todo] kill-switch"), "{text}");
    assert!(
        stderr(&out).contains("1 of 12 items done; open: backtest-length"),
        "{}",
        stderr(&out)
    );
    reg.ok(&[
        "deploy",
        "backtest",
        "c",
        "--data",
        goog.to_str().unwrap(),
        "--grid",
        "fast=5..20:5",
        "--grid",
        "slow=20..60:20",
        "--train",
        "3y",
        "--test",
        "1y",
    ]);
    let text = stdout(&reg.run(&["deploy", "checklist", "c"]));
    for done in [
        "backtest-length",
        "backtest-statistics",
        "out-of-sample",
        "walk-forward-efficiency",
        "monte-carlo",
        "risk-limits",
    ] {
        assert!(text.contains(&format!("[done] {done}")), "{done}: {text}");
    }
    assert!(
        text.contains("[FAIL] paper-days") && text.contains("[FAIL] paper-vs-backtest"),
        "{text}"
    );
    // Measured items cannot be confirmed by hand; manual ones need a reason.
    let err = reg.fails(&[
        "deploy",
        "checklist",
        "c",
        "--confirm",
        "paper-days",
        "--reason",
        "trust me",
    ]);
    assert!(
        err.contains("`paper-days` is not an item a person confirms"),
        "{err}"
    );
    let out = reg.run(&["deploy", "checklist", "c", "--confirm", "kill-switch"]);
    assert!(!out.status.success());
    let out = reg.run(&[
        "deploy",
        "checklist",
        "c",
        "--confirm",
        "kill-switch",
        "--reason",
        "flattened the testnet account from the dashboard",
    ]);
    let text = stdout(&out);
    assert!(
        text.contains("[done] kill-switch") && text.contains("confirmed by cli:tester at "),
        "{text}"
    );
    let show = reg.ok(&["deploy", "show", "c"]);
    assert!(
        show.contains(
            "checklist sma-cross@0.1.0 → kill-switch by cli:tester: flattened the testnet account"
        ),
        "{show}"
    );
}

/// PAPER → LIVE binds the pre-live checklist: with the gates passed, the
/// promotion is refused while any item is open (naming them), each manual
/// item confirmed for this version closes it, and `--force` with a reason
/// goes LIVE with the override and what was open in the audit trail.
#[test]
fn going_live_is_refused_while_the_pre_live_checklist_is_open() {
    use sandbar::lifecycle::{GateConfig, Move};
    use sandbar::store::registry::{Registry, RegistryError};
    let dir = scratch();
    let reg = Registry::open(&dir.path().join("r.redb")).unwrap();
    let rt = sandbar::runtime::Runtime::new(None).unwrap();
    reg.add_plugin(&rt, std::path::Path::new(plugins::COUNTER_V1), None, "t")
        .unwrap();
    reg.create_deployment("d", "counter@1.0.0", &[], vec![], 1e5, vec![], "t")
        .unwrap();
    let g = GateConfig::default();
    for _ in 0..2 {
        reg.transition("d", Move::Promote, Some("to paper".into()), true, &g, "t")
            .unwrap();
    }
    // Evidence that passes every gate of PAPER → LIVE.
    let backtest = serde_json::json!({
        "plugin": "counter@1.0.0", "data": ["x.csv"], "bars": 5000, "years": 5.0,
        "sharpe": 1.5, "max_drawdown": 0.1, "trades": 200, "faulted": false,
        "win_rate": 0.55
    });
    reg.record_backtest("d", serde_json::from_value(backtest).unwrap(), "t")
        .unwrap();
    let paper = serde_json::json!({
        "plugin": "counter@1.0.0", "days": 30.0, "trades": 40, "sharpe": 1.4,
        "slippage_bps": 2.0, "faults": 0, "max_drawdown": 0.06, "win_rate": 0.5,
        "replay": {
            "plugin": "counter@1.0.0", "bars": 40000, "stopped_at": null,
            "paper_fills": 80, "replay_fills": 80, "matching_fills": 80,
            "first_difference": null, "max_price_difference_bps": 0.0,
            "slippage": [1.0, 1.0], "pnl": [10.0, 10.0], "sharpe": [1.4, 1.4],
            "sharpe_deviation": 0.0
        }
    });
    reg.record_paper("d", serde_json::from_value(paper).unwrap(), "t")
        .unwrap();
    let open = |e: RegistryError| match e {
        RegistryError::ChecklistOpen { open, .. } => open,
        e => panic!("not refused by the checklist: {e}"),
    };
    let err = reg
        .transition("d", Move::Promote, Some("go".into()), false, &g, "t")
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("d is not ready for PAPER → LIVE: the pre-live checklist has open items:"),
        "{text}"
    );
    let first = open(err);
    for manual in ["alert-channels", "kill-switch", "credentials"] {
        assert!(first.contains(&manual.to_string()), "{first:?}");
    }
    // Confirmed by a person for this version: no longer open.
    for item in ["alert-channels", "kill-switch", "credentials"] {
        reg.confirm_item("d", "ops", item, "counter@1.0.0", "drilled")
            .unwrap();
    }
    let then = open(
        reg.transition("d", Move::Promote, Some("go".into()), false, &g, "t")
            .unwrap_err(),
    );
    assert_eq!(
        then,
        first
            .iter()
            .filter(|i| !["alert-channels", "kill-switch", "credentials"].contains(&i.as_str()))
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(reg.deployment("d").unwrap().stage.to_string(), "PAPER");
    // Forced, with a reason: LIVE, and the trail says what was overridden.
    reg.transition("d", Move::Promote, Some("accepted".into()), true, &g, "t")
        .unwrap();
    assert_eq!(reg.deployment("d").unwrap().stage.to_string(), "LIVE");
    let last = reg.audit_trail(Some("d")).unwrap().pop().unwrap();
    assert!(last.forced);
    assert_eq!(
        last.reason.unwrap(),
        format!(
            "accepted (pre-live checklist overridden; open: {})",
            then.join(", ")
        )
    );
}
