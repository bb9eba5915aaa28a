"""The strategy-facing vocabulary: plain Python mirrors of the contract's types.

Authors never see the generated WebAssembly bindings. These classes are what
a strategy's hooks receive and produce, in a component and under ``pytest``
alike, with the same names and fields as the Rust SDK's (``snake_case``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import List, Optional, Union

SymbolId = int


@dataclass(frozen=True)
class Bar:
    """One OHLCV bar. ``time_ms`` is the bar's *open*, in UTC milliseconds."""

    symbol: SymbolId
    time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class Side(Enum):
    """Which way an order trades."""

    BUY = "buy"
    SELL = "sell"


class Level(Enum):
    """Log levels, as the host's log shows them."""

    TRACE = "trace"
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


@dataclass(frozen=True)
class Fill:
    """An execution of one of the strategy's orders (or of a protective one)."""

    order_id: int
    symbol: SymbolId
    side: Side
    quantity: float
    price: float
    commission: float
    time_ms: int
    origin: str


@dataclass(frozen=True)
class Rejection:
    """An intent the host's risk engine (or the venue) refused."""

    symbol: SymbolId
    rule: str
    detail: str
    time_ms: int


@dataclass(frozen=True)
class Cancelled:
    """An order of the strategy's that was cancelled."""

    order_id: int


Event = Union[Fill, Rejection, Cancelled]


@dataclass(frozen=True)
class Position:
    """One open position as the host books it."""

    symbol: SymbolId
    quantity: float
    average_price: float
    unrealized_pnl: float


@dataclass(frozen=True)
class Portfolio:
    """The account as of the last processed bar."""

    cash: float
    equity: float
    positions: List[Position] = field(default_factory=list)

    def position(self, symbol: SymbolId) -> Optional[Position]:
        """The open position in ``symbol``, if any."""
        for p in self.positions:
            if p.symbol == symbol:
                return p
        return None


@dataclass(frozen=True)
class Distance:
    """A trailing stop this far (quote currency) behind the best price."""

    value: float


@dataclass(frozen=True)
class Fraction:
    """A trailing stop this fraction (``0.05`` = 5 %) behind the best price."""

    value: float


Trail = Union[Distance, Fraction]


@dataclass(frozen=True)
class Protection:
    """The protective orders resting for a position (all ``None`` when flat)."""

    stop_loss: Optional[float] = None
    trail: Optional[Trail] = None
    take_profit: Optional[float] = None


class InitError(Exception):
    """Raised by ``init`` to refuse a configuration; ``param`` names the culprit."""

    def __init__(self, message: str, param: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.param = param

    def __str__(self) -> str:
        if self.param is None:
            return self.message
        return f"parameter `{self.param}`: {self.message}"
