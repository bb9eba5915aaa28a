"""Run a strategy natively, under ``pytest``, without the host.

``Harness`` drives the strategy through the SDK's own runner (the one the
component uses) and records what it decided: intents, changes to
protection, log lines. It does **not** yet simulate fills, the risk engine
or resting stops — the Rust SDK's harness does, sharing the host's rules;
the Python one will follow (issue 27). Until then ``position()`` answers
what ``positions`` says (flat unless a test sets it), and a strategy's
trading is checked end to end with ``sandbar replay`` on its component.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Type

from .context import Amend, Intent
from .params import Params
from .strategy import Runner, Strategy
from .types import Bar, Event, Level, Portfolio, Position, Protection

DAY_MS = 86_400_000


def bars_from_closes(closes: Iterable[float], symbol: int = 0, step_ms: int = DAY_MS) -> List[Bar]:
    """Daily bars (open = high = low = close) from closes, from 2024-01-01."""
    start = 1_704_067_200_000
    return [Bar(symbol, start + i * step_ms, c, c, c, c, 1.0) for i, c in enumerate(closes)]


class Harness:
    """One strategy instance with resolved parameters (declared defaults
    filled in, as the host does)."""

    def __init__(self, cls: Type[Strategy], params: Optional[Dict[str, object]] = None,
                 symbols: Sequence[str] = ("X",), cash: float = 100_000.0):
        values = {p.name: p.default for p in cls.describe().params}
        for name, value in (params or {}).items():
            if name not in values:
                raise KeyError(f"{cls.__name__} declares no parameter {name!r}")
            values[name] = value
        self.runner = Runner(cls)
        self.runner.init(Params(values), list(symbols))
        self.cash = cash
        self.positions: Dict[int, float] = {}
        self.protections: Dict[int, Protection] = {}
        self.intents: List[Tuple[Bar, Intent]] = []
        self.amends: List[Tuple[Bar, int, Amend]] = []
        self.logs: List[Tuple[Level, str]] = []

    # HostServices, answered from what the test set.
    def log(self, level: Level, message: str) -> None:
        self.logs.append((level, message))

    def portfolio(self) -> Portfolio:
        held = [Position(s, q, 0.0, 0.0) for s, q in self.positions.items() if q != 0.0]
        return Portfolio(self.cash, self.cash, held)

    def position(self, symbol: int) -> float:
        return self.positions.get(symbol, 0.0)

    def protection(self, symbol: int) -> Protection:
        return self.protections.get(symbol, Protection())

    def run(self, bars: Iterable[Bar], events: Sequence[Event] = ()) -> "Harness":
        """Deliver bars one per call, as the host's per-bar delivery does;
        ``events`` go with the first."""
        pending = list(events)
        for bar in bars:
            ctx = self.runner.on_bars([bar], pending, self)
            pending = []
            self.intents.extend((bar, i) for i in ctx.intents)
            self.amends.extend((bar, s, a) for _, s, a in ctx.amends)
        return self

    def snapshot(self) -> bytes:
        return self.runner.strategy.snapshot()

    def restore(self, from_version: str, state: bytes) -> None:
        self.runner.strategy.restore(from_version, state)
