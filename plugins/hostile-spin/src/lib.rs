//! Fixture: loops forever on its fourth bar. The host's CPU budget must stop it.
use sandbar_sdk::prelude::*;

/// State.
#[derive(Default)]
pub struct Spin {
    bars: u64,
}

impl Strategy for Spin {
    fn describe() -> Description {
        Description::new("hostile-spin", env!("CARGO_PKG_VERSION"))
    }
    fn on_bar(&mut self, _bar: &Bar, _ctx: &mut Ctx<'_>) {
        self.bars += 1;
        let mut x = self.bars;
        #[allow(clippy::while_immutable_condition)] // the point of this fixture
        while self.bars > 3 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

sandbar_sdk::export_strategy!(Spin);
