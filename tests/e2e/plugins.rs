//! Plugins: every built plugin describes itself, files that are not a
//! component of this contract are refused before any bar, parameter errors
//! are named, and snapshot/restore round-trips.

use crate::util::*;

#[test]
fn every_plugin_describes_itself_with_name_version_sdk_and_parameters() {
    // The mismatch fixtures are not strategies of this contract, and
    // bad-defaults refuses its own defaults (both tested below).
    for (name, path) in plugins::ALL
        .iter()
        .filter(|(n, _)| !n.starts_with("mismatch-") && *n != "bad-defaults")
    {
        let out = sandbar(["describe", path]);
        ok(&out);
        let text = stdout(&out);
        // Crates `counter-v1` and `counter-v2` are two versions of plugin `counter`.
        let (plugin, version) = match *name {
            "counter-v1" => ("counter", "1.0.0"),
            "counter-v2" => ("counter", "2.0.0"),
            other => (other, "0.1.0"),
        };
        // Every plugin built with the SDK implements the newest contract,
        // so a strategy that declares per-bar gets exact batching by
        // default; hostile-peek is written against 0.2.0's raw bindings.
        let contract = if *name == "hostile-peek" {
            "0.2.0"
        } else {
            "0.3.0"
        };
        assert!(
            text.starts_with(&format!(
                "{plugin}@{version} (sdk 0.1.0, sandbar:strategy@{contract}, exact delivery)"
            )),
            "{text}"
        );
    }
    let text = stdout(&sandbar(["describe", plugins::SMA_CROSS]));
    assert!(
        text.contains("fast (integer, default 10 in [1, 1000]) fast SMA period"),
        "{text}"
    );
}

