//! Containment: every hostile fixture plugin is stopped or refused with an
//! exact diagnosis, the run stops cleanly (exit 3, journal intact up to the
//! fault) or continues, and the host itself is never harmed.

use crate::util::*;

/// Ten flat daily bars of symbol `X`; fixtures misbehave from their fourth bar.
fn ten_bars(dir: &std::path::Path) -> std::path::PathBuf {
    bars_csv(dir, "X.csv", DAY, &flat(10, 100.0))
}

/// Replay a fixture into a journal; returns (output, journal entries).
fn hostile(plugin: &str, set: &[&str]) -> (std::process::Output, Vec<serde_json::Value>) {
    let dir = scratch();
    let data = ten_bars(dir.path());
    let journal = dir.path().join("j.redb");
    let mut args = vec![
        "replay",
        "--log",
        "plugin=info",
        "--plugin",
        plugin,
        "--data",
        data.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ];
    for s in set {
        args.extend(["--set", s]);
    }
    let out = sandbar(args);
    (out, journal_entries(&journal))
}

/// The last line of stderr, which is the error line.
fn error_line(out: &std::process::Output) -> String {
    stderr(out).lines().last().unwrap_or_default().to_string()
}

/// Assert a contained fault at bar 3: exit 3, the exact cause after the
/// common prefix, and a journal that ends with the fault after three bars.
#[track_caller]
fn assert_fault(plugin: &str, name: &str, set: &[&str], cause: &str) {
    let (out, entries) = hostile(plugin, set);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let line = error_line(&out);
    let prefix = format!("error: plugin {name}@0.1.0 (sha256 ");
    assert!(line.starts_with(&prefix), "{line}");
    let rest = line
        .split_once(") faulted at bar 3 (X 2024-01-04): ")
        .map(|x| x.1)
        .unwrap_or_else(|| panic!("{line}"));
    assert!(rest.ends_with("is complete up to the fault"), "{rest}");
    let cause_found = rest.rsplit_once("; journal ").unwrap().0;
    assert_eq!(cause_found, cause);
    assert_eq!(
        entries.first().unwrap()["bars"]["first"],
        0,
        "journal intact from the start"
    );
    let fault = &entries
        .iter()
        .rev()
        .find_map(|e| e.get("fault"))
        .expect("fault journaled");
    assert_eq!(fault["seq"], 3);
    assert!(
        fault["message"].as_str().unwrap().contains(cause),
        "{fault}"
    );
    assert!(
        entries.last().unwrap().get("final").is_some(),
        "final portfolio journaled"
    );
    assert!(
        !stderr(&out).contains("panicked at host"),
        "the host did not panic"
    );
}

#[test]
fn a_plugin_that_spins_forever_is_stopped_by_the_cpu_budget() {
    assert_fault(
        plugins::HOSTILE_SPIN,
        "hostile-spin",
        &[],
        "CPU budget exceeded: call used more than 250 ms of CPU on one bar",
    );
    assert_fault(
        plugins::HOSTILE_SPIN,
        "hostile-spin",
        &["sandbox.call_timeout_ms=20"],
        "CPU budget exceeded: call used more than 20 ms of CPU on one bar",
    );
}

/// Issue 28: the budget was wall-clock time, so a host sharing its core
/// with a busy neighbour faulted a healthy plugin ("call ran longer than
/// 250 ms" after ~13 ms of work). It counts the plugin thread's CPU time now:
/// the same plugin, pinned with a spinning process to one core and at the
/// lowest priority, takes seconds of wall time per bar and is let through.
#[test]
fn a_busy_but_healthy_plugin_is_not_faulted_when_the_host_shares_its_core() {
    let dir = scratch();
    let data = bars_csv(dir.path(), "X.csv", DAY, &flat(4, 100.0));
    let mut neighbour = std::process::Command::new("taskset")
        .args(["-c", "0", "sh", "-c", "while :; do :; done"])
        .spawn()
        .expect("taskset (util-linux) runs");
    let started = std::time::Instant::now();
    let out = std::process::Command::new("taskset")
        .args(["-c", "0", "nice", "-n", "19", SANDBAR, "replay", "--plugin"])
        .arg(plugins::HOSTILE_SPIN)
        .arg("--data")
        .arg(&data)
        // ~20 million steps: about 13 ms of CPU on the fourth bar.
        .args(["-p", "work=20000000"])
        .output()
        .unwrap();
    let took = started.elapsed();
    let _ = neighbour.kill();
    let _ = neighbour.wait();
    ok(&out);
    assert!(
        stdout(&out).starts_with("hostile-spin@0.1.0 on X (4 bars, Active final state)"),
        "{}",
        stdout(&out)
    );
    eprintln!("the starved replay took {took:?} of wall time");
}

