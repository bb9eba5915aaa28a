//! Replay throughput: `cargo bench -p sandbar --bench throughput`.
//!
//! Every scenario runs end to end — plugin calls, risk checks, simulated
//! fills, ledger, redb journal — in a child process of its own, so that its
//! peak resident memory (VmHWM) is its own. The same `sma-cross` source runs
//! as a sandboxed component and natively through the same engine, so the
//! ratio between the two is what the sandbox costs.
//!
//! `cargo bench -p sandbar --bench throughput -- --scenario NAME` runs one.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sandbar::engine::{Engine, EngineConfig, StrategyDriver};
use sandbar::execution::{SimConfig, SimulatedVenue};
use sandbar::feed::RecordedFeed;
use sandbar::journal::{Journal, RunMeta};
use sandbar::market::Recording;
use sandbar::native::NativeStrategy;
use sandbar::risk::RiskConfig;
use sandbar::runtime::{Delivery, InitConfig, Runtime};
use sandbar::synth::{SynthSpec, generate};
use sandbar_test_support as plugins;

const SCENARIOS: &[&str] = &[
    "wasm-per-bar",
    "wasm-exact",
    "wasm-per-bar-no-cpu-budget",
    "native-per-bar",
    "native-exact",
    "wasm-batched",
    "native-batched",
    "wasm-rsi-per-bar",
    "wasm-rsi-exact",
    "native-rsi-per-bar",
    "wasm-donchian-per-bar",
    "wasm-donchian-exact",
    "native-donchian-per-bar",
    "native-donchian-exact",
    "wasm-multi-per-bar",
    "wasm-multi-exact",
    "wasm-multi-batched",
    "load",
    "convert",
    "csv-replay-1m",
    "csv-replay-4m",
    "csv-replay-1m-loaded",
    "csv-replay-4m-loaded",
    "swap",
    "registry",
];

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn meta() -> RunMeta {
    RunMeta {
        format: sandbar::journal::FORMAT,
        sandbar_version: "bench".into(),
        contract: sandbar::runtime::CONTRACT.into(),
        plugin_name: "sma-cross".into(),
        plugin_version: "0.1.0".into(),
        sdk_version: "0.1.0".into(),
        plugin_sha256: String::new(),
        params: vec![],
        risk: String::new(),
        execution: String::new(),
        sandbox: String::new(),
        data: vec![],
        symbols: vec![],
        initial_cash: 100_000.0,
        seed: 0,
        delivery: String::new(),
        swaps: vec![],
        service: String::new(),
    }
}

/// Replay `rec` through the engine into a redb journal; returns the elapsed time.
fn replay(
    rec: Recording,
    strategy: &mut dyn StrategyDriver,
    delivery: Delivery,
    dir: &Path,
) -> (Duration, u64) {
    let mut journal = Journal::create(&dir.join("bench.redb"), &meta()).unwrap();
    let cfg = EngineConfig {
        initial_cash: 100_000.0,
        risk: RiskConfig::default(),
        batch_size: 1024,
        delivery,
        plugin_label: "sma-cross@0.1.0".into(),
        rollback_window: 100,
        rollback_drawdown: None,
        pause_drawdown: None,
        final_entry: true,
        warmup: 0,
    };
    let symbols = rec.symbols.clone();
    let mut feed = RecordedFeed::new(rec);
    let start = Instant::now();
    let engine = Engine::new(
        cfg,
        symbols,
        Box::new(strategy),
        SimulatedVenue::new(SimConfig::default()),
        &mut journal,
    );
    let out = engine.run(&mut feed, &mut |_| {}).unwrap();
    journal.finish().unwrap();
    let elapsed = start.elapsed();
    assert!(out.fault.is_none(), "{:?}", out.fault);
    assert!(out.orders > 0, "the strategy traded");
    (elapsed, out.bars)
}

fn init_config(symbols: &[String]) -> InitConfig {
    use sandbar::runtime::ParamValue;
    InitConfig {
        params: vec![
            ("fast".into(), ParamValue::Integer(10)),
            ("slow".into(), ParamValue::Integer(30)),
            ("weight".into(), ParamValue::Float(0.2)),
        ],
        symbols: symbols.to_vec(),
        seed: 0,
    }
}

/// Every declared parameter at its default, as `replay` would pass them.
fn defaults(rt: &Runtime, plugin: &str, symbols: &[String]) -> InitConfig {
    let p = rt.load(Path::new(plugin)).unwrap();
    let inst = rt.instantiate(&p, Default::default(), 0).unwrap();
    InitConfig {
        params: inst
            .description()
            .params
            .iter()
            .map(|p| (p.name.clone(), p.default.clone()))
            .collect(),
        symbols: symbols.to_vec(),
        seed: 0,
    }
}

/// The plugin a scenario name means, and its parameters.
fn strategy_of(name: &str, rt: &Runtime, symbols: &[String]) -> (&'static str, InitConfig) {
    if name.contains("rsi") {
        let p = plugins::RSI_REVERSION;
        (p, defaults(rt, p, symbols))
    } else if name.contains("donchian") {
        let p = plugins::DONCHIAN_BREAKOUT;
        (p, defaults(rt, p, symbols))
    } else {
        (plugins::SMA_CROSS, init_config(symbols))
    }
}

