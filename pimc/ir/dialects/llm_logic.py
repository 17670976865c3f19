"""llm dialect, part 3: comparisons, logic, selection and index arithmetic.

Graphs exported as they are (ONNX from optimum or torch.onnx's dynamo exporter) compute masks and
guards with these: HF's padding + causal mask is comparisons of position ramps and `and`s of
booleans, the NaN guard after a masked softmax is `where(isnan(p), 0, p)`, OPT's positions are a
cumulative sum of the attention mask. Booleans are `i1`. Their numpy semantics are in
`pimc/ir/logic_reference.py`. Every op is pure.
"""
from __future__ import annotations

from pimc.ir.dialects.llm_tensor import BinaryOp, UnaryOp
from pimc.ir.opdef import Attr, OpDef, fail
from pimc.ir.shapes import (broadcast_shapes, norm_axis, require_int,
                            same_element, tensor)
from pimc.ir.types import ELEMENT_TYPES, TensorType

i1 = ELEMENT_TYPES["i1"]
PREDICATES = ("eq", "ne", "lt", "le", "gt", "ge")
LOGICAL = ("and", "or", "xor")


def _boolean_of_two(types, booleans: bool) -> tuple[TensorType]:
    """The broadcast shape of two operands of one element type (i1 if `booleans`), as i1."""
    a, b = tensor(types[0], "lhs"), tensor(types[1], "rhs")
    elem = same_element((a, b))
    if booleans and elem != i1:
        fail(f"operands must be boolean (i1), found {a} and {b}")
    return (TensorType(broadcast_shapes(a.shape, b.shape), i1),)


class _TwoToBoolean(OpDef):
    """Elementwise over two broadcast operands, with a boolean result."""

    operand_names = ("lhs", "rhs")
    traits = frozenset({"pure", "elementwise"})


class CompareOp(_TwoToBoolean):
    name, summary = "llm.compare", "lhs <predicate> rhs elementwise, broadcast, as booleans"
    attrs = {"predicate": Attr("str", choices=PREDICATES)}
    infer = staticmethod(lambda types, attrs: _boolean_of_two(types, booleans=False))


class LogicalOp(_TwoToBoolean):
    name, summary = "llm.logical", "boolean and / or / xor, broadcast"
    attrs = {"op": Attr("str", choices=LOGICAL)}
    infer = staticmethod(lambda types, attrs: _boolean_of_two(types, booleans=True))


class NotOp(OpDef):
    name, summary = "llm.not", "boolean negation"
    operand_names = ("x",)
    traits = frozenset({"pure", "elementwise"})

    @staticmethod
    def infer(types, attrs):
        x = tensor(types[0], "operand")
        if x.element != i1:
            fail(f"operand must be boolean (i1), found {x}")
        return (x,)


class IsNanOp(OpDef):
    name, summary = "llm.isnan", "true where x is NaN"
    operand_names = ("x",)
    traits = frozenset({"pure", "elementwise"})

    @staticmethod
    def infer(types, attrs):
        (x,) = UnaryOp.infer(types, attrs)  # a float operand
        return (x.with_element(i1),)


class WhereOp(OpDef):
    name, summary = "llm.where", "a where cond, else b (numpy broadcasting over all three)"
    operand_names = ("cond", "a", "b")
    traits = frozenset({"pure", "elementwise"})

    @staticmethod
    def infer(types, attrs):
        c, a, b = tensor(types[0], "cond"), tensor(types[1], "a"), tensor(types[2], "b")
        if c.element != i1:
            fail(f"cond must be boolean (i1), found {c}")
        elem = same_element((a, b), "a and b")
        return (TensorType(broadcast_shapes(broadcast_shapes(c.shape, a.shape), b.shape), elem),)


class CumsumOp(OpDef):
    name, summary = "llm.cumsum", "running sum along `axis` (exclusive: without the element itself)"
    operand_names = ("x",)
    attrs = {"axis": Attr("int"), "exclusive": Attr("bool", False), "reverse": Attr("bool", False)}

    @staticmethod
    def infer(types, attrs):
        x = tensor(types[0], "operand", min_rank=1)
        norm_axis(attrs["axis"], x.rank)
        return (x,)


class TriluOp(OpDef):
    name = "llm.trilu"
    summary = "keep the upper (or lower) triangle of the last two dims from diagonal k, zero the rest"
    operand_names = ("x",)
    attrs = {"upper": Attr("bool", True), "k": Attr("dim", 0)}

    @staticmethod
    def infer(types, attrs):
        return (tensor(types[0], "operand", min_rank=2),)


class ScatterNdOp(OpDef):
    name, summary = "llm.scatter_nd", "ONNX ScatterND: a copy of data with updates written at indices"
    operand_names = ("data", "indices", "updates")

    @staticmethod
    def infer(types, attrs):
        data, idx = tensor(types[0], "data"), tensor(types[1], "indices", min_rank=1)
        updates = tensor(types[2], "updates")
        require_int(idx, "indices")
        same_element((data, updates), "data and updates")
        depth = idx.shape[-1]
        if not isinstance(depth, int) or depth > data.rank:
            fail(f"indices' last dim must be a static count <= data's rank, found {idx}")
        want = idx.shape[:-1] + data.shape[depth:]
        if updates.rank != len(want):
            fail(f"updates must have shape indices[:-1] + data[{depth}:], found {updates}")
        return (data,)


ErfOp = type("ErfOp", (UnaryOp,), {"__slots__": (), "name": "llm.erf",
                                     "summary": "the error function", "attrs": {}})
ModOp = type("ModOp", (BinaryOp,), {"__slots__": (), "name": "llm.mod",
                                     "summary": "a mod b (the sign of b, as Python and ONNX fmod=0)"})

OPS = [CompareOp, LogicalOp, NotOp, IsNanOp, WhereOp, CumsumOp, TriluOp, ScatterNdOp, ErfOp, ModOp]
