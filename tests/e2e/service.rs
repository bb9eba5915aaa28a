//! `sandbar serve`: deployments running on a paced feed, steered while they
//! run — swap, rollback, pause, shadow — with every change audited. The
//! service listens on loopback; every wait is bounded.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::util::*;

/// A registry in a scratch directory and, once started, a service over it.
struct Fixture {
    dir: tempfile::TempDir,
    server: Option<(Child, String)>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some((child, _)) = &mut self.server {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: scratch(),
            server: None,
        }
    }

    fn registry(&self) -> PathBuf {
        self.dir.path().join("registry.redb")
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if let Some((_, url)) = &self.server {
            if matches!(
                args.get(1).copied(),
                Some(
                    "start"
                        | "swap"
                        | "rollback"
                        | "shadow"
                        | "shadow-report"
                        | "promote-shadow"
                        | "status"
                        | "stop"
                        | "pause"
                        | "resume"
                )
            ) {
                all.extend(["--server".into(), url.clone()]);
            }
        } else {
            all.extend(["--registry".into(), self.registry().display().to_string()]);
        }
        Command::new(SANDBAR)
            .args(&all)
            .env("USER", "tester")
            .env(
                "SANDBAR_CACHE_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbar-cache"),
            )
            .output()
            .unwrap()
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        ok(&out);
        stdout(&out)
    }

    fn serve(&mut self) {
        let addr = self.dir.path().join("addr");
        let child = Command::new(SANDBAR)
            .args(["serve", "--listen", "127.0.0.1:0", "--registry"])
            .arg(self.registry())
            .arg("--addr-file")
            .arg(&addr)
            .env(
                "SANDBAR_CACHE_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbar-cache"),
            )
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !addr.exists() {
            assert!(Instant::now() < deadline, "service did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(50));
        let url = std::fs::read_to_string(&addr).unwrap();
        self.server = Some((child, url));
    }

    fn stop_serving(&mut self) {
        if let Some((mut child, _)) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn status(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["deploy", "status", name])).unwrap()
    }

    /// Poll the status until `pred` holds (at most 20 s).
    #[track_caller]
    fn wait(
        &self,
        name: &str,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.status(name);
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {s}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A PAPER deployment of `plugin` with extra risk overrides.
    fn paper(&self, name: &str, plugin: &str, extra: &[&str]) {
        let mut args = vec![
            "deploy",
            "create",
            name,
            "--plugin",
            plugin,
            "--risk",
            "max_orders_per_day=100000",
            "--risk",
            "max_position=1",
        ];
        args.extend_from_slice(extra);
        self.ok(&args);
        self.ok(&["deploy", "promote", name]);
        self.ok(&[
            "deploy",
            "promote",
            name,
            "--force",
            "--reason",
            "service test",
        ]);
    }
}

