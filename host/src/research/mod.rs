//! Research before money: evidence that a strategy is not an artefact of the
//! parameters it was tuned on. Every run here is exactly the replay
//! `sandbar replay` makes (the same engine, delivery and risk; the plugin
//! compiled once and instantiated per run), so a figure found here can be
//! reproduced with one `replay` command.
//!
//! Files: `sweep.rs` parameter grids and random search, run in parallel;
//! `montecarlo.rs` a run's trades or returns resampled. Walk-forward and
//! the overfitting statistics of issue 14 are to come beside them.

pub mod montecarlo;
pub mod overfit;
pub mod sweep;
