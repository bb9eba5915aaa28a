//! The SDK's native harness against the host: every example strategy, run
//! natively through both on real data, must make the same fills — same
//! bar, side, quantity, price and commission — without costs and with
//! slippage and commissions on, with the risk limits off and with the
//! host's default limits on (then also the same refusals, rule and detail,
//! and the same trading-state changes). A property test does the same for
//! random intent scripts under random, tight limits. A strategy's own unit
//! tests then see what a replay would do.

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

fn recording(name: &str) -> Recording {
    let path = sandbar_test_support::shared_data(name);
    sandbar::market::load(&[path], &LoadOptions::default())
        .unwrap()
        .0
}

/// (bar time, side, quantity, price, commission) of every fill, rounded to 1e-6.
type Fills = Vec<(i64, String, i64, i64, i64)>;

/// What a run did: fills, refusals (bar time, symbol, rule, detail) and
/// trading-state changes (bar time, from, to, reason).
#[derive(Debug, PartialEq)]
struct Trace {
    fills: Fills,
    refusals: Vec<(i64, u32, String, String)>,
    states: Vec<(i64, String)>,
}

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

fn host<S: Strategy + Send>(rec: &Recording, costs: Costs, risk: RiskConfig) -> Trace {
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
        risk,
        batch_size: 1,
        delivery: Delivery::PerBar,
        plugin_label: "parity".into(),
        rollback_window: 100,
        rollback_drawdown: None,
        pause_drawdown: None,
        final_entry: true,
        warmup: 0,
    };
    let engine = Engine::new(
        cfg,
        rec.symbols.clone(),
        Box::new(strategy),
        SimulatedVenue::new(sim(costs)),
        &mut journal,
    );
    let outcome = engine
        .run(&mut RecordedFeed::new(rec.clone()), &mut |_| {})
        .unwrap();
    host_trace(&journal, &rec.symbols, &outcome.state_changes)
}

/// The trace of a host run from its journal.
fn host_trace(
    journal: &[Entry],
    symbols: &[String],
    states: &[(i64, sandbar::risk::StateChange)],
) -> Trace {
    let (mut fills, mut refusals, mut decided) = (Vec::new(), Vec::new(), 0);
    for e in journal {
        match e {
            Entry::Fill { fill, .. } => fills.push(key(
                fill.time_ms,
                fill.side == sandbar::execution::Side::Buy,
                fill.quantity,
                fill.price,
                fill.commission,
            )),
            Entry::Intent { time_ms, .. } | Entry::Amend { time_ms, .. } => decided = *time_ms,
            Entry::Refusal {
                symbol,
                rule,
                detail,
                ..
            } => {
                // An unknown id is journaled as `#id`.
                let id = match symbols.iter().position(|s| s == symbol) {
                    Some(i) => i as u32,
                    None => symbol.trim_start_matches('#').parse().unwrap(),
                };
                refusals.push((decided, id, rule.as_str().to_string(), detail.clone()));
            }
            _ => {}
        }
    }
    Trace {
        fills,
        refusals,
        states: states.iter().map(|(t, c)| (*t, state(c))).collect(),
    }
}

fn state(c: &sandbar::risk::StateChange) -> String {
    format!("{:?} -> {:?}: {}", c.from, c.to, c.reason)
}

fn harness<S: Strategy>(rec: &Recording, costs: Costs, risk: RiskConfig) -> Trace {
    let mut h = Harness::<S>::with_symbols(&[], rec.symbols.clone())
        .unwrap()
        .with_costs(costs)
        .with_risk(risk);
    let bars: Vec<sandbar_sdk::Bar> = rec.bars.iter().map(sandbar::native::sdk_bar).collect();
    h.run(&bars);
    harness_trace(&h)
}

fn harness_trace<S: Strategy>(h: &Harness<S>) -> Trace {
    let fills = h
        .fills()
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
        .collect();
    Trace {
        fills,
        refusals: h
            .refusals()
            .iter()
            .map(|r| (r.time_ms, r.symbol, r.rule.clone(), r.detail.clone()))
            .collect(),
        states: h
            .state_changes()
            .iter()
            .map(|(t, c)| (*t, state(c)))
            .collect(),
    }
}

#[track_caller]
fn same<S: Strategy + Send>(data: &str) {
    let rec = recording(data);
    for risk in [RiskConfig::off(), RiskConfig::default()] {
        for costs in [Costs::default(), COSTS] {
            same_with::<S>(data, &rec, costs, risk);
        }
    }
    // Tight limits bind on every example: the comparison compares
    // refusals and state changes, not two empty lists.
    let (refused, changed) = same_with::<S>(data, &rec, COSTS, TIGHT);
    assert!(
        refused > 0 && changed > 0,
        "{data}: tight limits refused {refused} intents and changed state {changed} times"
    );
}

