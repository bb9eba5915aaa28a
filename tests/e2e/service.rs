//! `sandbar serve`: deployments running on a feed, steered while they run —
//! swap, rollback, pause, shadow — with every change audited under the
//! identity of the token that asked. The service listens on loopback; every
//! wait is bounded.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::util::*;

/// The operator's token in these tests.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// A registry in a scratch directory and, once started, a service over it.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub server: Option<(Child, String)>,
    /// Extra environment for `serve`.
    pub env: Vec<(String, String)>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some((child, _)) = &mut self.server {
            let _ = child.kill();
            let _ = child.wait();
        }
        // SANDBAR_KEEP_TMP=1 keeps the scratch directory for a post-mortem.
        if std::env::var_os("SANDBAR_KEEP_TMP").is_some() {
            let dir = std::mem::replace(&mut self.dir, scratch());
            eprintln!("kept {}", dir.keep().display());
        }
    }
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture {
            dir: scratch(),
            server: None,
            env: Vec::new(),
        }
    }

    pub fn registry(&self) -> PathBuf {
        self.dir.path().join("registry.redb")
    }

    pub fn cmd(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if let Some((_, url)) = &self.server {
            if matches!(
                args.get(1).copied(),
                Some(
                    "start"
                        | "swap"
                        | "rollback"
                        | "continue"
                        | "shadow"
                        | "shadow-report"
                        | "promote-shadow"
                        | "status"
                        | "stop"
                        | "pause"
                        | "resume"
                        | "flatten"
                )
            ) {
                all.extend(["--server".into(), url.clone()]);
            }
        } else {
            all.extend(["--registry".into(), self.registry().display().to_string()]);
        }
        Command::new(SANDBAR)
            .args(&all)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("USER", "tester")
            .env("SANDBAR_TOKEN", TOKEN)
            .env(
                "SANDBAR_CACHE_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbar-cache"),
            )
            .output()
            .unwrap()
    }

    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        ok(&out);
        stdout(&out)
    }

    /// Write `sandbar.toml` with `feeds` (TOML of `[feeds.*]` tables) and
    /// `extra` top-level keys and sections.
    pub fn config(&self, feeds: &str, extra: &str) -> PathBuf {
        let path = self.dir.path().join("sandbar.toml");
        std::fs::write(
            &path,
            format!(
                "data_dir = {:?}\n{extra}\n[api]\nlisten = \"127.0.0.1:0\"\n{feeds}\n",
                self.dir.path()
            ),
        )
        .unwrap();
        path
    }

    /// A recorded feed `rec` over `data` at 2,000 one-minute bars a second.
    pub fn recorded(&self, data: &Path) -> PathBuf {
        self.config(
            &format!(
                "[feeds.rec]\nkind = \"recorded\"\nfiles = [{:?}]\ninterval = \"1m\"\nbars_per_second = 2000\n",
                data
            ),
            "",
        )
    }

    /// `sandbar serve --config <config>`, waiting until it listens.
    pub fn serve(&mut self, config: &Path) {
        let addr = self.dir.path().join("addr");
        let _ = std::fs::remove_file(&addr);
        let child = Command::new(SANDBAR)
            .args(["serve", "--config"])
            .arg(config)
            .arg("--addr-file")
            .arg(&addr)
            .env("SANDBAR_TOKEN", TOKEN)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env(
                "SANDBAR_CACHE_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbar-cache"),
            )
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.path().join("serve.log"))
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !addr.exists()
            || std::fs::read_to_string(&addr)
                .unwrap_or_default()
                .is_empty()
        {
            assert!(Instant::now() < deadline, "service did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let url = std::fs::read_to_string(&addr).unwrap();
        self.server = Some((child, url));
    }

    pub fn url(&self) -> String {
        self.server.as_ref().unwrap().1.clone()
    }

    /// SIGTERM, and wait for a clean exit (at most 30 s).
    #[track_caller]
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let (mut child, _) = self.server.take().expect("serving");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "serve did not exit on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop_serving(&mut self) {
        if let Some((mut child, _)) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn status(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["deploy", "status", name])).unwrap()
    }

    /// Poll the status until `pred` holds (at most 30 s).
    #[track_caller]
    pub fn wait(
        &self,
        name: &str,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
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
    pub fn paper(&self, name: &str, plugin: &str, extra: &[&str]) {
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

    /// Start `name` on the recorded feed from its first bar.
    #[track_caller]
    pub fn start(&self, name: &str, symbol: &str) {
        self.ok(&[
            "deploy",
            "start",
            name,
            "--feed",
            "rec",
            "--symbol",
            symbol,
            "--interval",
            "1m",
            "--start",
            "2024-01-01",
        ]);
    }
}

/// A PAPER sma-cross (3/8) deployment `p` run through the service on the
/// first `bars` real BTCUSDT minutes, to the end of the recording: the
/// fixture (still serving), the recording and the deployment's last status.
pub fn paper_on_btc(bars: usize) -> (Fixture, PathBuf, serde_json::Value) {
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::SMA_CROSS]);
    f.paper(
        "p",
        "sma-cross@0.1.0",
        &["--param", "fast=3", "--param", "slow=8"],
    );
    let all =
        std::fs::read_to_string(plugins::shared_data("binance-btcusdt-1m-2024-01.csv")).unwrap();
    let csv = f.dir.path().join("BTCUSDT.csv");
    let text: String = all.lines().take(bars).map(|l| format!("{l}\n")).collect();
    std::fs::write(&csv, text).unwrap();
    let config = f.recorded(&csv);
    f.serve(&config);
    f.start("p", "BTCUSDT");
    let last = bars as u64 - 1;
    let s = f.wait("p", "the recording consumed", |s| {
        s["seq"].as_u64() >= Some(last)
    });
    (f, csv, s)
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
    let config = f.recorded(&data);
    f.serve(&config);

    let out = f.cmd(&[
        "deploy",
        "start",
        "early",
        "--feed",
        "rec",
        "--symbol",
        "X",
        "--interval",
        "1m",
    ]);
    assert!(
        stderr(&out).contains("deployment `early` is DRAFT; only PAPER and LIVE deployments run"),
        "{}",
        stderr(&out)
    );

    f.start("c", "X");
    f.wait("c", "bars to flow", |s| s["seq"].as_u64() > Some(200));
    // Issue 8.9: a blank reason, or a request naming nobody, is refused.
    let out = f.cmd(&["deploy", "swap", "c", "counter@2.0.0", "--reason", "  "]);
    assert!(
        stderr(&out).contains("a swap needs a reason"),
        "{}",
        stderr(&out)
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
        // The actor is the token's holder, whatever the caller's user name.
        (Some("counter@2.0.0"), Some("operator"))
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
        show.contains("start  → feed rec X 1m by operator"),
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
        show.contains("version counter@1.0.0 → counter@2.0.0 by operator: try v2"),
        "{show}"
    );
    assert!(
        show.contains("version counter@2.0.0 → counter@1.0.0 by operator: rollback: v2 smells"),
        "{show}"
    );
    assert!(show.contains("stop  →  by operator"), "{show}");
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
    let config = f.recorded(&data);
    f.serve(&config);
    f.start("dd", "X");
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
        show.contains("resume PAUSED → PAPER by operator: drawdown reviewed"),
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
    let config = f.recorded(&csv);
    f.serve(&config);
    f.start("s", "SYN");
    f.wait("s", "bars to flow", |s| s["seq"].as_u64() > Some(100));
    f.ok(&["deploy", "shadow", "s", "rsi-reversion@0.1.0"]);
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
        show.contains("shadow-start  → rsi-reversion@0.1.0 by operator")
            && show.contains("shadow-stop  → rsi-reversion@0.1.0 by operator"),
        "{show}"
    );
    assert!(show.contains("version sma-cross@0.1.0 → rsi-reversion@0.1.0 by operator: promote-shadow: rsi looks better"), "{show}");
}