#[test]
fn a_plugin_that_allocates_without_bound_hits_the_memory_cap() {
    assert_fault(
        plugins::HOSTILE_ALLOC,
        "hostile-alloc",
        &[],
        "memory cap exceeded: tried to grow linear memory beyond 67108864 bytes",
    );
    assert_fault(
        plugins::HOSTILE_ALLOC,
        "hostile-alloc",
        &["sandbox.memory_bytes=16777216"],
        "memory cap exceeded: tried to grow linear memory beyond 16777216 bytes",
    );
}

#[test]
fn unbounded_recursion_traps_inside_the_plugin() {
    // Rust's shadow stack lives in linear memory: overflowing it is an
    // out-of-bounds access, caught by the sandbox.
    assert_fault(
        plugins::HOSTILE_RECURSE,
        "hostile-recurse",
        &[],
        "trap: wasm trap: out of bounds memory access (in hostile_recurse::deeper)",
    );
}

#[test]
fn a_panic_is_a_trap_that_carries_the_panic_message() {
    assert_fault(
        plugins::HOSTILE_PANIC,
        "hostile-panic",
        &[],
        "trap: wasm trap: wasm `unreachable` instruction executed after the plugin's panic: \
         panicked at plugins/hostile-panic/src/lib.rs:17:13: strategy bug at close 100 \
         (in <hostile_panic::_::__SandbarGuest as \
         sandbar_sdk::wit::glue::bindings::exports::sandbar::strategy0_3_0::managed::Guest>::on_window)",
    );
}

