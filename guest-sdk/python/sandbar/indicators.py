"""Streaming technical indicators, the Rust SDK's one for one.

Each consumes one value (or bar) at a time and returns ``None`` until it
has seen enough. Same conventions, same floating-point operations in the
same order as the Rust ones, so a Python strategy and its Rust twin decide
on identical numbers:

- ``Ema`` is seeded with the simple average of its first ``n`` values;
- ``Rsi`` and ``Atr`` use Wilder's smoothing (``α = 1/n``), seeded with the
  simple average of the first ``n`` changes / true ranges;
- ``Bollinger`` uses the population standard deviation;
- ``Window`` holds the last ``n`` values, as the Rust one does;
- sums are plain left-to-right additions (never ``sum()``, which CPython
  3.12+ compensates, and would round differently from the Rust SDK).

Every indicator can go into ``sandbar.state.encode`` as it is.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Deque, Dict, Generic, Iterable, Optional, Tuple, TypeVar


def _add(xs: Iterable[float]) -> float:
    acc = 0.0
    for x in xs:
        acc += x
    return acc


class Indicator:
    """Base of the SDK's indicators (what ``sandbar.state`` knows how to encode)."""

    def _restored(self) -> None:
        """Rebuild what JSON cannot carry (deques) after ``state.decode``."""


class Sma(Indicator):
    """Simple moving average over ``n`` values."""

    def __init__(self, n: int):
        self.n = max(int(n), 1)
        self.window: Deque[float] = deque()
        self.sum = 0.0

    def _restored(self) -> None:
        self.window = deque(self.window)

    def update(self, x: float) -> Optional[float]:
        self.window.append(x)
        self.sum += x
        if len(self.window) > self.n:
            self.sum -= self.window.popleft()
        return self.value()

    def value(self) -> Optional[float]:
        return self.sum / self.n if len(self.window) == self.n else None


class _Seeded(Indicator):
    """Seeded with the simple average of the first ``n`` values, then each
    value moves it by ``_step`` (EMA and Wilder's smoothing differ only there)."""

    def __init__(self, n: int):
        self.n = max(int(n), 1)
        self.seen = 0
        self.acc = 0.0
        self.current: Optional[float] = None

    def _step(self, v: float, x: float) -> float:
        raise NotImplementedError

    def update(self, x: float) -> Optional[float]:
        if self.current is not None:
            self.current = self._step(self.current, x)
        else:
            self.seen += 1
            self.acc += x
            if self.seen == self.n:
                self.current = self.acc / self.n
        return self.current

    def value(self) -> Optional[float]:
        return self.current


class Ema(_Seeded):
    """Exponential moving average, ``α = 2/(n+1)``, seeded with the SMA of the first ``n``."""

    def __init__(self, n: int):
        super().__init__(n)
        self.alpha = 2.0 / (float(self.n) + 1.0)

    def _step(self, v: float, x: float) -> float:
        return v + self.alpha * (x - v)


class _Wilder(_Seeded):
    def _step(self, v: float, x: float) -> float:
        return v + (x - v) / self.n


class Rsi(Indicator):
    """Relative Strength Index with Wilder's smoothing; needs ``n + 1`` closes."""

    def __init__(self, n: int):
        self.prev: Optional[float] = None
        self.gain = _Wilder(n)
        self.loss = _Wilder(n)
        self.current: Optional[float] = None

    def update(self, close: float) -> Optional[float]:
        prev, self.prev = self.prev, close
        if prev is not None:
            change = close - prev
            g = self.gain.update(max(change, 0.0))
            l = self.loss.update(max(-change, 0.0))
            if g is not None and l is not None:
                if l == 0.0:
                    self.current = 50.0 if g == 0.0 else 100.0
                else:
                    self.current = 100.0 - 100.0 / (1.0 + g / l)
        return self.current

    def value(self) -> Optional[float]:
        return self.current


class Atr(Indicator):
    """Average True Range with Wilder's smoothing; the first bar's true range is high − low."""

    def __init__(self, n: int):
        self.prev_close: Optional[float] = None
        self.avg = _Wilder(n)

    def update(self, high: float, low: float, close: float) -> Optional[float]:
        if self.prev_close is None:
            tr = high - low
        else:
            tr = max(high - low, abs(high - self.prev_close), abs(low - self.prev_close))
        self.prev_close = close
        return self.avg.update(tr)

    def value(self) -> Optional[float]:
        return self.avg.current


@dataclass(frozen=True)
class BollingerBands:
    lower: float
    middle: float
    upper: float


class Window(Indicator):
    """The last ``n`` values (the Rust SDK's ``Window``): ``get(0)`` is the
    newest, ``oldest()`` the first still held; iterating goes oldest first."""

    def __init__(self, n: int):
        self.size = max(int(n), 1)
        self.values: Deque[float] = deque()

    def _restored(self) -> None:
        self.values = deque(self.values)

    def push(self, x: float) -> None:
        self.values.append(x)
        if len(self.values) > self.size:
            self.values.popleft()

    def is_full(self) -> bool:
        return len(self.values) == self.size

    def get(self, i: int) -> Optional[float]:
        return self.values[-1 - i] if 0 <= i < len(self.values) else None

    def oldest(self) -> Optional[float]:
        return self.values[0] if self.values else None

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self):
        return iter(self.values)


