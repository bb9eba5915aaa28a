"""The bridge between componentize-py's generated bindings and the SDK's
own types. ``sandbar build`` imports it from the component's entry module;
strategy authors never touch it.

Contract: ``sandbar:strategy/strategy@0.3.0`` — ``guest`` (0.1.0), ``exact``
(0.2.0) and ``managed`` (0.3.0). A host speaking 0.3.0 calls
``managed.on-window``; the older calls are served the same way and say in
the log when they had to drop a change to protection they cannot carry.

A Python exception escaping ``on_bar`` or ``on_event`` is what a panic is in
Rust: the strategy's state is no longer known to be whole, so the run
faults. The bridge logs ``panic: <exception and traceback>`` (the line the
host's fault message carries, cut to its error limit) and aborts, which
traps the component exactly as the Rust SDK's panic hook does. An
exception in ``init`` refuses the configuration; one in ``snapshot`` or
``restore`` is that call's error (a swap then rolls back).
"""

from __future__ import annotations

import os
import traceback
from typing import List, Optional

from componentize_py_types import Err  # type: ignore[import-not-found]
from wit_world import exports  # type: ignore[import-not-found]
from wit_world.exports import exact as wexact  # type: ignore[import-not-found]
from wit_world.exports import managed as wmanaged  # type: ignore[import-not-found]
from wit_world.imports import host as whost  # type: ignore[import-not-found]
from wit_world.imports import protection as wprot  # type: ignore[import-not-found]
from wit_world.imports import types as w  # type: ignore[import-not-found]
from wit_world.imports import window as wwindow  # type: ignore[import-not-found]

from . import context as c
from .params import Params
from .strategy import Runner, exported
from .types import (
    Bar,
    Cancelled,
    Distance,
    Fill,
    Fraction,
    Level,
    Portfolio,
    Position,
    Protection,
    Rejection,
    Side,
)

# The Rust SDK version this one follows (the host accepts 0.1.x), marked as Python.
SDK_VERSION = "0.1.0+python"

_LEVELS = {
    Level.TRACE: w.Level.TRACE,
    Level.DEBUG: w.Level.DEBUG,
    Level.INFO: w.Level.INFO,
    Level.WARN: w.Level.WARN,
    Level.ERROR: w.Level.ERROR,
}


class _Imports:
    """Host services backed by the host's imports."""

    def log(self, level: Level, message: str) -> None:
        whost.log(_LEVELS[level], message)

    def portfolio(self) -> Portfolio:
        p = whost.account()
        return Portfolio(
            p.cash,
            p.equity,
            [Position(x.symbol, x.quantity, x.average_price, x.unrealized_pnl) for x in p.positions],
        )

    def position(self, symbol: int) -> float:
        return whost.position(symbol)

    def protection(self, symbol: int) -> Protection:
        p = wprot.get(symbol)
        trail = None
        if isinstance(p.trail, wprot.Trail_Distance):
            trail = Distance(p.trail.value)
        elif isinstance(p.trail, wprot.Trail_Fraction):
            trail = Fraction(p.trail.value)
        return Protection(p.stop_loss, trail, p.take_profit)


_IMPORTS = _Imports()
_RUNNER: Optional[Runner] = None


def _runner() -> Runner:
    global _RUNNER
    if _RUNNER is None:
        _RUNNER = Runner(exported())
    return _RUNNER


def _described(e: BaseException) -> str:
    text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    return f"{type(e).__name__}: {e}\n{text}"


def _error(e: BaseException) -> Err:
    """A call's error the host hears as such (snapshot, restore)."""
    return Err(w.StrategyError(message=_described(e)))


def _panic(e: BaseException) -> None:
    """A hook raised: say what, then trap (never returns)."""
    whost.log(w.Level.ERROR, "panic: " + _described(e))
    os.abort()


def _bar(b: w.Bar) -> Bar:
    return Bar(b.symbol, b.time_ms, b.open, b.high, b.low, b.close, b.volume)


def _side_in(s: w.Side) -> Side:
    return Side.BUY if s == w.Side.BUY else Side.SELL


def _side_out(s: Side) -> w.Side:
    return w.Side.BUY if s == Side.BUY else w.Side.SELL


def _events(events: List[w.Event]) -> list:
    out: list = []
    for e in events:
        if isinstance(e, w.Event_Filled):
            f = e.value
            out.append(Fill(f.order_id, f.symbol, _side_in(f.side), f.quantity, f.price,
                            f.commission, f.time_ms, f.origin))
        elif isinstance(e, w.Event_Rejected):
            r = e.value
            out.append(Rejection(r.symbol, r.rule, r.detail, r.time_ms))
        elif isinstance(e, w.Event_Cancelled):
            out.append(Cancelled(e.value))
    return out


def _action(a: c.Action) -> w.Action:
    if isinstance(a, c.TargetWeight):
        return w.Action_TargetWeight(a.weight)
    if isinstance(a, c.TargetQuantity):
        return w.Action_TargetQuantity(a.quantity)
    if isinstance(a, c.Market):
        return w.Action_Market(w.MarketOrder(_side_out(a.side), a.quantity))
    if isinstance(a, c.Limit):
        return w.Action_Limit(w.LimitOrder(_side_out(a.side), a.quantity, a.price))
    return w.Action_Close()


def _intent(i: c.Intent, stop: Optional[float] = None, target: Optional[float] = None) -> w.Intent:
    return w.Intent(i.bar_index, i.symbol, _action(i.action), stop, target, i.reason)


def _level(l: Optional[c.Protect]) -> Optional[wexact.Level]:
    if l is None:
        return None
    if isinstance(l, c.FromEntry):
        return wexact.Level_FromEntry(l.value)
    return wexact.Level_Price(l.value)


