"""ONNX rules for comparisons, logic, selection and index arithmetic (the llm_logic ops).

The exporters write HF's mask code as it is: comparisons of position ramps, `And` of booleans,
`Where` picking 0 or -inf, an `IsNaN` guard after the masked softmax, `CumSum` for OPT's
positions, `Trilu` for causal masks, `ScatterND` for in-place updates. On compile-time values
the importer folds these before any rule runs; these rules import them on runtime tensors.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from pimc.frontend.onnx_import import UnsupportedOnnxOp, shape_data
from pimc.frontend.onnx_ops import _reshape, _x, rule
from pimc.frontend.onnx_values import Known
from pimc.ir.symbolic import product
from pimc.ir.types import TensorType, i64

_COMPARE = {"Equal": "eq", "Less": "lt", "LessOrEqual": "le", "Greater": "gt",
            "GreaterOrEqual": "ge"}
_LOGICAL = {"And": "and", "Or": "or", "Xor": "xor"}


@rule(*_COMPARE)
def _compare(im, node, attrs):
    return [im.b.op("llm.compare", _x(im, node, 0), _x(im, node, 1),
                    predicate=_COMPARE[node.op_type])]


@rule(*_LOGICAL)
def _logical(im, node, attrs):
    return [im.b.op("llm.logical", _x(im, node, 0), _x(im, node, 1), op=_LOGICAL[node.op_type])]


@rule("Not")
def _not(im, node, attrs):
    return [im.b.op("llm.not", _x(im, node))]


@rule("IsNaN")
def _isnan(im, node, attrs):
    return [im.b.op("llm.isnan", _x(im, node))]


@rule("Where")
def _where(im, node, attrs):
    return [im.b.op("llm.where", *(_x(im, node, i) for i in range(3)))]


@rule("Erf")
def _erf(im, node, attrs):
    return [im.b.op("llm.erf", _x(im, node))]


@rule("Mod")
def _mod(im, node, attrs):
    if attrs.get("fmod", 0):
        raise UnsupportedOnnxOp(f"Mod at {im.where(node)}: pimc supports fmod=0 (Python's %)")
    return [im.b.op("llm.mod", _x(im, node, 0), _x(im, node, 1))]


@rule("CumSum")
def _cumsum(im, node, attrs):
    x = _x(im, node)
    axis = im.known(node.input[1], node).dims()[0]
    return [im.b.op("llm.cumsum", x, axis=int(axis) % x.type.rank,
                    exclusive=bool(attrs.get("exclusive", 0)),
                    reverse=bool(attrs.get("reverse", 0)))]


@rule("Trilu")
def _trilu(im, node, attrs):
    k = im.known(node.input[1], node).dims()[0] if len(node.input) > 1 and node.input[1] else 0
    return [im.b.op("llm.trilu", _x(im, node), upper=bool(attrs.get("upper", 1)), k=k)]


@rule("ScatterND")
def _scatter_nd(im, node, attrs):
    if attrs.get("reduction", "none") != "none":
        raise UnsupportedOnnxOp(f"ScatterND at {im.where(node)}: pimc supports reduction="
                                f"'none', found '{attrs['reduction']}'")
    return [im.b.op("llm.scatter_nd", *(_x(im, node, i) for i in range(3)))]


@rule("GatherND")
def _gather_nd(im, node, attrs):
    """data[idx[..., 0], ..., idx[..., k-1]] as a take of rows of data viewed [D0*..*Dk-1, ...],
    at the row idx[..., 0] * (D1*..*Dk-1) + ... + idx[..., k-1] (HF's mask code indexes a
    [B, S] padding mask by (batch, key) pairs this way)."""
    data, indices = _x(im, node, 0), _x(im, node, 1)
    depth, lead = indices.type.shape[-1], indices.type.shape[:-1]
    if attrs.get("batch_dims", 0) or not isinstance(depth, int) or depth > data.type.rank:
        raise UnsupportedOnnxOp(f"GatherND at {im.where(node)}: pimc supports batch_dims=0 "
                                f"and a static index depth <= data's rank, found {indices.type}")
    row = None
    for axis in range(depth):
        part = indices if depth == 1 else im.b.op(  # no identity slice: patterns look
            "llm.slice", indices, axis=indices.type.rank - 1, start=axis, end=axis + 1)
        part = _reshape(im, part, lead)  # through views, not slices (MoE expert ids)
        stride = product(data.type.shape[axis + 1:depth])
        if stride != 1:
            scalar = Known.of(np.array([stride], dtype=object), TensorProto.INT64)
            part = im.b.op("llm.mul", part, shape_data(im, scalar, TensorType((), i64)))
        row = part if row is None else im.b.op("llm.add", row, part)
    table = _reshape(im, data, (product(data.type.shape[:depth]),) + data.type.shape[depth:])
    return [im.b.op("llm.take", table, row, axis=0)]


@rule("OneHot")
def _one_hot(im, node, attrs):
    """values[1] where indices == position along the new axis, values[0] elsewhere."""
    indices = _x(im, node, 0)
    depth = im.known(node.input[1], node).dims()[0]
    values = im.constant(node.input[2], node)
    off, on = (float(v) for v in values.flat)
    rank = indices.type.rank + 1
    axis = attrs.get("axis", -1) % rank
    ramp = im.b.op("llm.arange", result_type=TensorType((depth,), indices.type.element),
                   start=0, step=1)
    ramp = _reshape(im, ramp, [depth if i == axis else 1 for i in range(rank)])
    shape = list(indices.type.shape)
    shape.insert(axis, 1)
    hit = im.b.op("llm.compare", _reshape(im, indices, shape), ramp, predicate="eq")
    scalar = TensorType((), im.element(helper.np_dtype_to_tensor_dtype(values.dtype),
                                       f"OneHot at {im.where(node)}"))
    return [im.b.op("llm.where", hit, im.b.op("llm.constant", result_type=scalar, value=on),
                    im.b.op("llm.constant", result_type=scalar, value=off))]


@rule("NonZero")
def _non_zero(im, node, attrs):
    raise UnsupportedOnnxOp(
        f"NonZero at {im.where(node)}: its result's length depends on the tensor's values, and "
        "pimc's shapes are fixed by the inputs' shapes (an MoE routed by NonZero is not "
        "supported; export the experts as a dense loop or use pimc's torch.export frontend)")


@rule("IsInf")
def _is_inf(im, node, attrs):
    """x == +inf (detect_positive) or x == -inf (detect_negative), as comparisons."""
    x = _x(im, node)
    scalar = TensorType((), x.type.element)
    hits = [im.b.op("llm.compare", x, im.b.op("llm.constant", result_type=scalar, value=inf),
                    predicate="eq")
            for inf, wanted in ((float("inf"), attrs.get("detect_positive", 1)),
                                (float("-inf"), attrs.get("detect_negative", 1))) if wanted]
    if not hits:  # neither sign detected: all false
        return [im.b.op("llm.compare", x, x, predicate="ne")]
    return [hits[0] if len(hits) == 1 else im.b.op("llm.logical", *hits, op="or")]
