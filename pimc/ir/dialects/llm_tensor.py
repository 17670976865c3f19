"""llm dialect, part 1: elementwise math, reductions and data movement.

These are the fine-grained ops that frontends emit and that the `llm.py` ops are raised from.
Every op is pure. Shapes are symbolic-aware; see `pimc.ir.shapes`.
"""
from __future__ import annotations

from pimc.ir.opdef import Attr, OpDef, fail
from pimc.ir.shapes import (broadcast_shapes, broadcasts_to, dims_equal_tuple, norm_axis,
                            require_float, require_int, same_element, tensor)
from pimc.ir.symbolic import as_dim, dim_str, dims_equal
from pimc.ir.types import TensorType, i64


class UnaryOp(OpDef):
    """Elementwise op on a float tensor; the result has the operand's type."""

    operand_names = ("x",)
    traits = frozenset({"pure", "elementwise"})

    @staticmethod
    def infer(types, attrs):
        x = tensor(types[0], "operand")
        require_float(x, "operand")
        return (x,)


class BinaryOp(OpDef):
    """Elementwise op with NumPy broadcasting; both operands share an element type."""

    operand_names = ("lhs", "rhs")
    traits = frozenset({"pure", "elementwise"})

    @staticmethod
    def infer(types, attrs):
        a, b = tensor(types[0], "lhs"), tensor(types[1], "rhs")
        elem = same_element((a, b))
        return (TensorType(broadcast_shapes(a.shape, b.shape), elem),)


def _unary(name: str, summary: str, **attrs) -> type[UnaryOp]:
    return type(name.title().replace("_", "") + "Op", (UnaryOp,),
                {"__slots__": (), "name": f"llm.{name}", "summary": summary, "attrs": attrs})


def _binary(name: str, summary: str) -> type[BinaryOp]:
    return type(name.title() + "Op", (BinaryOp,),
                {"__slots__": (), "name": f"llm.{name}", "summary": summary})


UNARY = [
    _unary("silu", "x * sigmoid(x)"),
    _unary("gelu", "Gaussian error linear unit (exact erf, or the tanh approximation)",
           approximate=Attr("str", "none", choices=("none", "tanh"))),
    _unary("relu", "max(x, 0)"), _unary("sigmoid", "1 / (1 + exp(-x))"),
    _unary("neg", "-x"), _unary("exp", "e^x"), _unary("tanh", "hyperbolic tangent"),
    _unary("sqrt", "square root"), _unary("rsqrt", "1 / sqrt(x)"),
    _unary("reciprocal", "1 / x"), _unary("cos", "cosine"), _unary("sin", "sine"),
    _unary("pow_scalar", "x ** exponent", exponent=Attr("float")),
]
BINARY = [_binary("add", "a + b"), _binary("sub", "a - b"), _binary("mul", "a * b"),
          _binary("div", "a / b"), _binary("maximum", "max(a, b)"),
          _binary("minimum", "min(a, b)")]


class ReduceOp(OpDef):
    operand_names = ("x",)
    attrs = {"axes": Attr("ints"), "keepdim": Attr("bool", False)}

    @staticmethod
    def infer(types, attrs):
        x = tensor(types[0], "operand")
        axes = {norm_axis(a, x.rank) for a in attrs["axes"]}
        if len(axes) != len(attrs["axes"]):
            fail(f"attribute 'axes' repeats an axis: {list(attrs['axes'])}")
        shape = [1 if i in axes else d for i, d in enumerate(x.shape)
                 if attrs["keepdim"] or i not in axes]
        return (x.with_shape(shape),)


REDUCE = [type(f"Reduce{k.title()}Op", (ReduceOp,),
               {"__slots__": (), "name": f"llm.reduce_{k}", "summary": f"{k} over `axes`"})
          for k in ("sum", "mean", "max")]


class WeightOp(OpDef):
    """A parameter, by handle into the weights store beside the IR (never inline data)."""

    name, summary = "llm.weight", "a named parameter from the weights store"
    attrs = {"handle": Attr("weight")}

    def verify_(self):
        tensor(self.result.type, "result")


class ConstantOp(OpDef):
    """A tensor filled with one scalar (a rank-0 tensor for scalars in arithmetic)."""

    name, summary = "llm.constant", "a splat of a scalar value"
    attrs = {"value": Attr("float")}

    def verify_(self):
        tensor(self.result.type, "result")


class _ResultShapedOp(OpDef):
    """A one-operand op whose result type, not a shape rule, gives its shape."""

    operand_names = ("x",)

    def operand_and_result(self, same_elements: bool = True) -> tuple[TensorType, TensorType]:
        x, r = tensor(self.x.type, "operand"), tensor(self.result.type, "result")
        if same_elements:
            same_element((x, r), "operand and result")
        return x, r


class ReshapeOp(_ResultShapedOp):
    name, summary = "llm.reshape", "same elements, new shape (given by the result type)"

    def verify_(self):
        x, r = self.operand_and_result()
        if not dims_equal(x.numel, r.numel):
            fail(f"changes the element count: {dim_str(x.numel)} -> {dim_str(r.numel)} "
                 f"({x} -> {r})")


class CastOp(_ResultShapedOp):
    name, summary = "llm.cast", "elementwise conversion to the result's element type"

    def verify_(self):
        x, r = self.operand_and_result(same_elements=False)
        if not dims_equal_tuple(x.shape, r.shape):
            fail(f"must keep the shape: {x} -> {r}")