def _decision(i: c.Intent) -> wexact.Decision:
    return wexact.Decision(_intent(i), _level(i.stop_loss), _level(i.take_profit))


def _direction(a: c.Action) -> float:
    if isinstance(a, c.TargetWeight):
        return (a.weight > 0) - (a.weight < 0) if a.weight == a.weight else float("nan")
    if isinstance(a, c.TargetQuantity):
        return (a.quantity > 0) - (a.quantity < 0) if a.quantity == a.quantity else float("nan")
    if isinstance(a, (c.Market, c.Limit)):
        return 1.0 if a.side == Side.BUY else -1.0
    return 0.0


def _priced(l: Optional[c.Protect], close: float, direction: float, stop: bool) -> Optional[float]:
    """Contract 0.1.0 carries prices only: a level from the entry is resolved
    at the deciding bar's close, as the Rust SDK does."""
    if l is None:
        return None
    if isinstance(l, c.FromEntry):
        return close - direction * l.value if stop else close + direction * l.value
    return l.value


def _trail(t) -> wprot.Trail:
    if isinstance(t, Distance):
        return wprot.Trail_Distance(t.value)
    return wprot.Trail_Fraction(t.value)


def _amendment(symbol: int, a: c.Amend) -> wmanaged.Amendment:
    if isinstance(a, c.StopLoss):
        change = wmanaged.Amend_StopLoss(_level(a.level))
    elif isinstance(a, c.TrailingStop):
        change = wmanaged.Amend_TrailingStop(_trail(a.trail))
    elif isinstance(a, c.CancelStopLoss):
        change = wmanaged.Amend_CancelStopLoss()
    elif isinstance(a, c.TakeProfit):
        change = wmanaged.Amend_TakeProfit(_level(a.level))
    else:
        change = wmanaged.Amend_CancelTakeProfit()
    return wmanaged.Amendment(symbol, change)


def _dropped(ctx: c.Ctx, call: str) -> None:
    if ctx.amends:
        whost.log(
            w.Level.WARN,
            f"{len(ctx.amends)} change(s) to protection dropped: this host called "
            f"contract {call}, which cannot carry them",
        )


def _param(v: w.ParamValue):
    return v.value


def _spec(p) -> w.ParamSpec:
    kinds = {"integer": (w.ParamType.INTEGER, w.ParamValue_Integer),
             "float": (w.ParamType.FLOAT, w.ParamValue_Float),
             "boolean": (w.ParamType.BOOLEAN, w.ParamValue_Boolean),
             "text": (w.ParamType.TEXT, w.ParamValue_Text)}
    kind, value = kinds[p.type]
    return w.ParamSpec(p.name, kind, value(p.default), p.min, p.max, p.doc)


def _next(more: bool):
    def pull() -> Optional[Bar]:
        if not more:
            return None
        b = wwindow.next_bar()
        return None if b is None else _bar(b)
    return pull


class Guest(exports.Guest):
    def describe(self) -> w.Description:
        d = exported().describe()
        delivery = w.Delivery.BATCHED if d.delivery == "batched" else w.Delivery.PER_BAR
        return w.Description(d.name, d.version, SDK_VERSION, [_spec(p) for p in d.params], delivery)

    def init(self, config: w.InitConfig) -> None:
        from .types import InitError
        try:
            params = Params({name: _param(v) for name, v in config.params})
            _runner().init(params, config.symbols)
        except InitError as e:
            raise Err(w.InitError(e.param, e.message))
        except Exception as e:  # noqa: BLE001 - any strategy bug is an init error with its traceback
            raise Err(w.InitError(None, _described(e)))

    def on_bar(self, bar: w.Bar, events: List[w.Event]) -> List[w.Intent]:
        return self.on_bars([bar], events)

    def on_bars(self, bars: List[w.Bar], events: List[w.Event]) -> List[w.Intent]:
        try:
            sdk_bars = [_bar(b) for b in bars]
            ctx = _runner().on_bars(sdk_bars, _events(events), _IMPORTS)
            out = []
            for i in ctx.intents:
                close = sdk_bars[i.bar_index].close if i.bar_index < len(sdk_bars) else float("nan")
                d = _direction(i.action)
                out.append(_intent(i, _priced(i.stop_loss, close, d, True),
                                   _priced(i.take_profit, close, d, False)))
            _dropped(ctx, "0.1.0's on-bar(s)")
            return out
        except Exception as e:  # noqa: BLE001
            _panic(e)
            raise

    def snapshot(self) -> bytes:
        try:
            return bytes(_runner().strategy.snapshot())
        except Exception as e:  # noqa: BLE001
            raise _error(e)

    def restore(self, from_version: str, state: bytes) -> None:
        try:
            _runner().strategy.restore(from_version, bytes(state))
        except Exception as e:  # noqa: BLE001
            raise _error(e)


class Exact(exports.Exact):
    def on_window(self, first: w.Bar, events: List[w.Event], more: bool) -> List[wexact.Decision]:
        try:
            ctx = _runner().on_window(_bar(first), _events(events), _IMPORTS, _next(more))
            _dropped(ctx, "0.2.0's on-window")
            return [_decision(i) for i in ctx.intents]
        except Exception as e:  # noqa: BLE001
            _panic(e)
            raise


class Managed(exports.Managed):
    def on_window(self, first: w.Bar, events: List[w.Event], more: bool) -> List[wmanaged.Change]:
        try:
            ctx = _runner().on_window(_bar(first), _events(events), _IMPORTS, _next(more))
            out: list = [wmanaged.Change_Decide(_decision(i)) for i in ctx.intents]
            out.extend(wmanaged.Change_Protect(_amendment(s, a)) for _, s, a in ctx.amends)
            return out
        except Exception as e:  # noqa: BLE001
            _panic(e)
            raise