#[test]
fn a_fault_in_one_deployment_leaves_the_others_running() {
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::COUNTER_V1]);
    f.ok(&["plugin", "add", plugins::HOSTILE_SPIN]);
    f.paper("healthy", "counter@1.0.0", &[]);
    f.paper("spinner", "hostile-spin@0.1.0", &[]);
    let data = bars_csv(f.dir.path(), "X.csv", MINUTE, &flat(40_000, 100.0));
    let config = f.recorded(&data);
    f.serve(&config);
    f.start("healthy", "X");
    f.start("spinner", "X");
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

#[test]
fn thirty_deployments_share_two_workers_instead_of_a_thread_each() {
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::COUNTER_V1]);
    let names: Vec<String> = (0..30).map(|i| format!("d{i:02}")).collect();
    for n in &names {
        f.paper(n, "counter@1.0.0", &[]);
    }
    let data = bars_csv(f.dir.path(), "X.csv", MINUTE, &flat(100_000, 100.0));
    let config = f.config(
        &format!(
            "[feeds.rec]\nkind = \"recorded\"\nfiles = [{data:?}]\ninterval = \"1m\"\nbars_per_second = 200\n"
        ),
        "workers = 2",
    );
    f.serve(&config);
    for n in &names {
        f.start(n, "X");
    }
    for n in &names {
        f.wait(n, "bars", |s| s["seq"].as_u64() > Some(100));
    }
    let pid = f.server.as_ref().unwrap().0.id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let threads: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(threads < 30, "{threads} threads for 30 deployments");
    // Exactly the two configured workers run deployments (threads are
    // named `deploy-worker-N`), and no thread is named after a deployment.
    let names_of_threads: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .collect();
    let workers = names_of_threads
        .iter()
        .filter(|n| n.starts_with("deploy-worker"))
        .count();
    assert_eq!(workers, 2, "{names_of_threads:?}");
    // Every one of them keeps up with the feed (one snapshot of all of them).
    let all: Vec<serde_json::Value> = sandbar::net::tls::Tls::webpki()
        .http()
        .build()
        .unwrap()
        .get(format!("{}/deployments", f.url()))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let seqs: Vec<u64> = all
        .iter()
        .map(|d| d["status"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 30);
    // None is starved: every one goes on past the furthest one's bar of a
    // moment ago (a wait on progress, not a bound on the spread, which a
    // loaded machine can stretch for a while).
    let target = seqs.iter().max().unwrap() + 200;
    for n in &names {
        f.wait(n, "bars past the furthest", |s| {
            s["seq"].as_u64() >= Some(target)
        });
    }
}

