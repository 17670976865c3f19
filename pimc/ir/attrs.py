"""IR attributes: immutable, hashable compile-time values attached to ops.

Builtin kinds print as MLIR does (`4096`, `1.0e-05`, `"s"`, `true`, `[1, 2]`, `{a = 1}`, a type,
`@sym`). Dialect attributes print as `#dialect.name<params>`; the ones pimc's passes set are
below (`#pimc.device`, `#pimc.weight`, `#pimc.sym`, `#pimc.expr`) and live in `DIALECT_ATTRS`.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import ClassVar

import sympy

from pimc.ir.real_expr import RealExprSyntaxError, parse_real, real_str
from pimc.ir.symbolic import Dim, DimSyntaxError, dim_str, parse_dim
from pimc.ir.types import Type


class Attribute:
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class IntAttr(Attribute):
    value: int

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True, slots=True)
class FloatAttr(Attribute):
    value: float

    def __str__(self) -> str:
        v = self.value
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        text = repr(v)  # shortest text that reads back to the same double
        return text if ("." in text or "e" in text) else text + ".0"

    def __eq__(self, other) -> bool:  # NaN attributes compare equal so CSE and round-trips agree
        return isinstance(other, FloatAttr) and (self.value == other.value or (
            math.isnan(self.value) and math.isnan(other.value)))

    def __hash__(self) -> int:
        return hash(("float", str(self)))


@dataclass(frozen=True, slots=True)
class BoolAttr(Attribute):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(frozen=True, slots=True)
class StrAttr(Attribute):
    value: str

    def __str__(self) -> str:
        return json.dumps(self.value)


@dataclass(frozen=True, slots=True)
class UnitAttr(Attribute):
    """Presence-only flag, written as a bare key: `{pimc.fused}`."""

    def __str__(self) -> str:
        return "unit"


@dataclass(frozen=True, slots=True)
class ArrayAttr(Attribute):
    items: tuple[Attribute, ...]

    def __str__(self) -> str:
        return f"[{', '.join(map(str, self.items))}]"

    def ints(self) -> tuple[int, ...]:
        return tuple(a.value for a in self.items)


@dataclass(frozen=True, slots=True)
class DictAttr(Attribute):
    entries: tuple[tuple[str, Attribute], ...]  # sorted by key

    @staticmethod
    def of(mapping: dict[str, Attribute]) -> DictAttr:
        return DictAttr(tuple(sorted(mapping.items())))

    def __str__(self) -> str:
        return attr_dict_str(dict(self.entries))

    def get(self, key: str) -> Attribute | None:
        return dict(self.entries).get(key)


@dataclass(frozen=True, slots=True)
class TypeAttr(Attribute):
    type: Type

    def __str__(self) -> str:
        return str(self.type)


@dataclass(frozen=True, slots=True)
class SymbolRefAttr(Attribute):
    name: str

    def __str__(self) -> str:
        return f"@{self.name}"


def attr_dict_str(attrs: dict[str, Attribute]) -> str:
    """`{a = 1, flag}`, keys sorted (MLIR's order), unit attributes as a bare key."""
    parts = [key if isinstance(v, UnitAttr) else f"{key_str(key)} = {v}"
             for key, v in sorted(attrs.items())]
    return "{" + ", ".join(parts) + "}"


def key_str(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$.]*", key) else json.dumps(key)


# ---- dialect attributes -------------------------------------------------------------------


class DialectAttr(Attribute):
    """`#<name><params>`; subclasses define `name`, `from_params` and `params`."""

    __slots__ = ()
    name: ClassVar[str]
    syntax: ClassVar[str]  # what the params look like, for error messages

    @classmethod
    def from_params(cls, params: tuple[Attribute, ...]) -> DialectAttr:
        raise NotImplementedError

    def params(self) -> tuple[Attribute, ...]:
        raise NotImplementedError

    def __str__(self) -> str:
        return f"#{self.name}<{', '.join(map(str, self.params()))}>"


def _one_string(cls, params) -> str:
    if len(params) != 1 or not isinstance(params[0], StrAttr):
        raise ValueError(f"#{cls.name} takes {cls.syntax}")
    return params[0].value


# Where an op can run. "xpu" is a GPU-class accelerator; "host" is the CPU.
DEVICES = ("npu", "xpu", "pim", "logic_pim", "host")


@dataclass(frozen=True, slots=True)
class DeviceAttr(DialectAttr):
    device: str
    name: ClassVar[str] = "pimc.device"
    syntax: ClassVar[str] = f"one string, one of {', '.join(DEVICES)}"

    def __post_init__(self):
        if self.device not in DEVICES:
            raise ValueError(f"unknown device '{self.device}'; valid: {', '.join(DEVICES)}")

    @classmethod
    def from_params(cls, params):
        return cls(_one_string(cls, params))

    def params(self):
        return (StrAttr(self.device),)


@dataclass(frozen=True, slots=True)
class WeightAttr(DialectAttr):
    """A handle into the weights store that sits beside the IR; never inline data."""

    tensor: str
    name: ClassVar[str] = "pimc.weight"
    syntax: ClassVar[str] = 'one string, the weight\'s name in the store ("model.embed.weight")'

    @classmethod
    def from_params(cls, params):
        return cls(_one_string(cls, params))

    def params(self):
        return (StrAttr(self.tensor),)


@dataclass(frozen=True, slots=True)
class SymAttr(DialectAttr):
    """A symbolic integer expression over the dims (costs, slice bounds): `#pimc.sym<"2*B*S">`."""

    expr: Dim
    name: ClassVar[str] = "pimc.sym"
    syntax: ClassVar[str] = 'one string holding a dim expression ("S+1", "2*B*S")'

    @classmethod
    def from_params(cls, params):
        text = _one_string(cls, params)
        try:
            return cls(parse_dim(text if text.isdigit() or text.isidentifier() else f"({text})"))
        except DimSyntaxError as e:
            raise ValueError(str(e)) from None

    def params(self):
        text = dim_str(self.expr)
        return (StrAttr(text[1:-1] if text.startswith("(") else text),)


@dataclass(frozen=True, slots=True)
class ExprAttr(DialectAttr):
    """A real-valued expression over the dims, beyond the integer dim syntax (an Op/B ratio, an
    expected MoE expert count): `#pimc.expr<"4096*B/(B + 4096)">`. See `pimc.ir.real_expr`."""

    expr: sympy.Expr
    name: ClassVar[str] = "pimc.expr"
    syntax: ClassVar[str] = 'one string holding a real expression ("4096*B/(B + 4096)")'

    @classmethod
    def from_params(cls, params):
        try:
            return cls(parse_real(_one_string(cls, params)))
        except RealExprSyntaxError as e:
            raise ValueError(str(e)) from None

    def params(self):
        return (StrAttr(real_str(self.expr)),)


DIALECT_ATTRS: dict[str, type[DialectAttr]] = {
    c.name: c for c in (DeviceAttr, WeightAttr, SymAttr, ExprAttr)}
