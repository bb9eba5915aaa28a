"""Fixture: the Python twin of ``plugins/scripted`` — it emits exactly the
intents and changes to protection its ``script`` lists (same syntax), and
with ``show_protection`` logs what protects symbol 0 on every bar in the
Rust fixture's words. The tests run both on one script and require the
same journal and the same protection readings: that exercises every
change to protection, ``protection.get`` and the account reads through the
Python bridge. With ``show_math`` it logs the bits of ``math``'s functions
as the Rust fixture logs its ``f64`` methods'.
"""

import math
import struct

import sandbar
from sandbar import Bar, Ctx, Description, Distance, Fraction, InitError, Level, ParamSpec, Params, Strategy


def _num(words, i, entry):
    if i >= len(words):
        raise InitError(f"`{entry}`: missing argument {i}", param="script")
    return float(words[i])


def _parse(script):
    steps = []
    for entry in (e.strip() for e in script.split(";")):
        if not entry:
            continue
        w = entry.split()
        bar, symbol, verb = int(_num(w, 0, entry)), int(_num(w, 2, entry)), w[1]
        amends = {
            "trail": lambda: ("trail", Distance(_num(w, 3, entry))),
            "trail-pct": lambda: ("trail", Fraction(_num(w, 3, entry))),
            "stop": lambda: ("stop", _num(w, 3, entry)),
            "stop-e": lambda: ("stop-e", _num(w, 3, entry)),
            "target": lambda: ("target", _num(w, 3, entry)),
            "target-e": lambda: ("target-e", _num(w, 3, entry)),
            "cancel-stop": lambda: ("cancel-stop", None),
            "cancel-target": lambda: ("cancel-target", None),
        }
        if verb in amends:
            steps.append({"bar": bar, "symbol": symbol, "amend": amends[verb]()})
            continue
        used = {"weight": 4, "qty": 4, "buy": 4, "sell": 4, "limit-buy": 5, "limit-sell": 5, "close": 3}
        if verb not in used:
            raise InitError(f"`{entry}`: unknown action `{verb}`", param="script")
        args = [_num(w, i, entry) for i in range(3, used[verb])]
        step = {"bar": bar, "symbol": symbol, "action": (verb, args), "sl": None, "tp": None}
        for word in w[used[verb]:]:
            key, _, value = word.partition("=")
            if key not in ("sl", "tp", "sle", "tpe"):
                raise InitError(f"`{entry}`: unexpected `{word}`", param="script")
            step[key[:2]] = (key.endswith("e"), float(value))
        steps.append(step)
    return steps


def _debug(x):
    """Rust's `{:?}` of an Option<f64> / Option<Trail>."""
    if x is None:
        return "None"
    if isinstance(x, Distance):
        return f"Some(Distance({x.value!r}))"
    if isinstance(x, Fraction):
        return f"Some(Fraction({x.value!r}))"
    return f"Some({x!r})"


def _math_line(bar: Bar) -> str:
    """The Rust fixture's ``math_line``: the same functions of the same numbers."""
    c, r = bar.close, bar.close / bar.open
    d = r - 1.0
    values = [
        ("ln", math.log(c)),
        ("ln_r", math.log(r)),
        ("log10", math.log10(c)),
        ("log2", math.log2(c)),
        ("exp", math.exp(d)),
        ("exp_neg", math.exp(-c / bar.high)),
        ("pow", math.pow(c, r)),
        ("pow_half", math.pow(r, 0.5)),
        ("sqrt", math.sqrt(c)),
        ("ln_1p", math.log1p(d)),
        ("exp_m1", math.expm1(d)),
        ("sin", math.sin(c)),
        ("cos", math.cos(c)),
        ("tan", math.tan(r)),
        ("atan", math.atan(r)),
        ("atan2", math.atan2(bar.high - bar.low, c)),
        ("tanh", math.tanh(d)),
        ("cbrt", math.cbrt(c)),
        ("hypot", math.hypot(bar.high, bar.low)),
    ]
    return " ".join(f"{name}={struct.pack('>d', v).hex()}" for name, v in values)


