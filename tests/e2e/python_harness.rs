//! The Python SDK's test harness runs the host's own rules: a Python
//! strategy under `sandbar.testing.Harness` (its decisions made in Python,
//! executed by `sandbar harness`) trades exactly as the Rust twin does
//! under the Rust SDK's harness — every fill, refusal and trading-state
//! change — on real data, with costs on and the host's default risk limits
//! (off where they would halt the run before the stops are exercised).

use std::path::Path;

use sandbar::market::LoadOptions;
use sandbar_sdk::Strategy;
use sandbar_sdk::risk::RiskConfig;
use sandbar_sdk::testing::{Costs, Harness};
use serde_json::{Value, json};

use crate::util::*;

const COSTS: Costs = Costs {
    slippage_bps: 5.0,
    commission_percent: 0.1,
    commission_per_unit: 0.001,
    commission_minimum: 25.0,
};

/// Runs a strategy module under the Python harness and prints what it did.
const DRIVER: &str = r#"
import json, sys
from sandbar import Bar
from sandbar.testing import Harness
import strategy
cls = sandbar_cls = __import__("sandbar").exported()
spec = json.load(open(sys.argv[1]))
h = Harness(cls, {}, spec["symbols"], risk=spec["risk"], costs=spec["costs"])
h.run(Bar(**b) for b in spec["bars"])
side = lambda s: s.value
print(json.dumps({
    "fills": [[f.order_id, f.symbol, side(f.side), f.quantity, f.price, f.commission, f.time_ms, f.origin] for f in h.fills],
    "refusals": [[r.symbol, r.rule, r.detail, r.time_ms] for r in h.refusals],
    "states": [list(x) for x in h.state_changes],
    "intents": len(h.intents),
}))
"#;

fn rust_trace<S: Strategy>(symbols: Vec<String>, bars: &[sandbar_sdk::Bar], limits: bool) -> Value {
    let risk = if limits {
        RiskConfig::default()
    } else {
        RiskConfig::off()
    };
    let mut h = Harness::<S>::with_symbols(&[], symbols)
        .unwrap()
        .with_costs(COSTS)
        .with_risk(risk);
    h.run(bars);
    let side = |s: sandbar_sdk::Side| {
        if s == sandbar_sdk::Side::Buy {
            "buy"
        } else {
            "sell"
        }
    };
    json!({
        "fills": h.fills().iter().map(|f| json!([f.order_id, f.symbol, side(f.side), f.quantity, f.price, f.commission, f.time_ms, f.origin])).collect::<Vec<_>>(),
        "refusals": h.refusals().iter().map(|r| json!([r.symbol, r.rule, r.detail, r.time_ms])).collect::<Vec<_>>(),
        "states": h.state_changes().iter().map(|(t, c)| json!([t, format!("{c:?}")])).collect::<Vec<_>>(),
        "intents": h.intents().len(),
    })
}

fn python_trace(
    plugin: &str,
    symbols: &[String],
    bars: &[sandbar_sdk::Bar],
    limits: bool,
) -> Value {
    let dir = scratch();
    let spec = dir.path().join("spec.json");
    let costs = json!({
        "slippage_bps": COSTS.slippage_bps,
        "commission_percent": COSTS.commission_percent,
        "commission_per_unit": COSTS.commission_per_unit,
        "commission_minimum": COSTS.commission_minimum,
    });
    std::fs::write(&spec, json!({"symbols": symbols, "bars": bars, "costs": costs, "risk": limits.then(|| json!({}))}).to_string()).unwrap();
    let root = Path::new(plugins::REPO);
    let path = format!(
        "{}:{}",
        root.join("guest-sdk/python").display(),
        root.join("plugins/python").join(plugin).display()
    );
    let out = std::process::Command::new("python3")
        .args(["-c", DRIVER])
        .arg(&spec)
        .env("PYTHONPATH", path)
        .env("SANDBAR", SANDBAR)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[track_caller]
fn same<S: Strategy>(plugin: &str, data: &str, limits: bool) -> Value {
    let rec = sandbar::market::load(&[plugins::shared_data(data)], &LoadOptions::default())
        .unwrap()
        .0;
    let bars: Vec<sandbar_sdk::Bar> = rec.bars.iter().map(sandbar::native::sdk_bar).collect();
    let rust = rust_trace::<S>(rec.symbols.clone(), &bars, limits);
    let python = python_trace(plugin, &rec.symbols, &bars, limits);
    for key in ["intents", "states", "refusals", "fills"] {
        assert_eq!(python[key], rust[key], "{plugin} on {data}: {key}");
    }
    rust
}

#[test]
fn sma_cross_trades_alike_under_the_python_and_the_rust_harness() {
    let t = same::<sma_cross::SmaCross>("sma-cross", "goog-daily-2004-2013.csv", true);
    assert!(t["fills"].as_array().unwrap().len() > 20);
    assert!(
        !t["states"].as_array().unwrap().is_empty(),
        "the limits bind: {t}"
    );
}

#[test]
fn rsi_reversion_trades_alike_under_the_python_and_the_rust_harness() {
    let t = same::<rsi_reversion::RsiReversion>("rsi-reversion", "goog-daily-2004-2013.csv", true);
    assert!(t["fills"].as_array().unwrap().len() > 10);
}

#[test]
fn donchian_breakout_with_its_stops_trades_alike_under_the_python_and_the_rust_harness() {
    // Limits off, so the run is not halted early and the stops do the exiting.
    let t = same::<donchian_breakout::Donchian>(
        "donchian-breakout",
        "binance-btcusdt-1m-2024-01.csv",
        false,
    );
    let stops = t["fills"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f[7] == "stop-loss")
        .count();
    assert!(
        stops >= 4,
        "the stops from the entry did exit ({stops}): {t}"
    );
}
