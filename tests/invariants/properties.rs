//! Properties over generated markets and generated adversarial scripts.
//!
//! Markets: one to three symbols, gaps of up to ±15% at the open, bars that
//! trade at one price (limit-up/down style), zero-volume bars, symbols that
//! skip bars. Scripts: every action, absurd prices and quantities (1e-6 to
//! 1e12), stops and targets on either side of the price, bursts of intents in
//! one bar, unknown symbols. Limits and costs are generated too.
//!
//! `cargo test` runs 256 cases per property (about a second); a longer run
//! (50,000 cases each, about 25 s, passed at the time of writing):
//! `PROPTEST_CASES=50000 cargo test -p sandbar --test invariants properties`.
//! In a sample of 2,000 generated cases, half trade, 769 protective orders
//! fill, 132 reach REDUCING and 29 HALTED.

use proptest::prelude::*;

use sandbar::execution::SimConfig;
use sandbar::journal::Entry;
use sandbar::market::{Bar, Recording};
use sandbar::risk::RiskConfig;
use sandbar::runtime::{Action, Delivery, Side};

use crate::check::assert_invariants;
use crate::script::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

#[derive(Debug, Clone, Copy)]
struct Move {
    present: bool,
    gap: f64,
    shape: u8,
    range: f64,
    drift: f64,
    volume: u8,
}

fn a_move() -> impl Strategy<Value = Move> {
    (
        prop::bool::weighted(0.9),
        prop_oneof![3 => Just(0.0), 2 => -0.15..0.15f64],
        0u8..4,
        0.0..0.12f64,
        -0.05..0.05f64,
        0u8..6,
    )
        .prop_map(|(present, gap, shape, range, drift, volume)| Move {
            present,
            gap,
            shape,
            range,
            drift,
            volume,
        })
}

/// Bars from moves: each symbol's open is its last close moved by the gap.
fn market(symbols: usize, moves: &[Vec<Move>], hours: bool) -> Recording {
    let step = if hours { 3_600_000 } else { 86_400_000 };
    let mut last = vec![100.0f64; symbols];
    let mut bars = Vec::new();
    for (t, row) in moves.iter().enumerate() {
        for (s, m) in row.iter().enumerate().take(symbols) {
            if !m.present && t > 0 {
                continue;
            }
            let open = last[s] * (1.0 + m.gap);
            let close = open * (1.0 + m.drift);
            let (high, low) = match m.shape {
                0 => (open, open), // one price all bar (limit-up/down)
                _ => (
                    open.max(close) * (1.0 + m.range),
                    open.min(close) * (1.0 - m.range),
                ),
            };
            let close = if m.shape == 0 { open } else { close };
            let volume = match m.volume {
                0 => 0.0,
                1 => 50.0,
                _ => 1_000_000.0,
            };
            last[s] = close;
            bars.push(Bar {
                symbol: s as u32,
                time_ms: t as i64 * step,
                open,
                high,
                low,
                close,
                volume,
            });
        }
    }
    Recording {
        symbols: (0..symbols).map(|s| format!("S{s}")).collect(),
        bars,
    }
}

fn a_quantity() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 1.0..2_000.0f64,
        1 => Just(1e-6),
        1 => Just(1e12),
        1 => 1e6..1e9f64,
    ]
}

fn a_price() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 50.0..150.0f64,
        1 => Just(1e-4),
        1 => Just(1e9),
    ]
}

fn an_action() -> impl Strategy<Value = Action> {
    use sandbar::runtime::{LimitOrder, MarketOrder};
    let side = prop_oneof![Just(Side::Buy), Just(Side::Sell)];
    prop_oneof![
        3 => prop_oneof![-1.5..1.5f64, Just(100.0), Just(-100.0)].prop_map(Action::TargetWeight),
        1 => prop_oneof![-3_000.0..3_000.0f64, Just(1e12)].prop_map(Action::TargetQuantity),
        3 => (side.clone(), a_quantity()).prop_map(|(side, quantity)| Action::Market(MarketOrder { side, quantity })),
        3 => (side, a_quantity(), a_price()).prop_map(|(side, quantity, price)| Action::Limit(LimitOrder { side, quantity, price })),
        1 => Just(Action::Close),
    ]
}

fn a_script(symbols: usize, bars: usize) -> impl Strategy<Value = Vec<Step>> {
    let seq_max = (bars * symbols).max(1) as u64;
    prop::collection::vec(
        (
            0..seq_max,
            0..=symbols as u32, // `symbols` itself is unknown to the run
            an_action(),
            prop::option::weighted(0.3, 60.0..110.0f64),
            prop::option::weighted(0.3, 90.0..140.0f64),
        ),
        0..40,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(seq, symbol, action, sl, tp)| at(seq, protect(intent(symbol, action), sl, tp)))
            .collect()
    })
}

