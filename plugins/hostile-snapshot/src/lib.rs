//! Fixture: returns a 32 MiB snapshot.
use sandbar_sdk::prelude::*;

/// State.
#[derive(Default)]
pub struct Snapshot;

impl Strategy for Snapshot {
    fn describe() -> Description {
        Description::new("hostile-snapshot", env!("CARGO_PKG_VERSION"))
    }
    fn snapshot(&self) -> Result<Vec<u8>, String> {
        Ok(vec![7u8; 32 << 20])
    }
}

sandbar_sdk::export_strategy!(Snapshot);