fn delivery_of(name: &str) -> Delivery {
    if name.ends_with("batched") {
        Delivery::Batched
    } else if name.ends_with("exact") {
        Delivery::Exact
    } else {
        Delivery::PerBar
    }
}

fn run(name: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let single = || {
        generate(&SynthSpec {
            bars: 1_000_000,
            symbols: 1,
            seed: 42,
            ..SynthSpec::default()
        })
    };
    let multi = || {
        generate(&SynthSpec {
            bars: 10_000,
            symbols: 100,
            seed: 42,
            ..SynthSpec::default()
        })
    };
    let (elapsed, bars) = match name {
        _ if name.starts_with("wasm-") => {
            let rec = if name.contains("multi") {
                multi()
            } else {
                single()
            };
            let rt = Runtime::with_cpu_budget(None, !name.ends_with("no-cpu-budget")).unwrap();
            let (path, config) = strategy_of(name, &rt, &rec.symbols);
            let plugin = rt.load(Path::new(path)).unwrap();
            let mut inst = rt.instantiate(&plugin, Default::default(), 0).unwrap();
            inst.init(&config).unwrap();
            replay(rec, &mut inst, delivery_of(name), dir.path())
        }
        _ if name.starts_with("native-") => {
            let rec = single();
            let rt = Runtime::new(None).unwrap();
            let (_, config) = strategy_of(name, &rt, &rec.symbols);
            let delivery = delivery_of(name);
            if name.contains("rsi") {
                let mut s = NativeStrategy::<rsi_reversion::RsiReversion>::new(&config).unwrap();
                replay(rec, &mut s, delivery, dir.path())
            } else if name.contains("donchian") {
                let mut s = NativeStrategy::<donchian_breakout::Donchian>::new(&config).unwrap();
                replay(rec, &mut s, delivery, dir.path())
            } else {
                let mut s = NativeStrategy::<sma_cross::SmaCross>::new(&config).unwrap();
                replay(rec, &mut s, delivery, dir.path())
            }
        }
        "load" => {
            let cache = dir.path().join("cache");
            std::fs::create_dir_all(&cache).unwrap();
            let rt = Runtime::new(Some(&cache)).unwrap();
            let t = Instant::now();
            let plugin = rt.load(Path::new(plugins::SMA_CROSS)).unwrap();
            let compile = t.elapsed();
            drop(plugin);
            // A fresh engine (as after a restart) loading from the warm cache.
            let rt = Runtime::new(Some(&cache)).unwrap();
            let t = Instant::now();
            let plugin = rt.load(Path::new(plugins::SMA_CROSS)).unwrap();
            let cached = t.elapsed();
            let n = 2000;
            let t = Instant::now();
            for _ in 0..n {
                std::hint::black_box(rt.instantiate(&plugin, Default::default(), 0).unwrap());
            }
            let inst = t.elapsed() / n;
            return format!(
                r#"{{"scenario":"load","compile_ms":{:.2},"cached_load_ms":{:.3},"instantiate_us":{:.1},"peak_rss_mb":{:.1}}}"#,
                compile.as_secs_f64() * 1e3,
                cached.as_secs_f64() * 1e3,
                inst.as_secs_f64() * 1e6,
                peak_rss_mb()
            );
        }
        "convert" => {
            let csv = dir.path().join("bars.csv");
            let rec = single();
            sandbar::synth::write_csv(
                &rec,
                std::io::BufWriter::new(std::fs::File::create(&csv).unwrap()),
            )
            .unwrap();
            drop(rec);
            let out = dir.path().join("bars.sbrec");
            let t = Instant::now();
            let (rec, _) =
                sandbar::market::load(std::slice::from_ref(&csv), &Default::default()).unwrap();
            sandbar::market::write_recording(&out, &rec).unwrap();
            (t.elapsed(), rec.bars.len() as u64)
        }
        "csv-replay-1m" | "csv-replay-4m" | "csv-replay-1m-loaded" | "csv-replay-4m-loaded" => {
            // A replay straight from CSV, as `sandbar replay --data f.csv`
            // runs it; the file is written by another process so that this
            // one's peak memory is the replay's own.
            let bars = if name.starts_with("csv-replay-1m") {
                1_000_000
            } else {
                4_350_000
            };
            // `-loaded`: the loader's path (what a repair request takes), for comparison.
            let mut load = sandbar::market::LoadOptions::default();
            load.repair.clamp = name.ends_with("-loaded");
            let csv = dir.path().join("bars.csv");
            let out = Command::new(env!("CARGO_BIN_EXE_sandbar"))
                .args([
                    "generate",
                    "--bars",
                    &bars.to_string(),
                    "--seed",
                    "42",
                    "--out",
                ])
                .arg(&csv)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let rt = Runtime::new(None).unwrap();
            let spec = sandbar::replay::ReplaySpec {
                plugin: plugins::SMA_CROSS.into(),
                data: vec![csv],
                params: vec!["fast=10".into(), "slow=30".into(), "weight=0.2".into()],
                config: Default::default(),
                load,
                delivery: Some(Delivery::PerBar),
                swaps: vec![],
                swap_params: vec![],
                warmup: 0,
            };
            let journal = dir.path().join("csv.redb");
            let t = Instant::now();
            let r = sandbar::replay::run(
                &rt,
                &spec,
                sandbar::replay::Sink::File(&journal),
                &mut |_, _| {},
            )
            .unwrap();
            (t.elapsed(), r.outcome.bars)
        }
        "swap" => {
            // The pause a swap causes at the bar boundary: snapshot the
            // serving instance, restore into the (already loaded) new one.
            let rec = generate(&SynthSpec {
                bars: 10_000,
                symbols: 1,
                seed: 42,
                ..SynthSpec::default()
            });
            let rt = Runtime::new(None).unwrap();
            let plugin = rt.load(Path::new(plugins::SMA_CROSS)).unwrap();
            let mut old = rt.instantiate(&plugin, Default::default(), 0).unwrap();
            old.init(&init_config(&rec.symbols)).unwrap();
            let mut sink = Vec::new();
            for b in &rec.bars {
                old.on_bars(std::slice::from_ref(b), &[], &mut sink)
                    .unwrap();
            }
            let mut new = rt.instantiate(&plugin, Default::default(), 0).unwrap();
            new.init(&init_config(&rec.symbols)).unwrap();
            let n = 1000u32;
            let mut state_bytes = 0;
            let t = Instant::now();
            for _ in 0..n {
                let state = old.snapshot().unwrap();
                state_bytes = state.len();
                new.restore("0.1.0", &state).unwrap();
            }
            let pause = t.elapsed() / n;
            return format!(
                r#"{{"scenario":"swap","pause_us":{:.1},"state_bytes":{state_bytes},"peak_rss_mb":{:.1}}}"#,
                pause.as_secs_f64() * 1e6,
                peak_rss_mb()
            );
        }
        "registry" => {
            let cache = dir.path().join("cache");
            std::fs::create_dir_all(&cache).unwrap();
            let rt = Runtime::new(Some(&cache)).unwrap();
            let reg = sandbar::registry::Registry::open(&dir.path().join("registry.redb")).unwrap();
            let t = Instant::now();
            let (record, _) = reg
                .add_plugin(&rt, Path::new(plugins::SMA_CROSS), None, "bench")
                .unwrap();
            let add = t.elapsed();
            // After a restart: a fresh engine loads the registered version from the warm cache.
            let rt = Runtime::new(Some(&cache)).unwrap();
            let t = Instant::now();
            let bytes = reg.plugin_bytes(&record).unwrap();
            std::hint::black_box(rt.load_bytes(Path::new("registry"), &bytes).unwrap());
            let load = t.elapsed();
            return format!(
                r#"{{"scenario":"registry","add_ms":{:.1},"load_registered_cached_ms":{:.2},"peak_rss_mb":{:.1}}}"#,
                add.as_secs_f64() * 1e3,
                load.as_secs_f64() * 1e3,
                peak_rss_mb()
            );
        }
        other => panic!("unknown scenario {other}; known: {SCENARIOS:?}"),
    };
    format!(
        r#"{{"scenario":"{name}","bars":{bars},"seconds":{:.3},"bars_per_sec":{:.0},"peak_rss_mb":{:.1}}}"#,
        elapsed.as_secs_f64(),
        bars as f64 / elapsed.as_secs_f64(),
        peak_rss_mb()
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--scenario") {
        println!("RESULT {}", run(&args[i + 1]));
        return;
    }
    let exe = std::env::current_exe().unwrap();
    // `--runs N` (default 3): each scenario runs N times, the median by
    // bars per second (or the first, for scenarios without one) is shown.
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(3);
    let only: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| SCENARIOS.contains(&a.as_str()))
        .collect();
    println!(
        "scenario, median of {runs} (each run in its own process, pinned to CPU 0 when taskset exists)"
    );
    for s in SCENARIOS {
        if !only.is_empty() && !only.iter().any(|o| o == s) {
            continue;
        }
        let mut results = Vec::new();
        for _ in 0..runs.max(1) {
            let mut cmd = if Path::new("/usr/bin/taskset").exists() {
                let mut c = Command::new("/usr/bin/taskset");
                c.args(["-c", "0"]).arg(&exe);
                c
            } else {
                Command::new(&exe)
            };
            let out = cmd.args(["--scenario", s]).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            match text.lines().find_map(|l| l.strip_prefix("RESULT ")) {
                Some(r) => results.push(r.to_string()),
                None => println!("{s}: failed: {}", String::from_utf8_lossy(&out.stderr)),
            }
        }
        let rate = |r: &String| {
            r.split("\"bars_per_sec\":")
                .nth(1)
                .and_then(|t| t.split([',', '}']).next()?.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        results.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
        if let Some(median) = results.get(results.len() / 2) {
            println!("{median}");
        }
    }
}
