"""The ``Strategy`` base class, and the runner that drives it exactly as the
Rust SDK's runner does — in a component and in the test harness alike.

Per call: the events since the last call go to ``on_event`` first, then
the bar(s) to ``on_bar``. In exact batching (contract 0.2.0 and later) the
runner pulls the next bar of the window only while the strategy has decided
nothing on the one it is on, so a decision always belongs to the last bar
the strategy saw.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Type

from .context import Ctx, HostServices
from .params import Description, Params
from .types import Bar, Event


class Strategy:
    """Subclass it, override the hooks you need, and call ``export(YourClass)``.

    The class is constructed once per run with no arguments; ``init``
    receives the parameters.
    """

    @classmethod
    def describe(cls) -> Description:
        """Name, version and parameters. Must not depend on ``init``."""
        raise NotImplementedError("a strategy must define describe()")

    def init(self, params: Params, symbols: List[str]) -> None:
        """Called once, before any bar. Raise ``InitError`` to refuse."""

    def on_bar(self, bar: Bar, ctx: Ctx) -> None:
        """One bar's close: decide."""

    def on_event(self, event: Event, ctx: Ctx) -> None:
        """A fill, rejection or cancellation since the last call."""

    def snapshot(self) -> bytes:
        """The state another version continues from (see ``sandbar.state``)."""
        return b""

    def restore(self, from_version: str, state: bytes) -> None:
        """Continue from ``snapshot`` bytes of version ``from_version``."""
        if state:
            raise ValueError(
                f"this strategy does not restore state (got {len(state)} bytes "
                f"from version {from_version})"
            )


class Runner:
    """Drives one strategy instance; shared by the component and the harness."""

    def __init__(self, cls: Type[Strategy]):
        self.cls = cls
        self.strategy = cls()
        self.symbols: List[str] = []
        self.ctx: Optional[Ctx] = None

    def init(self, params: Params, symbols: Sequence[str]) -> None:
        self.symbols = list(symbols)
        self.strategy.init(params, list(self.symbols))

    def _ctx(self, host: HostServices) -> Ctx:
        self.ctx = Ctx(self.symbols, host)
        return self.ctx

    def on_bars(self, bars: Sequence[Bar], events: Sequence[Event], host: HostServices) -> Ctx:
        ctx = self._ctx(host)
        for event in events:
            self.strategy.on_event(event, ctx)
        for i, bar in enumerate(bars):
            ctx.bar_index = i
            self.strategy.on_bar(bar, ctx)
        return ctx

    def on_window(
        self,
        first: Bar,
        events: Sequence[Event],
        host: HostServices,
        next_bar: Callable[[], Optional[Bar]],
    ) -> Ctx:
        ctx = self._ctx(host)
        for event in events:
            self.strategy.on_event(event, ctx)
        bar: Optional[Bar] = first
        while bar is not None:
            self.strategy.on_bar(bar, ctx)
            if ctx.intents or ctx.amends:
                break
            bar = next_bar()
        return ctx


_EXPORTED: List[Type[Strategy]] = []


def export(cls: Type[Strategy]) -> Type[Strategy]:
    """Make ``cls`` the strategy this module's component runs (usable as a
    decorator). One per component."""
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise TypeError("export() takes a subclass of sandbar.Strategy")
    if _EXPORTED and _EXPORTED[0] is not cls:
        raise ValueError(
            f"export() was called for {_EXPORTED[0].__name__} and {cls.__name__}: "
            "a component runs one strategy"
        )
    _EXPORTED[:] = [cls]
    return cls


def exported() -> Type[Strategy]:
    """The strategy ``export`` named."""
    if not _EXPORTED:
        raise LookupError(
            "no strategy was exported: end the module with `sandbar.export(YourStrategy)`"
        )
    return _EXPORTED[0]
