//! Where bars come from: the bar type, CSV files and binary recordings
//! ([`market`]), the sources the engine pulls bars from ([`feed`]: recorded
//! and paced; [`live`] exchange feeds and their hubs), and seeded synthetic data for
//! throughput tests ([`synth`]).
//!
//! Everything that reads outside data validates it here, so the engine can
//! assume positive finite prices, non-negative volume and ordered times.

pub mod feed;
pub mod live;
pub mod market;
pub mod stream;
pub mod synth;
