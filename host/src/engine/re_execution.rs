//! Re-executing a journal whatever the machine: the journal, not the
//! machine's speed, decides whether a re-executed bar runs out of CPU budget.
//!
//! Why: the CPU budget is measured (`sandbox::runtime::limits`), so a bar
//! near its budget can run out on one machine and not on another, or under
//! load and not on a quiet restart. Re-executing a journal must give every
//! entry back byte for byte, else recovery stops with "recovery diverged"
//! and a LIVE run's positions stay under its old run. So while the engine
//! re-executes the journal's bars it tells the serving version how to count
//! ([`CallBudget`]): a bar whose fault the journal holds as a CPU-budget
//! fault ends with that fault again without being run; every other
//! re-executed bar gets [`RE_EXECUTION_FACTOR`] times its budget. Past the
//! journal, the budget is measured as always.

use super::*;
use crate::sandbox::runtime::{CallBudget, Fault};

/// What the engine knows of the journal it re-executes.
pub(super) struct ReExecution {
    /// Bars `0..bars` are the journal's.
    bars: u64,
    /// Fault diagnoses of the journal not yet passed, with their bars.
    faults: std::collections::VecDeque<(u64, String)>,
}

impl<'a, V: Venue> Engine<'a, V> {
    /// This run re-executes a journal: its first `bars` bars, and the
    /// diagnoses of its faults (a fault's message or a rollback's cause,
    /// [`crate::store::journal::Resumed::fault_causes`]).
    pub fn re_execute(&mut self, bars: u64, fault_causes: Vec<(u64, String)>) {
        self.controls.re_execution = (bars > 0).then(|| ReExecution {
            bars,
            faults: fault_causes.into(),
        });
    }

    /// Whether a journaled fault is still ahead (exact windows are off: the
    /// budget is decided per bar, at the call).
    #[inline]
    pub(super) fn faults_to_re_execute(&self) -> bool {
        self.controls
            .re_execution
            .as_ref()
            .is_some_and(|r| !r.faults.is_empty())
    }

    /// How the serving version's call for `bar` (at `seq`) counts its budget.
    pub(super) fn budget_for(&mut self, seq: u64, bar: Bar) -> CallBudget {
        let Some(r) = &mut self.controls.re_execution else {
            return CallBudget::Measured;
        };
        if seq >= r.bars {
            self.controls.re_execution = None;
            return CallBudget::Measured;
        }
        while r.faults.front().is_some_and(|(s, _)| *s < seq) {
            r.faults.pop_front();
        }
        if r.faults.front().is_none_or(|(s, _)| *s != seq) {
            return CallBudget::Lenient;
        }
        // The diagnosis this delivery would journal begins with exactly
        // this (the version, the bar): a fault of another version is not its.
        let head = self.fault_head(seq, bar);
        let Some(r) = &mut self.controls.re_execution else {
            return CallBudget::Measured;
        };
        let fault = r.faults.front().and_then(|(_, m)| m.strip_prefix(&head));
        match fault.map(is_budget_fault) {
            Some(spent) => {
                r.faults.pop_front();
                if spent {
                    CallBudget::Spent
                } else {
                    CallBudget::Lenient
                }
            }
            None => CallBudget::Lenient,
        }
    }
}

/// Whether a fault's text is exactly a CPU-budget fault's (a trap's text
/// carries the plugin's own panic message, which could say anything).
fn is_budget_fault(text: &str) -> bool {
    text.split(" more than ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse::<u64>().ok())
        .is_some_and(|ms| Fault::Timeout(ms).to_string() == text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_text_of_a_budget_fault_counts_as_one() {
        assert!(is_budget_fault(&Fault::Timeout(250).to_string()));
        assert!(is_budget_fault(&Fault::Timeout(7).to_string()));
        let trap = Fault::Trap {
            kind: format!(
                "wasm trap after the plugin's panic: {}",
                Fault::Timeout(250)
            ),
            frames: vec![],
        };
        assert!(!is_budget_fault(&trap.to_string()));
        assert!(!is_budget_fault(&format!("{} ", Fault::Timeout(250))));
        assert!(!is_budget_fault(&Fault::Memory(1).to_string()));
    }
}
