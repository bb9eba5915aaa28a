//! Exponential backoff: the wait before the next attempt doubles after
//! every failure up to a ceiling, and starts again from the floor after a
//! success (or after a connection that lasted).
//!
//! The floors and ceilings differ by caller, on purpose, and are named where
//! each caller builds its `Backoff`:
//! - market-data feeds (Binance klines, Alpaca bars): 200 ms to 30 s, with
//!   jitter, so that many hosts cut by one outage do not reconnect at once;
//! - update streams (Binance user data, Alpaca `trade_updates`): 250 ms to
//!   10 s, reset after a connection that lasted 30 s — orders are still
//!   polled while they are down, so a quick return matters more;
//! - alert channels: 1 s to 60 s per channel.

use std::time::Duration;

/// The wait before each next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    floor: Duration,
    ceiling: Duration,
    current: Duration,
}

impl Backoff {
    /// Starts at `floor`, doubles to at most `ceiling`.
    pub fn new(floor: Duration, ceiling: Duration) -> Backoff {
        Backoff {
            floor,
            ceiling,
            current: floor,
        }
    }

    /// The wait to use now; the next one is twice as long (up to the ceiling).
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.current;
        self.current = (self.current * 2).min(self.ceiling);
        wait
    }

    /// The next wait is the ceiling (a refusal that will not clear soon:
    /// refused credentials, a connection limit).
    pub fn hold(&mut self) {
        self.current = self.ceiling;
    }

    /// Back to the floor (the last attempt worked).
    pub fn reset(&mut self) {
        self.current = self.floor;
    }
}

/// `base` plus up to half of it again, from the clock's nanoseconds: no
/// randomness is needed for correctness, only to spread reconnects.
pub fn jitter(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    base + base.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_to_the_ceiling_and_reset_to_the_floor() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(200), ms(1000));
        let waits: Vec<_> = (0..5).map(|_| b.next_wait()).collect();
        assert_eq!(waits, [ms(200), ms(400), ms(800), ms(1000), ms(1000)]);
        b.reset();
        assert_eq!(b.next_wait(), ms(200));
        b.hold();
        assert_eq!(b.next_wait(), ms(1000));
    }

    #[test]
    fn jitter_adds_at_most_half() {
        let base = Duration::from_millis(1000);
        for _ in 0..100 {
            let j = jitter(base);
            assert!(j >= base && j <= base + base / 2, "{j:?}");
        }
    }
}
