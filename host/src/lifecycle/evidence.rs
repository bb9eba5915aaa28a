//! What a deployment has shown, kept in the registry as evidence for the
//! gates: a backtest, a walk-forward, a Monte Carlo resampling, a paper run
//! and its comparison with the replay of its own bars. Plain data: the
//! figures are computed where the runs are (`report`, `research`).

use serde::{Deserialize, Serialize};

/// What a backtest showed, kept as evidence for the TESTING → PAPER gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestEvidence {
    /// `name@version` that was replayed: evidence counts only for that version.
    #[serde(default)]
    pub plugin: String,
    /// The run let the strategy see bars after its decisions (batched
    /// delivery): such a run is no evidence.
    #[serde(default)]
    pub lookahead: bool,
    /// Data files replayed.
    pub data: Vec<String>,
    /// Bars replayed.
    pub bars: u64,
    /// Years covered.
    pub years: f64,
    /// Sharpe ratio.
    pub sharpe: f64,
    /// Max drawdown (fraction).
    pub max_drawdown: f64,
    /// Round trips.
    pub trades: u64,
    /// Share of round trips with a positive PnL (absent from evidence kept
    /// before it was measured).
    #[serde(default)]
    pub win_rate: Option<f64>,
    /// Whether the run faulted.
    pub faulted: bool,
    /// A walk-forward of the deployment's version on the same data.
    #[serde(default)]
    pub walk_forward: Option<WalkForwardEvidence>,
    /// A Monte Carlo resampling of the backtest's round trips.
    #[serde(default)]
    pub monte_carlo: Option<MonteCarloEvidence>,
}

/// What a walk-forward showed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalkForwardEvidence {
    /// `3y/1y` (train/test), `anchored` or not.
    pub spans: String,
    /// Windows run.
    pub windows: usize,
    /// Grid, as `--grid` texts.
    pub grid: Vec<String>,
    /// Out-of-sample Sharpe of the stitched test spans.
    pub sharpe: f64,
    /// Out-of-sample ÷ mean in-sample annualised return.
    pub efficiency: f64,
    /// The fewest out-of-sample round trips of any window.
    #[serde(default)]
    pub min_window_trades: Option<u64>,
}

/// What a Monte Carlo resampling showed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonteCarloEvidence {
    /// Paths simulated.
    pub runs: usize,
    /// What was resampled (`trades`).
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// 95th percentile of the maximum drawdown (fraction).
    pub p95_drawdown: f64,
}

/// What paper trading showed, for the PAPER → LIVE gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaperEvidence {
    /// `name@version` in service when the paper run ended.
    #[serde(default)]
    pub plugin: String,
    /// UTC calendar days on which the paper run traded bars (not wall time
    /// since the promotion: a stopped deployment earns no days).
    pub days: f64,
    /// Round trips.
    pub trades: u64,
    /// Sharpe ratio.
    pub sharpe: f64,
    /// Average slippage in bps.
    pub slippage_bps: f64,
    /// Largest drawdown from the equity peak (fraction).
    #[serde(default)]
    pub max_drawdown: Option<f64>,
    /// Share of round trips with a positive PnL.
    #[serde(default)]
    pub win_rate: Option<f64>,
    /// The bar interval traded (ms; the median spacing of its bars): how
    /// long a paper run must last depends on it.
    #[serde(default)]
    pub interval_ms: Option<i64>,
    /// Faults not handled.
    pub faults: u64,
    /// The broker's paper account it traded on (a `paper = true` venue:
    /// Alpaca paper, Binance's spot testnet), whose fills, slippage and
    /// fill times are a broker's; `None`: the simulated venue, whose
    /// slippage is whatever was configured.
    #[serde(default)]
    pub venue: Option<String>,
    /// The paper run's bars replayed through the backtest engine
    /// (`deploy compare --record`); a later paper run replaces the evidence
    /// and so asks for a new comparison.
    #[serde(default)]
    pub replay: Option<Comparison>,
}

/// A paper run against the replay of its own bars (`deploy compare`):
/// what `crate::research::compare` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// `name@version` compared.
    pub plugin: String,
    /// Bars compared.
    pub bars: u64,
    /// Why the comparison stops before the journal's end, if it does.
    pub stopped_at: Option<String>,
    /// Fills of the paper run.
    pub paper_fills: usize,
    /// Fills of the replay.
    pub replay_fills: usize,
    /// Fills equal in bar, side, quantity and price (to 1e-9), in order.
    pub matching_fills: usize,
    /// The first fill that differs: (paper, replay).
    pub first_difference: Option<(Option<FillRow>, Option<FillRow>)>,
    /// Largest price difference among fills paired in order, in bps.
    pub max_price_difference_bps: f64,
    /// Slippage paid: paper, replay.
    pub slippage: (f64, f64),
    /// PnL: paper, replay.
    pub pnl: (f64, f64),
    /// Sharpe ratio: paper, replay.
    pub sharpe: (f64, f64),
    /// |paper − replay| ÷ |replay| Sharpe (0 when both are 0).
    pub sharpe_deviation: f64,
}

/// A fill as compared: bar, side, quantity, price, commission, slippage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FillRow {
    /// Bar sequence number.
    pub seq: u64,
    /// `buy` or `sell`.
    pub side: String,
    /// Quantity.
    pub quantity: f64,
    /// Price.
    pub price: f64,
    /// Commission.
    pub commission: f64,
    /// Slippage paid.
    pub slippage: f64,
}
