//! Python strategies (issue 27): built by `sandbar build` with the Python
//! SDK the binary carries, run in the same sandbox as Rust ones, and — for
//! each example — writing the Rust twin's journal entry for entry on the
//! real recordings, apart from the plugin's identity (its SHA-256 and SDK
//! version in the run header).

use std::path::Path;

use crate::util::*;

fn python(name: &str) -> String {
    plugins::python::python_plugin(SANDBAR, name)
        .to_str()
        .unwrap()
        .to_string()
}

/// `sandbar replay` of `plugin` on `data` into `journal`, with `extra` flags.
fn run(plugin: &str, data: &Path, journal: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "replay",
        "--plugin",
        plugin,
        "--data",
        data.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = sandbar(&args);
    ok(&out);
    out
}

/// A journal exported: (run header, entries as JSON lines).
fn exported(journal: &Path) -> (serde_json::Value, Vec<String>) {
    let export = sandbar(["journal".as_ref(), journal.as_os_str()]);
    ok(&export);
    let text = stdout(&export);
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    (header, lines.map(str::to_string).collect())
}

/// Replay `plugin` on `data` into a journal; (report, run header, entries).
fn replay(
    dir: &Path,
    tag: &str,
    plugin: &str,
    data: &Path,
) -> (String, serde_json::Value, Vec<String>) {
    let journal = dir.join(format!("{tag}.redb"));
    let out = run(plugin, data, &journal, &[]);
    let (header, entries) = exported(&journal);
    (stdout(&out), header, entries)
}