#[test]
fn an_unreachable_instruction_traps_with_a_guest_backtrace() {
    assert_fault(
        plugins::HOSTILE_UNREACHABLE,
        "hostile-unreachable",
        &[],
        "trap: wasm trap: wasm `unreachable` instruction executed (in <hostile_unreachable::_::__SandbarGuest \
         as sandbar_sdk::wit::glue::bindings::exports::sandbar::strategy0_3_0::managed::Guest>::on_window)",
    );
    let (out, _) = hostile(plugins::HOSTILE_UNREACHABLE, &[]);
    assert!(
        stderr(&out).contains(
            "guest backtrace (innermost first):\n  0: <hostile_unreachable::_::__SandbarGuest as"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn thousands_of_intents_in_one_bar_break_the_intent_bound() {
    assert_fault(
        plugins::HOSTILE_FLOOD,
        "hostile-flood",
        &[],
        "bound exceeded: returned 5000 intents for 1 bar(s); the cap is 64 per bar",
    );
}

#[test]
fn megabytes_of_logs_in_one_bar_break_the_log_bound() {
    assert_fault(
        plugins::HOSTILE_LOGS,
        "hostile-logs",
        &[],
        "bound exceeded: log output over its bound (2 lines / 131072 bytes in one call; caps 32 lines, 65536 bytes)",
    );
}

#[test]
fn nan_infinite_negative_and_absurd_numbers_are_refused_one_by_one() {
    let (out, entries) = hostile(plugins::HOSTILE_NUMBERS, &[]);
    ok(&out);
    let refusals: Vec<String> = of_kind(&entries, "refusal")
        .iter()
        .map(|r| {
            format!(
                "{}: {}",
                r["rule"].as_str().unwrap(),
                r["detail"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        refusals,
        vec![
            "invalid-intent: quantity NaN is not a positive finite number",
            "invalid-intent: quantity inf is not a positive finite number",
            "invalid-intent: quantity -3 is not a positive finite number",
            "max-position: position value 1.000e302 would exceed 20% of equity 100000.00 = 20000.00",
            "invalid-intent: target weight NaN is not a finite number within ±100",
            "invalid-intent: target weight 1000000000000 is not a finite number within ±100",
            "invalid-intent: target quantity -inf is not finite",
            "invalid-intent: limit price NaN is not a positive finite number",
            "invalid-intent: limit price -5 is not a positive finite number",
            "invalid-intent: stop-loss inf is not a positive finite number",
            "invalid-intent: take-profit 0 is not a positive finite number",
        ]
    );
    assert_eq!(
        of_kind(&entries, "fill").len(),
        1,
        "the sane order still fills"
    );
}

#[test]
fn symbols_outside_the_feed_are_refused() {
    let (out, entries) = hostile(plugins::HOSTILE_SYMBOLS, &[]);
    ok(&out);
    let details: Vec<&str> = of_kind(&entries, "refusal")
        .iter()
        .map(|r| r["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        details,
        vec![
            "unknown symbol id 1 (this run has 1 symbols)",
            "unknown symbol id 4294967295 (this run has 1 symbols)",
            "unknown symbol id 42 (this run has 1 symbols)",
        ]
    );
    assert_eq!(of_kind(&entries, "fill").len(), 1);
}

#[test]
fn files_environment_clocks_and_sockets_are_out_of_reach_and_randomness_is_seeded() {
    let observe = |seed: &str| {
        let (out, _) = hostile(plugins::HOSTILE_WASI, &[seed]);
        ok(&out);
        stderr(&out)
            .lines()
            .filter_map(|l| {
                l.split_once("observed ")
                    .map(|x| x.1.rsplit_once(" plugin=").unwrap().0.to_string())
            })
            .collect::<Vec<_>>()
    };
    let seen = observe("seed=0");
    let not_found = r#"Err(Os { code: 44, kind: NotFound, message: "No such file or directory" })"#;
    assert_eq!(
        &seen[..9],
        &[
            format!("file: {not_found}"),
            format!("dir: {not_found}"),
            format!("write: {not_found}"),
            "env: 0".to_string(),
            "args: 0".to_string(),
            // Bar time (2024-01-01, the first bar), not the host's clock.
            "wall clock: Ok(1704067200)".to_string(),
            "elapsed: 0ns".to_string(),
            "tcp: refused".to_string(),
            "udp: refused".to_string(),
        ]
    );
    assert!(seen[9].starts_with("hash seed: "));
    assert_eq!(observe("seed=0")[9], seen[9], "same seed, same randomness");
    assert_ne!(
        observe("seed=1")[9],
        seen[9],
        "the seed comes from the run config"
    );
}

#[test]
fn host_imports_called_with_nonsense_answer_harmlessly() {
    let (out, _) = hostile(plugins::HOSTILE_IMPORTS, &[]);
    ok(&out);
    assert!(stderr(&out).contains("observed positions (0.0, 0.0), cash 100000, 0 holdings plugin=\"hostile-imports@0.1.0\""), "{}", stderr(&out));
}

/// A bar at 1 (what an instance is handed directly in these tests).
fn a_flat_bar() -> sandbar::market::Bar {
    sandbar::market::Bar {
        symbol: 0,
        time_ms: 0,
        open: 1.0,
        high: 1.0,
        low: 1.0,
        close: 1.0,
        volume: 1.0,
    }
}

#[test]
fn an_oversized_snapshot_is_a_bound_fault_and_the_runtime_keeps_working() {
    use sandbar::runtime::{CallError, Fault, Runtime};
    let rt = Runtime::new(None).unwrap();
    let plugin = rt
        .load(std::path::Path::new(plugins::HOSTILE_SNAPSHOT))
        .unwrap();
    // Copying 32 MiB out of the sandbox takes a while on a loaded machine.
    let slow_ok = sandbar::runtime::SandboxLimits {
        call_timeout_ms: 10_000,
        ..Default::default()
    };
    let mut inst = rt.instantiate(&plugin, slow_ok, 0).unwrap();
    assert_eq!(
        inst.snapshot().unwrap_err(),
        CallError::Fault(Fault::Bound(
            "snapshot of 33554432 bytes exceeds the cap of 16777216 bytes".into()
        ))
    );
    // A spinning plugin faults in the same runtime; the runtime still serves others.
    let spin = rt
        .load(std::path::Path::new(plugins::HOSTILE_SPIN))
        .unwrap();
    let limits = sandbar::runtime::SandboxLimits {
        call_timeout_ms: 20,
        ..Default::default()
    };
    let mut bad = rt.instantiate(&spin, limits, 0).unwrap();
    let bar = a_flat_bar();
    let mut sink = Vec::new();
    for _ in 0..3 {
        bad.on_bars(&[bar], &[], &mut sink).unwrap();
    }
    assert_eq!(
        bad.on_bars(&[bar], &[], &mut sink).unwrap_err(),
        CallError::Fault(Fault::Timeout(20))
    );
    let good = rt.load(std::path::Path::new(plugins::SMA_CROSS)).unwrap();
    let mut fine = rt.instantiate(&good, Default::default(), 0).unwrap();
    assert_eq!(fine.description().name, "sma-cross");
    let params = sandbar::params::resolve(fine.description(), &[]).unwrap();
    fine.init(&sandbar::runtime::InitConfig {
        params,
        symbols: vec!["X".into()],
        seed: 0,
    })
    .unwrap();
    fine.on_bars(&[bar], &[], &mut sink).unwrap();
    assert!(
        inst.snapshot().is_err(),
        "the faulted instance stays faulted; others are untouched"
    );
}

#[test]
fn a_re_executed_bar_gets_the_cpu_budget_its_journal_says_it_had() {
    // Issue 25: a CPU-budget fault depends on the machine, so re-executing
    // a journal lets the journal decide (the engine's side is in
    // tests/invariants/re_execution.rs); here, what an instance does with it.
    use sandbar::runtime::{CallBudget, CallError, Fault, RE_EXECUTION_FACTOR, Runtime};
    let rt = Runtime::new(None).unwrap();
    let bar = a_flat_bar();
    let mut sink = Vec::new();
    let limits = sandbar::runtime::SandboxLimits {
        call_timeout_ms: 20,
        ..Default::default()
    };
    // Lenient: a bar the journal says fit may use ten times its budget
    // (here a plugin that loops forever, so it faults once it has: the
    // thread's CPU time, and so the wall time, is at least that).
    let spin = rt
        .load(std::path::Path::new(plugins::HOSTILE_SPIN))
        .unwrap();
    let mut lenient = rt.instantiate(&spin, limits, 0).unwrap();
    for _ in 0..3 {
        lenient.on_bars(&[bar], &[], &mut sink).unwrap();
    }
    lenient.set_budget(CallBudget::Lenient);
    let started = std::time::Instant::now();
    let fault = lenient.on_bars(&[bar], &[], &mut sink).unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        fault,
        CallError::Fault(Fault::Timeout(20)),
        "named by its own budget"
    );
    let allowed = std::time::Duration::from_millis(20) * RE_EXECUTION_FACTOR;
    assert!(
        took >= allowed,
        "faulted after {took:?}, before {allowed:?}"
    );
    // Spent: a bar the journal says ran out ends so without being run: the
    // counter's state is what it was; run normally, the same bar counts.
    let counter = rt.load(std::path::Path::new(plugins::COUNTER_V1)).unwrap();
    let mut spent = rt.instantiate(&counter, limits, 0).unwrap();
    spent
        .init(&sandbar::runtime::InitConfig {
            params: sandbar::params::resolve(spent.description(), &[]).unwrap(),
            symbols: vec!["X".into()],
            seed: 0,
        })
        .unwrap();
    let before = spent.snapshot().unwrap();
    spent.set_budget(CallBudget::Spent);
    assert_eq!(
        spent.on_bars(&[bar], &[], &mut sink).unwrap_err(),
        CallError::Fault(Fault::Timeout(20))
    );
    assert_eq!(spent.snapshot().unwrap(), before, "the call was not made");
    spent.on_bars(&[bar], &[], &mut sink).unwrap();
    assert_ne!(
        spent.snapshot().unwrap(),
        before,
        "one Spent call, then it runs"
    );
}

/// wasmtime's test-programs refuse a guest program without a test; so do we:
/// every plugin under plugins/ must be named by some end-to-end test.
#[test]
fn a_plugin_run_is_recorded_by_its_hash_when_the_log_is_asked_for() {
    let dir = scratch();
    let data = ten_bars(dir.path());
    let log = dir.path().join("plugins.log");
    let run = |plugin: &str, log: Option<&std::path::Path>| {
        let mut c = std::process::Command::new(SANDBAR);
        c.args(["replay", "--plugin", plugin, "--data"]).arg(&data);
        c.env_remove("SANDBAR_PLUGIN_LOG");
        if let Some(l) = log {
            c.env("SANDBAR_PLUGIN_LOG", l);
        }
        c.output().unwrap()
    };
    ok(&run(plugins::COUNTER_V1, None));
    assert!(!log.exists(), "nothing is recorded unless asked");
    ok(&run(plugins::COUNTER_V1, Some(&log)));
    let _ = run(plugins::MISMATCH_WORLD, Some(&log));
    let hash = |p: &str| {
        sandbar::digest::hex(&<sha2::Sha256 as sha2::Digest>::digest(
            std::fs::read(p).unwrap(),
        ))
    };
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let counter = hash(plugins::COUNTER_V1);
    assert!(
        lines.contains(&format!("{counter} ran counter@1.0.0").as_str()),
        "{text}"
    );
    assert!(
        lines.contains(&format!("{counter} loaded {}", plugins::COUNTER_V1).as_str()),
        "{text}"
    );
    // Refused at load: loaded, never run.
    let mismatch = hash(plugins::MISMATCH_WORLD);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{mismatch} loaded"))),
        "{text}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with(&format!("{mismatch} ran"))),
        "{text}"
    );
}

/// Issue 28: this used to grep the tests' source for each plugin's constant
/// (a comment satisfied it). Now the plugins that actually ran are recorded:
/// with `SANDBAR_PLUGIN_LOG` set, every instance that is handed a bar
/// appends its component's SHA-256 (`sandbox/runtime/trace.rs`). `.ci/run`
/// sets it for the test run, then runs this (ignored in a plain
/// `cargo test`, which records nothing): every plugin under `plugins/`,
/// Rust and Python, must have been run by some test — handed a bar — except
/// the fixtures made to be refused at load, which must have been loaded.
#[test]
#[ignore = "run by .ci/run after the suite, with SANDBAR_PLUGIN_LOG"]
fn every_plugin_under_plugins_was_run_by_an_end_to_end_test() {
    let log = std::env::var_os("SANDBAR_PLUGIN_LOG")
        .expect("SANDBAR_PLUGIN_LOG names the log the test run wrote (see .ci/run)");
    let ran = std::fs::read_to_string(&log).expect("the plugin log of the test run");
    let logged = |kind: &str| -> std::collections::HashSet<&str> {
        ran.lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(kind))
            .filter_map(|l| l.split_whitespace().next())
            .collect()
    };
    let (hashes, loaded) = (logged("ran"), logged("loaded"));
    // Fixtures made to be refused before any bar: loading them is their test.
    // and `hostile-snapshot`, whose test calls `snapshot` without a bar.
    let refused_at_load = [
        "bad-defaults",
        "mismatch-version",
        "mismatch-world",
        "hostile-snapshot",
    ];
    let mut all: Vec<(String, std::path::PathBuf)> = plugins::ALL
        .iter()
        .map(|(name, path)| (name.to_string(), path.into()))
        .collect();
    let python = std::path::Path::new(plugins::REPO).join("plugins/python");
    for dir in std::fs::read_dir(&python).unwrap() {
        let name = dir.unwrap().file_name().to_string_lossy().to_string();
        let built = plugins::python::python_plugin(SANDBAR, &name);
        all.push((format!("python/{name}"), built));
    }
    assert!(all.len() > 20, "{all:?}");
    let never: Vec<&str> = all
        .iter()
        .filter(|(name, path)| {
            let bytes = std::fs::read(path).unwrap();
            let hash = sandbar::digest::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
            let seen = if refused_at_load.contains(&name.as_str()) {
                &loaded
            } else {
                &hashes
            };
            !seen.contains(hash.as_str())
        })
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(never.is_empty(), "plugins no test ran: {never:?}");
}

#[test]
fn a_plugin_that_sleeps_a_year_wakes_at_once_in_virtual_time() {
    // Issue 8.4: a sleep held the engine thread in real time, out of reach of
    // the CPU budget. The watchdog below only bounds a hang; it measures nothing.
    let dir = scratch();
    let data = ten_bars(dir.path());
    let journal = dir.path().join("j.redb");
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbar-cache");
    let mut child = std::process::Command::new(SANDBAR)
        .args([
            "replay",
            "--log",
            "plugin=info",
            "--plugin",
            plugins::HOSTILE_SLEEP,
        ])
        .args([
            "--data",
            data.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
        ])
        .env("SANDBAR_CACHE_DIR", cache)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("the plugin's sleep held the engine for over two minutes");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("slept a year; the clock moved 0 ms"),
        "{}",
        stderr(&out)
    );
    let entries = journal_entries(&journal);
    assert_eq!(of_kind(&entries, "fill").len(), 1, "it bought after waking");
}
