"""Parameters a strategy declares (``ParamSpec``) and reads (``Params``).

The host resolves every declared parameter (defaults, the user's values,
the declared ranges) before ``init``; reading one that was not declared is a
strategy bug and says so, as in the Rust SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Union

from .types import InitError

Value = Union[bool, int, float, str]


@dataclass
class ParamSpec:
    """A declared parameter: name, type (from the default), range and doc."""

    name: str
    type: str
    default: Value
    min: Optional[float] = None
    max: Optional[float] = None
    doc: str = ""

    @staticmethod
    def integer(name: str, default: int) -> "ParamSpec":
        return ParamSpec(name, "integer", int(default))

    @staticmethod
    def float(name: str, default: float) -> "ParamSpec":
        return ParamSpec(name, "float", float(default))

    @staticmethod
    def boolean(name: str, default: bool) -> "ParamSpec":
        return ParamSpec(name, "boolean", bool(default))

    @staticmethod
    def text(name: str, default: str) -> "ParamSpec":
        return ParamSpec(name, "text", str(default))

    def range(self, lo: float, hi: float) -> "ParamSpec":
        """Values outside ``[lo, hi]`` are refused by the host before ``init``."""
        self.min, self.max = float(lo), float(hi)
        return self

    def with_doc(self, doc: str) -> "ParamSpec":
        self.doc = doc
        return self


@dataclass
class Description:
    """Name, version and parameters; per-bar delivery unless ``batched()``."""

    name: str
    version: str
    params: List[ParamSpec] = field(default_factory=list)
    delivery: str = "per-bar"

    def param(self, spec: ParamSpec) -> "Description":
        self.params.append(spec)
        return self

    def batched(self) -> "Description":
        """Ask for batched delivery (no per-bar feedback needed)."""
        self.delivery = "batched"
        return self


def _shown(v: Value) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, float):
        return repr(v)
    return str(v)


class Params:
    """Typed access to the parameters the host resolved for this run."""

    def __init__(self, values: Dict[str, Value]):
        self._values = dict(values)

    def get(self, name: str) -> Optional[Value]:
        return self._values.get(name)

    def _declared(self, name: str) -> Value:
        if name not in self._values:
            declared = ", ".join(self._values) or "none"
            raise InitError(f'strategy reads undeclared parameter "{name}" (declared: {declared})')
        return self._values[name]

    @staticmethod
    def _wrong(name: str, expected: str, got: Value) -> InitError:
        return InitError(f"expected {expected}, got {_shown(got)}", param=name)

    def int(self, name: str) -> int:
        v = self._declared(name)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self._wrong(name, "an integer", v)
        return v

    def count(self, name: str) -> int:
        """An integer that must be a positive count (period, window…)."""
        v = self.int(name)
        if v <= 0:
            raise InitError(f"must be a positive whole number, got {v}", param=name)
        return v

    def float(self, name: str) -> float:
        """A number (integers are widened)."""
        v = self._declared(name)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self._wrong(name, "a number", v)
        return float(v)

    def boolean(self, name: str) -> bool:
        v = self._declared(name)
        if not isinstance(v, bool):
            raise self._wrong(name, "a boolean", v)
        return v

    def text(self, name: str) -> str:
        v = self._declared(name)
        if not isinstance(v, str):
            raise self._wrong(name, "text", v)
        return v
