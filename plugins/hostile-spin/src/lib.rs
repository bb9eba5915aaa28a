//! Fixture: from its fourth bar, loops — forever (the host's CPU budget
//! must stop it), or `work` iterations a bar (a busy but healthy strategy,
//! which the budget must let through however slowly the host runs).
use sandbar_sdk::prelude::*;

/// State.
#[derive(Default)]
pub struct Spin {
    bars: u64,
    work: u64,
}

impl Strategy for Spin {
    fn describe() -> Description {
        Description::new("hostile-spin", env!("CARGO_PKG_VERSION")).param(
            ParamSpec::integer("work", 0)
                .range(0.0, 1e12)
                .doc("iterations a bar from the fourth; 0: forever"),
        )
    }
    fn init(&mut self, params: &Params, _symbols: &[String]) -> Result<(), InitError> {
        self.work = params.int("work")? as u64;
        Ok(())
    }
    fn on_bar(&mut self, _bar: &Bar, _ctx: &mut Ctx<'_>) {
        self.bars += 1;
        if self.bars <= 3 {
            return;
        }
        let mut x = self.bars;
        let mut left = self.work;
        // `work` 0 never reaches 0 again: forever, the point of this fixture.
        loop {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            left = left.wrapping_sub(1);
            if left == 0 {
                break;
            }
        }
    }
}

sandbar_sdk::export_strategy!(Spin);
