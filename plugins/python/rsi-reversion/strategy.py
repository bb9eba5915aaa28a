"""RSI mean reversion, long only — the Python twin of ``plugins/rsi-reversion``.

Buy when RSI crosses below ``entry`` while flat; sell when it crosses back
above ``exit`` while long. Same parameters, same journal as the Rust one.
"""

import math

import sandbar
from sandbar import Bar, Ctx, Description, InitError, ParamSpec, Params, Strategy
from sandbar.indicators import Rsi


def shown(x: float) -> str:
    """A number as Rust's `{}` prints it (30.0 → "30"), so reasons match."""
    return str(int(x)) if x.is_integer() else repr(x)


class RsiReversion(Strategy):
    @classmethod
    def describe(cls) -> Description:
        return (
            Description("rsi-reversion", "0.1.0")
            .param(ParamSpec.integer("period", 14).range(2, 500).with_doc("RSI period"))
            .param(ParamSpec.float("entry", 30.0).range(0, 100).with_doc("buy when RSI crosses below this"))
            .param(ParamSpec.float("exit", 50.0).range(0, 100).with_doc("sell when RSI crosses above this"))
            .param(ParamSpec.float("weight", 0.2).range(0, 1).with_doc("fraction of equity held when long"))
        )

    def init(self, params: Params, symbols) -> None:
        self.period = params.count("period")
        self.entry = params.float("entry")
        self.exit = params.float("exit")
        self.weight = params.float("weight")
        if self.entry >= self.exit:
            raise InitError("must be below exit", param="entry")
        self.rsi = {}
        self.prev = {}

    def on_bar(self, bar: Bar, ctx: Ctx) -> None:
        s = bar.symbol
        rsi = self.rsi.setdefault(s, Rsi(self.period)).update(bar.close)
        if rsi is None:
            return
        prev = self.prev.get(s, math.nan)
        self.prev[s] = rsi
        if math.isnan(prev):
            return
        held = ctx.position(s)
        if prev >= self.entry and rsi < self.entry and held == 0.0:
            ctx.target_weight(s, self.weight).reason(f"RSI {rsi:.1f} crossed below {shown(self.entry)}")
        elif prev <= self.exit and rsi > self.exit and held > 0.0:
            ctx.close(s).reason(f"RSI {rsi:.1f} crossed above {shown(self.exit)}")


sandbar.export(RsiReversion)
