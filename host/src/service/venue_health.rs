//! Alerts on a LIVE deployment's venue, looked at by the reconciler's
//! thread every 50 ms: repeated venue and API errors (`errors`: an order
//! rejected, a lookup failing, a long wait asked for, an order left
//! unknown — three within ten minutes warn, more than five are critical, as
//! the reference deployment guide counts them), and an update stream that
//! dropped (`stream-down`: fills are then found by polling, later).
//!
//! Why here and not in the courier: the courier is the execution layer and
//! knows nothing of alerts; it keeps its problems and counts where the
//! service reads them (the deployment's status shows the last twenty).

use std::collections::HashMap;

use super::{Service, monitor};

/// What was seen of one deployment's venue at the last look.
#[derive(Debug, Default)]
pub(super) struct Seen {
    problems: u64,
    errors: monitor::Burst,
    stream_up: bool,
}

impl Service {
    /// Alert on what happened at each LIVE deployment's venue since the
    /// last look (`seen`, by deployment).
    pub(super) fn watch_venues(&self, seen: &mut HashMap<String, Seen>) {
        let Some(a) = self.alerter.clone() else {
            return;
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let runs = self.runs.lock().expect("runs lock");
        for (name, run) in runs.iter() {
            let Some(v) = &run.venue else { continue };
            let s = seen.entry(name.clone()).or_default();
            let version = run.status.lock().expect("status").serving.clone();
            let new: Vec<String> = {
                let p = v.problems.lock().expect("problems lock");
                let new = p.since(s.problems);
                s.problems = p.total();
                new
            };
            for problem in new {
                let n = s.errors.count(now_ms, monitor::ERROR_WINDOW_MS) as f64;
                let what = format!("venue errors at `{}`", v.name);
                a.raise_errors(name, &version, n, &what, &format!(": {problem}"));
            }
            let up = v.counts.lock().expect("counts lock").stream_up;
            if s.stream_up && !up {
                a.raise(monitor::Raise::new(
                    monitor::Level::Warning,
                    monitor::Rule::StreamDown,
                    name,
                    &version,
                    format!(
                        "the update stream of venue `{}` dropped: fills are found by polling \
                         (slower) until it reconnects",
                        v.name
                    ),
                ));
            }
            s.stream_up = up;
        }
    }
}
