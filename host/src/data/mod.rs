//! Where bars come from: the bar type, CSV files and binary recordings
//! ([`market`]), the sources the engine pulls bars from ([`feed`]: recorded
//! and paced today; live feeds go here), and seeded synthetic data for
//! throughput tests ([`synth`]).
//!
//! Everything that reads outside data validates it here, so the engine can
//! assume positive finite prices, non-negative volume and ordered times.

pub mod feed;
pub mod market;
pub mod synth;
