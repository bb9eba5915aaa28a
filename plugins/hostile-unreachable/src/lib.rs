//! Fixture: executes the wasm `unreachable` instruction on its fourth bar.
use sandbar_sdk::prelude::*;

/// State.
#[derive(Default)]
pub struct Unreachable {
    bars: u64,
}

impl Strategy for Unreachable {
    fn describe() -> Description {
        Description::new("hostile-unreachable", env!("CARGO_PKG_VERSION"))
    }
    fn on_bar(&mut self, _bar: &Bar, _ctx: &mut Ctx<'_>) {
        self.bars += 1;
        if self.bars > 3 {
            #[cfg(target_family = "wasm")]
            core::arch::wasm32::unreachable();
        }
    }
}

sandbar_sdk::export_strategy!(Unreachable);
