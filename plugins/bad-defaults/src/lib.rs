//! Fixture: its declared defaults contradict its own `init` (fast must be
//! below slow, but the defaults are fast 30, slow 10). `plugin add` and
//! `describe` must refuse it before anyone tries to run it as shipped.
use sandbar_sdk::prelude::*;

/// State.
#[derive(Default)]
pub struct BadDefaults;

impl Strategy for BadDefaults {
    fn describe() -> Description {
        Description::new("bad-defaults", env!("CARGO_PKG_VERSION"))
            .param(ParamSpec::integer("fast", 30).range(1.0, 100.0))
            .param(ParamSpec::integer("slow", 10).range(1.0, 100.0))
    }
    fn init(&mut self, p: &Params, _symbols: &[String]) -> Result<(), InitError> {
        if p.int("fast")? >= p.int("slow")? {
            return Err(InitError::param("fast", "must be below slow"));
        }
        Ok(())
    }
}

sandbar_sdk::export_strategy!(BadDefaults);
