//! Research before money: evidence that a strategy is not an artefact of the
//! parameters it was tuned on. Every run here is exactly the replay
//! `sandbar replay` makes (the same engine, delivery and risk; the plugin
//! compiled once and instantiated per run), so a figure found here can be
//! reproduced with one `replay` command.
//!
//! Files: `sweep.rs` parameter grids and random search, run in parallel;
//! `walkforward.rs` optimise in sample, trade out of sample, stitch;
//! `shard.rs` a sweep split across machines and merged back;
//! `compare.rs` a paper run against the replay of its own bars;
//! `montecarlo.rs` a run's trades or returns resampled; `overfit.rs` the
//! Deflated Sharpe Ratio and the Probability of Backtest Overfitting.

pub mod compare;
pub mod montecarlo;
pub mod overfit;
pub mod shard;
pub mod sweep;
pub mod walkforward;
