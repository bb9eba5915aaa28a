//! The SDK's native harness against the host: every example strategy, run
//! natively through both on real data with the risk limits off, must make
//! the same fills — same bar, side, quantity, price and commission, without
//! costs and with slippage and commissions on. A strategy's own unit tests
//! then see what a replay would do.

use sandbar::engine::{Engine, EngineConfig};
use sandbar::execution::{SimConfig, SimulatedVenue};
use sandbar::feed::RecordedFeed;
use sandbar::journal::Entry;
use sandbar::market::{LoadOptions, Recording};
use sandbar::native::NativeStrategy;
use sandbar::risk::RiskConfig;
use sandbar::runtime::{Delivery, InitConfig, ParamValue};
use sandbar_sdk::Strategy;
use sandbar_sdk::testing::{Costs, Harness};

/// Every limit switched off: the harness has no risk engine.
fn no_limits() -> RiskConfig {
    RiskConfig {
        max_order_notional: None,
        max_position: f64::INFINITY,
        max_gross_exposure: f64::INFINITY,
        max_open_positions: usize::MAX,
        max_orders_per_day: u32::MAX,
        daily_loss_limit: f64::INFINITY,
        max_drawdown: f64::INFINITY,
        max_consecutive_losses: u32::MAX,
    }
}

fn recording(name: &str) -> Recording {
    let path = sandbar_test_support::shared_data(name);
    sandbar::market::load(&[path], &LoadOptions::default())
        .unwrap()
        .0
}

/// (bar time, side, quantity, price, commission) of every fill, rounded to 1e-6.
type Fills = Vec<(i64, String, i64, i64, i64)>;

fn key(t: i64, buy: bool, q: f64, p: f64, c: f64) -> (i64, String, i64, i64, i64) {
    let side = if buy { "buy" } else { "sell" }.to_string();
    let r = |x: f64| (x * 1e6).round() as i64;
    (t, side, r(q), r(p), r(c))
}

/// Costs on: 5 bps of slippage, 0.1% of notional plus 0.001 a unit, at
/// least 25 an order (it binds on the smaller fills).
const COSTS: Costs = Costs {
    slippage_bps: 5.0,
    commission_percent: 0.1,
    commission_per_unit: 0.001,
    commission_minimum: 25.0,
};

fn sim(c: Costs) -> SimConfig {
    SimConfig {
        slippage_bps: c.slippage_bps,
        commission_percent: c.commission_percent,
        commission_per_unit: c.commission_per_unit,
        commission_minimum: c.commission_minimum,
        ..SimConfig::default()
    }
}

fn host<S: Strategy + Send>(rec: &Recording, costs: Costs) -> Fills {
    let params = S::describe()
        .params
        .into_iter()
        .map(|p| {
            let v = match p.default {
                sandbar_sdk::ParamValue::Integer(i) => ParamValue::Integer(i),
                sandbar_sdk::ParamValue::Float(f) => ParamValue::Float(f),
                sandbar_sdk::ParamValue::Boolean(b) => ParamValue::Boolean(b),
                sandbar_sdk::ParamValue::Text(t) => ParamValue::Text(t),
            };
            (p.name, v)
        })
        .collect();
    let config = InitConfig {
        params,
        symbols: rec.symbols.clone(),
        seed: 0,
    };
    let strategy = NativeStrategy::<S>::new(&config).unwrap();
    let mut journal: Vec<Entry> = Vec::new();
    let cfg = EngineConfig {
        initial_cash: 100_000.0,
        risk: no_limits(),
        batch_size: 1,
        delivery: Delivery::PerBar,
        plugin_label: "parity".into(),
        rollback_window: 100,
        rollback_drawdown: None,
        pause_drawdown: None,
        final_entry: true,
    };
    let engine = Engine::new(
        cfg,
        rec.symbols.clone(),
        Box::new(strategy),
        SimulatedVenue::new(sim(costs)),
        &mut journal,
    );
    engine
        .run(&mut RecordedFeed::new(rec.clone()), &mut |_| {})
        .unwrap();
    journal
        .iter()
        .filter_map(|e| match e {
            Entry::Fill { fill, .. } => Some(key(
                fill.time_ms,
                fill.side == sandbar::execution::Side::Buy,
                fill.quantity,
                fill.price,
                fill.commission,
            )),
            _ => None,
        })
        .collect()
}

fn harness<S: Strategy>(rec: &Recording, costs: Costs) -> Fills {
    let mut h = Harness::<S>::with_symbols(&[], rec.symbols.clone())
        .unwrap()
        .with_costs(costs);
    let bars: Vec<sandbar_sdk::Bar> = rec.bars.iter().map(sandbar::native::sdk_bar).collect();
    h.run(&bars);
    h.fills()
        .iter()
        .map(|f| {
            key(
                f.time_ms,
                f.side == sandbar_sdk::Side::Buy,
                f.quantity,
                f.price,
                f.commission,
            )
        })
        .collect()
}

#[track_caller]
fn same<S: Strategy + Send>(data: &str) {
    let rec = recording(data);
    same_with::<S>(data, &rec, Costs::default());
    same_with::<S>(data, &rec, COSTS);
}

#[track_caller]
fn same_with<S: Strategy + Send>(data: &str, rec: &Recording, costs: Costs) {
    let (h, e) = (harness::<S>(rec, costs), host::<S>(rec, costs));
    assert!(!e.is_empty(), "{data}: the host made no fill");
    let first = h.iter().zip(&e).position(|(a, b)| a != b);
    assert!(
        h == e,
        "{} on {data} with {costs:?}: harness {} fills, host {}; first difference at fill {:?}: harness {:?}, host {:?}",
        S::describe().name,
        h.len(),
        e.len(),
        first,
        first.and_then(|i| h.get(i)),
        first.and_then(|i| e.get(i)),
    );
}

#[test]
fn sma_cross_fills_the_same_in_the_harness_and_the_host() {
    same::<sma_cross::SmaCross>("goog-daily-2004-2013.csv");
    same::<sma_cross::SmaCross>("binance-btcusdt-1m-2024-01.csv");
}

#[test]
fn rsi_reversion_fills_the_same_in_the_harness_and_the_host() {
    same::<rsi_reversion::RsiReversion>("goog-daily-2004-2013.csv");
    same::<rsi_reversion::RsiReversion>("binance-btcusdt-1m-2024-01.csv");
}

#[test]
fn donchian_breakout_with_its_atr_stops_fills_the_same_in_the_harness_and_the_host() {
    same::<donchian_breakout::Donchian>("goog-daily-2004-2013.csv");
    same::<donchian_breakout::Donchian>("binance-btcusdt-1m-2024-01.csv");
}