fn counts(entries: &[serde_json::Value], plugin: &str) -> Vec<(u64, u64)> {
    of_kind(entries, "intent")
        .iter()
        .filter(|i| i["plugin"] == plugin)
        .map(|i| {
            let reason = i["reason"].as_str().unwrap();
            (
                i["seq"].as_u64().unwrap(),
                reason.split_whitespace().nth(2).unwrap().parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_running_deployment_is_swapped_and_rolled_back_by_command_and_audited() {
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::COUNTER_V1]);
    f.ok(&["plugin", "add", plugins::COUNTER_V2]);
    f.ok(&["deploy", "create", "early", "--plugin", "counter@1.0.0"]);
    f.paper("c", "counter@1.0.0", &[]);
    let data = bars_csv(f.dir.path(), "X.csv", MINUTE, &flat(40_000, 100.0));
    f.serve();

    let out = f.cmd(&[
        "deploy",
        "start",
        "early",
        "--data",
        data.to_str().unwrap(),
        "--bars-per-second",
        "2000",
    ]);
    assert!(
        stderr(&out).contains("deployment `early` is DRAFT; only PAPER deployments run"),
        "{}",
        stderr(&out)
    );

    f.ok(&[
        "deploy",
        "start",
        "c",
        "--data",
        data.to_str().unwrap(),
        "--bars-per-second",
        "2000",
    ]);
    f.wait("c", "bars to flow", |s| s["seq"].as_u64() > Some(200));
    // Issue 8.9: a blank reason, or a request naming nobody, is refused.
    let out = f.cmd(&["deploy", "swap", "c", "counter@2.0.0", "--reason", "  "]);
    assert!(
        stderr(&out).contains("a swap needs a reason"),
        "{}",
        stderr(&out)
    );
    let url = &f.server.as_ref().unwrap().1;
    let anonymous = reqwest::blocking::Client::new()
        .post(format!("{url}/deployments/c/pause"))
        .json(&serde_json::json!({ "actor": "", "reason": "who am I" }))
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), 400);
    assert!(
        anonymous
            .text()
            .unwrap()
            .contains("the request names no actor")
    );
    f.ok(&["deploy", "swap", "c", "counter@2.0.0", "--reason", "try v2"]);
    f.wait("c", "v2 in service", |s| s["serving"] == "counter@2.0.0");
    f.wait("c", "v2 to decide", |s| s["seq"].as_u64() > Some(3000));
    f.ok(&["deploy", "rollback", "c", "--reason", "v2 smells"]);
    f.wait("c", "v1 back in service", |s| {
        s["serving"] == "counter@1.0.0"
    });
    f.ok(&["deploy", "stop", "c"]);
    f.wait("c", "the run to end", |s| s["running"] == false);
    let journal = PathBuf::from(f.status("c")["journal"].as_str().unwrap());
    f.stop_serving();

    let e = journal_entries(&journal);
    let swap = &of_kind(&e, "swap")[0];
    assert_eq!(
        (swap["to"].as_str(), swap["actor"].as_str()),
        // The caller's name is a claim until the API authenticates.
        (
            Some("counter@2.0.0"),
            Some("cli:tester (unverified, from 127.0.0.1)")
        )
    );
    // Under a fast feed, v2 continued v1's count: no bar lost or seen twice.
    let v1 = counts(&e, "counter@1.0.0");
    let v2 = counts(&e, "counter@2.0.0");
    assert!(!v2.is_empty());
    assert!(
        v1.iter()
            .take_while(|(seq, _)| *seq < swap["seq"].as_u64().unwrap())
            .all(|(seq, n)| *n == seq + 1)
    );
    assert!(v2.iter().all(|(seq, n)| *n == seq + 1), "{v2:?}");

    let show = f.ok(&["deploy", "show", "c"]);
    assert!(
        show.contains("start  → 2000 bars/s over 1 file(s) by cli:tester"),
        "{show}"
    );
    // The paper run left evidence for the PAPER → LIVE gate: measured, not missing.
    assert!(
        show.contains("paper-evidence  → counter@1.0.0: ")
            && show.contains("days traded in PAPER, 0 trades"),
        "{show}"
    );
    let gate = stderr(&f.cmd(&["deploy", "promote", "c"]));
    assert!(
        gate.contains("[pass] unhandled faults") && gate.contains("[FAIL] days traded in PAPER"),
        "{gate}"
    );
    assert!(
        show.contains(
            "version counter@1.0.0 → counter@2.0.0 by cli:tester (unverified, from 127.0.0.1): try v2"
        ),
        "{show}"
    );
    assert!(
        show.contains(
            "version counter@2.0.0 → counter@1.0.0 by cli:tester (unverified, from 127.0.0.1): rollback: v2 smells"
        ),
        "{show}"
    );
    assert!(show.contains("stop  →  by cli:tester"), "{show}");
}

#[test]
fn a_running_deployment_pauses_itself_on_drawdown_and_resumes_by_command() {
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::SCRIPTED]);
    f.paper(
        "dd",
        "scripted@0.1.0",
        &[
            "--param",
            "script=0 weight 0 1",
            "--risk",
            "max_drawdown=1",
            "--risk",
            "daily_loss_limit=1",
        ],
    );
    let mut bars = flat(50, 100.0);
    bars.push((100.0, 100.0, 85.0, 85.0));
    bars.extend(flat(20_000, 85.0));
    let data = bars_csv(f.dir.path(), "X.csv", MINUTE, &bars);
    f.serve();
    f.ok(&[
        "deploy",
        "start",
        "dd",
        "--data",
        data.to_str().unwrap(),
        "--bars-per-second",
        "2000",
    ]);
    let s = f.wait("dd", "the engine to pause", |s| !s["paused"].is_null());
    assert!(
        s["paused"].as_str().unwrap().starts_with(
            "drawdown 15.00% from the peak 100000.00 passed the pause threshold 10.00%"
        ),
        "{s}"
    );
    // The registry knows, with the engine as actor.
    f.ok(&["deploy", "resume", "dd", "--reason", "drawdown reviewed"]);
    f.wait("dd", "the strategy to be called again", |s| {
        s["paused"].is_null()
    });
    f.ok(&["deploy", "stop", "dd"]);
    f.stop_serving();
    let show = f.ok(&["deploy", "show", "dd"]);
    assert!(
        show.contains("pause PAPER → PAUSED by engine: drawdown 15.00%"),
        "{show}"
    );
    assert!(
        show.contains(
            "resume PAUSED → PAPER by cli:tester (unverified, from 127.0.0.1): drawdown reviewed"
        ),
        "{show}"
    );
}