class Bollinger(Indicator):
    """Bollinger bands: SMA ± ``k`` population standard deviations over ``n``."""

    def __init__(self, n: int, k: float):
        self.k = float(k)
        self.n = max(int(n), 1)
        self.window = Window(self.n)

    def update(self, x: float) -> Optional[BollingerBands]:
        self.window.push(x)
        return self.value()

    def value(self) -> Optional[BollingerBands]:
        if not self.window.is_full():
            return None
        n = float(self.n)
        mean = _add(self.window) / n
        var = _add((v - mean) * (v - mean) for v in self.window) / n
        sd = math.sqrt(var)
        return BollingerBands(mean - self.k * sd, mean, mean + self.k * sd)


class _Extreme(Indicator):
    MAX = True

    def __init__(self, n: int):
        self.n = max(int(n), 1)
        self.seen = 0
        self.deque: Deque[Tuple[int, float]] = deque()

    def _restored(self) -> None:
        self.deque = deque((int(i), float(v)) for i, v in self.deque)

    def update(self, x: float) -> Optional[float]:
        i = self.seen
        self.seen += 1
        while self.deque:
            back = self.deque[-1][1]
            dominated = back <= x if self.MAX else back >= x
            if not dominated:
                break
            self.deque.pop()
        self.deque.append((i, x))
        while self.deque and self.deque[0][0] + self.n <= i:
            self.deque.popleft()
        return self.value()

    def value(self) -> Optional[float]:
        if self.seen >= self.n and self.deque:
            return self.deque[0][1]
        return None


class Highest(_Extreme):
    """The highest of the last ``n`` values (``None`` until ``n`` are in)."""

    MAX = True


class Lowest(_Extreme):
    """The lowest of the last ``n`` values (``None`` until ``n`` are in)."""

    MAX = False


class Roc(Indicator):
    """Rate of change as a fraction, ``x / x[n bars ago] − 1`` (``None`` on a zero base)."""

    def __init__(self, n: int):
        self.window = Window(max(int(n), 1) + 1)

    def update(self, x: float) -> Optional[float]:
        self.window.push(x)
        return self.value()

    def value(self) -> Optional[float]:
        if not self.window.is_full() or self.window.oldest() == 0.0:
            return None
        return self.window.get(0) / self.window.oldest() - 1.0


class Momentum(Roc):
    """``x − x[n bars ago]``."""

    def value(self) -> Optional[float]:
        if not self.window.is_full():
            return None
        return self.window.get(0) - self.window.oldest()


class RealizedVol(Indicator):
    """Sample standard deviation of the last ``n`` log returns (per bar)."""

    def __init__(self, n: int):
        self.n = max(int(n), 2)
        self.returns: Deque[float] = deque()
        self.last: Optional[float] = None

    def _restored(self) -> None:
        self.returns = deque(self.returns)

    def update(self, price: float) -> Optional[float]:
        if not (price > 0.0 and math.isfinite(price)):
            self.returns.clear()
            self.last = None
            return None
        if self.last is not None:
            self.returns.append(math.log(price / self.last))
            if len(self.returns) > self.n:
                self.returns.popleft()
        self.last = price
        return self.value()

    def value(self) -> Optional[float]:
        if len(self.returns) < self.n:
            return None
        n = float(len(self.returns))
        mean = _add(self.returns) / n
        ss = _add((r - mean) * (r - mean) for r in self.returns)
        return math.sqrt(ss / (n - 1.0))


class Crossing(Enum):
    OVER = "over"
    UNDER = "under"


def crossover(prev: Tuple[float, float], now: Tuple[float, float]) -> bool:
    """``a`` crossed over ``b`` between two observations."""
    return prev[0] <= prev[1] and now[0] > now[1]


def crossunder(prev: Tuple[float, float], now: Tuple[float, float]) -> bool:
    """``a`` crossed under ``b`` between two observations."""
    return prev[0] >= prev[1] and now[0] < now[1]


class Cross(Indicator):
    """Remembers the last pair and reports a crossing of ``a`` over or under ``b``."""

    def __init__(self) -> None:
        self.prev: Optional[Tuple[float, float]] = None

    def update(self, a: float, b: float) -> Optional[Crossing]:
        now = (a, b)
        prev, self.prev = self.prev, now
        if prev is None:
            return None
        if crossover(prev, now):
            return Crossing.OVER
        if crossunder(prev, now):
            return Crossing.UNDER
        return None


T = TypeVar("T")


class PerSymbol(Indicator, Generic[T]):
    """One value per symbol, made on first use: ``fast.get_or(bar.symbol, lambda: Sma(10))``.

    A ``dict`` does the same; this is the Rust SDK's name for it. It is
    snapshotted as a dict.
    """

    def __init__(self) -> None:
        self.slots: Dict[int, T] = {}

    def get_or(self, symbol: int, make: Callable[[], T]) -> T:
        if symbol not in self.slots:
            self.slots[symbol] = make()
        return self.slots[symbol]

    def get(self, symbol: int) -> Optional[T]:
        return self.slots.get(symbol)

    def set(self, symbol: int, value: T) -> None:
        self.slots[symbol] = value
