//! Fixture for hot-swap tests, version 2: continues version 1's count from
//! its snapshot and names the version it was restored from. Parameters make
//! it misbehave on purpose: `reject_restore` refuses the state, `trap_after`
//! panics that many bars after a restore, `panic_on_close` panics on any bar
//! closing exactly there (a bad print the strategy cannot digest).
use sandbar_sdk::prelude::*;
use sandbar_sdk::state;

/// State.
#[derive(Default)]
pub struct CounterV2 {
    count: u64,
    from: String,
    since_restore: u64,
    reject_restore: bool,
    trap_after: u64,
    panic_on_close: f64,
}

impl Strategy for CounterV2 {
    fn describe() -> Description {
        Description::new("counter", env!("CARGO_PKG_VERSION"))
            .param(ParamSpec::boolean("reject_restore", false).doc("refuse any state"))
            .param(
                ParamSpec::integer("trap_after", 0)
                    .range(0.0, 1e9)
                    .doc("panic this many bars after a restore (0: never)"),
            )
            .param(
                ParamSpec::float("panic_on_close", 0.0)
                    .range(0.0, 1e12)
                    .doc("panic on a bar closing exactly here (0: never)"),
            )
    }
    fn init(&mut self, params: &Params, _symbols: &[String]) -> Result<(), InitError> {
        self.reject_restore = params.boolean("reject_restore")?;
        self.trap_after = params.int("trap_after")? as u64;
        self.panic_on_close = params.float("panic_on_close")?;
        Ok(())
    }
    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        if self.panic_on_close > 0.0 && bar.close == self.panic_on_close {
            panic!("v2 cannot digest a close of {}", bar.close);
        }
        self.count += 1;
        self.since_restore += 1;
        if self.trap_after > 0 && !self.from.is_empty() && self.since_restore == self.trap_after {
            panic!("v2 gives up {} bars after the swap", self.trap_after);
        }
        if self.count.is_multiple_of(10) {
            ctx.buy(bar.symbol, 1.0).reason(format!(
                "v2 count {} (restored from {})",
                self.count, self.from
            ));
        }
    }
    fn snapshot(&self) -> Result<Vec<u8>, String> {
        state::encode(1, &self.count)
    }
    fn restore(&mut self, from: &str, bytes: &[u8]) -> Result<(), String> {
        if self.reject_restore {
            return Err(format!("v2 cannot read state from {from}"));
        }
        let (version, count) = state::decode::<u64>(bytes)?;
        if version != 1 {
            return Err(format!("unknown state version {version}"));
        }
        self.count = count;
        self.from = from.to_string();
        self.since_restore = 0;
        Ok(())
    }
}

sandbar_sdk::export_strategy!(CounterV2);
