//! Donchian channel breakout, long and short: go long when the close breaks
//! above the highest high of the previous `channel` bars, short when it
//! breaks below the lowest low; every entry carries a stop-loss `k` ATRs away.

use sandbar_sdk::prelude::*;

/// Strategy state.
#[derive(Default)]
pub struct Donchian {
    channel: usize,
    atr_n: usize,
    k: f64,
    weight: f64,
    upper: PerSymbol<Highest>,
    lower: PerSymbol<Lowest>,
    atr: PerSymbol<Atr>,
}

impl Strategy for Donchian {
    fn describe() -> Description {
        Description::new("donchian-breakout", env!("CARGO_PKG_VERSION"))
            .param(
                ParamSpec::integer("channel", 20)
                    .range(2.0, 1000.0)
                    .doc("channel length in bars"),
            )
            .param(
                ParamSpec::integer("atr", 14)
                    .range(1.0, 1000.0)
                    .doc("ATR period"),
            )
            .param(
                ParamSpec::float("stop_atr", 2.0)
                    .range(0.1, 20.0)
                    .doc("stop-loss distance in ATRs"),
            )
            .param(
                ParamSpec::float("weight", 0.2)
                    .range(0.0, 1.0)
                    .doc("fraction of equity per position"),
            )
    }

    fn init(&mut self, params: &Params, _symbols: &[String]) -> Result<(), InitError> {
        self.channel = params.count("channel")?;
        self.atr_n = params.count("atr")?;
        self.k = params.float("stop_atr")?;
        self.weight = params.float("weight")?;
        Ok(())
    }

    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        let (c, a) = (self.channel, self.atr_n);
        let s = bar.symbol;
        // The channel of the *previous* bars: read before adding this bar.
        let upper = self.upper.get_or(s, || Highest::new(c)).value();
        let lower = self.lower.get_or(s, || Lowest::new(c)).value();
        let atr = self
            .atr
            .get_or(s, || Atr::new(a))
            .update(bar.high, bar.low, bar.close);
        self.upper.get_or(s, || Highest::new(c)).update(bar.high);
        self.lower.get_or(s, || Lowest::new(c)).update(bar.low);
        let (Some(upper), Some(lower), Some(atr)) = (upper, lower, atr) else {
            return;
        };
        let held = ctx.position(s);
        if bar.close > upper && held <= 0.0 {
            ctx.target_weight(s, self.weight)
                .stop_loss_from_entry(self.k * atr)
                .reason(format!("close {:.2} broke above {upper:.2}", bar.close));
        } else if bar.close < lower && held >= 0.0 {
            ctx.target_weight(s, -self.weight)
                .stop_loss_from_entry(self.k * atr)
                .reason(format!("close {:.2} broke below {lower:.2}", bar.close));
        }
    }
}

sandbar_sdk::export_strategy!(Donchian);

#[cfg(test)]
mod tests {
    use super::*;
    use sandbar_sdk::testing::{Harness, bars_from_closes};

    #[test]
    fn breaks_out_both_ways_with_atr_stops() {
        let mut h = Harness::<Donchian>::new(&[
            ("channel", ParamValue::Integer(3)),
            ("atr", ParamValue::Integer(2)),
        ])
        .unwrap();
        let closes = [10., 10.2, 10.1, 10.3, 11.5, 11.6, 11.4, 10.0, 9.0, 8.5];
        h.run(&bars_from_closes(&closes));
        let intents: Vec<_> = h.intents().iter().map(|(_, i)| i.clone()).collect();
        // Stops two ATRs from wherever the entry fills.
        assert!(matches!(intents[0].action, Action::TargetWeight(w) if w > 0.0));
        assert!(matches!(intents[0].stop_loss, Some(Protect::FromEntry(d)) if d > 0.0));
        let short = intents
            .iter()
            .find(|i| matches!(i.action, Action::TargetWeight(w) if w < 0.0))
            .unwrap();
        assert!(matches!(short.stop_loss, Some(Protect::FromEntry(d)) if d > 0.0));
    }
}
