//! `sandbar test`: golden files of a plugin's intents and fills.

use crate::util::*;

#[test]
fn golden_file_passes_when_behaviour_is_unchanged_and_fails_with_a_diff_otherwise() {
    let dir = scratch();
    let golden = dir.path().join("sma.golden.jsonl");
    let goog = plugins::shared_data("goog-daily-2004-2013.csv");
    let btc = plugins::shared_data("btcusd-monthly-2012-2024.csv");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "test",
            "--plugin",
            plugins::SMA_CROSS,
            "--data",
            goog.to_str().unwrap(),
            "--data",
            btc.to_str().unwrap(),
            "--golden",
            golden.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        sandbar(args)
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1), "no golden file yet");
    assert!(
        stderr(&out).contains("create it with --bless"),
        "{}",
        stderr(&out)
    );

    ok(&run(&["--bless"]));
    let text = std::fs::read_to_string(&golden).unwrap();
    assert!(
        text.starts_with(r#"{"execution":{"commission_minimum":0.0,"#),
        "{}",
        &text[..200]
    );
    assert!(text.lines().next().unwrap().contains(r#""params":["fast=10","slow=30","weight=0.2"],"plugin":"sma-cross@0.1.0","recording":"goog-daily-2004-2013.csv","risk":{"#), "{}", &text[..400]);
    assert!(text.contains(r#""recording":"btcusd-monthly-2012-2024.csv""#));

    let out = run(&[]);
    ok(&out);
    assert!(stdout(&out).starts_with("ok: "));

    let out = run(&["--param", "fast=12"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let diff = stdout(&out);
    assert!(
        diff.contains("@@")
            && diff.lines().any(|l| l.starts_with('-'))
            && diff.lines().any(|l| l.starts_with('+')),
        "{diff}"
    );
    assert!(
        diff.starts_with(
            "config: goog-daily-2004-2013.csv: `params` was [\"fast=10\",\"slow=30\",\"weight=0.2\"], now [\"fast=12\",\"slow=30\",\"weight=0.2\"]\n"
        ),
        "{diff}"
    );
    assert!(
        diff.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("first difference at line 1: expected {"),
        "{diff}"
    );
    assert!(stderr(&out).contains("differs from golden file"));
}

#[test]
fn golden_check_is_a_rust_api_too() {
    let dir = scratch();
    let golden = dir.path().join("g.jsonl");
    let rt = sandbar::runtime::Runtime::new(None).unwrap();
    let spec = sandbar::replay::ReplaySpec {
        plugin: plugins::RSI_REVERSION.into(),
        data: vec![plugins::shared_data("goog-daily-2004-2013.csv")],
        params: vec![],
        config: Default::default(),
        load: Default::default(),
        delivery: None,
        swaps: vec![],
        swap_params: vec![],
        warmup: 0,
    };
    use sandbar::golden::{Golden, check};
    assert!(matches!(check(&rt, &spec, &golden, true).unwrap(), Golden::Blessed(n) if n > 1));
    assert!(matches!(
        check(&rt, &spec, &golden, false).unwrap(),
        Golden::Matched(_)
    ));
    let changed = sandbar::replay::ReplaySpec {
        params: vec!["entry=40".into()],
        ..spec
    };
    assert!(matches!(
        check(&rt, &changed, &golden, false).unwrap(),
        Golden::Mismatch(_)
    ));
}
