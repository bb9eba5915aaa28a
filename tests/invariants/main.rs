//! The risk engine's promises, checked as invariants over generated runs
//! (`properties.rs`) and as named regressions for every hole found
//! (`regressions.rs`, citing issue 8).
//!
//! Everything here drives the real [`sandbar::engine::Engine`] with the real
//! simulated venue and risk engine; only the strategy is a script (a
//! [`script::Script`] driver that returns fixed intents at fixed bars), and
//! the checks re-derive the books from the journal independently of the
//! engine's own ledger.

mod check;
mod exact;
mod inputs;
mod live;
mod parity;
mod properties;
mod re_execution;
mod regressions;
mod script;
mod sessions;
