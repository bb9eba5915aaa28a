//! The kill switch of a live run: pulled between bars by an operator, journaled with how many venue notes came before it, applied again at the same place on recovery.

use super::*;

/// A kill of a journal: (bar boundary, venue notes before it, actor, reason).
pub type JournaledKill = (u64, u32, String, String);

/// The kill switch of one LIVE run: the service pulls it (actor, reason)
/// and wakes the run; the engine acts at its next look, bar or no bar.
#[derive(Clone, Default)]
pub struct KillSwitch {
    pub(super) pulled: std::sync::Arc<std::sync::Mutex<Option<(String, String)>>>,
    /// Bars re-executed from the journal first: the switch waits for them.
    pub live_from: u64,
}

impl KillSwitch {
    /// A switch for a run that re-executes `live_from` journaled bars first.
    pub fn new(live_from: u64) -> Self {
        Self {
            pulled: Default::default(),
            live_from,
        }
    }

    /// Pull it: the run cancels, flattens and pauses at its next look.
    pub fn pull(&self, actor: &str, reason: &str) {
        *self.pulled.lock().expect("kill switch") = Some((actor.into(), reason.into()));
    }

    pub(super) fn take(&self) -> Option<(String, String)> {
        self.pulled.lock().expect("kill switch").take()
    }
}

impl<'a, V: Venue> Engine<'a, V> {
    /// Give a LIVE run its kill switch and the kills its journal holds.
    pub fn set_kill_switch(&mut self, switch: KillSwitch, journaled: Vec<JournaledKill>) {
        self.controls.kill_switch = Some(switch);
        self.controls.replayed_kills = journaled.into();
    }

    /// Apply the journal's kills due here (after as many notes as before).
    pub(super) fn replay_kills(&mut self, seq: u64) -> Result<bool, JournalError> {
        let mut any = false;
        while self
            .controls
            .replayed_kills
            .front()
            .is_some_and(|k| (k.0, k.1) == self.controls.notes_at)
        {
            let (_, _, actor, reason) = self.controls.replayed_kills.pop_front().expect("front");
            self.kill(seq, actor, reason)?;
            any = true;
        }
        Ok(any)
    }

    /// The kill switch, between bars: journaled, then every order cancelled
    /// and every position closed with reduce-only market orders (a live
    /// venue sends them now: no price from a feed is needed), and the
    /// strategy paused.
    pub(super) fn kill(
        &mut self,
        seq: u64,
        actor: String,
        reason: String,
    ) -> Result<(), JournalError> {
        self.record(Entry::Kill {
            seq,
            notes: self.controls.notes_at.1,
            actor: actor.clone(),
            reason: reason.clone(),
        })?;
        self.flatten_all(seq, &format!("kill switch by {actor}: {reason}"))?;
        if self.controls.paused.is_none() {
            self.pause(seq, actor, format!("kill switch: {reason}"))?;
        }
        Ok(())
    }
}
