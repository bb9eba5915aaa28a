//! Helpers: run the binary, build scenario data, read journals.

use std::path::{Path, PathBuf};
use std::process::Output;

pub use sandbar_test_support as plugins;

/// The `sandbar` binary under test.
pub const SANDBAR: &str = env!("CARGO_BIN_EXE_sandbar");

/// Run `sandbar` with arguments; a shared compilation cache keeps it fast.
pub fn sandbar<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbar-cache");
    std::process::Command::new(SANDBAR)
        .args(args)
        .env("SANDBAR_CACHE_DIR", cache)
        .output()
        .expect("running sandbar")
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert success, showing stderr otherwise.
#[track_caller]
pub fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "sandbar failed ({:?}):\n{}\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

/// A scratch directory.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sandbar-e2e")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}

/// Write bars `(open, high, low, close)` as a CSV, one every `step_ms` from
/// 2024-01-01, volume 1,000,000.
pub fn bars_csv(dir: &Path, name: &str, step_ms: i64, bars: &[(f64, f64, f64, f64)]) -> PathBuf {
    let mut text = String::from("timestamp,open,high,low,close,volume\n");
    for (i, (o, h, l, c)) in bars.iter().enumerate() {
        text.push_str(&format!(
            "{},{o},{h},{l},{c},1000000\n",
            1_704_067_200_000 + i as i64 * step_ms
        ));
    }
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Flat bars at `price`.
pub fn flat(n: usize, price: f64) -> Vec<(f64, f64, f64, f64)> {
    vec![(price, price, price, price); n]
}

pub const DAY: i64 = 86_400_000;
pub const MINUTE: i64 = 60_000;

/// A feed key for test venues that close minute bars many times a second:
/// their time runs hundreds of times faster than ours, so a restart or a
/// busy worker puts the host "hours" behind the live edge, and the default
/// maximum bar age (two intervals: warm-up only beyond it) would turn the
/// scenario under test into warm-up. The rule itself is tested with its
/// default in `freshness.rs`.
pub const COMPRESSED: &str = "max_bar_age_secs = 31536000\n";

/// Replay the scripted plugin; returns (output, journal entries as JSON).
pub fn scripted(
    dir: &Path,
    data: &[&Path],
    script: &str,
    set: &[&str],
) -> (Output, Vec<serde_json::Value>) {
    let journal = dir.join("scripted.redb");
    let mut args: Vec<String> = vec![
        "replay".into(),
        "--log".into(),
        "plugin=info".into(),
        "--plugin".into(),
        plugins::SCRIPTED.into(),
        "--journal".into(),
        journal.display().to_string(),
        "--param".into(),
        format!("script={script}"),
    ];
    for d in data {
        args.push("--data".into());
        args.push(d.display().to_string());
    }
    for s in set {
        args.push("--set".into());
        args.push(s.to_string());
    }
    let out = sandbar(&args);
    let entries = if journal.exists() {
        journal_entries(&journal)
    } else {
        Vec::new()
    };
    (out, entries)
}

/// Export a journal through the binary and parse each line.
pub fn journal_entries(path: &Path) -> Vec<serde_json::Value> {
    let out = sandbar(["journal".as_ref(), path.as_os_str()]);
    ok(&out);
    stdout(&out)
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Entries of one kind (`fill`, `refusal`, `order`, `state`, …).
pub fn of_kind<'a>(entries: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    entries.iter().filter_map(|e| e.get(kind)).collect()
}

/// The rules of every refusal, in order.
pub fn refusal_rules(entries: &[serde_json::Value]) -> Vec<String> {
    of_kind(entries, "refusal")
        .iter()
        .map(|r| r["rule"].as_str().unwrap().to_string())
        .collect()
}

/// A program from a Debian package (`chromium`, `chromium-driver`),
/// installed with apt when missing, as `.ci/run` does: the README's test
/// command does its own setup.
pub fn ensure_debian(program: &str, package: &str) {
    let present = || {
        std::process::Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if present() {
        return;
    }
    // Tests run in parallel (threads here, processes under nextest) and
    // apt takes one install at a time: one of our installs at a time, by a
    // lock file every test process shares, and apt itself told to wait for
    // its lock rather than fail (someone else's apt may hold it).
    let lock = std::fs::File::create(Path::new(env!("CARGO_TARGET_TMPDIR")).join("apt.lock"))
        .expect("creating the apt lock file");
    lock.lock().expect("taking the apt lock file");
    if present() {
        return; // installed by another test while this one waited
    }
    for args in [
        &["-o", "DPkg::Lock::Timeout=600", "update", "-qq"][..],
        &[
            "-o",
            "DPkg::Lock::Timeout=600",
            "install",
            "-y",
            "-qq",
            package,
        ][..],
    ] {
        let s = std::process::Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
        assert!(
            s.is_ok_and(|s| s.success()),
            "{program} is missing and `apt-get {}` failed: install Debian's `{package}` package",
            args.join(" ")
        );
    }
    assert!(
        present(),
        "{program} still missing after apt-get install {package}"
    );
}

/// A trailing-stop scenario (daily bars): bought at 100 (bar 1's open) and
/// trailed 5 behind from bar 1's close, highs of 104 and 110 move the stop
/// to 99 and 105; a dip to 107 moves it nowhere; the fall to 103 goes
/// through 105.
pub const TRAILING_BARS: [(f64, f64, f64, f64); 7] = [
    (100.0, 100.0, 100.0, 100.0),
    (100.0, 100.0, 100.0, 100.0),
    (100.0, 104.0, 100.0, 104.0),
    (104.0, 110.0, 104.0, 110.0),
    (110.0, 110.0, 107.0, 108.0),
    (108.0, 108.0, 103.0, 103.0),
    (103.0, 103.0, 103.0, 103.0),
];
