//! Fixture: returns 5,000 intents on its fourth bar.
use sandbar_sdk::prelude::*;

/// State.
#[derive(Default)]
pub struct Flood {
    bars: u64,
}

impl Strategy for Flood {
    fn describe() -> Description {
        Description::new("hostile-flood", env!("CARGO_PKG_VERSION"))
    }
    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        self.bars += 1;
        if self.bars > 3 {
            for _ in 0..5000 {
                ctx.buy(bar.symbol, 1.0);
            }
        }
    }
}

sandbar_sdk::export_strategy!(Flood);
