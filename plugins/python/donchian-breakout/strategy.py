"""Donchian channel breakout, long and short, with a stop from the entry —
the Python twin of ``plugins/donchian-breakout``.

Go long when the close breaks above the highest high of the previous
``channel`` bars, short when it breaks below the lowest low; the stop-loss
rests ``stop_atr`` ATRs from wherever the entry fills.
"""

import sandbar
from sandbar import Bar, Ctx, Description, ParamSpec, Params, Strategy
from sandbar.indicators import Atr, Highest, Lowest


class Donchian(Strategy):
    @classmethod
    def describe(cls) -> Description:
        return (
            Description("donchian-breakout", "0.1.0")
            .param(ParamSpec.integer("channel", 20).range(2, 1000).with_doc("channel length in bars"))
            .param(ParamSpec.integer("atr", 14).range(1, 1000).with_doc("ATR period"))
            .param(ParamSpec.float("stop_atr", 2.0).range(0.1, 20.0).with_doc("stop-loss distance in ATRs"))
            .param(ParamSpec.float("weight", 0.2).range(0, 1).with_doc("fraction of equity per position"))
        )

    def init(self, params: Params, symbols) -> None:
        self.channel = params.count("channel")
        self.atr_n = params.count("atr")
        self.k = params.float("stop_atr")
        self.weight = params.float("weight")
        self.upper = {}
        self.lower = {}
        self.atr = {}

    def on_bar(self, bar: Bar, ctx: Ctx) -> None:
        s = bar.symbol
        high = self.upper.setdefault(s, Highest(self.channel))
        low = self.lower.setdefault(s, Lowest(self.channel))
        # The channel of the *previous* bars: read before adding this bar.
        upper, lower = high.value(), low.value()
        atr = self.atr.setdefault(s, Atr(self.atr_n)).update(bar.high, bar.low, bar.close)
        high.update(bar.high)
        low.update(bar.low)
        if upper is None or lower is None or atr is None:
            return
        held = ctx.position(s)
        if bar.close > upper and held <= 0.0:
            ctx.target_weight(s, self.weight).stop_loss_from_entry(self.k * atr).reason(
                f"close {bar.close:.2f} broke above {upper:.2f}"
            )
        elif bar.close < lower and held >= 0.0:
            ctx.target_weight(s, -self.weight).stop_loss_from_entry(self.k * atr).reason(
                f"close {bar.close:.2f} broke below {lower:.2f}"
            )


sandbar.export(Donchian)
