//! The states a deployment moves through and the only edges allowed
//! between them.

use serde::{Deserialize, Serialize};

/// Where a deployment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Stage {
    /// Created, not yet tested.
    Draft,
    /// Being backtested.
    Testing,
    /// Trading on paper.
    Paper,
    /// Trading real money.
    Live,
    /// Stopped from PAPER or LIVE.
    Paused,
    /// Retired.
    Deprecated,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Stage::Draft => "DRAFT",
            Stage::Testing => "TESTING",
            Stage::Paper => "PAPER",
            Stage::Live => "LIVE",
            Stage::Paused => "PAUSED",
            Stage::Deprecated => "DEPRECATED",
        };
        f.write_str(s)
    }
}

/// A move along the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// To the next stage (DRAFT→TESTING→PAPER→LIVE).
    Promote,
    /// PAPER or LIVE → PAUSED.
    Pause,
    /// PAUSED → the stage it was paused from.
    Resume,
    /// → DEPRECATED.
    Deprecate,
}

/// Why a move is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a deployment in {from}: {why}")]
pub struct IllegalMove {
    /// The attempted move, as a verb.
    pub action: &'static str,
    /// Current stage.
    pub from: Stage,
    /// Which edges exist instead.
    pub why: String,
}

/// The stage a move leads to, or why it is illegal. `paused_from` is the
/// stage a PAUSED deployment came from.
pub fn next(from: Stage, mv: Move, paused_from: Option<Stage>) -> Result<Stage, IllegalMove> {
    use Stage::*;
    let illegal = |action, why: &str| {
        Err(IllegalMove {
            action,
            from,
            why: why.into(),
        })
    };
    match (mv, from) {
        (Move::Promote, Draft) => Ok(Testing),
        (Move::Promote, Testing) => Ok(Paper),
        (Move::Promote, Paper) => Ok(Live),
        (Move::Promote, Live) => illegal("promote", "LIVE is the last stage"),
        (Move::Promote, Paused) => illegal("promote", "resume it first"),
        (Move::Promote, Deprecated) => illegal("promote", "DEPRECATED is final"),
        (Move::Pause, Paper | Live) => Ok(Paused),
        (Move::Pause, _) => illegal("pause", "only PAPER and LIVE deployments can be paused"),
        (Move::Resume, Paused) => match paused_from {
            Some(s @ (Paper | Live)) => Ok(s),
            _ => illegal("resume", "the stage it was paused from is unknown"),
        },
        (Move::Resume, _) => illegal("resume", "only PAUSED deployments can be resumed"),
        (Move::Deprecate, Draft | Testing | Paper | Paused) => Ok(Deprecated),
        (Move::Deprecate, Live) => illegal("deprecate", "pause it first"),
        (Move::Deprecate, Deprecated) => illegal("deprecate", "it is already DEPRECATED"),
    }
}
