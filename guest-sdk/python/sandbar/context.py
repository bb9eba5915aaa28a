"""What a hook receives: ``Ctx`` to emit intents, change protection, read
the account and log — the Rust SDK's ``Ctx``, method for method.

Intents are *requests*: the host's risk engine sizes, refuses or passes
each one, and the strategy hears a refusal as a ``Rejection`` event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Protocol, Sequence, Tuple, Union

from .types import Distance, Fraction, Level, Portfolio, Protection, Side, SymbolId, Trail


# --- actions -----------------------------------------------------------------

@dataclass(frozen=True)
class TargetWeight:
    weight: float


@dataclass(frozen=True)
class TargetQuantity:
    quantity: float


@dataclass(frozen=True)
class Market:
    side: Side
    quantity: float


@dataclass(frozen=True)
class Limit:
    side: Side
    quantity: float
    price: float


@dataclass(frozen=True)
class Close:
    pass


Action = Union[TargetWeight, TargetQuantity, Market, Limit, Close]


# --- protective levels -------------------------------------------------------

@dataclass(frozen=True)
class Price:
    """A stop or target at this price."""

    value: float


@dataclass(frozen=True)
class FromEntry:
    """A stop or target this distance from the position's average entry
    price (below a long's for a stop, above for a target; mirrored for a
    short), resolved by the host after every fill."""

    value: float


Protect = Union[Price, FromEntry]


@dataclass
class Intent:
    """One request, as the strategy emitted it."""

    bar_index: int
    symbol: SymbolId
    action: Action
    stop_loss: Optional[Protect] = None
    take_profit: Optional[Protect] = None
    reason: str = ""


# --- changes to protection alone ----------------------------------------------

@dataclass(frozen=True)
class StopLoss:
    level: Protect


@dataclass(frozen=True)
class TrailingStop:
    trail: Trail


@dataclass(frozen=True)
class CancelStopLoss:
    pass


@dataclass(frozen=True)
class TakeProfit:
    level: Protect


@dataclass(frozen=True)
class CancelTakeProfit:
    pass


Amend = Union[StopLoss, TrailingStop, CancelStopLoss, TakeProfit, CancelTakeProfit]


class HostServices(Protocol):
    """What the host (or the test harness) answers."""

    def log(self, level: Level, message: str) -> None: ...

    def portfolio(self) -> Portfolio: ...

    def position(self, symbol: SymbolId) -> float: ...

    def protection(self, symbol: SymbolId) -> Protection: ...


class IntentBuilder:
    """Adds optional parts to the intent just emitted."""

    __slots__ = ("_intent",)

    def __init__(self, intent: Intent):
        self._intent = intent

    def stop_loss(self, price: float) -> "IntentBuilder":
        """Protective stop at this price."""
        self._intent.stop_loss = Price(float(price))
        return self

    def take_profit(self, price: float) -> "IntentBuilder":
        """Profit target at this price."""
        self._intent.take_profit = Price(float(price))
        return self

    def stop_loss_from_entry(self, distance: float) -> "IntentBuilder":
        """Protective stop ``distance`` from the entry, wherever it fills."""
        self._intent.stop_loss = FromEntry(float(distance))
        return self

    def take_profit_from_entry(self, distance: float) -> "IntentBuilder":
        """Profit target ``distance`` from the entry."""
        self._intent.take_profit = FromEntry(float(distance))
        return self

    def reason(self, reason: str) -> "IntentBuilder":
        """Reason recorded in the journal (the host cuts it to 256 bytes)."""
        self._intent.reason = str(reason)
        return self


class Ctx:
    """The handle every hook receives."""

    def __init__(self, symbols: Sequence[str], host: HostServices):
        self._symbols = list(symbols)
        self._host = host
        self.intents: List[Intent] = []
        self.amends: List[Tuple[int, SymbolId, Amend]] = []
        self.bar_index = 0

    # --- reading -------------------------------------------------------------

    def symbol(self, symbol: SymbolId) -> str:
        """Name of a symbol id (empty if unknown)."""
        return self._symbols[symbol] if 0 <= symbol < len(self._symbols) else ""

    def symbols(self) -> List[str]:
        """Every symbol of the run, by id."""
        return list(self._symbols)

    def position(self, symbol: SymbolId) -> float:
        """Signed position in ``symbol`` as of the last processed bar."""
        return self._host.position(symbol)

    def portfolio(self) -> Portfolio:
        """Cash, equity and every position with its average entry price."""
        return self._host.portfolio()

    def protection(self, symbol: SymbolId) -> Protection:
        """The stop-loss and take-profit resting for ``symbol``'s position."""
        return self._host.protection(symbol)

    def log(self, level: Level, message: str) -> None:
        """A line in the host's log, attributed to this plugin."""
        self._host.log(level, str(message))

    # --- intents ---------------------------------------------------------------

    def _push(self, symbol: SymbolId, action: Action) -> IntentBuilder:
        intent = Intent(self.bar_index, int(symbol), action)
        self.intents.append(intent)
        return IntentBuilder(intent)

    def target_weight(self, symbol: SymbolId, weight: float) -> IntentBuilder:
        """Hold ``weight`` (signed fraction of equity) in ``symbol``."""
        return self._push(symbol, TargetWeight(float(weight)))

    def target_quantity(self, symbol: SymbolId, quantity: float) -> IntentBuilder:
        """Hold exactly ``quantity`` (signed) of ``symbol``."""
        return self._push(symbol, TargetQuantity(float(quantity)))

    def buy(self, symbol: SymbolId, quantity: float) -> IntentBuilder:
        """Market buy at the next open."""
        return self._push(symbol, Market(Side.BUY, float(quantity)))

    def sell(self, symbol: SymbolId, quantity: float) -> IntentBuilder:
        """Market sell at the next open."""
        return self._push(symbol, Market(Side.SELL, float(quantity)))

    def buy_limit(self, symbol: SymbolId, quantity: float, price: float) -> IntentBuilder:
        """Limit buy at ``price`` or lower."""
        return self._push(symbol, Limit(Side.BUY, float(quantity), float(price)))

    def sell_limit(self, symbol: SymbolId, quantity: float, price: float) -> IntentBuilder:
        """Limit sell at ``price`` or higher."""
        return self._push(symbol, Limit(Side.SELL, float(quantity), float(price)))

    def close(self, symbol: SymbolId) -> IntentBuilder:
        """Flatten ``symbol`` and cancel its open orders."""
        return self._push(symbol, Close())

    # --- protection alone --------------------------------------------------------

    def _amend(self, symbol: SymbolId, change: Amend) -> None:
        self.amends.append((self.bar_index, int(symbol), change))

    def move_stop(self, symbol: SymbolId, price: float) -> None:
        """Move the position's stop-loss to ``price`` (a trailing stop stops trailing)."""
        self._amend(symbol, StopLoss(Price(float(price))))

    def move_stop_from_entry(self, symbol: SymbolId, distance: float) -> None:
        """Move the stop-loss to ``distance`` from the average entry price."""
        self._amend(symbol, StopLoss(FromEntry(float(distance))))

    def trail_stop(self, symbol: SymbolId, trail: Trail) -> None:
        """Make the stop a trailing stop the host owns: ``Distance(d)`` or
        ``Fraction(f)`` behind the best price since, ratcheting only toward
        the price."""
        if not isinstance(trail, (Distance, Fraction)):
            raise TypeError("trail_stop takes Distance(d) or Fraction(f)")
        self._amend(symbol, TrailingStop(trail))

    def cancel_stop(self, symbol: SymbolId) -> None:
        """Cancel the stop-loss; the take-profit stays."""
        self._amend(symbol, CancelStopLoss())

    def move_take_profit(self, symbol: SymbolId, price: float) -> None:
        """Move the take-profit to ``price``; the stop stays."""
        self._amend(symbol, TakeProfit(Price(float(price))))

    def move_take_profit_from_entry(self, symbol: SymbolId, distance: float) -> None:
        """Move the take-profit to ``distance`` from the average entry price."""
        self._amend(symbol, TakeProfit(FromEntry(float(distance))))

    def cancel_take_profit(self, symbol: SymbolId) -> None:
        """Cancel the take-profit; the stop stays."""
        self._amend(symbol, CancelTakeProfit())
