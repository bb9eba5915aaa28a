"""Run a strategy natively, under ``pytest``, against the host's own rules.

``Harness`` runs your strategy in this Python process, through the runner
the component uses. Every intent it decides is executed by ``sandbar
harness``, a child process that runs the Rust SDK's harness. That harness
runs the host's own rules: sizing at the deciding bar's close, a later
intent superseding an unfilled one, market fills at the next open, limits,
stops and targets that follow the position, the risk engine's refusals and
trading states. The repository's parity tests hold it to the engine. So
there is one copy of the rules, and a Python strategy is tested on the
same ones as a Rust strategy (``tests/e2e/python_harness.rs`` checks both
harnesses give the same fills, refusals and states).

The ``sandbar`` program is ``$SANDBAR``, else ``sandbar`` on ``PATH``.

    h = Harness(MyStrategy, {"fast": 2, "slow": 4}).run(bars_from_closes([...]))
    assert h.position(0) == 0.0
    assert [f.price for f in h.fills] == [...]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Type

from . import context as c
from .context import Amend, Intent
from .params import Params
from .strategy import Runner, Strategy
from .types import (
    Bar, Cancelled, Distance, Event, Fill, Fraction, Level, Portfolio, Position, Protection,
    Rejection, Side,
)

DAY_MS = 86_400_000


def bars_from_closes(closes: Iterable[float], symbol: int = 0, step_ms: int = DAY_MS) -> List[Bar]:
    """Bars from closes, from time 0, one ``step_ms`` apart: open = the
    previous close (the first: its own), high and low the wider of the two,
    volume 1,000,000 (the Rust SDK's ``bars_from_closes``, bar for bar)."""
    out, prev = [], None
    for i, close in enumerate(closes):
        close = float(close)
        open_ = close if prev is None else prev
        out.append(Bar(symbol, i * step_ms, open_, max(open_, close), min(open_, close), close, 1_000_000.0))
        prev = close
    return out


def _program() -> str:
    found = os.environ.get("SANDBAR") or shutil.which("sandbar")
    if not found:
        raise FileNotFoundError(
            "the test harness runs `sandbar harness`: put sandbar on PATH or name it in $SANDBAR"
        )
    return found


def _trail(t) -> Optional[object]:
    if t is None:
        return None
    (kind, value), = t.items()
    return Distance(value) if kind == "distance" else Fraction(value)


def _protection(p: dict) -> Protection:
    return Protection(p.get("stop_loss"), _trail(p.get("trail")), p.get("take_profit"))


def _side(s: str) -> Side:
    return Side.BUY if s == "Buy" else Side.SELL


def _fill(f: dict) -> Fill:
    return Fill(f["order_id"], f["symbol"], _side(f["side"]), f["quantity"], f["price"],
                f["commission"], f["time_ms"], f["origin"])


def _rejection(r: dict) -> Rejection:
    return Rejection(r["symbol"], r["rule"], r["detail"], r["time_ms"])


def _event(e: dict) -> Event:
    if "filled" in e:
        return _fill(e["filled"])
    if "rejected" in e:
        return _rejection(e["rejected"])
    return Cancelled(e["cancelled"])


def _level(level) -> Optional[dict]:
    if level is None:
        return None
    kind = "from-entry" if isinstance(level, c.FromEntry) else "price"
    return {"kind": kind, "value": level.value}


def _action(a) -> dict:
    if isinstance(a, c.TargetWeight):
        return {"kind": "target-weight", "value": a.weight}
    if isinstance(a, c.TargetQuantity):
        return {"kind": "target-quantity", "value": a.quantity}
    if isinstance(a, c.Market):
        return {"kind": "market", "side": a.side.value, "quantity": a.quantity}
    if isinstance(a, c.Limit):
        return {"kind": "limit", "side": a.side.value, "quantity": a.quantity, "price": a.price}
    return {"kind": "close"}


def _amend(symbol: int, a: Amend) -> dict:
    if isinstance(a, (c.StopLoss, c.TakeProfit)):
        kind = "stop-loss" if isinstance(a, c.StopLoss) else "take-profit"
        return {"symbol": symbol, "kind": kind, "value": a.level.value,
                "from_entry": isinstance(a.level, c.FromEntry)}
    if isinstance(a, c.TrailingStop):
        kind = "trail-distance" if isinstance(a.trail, Distance) else "trail-fraction"
        return {"symbol": symbol, "kind": kind, "value": a.trail.value}
    if isinstance(a, c.CancelStopLoss):
        return {"symbol": symbol, "kind": "cancel-stop-loss"}
    return {"symbol": symbol, "kind": "cancel-take-profit"}


class _View:
    """What the strategy reads during one call: the harness's account as of it."""

    def __init__(self, harness: "Harness", call: dict):
        p = call["portfolio"]
        self.harness = harness
        self.held = Portfolio(p["cash"], p["equity"], [
            Position(x["symbol"], x["quantity"], x["average_price"], x["unrealized_pnl"])
            for x in p["positions"]
        ])
        self.resting = [_protection(x) for x in call["protection"]]

    def log(self, level: Level, message: str) -> None:
        self.harness.logs.append((level, message))

    def portfolio(self) -> Portfolio:
        return self.held

    def position(self, symbol: int) -> float:
        p = self.held.position(symbol)
        return p.quantity if p else 0.0

    def protection(self, symbol: int) -> Protection:
        return self.resting[symbol] if 0 <= symbol < len(self.resting) else Protection()


class Harness:
    """One strategy instance with resolved parameters (declared defaults
    filled in, as the host does), 100,000 in cash, every limit off unless
    ``risk`` names them (``{}``: the host's default ``[risk]``; keys and
    values as in the ``[risk]`` table), costs off unless ``costs`` names
    them (``slippage_bps``, ``commission_percent``, ``commission_per_unit``,
    ``commission_minimum``)."""

    def __init__(self, cls: Type[Strategy], params: Optional[Dict[str, object]] = None,
                 symbols: Sequence[str] = ("S0",), risk: Optional[dict] = None,
                 costs: Optional[dict] = None):
        values = {p.name: p.default for p in cls.describe().params}
        for name, value in (params or {}).items():
            if name not in values:
                raise KeyError(f"{cls.__name__} declares no parameter {name!r}")
            values[name] = value
        self.runner = Runner(cls)
        self.runner.init(Params(values), list(symbols))
        self.intents: List[Tuple[Bar, Intent]] = []
        self.amends: List[Tuple[Bar, int, Amend]] = []
        self.logs: List[Tuple[Level, str]] = []
        self.fills: List[Fill] = []
        self.refusals: List[Rejection] = []
        self.trading_state = "Active"
        self.state_changes: List[Tuple[int, str]] = []
        self._positions: List[float] = [0.0] * len(symbols)
        self._protection: List[Protection] = [Protection()] * len(symbols)
        self._child = subprocess.Popen(
            [_program(), "harness"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        self._send({"symbols": list(symbols), "risk": risk, "costs": costs or {}})

    def _send(self, message: dict) -> None:
        self._child.stdin.write(json.dumps(message) + "\n")
        self._child.stdin.flush()

    def _receive(self) -> dict:
        line = self._child.stdout.readline()
        if not line:
            self._child.wait()
            raise RuntimeError(f"sandbar harness stopped: {self._child.stderr.read().strip()}")
        return json.loads(line)

    def run(self, bars: Iterable[Bar]) -> "Harness":
        """Deliver bars one per call, as the host's per-bar delivery does."""
        self._send({"run": [b.__dict__ for b in bars]})
        while True:
            message = self._receive()
            if "ran" in message:
                self._took(message["ran"])
                return self
            self._call(message["call"])

    def _call(self, call: dict) -> None:
        bar = Bar(**call["bar"])
        view = _View(self, call)
        try:
            ctx = self.runner.on_bars([bar], [_event(e) for e in call["events"]], view)
        except BaseException:
            self.close()
            raise
        self.intents.extend((bar, i) for i in ctx.intents)
        self.amends.extend((bar, s, a) for _, s, a in ctx.amends)
        self._send({
            "intents": [{"symbol": i.symbol, "action": _action(i.action),
                         "stop_loss": _level(i.stop_loss), "take_profit": _level(i.take_profit),
                         "reason": i.reason} for i in ctx.intents],
            "amends": [_amend(s, a) for _, s, a in ctx.amends],
        })

    def _took(self, ran: dict) -> None:
        self.fills = [_fill(f) for f in ran["fills"]]
        self.refusals = [_rejection(r) for r in ran["refusals"]]
        self._positions = list(ran["positions"])
        self._protection = [_protection(p) for p in ran["protection"]]
        self.trading_state = ran["state"]
        self.state_changes = [tuple(x) for x in ran["state_changes"]]

    def position(self, symbol: int) -> float:
        """The harness's position in ``symbol`` after the last run."""
        return self._positions[symbol]

    def protection(self, symbol: int) -> Protection:
        """The stop and target resting for ``symbol``'s position after the last run."""
        return self._protection[symbol]

    def snapshot(self) -> bytes:
        return self.runner.strategy.snapshot()

    def restore(self, from_version: str, state: bytes) -> None:
        self.runner.strategy.restore(from_version, state)

    def close(self) -> None:
        """End the harness process (also done when the harness is collected)."""
        if self._child.poll() is None:
            self._child.stdin.close()
            self._child.wait()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
