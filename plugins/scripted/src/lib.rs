//! A test fixture: emits exactly the intents its `script` parameter lists,
//! so end-to-end tests can build a scenario for each risk rule and fill rule.
//!
//! Script: entries separated by `;`, each `BAR ACTION SYMBOL [ARGS] [sl=P] [tp=P]`,
//! where BAR counts deliveries from 0 and ACTION is one of `weight W`,
//! `qty Q`, `buy Q`, `sell Q`, `limit-buy Q P`, `limit-sell Q P`, `close`;
//! `sle=D` / `tpe=D` give the stop-loss / take-profit as a distance from the
//! entry instead of a price. Changes to protection alone (contract 0.3.0):
//! `trail D` (a trailing stop D behind), `trail-pct F` (F of the best
//! price), `stop P`, `stop-e D`, `target P`, `target-e D`, `cancel-stop`,
//! `cancel-target`.
//! With `show_protection`, every bar logs what protects symbol 0
//! (`protection stop=… trail=… target=…`), as the strategy reads it.
//! Every event it hears is logged at info level (`event …`), so tests can
//! check what the strategy was told.
//!
//! With `show_math`, every bar logs the bits of the C library's
//! floating-point functions (`ln`, `exp`, `powf`, `sin`, …) of numbers made
//! from the bar (`math bar … ln=<hex> …`), so a test can hold the Python
//! twin's `math` module to Rust's `f64` methods bit for bit.
//!
//! `equity_step` (0 = off) makes it a strategy that reads its account on
//! every bar: flat, it goes long symbol 0 at weight 0.1; long, it closes as
//! soon as its equity moves into another multiple of the step; each reason
//! says the exact equity, unrealised PnL and cash it read. Two deliveries
//! that give it different views make different journals.

use sandbar_sdk::prelude::*;
use sandbar_sdk::protection::Amend;

#[derive(Debug, Clone)]
struct Step {
    bar: u64,
    symbol: SymbolId,
    action: Option<Action>,
    amend: Option<Amend>,
    sl: Option<Protect>,
    tp: Option<Protect>,
}

/// Strategy state.
#[derive(Default)]
pub struct Scripted {
    steps: Vec<Step>,
    bar: u64,
    equity_step: f64,
    level: Option<f64>,
    asked: bool,
    show_protection: bool,
    show_math: bool,
}

