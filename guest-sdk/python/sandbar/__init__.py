"""Sandbar's Python guest SDK: write a strategy in Python, compile it with
``sandbar build`` (componentize-py puts CPython and your module in one
WebAssembly component) and run it in the same sandbox, behind the same
host-owned risk engine, as a Rust strategy.

    import sandbar
    from sandbar import Bar, Ctx, Description, ParamSpec, Params, Strategy
    from sandbar.indicators import Sma

    class Momentum(Strategy):
        @classmethod
        def describe(cls):
            return Description("momentum", "0.1.0").param(ParamSpec.integer("n", 20).range(2, 500))

        def init(self, params: Params, symbols):
            self.sma = {}
            self.n = params.count("n")

        def on_bar(self, bar: Bar, ctx: Ctx):
            avg = self.sma.setdefault(bar.symbol, Sma(self.n)).update(bar.close)
            if avg is not None and bar.close > avg and ctx.position(bar.symbol) == 0:
                ctx.target_weight(bar.symbol, 0.5).reason("above its average")

    sandbar.export(Momentum)

The names, hooks and rules are the Rust SDK's (``docs/python.md``).
"""

from . import indicators, state, testing
from .context import Ctx, FromEntry, Intent, IntentBuilder, Price
from .params import Description, ParamSpec, Params
from .strategy import Runner, Strategy, export, exported
from .types import (
    Bar,
    Cancelled,
    Distance,
    Event,
    Fill,
    Fraction,
    InitError,
    Level,
    Portfolio,
    Position,
    Protection,
    Rejection,
    Side,
    SymbolId,
)

__all__ = [
    "Bar", "Cancelled", "Ctx", "Description", "Distance", "Event", "Fill", "Fraction",
    "FromEntry", "InitError", "Intent", "IntentBuilder", "Level", "ParamSpec", "Params",
    "Portfolio", "Position", "Price", "Protection", "Rejection", "Runner", "Side",
    "Strategy", "SymbolId", "export", "exported", "indicators", "state", "testing",
]
