//! The risk engine: the host's last word on every order a strategy asks for.
//!
//! The rules themselves live in the SDK crate (`guest-sdk/src/risk.rs`,
//! re-exported here whole), so that a strategy's native unit tests run the
//! same code a replay runs (`sandbar_sdk::testing::Harness::with_risk`):
//! one implementation, no second copy to drift. Nothing of the guest
//! reaches the host through it — it is plain arithmetic on the figures the
//! engine hands it, compiled into the host natively.
//!
//! Where the host enforces them: [`crate::engine`] builds a [`Proposal`]
//! for every strategy order with committed exposure (positions plus open
//! orders as if they filled), refuses before anything is journaled as an
//! order, and acts on state changes (REDUCING cancels orders that add risk,
//! HALTED cancels everything and flattens).

pub use sandbar_sdk::risk::*;
