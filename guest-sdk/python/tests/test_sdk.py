"""The Python SDK, natively: indicators against the independent reference
(`guest-sdk/tests/reference/indicators.py`, the one the Rust SDK's tests
use), parameters, snapshots, and the runner's window rule.

Run: python3 guest-sdk/python/tests/test_sdk.py (the end-to-end suite runs
it, `python::the_python_sdk_passes_its_own_unit_tests`).
"""

import contextlib
import importlib.util
import io
import math
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import sandbar  # noqa: E402
from sandbar import Bar, Ctx, Description, InitError, Params, Strategy  # noqa: E402
from sandbar.indicators import (  # noqa: E402
    Atr, Bollinger, Cross, Crossing, Ema, Highest, Lowest, Momentum, RealizedVol, Roc, Rsi, Sma,
)


def _reference():
    path = os.path.join(HERE, "../../tests/reference/indicators.py")
    spec = importlib.util.spec_from_file_location("reference", path)
    module = importlib.util.module_from_spec(spec)
    with contextlib.redirect_stdout(io.StringIO()):
        spec.loader.exec_module(module)
    return module


REF = _reference()
CLOSES = REF.closes


def run(indicator, xs=CLOSES):
    return [indicator.update(x) for x in xs]


class Indicators(unittest.TestCase):
    def close(self, a, b, tol=1e-9):
        self.assertIsNotNone(a)
        self.assertLess(abs(a - b), tol, f"{a} vs {b}")

    def test_sma_matches_the_reference(self):
        out = run(Sma(5))
        self.assertIsNone(out[3])
        for i in range(4, 20):
            self.close(out[i], REF.sma(CLOSES, 5, i))

    def test_ema_is_seeded_with_the_sma(self):
        out = run(Ema(10))
        self.assertIsNone(out[8])
        for i in range(9, 20):
            self.close(out[i], REF.ema(CLOSES, 10, i))

    def test_rsi_follows_wilder(self):
        out = run(Rsi(14))
        self.assertIsNone(out[13])
        for i in range(14, 20):
            self.close(out[i], REF.rsi(CLOSES, 14, i))

    def test_roc_momentum_and_realized_volatility(self):
        roc, mom, vol = run(Roc(10)), run(Momentum(10)), run(RealizedVol(10))
        self.assertIsNone(roc[9])
        self.assertIsNone(vol[9])
        for i in range(10, 20):
            self.close(roc[i], REF.roc(CLOSES, 10, i), 1e-12)
            self.close(mom[i], REF.mom(CLOSES, 10, i), 1e-12)
            self.close(vol[i], REF.realized_vol(CLOSES, 10, i), 1e-12)

    def test_range_indicators_and_crossings_match_the_reference(self):
        bars = list(zip(REF.highs, REF.lows, CLOSES))
        a, hi, lo = Atr(5), Highest(5), Lowest(5)
        atr = [a.update(*b) for b in bars]
        highs = [hi.update(b[0]) for b in bars]
        lows = [lo.update(b[1]) for b in bars]
        self.assertIsNone(atr[3])
        bands = run(Bollinger(10, 2.0))
        self.assertIsNone(bands[8])
        for i in range(4, 20):
            self.close(atr[i], REF.atr(5, i))
            self.close(highs[i], REF.highest(REF.highs, 5, i))
            self.close(lows[i], REF.lowest(REF.lows, 5, i))
        for i in range(9, 20):
            want = REF.bollinger(CLOSES, 10, 2.0, i)
            got = bands[i]
            for g, w in zip((got.lower, got.middle, got.upper), want):
                self.close(g, w)
        sma, cross, seen = Sma(5), Cross(), []
        for i, c in enumerate(CLOSES):
            avg = sma.update(c)
            if avg is not None:
                x = cross.update(c, avg)
                if x is not None:
                    seen.append((i - 4, x.value))
        sma5 = [sum(CLOSES[i - 4:i + 1]) / 5 for i in range(4, 20)]
        self.assertEqual(seen, REF.crossings(CLOSES[4:], sma5))

    def test_atr_follows_wilder(self):
        a = Atr(3)
        bars = [(10.0, 8.0, 9.0), (11.0, 9.0, 10.5), (12.0, 10.0, 10.0), (10.5, 7.0, 8.0), (9.0, 8.5, 8.6)]
        out = [a.update(*b) for b in bars]
        self.assertIsNone(out[1])
        self.close(out[2], 2.0)
        self.close(out[3], 2.5)
        self.close(out[4], 2.0)

    def test_bollinger_uses_the_population_deviation(self):
        out = run(Bollinger(5, 2.0), [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
        self.assertIsNone(out[3])
        self.close(out[7].middle, 6.0)
        self.close(out[7].upper, 6.0 + 2.0 * math.sqrt(3.2))
        self.close(out[7].lower, 6.0 - 2.0 * math.sqrt(3.2))

    def test_highest_and_lowest_over_a_sliding_window(self):
        xs = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
        hi, lo = run(Highest(3), xs), run(Lowest(3), xs)
        self.assertEqual(hi, [None, None, 4.0, 4.0, 5.0, 9.0, 9.0, 9.0])
        self.assertEqual(lo, [None, None, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0])

    def test_cross_reports_over_and_under_once(self):
        c = Cross()
        self.assertEqual([c.update(a, 2.0) for a in [1.0, 2.0, 3.0, 4.0, 1.0]],
                         [None, None, Crossing.OVER, None, Crossing.UNDER])


class ParamsAndState(unittest.TestCase):
    def test_reading_an_undeclared_parameter_blames_the_strategy(self):
        p = Params({"weight": 0.2, "fast": 10})
        with self.assertRaises(InitError) as e:
            p.float("wieght")
        self.assertIsNone(e.exception.param)
        self.assertEqual(str(e.exception), 'strategy reads undeclared parameter "wieght" (declared: weight, fast)')

    def test_values_are_shown_as_values(self):
        p = Params({"fast": 2.0, "name": "x", "n": -3})
        self.assertEqual(str(self.raised(lambda: p.int("fast"))), "parameter `fast`: expected an integer, got 2.0")
        self.assertEqual(str(self.raised(lambda: p.boolean("name"))), 'parameter `name`: expected a boolean, got "x"')
        self.assertEqual(str(self.raised(lambda: p.count("n"))), "parameter `n`: must be a positive whole number, got -3")

    def raised(self, f):
        try:
            f()
        except InitError as e:
            return e
        self.fail("no InitError")

    def test_a_snapshot_continues_indicators_exactly(self):
        whole = run(Sma(4))
        first = Sma(4)
        run(first, CLOSES[:7])
        version, state = sandbar.state.decode(sandbar.state.encode(3, {"sma": first, 1: [Rsi(2)]}))
        self.assertEqual(version, 3)
        self.assertEqual(run(state["sma"], CLOSES[7:]), whole[7:])
        self.assertIsInstance(state[1][0], Rsi)

    def test_a_rust_snapshot_is_refused_by_name(self):
        with self.assertRaises(ValueError) as e:
            sandbar.state.decode(bytes([1, 2, 3, 0, 255]))
        self.assertIn("not a Python SDK state", str(e.exception))


class Host:
    def __init__(self):
        self.lines = []

    def log(self, level, message):
        self.lines.append((level, message))

    def portfolio(self):
        return sandbar.Portfolio(100.0, 100.0, [])

    def position(self, symbol):
        return 0.0

    def protection(self, symbol):
        return sandbar.Protection()


class Buys(Strategy):
    @classmethod
    def describe(cls):
        return Description("buys", "0.1.0")

    def on_bar(self, bar, ctx: Ctx):
        if bar.close > 10:
            ctx.target_weight(bar.symbol, 0.5).stop_loss_from_entry(1.0).reason("above 10")
            ctx.move_stop(bar.symbol, 9.0)


class Runner(unittest.TestCase):
    def test_a_window_stops_at_the_first_bar_with_a_decision(self):
        bars = [Bar(0, i, c, c, c, c, 1.0) for i, c in enumerate([9.0, 11.0, 12.0])]
        pulled = iter(bars[1:])
        runner = sandbar.Runner(Buys)
        runner.init(Params({}), ["X"])
        ctx = runner.on_window(bars[0], [], Host(), lambda: next(pulled, None))
        self.assertEqual(next(pulled), bars[2], "the bar after the decision was never pulled")
        self.assertEqual(len(ctx.intents), 1)
        self.assertEqual(ctx.intents[0].reason, "above 10")
        self.assertEqual(ctx.intents[0].stop_loss, sandbar.FromEntry(1.0))
        self.assertEqual(len(ctx.amends), 1)

    def test_export_takes_one_strategy(self):
        sandbar.export(Buys)
        self.assertIs(sandbar.exported(), Buys)

        class Other(Buys):
            pass

        with self.assertRaises(ValueError):
            sandbar.export(Other)


if __name__ == "__main__":
    unittest.main()
