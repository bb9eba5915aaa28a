//! Fixture for hot-swap tests, version 1: counts bars and buys one unit every
//! tenth bar, saying its count in the reason. Its state is the count.
use sandbar_sdk::prelude::*;
use sandbar_sdk::state;

/// State.
#[derive(Default)]
pub struct CounterV1 {
    count: u64,
}

impl Strategy for CounterV1 {
    fn describe() -> Description {
        Description::new("counter", env!("CARGO_PKG_VERSION"))
    }
    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        self.count += 1;
        if self.count.is_multiple_of(10) {
            ctx.buy(bar.symbol, 1.0)
                .reason(format!("v1 count {}", self.count));
        }
    }
    fn snapshot(&self) -> Result<Vec<u8>, String> {
        state::encode(1, &self.count)
    }
    fn restore(&mut self, _from: &str, bytes: &[u8]) -> Result<(), String> {
        self.count = state::decode::<u64>(bytes)?.1;
        Ok(())
    }
}

sandbar_sdk::export_strategy!(CounterV1);
