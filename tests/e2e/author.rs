//! The strategy author's first steps: `sandbar demo`, `sandbar new`,
//! `sandbar build`, replay — the way a newcomer meets them.

use std::path::Path;
use std::process::Command;

use crate::util::*;

/// Cargo's target directory for strategies built here: the one the plugin
/// fixtures use, so the SDK's wasm build is shared and the test stays fast.
fn plugin_target_dir() -> std::path::PathBuf {
    Path::new(plugins::REPO).join("target/plugins")
}

#[test]
fn a_new_strategy_tests_natively_builds_to_a_component_and_replays() {
    let dir = scratch();
    let crate_dir = dir.path().join("my-strategy");
    let out = sandbar(["new".as_ref(), crate_dir.as_os_str()]);
    ok(&out);
    assert!(
        stdout(&out).contains("created strategy `my-strategy`"),
        "{}",
        stdout(&out)
    );
    for f in [
        "Cargo.toml",
        "README.md",
        "rust-toolchain.toml",
        "src/lib.rs",
    ] {
        assert!(crate_dir.join(f).exists(), "{f} missing");
    }
    assert_eq!(
        std::fs::read_to_string(crate_dir.join("README.md"))
            .unwrap()
            .lines()
            .count(),
        4,
        "a title and three lines"
    );

    // Its own unit test runs natively, outside this workspace.
    let test = Command::new(env!("CARGO"))
        .args(["test", "--quiet"])
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", plugin_target_dir().join("native"))
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    assert!(String::from_utf8_lossy(&test.stdout).contains("1 passed"));

    let out = sandbar([
        "build".as_ref(),
        crate_dir.as_os_str(),
        "--target-dir".as_ref(),
        plugin_target_dir().as_os_str(),
    ]);
    ok(&out);
    let text = stdout(&out);
    let wasm = text
        .lines()
        .find_map(|l| l.strip_prefix("built "))
        .and_then(|l| l.split(" (").next())
        .unwrap_or_else(|| panic!("{text}"))
        .to_string();
    assert!(wasm.ends_with("my_strategy.wasm"), "{wasm}");
    assert!(
        text.contains("my-strategy@0.1.0 (sdk 0.1.0, sandbar:strategy@0.3.0, exact delivery)"),
        "{text}"
    );
    assert!(
        text.contains("fast (integer, default 10 in [1, 1000])"),
        "{text}"
    );

    let replay = sandbar([
        "replay",
        "--plugin",
        &wasm,
        "--data",
        plugins::fixture("sample-daily.csv").to_str().unwrap(),
    ]);
    ok(&replay);
    let report = stdout(&replay);
    let trades: u64 = report
        .lines()
        .find_map(|l| l.strip_prefix("Trades"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("{report}"));
    assert!(trades > 0, "{report}");
}

#[test]
fn the_trailing_breakout_template_passes_its_own_test_and_trails_in_a_replay() {
    let dir = scratch();
    let crate_dir = dir.path().join("breakout");
    ok(&sandbar([
        "new".as_ref(),
        crate_dir.as_os_str(),
        "--template".as_ref(),
        "trailing-breakout".as_ref(),
    ]));
    let test = Command::new(env!("CARGO"))
        .args(["test", "--quiet"])
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", plugin_target_dir().join("native"))
        .output()
        .unwrap();
    assert!(
        test.status.success() && String::from_utf8_lossy(&test.stdout).contains("1 passed"),
        "{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    let out = sandbar([
        "build".as_ref(),
        crate_dir.as_os_str(),
        "--target-dir".as_ref(),
        plugin_target_dir().as_os_str(),
    ]);
    ok(&out);
    let text = stdout(&out);
    let wasm = text
        .lines()
        .find_map(|l| l.strip_prefix("built "))
        .and_then(|l| l.split(" (").next())
        .unwrap_or_else(|| panic!("{text}"))
        .to_string();
    // On the real GOOG daily recording it trails stops up and exits on them.
    let journal = dir.path().join("b.redb");
    ok(&sandbar([
        "replay",
        "--plugin",
        &wasm,
        "--data",
        plugins::shared_data("goog-daily-2004-2013.csv")
            .to_str()
            .unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ]));
    let entries = journal_entries(&journal);
    let trails = of_kind(&entries, "amend")
        .iter()
        .filter(|a| {
            a["change"].get("trailing-stop").is_some()
                || a["change"].to_string().contains("Trailing")
        })
        .count();
    assert!(trails > 0, "no trailing stop was set");
    let stop_exits = of_kind(&entries, "fill")
        .iter()
        .filter(|f| f["fill"]["origin"] == "stop-loss")
        .count();
    assert!(stop_exits > 0, "no exit on a stop");
}

