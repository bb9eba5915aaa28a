//! # Sandbar: trading strategies as sandboxed WebAssembly components
//!
//! A strategy proposes; the host disposes. A strategy component (built with
//! `sandbar-sdk`) receives bars and returns *intents*. Everything that can
//! lose money or corrupt state lives here, in the host: the risk engine
//! decides which intents become orders, a venue executes them, the ledger
//! keeps the books, and the journal records every step in redb.
//!
//! One pipeline serves every mode — replay of recorded data, paper trading
//! on live feeds, and live trading on real venues — because the only parts
//! that differ are the feed (where bars come from) and the venue (where
//! orders go):
//!
//! ```text
//!  feed ─ bars ─▶ engine ─▶ strategy (sandbox) ─ intents ─▶ risk ─ orders ─▶ venue
//!                   ▲                                                        │
//!                   └──── events ◀── journal ◀── ledger ◀──── fills ─────────┘
//! ```
//!
//! The folders are the pipeline; each `mod.rs` says what lives there:
//!
//! | folder | what belongs there |
//! |---|---|
//! | [`data`] | bars, CSV and recordings, feeds (recorded, paced) and the live feeds' hub, synthetic data |
//! | [`adapters`] | one folder per venue (Binance, Alpaca): its config section, feed, order connector, update stream, filters, signing |
//! | [`net`], [`digest`] | the network toolkit every adapter shares (backoff); identities as hex |
//! | [`sandbox`] | the wasmtime runtime, WASI shim, virtual time, limits; strategy parameters |
//! | [`engine`] | the bar loop; strategy drivers; operator commands; versions (swaps, rollback); protective orders; replay composition |
//! | [`risk`] | limits and trading states: the host's word on every order (the rules are `sandbar_sdk::risk`, shared with the SDK's harness) |
//! | [`execution`] | orders, the `Venue` trait and the only order it takes (`Approved`): the simulated venue, the live venue (courier, connector contract, pace, naming), a live order's state machine |
//! | [`portfolio`] | the ledger: cash, positions, PnL, round trips; capital allocation and ramp-up |
//! | [`store`] | redb: the run journal and the plugin registry |
//! | [`lifecycle`] | stages and their edges, promotion gates, evidence, the pre-live checklist (policy only) |
//! | [`service`] | running deployments (plan, start, commands, reconciliation, accounts), the HTTP control API, the dashboard, metrics, monitoring and alerts, shadow runs |
//! | [`statistic`] | returns, Sharpe, Sortino, drawdown and their one annualisation, for everyone who measures |
//! | [`report`] | statistics of a run, golden files, the HTML report, a run rebuilt from its journal |
//! | [`research`] | sweeps (and their shards), walk-forward, Monte Carlo, overfitting statistics, paper vs replay |
//! | [`cli`] | the `sandbar` command, one file per command family |
//!
//! The short paths `sandbar::market`, `sandbar::runtime`, `sandbar::journal`
//! … are the same modules, re-exported: the crate's public API does not move
//! with the tree.

pub mod adapters;
pub mod cli;
pub mod data;
pub mod digest;
pub mod engine;
pub mod execution;
pub mod lifecycle;
pub mod net;
pub mod portfolio;
pub mod report;
pub mod research;
pub mod risk;
pub mod sandbox;
pub mod service;
pub mod session;
pub mod statistic;
pub mod store;

pub use data::{feed, market, synth};
#[cfg(feature = "native")]
pub use engine::native;
pub use engine::replay;
pub use report::golden;
pub use sandbox::{params, runtime};
pub use service::{api, shadow};
pub use store::{journal, registry};
