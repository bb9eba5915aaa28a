"""Fixture: a Python strategy that tries, from its fourth bar, whatever
`mode` names — to spin, to allocate without bound, to recurse, to raise, or
to reach files, sockets, the environment and the clock — so the tests can
show each is contained exactly as for a Rust plugin.
"""

import os
import sys
import time

import sandbar
from sandbar import Bar, Ctx, Description, Level, ParamSpec, Strategy


def _observe(what, f):
    try:
        return f"{what}: {f()!r}"
    except BaseException as e:  # noqa: BLE001 - the fixture reports whatever happened
        return f"{what}: {type(e).__name__}"


def _socket():
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(("127.0.0.1", 80))
    return "connected"


class Hostile(Strategy):
    @classmethod
    def describe(cls) -> Description:
        return Description("hostile-python", "0.1.0").param(
            ParamSpec.text("mode", "spin").with_doc("spin, alloc, recurse, raise, flood-protection or observe")
        )

    def init(self, params, symbols) -> None:
        self.mode = params.text("mode")
        self.bars = 0

    def on_bar(self, bar: Bar, ctx: Ctx) -> None:
        self.bars += 1
        if self.bars < 4:
            return
        if self.mode == "spin":
            while True:
                pass
        if self.mode == "alloc":
            hoard = []
            while True:
                hoard.append(bytearray(1 << 20))
        if self.mode == "recurse":
            sys.setrecursionlimit(1_000_000)

            def down(n):
                return down(n + 1) + 1

            down(0)
        if self.mode == "flood-protection":
            ctx.buy(bar.symbol, 1.0)
            for i in range(1000):
                ctx.move_stop(bar.symbol, 50.0 + i * 0.01)
            return
        if self.mode == "raise":
            raise ValueError(f"the strategy gave up on bar {self.bars}")
        if self.mode == "observe" and self.bars == 4:
            for line in [
                _observe("file", lambda: len(open("/etc/passwd").read())),
                _observe("dir", lambda: len(os.listdir("/"))),
                _observe("write", lambda: open("escape.txt", "w").write("x")),
                _observe("env", lambda: len(os.environ)),
                _observe("wall clock", lambda: int(time.time())),
                _observe("tcp", _socket),
            ]:
                ctx.log(Level.INFO, "observed " + line)


sandbar.export(Hostile)
