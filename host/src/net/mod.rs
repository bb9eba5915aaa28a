//! The network toolkit every adapter and channel shares: how long to wait
//! before knocking again ([`backoff`]). A venue, a feed, an update stream or
//! an alert channel that retries uses it, so one rule decides how fast the
//! host knocks again.
pub mod backoff;

pub use backoff::Backoff;
