//! Bad data files give one clear line naming file, line and field, exit 1,
//! and no run; repairs happen only when asked; CSV converts to recordings.

use crate::util::*;

fn replay_data(path: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "replay",
        "--plugin",
        plugins::SMA_CROSS,
        "--data",
        path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    sandbar(args)
}

#[test]
fn every_class_of_bad_data_is_named_with_file_and_line() {
    let dir = scratch();
    let h = "date,open,high,low,close,volume\n";
    let cases = [
        (
            "missing-column.csv",
            "date,open,high,low,volume\n2024-01-01,1,1,1,1\n".to_string(),
            "missing-column.csv:1: missing column `close` (header has: date,open,high,low,volume)",
        ),
        (
            "number.csv",
            format!("{h}2024-01-01,1,1,1,1,1\n2024-01-02,1,1,1,abc,1\n"),
            "number.csv:3: field `close`: cannot parse \"abc\" as a number",
        ),
        (
            "nan.csv",
            format!("{h}2024-01-01,1,1,1,NaN,1\n"),
            "nan.csv:2: field `close`: NaN is not a finite positive price",
        ),
        (
            "zero.csv",
            format!("{h}2024-01-01,1,1,1,0,1\n"),
            "zero.csv:2: field `close`: 0 is not a finite positive price",
        ),
        (
            "volume.csv",
            format!("{h}2024-01-01,1,1,1,1,-1\n"),
            "volume.csv:2: field `volume`: -1 is not a finite non-negative number",
        ),
        (
            "range.csv",
            format!("{h}99999999999999,1,1,1,1,1\n"),
            "range.csv:2: field `time`: \"99999999999999\" is 5138-11-16T09:46:39.999Z, outside the years 1900–2199",
        ),
        (
            "high-low.csv",
            format!("{h}2024-01-01,1,0.5,1,1,1\n"),
            "high-low.csv:2: inconsistent bar: high 0.5 and low 1",
        ),
        (
            "backwards.csv",
            format!("{h}2024-01-02,1,1,1,1,1\n2024-01-01,1,1,1,1,1\n"),
            "backwards.csv:3: time goes backwards for backwards: 2024-01-01 after 2024-01-02",
        ),
        (
            "duplicate.csv",
            format!("{h}2024-01-01,1,1,1,1,1\n2024-01-01,1,1,1,1,1\n"),
            "duplicate.csv:3: duplicate bar for duplicate at 2024-01-01 (first at line 2",
        ),
        (
            "date.csv",
            format!("{h}01/02/2024,1,1,1,1,1\n"),
            "date.csv:2: field `time`: cannot parse \"01/02/2024\"",
        ),
        ("empty.csv", h.to_string(), "empty.csv: no bars in file"),
        (
            "short.csv",
            format!("{h}2024-01-01,1,1\n"),
            "short.csv:2: expected at least 6 fields, found 3",
        ),
    ];
    for (name, text, needle) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let out = replay_data(&p, &[]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(needle), "{name}: `{err}` lacks `{needle}`");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(!err.contains("panicked"));
    }
    let out = replay_data(&dir.path().join("nope.csv"), &[]);
    assert!(
        stderr(&out).contains("nope.csv: cannot read"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn repairs_apply_only_when_asked() {
    let dir = scratch();
    let mut text = String::from("date,open,high,low,close,volume\n");
    for d in 1..=40 {
        text.push_str(&format!("2024-02-{:02},{d},{d},{d},{d},1\n", (d % 28) + 1));
    }
    let p = dir.path().join("messy.csv");
    std::fs::write(&p, &text).unwrap();
    assert_eq!(replay_data(&p, &[]).status.code(), Some(1));
    let out = replay_data(&p, &["--repair", "sort,dedupe"]);
    ok(&out);
    assert!(stdout(&out).contains("(28 bars"), "{}", stdout(&out));
}

#[test]
fn csv_converts_to_a_recording_that_replays_identically() {
    let dir = scratch();
    let csv = plugins::shared_data("binance-btcusdt-1m-2024-01.csv");
    let rec = dir.path().join("btc.sbrec");
    ok(&sandbar([
        "convert",
        csv.to_str().unwrap(),
        "--out",
        rec.to_str().unwrap(),
        "--symbol",
        "BTCUSDT",
    ]));
    let report = |data: &std::path::Path| {
        let out = sandbar([
            "replay",
            "--plugin",
            plugins::RSI_REVERSION,
            "--data",
            data.to_str().unwrap(),
            "--symbol",
            "BTCUSDT",
        ]);
        ok(&out);
        stdout(&out)
    };
    let (a, b) = (report(&csv), report(&rec));
    assert_eq!(a, b);
    assert!(a.contains("on BTCUSDT (44640 bars"), "{a}");
    // A truncated recording is refused.
    let bytes = std::fs::read(&rec).unwrap();
    let cut = dir.path().join("cut.sbrec");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = replay_data(&cut, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cut.sbrec: not a valid recording"),
        "{}",
        stderr(&out)
    );
}