#[test]
fn files_that_are_not_components_of_this_contract_are_refused_before_any_bar() {
    let dir = scratch();
    let data = bars_csv(dir.path(), "X.csv", DAY, &flat(3, 1.0));
    let component = std::fs::read(plugins::SMA_CROSS).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "text.wasm",
            b"hello, not wasm".to_vec(),
            "is not a WebAssembly component: no WebAssembly magic number",
        ),
        (
            "tiny.wasm",
            b"\0as".to_vec(),
            "3 bytes, too short to be WebAssembly",
        ),
        (
            "core.wasm",
            b"\0asm\x01\0\0\0".to_vec(),
            "is a core WebAssembly module, but a component is expected",
        ),
        (
            "truncated.wasm",
            component[..component.len() / 2].to_vec(),
            "does not compile",
        ),
        (
            "other-world.wasm",
            std::fs::read(plugins::MISMATCH_WORLD).unwrap(),
            "does not implement world `strategy` of sandbar:strategy@0.3.0, sandbar:strategy@0.2.0 or sandbar:strategy@0.1.0: \
             no exported instance named `sandbar:strategy/guest@0.1.0`; it exports spin-up",
        ),
        (
            "native.so",
            b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec(),
            "is not a WebAssembly component: a native library or executable; build the strategy with `sandbar build`",
        ),
        (
            "exports-nothing.wasm",
            wat::parse_str("(component)").unwrap(),
            "it exports nothing; did you call `sandbar_sdk::export_strategy!(YourType)` in the crate?",
        ),
        (
            "other-version.wasm",
            std::fs::read(plugins::MISMATCH_VERSION).unwrap(),
            "does not implement world `strategy` of sandbar:strategy@0.3.0, sandbar:strategy@0.2.0 or sandbar:strategy@0.1.0: \
             no exported instance named `sandbar:strategy/guest@0.1.0`; it exports sandbar:strategy/guest@0.9.0",
        ),
    ];
    for (name, bytes, needle) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let out = sandbar([
            "replay",
            "--plugin",
            p.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(stderr(&out).contains(needle), "{name}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "no bar replayed");
    }
}

#[test]
fn parameter_errors_name_the_plugin_and_parameter() {
    let dir = scratch();
    let data = bars_csv(dir.path(), "X.csv", DAY, &flat(3, 1.0));
    let d = data.to_str().unwrap();
    let cases = [
        (
            vec!["--param", "fast=0"],
            "parameter `fast` of sma-cross@0.1.0: 0 is outside the allowed range [1, 1000]",
        ),
        (
            vec!["--param", "fast=ten"],
            "parameter `fast` of sma-cross@0.1.0: \"ten\" is not a valid integer",
        ),
        (
            vec!["--param", "speed=3"],
            "plugin sma-cross@0.1.0 has no parameter `speed` (it declares: fast, slow, weight)",
        ),
        (
            vec!["--param", "fast=40"],
            "plugin sma-cross@0.1.0 refused its parameters: parameter `fast`: must be below slow (40 >= 30)",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["replay", "--plugin", plugins::SMA_CROSS, "--data", d];
        args.extend(extra);
        let out = sandbar(args);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains(needle), "{}", stderr(&out));
    }
}

#[test]
fn snapshot_from_one_instance_restores_into_another() {
    let rt = sandbar::runtime::Runtime::new(None).unwrap();
    let plugin = rt.load(std::path::Path::new(plugins::SMA_CROSS)).unwrap();
    let init = sandbar::runtime::InitConfig {
        params: sandbar::params::resolve(
            &rt.instantiate(&plugin, Default::default(), 0)
                .unwrap()
                .description()
                .clone(),
            &["fast=2".into(), "slow=3".into()],
        )
        .unwrap(),
        symbols: vec!["X".into()],
        seed: 0,
    };
    let bars: Vec<sandbar::market::Bar> = [5.0, 4.0, 3.0, 4.0, 6.0, 7.0]
        .iter()
        .enumerate()
        .map(|(i, &c)| sandbar::market::Bar {
            symbol: 0,
            time_ms: i as i64,
            open: c,
            high: c,
            low: c,
            close: c,
            volume: 1.0,
        })
        .collect();
    let mut a = rt.instantiate(&plugin, Default::default(), 0).unwrap();
    a.init(&init).unwrap();
    let mut sink = Vec::new();
    a.on_bars(&bars[..3], &[], &mut sink).unwrap();
    let state = a.snapshot().unwrap();
    assert!(!state.is_empty());
    let mut b = rt.instantiate(&plugin, Default::default(), 0).unwrap();
    b.init(&init).unwrap();
    b.restore("0.1.0", &state).unwrap();
    assert_eq!(
        b.snapshot().unwrap(),
        state,
        "restored state snapshots identically"
    );
    // Both continue identically: the cross up on the 5th bar.
    let (mut ia, mut ib) = (Vec::new(), Vec::new());
    a.on_bars(&bars[3..], &[], &mut ia).unwrap();
    b.on_bars(&bars[3..], &[], &mut ib).unwrap();
    assert_eq!(ia, ib);
    assert_eq!(ia.len(), 1);
    // A corrupt state is a typed refusal, not a trap.
    let mut c = rt.instantiate(&plugin, Default::default(), 0).unwrap();
    c.init(&init).unwrap();
    let err = c.restore("0.1.0", &state[..state.len() / 2]).unwrap_err();
    assert!(
        matches!(err, sandbar::runtime::CallError::Refused(ref m) if m.contains("decoding state")),
        "{err:?}"
    );
}

#[test]
fn a_plugin_that_refuses_its_own_defaults_is_refused_by_describe_and_plugin_add() {
    // Issue 10: found only when someone first ran it.
    let out = sandbar(["describe", plugins::BAD_DEFAULTS]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("rejects its own default parameters: strategy refused: parameter `fast`: must be below slow"),
        "{}",
        stderr(&out)
    );
    let dir = scratch();
    let registry = dir.path().join("r.redb");
    let out = sandbar([
        "plugin",
        "add",
        plugins::BAD_DEFAULTS,
        "--registry",
        registry.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("rejects its own default parameters"),
        "{}",
        stderr(&out)
    );
}
