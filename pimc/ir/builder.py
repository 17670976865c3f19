"""Programmatic IR construction with result-type inference, for frontends, passes and tests.

    b = Builder.at_end(func.body)
    h = b.op("llm.matmul", x, w, transpose_b=True)       # result type inferred
    r = b.op("llm.reshape", h, result_type=TensorType(...))  # ops without a shape rule
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sympy

from pimc.errors import VerifyError
from pimc.ir.attrs import (ArrayAttr, Attribute, BoolAttr, DictAttr, FloatAttr, IntAttr,
                           StrAttr, SymAttr, TypeAttr)
from pimc.ir.core import Block, Operation, Value
from pimc.ir.dialects import op_class
from pimc.ir.location import Location
from pimc.ir.opdef import OpDef, OpInvalid, infer_results
from pimc.ir.types import Type


def to_attr(value: Any) -> Attribute:
    """Python value -> attribute: bool, int, float, str, list/tuple, dict, Type, sympy expr."""
    if isinstance(value, Attribute):
        return value
    if isinstance(value, bool):
        return BoolAttr(value)
    if isinstance(value, int):
        return IntAttr(value)
    if isinstance(value, float):
        return FloatAttr(value)
    if isinstance(value, str):
        return StrAttr(value)
    if isinstance(value, (list, tuple)):
        return ArrayAttr(tuple(map(to_attr, value)))
    if isinstance(value, dict):
        return DictAttr.of({k: to_attr(v) for k, v in value.items()})
    if isinstance(value, Type):
        return TypeAttr(value)
    if isinstance(value, sympy.Expr):
        return IntAttr(int(value)) if value.is_Integer else SymAttr(value)
    raise TypeError(f"cannot turn {value!r} into an attribute")


class Builder:
    """Inserts new ops at the end of a block, or before an anchor op."""

    def __init__(self, block: Block, before: Operation | None = None, loc: Location | None = None):
        self.block, self.before, self.loc = block, before, loc

    @classmethod
    def at_end(cls, block: Block, loc: Location | None = None) -> Builder:
        return cls(block, None, loc)

    @classmethod
    def before_op(cls, op: Operation) -> Builder:
        return cls(op.parent, op, op.loc)

    def insert(self, op: Operation) -> Operation:
        if self.before is None:
            self.block.append(op)
        else:
            self.block.insert_before(op, self.before)
        return op

    def create(self, name: str | type[OpDef], operands: Sequence[Value] = (),
               attributes: dict[str, Any] | None = None,
               result_types: Sequence[Type] | None = None, loc: Location | None = None,
               names: Sequence[str | None] = ()) -> Operation:
        cls = op_class(name) if isinstance(name, str) else name
        attrs = {k: to_attr(v) for k, v in (attributes or {}).items() if v is not None}
        if result_types is None:
            if cls.infer is None:
                raise VerifyError(f"'{cls.name}' has no shape rule: pass result_type=")
            try:
                values = cls.attr_values(attrs)
                result_types = infer_results(cls, tuple(v.type for v in operands), values)
            except OpInvalid as e:
                raise VerifyError(f"cannot build '{cls.name}': {e}") from None
        op = cls(operands, result_types, attrs, loc=loc or self.loc)
        for r, n in zip(op.results, names):
            r.name_hint = n
        return self.insert(op)

    def op(self, name: str, *operands: Value, result_type: Type | None = None,
           name_hint: str | None = None, **attributes: Any) -> Value | tuple[Value, ...]:
        """Create an op and return its result (or results, when there are several)."""
        op = self.create(name, operands, attributes,
                         None if result_type is None else [result_type],
                         names=[name_hint] if name_hint else ())
        return op.results[0] if len(op.results) == 1 else tuple(op.results)
