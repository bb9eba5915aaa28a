//! RSI mean reversion, long only: buy when RSI(14) crosses below 30, exit
//! when it crosses above 50.

use sandbar_sdk::prelude::*;

/// Strategy state.
#[derive(Default)]
pub struct RsiReversion {
    period: usize,
    entry: f64,
    exit: f64,
    weight: f64,
    rsi: PerSymbol<Rsi>,
    prev: PerSymbol<f64>,
}

impl Strategy for RsiReversion {
    fn describe() -> Description {
        Description::new("rsi-reversion", env!("CARGO_PKG_VERSION"))
            .param(
                ParamSpec::integer("period", 14)
                    .range(2.0, 500.0)
                    .doc("RSI period"),
            )
            .param(
                ParamSpec::float("entry", 30.0)
                    .range(0.0, 100.0)
                    .doc("buy when RSI crosses below this"),
            )
            .param(
                ParamSpec::float("exit", 50.0)
                    .range(0.0, 100.0)
                    .doc("sell when RSI crosses above this"),
            )
            .param(
                ParamSpec::float("weight", 0.2)
                    .range(0.0, 1.0)
                    .doc("fraction of equity held when long"),
            )
    }

    fn init(&mut self, params: &Params, _symbols: &[String]) -> Result<(), InitError> {
        self.period = params.count("period")?;
        self.entry = params.float("entry")?;
        self.exit = params.float("exit")?;
        self.weight = params.float("weight")?;
        if self.entry >= self.exit {
            return Err(InitError::param("entry", "must be below exit"));
        }
        Ok(())
    }

    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        let n = self.period;
        let Some(rsi) = self
            .rsi
            .get_or(bar.symbol, || Rsi::new(n))
            .update(bar.close)
        else {
            return;
        };
        let prev = std::mem::replace(self.prev.get_or(bar.symbol, || f64::NAN), rsi);
        if prev.is_nan() {
            return;
        }
        let held = ctx.position(bar.symbol);
        if prev >= self.entry && rsi < self.entry && held == 0.0 {
            ctx.target_weight(bar.symbol, self.weight)
                .reason(format!("RSI {rsi:.1} crossed below {}", self.entry));
        } else if prev <= self.exit && rsi > self.exit && held > 0.0 {
            ctx.close(bar.symbol)
                .reason(format!("RSI {rsi:.1} crossed above {}", self.exit));
        }
    }
}

sandbar_sdk::export_strategy!(RsiReversion);

#[cfg(test)]
mod tests {
    use super::*;
    use sandbar_sdk::testing::{Harness, bars_from_closes};

    #[test]
    fn buys_the_dip_and_exits_on_recovery() {
        let mut h = Harness::<RsiReversion>::new(&[("period", ParamValue::Integer(3))]).unwrap();
        let closes = [
            10., 10.5, 11., 11.5, 12., 10., 8., 7., 7.5, 9., 11., 13., 14.,
        ];
        h.run(&bars_from_closes(&closes));
        let actions: Vec<_> = h.intents().iter().map(|(_, i)| i.action).collect();
        assert_eq!(actions, vec![Action::TargetWeight(0.2), Action::Close]);
    }
}
