//! Fixture: names symbols that are not in the feed.
use sandbar_sdk::prelude::*;

/// State.
#[derive(Default)]
pub struct Symbols {
    bars: u64,
}

impl Strategy for Symbols {
    fn describe() -> Description {
        Description::new("hostile-symbols", env!("CARGO_PKG_VERSION"))
    }
    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        self.bars += 1;
        if self.bars == 2 {
            ctx.buy(1, 1.0);
            ctx.buy(u32::MAX, 1.0);
            ctx.close(42);
            ctx.buy(bar.symbol, 1.0);
        }
    }
}

sandbar_sdk::export_strategy!(Symbols);
