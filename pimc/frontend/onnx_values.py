"""Compile-time values of the ONNX importer: shape arithmetic, constants and shape-only tensors.

ONNX graphs compute shapes with tensors (Shape -> Gather -> Concat -> Reshape). pimc needs those
values while importing (reshape targets, slice bounds), and they depend on the symbolic dims.
A `Known` holds such a value as a numpy array whose integer elements may be sympy expressions
over pimc's symbols (B, T, S). A `Lazy` is a value computed only from Knowns whose *size* is
symbolic (the [T, S] causal mask an SDPA decomposition builds from Expand(1.0, [T, S]) and
Trilu), so it cannot be an array; it keeps its ONNX node and is evaluated, with onnx's reference
implementation of each op, for concrete values of the symbols when its contents are needed.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from functools import reduce

import numpy as np
import onnx
import sympy
from onnx import TensorProto

from pimc.ir.opdef import OpInvalid
from pimc.ir.shapes import broadcast_shapes
from pimc.ir.symbolic import SYMBOL_RE, Dim, as_dim, sym

BOOL_OUT = {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or",
            "Xor", "IsNaN", "IsInf"}
# Ops whose result shape is the broadcast of their inputs' shapes (for Lazy values).
ELEMENTWISE = BOOL_OUT | {"Add", "Sub", "Mul", "Div", "Neg", "Abs", "Where", "Cast", "Identity",
                          "Sqrt", "Reciprocal", "Exp", "Max", "Min", "Pow", "Mod"}


class NeedsLazy(Exception):
    """A symbolic fold cannot give an array (its size or its values depend on the symbols)."""


@dataclass(eq=False)
class Known:
    """A compile-time tensor: numpy data, integers as Python ints or sympy dims (object arrays)."""

    array: np.ndarray
    elem: int  # onnx TensorProto data type

    @classmethod
    def of(cls, array: np.ndarray, elem: int) -> Known:
        array = np.asarray(array)
        if _is_int(elem):
            flat = [as_dim(int(x) if isinstance(x, (np.integer, int)) else x) for x in array.flat]
            array = np.array(flat, dtype=object).reshape(array.shape)
        return cls(array, elem)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def concrete(self) -> bool:
        return self.array.dtype != object or not any(isinstance(x, sympy.Basic)
                                                     for x in self.array.flat)

    def dims(self) -> list[Dim]:
        """The elements as dims (ints or sympy expressions), flattened."""
        return [as_dim(x) if self.array.dtype == object else int(x) for x in self.array.flat]

    def numpy(self, bindings: dict | None = None) -> np.ndarray:
        """Numeric data, with symbols replaced by `bindings`."""
        if self.array.dtype != object:
            return self.array
        values = [int(sympy.sympify(x).xreplace(bindings or {})) for x in self.array.flat]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(self.elem)
        return np.array(values, dtype=dtype).reshape(self.array.shape)

    def symbols(self) -> set:
        if self.array.dtype != object:
            return set()
        return set().union(*(sympy.sympify(x).free_symbols for x in self.array.flat))


@dataclass(eq=False)
class Lazy:
    """A shape-dependent tensor: its ONNX node over compile-time inputs, and its symbolic shape."""

    node: onnx.NodeProto
    inputs: list
    shape: tuple[Dim, ...]
    elem: int
    opset: int

    def symbols(self) -> set:
        found = set().union(*(sympy.sympify(d).free_symbols for d in self.shape))
        for i in self.inputs:
            if i is not None:
                found |= i.symbols()
        return found


@dataclass(eq=False)
class Seq:
    """An ONNX sequence (SplitToSequence) of imported values."""

    items: list


def _is_int(elem: int) -> bool:
    return elem in (TensorProto.INT64, TensorProto.INT32, TensorProto.INT16, TensorProto.INT8,
                    TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64)


def result_elem(node: onnx.NodeProto, attrs: dict, inputs: list) -> int:
    op = node.op_type
    if op in BOOL_OUT:
        return TensorProto.BOOL
    if op == "Cast":
        return attrs["to"]
    if op == "CastLike":
        return inputs[1].elem
    if op == "ConstantOfShape":
        value = attrs.get("value")
        return value.data_type if value is not None else TensorProto.FLOAT
    if op == "Where":
        return inputs[1].elem
    return inputs[0].elem


# ---- evaluating with onnx's reference implementation -------------------------------------------

def run_node(node: onnx.NodeProto, arrays: list, opset: int, cache: dict | None = None) -> list:
    """Run one ONNX node on numpy inputs with onnx.reference (exact ONNX semantics)."""
    from onnx.reference import ReferenceEvaluator
    key = id(node)
    evaluator = cache.get(key) if cache is not None else None
    if evaluator is None:
        evaluator = ReferenceEvaluator(node, opsets={"": opset})
        if cache is not None:
            cache[key] = evaluator
    feeds = {name: a for name, a in zip(node.input, arrays) if name}
    return [np.asarray(r) for r in evaluator.run(None, feeds)]


def evaluate(entry, bindings: dict, cache: dict) -> np.ndarray:
    """A Known or Lazy as a numeric array for concrete symbol values."""
    if isinstance(entry, Known):
        return entry.numpy(bindings)
    args = [None if i is None else evaluate(i, bindings, cache) for i in entry.inputs]
    return run_node(entry.node, args, entry.opset, cache)[0]


def probe_bindings(symbols: set) -> list[dict]:
    """Two assignments of distinct sizes to the symbols, to evaluate shape-dependent values."""
    ordered = sorted(symbols, key=str)
    return [{s: base + 3 * i for i, s in enumerate(ordered)} for base in (5, 7)]


# ---- folding with symbols (object arrays) ------------------------------------------------------

def _ints(k: Known) -> list[int]:
    if not k.concrete:
        raise NeedsLazy
    return [int(x) for x in k.array.flat]


def _vector(fn):
    return lambda attrs, *arrays: np.vectorize(fn, otypes=[object])(*arrays)


def _variadic(fn):
    return lambda attrs, *arrays: reduce(lambda a, b: np.vectorize(fn, otypes=[object])(a, b),
                                         arrays)


def _div(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return int(a / b)  # ONNX integer Div truncates
    return as_dim(a // b)  # dims are positive, where truncation and floor agree


def _equal(a, b):
    diff = as_dim(a - b)
    if isinstance(diff, int):
        return diff == 0
    if sympy.sympify(diff).is_zero is False:  # dims are positive: B + 1 is never 0
        return False
    raise NeedsLazy


def _reshape(attrs, x, shape):
    target = [int(d) for d in shape.flat]
    target = [x.shape[i] if d == 0 and not attrs.get("allowzero") else d
              for i, d in enumerate(target)]
    return x.reshape(target)


def _slice(attrs, x, starts, ends, axes=None, steps=None):
    index = [slice(None)] * x.ndim
    axes = range(len(starts)) if axes is None else axes.flat
    steps = [1] * len(starts) if steps is None else steps.flat
    for a, s, e, st in zip(axes, starts.flat, ends.flat, steps):
        index[int(a) % x.ndim] = slice(int(s), int(e), int(st))
    return x[tuple(index)]


def _unsqueeze(attrs, x, axes):
    rank = x.ndim + axes.size
    for a in sorted(int(a) % rank for a in axes.flat):
        x = np.expand_dims(x, a)
    return x


def _squeeze(attrs, x, axes=None):
    if axes is None:
        return np.squeeze(x)
    return np.squeeze(x, tuple(int(a) % x.ndim for a in axes.flat))


def _expand(attrs, x, shape):
    target = broadcast_shapes(tuple(x.shape), tuple(int(d) for d in shape.flat))
    return np.broadcast_to(x, target).copy()


def _cast(attrs, x):
    if _is_int(attrs["to"]):  # ONNX truncates floats; symbolic dims are ints already
        return np.vectorize(lambda v: v if isinstance(v, sympy.Basic) else int(v),
                            otypes=[object])(x)
    raise NeedsLazy  # a symbolic value as a float: only its evaluation can say


SYMBOLIC = {
    "Identity": lambda attrs, x: x,
    "Cast": _cast,
    "Add": _vector(operator.add), "Sub": _vector(operator.sub), "Mul": _vector(operator.mul),
    "Div": _vector(_div), "Neg": _vector(operator.neg), "Equal": _vector(_equal),
    "Max": _variadic(lambda a, b: as_dim(sympy.Max(a, b))),
    "Min": _variadic(lambda a, b: as_dim(sympy.Min(a, b))),
    "Concat": lambda attrs, *xs: np.concatenate(xs, axis=attrs["axis"]),
    "Gather": lambda attrs, x, idx: np.take(x, idx.astype(np.int64), axis=attrs.get("axis", 0)),
    "Unsqueeze": _unsqueeze, "Squeeze": _squeeze, "Reshape": _reshape, "Slice": _slice,
    "Expand": _expand,
    "Where": lambda attrs, cond, a, b: np.where(cond.astype(bool), a, b),
    "Transpose": lambda attrs, x: np.transpose(x, attrs.get("perm")),
}
# Inputs that must be concrete for SYMBOLIC rules (indices, axes, target shapes).
_CONCRETE_INPUTS = {"Where": (0,), "Gather": (1,), "Unsqueeze": (1,), "Squeeze": (1,), "Reshape": (1,),
                    "Slice": (1, 2, 3, 4), "Expand": (1,)}


def fold_symbolic(node: onnx.NodeProto, attrs: dict, inputs: list[Known | None]) -> Known:
    if node.op_type == "CastLike":  # a Cast to the element type of its second input
        return Known.of(_cast({"to": inputs[1].elem}, inputs[0].array), inputs[1].elem)
    rule = SYMBOLIC.get(node.op_type)
    if rule is None:
        raise NeedsLazy
    arrays = []
    for i, k in enumerate(inputs):
        if k is None:
            arrays.append(None)
        elif i in _CONCRETE_INPUTS.get(node.op_type, ()):
            arrays.append(np.array(_ints(k), dtype=np.int64).reshape(k.shape))
        else:
            arrays.append(k.array)
    while arrays and arrays[-1] is None:
        arrays.pop()
    return Known.of(rule(attrs, *arrays), result_elem(node, attrs, inputs))


# ---- the symbolic shape of a Lazy --------------------------------------------------------------

def _dims(entry) -> list[Dim]:
    if not isinstance(entry, Known):
        raise NeedsLazy  # a shape that is itself shape-dependent data: beyond pimc
    return entry.dims()


def lazy_shape(node: onnx.NodeProto, attrs: dict, inputs: list) -> tuple[Dim, ...] | None:
    """The result shape of `node` over compile-time inputs, or None if pimc cannot say."""
    op, present = node.op_type, [i for i in inputs if i is not None]
    try:
        if op in ELEMENTWISE:
            return reduce(broadcast_shapes, [i.shape for i in present])
        if op in ("CastLike", "Trilu"):
            return inputs[0].shape
        if op == "Expand":
            return broadcast_shapes(inputs[0].shape, tuple(_dims(inputs[1])))
        if op == "ConstantOfShape":
            return tuple(_dims(inputs[0]))
        if op == "Range":
            start, limit, delta = (_dims(i)[0] for i in inputs)
            if delta != 1:
                return None
            return (as_dim(limit - start),)
        if op == "Unsqueeze":
            shape, axes = list(inputs[0].shape), [int(a) for a in _dims(inputs[1])]
            rank = len(shape) + len(axes)
            for a in sorted(a % rank for a in axes):
                shape.insert(a, 1)
            return tuple(shape)
    except (NeedsLazy, OpInvalid):
        return None
    return None


def make_lazy(node, attrs, inputs, opset) -> Lazy | None:
    shape = lazy_shape(node, attrs, inputs)
    if shape is None:
        return None
    return Lazy(node, inputs, shape, result_elem(node, attrs, inputs), opset)


def is_splat(arrays: list[np.ndarray]) -> float | None:
    """The one value every element of every array has, if there is one."""
    values = {float(v) for a in arrays for v in np.unique(a)} if arrays else set()
    return values.pop() if len(values) == 1 else None


def causal_fill(arrays: list[np.ndarray]) -> float | None:
    """If each array is an additive causal mask [..., T, S] (0 where key j <= i + S - T, a very
    negative value elsewhere, pimc's bottom-right alignment), the masked value; else None."""
    fills = set()
    for a in arrays:
        if a.ndim < 2 or a.dtype.kind != "f" or any(d != 1 for d in a.shape[:-2]):
            return None
        t, s = a.shape[-2:]
        m = a.reshape(t, s)
        allowed = np.arange(s)[None, :] <= np.arange(t)[:, None] + (s - t)
        if not np.all(m[allowed] == 0) or np.all(allowed):
            return None
        masked = m[~allowed]
        if not np.all(masked == masked.flat[0]) or not masked.flat[0] <= -1e30:
            return None
        fills.add(float(masked.flat[0]))
    return fills.pop() if len(fills) == 1 else None


# ---- names of dims nobody named --------------------------------------------------------------

# Inputs whose dims have a known role, whatever the file names them: the decoder step's batch
# (B), new tokens (T) and past length (S), as pimc's HF capture names its inputs and as the
# exporters do (optimum's and genai's past_key_values.N.key); attention_mask spans past and new
# tokens when the graph takes a past (PAST_INPUT), else the new tokens alone.
_HF_DIMS = [(re.compile(r"input_ids|position_ids"), {0: "B", 1: "T"}),
            (re.compile(r"attention_mask"), {0: "B"}),
            (re.compile(r"past_(keys|values)_\d+|past_key_values\.\d+\.(key|value)"),
             {0: "B", 2: "S"})]
PAST_INPUT = _HF_DIMS[2][0]
# The dim_params the ecosystem's exporters write (optimum, onnxruntime-genai), as pimc's
# symbols: the same B, T and S (past length) as pimc's own capture.
_EXPORTER_DIMS = {"batch_size": "B", "batch": "B", "sequence_length": "T",
                  "past_sequence_length": "S"}


def default_dim(input_name: str, axis: int, param: str, past: bool) -> sympy.Expr:
    """pimc's dim for a dim_param nobody named: by the input's role (`_HF_DIMS`; `past`: the
    graph takes a past), else by the exporters' names (batch_size, sequence_length,
    past_sequence_length), else a symbol of the name in upper case."""
    if input_name == "attention_mask" and axis == 1:
        return sym("S") + sym("T") if past else sym("T")
    for pattern, names in _HF_DIMS:
        if pattern.fullmatch(input_name) and axis in names:
            return sym(names[axis])
    if param in _EXPORTER_DIMS:
        return sym(_EXPORTER_DIMS[param])
    name = re.sub(r"[^A-Za-z0-9_]", "_", param).upper()
    return sym(name if SYMBOL_RE.fullmatch(name) else f"D_{name}")
