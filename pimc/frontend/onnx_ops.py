"""The ONNX -> llm rule table used by the ONNX importer (`onnx_import.py`).

A rule takes the importer, the node and its attributes, and returns the node's results: IR
Values, compile-time `Known`s, a `Seq`, or None for outputs pimc does not produce. Rules aim at
the llm ops the torch.export frontend emits for the same model, so one set of raise-llm-ops
patterns serves both: an N-D x 2-D MatMul is flattened to a 2-D GEMM between reshapes (ATen's
decomposition of matmul and linear), Gemm becomes matmul + add like aten.addmm, and a Gather of
rows of a 2-D table is an embedding.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable

import onnx
import sympy

from pimc.frontend.onnx_import import ELEMENTS, OnnxImporter, UnsupportedOnnxOp
from pimc.frontend.onnx_values import Known, Seq
from pimc.ir.core import Value
from pimc.ir.shapes import broadcast_shapes
from pimc.ir.symbolic import as_dim, dims_equal, product
from pimc.ir.types import TensorType

Rule = Callable[[OnnxImporter, onnx.NodeProto, dict], list]
# op key -> rule: "MatMul" for the default domain, "domain::Op" for others
# ("com.microsoft::GroupQueryAttention"). Other modules add rules with @rule; the modules in
# EXTENSIONS are imported (if present) before the first lookup, so their rules are registered.
RULES: dict[str, Rule] = {}
EXTENSIONS = ["pimc.frontend.onnx_logic", "pimc.frontend.onnx_contrib", "pimc.frontend.onnx_moe"]
_loaded: set[str] = set()
_HUGE = 2 ** 62  # ONNX spells "to the end" as INT64_MAX (and "from the start" as INT64_MIN)


def rule(*op_types: str):
    """Register a rule for each op key ("Op" or "domain::Op")."""
    def register(fn: Rule) -> Rule:
        for t in op_types:
            RULES[t] = fn
        return fn
    return register


def op_key(node: onnx.NodeProto) -> str:
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"


def lookup(node: onnx.NodeProto) -> Rule | None:
    """The rule for `node`, after importing the extension modules once."""
    for name in EXTENSIONS:
        if name not in _loaded:
            _loaded.add(name)
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as e:
                if e.name != name:  # the extension exists but something it imports does not
                    raise
    return RULES.get(op_key(node))


def _x(im: OnnxImporter, node, i: int = 0) -> Value:
    return im.value(node.input[i])


def _has(node, i: int) -> bool:
    return len(node.input) > i and bool(node.input[i])


def _reshape(im: OnnxImporter, x: Value, shape) -> Value:
    t = TensorType(tuple(as_dim(d) for d in shape), x.type.element)
    return x if t == x.type else im.b.op("llm.reshape", x, result_type=t)


# ---- elementwise ----
_UNARY = {"Neg": "llm.neg", "Sqrt": "llm.sqrt", "Reciprocal": "llm.reciprocal", "Exp": "llm.exp",
          "Tanh": "llm.tanh", "Sigmoid": "llm.sigmoid", "Relu": "llm.relu", "Cos": "llm.cos",
          "Sin": "llm.sin"}
for _op, _name in _UNARY.items():
    RULES[_op] = (lambda n: lambda im, node, attrs: [im.b.op(n, _x(im, node))])(_name)

_BINARY = {"Add": "llm.add", "Sub": "llm.sub", "Mul": "llm.mul", "Div": "llm.div"}
for _op, _name in _BINARY.items():
    RULES[_op] = (lambda n: lambda im, node, attrs: [im.b.op(n, _x(im, node, 0),
                                                             _x(im, node, 1))])(_name)


@rule("Max", "Min")
def _max_min(im, node, attrs):
    name = "llm.maximum" if node.op_type == "Max" else "llm.minimum"
    out = _x(im, node, 0)
    for i in range(1, len(node.input)):  # a one-input Max is the identity
        out = im.b.op(name, out, _x(im, node, i))
    return [out]


@rule("Pow")
def _pow(im, node, attrs):
    exponent = im.known(node.input[1], node).numpy()
    if exponent.size != 1:
        raise UnsupportedOnnxOp(f"Pow at {im.where(node)}: pimc supports a scalar exponent")
    return [im.b.op("llm.pow_scalar", _x(im, node), exponent=float(exponent.flat[0]))]


@rule("Gelu")
def _gelu(im, node, attrs):
    approximate = attrs.get("approximate", b"none")  # onnx gives string attributes as bytes
    return [im.b.op("llm.gelu", _x(im, node), approximate=approximate.decode())]


@rule("Identity")
def _identity(im, node, attrs):
    return [im.entry(node.input[0])]


@rule("Cast", "CastLike")
def _cast(im, node, attrs):
    elem = attrs["to"] if node.op_type == "Cast" else _elem_of(im, node.input[1])
    entry = im.entry(node.input[0])
    if isinstance(entry, Known) and entry.concrete:  # a constant cast like a runtime tensor
        dtype = onnx.helper.tensor_dtype_to_np_dtype(elem)
        return [Known.of(entry.numpy().astype(dtype), elem)]
    x = _x(im, node)
    t = x.type.with_element(im.element(elem, f"{node.op_type} at {im.where(node)}"))
    return [x if t == x.type else im.b.op("llm.cast", x, result_type=t)]


def _elem_of(im, name: str) -> int:
    entry = im.entry(name)
    if not isinstance(entry, Value):  # Known, Lazy and weights know their ONNX element type
        return entry.elem
    return {v: k for k, v in ELEMENTS.items()}[entry.type.element.name]


# ---- linear algebra ----
@rule("MatMul")
def _matmul(im, node, attrs):
    a, b = _x(im, node, 0), _x(im, node, 1)
    if a.type.rank < 2 or b.type.rank < 2:
        raise UnsupportedOnnxOp(f"MatMul at {im.where(node)}: pimc supports operands of rank "
                                f">= 2, found {a.type} and {b.type}")
    if a.type.rank > 2 and b.type.rank == 2:  # fold the batch dims into one GEMM, as ATen does
        lead = a.type.shape[:-1]
        flat = _reshape(im, a, (product(lead), a.type.shape[-1]))
        return [_reshape(im, im.b.op("llm.matmul", flat, b), lead + (b.type.shape[-1],))]
    return [im.b.op("llm.matmul", a, b)]


@rule("Gemm")
def _gemm(im, node, attrs):
    a, b = _x(im, node, 0), _x(im, node, 1)
    if attrs.get("transA", 0):
        a = im.b.op("llm.transpose", a, perm=[1, 0])
    if attrs.get("transB", 0):
        b = im.b.op("llm.transpose", b, perm=[1, 0])
    y = im.b.op("llm.matmul", a, b)
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    if alpha != 1.0:
        y = im.b.op("llm.mul", y, _scalar(im, alpha, y))
    if _has(node, 2):
        c = _x(im, node, 2)
        if beta != 1.0:
            c = im.b.op("llm.mul", c, _scalar(im, beta, c))
        y = im.b.op("llm.add", y, c)
    return [y]


def _scalar(im, value: float, like: Value) -> Value:
    return im.b.op("llm.constant", result_type=TensorType((), like.type.element), value=value)


# ---- normalisation, reductions, softmax ----
@rule("Softmax")
def _softmax(im, node, attrs):
    x = _x(im, node)
    return [im.b.op("llm.softmax", x, axis=attrs.get("axis", -1) % x.type.rank)]


@rule("LayerNormalization")
def _layernorm(im, node, attrs):
    x = _x(im, node)
    if attrs.get("axis", -1) % x.type.rank != x.type.rank - 1:
        raise UnsupportedOnnxOp(f"LayerNormalization at {im.where(node)}: pimc normalises "
                                "over the last axis only")
    params = [_x(im, node, i) for i in (1, 2) if _has(node, i)]
    return [im.b.op("llm.layernorm", x, *params, eps=float(attrs.get("epsilon", 1e-5)))]


@rule("ReduceMean", "ReduceSum", "ReduceMax")
def _reduce(im, node, attrs):
    x = _x(im, node)
    axes = attrs.get("axes")
    if axes is None and _has(node, 1):
        axes = im.known(node.input[1], node).dims()
    if not axes:
        if attrs.get("noop_with_empty_axes", 0):
            return [x]
        axes = list(range(x.type.rank))
    name = {"ReduceMean": "llm.reduce_mean", "ReduceSum": "llm.reduce_sum",
            "ReduceMax": "llm.reduce_max"}[node.op_type]
    return [im.b.op(name, x, axes=[int(a) % x.type.rank for a in axes],
                    keepdim=bool(attrs.get("keepdims", 1)))]


@rule("TopK")
def _topk(im, node, attrs):
    x = _x(im, node)
    if not attrs.get("largest", 1):
        raise UnsupportedOnnxOp(f"TopK at {im.where(node)}: pimc supports largest=1 only")
    k = im.known(node.input[1], node).dims()
    return list(im.b.op("llm.topk", x, k=int(k[0]), axis=attrs.get("axis", -1) % x.type.rank))


# ---- data movement ----
@rule("Reshape")
def _reshape_rule(im, node, attrs):
    x = _x(im, node)
    target = im.known(node.input[1], node).dims()
    target = [x.type.shape[i] if isinstance(d, int) and d == 0 and not attrs.get("allowzero")
              else d for i, d in enumerate(target)]
    if -1 in target:
        rest = product([d for d in target if not (isinstance(d, int) and d == -1)])
        inferred = sympy.cancel(sympy.sympify(x.type.numel) / rest)
        if sympy.fraction(inferred)[1] != 1:
            raise UnsupportedOnnxOp(f"Reshape at {im.where(node)}: {x.type} does not split into "
                                    f"{target}")
        target[target.index(-1)] = as_dim(inferred)
    return [_reshape(im, x, target)]


@rule("Unsqueeze")
def _unsqueeze(im, node, attrs):
    x = _x(im, node)
    axes = im.known(node.input[1], node).dims()
    shape, rank = list(x.type.shape), x.type.rank + len(axes)
    for a in sorted(int(a) % rank for a in axes):
        shape.insert(a, 1)
    return [_reshape(im, x, shape)]


@rule("Squeeze")
def _squeeze(im, node, attrs):
    x = _x(im, node)
    rank = x.type.rank
    if _has(node, 1):
        axes = {int(a) % rank for a in im.known(node.input[1], node).dims()}
    else:
        axes = {i for i, d in enumerate(x.type.shape) if d == 1}
    return [_reshape(im, x, [d for i, d in enumerate(x.type.shape) if i not in axes])]


@rule("Flatten")
def _flatten(im, node, attrs):
    x = _x(im, node)
    axis = attrs.get("axis", 1) % (x.type.rank + 1)
    return [_reshape(im, x, (product(x.type.shape[:axis]), product(x.type.shape[axis:])))]


@rule("Transpose")
def _transpose(im, node, attrs):
    x = _x(im, node)
    perm = attrs.get("perm") or list(reversed(range(x.type.rank)))
    return [im.b.op("llm.transpose", x, perm=[int(p) for p in perm])]


@rule("Expand")
def _expand(im, node, attrs):
    x = _x(im, node)
    shape = broadcast_shapes(x.type.shape, tuple(im.known(node.input[1], node).dims()))
    t = x.type.with_shape(shape)
    return [x if t == x.type else im.b.op("llm.expand", x, result_type=t)]


@rule("Concat")
def _concat(im, node, attrs):
    xs = [_x(im, node, i) for i in range(len(node.input))]
    axis = attrs["axis"] % xs[0].type.rank
    xs = [x for x in xs if not (isinstance(x.type.shape[axis], int) and x.type.shape[axis] == 0)]
    return [xs[0] if len(xs) == 1 else im.b.op("llm.concat", *xs, axis=axis)]


def _bound(v, size):
    """An ONNX slice bound as a position in 0..size (symbolic bounds are taken as in range)."""
    if not isinstance(v, int):
        return v
    if v >= _HUGE:
        return size
    if v < 0:
        v = 0 if v <= -_HUGE else as_dim(size + v)
    return min(v, size) if isinstance(v, int) and isinstance(size, int) else v


def _slice_axis(im, x: Value, axis: int, start, end, step: int = 1) -> Value:
    size = x.type.shape[axis]
    start, end = _bound(start, size), _bound(end, size)
    if start == 0 and dims_equal(end, size) and step == 1:
        return x
    return im.b.op("llm.slice", x, axis=axis, start=start, end=end, step=step)


@rule("Slice")
def _slice(im, node, attrs):
    x = _x(im, node)
    starts = im.known(node.input[1], node).dims()
    ends = im.known(node.input[2], node).dims()
    axes = im.known(node.input[3], node).dims() if _has(node, 3) else range(len(starts))
    steps = im.known(node.input[4], node).dims() if _has(node, 4) else [1] * len(starts)
    for axis, start, end, step in zip(axes, starts, ends, steps):
        if not isinstance(step, int) or step < 1:
            raise UnsupportedOnnxOp(f"Slice at {im.where(node)}: pimc supports positive "
                                    f"constant steps, found {step}")
        x = _slice_axis(im, x, int(axis) % x.type.rank, start, end, step)
    return [x]


def _split_sizes(im, node, x: Value, axis: int, sizes, count: int | None) -> list[Value]:
    total = x.type.shape[axis]
    if sizes is None:
        sizes = [as_dim(total // count)] * count
    parts, start = [], 0
    for n in sizes:
        end = as_dim(start + n)
        parts.append(_slice_axis(im, x, axis, start, end))
        start = end
    return parts


@rule("Split")
def _split(im, node, attrs):
    x = _x(im, node)
    axis = attrs.get("axis", 0) % x.type.rank
    sizes = im.known(node.input[1], node).dims() if _has(node, 1) else None
    return _split_sizes(im, node, x, axis, sizes, attrs.get("num_outputs", len(node.output)))


@rule("SplitToSequence")
def _split_to_sequence(im, node, attrs):
    x = _x(im, node)
    axis = attrs.get("axis", 0) % x.type.rank
    if not _has(node, 1):
        raise UnsupportedOnnxOp(f"SplitToSequence at {im.where(node)}: pimc needs the split")
    split = im.known(node.input[1], node)
    if split.array.ndim == 0:  # chunks of one size, the last one possibly shorter
        total, n = x.type.shape[axis], split.dims()[0]
        if not isinstance(total, int):
            raise UnsupportedOnnxOp(f"SplitToSequence at {im.where(node)}: pimc splits a "
                                    "symbolic dim only by explicit sizes")
        sizes = [min(n, total - s) for s in range(0, total, n)]
    else:
        sizes = split.dims()
    return [Seq(_split_sizes(im, node, x, axis, sizes, None))]


@rule("SequenceAt")
def _sequence_at(im, node, attrs):
    seq = im.entry(node.input[0])
    if not isinstance(seq, Seq):
        raise UnsupportedOnnxOp(f"SequenceAt at {im.where(node)}: pimc reads sequences made by "
                                "SplitToSequence only")
    return [seq.items[int(im.known(node.input[1], node).dims()[0])]]


@rule("Gather")
def _gather(im, node, attrs):
    data = _x(im, node, 0)
    axis = attrs.get("axis", 0) % data.type.rank
    idx = im.entry(node.input[1])
    if isinstance(idx, Known) and idx.array.ndim == 0:  # x.select(axis, i)
        i = idx.dims()[0]
        i = as_dim(data.type.shape[axis] + i) if isinstance(i, int) and i < 0 else i
        part = im.b.op("llm.slice", data, axis=axis, start=i, end=as_dim(i + 1))
        return [_reshape(im, part, data.type.shape[:axis] + data.type.shape[axis + 1:])]
    indices = im.value(node.input[1])
    if data.type.rank == 2 and axis == 0 and data.type.element.is_float:  # a table of vectors
        return [im.b.op("llm.embedding", indices, data)]
    return [im.b.op("llm.take", data, indices, axis=axis)]


@rule("GatherElements")
def _gather_elements(im, node, attrs):
    x = _x(im, node)
    return [im.b.op("llm.gather", x, _x(im, node, 1), axis=attrs.get("axis", 0) % x.type.rank)]


@rule("Dropout")
def _dropout(im, node, attrs):
    return [im.entry(node.input[0])]  # inference: the identity (its mask output is not made)


def unsupported(im: OnnxImporter, node: onnx.NodeProto) -> UnsupportedOnnxOp:
    return UnsupportedOnnxOp(
        f"unsupported ONNX op '{op_key(node)}' at {im.where(node)}; the ONNX frontend supports: "
        f"{', '.join(sorted(set(RULES) | {'Constant', 'Shape'}))} "
        "(and folds any op on constants and shapes). Hint: add a rule in "
        "pimc/frontend/onnx_ops.py, or export with a decomposition that avoids the op")