#[test]
fn a_deployment_on_a_symbol_the_recorded_feed_lacks_is_refused_not_left_silent() {
    // A Binance kline CSV has no symbol column: its symbol is its file's
    // name. A deployment on BTCUSDT used to start and receive nothing.
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::SMA_CROSS]);
    f.paper(
        "p",
        "sma-cross@0.1.0",
        &["--param", "fast=3", "--param", "slow=8"],
    );
    let all =
        std::fs::read_to_string(plugins::shared_data("binance-btcusdt-1m-2024-01.csv")).unwrap();
    let csv = f.dir.path().join("klines-jan.csv");
    let text: String = all.lines().take(60).map(|l| format!("{l}\n")).collect();
    std::fs::write(&csv, text).unwrap();
    let config = f.recorded(&csv);
    f.serve(&config);
    let start = [
        "deploy",
        "start",
        "p",
        "--feed",
        "rec",
        "--symbol",
        "BTCUSDT",
        "--interval",
        "1m",
        "--start",
        "2024-01-01",
    ];
    let o = f.cmd(&start);
    assert_ne!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("feed `rec` has no symbol BTCUSDT (its recording has: klines-jan;")
            && stderr(&o).contains("`symbol` is set in [feeds.rec]"),
        "{}",
        stderr(&o)
    );
    f.stop_serving();
    // Named in the feed's configuration, the same file serves BTCUSDT.
    let config = f.config(
        &format!(
            "[feeds.rec]\nkind = \"recorded\"\nfiles = [{csv:?}]\nsymbol = \"BTCUSDT\"\n\
             interval = \"1m\"\nbars_per_second = 2000\n"
        ),
        "",
    );
    f.serve(&config);
    f.ok(&start);
    f.wait("p", "the recording consumed", |s| {
        s["seq"].as_u64() >= Some(59)
    });
}

#[test]
fn a_deployment_that_cannot_recover_is_marked_failed_while_the_others_run() {
    // `bad`'s journal is damaged: before, `serve` exited and took `good`
    // (and the API, and the kill switch) with it.
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::COUNTER_V1]);
    f.paper("good", "counter@1.0.0", &[]);
    f.paper("bad", "counter@1.0.0", &[]);
    let data = bars_csv(f.dir.path(), "X.csv", MINUTE, &flat(500, 100.0));
    let journals = f.dir.path().join("journals");
    std::fs::create_dir_all(&journals).unwrap();
    std::fs::write(journals.join("bad.redb"), b"not a journal at all").unwrap();
    let mut deployments = String::new();
    for name in ["good", "bad"] {
        deployments.push_str(&format!(
            "[[deployments]]\nname = \"{name}\"\nfeed = \"rec\"\nsymbols = [\"X\"]\ninterval = \"1m\"\nstart = \"2024-01-01\"\n"
        ));
    }
    let config = f.config(
        &format!(
            "[feeds.rec]\nkind = \"recorded\"\nfiles = [{data:?}]\ninterval = \"1m\"\nbars_per_second = 2000\n"
        ),
        &deployments,
    );
    f.serve(&config);
    f.wait("good", "its bars", |s| s["seq"].as_u64() >= Some(499));
    let out = f.cmd(&["deploy", "status", "bad"]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("deployment `bad` did not start") && e.contains("bad.redb"),
        "{e}"
    );
    // `/ready` says so, naming it; the kill switch answers.
    let http = sandbar::net::tls::Tls::webpki().http().build().unwrap();
    let r = http
        .get(format!("{}/ready", f.url()))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().unwrap();
    assert!(body["failed"]["bad"].as_str().is_some(), "{body}");
    let log = std::fs::read_to_string(f.dir.path().join("serve.log")).unwrap();
    assert!(
        log.contains("deployment `bad` did not start (the others run)"),
        "{log}"
    );
    assert!(f.terminate().success());
}