class Scripted(Strategy):
    @classmethod
    def describe(cls) -> Description:
        return (
            Description("scripted", "0.1.0")
            .param(ParamSpec.text("script", "").with_doc("intents to emit, see the crate docs"))
            .param(ParamSpec.float("equity_step", 0.0).range(0.0, 1e12).with_doc(
                "trade on every move of the equity into another multiple of this (0: off)"))
            .param(ParamSpec.boolean("show_protection", False).with_doc("log what protects symbol 0 on every bar"))
            .param(ParamSpec.boolean("show_math", False).with_doc(
                "log the bits of the C library's math functions on every bar"))
        )

    def init(self, params: Params, symbols) -> None:
        self.steps = _parse(params.text("script"))
        self.equity_step = params.float("equity_step")
        self.show_protection = params.boolean("show_protection")
        self.show_math = params.boolean("show_math")
        self.bar = 0
        self.level = None
        self.asked = False

    def on_bar(self, bar: Bar, ctx: Ctx) -> None:
        now, self.bar = self.bar, self.bar + 1
        if self.show_math:
            ctx.log(Level.INFO, f"math bar {now} {_math_line(bar)}")
        if self.show_protection:
            p = ctx.protection(0)
            ctx.log(Level.INFO, f"protection bar {now} stop={_debug(p.stop_loss)} "
                                f"trail={_debug(p.trail)} target={_debug(p.take_profit)}")
        if self.equity_step > 0.0:
            p = ctx.portfolio()
            level = math.floor(p.equity / self.equity_step)
            upnl = -0.0  # Rust's f64 sum starts at -0.0 (an empty sum prints "-0.0")
            for x in p.positions:
                upnl += x.unrealized_pnl
            reason = f"equity {p.equity!r} (level {level}) unrealised {upnl!r} cash {p.cash!r}"
            if ctx.position(0) == 0.0:
                if not self.asked:
                    self.asked = True
                    ctx.target_weight(0, 0.1).reason(reason)
            else:
                self.asked = False
                if self.level is not None and self.level != level:
                    ctx.close(0).reason(reason)
            self.level = level
        for s in (s for s in self.steps if s["bar"] == now):
            if "amend" in s:
                kind, value = s["amend"]
                {
                    "trail": lambda: ctx.trail_stop(s["symbol"], value),
                    "stop": lambda: ctx.move_stop(s["symbol"], value),
                    "stop-e": lambda: ctx.move_stop_from_entry(s["symbol"], value),
                    "target": lambda: ctx.move_take_profit(s["symbol"], value),
                    "target-e": lambda: ctx.move_take_profit_from_entry(s["symbol"], value),
                    "cancel-stop": lambda: ctx.cancel_stop(s["symbol"]),
                    "cancel-target": lambda: ctx.cancel_take_profit(s["symbol"]),
                }[kind]()
                continue
            verb, args = s["action"]
            sym = s["symbol"]
            b = {
                "weight": lambda: ctx.target_weight(sym, args[0]),
                "qty": lambda: ctx.target_quantity(sym, args[0]),
                "buy": lambda: ctx.buy(sym, args[0]),
                "sell": lambda: ctx.sell(sym, args[0]),
                "limit-buy": lambda: ctx.buy_limit(sym, args[0], args[1]),
                "limit-sell": lambda: ctx.sell_limit(sym, args[0], args[1]),
                "close": lambda: ctx.close(sym),
            }[verb]()
            if s["sl"]:
                b = b.stop_loss_from_entry(s["sl"][1]) if s["sl"][0] else b.stop_loss(s["sl"][1])
            if s["tp"]:
                b = b.take_profit_from_entry(s["tp"][1]) if s["tp"][0] else b.take_profit(s["tp"][1])
            b.reason(f"script step at bar {now}")


sandbar.export(Scripted)