#[test]
fn new_refuses_a_bad_name_and_a_directory_in_use() {
    let dir = scratch();
    let out = sandbar(["new".as_ref(), dir.path().join("My Strategy").as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not a strategy name"),
        "{}",
        stderr(&out)
    );
    let taken = dir.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    std::fs::write(taken.join("notes.txt"), "mine").unwrap();
    let out = sandbar(["new".as_ref(), taken.as_os_str()]);
    assert!(
        stderr(&out).contains("already exists and is not empty"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn build_adds_the_wasm_target_when_the_toolchain_lacks_it() {
    // A rustup that reports no installed target and records what it is
    // asked: `sandbar build` must add the target before building.
    let dir = scratch();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = dir.path().join("rustup.log");
    let fake = bin.join("rustup");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$@\" >> {}\nexit 0\n", log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let example = Path::new(plugins::REPO).join("plugins/sma-cross");
    let out = Command::new(SANDBAR)
        .args(["build", example.to_str().unwrap(), "--target-dir"])
        .arg(plugin_target_dir())
        .env("PATH", path)
        .output()
        .unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("the toolchain lacks the wasm32-wasip2 target"),
        "{}",
        stderr(&out)
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        vec!["target list --installed", "target add wasm32-wasip2"]
    );
}

#[test]
fn build_says_what_is_wrong_with_a_directory_that_is_no_crate() {
    let dir = scratch();
    let out = sandbar(["build".as_ref(), dir.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("has neither a Cargo.toml nor a strategy.py"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_demo_builds_the_example_and_replays_the_bundled_sample() {
    let out = sandbar(["demo"]);
    ok(&out);
    let report = stdout(&out);
    assert!(report.contains("Bars                   1500"), "{report}");
    assert!(
        report.contains("next: `sandbar new my-strategy`"),
        "{report}"
    );
}

#[test]
fn demo_serve_brings_up_a_paper_service_whose_version_can_be_swapped_and_rolled_back() {
    // Issue 26, item 10: the first service in one command, no configuration.
    use std::io::BufRead;
    use std::time::{Duration, Instant};
    let dir = scratch();
    let addr = dir.path().join("addr");
    let mut child = Command::new(SANDBAR)
        .args(["demo", "--serve", "--listen", "127.0.0.1:0"])
        .args(["--bars-per-second", "20", "--addr-file"])
        .arg(&addr)
        .env(
            "SANDBAR_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbar-cache"),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    // What it prints: the dashboard, the token, where its data is.
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    let (mut url, mut token, mut data) = (None, None, None);
    while data.is_none() {
        let Some(Ok(line)) = lines.next() else {
            panic!("the demo ended before it said where its data is: {printed}");
        };
        printed.push_str(&line);
        printed.push('\n');
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["dashboard", u, ..] => url = u.strip_suffix("/dashboard").map(String::from),
            ["token", t, ..] => token = Some(t.to_string()),
            ["Data", "in", d, ..] => data = Some(std::path::PathBuf::from(d)),
            _ => {}
        }
    }
    let (url, token, data) = (url.expect("a url"), token.expect("a token"), data.unwrap());
    assert_eq!(std::fs::read_to_string(&addr).unwrap(), url, "{printed}");
    let cli = |args: &[&str]| {
        let out = Command::new(SANDBAR)
            .args(args)
            .args(["--server", &url])
            .env("SANDBAR_TOKEN", &token)
            .output()
            .unwrap();
        ok(&out);
        stdout(&out)
    };
    let status = || -> serde_json::Value {
        serde_json::from_str(&cli(&["deploy", "status", "demo"])).unwrap()
    };
    let wait = |what: &str, pred: &dyn Fn(&serde_json::Value) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = status();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let s = wait("bars", &|s| s["seq"].as_u64() > Some(60));
    assert_eq!(s["serving"], "demo-sma@0.1.0", "{s}");
    // Without the token, nothing.
    let anonymous = Command::new(SANDBAR)
        .args(["deploy", "status", "demo", "--server", &url])
        .env("SANDBAR_TOKEN", "not-the-token")
        .output()
        .unwrap();
    assert!(!anonymous.status.success());

    cli(&[
        "deploy",
        "swap",
        "demo",
        "demo-sma@0.2.0",
        "--reason",
        "try it",
    ]);
    wait("0.2.0 in service", &|s| s["serving"] == "demo-sma@0.2.0");
    cli(&["deploy", "rollback", "demo", "--reason", "back"]);
    let s = wait("0.1.0 back, and more bars", &|s| {
        s["serving"] == "demo-sma@0.1.0" && s["seq"].as_u64() > Some(120)
    });
    assert!(s["paused"].is_null(), "{s}");

    // SIGTERM: it stops cleanly and takes its data with it.
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());
    assert!(!data.exists(), "{} was left behind", data.display());
}