/// The Python and the Rust build of one example agree entry for entry on
/// every recording; returns how many entries were compared.
#[track_caller]
fn twins(python_name: &str, rust: &str) -> usize {
    let py = python(python_name);
    let dir = scratch();
    let mut compared = 0;
    for file in ["goog-daily-2004-2013.csv", "binance-btcusdt-1m-2024-01.csv"] {
        let data = plugins::shared_data(file);
        let (report_py, mut head_py, entries_py) = replay(dir.path(), "py", &py, &data);
        let (report_rs, mut head_rs, entries_rs) = replay(dir.path(), "rs", rust, &data);
        assert_eq!(head_py["run"]["sdk_version"], "0.1.0+python");
        assert_ne!(
            head_py["run"]["plugin_sha256"],
            head_rs["run"]["plugin_sha256"]
        );
        for h in [&mut head_py, &mut head_rs] {
            h["run"]["sdk_version"] = "".into();
            h["run"]["plugin_sha256"] = "".into();
        }
        assert_eq!(head_py, head_rs, "{python_name} on {file}: run headers");
        assert!(
            entries_py.iter().any(|e| e.contains("\"order\"")),
            "{python_name} on {file}: the comparison needs trades"
        );
        assert_eq!(
            entries_py.len(),
            entries_rs.len(),
            "{python_name} on {file}: entry counts"
        );
        if let Some(i) = (0..entries_py.len()).find(|&i| entries_py[i] != entries_rs[i]) {
            panic!(
                "{python_name} on {file}: entry {i} differs:\n python {}\n rust   {}",
                entries_py[i], entries_rs[i]
            );
        }
        // The report names the plugin's digest; the figures are the same.
        let figures = |r: &str| {
            r.lines()
                .filter(|l| !l.contains("sha256"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            figures(&report_py),
            figures(&report_rs),
            "{python_name} on {file}: reports"
        );
        compared += entries_py.len();
    }
    compared
}

#[test]
fn sma_cross_in_python_writes_the_rust_journal_entry_for_entry() {
    assert!(twins("sma-cross", plugins::SMA_CROSS) > 100);
}

/// Ten flat daily bars; the hostile fixture misbehaves from its fourth.
fn hostile(mode: &str, set: &[&str]) -> (std::process::Output, Vec<serde_json::Value>) {
    let plugin = python("hostile");
    let dir = scratch();
    let data = bars_csv(dir.path(), "X.csv", DAY, &flat(10, 100.0));
    let journal = dir.path().join("j.redb");
    let param = format!("mode={mode}");
    let mut args = vec![
        "replay",
        "--log",
        "plugin=info",
        "--plugin",
        &plugin,
        "--data",
        data.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "-p",
        &param,
    ];
    for s in set {
        args.extend(["--set", s]);
    }
    let out = sandbar(&args);
    let entries = journal_entries(&journal);
    (out, entries)
}

/// A contained fault on bar 3 (the fourth): exit 3, the cause in the error
/// line and in the journal, the journal complete up to it.
#[track_caller]
fn assert_fault(mode: &str, set: &[&str], cause: &str) -> String {
    assert!(!cause.is_empty());
    let (out, entries) = hostile(mode, set);
    assert_eq!(out.status.code(), Some(3), "{mode}: {}", stderr(&out));
    let line = stderr(&out).lines().last().unwrap_or_default().to_string();
    assert!(
        line.starts_with("error: plugin hostile-python@0.1.0 (sha256 "),
        "{line}"
    );
    assert!(
        line.contains(") faulted at bar 3 (X 2024-01-04): "),
        "{line}"
    );
    assert!(line.contains(cause), "{mode}: {line}");
    let fault = entries
        .iter()
        .rev()
        .find_map(|e| e.get("fault"))
        .unwrap_or_else(|| panic!("{mode}: no fault journaled"));
    assert_eq!(fault["seq"], 3, "{mode}");
    assert!(
        entries.last().unwrap().get("final").is_some(),
        "{mode}: final portfolio journaled"
    );
    assert!(
        !stderr(&out).contains("panicked at"),
        "{mode}: the host did not panic"
    );
    fault["message"].as_str().unwrap().to_string()
}

#[test]
fn a_python_loop_that_never_ends_is_stopped_by_the_cpu_budget() {
    assert_fault(
        "spin",
        &[],
        "CPU budget exceeded: call used more than 250 ms of CPU on one bar",
    );
}

#[test]
fn python_allocating_without_bound_hits_the_memory_cap() {
    assert_fault("alloc", &[], "memory cap exceeded");
}

#[test]
fn deep_python_recursion_is_contained() {
    // With CPython's recursion limit lifted, its frames live on the heap
    // (3.11+), so the recursion ends at the plugin's memory cap.
    assert_fault(
        "recurse",
        &[],
        "memory cap exceeded: tried to grow linear memory beyond 67108864 bytes",
    );
}

#[test]
fn a_flood_of_changes_to_protection_breaks_the_intent_bound() {
    // Issue 25: changes to protection count against `max_intents_per_bar`
    // with the intents, so a plugin cannot fill the journal through them.
    assert_fault(
        "flood-protection",
        &[],
        "bound exceeded: returned 1001 intents for 1 bar(s); the cap is 64 per bar",
    );
}

#[test]
fn a_python_exception_is_a_fault_with_its_traceback() {
    let message = assert_fault("raise", &[], "ValueError: the strategy gave up on bar 4");
    assert!(
        message.contains("Traceback (most recent call last)"),
        "{message}"
    );
    assert!(
        message.contains("strategy.py"),
        "the traceback names the file: {message}"
    );
}

#[test]
fn python_reaches_no_file_socket_environment_or_real_clock() {
    let (out, _) = hostile("observe", &[]);
    ok(&out);
    let seen: Vec<String> = stderr(&out)
        .lines()
        .filter_map(|l| {
            l.split_once("observed ")
                .map(|x| x.1.rsplit_once(" plugin=").map_or(x.1, |y| y.0).to_string())
        })
        .collect();
    assert_eq!(
        seen,
        [
            "file: FileNotFoundError",
            "dir: FileNotFoundError",
            "write: FileNotFoundError",
            "env: 0",
            // The fourth bar's close time, 2024-01-04, not the host's clock.
            "wall clock: 1704326400",
            "tcp: ModuleNotFoundError", // CPython for WASI has no `_socket`
        ],
        "{}",
        stderr(&out)
    );
}

#[test]
fn rsi_reversion_in_python_writes_the_rust_journal_entry_for_entry() {
    assert!(twins("rsi-reversion", plugins::RSI_REVERSION) > 100);
}

#[test]
fn donchian_breakout_in_python_writes_the_rust_journal_entry_for_entry() {
    assert!(twins("donchian-breakout", plugins::DONCHIAN_BREAKOUT) > 100);
}

/// Journal entries of a replay of `plugin` on GOOG daily with `extra` args.
fn goog_entries(plugin: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let dir = scratch();
    let journal = dir.path().join("j.redb");
    run(
        plugin,
        &plugins::shared_data("goog-daily-2004-2013.csv"),
        &journal,
        extra,
    );
    journal_entries(&journal)
}

/// What a run decided and traded, without the swap bookkeeping.
fn trading(entries: &[serde_json::Value]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| {
            e.get("order").is_some() || e.get("fill").is_some() || e.get("intent").is_some()
        })
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn a_python_strategy_hot_swaps_to_a_new_build_of_itself_without_missing_a_beat() {
    let py = python("sma-cross");
    let plain = goog_entries(&py, &[]);
    let swap = format!("700={py}");
    let swapped = goog_entries(&py, &["--swap-at", &swap]);
    let swaps = of_kind(&swapped, "swap");
    assert_eq!(swaps.len(), 1, "{swaps:?}");
    assert_eq!(swaps[0]["seq"], 700);
    assert!(of_kind(&swapped, "swap-refused").is_empty());
    assert!(of_kind(&swapped, "rollback").is_empty());
    // The snapshot carried every indicator across: the same trades follow.
    assert_eq!(trading(&swapped), trading(&plain));
    assert!(trading(&plain).len() > 20);
}

#[test]
fn a_swap_between_the_rust_and_the_python_build_is_refused_and_the_old_one_trades_on() {
    let py = python("sma-cross");
    let plain = goog_entries(plugins::SMA_CROSS, &[]);
    let swap = format!("700={py}");
    let e = goog_entries(plugins::SMA_CROSS, &["--swap-at", &swap]);
    let refused = of_kind(&e, "swap-refused");
    assert_eq!(refused.len(), 1, "{e:?}");
    let reason = refused[0]["reason"].as_str().unwrap();
    assert!(reason.contains("not a Python SDK state"), "{reason}");
    assert!(of_kind(&e, "swap").is_empty());
    assert_eq!(trading(&e), trading(&plain));
}

#[test]
fn the_python_sdk_passes_its_own_unit_tests() {
    let out = std::process::Command::new("python3")
        .arg(std::path::Path::new(plugins::REPO).join("guest-sdk/python/tests/test_sdk.py"))
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("Ran 15 tests"), "{report}");
}

#[test]
fn a_sweep_of_the_python_build_ranks_exactly_as_the_rust_one() {
    let py = python("sma-cross");
    let dir = scratch();
    let data = plugins::shared_data("goog-daily-2004-2013.csv");
    let table = |plugin: &str, out: &str| {
        let csv = dir.path().join(out);
        ok(&sandbar([
            "sweep",
            "--plugin",
            plugin,
            "--data",
            data.to_str().unwrap(),
            "--grid",
            "fast=5,10,20",
            "--grid",
            "slow=30,50",
            "--out",
            csv.to_str().unwrap(),
        ]));
        std::fs::read_to_string(csv).unwrap()
    };
    let python_table = table(&py, "py.csv");
    assert_eq!(python_table.lines().count(), 7, "{python_table}");
    assert_eq!(python_table, table(plugins::SMA_CROSS, "rs.csv"));
}

/// Replay `plugin` with the scripted fixtures' parameters; (header, entries,
/// the protection it read on every bar).
fn scripted_run(
    dir: &Path,
    tag: &str,
    plugin: &str,
    data: &Path,
    script: &str,
) -> (serde_json::Value, Vec<String>, Vec<String>) {
    let journal = dir.join(format!("{tag}.redb"));
    let script = format!("script={script}");
    let out = run(
        plugin,
        data,
        &journal,
        &[
            "--log",
            "plugin=info",
            "-p",
            &script,
            "-p",
            "show_protection=true",
        ],
    );
    let protection = stderr(&out)
        .lines()
        .filter_map(|l| {
            l.split_once("protection bar ")
                .map(|x| x.1.rsplit_once(" plugin=").map_or(x.1, |y| y.0).to_string())
        })
        .collect();
    let (mut header, entries) = exported(&journal);
    header["run"]["sdk_version"] = "".into();
    header["run"]["plugin_sha256"] = "".into();
    (header, entries, protection)
}

#[test]
fn every_change_to_protection_crosses_the_python_bridge_as_it_does_the_rust_one() {
    let dir = scratch();
    // Up 2 a day for 12 days, down 3 a day for 10, up again.
    let mut bars = Vec::new();
    let mut close: f64 = 100.0;
    for day in 0..34 {
        let step = if day < 12 {
            2.0
        } else if day < 22 {
            -3.0
        } else {
            1.5
        };
        let open = close;
        close += step;
        bars.push((open, open.max(close) + 0.5, open.min(close) - 0.5, close));
    }
    let data = bars_csv(dir.path(), "X.csv", DAY, &bars);
    let script = "1 weight 0 0.2 sle=5; 3 stop 0 95; 4 target 0 130; 5 trail 0 3; \
                  7 cancel-target 0; 8 trail-pct 0 0.05; 10 target-e 0 40; 11 cancel-stop 0; \
                  12 stop-e 0 2; 23 buy 0 10 sl=90 tpe=6; 25 trail 0 1.25";
    let (head_py, py, seen_py) = scripted_run(dir.path(), "py", &python("scripted"), &data, script);
    let (head_rs, rs, seen_rs) = scripted_run(dir.path(), "rs", plugins::SCRIPTED, &data, script);
    assert_eq!(head_py, head_rs);
    assert_eq!(seen_py, seen_rs, "what the strategy read of its protection");
    assert_eq!(py, rs, "the journals");
    let amends = py.iter().filter(|e| e.starts_with("{\"amend\"")).count();
    assert_eq!(
        amends,
        9,
        "every change of the script journaled:\n{}",
        py.join("\n")
    );
    let seen = seen_py.join("\n");
    for needle in [
        "Some(Distance(3.0))",
        "Some(Fraction(0.05))",
        "Some(Distance(1.25))",
        "target=Some(130.0)",
    ] {
        assert!(seen.contains(needle), "{needle} never read:\n{seen}");
    }
    assert!(
        py.iter().any(|e| e.contains("\"origin\":\"stop-loss\"")),
        "a stop filled:\n{}",
        py.join("\n")
    );
}

/// The `math bar N f=<bits> …` lines `plugin` logs with `show_math` on
/// `data`, as (bar, function, bits).
fn math_bits(dir: &Path, tag: &str, plugin: &str, data: &Path) -> Vec<(String, String, String)> {
    let journal = dir.join(format!("{tag}.redb"));
    let out = run(
        plugin,
        data,
        &journal,
        &["--log", "plugin=info", "-p", "show_math=true"],
    );
    let mut bits = Vec::new();
    for line in stderr(&out).lines() {
        let Some((_, rest)) = line.split_once("math bar ") else {
            continue;
        };
        let rest = rest.rsplit_once(" plugin=").map_or(rest, |x| x.0);
        let mut words = rest.split_whitespace();
        let bar = words.next().unwrap().to_string();
        for word in words {
            let (f, b) = word.split_once('=').unwrap();
            bits.push((bar.clone(), f.to_string(), b.to_string()));
        }
    }
    bits
}

/// What a Python strategy computes with `math.log`, `math.exp`, `math.pow`,
/// the trigonometric functions and the rest rounds exactly as Rust's `f64`
/// methods do inside the sandbox: both call the component's C library
/// (wasi-libc, musl's routines). Checked bit for bit on every bar of both
/// recordings. Two known exceptions differ in the last bit only:
/// `math.hypot` is CPython's own algorithm, not the C library's, and Rust
/// compiles `x.powf(0.5)` to a square root where `math.pow` calls `pow`.
#[test]
fn pythons_math_functions_round_bit_for_bit_as_rusts_in_the_sandbox() {
    let dir = scratch();
    let py = python("scripted");
    for file in ["goog-daily-2004-2013.csv", "binance-btcusdt-1m-2024-01.csv"] {
        let data = plugins::shared_data(file);
        let from_py = math_bits(dir.path(), "py", &py, &data);
        let from_rs = math_bits(dir.path(), "rs", plugins::SCRIPTED, &data);
        assert!(
            from_rs.len() >= 19 * 2_000,
            "{file}: only {} values logged",
            from_rs.len()
        );
        assert_eq!(from_py.len(), from_rs.len(), "{file}: values logged");
        let mut differ = std::collections::BTreeMap::<&str, usize>::new();
        for ((bar, f, p), (bar_rs, f_rs, r)) in from_py.iter().zip(&from_rs) {
            assert_eq!((bar, f), (bar_rs, f_rs), "{file}: the same values in order");
            if p == r {
                continue;
            }
            let bits = |h: &str| u64::from_str_radix(h, 16).unwrap();
            assert!(
                ["hypot", "pow_half"].contains(&f.as_str()) && bits(p).abs_diff(bits(r)) == 1,
                "{file}: bar {bar}: {f} is {p} in Python, {r} in Rust"
            );
            *differ.entry(f.as_str()).or_default() += 1;
        }
        eprintln!(
            "{file}: last-bit differences {differ:?} of {} values",
            from_py.len()
        );
    }
}
