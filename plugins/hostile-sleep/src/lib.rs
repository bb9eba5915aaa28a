//! Fixture: on its fourth bar, sleeps for a year, then polls a timer a day
//! away, then buys. Host calls cannot be interrupted by the CPU budget, so
//! the host must make timers due at once (virtual time): the run goes on at
//! once, and the plugin's clock shows no time passed.
use std::time::{Duration, Instant};

use sandbar_sdk::prelude::*;

/// State.
#[derive(Default)]
pub struct Sleep {
    bars: u64,
}

impl Strategy for Sleep {
    fn describe() -> Description {
        Description::new("hostile-sleep", env!("CARGO_PKG_VERSION"))
    }
    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        self.bars += 1;
        if self.bars == 4 {
            let before = Instant::now();
            std::thread::sleep(Duration::from_secs(365 * 86_400));
            let slept = before.elapsed();
            ctx.log(
                Level::Info,
                &format!("slept a year; the clock moved {} ms", slept.as_millis()),
            );
            ctx.buy(bar.symbol, 1.0).reason("after the sleep");
        }
    }
}

sandbar_sdk::export_strategy!(Sleep);
