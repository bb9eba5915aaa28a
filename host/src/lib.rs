//! # Sandbar: trading strategies as sandboxed WebAssembly components
//!
//! A strategy proposes; the host disposes. A strategy component (built with
//! `sandbar-sdk`) receives bars and returns *intents*. Everything that can
//! lose money or corrupt state lives here, in the host: the risk engine
//! decides which intents become orders, a venue executes them, the ledger
//! keeps the books, and the journal records every step in redb.
//!
//! One pipeline serves every mode — replay of recorded data today, paper and
//! live trading later — because the only parts that differ are the feed
//! (where bars come from) and the venue (where orders go):
//!
//! ```text
//!  feed ─ bars ─▶ engine ─▶ strategy (sandbox) ─ intents ─▶ risk ─ orders ─▶ venue
//!                   ▲                                                        │
//!                   └──── events ◀── journal ◀── ledger ◀──── fills ─────────┘
//! ```
//!
//! Module map: [`market`] (bars, CSV, recordings), [`feed`] (bar sources),
//! [`runtime`] (the wasmtime sandbox), [`risk`], [`execution`] (orders and
//! the simulated venue), [`portfolio`] (the ledger), [`journal`] (redb),
//! [`engine`] (the pipeline), [`report`] (performance statistics),
//! [`golden`] (testing plugins against recordings), [`cli`].

pub mod api;
pub mod cli;
pub mod engine;
pub mod execution;
pub mod feed;
pub mod golden;
pub mod journal;
pub mod lifecycle;
pub mod market;
#[cfg(feature = "native")]
pub mod native;
pub mod params;
pub mod portfolio;
pub mod registry;
pub mod replay;
pub mod report;
pub mod risk;
pub mod runtime;
pub mod service;
pub mod shadow;
pub mod synth;
