"""The sma-cross sweep of the README (fast 5..50 step 5 × slow 20..200 step 10,
190 pairs, fast < slow: 174 runs) in the Python tools people use for it, timed
on the same CSV as `sandbar sweep`, for the README's side-by-side figures.

    python3 -m venv /tmp/pyb && /tmp/pyb/bin/pip install backtesting vectorbt
    /tmp/pyb/bin/python host/benches/python/sweeps.py <file.csv> [--minutes]

backtesting.py: `Backtest.optimize` over the grid (event-driven, one run per
pair). vectorbt: moving averages, crossover signals and
`Portfolio.from_signals` for every pair at once, timed warm (the second of
two identical runs, after numba compiled). Prints runs per second.
"""

import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

FAST = list(range(5, 51, 5))
SLOW = list(range(20, 201, 10))
PAIRS = [(f, s) for f in FAST for s in SLOW if f < s]


def load(path):
    df = pd.read_csv(path)
    first = df.columns[0]
    t = df[first]
    if pd.api.types.is_numeric_dtype(t):
        idx = pd.to_datetime(t, unit="ms" if t.iloc[0] > 1e11 else "s", utc=True)
    else:
        idx = pd.to_datetime(t, utc=True)
    df.index = idx.dt.tz_localize(None) if hasattr(idx, "dt") else idx
    df.columns = [c.strip().capitalize() for c in df.columns]
    return df[["Open", "High", "Low", "Close", "Volume"]].astype(float)


from backtesting import Backtest, Strategy  # noqa: E402
from backtesting.lib import crossover  # noqa: E402


def sma(x, n):
    return pd.Series(x).rolling(n).mean()


class SmaCross(Strategy):
    """sma-cross as the example plugin: 20% in on a cross up, out on a cross down."""

    n1 = 10
    n2 = 30

    def init(self):
        self.fast = self.I(sma, self.data.Close, self.n1)
        self.slow = self.I(sma, self.data.Close, self.n2)

    def next(self):
        if crossover(self.fast, self.slow) and not self.position:
            self.buy(size=0.2)
        elif crossover(self.slow, self.fast) and self.position:
            self.position.close()


def backtesting_py(df):
    bt = Backtest(df, SmaCross, cash=100_000, commission=0.0, finalize_trades=True)
    t = time.perf_counter()
    bt.optimize(
        n1=FAST,
        n2=SLOW,
        constraint=lambda p: p.n1 < p.n2,
        maximize="Sharpe Ratio",
        max_tries=None,
        return_heatmap=False,
    )
    return len(PAIRS) / (time.perf_counter() - t)


def vectorbt(df, freq):
    import vectorbt as vbt

    close = df["Close"]

    def once():
        fast = vbt.MA.run(close, window=[f for f, _ in PAIRS]).ma.to_numpy()
        slow = vbt.MA.run(close, window=[s for _, s in PAIRS]).ma.to_numpy()
        above = fast > slow
        prev = np.vstack([np.zeros((1, above.shape[1]), bool), above[:-1]])
        entries = above & ~prev
        exits = ~above & prev
        pf = vbt.Portfolio.from_signals(
            close, entries, exits, size=0.2, size_type="percent", init_cash=100_000, freq=freq
        )
        return pf.sharpe_ratio()

    once()  # numba compiles here
    t = time.perf_counter()
    once()
    return len(PAIRS) / (time.perf_counter() - t)


if __name__ == "__main__":
    path = sys.argv[1]
    freq = "1min" if "--minutes" in sys.argv else "1D"
    df = load(path)
    print(f"{path}: {len(df)} bars, {len(PAIRS)} pairs")
    if "--no-backtesting" not in sys.argv:
        print(f"backtesting.py optimize: {backtesting_py(df):.1f} runs/s")
    print(f"vectorbt (warm): {vectorbt(df, freq):.1f} runs/s")
