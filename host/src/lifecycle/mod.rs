//! Deployment lifecycle: the states a deployment moves through, the only
//! edges allowed between them, and the promotion gates.
//!
//! ```text
//!  DRAFT → TESTING → PAPER → LIVE
//!                      │  ↖   │ ↖
//!                      ↓   ╲  ↓  ╲
//!                      PAUSED ────  (back only by an explicit resume, with a reason,
//!                                    to the state it was paused from)
//!  DEPRECATED: from DRAFT, TESTING, PAPER or PAUSED (pause a LIVE deployment first)
//! ```
//!
//! A gate is evaluated into a [`Readiness`] report: every criterion with its
//! measured value, threshold and verdict. Promotion happens only when all
//! pass, or with `--force` and a reason (journaled as forced).
//!
//! Files: `stage.rs` the states and edges; `gates.rs` thresholds and their
//! evaluation; `evidence.rs` what runs showed; `checklist.rs` the pre-live
//! checklist. Policy only: it reads figures, it runs nothing and stores
//! nothing (the registry, `crate::store::registry`, keeps stages and
//! evidence and applies these rules on every move).

pub mod checklist;
pub mod evidence;
pub mod gates;
pub mod stage;

pub use checklist::*;
pub use evidence::*;
pub use gates::*;
pub use stage::*;

#[cfg(test)]
mod tests;
