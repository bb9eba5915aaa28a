//! Fixture: panics on its fourth bar.
use sandbar_sdk::prelude::*;

/// State.
#[derive(Default)]
pub struct Panic {
    bars: u64,
}

impl Strategy for Panic {
    fn describe() -> Description {
        Description::new("hostile-panic", env!("CARGO_PKG_VERSION"))
    }
    fn on_bar(&mut self, bar: &Bar, _ctx: &mut Ctx<'_>) {
        self.bars += 1;
        if self.bars > 3 {
            panic!("strategy bug at close {}", bar.close);
        }
    }
}

sandbar_sdk::export_strategy!(Panic);