/// Limits that bind on the examples (20% positions pass): one order a day,
/// REDUCING after a 0.3% daily loss or two losing trades, HALTED at 4%.
const TIGHT: RiskConfig = RiskConfig {
    max_order_notional: None,
    max_position: 0.2,
    max_gross_exposure: 1.0,
    max_open_positions: 10,
    max_orders_per_day: 1,
    daily_loss_limit: 0.003,
    max_drawdown: 0.04,
    max_consecutive_losses: 2,
    max_risk_per_trade: f64::INFINITY,
};

/// Compare; the host's refusals and state changes.
#[track_caller]
fn same_with<S: Strategy + Send>(
    data: &str,
    rec: &Recording,
    costs: Costs,
    risk: RiskConfig,
) -> (usize, usize) {
    let (h, e) = (harness::<S>(rec, costs, risk), host::<S>(rec, costs, risk));
    assert!(!e.fills.is_empty(), "{data}: the host made no fill");
    let what = format!("{} on {data} with {costs:?}, {risk:?}", S::describe().name);
    compare(&what, &h, &e);
    (e.refusals.len(), e.states.len())
}

#[track_caller]
fn compare(what: &str, h: &Trace, e: &Trace) {
    fn first<T: PartialEq + std::fmt::Debug>(what: &str, list: &str, h: &[T], e: &[T]) {
        let i = h.iter().zip(e).position(|(a, b)| a != b);
        assert!(
            h == e,
            "{what}: harness {} {list}, host {}; first difference at {:?}: harness {:?}, host {:?}",
            h.len(),
            e.len(),
            i,
            i.map_or(h.get(e.len()), |i| h.get(i)),
            i.map_or(e.get(h.len()), |i| e.get(i)),
        );
    }
    first(what, "fills", &h.fills, &e.fills);
    first(what, "refusals", &h.refusals, &e.refusals);
    first(what, "state changes", &h.states, &e.states);
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

/// Scripted intents for the property test: at the `at`-th bar delivered,
/// on `symbol`, do `action`, with optional stop / target distances (as
/// fractions of the close) from the entry.
#[derive(Debug, Clone)]
struct Step {
    at: usize,
    symbol: u32,
    action: Move,
    stop: Option<f64>,
    target: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
enum Move {
    Weight(f64),
    Buy(f64),
    Sell(f64),
    /// Quantity; limit price as a fraction above (+) or below (−) the close.
    BuyLimit(f64, f64),
    SellLimit(f64, f64),
    Close,
    /// Contract 0.3.0's changes to protection alone: a trailing stop this
    /// fraction behind, a stop or target moved this fraction of the close
    /// from the entry, or cancelled.
    Trail(f64),
    StopFromEntry(f64),
    TargetFromEntry(f64),
    CancelStop,
    CancelTarget,
}

thread_local! {
    static SCRIPT: std::cell::RefCell<Vec<Step>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Plays the thread's script, so one strategy type serves every case.
#[derive(Default)]
struct Scripted {
    steps: Vec<Step>,
    delivered: usize,
}

impl Strategy for Scripted {
    fn describe() -> sandbar_sdk::Description {
        sandbar_sdk::Description::new("scripted", "0.1.0")
    }
    fn init(
        &mut self,
        _: &sandbar_sdk::Params,
        _: &[String],
    ) -> Result<(), sandbar_sdk::InitError> {
        self.steps = SCRIPT.with(|s| s.borrow().clone());
        Ok(())
    }
    fn on_bar(&mut self, bar: &sandbar_sdk::Bar, ctx: &mut sandbar_sdk::Ctx<'_>) {
        let now = self.delivered;
        self.delivered += 1;
        for step in self.steps.iter().filter(|s| s.at == now) {
            let (s, c) = (step.symbol, bar.close);
            match step.action {
                Move::Trail(f) => {
                    ctx.trail_stop(s, sandbar_sdk::protection::Trail::Fraction(f));
                    continue;
                }
                Move::StopFromEntry(d) => {
                    ctx.move_stop_from_entry(s, d * c);
                    continue;
                }
                Move::TargetFromEntry(d) => {
                    ctx.move_take_profit_from_entry(s, d * c);
                    continue;
                }
                Move::CancelStop => {
                    ctx.cancel_stop(s);
                    continue;
                }
                Move::CancelTarget => {
                    ctx.cancel_take_profit(s);
                    continue;
                }
                _ => {}
            }
            let i = match step.action {
                Move::Weight(w) => ctx.target_weight(s, w),
                Move::Buy(q) => ctx.buy(s, q),
                Move::Sell(q) => ctx.sell(s, q),
                Move::BuyLimit(q, off) => ctx.buy_limit(s, q, c * (1.0 + off)),
                Move::SellLimit(q, off) => ctx.sell_limit(s, q, c * (1.0 + off)),
                Move::Close => ctx.close(s),
                _ => unreachable!("changes to protection are handled above"),
            };
            let i = match step.stop {
                Some(d) => i.stop_loss_from_entry(d * c),
                None => i,
            };
            if let Some(d) = step.target {
                i.take_profit_from_entry(d * c);
            }
        }
    }
}

/// Two symbols, four bars a day (risk days roll inside the run), random
/// gaps and ranges; some bars thin enough to fill orders in part.
fn two_symbols(moves: &[(f64, f64, f64, f64, bool)]) -> Recording {
    let mut close = [100.0, 40.0];
    let mut bars = Vec::new();
    for (i, &(gap, ret, up, down, thin)) in moves.iter().enumerate() {
        for (s, c) in close.iter_mut().enumerate() {
            let sign = if s == 0 { 1.0 } else { -0.5 };
            let open = *c * (1.0 + sign * gap);
            let new = open * (1.0 + sign * ret);
            bars.push(sandbar::market::Bar {
                symbol: s as u32,
                time_ms: i as i64 * 6 * 3_600_000,
                open,
                high: open.max(new) * (1.0 + up),
                low: open.min(new) * (1.0 - down),
                close: new,
                volume: if thin && s == 0 { 40.0 } else { 1e6 },
            });
            *c = new;
        }
    }
    Recording {
        symbols: vec!["A".into(), "B".into()],
        bars,
    }
}

fn moves() -> impl proptest::strategy::Strategy<Value = Vec<(f64, f64, f64, f64, bool)>> {
    use proptest::prelude::*;
    prop::collection::vec(
        (
            -0.02..0.02f64,
            -0.05..0.05f64,
            0.0..0.02f64,
            0.0..0.02f64,
            prop::bool::weighted(0.15),
        ),
        20..60,
    )
}

fn steps() -> impl proptest::strategy::Strategy<Value = Vec<Step>> {
    use proptest::prelude::*;
    let action = prop_oneof![
        (-1.5..1.5f64).prop_map(Move::Weight),
        (1.0..400.0f64).prop_map(Move::Buy),
        (1.0..400.0f64).prop_map(Move::Sell),
        (1.0..400.0f64, -0.04..0.04f64).prop_map(|(q, o)| Move::BuyLimit(q, o)),
        (1.0..400.0f64, -0.04..0.04f64).prop_map(|(q, o)| Move::SellLimit(q, o)),
        Just(Move::Close),
        (0.005..0.06f64).prop_map(Move::Trail),
        (0.005..0.06f64).prop_map(Move::StopFromEntry),
        (0.005..0.06f64).prop_map(Move::TargetFromEntry),
        Just(Move::CancelStop),
        Just(Move::CancelTarget),
    ];
    let step = (
        0..120usize,
        prop::sample::select(vec![0u32, 0, 1, 1, 2]),
        action,
        prop::option::weighted(0.3, 0.01..0.08f64),
        prop::option::weighted(0.3, 0.01..0.08f64),
    )
        .prop_map(|(at, symbol, action, stop, target)| Step {
            at,
            symbol,
            action,
            stop,
            target,
        });
    prop::collection::vec(step, 0..40)
}

fn limits() -> impl proptest::strategy::Strategy<Value = RiskConfig> {
    use proptest::prelude::*;
    (
        prop::option::weighted(0.3, 2_000.0..40_000.0f64),
        0.05..1.0f64,
        0.3..2.0f64,
        1..3usize,
        1..6u32,
        (0.002..0.05f64, 0.02..0.3f64, 1..4u32),
        // The loss at the stop: the scripts' stops and their absence both
        // meet it (off in most runs).
        prop::option::weighted(0.3, 0.0005..0.02f64),
    )
        .prop_map(
            |(notional, position, gross, open, per_day, (daily, drawdown, losses), per_trade)| {
                RiskConfig {
                    max_order_notional: notional,
                    max_position: position,
                    max_gross_exposure: gross,
                    max_open_positions: open,
                    max_orders_per_day: per_day,
                    daily_loss_limit: daily,
                    max_drawdown: drawdown,
                    max_consecutive_losses: losses,
                    max_risk_per_trade: per_trade.unwrap_or(f64::INFINITY),
                }
            },
        )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Any script of intents, under any limits, on two symbols (committed
    /// exposure across symbols, open-position counts, REDUCING and HALTED
    /// with their cancels and flatten, partial fills): the harness refuses,
    /// fills and changes state exactly as the host.
    #[test]
    fn the_harness_applies_the_hosts_risk_limits_as_the_host_does(
        moves in moves(),
        script in steps(),
        risk in limits(),
        costs in proptest::prop_oneof![proptest::strategy::Just(Costs::default()), proptest::strategy::Just(COSTS)],
    ) {
        let rec = two_symbols(&moves);
        SCRIPT.with(|s| *s.borrow_mut() = script.clone());
        let (h, e) = (
            harness::<Scripted>(&rec, costs, risk),
            host::<Scripted>(&rec, costs, risk),
        );
        let same = h == e;
        if !same {
            compare(&format!("{script:?} under {risk:?}"), &h, &e);
        }
    }
}