class TransposeOp(OpDef):
    name, summary = "llm.transpose", "permute dims: result dim i = operand dim perm[i]"
    operand_names = ("x",)
    attrs = {"perm": Attr("ints")}

    @staticmethod
    def infer(types, attrs):
        x, perm = tensor(types[0], "operand"), attrs["perm"]
        if sorted(perm) != list(range(x.rank)):
            fail(f"attribute 'perm' {list(perm)} is not a permutation of 0..{x.rank - 1}")
        return (x.with_shape(x.shape[p] for p in perm),)


class ConcatOp(OpDef):
    name, summary = "llm.concat", "join tensors along `axis`"
    operand_names = ("inputs*",)
    attrs = {"axis": Attr("int")}

    @staticmethod
    def infer(types, attrs):
        if not types:
            fail("needs at least one operand")
        ts = tuple(tensor(t, f"operand #{i}", min_rank=1) for i, t in enumerate(types))
        elem, first = same_element(ts), ts[0]
        axis = norm_axis(attrs["axis"], first.rank)
        for i, t in enumerate(ts[1:], 1):
            if t.rank != first.rank or not all(dims_equal(a, b) for j, (a, b) in
                                                enumerate(zip(t.shape, first.shape)) if j != axis):
                fail(f"operand #{i} {t} does not match operand #0 {first} outside axis {axis}")
        shape = list(first.shape)
        shape[axis] = as_dim(sum(t.shape[axis] for t in ts))
        return (TensorType(tuple(shape), elem),)


class SliceOp(OpDef):
    name, summary = "llm.slice", "elements start, start+step, ... < end along `axis`"
    operand_names = ("x",)
    attrs = {"axis": Attr("int"), "start": Attr("dim"), "end": Attr("dim"), "step": Attr("int", 1)}

    @staticmethod
    def infer(types, attrs):
        x = tensor(types[0], "operand", min_rank=1)
        axis = norm_axis(attrs["axis"], x.rank)
        start, end, step, size = attrs["start"], attrs["end"], attrs["step"], x.shape[axis]
        if step < 1:
            fail(f"attribute 'step' must be >= 1, found {step}")
        if all(isinstance(v, int) for v in (start, end, size)) and not 0 <= start <= end <= size:
            fail(f"range {start}:{end} is outside dim {axis} of size {size}")
        shape = list(x.shape)
        shape[axis] = as_dim((end - start + step - 1) // step)
        return (x.with_shape(shape),)


class GatherOp(OpDef):
    name, summary = "llm.gather", "torch.gather: out[i][j] = x[i][indices[i][j]] along `axis`"
    operand_names = ("x", "indices")
    attrs = {"axis": Attr("int")}

    @staticmethod
    def infer(types, attrs):
        x, idx = tensor(types[0], "x"), tensor(types[1], "indices")
        require_int(idx, "indices")
        if idx.rank != x.rank:
            fail(f"indices must have the rank of x ({x.rank}), found {idx}")
        norm_axis(attrs["axis"], x.rank)
        return (idx.with_element(x.element),)


class EmbeddingOp(OpDef):
    name, summary = "llm.embedding", "rows of `table` picked by integer `ids`"
    operand_names = ("ids", "table")

    @staticmethod
    def infer(types, attrs):
        ids, table = tensor(types[0], "ids"), tensor(types[1], "table", rank=2)
        require_int(ids, "ids")
        return (TensorType(ids.shape + (table.shape[1],), table.element),)


class TopkOp(OpDef):
    name, summary = "llm.topk", "the k largest values along `axis` and their indices"
    operand_names = ("x",)
    attrs = {"k": Attr("int"), "axis": Attr("int", -1)}
    num_results = 2

    @staticmethod
    def infer(types, attrs):
        x = tensor(types[0], "operand", min_rank=1)
        axis, k = norm_axis(attrs["axis"], x.rank), attrs["k"]
        if k < 1 or (isinstance(x.shape[axis], int) and k > x.shape[axis]):
            fail(f"attribute 'k' = {k} must be in 1..{dim_str(x.shape[axis])}")
        shape = x.shape[:axis] + (k,) + x.shape[axis + 1:]
        return (x.with_shape(shape), TensorType(shape, i64))


class ArangeOp(OpDef):
    """start, start+step, ...: positions (cache_position = arange(S, S+T) in HF decoders)."""

    name, summary = "llm.arange", "a 1-D ramp start + i*step, its length given by the result type"
    attrs = {"start": Attr("dim", 0), "step": Attr("int", 1)}

    def verify_(self):
        tensor(self.result.type, "result", rank=1)


class ExpandOp(_ResultShapedOp):
    name, summary = "llm.expand", "broadcast to the result type's shape (NumPy rules)"

    def verify_(self):
        x, r = self.operand_and_result()
        broadcasts_to(x.shape, r.shape, "operand")


class TakeOp(OpDef):
    name, summary = "llm.take", "numpy.take: slices of x picked by integer indices along `axis`"
    operand_names = ("x", "indices")
    attrs = {"axis": Attr("int", 0)}

    @staticmethod
    def infer(types, attrs):
        x, idx = tensor(types[0], "x", min_rank=1), tensor(types[1], "indices")
        require_int(idx, "indices")
        axis = norm_axis(attrs["axis"], x.rank)
        return (x.with_shape(x.shape[:axis] + idx.shape + x.shape[axis + 1:]),)


OPS = [*UNARY, *BINARY, *REDUCE, WeightOp, ConstantOp, ReshapeOp, CastOp, TransposeOp,
       ConcatOp, SliceOp, GatherOp, EmbeddingOp, TopkOp, ArangeOp, ExpandOp, TakeOp]
