//! Fixture: asks for NaN, infinite, negative and absurd sizes and prices on
//! its second bar, then one sane order. Each bad intent is refused alone.
use sandbar_sdk::prelude::*;

/// State.
#[derive(Default)]
pub struct Numbers {
    bars: u64,
}

impl Strategy for Numbers {
    fn describe() -> Description {
        Description::new("hostile-numbers", env!("CARGO_PKG_VERSION"))
    }
    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        self.bars += 1;
        if self.bars != 2 {
            return;
        }
        let s = bar.symbol;
        ctx.buy(s, f64::NAN);
        ctx.buy(s, f64::INFINITY);
        ctx.buy(s, -3.0);
        ctx.buy(s, 1e300);
        ctx.target_weight(s, f64::NAN);
        ctx.target_weight(s, 1e12);
        ctx.target_quantity(s, f64::NEG_INFINITY);
        ctx.buy_limit(s, 1.0, f64::NAN);
        ctx.buy_limit(s, 1.0, -5.0);
        ctx.buy(s, 1.0).stop_loss(f64::INFINITY);
        ctx.buy(s, 1.0).take_profit(0.0);
        ctx.buy(s, 1.0).reason("the one sane order");
    }
}

sandbar_sdk::export_strategy!(Numbers);
