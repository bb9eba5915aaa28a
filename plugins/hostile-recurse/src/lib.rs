//! Fixture: recurses without bound on its fourth bar.
use sandbar_sdk::prelude::*;

/// State.
#[derive(Default)]
pub struct Recurse {
    bars: u64,
}

#[allow(unconditional_recursion)] // the point of this fixture
fn deeper(n: u64, pad: [u64; 16]) -> u64 {
    let mut local = pad;
    local[(n % 16) as usize] = n;
    std::hint::black_box(deeper(std::hint::black_box(n + 1), local)) + local[0]
}

impl Strategy for Recurse {
    fn describe() -> Description {
        Description::new("hostile-recurse", env!("CARGO_PKG_VERSION"))
    }
    fn on_bar(&mut self, _bar: &Bar, _ctx: &mut Ctx<'_>) {
        self.bars += 1;
        if self.bars > 3 {
            std::hint::black_box(deeper(0, [0; 16]));
        }
    }
}

sandbar_sdk::export_strategy!(Recurse);
