//! The host's own per-venue order rate limit, shared by every deployment on
//! the venue.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Placements to one venue from every deployment, paced together (the
/// host's per-venue order rate limit).
#[derive(Debug)]
pub struct Pace {
    gap: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pace {
    /// At most `per_second` placements a second.
    pub fn new(per_second: f64) -> Arc<Pace> {
        Arc::new(Pace {
            gap: Duration::from_secs_f64(1.0 / per_second.max(1e-3)),
            next: Mutex::new(None),
        })
    }

    /// Wait for this placement's turn.
    pub fn wait(&self) {
        let turn = {
            let mut next = self.next.lock().expect("pace lock");
            let now = Instant::now();
            let turn = next.map_or(now, |t| t.max(now));
            *next = Some(turn + self.gap);
            turn
        };
        let now = Instant::now();
        if turn > now {
            std::thread::sleep(turn - now);
        }
    }
}
