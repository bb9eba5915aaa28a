"""Snapshot helpers: a JSON document with a state version in front.

A hot-swap hands the old version's snapshot to the new version's
``restore``. Bump the version whenever the layout changes, so the new code
knows what it is reading. Floats survive exactly (JSON carries Python's
shortest round-tripping ``repr``); the SDK's indicators encode themselves.

A Rust strategy's snapshot (bincode) is not this format: a swap between a
Rust and a Python version of one plugin is refused by ``decode`` and the
host rolls the swap back.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any, Tuple

from . import indicators

_MAGIC = "sandbar-python-state"


def _plain(value: Any) -> Any:
    if isinstance(value, indicators.Indicator):
        return {"$indicator": type(value).__name__, "fields": _plain(value.__dict__)}
    if isinstance(value, dict):
        if any(not isinstance(k, (str, int)) for k in value):
            raise TypeError("state dictionaries need str or int keys")
        return {"$dict": [[k, _plain(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple, deque)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot snapshot a {type(value).__name__}")


def _rich(value: Any) -> Any:
    if isinstance(value, dict):
        if "$indicator" in value:
            cls = getattr(indicators, value["$indicator"], None)
            if not (isinstance(cls, type) and issubclass(cls, indicators.Indicator)):
                raise ValueError(f"unknown indicator {value['$indicator']!r} in state")
            obj = cls.__new__(cls)
            obj.__dict__.update(_rich(value["fields"]))
            obj._restored()
            return obj
        if "$dict" in value:
            return {k: _rich(v) for k, v in value["$dict"]}
        raise ValueError("malformed state")
    if isinstance(value, list):
        return [_rich(v) for v in value]
    return value


def encode(version: int, value: Any) -> bytes:
    """``value`` (numbers, text, lists, dicts, SDK indicators) behind ``version``."""
    doc = {_MAGIC: int(version), "value": _plain(value)}
    return json.dumps(doc, separators=(",", ":"), allow_nan=True).encode()


def decode(data: bytes) -> Tuple[int, Any]:
    """The version and value ``encode`` wrote."""
    try:
        doc = json.loads(bytes(data).decode())
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"not a Python SDK state ({len(data)} bytes): {e}") from None
    if not isinstance(doc, dict) or _MAGIC not in doc:
        raise ValueError(f"not a Python SDK state ({len(data)} bytes)")
    return int(doc[_MAGIC]), _rich(doc["value"])
