//! Fixture: allocates without bound on its fourth bar. The memory cap must stop it.
use sandbar_sdk::prelude::*;

/// State.
#[derive(Default)]
pub struct Alloc {
    bars: u64,
    hoard: Vec<Vec<u8>>,
}

impl Strategy for Alloc {
    fn describe() -> Description {
        Description::new("hostile-alloc", env!("CARGO_PKG_VERSION"))
    }
    fn on_bar(&mut self, _bar: &Bar, _ctx: &mut Ctx<'_>) {
        self.bars += 1;
        while self.bars > 3 {
            self.hoard.push(vec![1u8; 1 << 20]);
        }
    }
}

sandbar_sdk::export_strategy!(Alloc);
