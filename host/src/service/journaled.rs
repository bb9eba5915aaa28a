//! What a run's journal says was decided from outside its strategy — the
//! operator's commands, its account's rebalances and reductions, the kill
//! switch — read back at a start so a recovered run meets each again at
//! the same bar.

use std::collections::VecDeque;

use crate::data::market::Bar;
use crate::store::journal::{CommandAction, Entry};

/// The operator's commands a journal holds, to apply again at their bars.
pub(super) fn journaled_commands(
    commands: &[Entry],
) -> VecDeque<(u64, CommandAction, String, String)> {
    commands
        .iter()
        .filter_map(|e| match e {
            Entry::Command {
                seq,
                action,
                actor,
                reason,
            } => Some((*seq, action.clone(), actor.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

/// What of its account's decisions a member's journal holds: the rebalances
/// it applied (by their as-of time) and the days its loss limit reduced it
/// (by the day of the bar it followed).
pub(super) fn account_decisions(commands: &[Entry], bars: &[Bar]) -> (Vec<i64>, Vec<i64>) {
    let (mut rebalanced, mut reduced) = (Vec::new(), Vec::new());
    for e in commands {
        match e {
            Entry::Command {
                action: CommandAction::Allocate { as_of_ms, .. },
                ..
            } => rebalanced.push(*as_of_ms),
            Entry::Command {
                seq,
                action: CommandAction::Reduce,
                ..
            } => {
                if let Some(bar) = seq.checked_sub(1).and_then(|s| bars.get(s as usize)) {
                    reduced.push(bar.time_ms.div_euclid(86_400_000));
                }
            }
            _ => {}
        }
    }
    (rebalanced, reduced)
}

/// The kills a LIVE run's journal holds: (seq, venue notes before it, actor, reason).
pub(super) fn journaled_kills(commands: &[Entry]) -> Vec<crate::engine::JournaledKill> {
    commands
        .iter()
        .filter_map(|e| match e {
            Entry::Kill {
                seq,
                notes,
                actor,
                reason,
            } => Some((*seq, *notes, actor.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}
