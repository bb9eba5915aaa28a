//! Fixture: logs 4 MiB per bar from its fourth bar on.
use sandbar_sdk::prelude::*;

/// State.
#[derive(Default)]
pub struct Logs {
    bars: u64,
}

impl Strategy for Logs {
    fn describe() -> Description {
        Description::new("hostile-logs", env!("CARGO_PKG_VERSION"))
    }
    fn on_bar(&mut self, _bar: &Bar, ctx: &mut Ctx<'_>) {
        self.bars += 1;
        if self.bars > 3 {
            let line = "x".repeat(64 << 10);
            for _ in 0..64 {
                ctx.log(Level::Info, &line);
            }
        }
    }
}

sandbar_sdk::export_strategy!(Logs);
