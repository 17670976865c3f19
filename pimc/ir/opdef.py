"""Declarative op definitions: operand names, typed attributes, traits and a shape rule.

A dialect op is a subclass of `OpDef` that declares
  * `operands`: names, with `?` for an optional trailing operand and `*` for a variadic one;
  * `attrs`: name -> `Attr(kind, default)`; kinds are listed in `ATTR_KINDS`;
  * `traits`: "pure" (no side effects, so CSE/DCE may touch it), "terminator", ...;
  * `infer(types, attrs)`: the result types, from operand types and attribute values. The
    verifier compares them with the declared result types; builders use them directly.
Shape rules call `fail(...)`, which the verifier turns into a located VerifyError.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pimc.ir.attrs import (ArrayAttr, Attribute, BoolAttr, DeviceAttr, DictAttr, ExprAttr,
                           FloatAttr, IntAttr, StrAttr, SymAttr, SymbolRefAttr, TypeAttr,
                           UnitAttr, WeightAttr)
from pimc.ir.core import Operation
from pimc.ir.types import Type


class OpInvalid(Exception):
    """Raised by shape rules; carries the message without the op context."""


def fail(message: str):
    raise OpInvalid(message)


def _ints(a: Attribute):
    if isinstance(a, ArrayAttr) and all(isinstance(x, IntAttr) for x in a.items):
        return a.ints()
    return None


def _float(a: Attribute):
    if isinstance(a, FloatAttr):
        return a.value
    if isinstance(a, IntAttr):
        try:
            return float(a.value)
        except OverflowError:  # an integer beyond the double range is not a valid float value
            return None
    return None


COST_KEYS = ("flops", "bytes", "op_b")


def _cost(a: Attribute):
    """The `cost` dict that analyze-intensity sets: numbers or expressions under COST_KEYS."""
    ok = isinstance(a, DictAttr) and all(
        key in COST_KEYS and isinstance(v, (IntAttr, FloatAttr, SymAttr, ExprAttr))
        for key, v in a.entries)
    return a if ok else None


def _dim(a: Attribute):
    return a.value if isinstance(a, IntAttr) else a.expr if isinstance(a, SymAttr) else None


# kind -> (description for errors, converter returning the Python value or None if invalid)
ATTR_KINDS: dict[str, tuple[str, Callable[[Attribute], Any]]] = {
    "int": ("an integer", lambda a: a.value if isinstance(a, IntAttr) else None),
    "float": ("a float", _float),
    "bool": ("true or false", lambda a: a.value if isinstance(a, BoolAttr) else None),
    "unit": ("a unit flag", lambda a: True if isinstance(a, UnitAttr) else None),
    "str": ("a string", lambda a: a.value if isinstance(a, StrAttr) else None),
    "ints": ("an array of integers", _ints),
    "dim": ('an integer or #pimc.sym<"expr">', _dim),
    "type": ("a type", lambda a: a.type if isinstance(a, TypeAttr) else None),
    "symbol": ("a symbol reference (@name)", lambda a: a.name if isinstance(a, SymbolRefAttr) else None),
    "dict": ("a dictionary", lambda a: a if isinstance(a, DictAttr) else None),
    "cost": ("a dictionary of flops, bytes and op_b, each a number, #pimc.sym<...> or "
             "#pimc.expr<...>", _cost),
    "weight": ('#pimc.weight<"name">', lambda a: a.tensor if isinstance(a, WeightAttr) else None),
    "device": ('#pimc.device<"...">', lambda a: a.device if isinstance(a, DeviceAttr) else None),
    "any": ("any attribute", lambda a: a),
}

_REQUIRED = object()


@dataclass(frozen=True)
class Attr:
    kind: str
    default: Any = _REQUIRED
    choices: tuple = ()

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


# Attributes that passes may set on any op (architecture.md §3): placement, cost, KV policy, sub-batch.
COMMON_ATTRS: dict[str, Attr] = {
    "device": Attr("device", None), "cost": Attr("cost", None),
    "kv": Attr("dict", None), "subbatch": Attr("int", None),
}


class OpDef(Operation):
    __slots__ = ()
    operand_names: ClassVar[tuple[str, ...]] = ()
    attrs: ClassVar[dict[str, Attr]] = {}
    traits: ClassVar[frozenset[str]] = frozenset({"pure"})
    num_results: ClassVar[int | None] = 1  # None: any number
    num_regions: ClassVar[int] = 0  # the parser accepts regions on any op; the verifier checks
    summary: ClassVar[str] = ""
    infer: ClassVar[Callable[[tuple[Type, ...], dict[str, Any]], tuple[Type, ...]] | None] = None

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        cls.dialect_traits = frozenset(cls.traits)
        names = cls.operand_names
        for i, raw in enumerate(names):
            key = raw.rstrip("?*")
            if raw.endswith("*"):
                setattr(cls, key, property(lambda self, i=i: self.operands[i:]))
            elif raw.endswith("?"):
                setattr(cls, key, property(
                    lambda self, i=i: self.operands[i] if len(self.operands) > i else None))
            else:
                setattr(cls, key, property(lambda self, i=i: self.operands[i]))

    # ---- signature ----
    @classmethod
    def operand_count_ok(cls, n: int) -> tuple[bool, str]:
        names = cls.operand_names
        fixed = sum(1 for x in names if not x.endswith(("?", "*")))
        if any(x.endswith("*") for x in names):
            return n >= fixed, f"at least {fixed}"
        optional = sum(1 for x in names if x.endswith("?"))
        if optional:
            return fixed <= n <= fixed + optional, f"{fixed} to {fixed + optional}"
        return n == fixed, str(fixed)

    def attr(self, key: str) -> Any:
        """The Python value of a declared attribute, or its default."""
        spec = self.attrs.get(key) or COMMON_ATTRS[key]
        a = self.attributes.get(key)
        if a is None:
            return None if spec.required else spec.default
        return ATTR_KINDS[spec.kind][1](a)

    @classmethod
    def attr_values(cls, attributes: dict[str, Attribute]) -> dict[str, Any]:
        """Check declared attributes and return their Python values (defaults filled in)."""
        values = {}
        for key, spec in cls.attrs.items():
            a = attributes.get(key)
            if a is None:
                if spec.required:
                    fail(f"requires attribute '{key}' ({ATTR_KINDS[spec.kind][0]})")
                values[key] = spec.default
                continue
            value = ATTR_KINDS[spec.kind][1](a)
            if value is None:
                fail(f"attribute '{key}' must be {ATTR_KINDS[spec.kind][0]}, found {a}")
            if spec.choices and value not in spec.choices:
                fail(f"attribute '{key}' must be one of {', '.join(map(repr, spec.choices))}, "
                     f"found {a}")
            values[key] = value
        for key, a in attributes.items():
            if key in cls.attrs or "." in key:  # dotted names are discardable, as in MLIR
                continue
            spec = COMMON_ATTRS.get(key)
            if spec is None:
                allowed = sorted(set(cls.attrs) | set(COMMON_ATTRS))
                fail(f"has unknown attribute '{key}'; allowed: {', '.join(allowed)} "
                     "(or a dotted name such as 'pimc.note')")
            if ATTR_KINDS[spec.kind][1](a) is None:
                fail(f"attribute '{key}' must be {ATTR_KINDS[spec.kind][0]}, found {a}")
        return values

    def verify_(self) -> None:
        """Op-specific checks beyond the shape rule; override where needed."""


_infer_cache: dict[tuple, tuple[Type, ...] | str] = {}


def infer_results(cls: type[OpDef], types: tuple[Type, ...], values: dict[str, Any]):
    """Memoised `cls.infer`: shape rules over sympy dims are costly, and modules repeat them."""
    key = (cls, types, tuple(values.values()))
    hit = _infer_cache.get(key)
    if hit is None:
        try:
            hit = tuple(cls.infer(types, values))
        except OpInvalid as e:
            hit = str(e)
        _infer_cache[key] = hit
    if isinstance(hit, str):
        raise OpInvalid(hit)
    return hit

