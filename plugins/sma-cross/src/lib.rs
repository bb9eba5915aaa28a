//! SMA crossover, long only: buy when the fast SMA crosses over the slow
//! one, exit when it crosses back under.
//!
//! It remembers which side it asked for instead of reading the host's
//! position, so it behaves the same in per-bar and batched delivery (where
//! the position it could read is up to a batch old); a rejection puts the
//! flag back.

use sandbar_sdk::prelude::*;
use sandbar_sdk::state;
use serde::{Deserialize, Serialize};

/// Strategy state; all of it crosses a hot-swap.
#[derive(Default, Serialize, Deserialize)]
pub struct SmaCross {
    fast_n: usize,
    slow_n: usize,
    weight: f64,
    fast: PerSymbol<Sma>,
    slow: PerSymbol<Sma>,
    cross: PerSymbol<Cross>,
    long: PerSymbol<bool>,
}

const STATE_VERSION: u32 = 1;

impl Strategy for SmaCross {
    fn describe() -> Description {
        Description::new("sma-cross", env!("CARGO_PKG_VERSION"))
            .param(
                ParamSpec::integer("fast", 10)
                    .range(1.0, 1000.0)
                    .doc("fast SMA period"),
            )
            .param(
                ParamSpec::integer("slow", 30)
                    .range(2.0, 5000.0)
                    .doc("slow SMA period"),
            )
            .param(
                ParamSpec::float("weight", 0.2)
                    .range(0.0, 1.0)
                    .doc("fraction of equity held when long"),
            )
    }

    fn init(&mut self, params: &Params, _symbols: &[String]) -> Result<(), InitError> {
        self.fast_n = params.count("fast")?;
        self.slow_n = params.count("slow")?;
        self.weight = params.float("weight")?;
        if self.fast_n >= self.slow_n {
            return Err(InitError::param(
                "fast",
                format!("must be below slow ({} >= {})", self.fast_n, self.slow_n),
            ));
        }
        Ok(())
    }

    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        let (f, s) = (self.fast_n, self.slow_n);
        let fast = self
            .fast
            .get_or(bar.symbol, || Sma::new(f))
            .update(bar.close);
        let slow = self
            .slow
            .get_or(bar.symbol, || Sma::new(s))
            .update(bar.close);
        let (Some(fast), Some(slow)) = (fast, slow) else {
            return;
        };
        let long = self.long.get_or(bar.symbol, || false);
        match self
            .cross
            .get_or(bar.symbol, Cross::default)
            .update(fast, slow)
        {
            Some(Crossing::Over) if !*long => {
                *long = true;
                ctx.target_weight(bar.symbol, self.weight)
                    .reason("fast SMA crossed over slow");
            }
            Some(Crossing::Under) if *long => {
                *long = false;
                ctx.close(bar.symbol).reason("fast SMA crossed under slow");
            }
            _ => {}
        }
    }

    fn on_event(&mut self, event: &Event, _ctx: &mut Ctx<'_>) {
        // The one outstanding request for the symbol was refused: undo it.
        if let Event::Rejected(r) = event {
            let long = self.long.get_or(r.symbol, || false);
            *long = !*long;
        }
    }

    fn snapshot(&self) -> Result<Vec<u8>, String> {
        state::encode(STATE_VERSION, self)
    }

    fn restore(&mut self, _from: &str, bytes: &[u8]) -> Result<(), String> {
        let (version, restored): (u32, SmaCross) = state::decode(bytes)?;
        if version != STATE_VERSION {
            return Err(format!("unknown state version {version}"));
        }
        *self = restored;
        Ok(())
    }
}

sandbar_sdk::export_strategy!(SmaCross);

#[cfg(test)]
mod tests {
    use super::*;
    use sandbar_sdk::testing::{Harness, bars_from_closes};

    fn params() -> [(&'static str, ParamValue); 2] {
        [
            ("fast", ParamValue::Integer(2)),
            ("slow", ParamValue::Integer(4)),
        ]
    }

    #[test]
    fn enters_on_cross_up_and_exits_on_cross_down() {
        let mut h = Harness::<SmaCross>::new(&params()).unwrap();
        // falling, then rising (cross up), then falling (cross down)
        h.run(&bars_from_closes(&[
            10., 9., 8., 7., 6., 8., 10., 12., 10., 7., 5., 4.,
        ]));
        let actions: Vec<_> = h.intents().iter().map(|(_, i)| i.action).collect();
        assert_eq!(actions, vec![Action::TargetWeight(0.2), Action::Close]);
        assert_eq!(h.position(0), 0.0);
        assert_eq!(h.fills().len(), 2);
    }

    #[test]
    fn refuses_fast_not_below_slow() {
        let err = Harness::<SmaCross>::new(&[("fast", ParamValue::Integer(30))])
            .err()
            .unwrap();
        assert_eq!(err.param.as_deref(), Some("fast"));
    }

    #[test]
    fn snapshot_round_trips_mid_run() {
        let bars = bars_from_closes(&[10., 9., 8., 7., 6., 8., 10., 12., 10., 7., 5., 4.]);
        let mut whole = Harness::<SmaCross>::new(&params()).unwrap();
        whole.run(&bars);
        let mut first = Harness::<SmaCross>::new(&params()).unwrap();
        first.run(&bars[..6]);
        let mut second = Harness::<SmaCross>::new(&params()).unwrap();
        second.restore("0.1.0", &first.snapshot().unwrap()).unwrap();
        assert_eq!(second.snapshot().unwrap(), first.snapshot().unwrap());
    }
}
