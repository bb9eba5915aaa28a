"""SMA crossover, long only — the Python twin of ``plugins/sma-cross``.

Buy when the fast SMA crosses over the slow one, exit when it crosses back
under. It remembers which side it asked for instead of reading the host's
position, and a rejection puts the flag back, exactly as the Rust one does:
on the same data the two write the same journal, entry for entry.
"""

import sandbar
from sandbar import Bar, Ctx, Description, InitError, ParamSpec, Params, Rejection, Strategy
from sandbar.indicators import Cross, Crossing, Sma

STATE_VERSION = 1


class SmaCross(Strategy):
    @classmethod
    def describe(cls) -> Description:
        return (
            Description("sma-cross", "0.1.0")
            .param(ParamSpec.integer("fast", 10).range(1, 1000).with_doc("fast SMA period"))
            .param(ParamSpec.integer("slow", 30).range(2, 5000).with_doc("slow SMA period"))
            .param(ParamSpec.float("weight", 0.2).range(0, 1).with_doc("fraction of equity held when long"))
        )

    def init(self, params: Params, symbols) -> None:
        self.fast_n = params.count("fast")
        self.slow_n = params.count("slow")
        self.weight = params.float("weight")
        if self.fast_n >= self.slow_n:
            raise InitError(f"must be below slow ({self.fast_n} >= {self.slow_n})", param="fast")
        self.fast = {}
        self.slow = {}
        self.cross = {}
        self.long = {}

    def on_bar(self, bar: Bar, ctx: Ctx) -> None:
        s = bar.symbol
        fast = self.fast.setdefault(s, Sma(self.fast_n)).update(bar.close)
        slow = self.slow.setdefault(s, Sma(self.slow_n)).update(bar.close)
        if fast is None or slow is None:
            return
        long = self.long.get(s, False)
        crossing = self.cross.setdefault(s, Cross()).update(fast, slow)
        if crossing == Crossing.OVER and not long:
            self.long[s] = True
            ctx.target_weight(s, self.weight).reason("fast SMA crossed over slow")
        elif crossing == Crossing.UNDER and long:
            self.long[s] = False
            ctx.close(s).reason("fast SMA crossed under slow")

    def on_event(self, event, ctx: Ctx) -> None:
        # The one outstanding request for the symbol was refused: undo it.
        if isinstance(event, Rejection):
            self.long[event.symbol] = not self.long.get(event.symbol, False)

    def snapshot(self) -> bytes:
        return sandbar.state.encode(STATE_VERSION, self.__dict__)

    def restore(self, from_version: str, state: bytes) -> None:
        version, fields = sandbar.state.decode(state)
        if version != STATE_VERSION:
            raise ValueError(f"unknown state version {version}")
        self.__dict__.update(fields)


sandbar.export(SmaCross)