/// `name=<bits in hex>` of each function the C library computes, on
/// numbers made from `bar` (a price, a ratio near 1, a small difference).
fn math_line(bar: &Bar) -> String {
    let (c, r) = (bar.close, bar.close / bar.open);
    let d = r - 1.0;
    let values = [
        ("ln", c.ln()),
        ("ln_r", r.ln()),
        ("log10", c.log10()),
        ("log2", c.log2()),
        ("exp", d.exp()),
        ("exp_neg", (-c / bar.high).exp()),
        ("pow", c.powf(r)),
        ("pow_half", r.powf(0.5)),
        ("sqrt", c.sqrt()),
        ("ln_1p", d.ln_1p()),
        ("exp_m1", d.exp_m1()),
        ("sin", c.sin()),
        ("cos", c.cos()),
        ("tan", r.tan()),
        ("atan", r.atan()),
        ("atan2", (bar.high - bar.low).atan2(c)),
        ("tanh", d.tanh()),
        ("cbrt", c.cbrt()),
        ("hypot", bar.high.hypot(bar.low)),
    ];
    values
        .iter()
        .map(|(name, v)| format!("{name}={:016x}", v.to_bits()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse(script: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for entry in script.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let words: Vec<&str> = entry.split_whitespace().collect();
        let num = |i: usize| -> Result<f64, String> {
            words
                .get(i)
                .ok_or(format!("`{entry}`: missing argument {i}"))?
                .parse::<f64>()
                .map_err(|e| format!("`{entry}`: {e}"))
        };
        let bar = num(0)? as u64;
        let symbol = num(2)? as SymbolId;
        let verb = *words.get(1).ok_or(format!("`{entry}`: missing action"))?;
        let amend = match verb {
            "trail" => Some(Amend::TrailingStop(Trail::Distance(num(3)?))),
            "trail-pct" => Some(Amend::TrailingStop(Trail::Fraction(num(3)?))),
            "stop" => Some(Amend::StopLoss(Protect::Price(num(3)?))),
            "stop-e" => Some(Amend::StopLoss(Protect::FromEntry(num(3)?))),
            "target" => Some(Amend::TakeProfit(Protect::Price(num(3)?))),
            "target-e" => Some(Amend::TakeProfit(Protect::FromEntry(num(3)?))),
            "cancel-stop" => Some(Amend::CancelStopLoss),
            "cancel-target" => Some(Amend::CancelTakeProfit),
            _ => None,
        };
        if let Some(amend) = amend {
            steps.push(Step {
                bar,
                symbol,
                action: None,
                amend: Some(amend),
                sl: None,
                tp: None,
            });
            continue;
        }
        let (action, used) = match verb {
            "weight" => (Action::TargetWeight(num(3)?), 4),
            "qty" => (Action::TargetQuantity(num(3)?), 4),
            "buy" => (
                Action::Market {
                    side: Side::Buy,
                    quantity: num(3)?,
                },
                4,
            ),
            "sell" => (
                Action::Market {
                    side: Side::Sell,
                    quantity: num(3)?,
                },
                4,
            ),
            "limit-buy" => (
                Action::Limit {
                    side: Side::Buy,
                    quantity: num(3)?,
                    price: num(4)?,
                },
                5,
            ),
            "limit-sell" => (
                Action::Limit {
                    side: Side::Sell,
                    quantity: num(3)?,
                    price: num(4)?,
                },
                5,
            ),
            "close" => (Action::Close, 3),
            other => return Err(format!("`{entry}`: unknown action `{other}`")),
        };
        let mut step = Step {
            bar,
            symbol,
            action: Some(action),
            amend: None,
            sl: None,
            tp: None,
        };
        for w in &words[used..] {
            match w.split_once('=') {
                Some((key @ ("sl" | "tp" | "sle" | "tpe"), p)) => {
                    let v: f64 = p.parse().map_err(|e| format!("`{entry}`: {key}: {e}"))?;
                    let level = if key.ends_with('e') {
                        Protect::FromEntry(v)
                    } else {
                        Protect::Price(v)
                    };
                    if key.starts_with("sl") {
                        step.sl = Some(level);
                    } else {
                        step.tp = Some(level);
                    }
                }
                _ => return Err(format!("`{entry}`: unexpected `{w}`")),
            }
        }
        steps.push(step);
    }
    Ok(steps)
}

impl Strategy for Scripted {
    fn describe() -> Description {
        Description::new("scripted", env!("CARGO_PKG_VERSION"))
            .param(ParamSpec::text("script", "").doc("intents to emit, see the crate docs"))
            .param(
                ParamSpec::float("equity_step", 0.0).range(0.0, 1e12).doc(
                    "trade on every move of the equity into another multiple of this (0: off)",
                ),
            )
            .param(
                ParamSpec::boolean("show_protection", false)
                    .doc("log what protects symbol 0 on every bar"),
            )
            .param(
                ParamSpec::boolean("show_math", false)
                    .doc("log the bits of the C library's math functions on every bar"),
            )
    }

    fn init(&mut self, params: &Params, _symbols: &[String]) -> Result<(), InitError> {
        self.steps = parse(params.text("script")?).map_err(|e| InitError::param("script", e))?;
        self.equity_step = params.float("equity_step")?;
        self.show_protection = params.boolean("show_protection")?;
        self.show_math = params.boolean("show_math")?;
        Ok(())
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Ctx<'_>) {
        let text = match event {
            Event::Filled(f) => format!(
                "event fill {} {:?} {} @ {} ({})",
                f.order_id, f.side, f.quantity, f.price, f.origin
            ),
            Event::Rejected(r) => format!("event rejected {}: {}", r.rule, r.detail),
            Event::Cancelled(id) => format!("event cancelled {id}"),
        };
        ctx.log(Level::Info, &text);
    }

    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        let now = self.bar;
        self.bar += 1;
        if self.show_math {
            ctx.log(Level::Info, &format!("math bar {now} {}", math_line(bar)));
        }
        if self.show_protection {
            let p = ctx.protection(0);
            ctx.log(
                Level::Info,
                &format!(
                    "protection bar {now} stop={:?} trail={:?} target={:?}",
                    p.stop_loss, p.trail, p.take_profit
                ),
            );
        }
        if self.equity_step > 0.0 {
            let p = ctx.portfolio();
            let level = (p.equity / self.equity_step).floor();
            let upnl: f64 = p.positions.iter().map(|p| p.unrealized_pnl).sum();
            let reason = format!(
                "equity {:?} (level {level}) unrealised {upnl:?} cash {:?}",
                p.equity, p.cash
            );
            if ctx.position(0) == 0.0 {
                if !self.asked {
                    self.asked = true;
                    ctx.target_weight(0, 0.1).reason(reason);
                }
            } else {
                self.asked = false;
                if self.level.is_some_and(|l| l != level) {
                    ctx.close(0).reason(reason);
                }
            }
            self.level = Some(level);
        }
        for s in self.steps.iter().filter(|s| s.bar == now) {
            let action = match (s.action, s.amend) {
                (_, Some(Amend::TrailingStop(t))) => {
                    ctx.trail_stop(s.symbol, t);
                    continue;
                }
                (_, Some(Amend::StopLoss(Protect::Price(p)))) => {
                    ctx.move_stop(s.symbol, p);
                    continue;
                }
                (_, Some(Amend::StopLoss(Protect::FromEntry(d)))) => {
                    ctx.move_stop_from_entry(s.symbol, d);
                    continue;
                }
                (_, Some(Amend::TakeProfit(Protect::Price(p)))) => {
                    ctx.move_take_profit(s.symbol, p);
                    continue;
                }
                (_, Some(Amend::TakeProfit(Protect::FromEntry(d)))) => {
                    ctx.move_take_profit_from_entry(s.symbol, d);
                    continue;
                }
                (_, Some(Amend::CancelStopLoss)) => {
                    ctx.cancel_stop(s.symbol);
                    continue;
                }
                (_, Some(Amend::CancelTakeProfit)) => {
                    ctx.cancel_take_profit(s.symbol);
                    continue;
                }
                (Some(a), None) => a,
                (None, None) => continue,
            };
            let mut b = match action {
                Action::TargetWeight(w) => ctx.target_weight(s.symbol, w),
                Action::TargetQuantity(q) => ctx.target_quantity(s.symbol, q),
                Action::Market {
                    side: Side::Buy,
                    quantity,
                } => ctx.buy(s.symbol, quantity),
                Action::Market {
                    side: Side::Sell,
                    quantity,
                } => ctx.sell(s.symbol, quantity),
                Action::Limit {
                    side: Side::Buy,
                    quantity,
                    price,
                } => ctx.buy_limit(s.symbol, quantity, price),
                Action::Limit {
                    side: Side::Sell,
                    quantity,
                    price,
                } => ctx.sell_limit(s.symbol, quantity, price),
                Action::Close => ctx.close(s.symbol),
            };
            b = match s.sl {
                Some(Protect::Price(p)) => b.stop_loss(p),
                Some(Protect::FromEntry(d)) => b.stop_loss_from_entry(d),
                None => b,
            };
            b = match s.tp {
                Some(Protect::Price(p)) => b.take_profit(p),
                Some(Protect::FromEntry(d)) => b.take_profit_from_entry(d),
                None => b,
            };
            b.reason(format!("script step at bar {now}"));
        }
    }
}

sandbar_sdk::export_strategy!(Scripted);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_action_and_refuses_garbage() {
        let s = parse("0 buy 0 5 sl=9 tp=12; 2 limit-sell 1 3 101.5; 3 close 0; 4 weight 0 -0.5")
            .unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].sl, Some(Protect::Price(9.0)));
        let e = parse("1 weight 0 0.5 sle=2.5 tpe=4").unwrap();
        assert_eq!(
            (e[0].sl, e[0].tp),
            (Some(Protect::FromEntry(2.5)), Some(Protect::FromEntry(4.0)))
        );
        assert!(
            matches!(s[1].action, Some(Action::Limit { side: Side::Sell, price, .. }) if price == 101.5)
        );
        let a = parse("3 trail 0 2.5; 4 cancel-target 0; 5 stop-e 0 1").unwrap();
        assert_eq!(a[0].amend, Some(Amend::TrailingStop(Trail::Distance(2.5))));
        assert_eq!(a[1].amend, Some(Amend::CancelTakeProfit));
        assert_eq!(a[2].amend, Some(Amend::StopLoss(Protect::FromEntry(1.0))));
        assert!(parse("0 jump 0").unwrap_err().contains("unknown action"));
        assert!(parse("x buy 0 1").is_err());
    }
}