fn limits() -> impl Strategy<Value = RiskConfig> {
    (
        0.05..1.0f64,
        0.2..2.0f64,
        1usize..4,
        1u32..60,
        0.005..0.3f64,
        0.02..0.4f64,
        1u32..6,
        prop::option::weighted(0.3, 1_000.0..50_000.0f64),
    )
        .prop_map(
            |(mp, gross, open, per_day, daily, dd, losses, notional)| RiskConfig {
                max_order_notional: notional,
                max_position: mp,
                max_gross_exposure: gross,
                max_open_positions: open,
                max_orders_per_day: per_day,
                daily_loss_limit: daily,
                max_drawdown: dd,
                max_consecutive_losses: losses,
                max_risk_per_trade: f64::INFINITY,
            },
        )
}

fn costs() -> impl Strategy<Value = SimConfig> {
    (
        prop_oneof![Just(1.0), Just(0.01)],
        0.0..20.0f64,
        0.0..0.2f64,
    )
        .prop_map(|(share, slippage_bps, commission_percent)| SimConfig {
            slippage_bps,
            commission_percent,
            max_volume_share: share,
            ..SimConfig::default()
        })
}

#[derive(Debug, Clone)]
struct Case {
    rec: Recording,
    steps: Vec<Step>,
    setup: Setup,
}

fn a_case() -> impl Strategy<Value = Case> {
    (1usize..=3, 3usize..40, any::<bool>())
        .prop_flat_map(|(symbols, bars, hours)| {
            (
                prop::collection::vec(prop::collection::vec(a_move(), symbols), bars),
                a_script(symbols, bars),
                limits(),
                costs(),
                Just((symbols, hours)),
            )
        })
        .prop_map(|(moves, steps, risk, sim, (symbols, hours))| Case {
            rec: market(symbols, &moves, hours),
            steps,
            setup: Setup {
                risk,
                sim,
                ..Setup::default()
            },
        })
}

/// What a strategy that does not read its account cannot tell apart.
fn decisions(journal: &[Entry]) -> Vec<&Entry> {
    journal
        .iter()
        .filter(|e| {
            matches!(
                e,
                Entry::Order { .. }
                    | Entry::Fill { .. }
                    | Entry::Refusal { .. }
                    | Entry::Cancel { .. }
                    | Entry::State { .. }
                    | Entry::Final { .. }
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Exposure, protection, trading states and the books hold after every entry.
    #[test]
    fn the_risk_invariants_hold_for_any_market_and_any_script(case in a_case()) {
        let (out, journal) = run(&case.rec, &case.steps, &case.setup);
        assert_invariants(&case.rec, case.setup.risk, case.setup.cash, case.setup.sim.max_volume_share, &out, &journal);
    }

    /// Per-bar and batched delivery decide the same when the strategy does
    /// not read its account.
    #[test]
    fn per_bar_and_batched_delivery_agree(case in a_case(), batch in 2usize..9) {
        let (_, per_bar) = run(&case.rec, &case.steps, &case.setup);
        let setup = Setup { delivery: Delivery::Batched, batch_size: batch, ..case.setup.clone() };
        let (out, batched) = run(&case.rec, &case.steps, &setup);
        assert_invariants(&case.rec, setup.risk, setup.cash, setup.sim.max_volume_share, &out, &batched);
        prop_assert_eq!(decisions(&per_bar), decisions(&batched));
    }

    /// Exact batching writes the journal per-bar delivery writes, entry for
    /// entry, for a strategy that reads its account on every decision: the
    /// windows never span a fill, a trigger or a risk state change, and the
    /// account read inside a window is the one per-bar delivery shows.
    #[test]
    fn exact_batching_writes_the_per_bar_journal(case in a_case()) {
        let per_bar = Setup { reads_view: true, ..case.setup.clone() };
        let exact = Setup { delivery: Delivery::Exact, ..per_bar.clone() };
        let (a, per_bar_journal) = run(&case.rec, &case.steps, &per_bar);
        let (b, exact_journal) = run(&case.rec, &case.steps, &exact);
        // Debug text: every bit of every float (NaN and -0.0 included).
        prop_assert_eq!(format!("{per_bar_journal:?}"), format!("{exact_journal:?}"));
        prop_assert_eq!(format!("{:?}", a.equity_curve), format!("{:?}", b.equity_curve));
        prop_assert_eq!((a.bars, a.orders, a.refusals, a.bars_in_market), (b.bars, b.orders, b.refusals, b.bars_in_market));
    }

    /// A warm-up (a walk-forward's test span) drops exactly the decisions
    /// on its bars: the journal is the one of the script without them,
    /// entry for entry, per-bar and with exact windows.
    #[test]
    fn a_warm_up_drops_exactly_the_decisions_on_its_bars(case in a_case(), warmup in 0u64..20, exact in any::<bool>()) {
        let delivery = if exact { Delivery::Exact } else { Delivery::PerBar };
        let with = Setup { warmup, delivery, ..case.setup.clone() };
        let without = Setup { delivery, ..case.setup.clone() };
        let kept: Vec<Step> = case.steps.iter().filter(|s| s.seq >= warmup).cloned().collect();
        let (_, a) = run(&case.rec, &case.steps, &with);
        let (_, b) = run(&case.rec, &kept, &without);
        prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }
}
