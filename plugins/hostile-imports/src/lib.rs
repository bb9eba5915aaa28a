//! Fixture: calls the host's imports with arguments that make no sense —
//! positions of symbols that do not exist, an empty log line — and logs what
//! came back.
use sandbar_sdk::prelude::*;

/// State.
#[derive(Default)]
pub struct Imports {
    done: bool,
}

impl Strategy for Imports {
    fn describe() -> Description {
        Description::new("hostile-imports", env!("CARGO_PKG_VERSION"))
    }
    fn on_bar(&mut self, _bar: &Bar, ctx: &mut Ctx<'_>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        ctx.log(Level::Info, "");
        let p = (ctx.position(u32::MAX), ctx.position(12345));
        let a = ctx.portfolio();
        ctx.log(
            Level::Info,
            &format!(
                "observed positions {p:?}, cash {}, {} holdings",
                a.cash,
                a.positions.len()
            ),
        );
    }
}

sandbar_sdk::export_strategy!(Imports);