#[test]
fn a_shadow_runs_beside_the_deployment_and_can_be_promoted() {
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::SMA_CROSS]);
    f.ok(&["plugin", "add", plugins::RSI_REVERSION]);
    f.paper("s", "sma-cross@0.1.0", &[]);
    let csv = f.dir.path().join("syn.csv");
    ok(&sandbar([
        "generate",
        "--bars",
        "40000",
        "--seed",
        "3",
        "--out",
        csv.to_str().unwrap(),
    ]));
    f.serve();
    f.ok(&[
        "deploy",
        "start",
        "s",
        "--data",
        csv.to_str().unwrap(),
        "--bars-per-second",
        "2000",
    ]);
    f.wait("s", "bars to flow", |s| s["seq"].as_u64() > Some(100));
    f.ok(&[
        "deploy",
        "shadow",
        "s",
        "rsi-reversion@0.1.0",
        "--data",
        csv.to_str().unwrap(),
    ]);
    f.wait("s", "the shadow", |s| s["shadow"] == "rsi-reversion@0.1.0");
    f.wait("s", "bars beside it", |s| s["seq"].as_u64() > Some(4000));
    let report = f.ok(&["deploy", "shadow-report", "s"]);
    assert!(
        report.starts_with("shadow rsi-reversion@0.1.0 beside sma-cross@0.1.0 over "),
        "{report}"
    );
    assert!(report.contains("differing"), "{report}");
    let promoted = f.ok(&[
        "deploy",
        "promote-shadow",
        "s",
        "--reason",
        "rsi looks better",
    ]);
    assert!(promoted.contains("rsi-reversion@0.1.0"), "{promoted}");
    f.wait("s", "the candidate in service", |s| {
        s["serving"] == "rsi-reversion@0.1.0" && s["shadow"].is_null()
    });
    f.ok(&["deploy", "stop", "s"]);
    f.stop_serving();
    let show = f.ok(&["deploy", "show", "s"]);
    assert!(
        show.contains("shadow-start  → rsi-reversion@0.1.0 by cli:tester")
            && show.contains("shadow-stop  → rsi-reversion@0.1.0 by cli:tester"),
        "{show}"
    );
    assert!(show.contains("version sma-cross@0.1.0 → rsi-reversion@0.1.0 by cli:tester (unverified, from 127.0.0.1): promote-shadow: rsi looks better"), "{show}");
}

#[test]
fn a_fault_in_one_deployment_leaves_the_others_running() {
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::COUNTER_V1]);
    f.ok(&["plugin", "add", plugins::HOSTILE_SPIN]);
    f.paper("healthy", "counter@1.0.0", &[]);
    f.paper("spinner", "hostile-spin@0.1.0", &[]);
    let data = bars_csv(f.dir.path(), "X.csv", MINUTE, &flat(40_000, 100.0));
    f.serve();
    f.ok(&[
        "deploy",
        "start",
        "healthy",
        "--data",
        data.to_str().unwrap(),
        "--bars-per-second",
        "2000",
    ]);
    f.ok(&[
        "deploy",
        "start",
        "spinner",
        "--data",
        data.to_str().unwrap(),
        "--bars-per-second",
        "2000",
    ]);
    let dead = f.wait("spinner", "the spinner to fault", |s| s["running"] == false);
    assert!(
        dead["ended"]
            .as_str()
            .unwrap()
            .starts_with("faulted at bar 3: CPU budget exceeded"),
        "{dead}"
    );
    let before = f.status("healthy")["seq"].as_u64().unwrap();
    f.wait("healthy", "the healthy deployment to go on", |s| {
        s["running"] == true && s["seq"].as_u64() > Some(before + 200)
    });
    f.ok(&["deploy", "stop", "healthy"]);
    f.stop_serving();
    let show = f.ok(&["deploy", "show", "spinner"]);
    assert!(
        show.contains("pause PAPER → PAUSED by engine: faulted at bar 3"),
        "{show}"
    );
    assert!(
        f.ok(&["deploy", "show", "healthy"])
            .contains("healthy (PAPER)")
    );
}
