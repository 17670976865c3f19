"""onnxruntime's contrib ops, as the onnxruntime-genai model builder writes them, for the ONNX
importer's rule table (`onnx_ops.py` imports this module before its first lookup).

Semantics follow onnxruntime's ContribOperators documentation and its CPU kernels:
- `SimplifiedLayerNormalization` is RMSNorm over the last axis (onnxruntime registers it in the
  default ONNX domain, so its schema is registered here for onnx.checker);
  `SkipSimplifiedLayerNormalization` / `SkipLayerNormalization` first add the residual (and a
  bias), normalise the sum, and also return the sum as output 3.
- `MatMulNBits` is A @ dequantise(B): B holds `bits`-wide codes packed low bits first, in blocks
  of `block_size` along K, each block with a scale and a zero point (default 2^(bits-1)). The
  weights are dequantised to f32 at import, and the MatMul is then the plain MatMul rule's.
- `GroupQueryAttention` and `RotaryEmbedding` are in `onnx_contrib_attention.py`.
"""
from __future__ import annotations

import re

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.defs import OpSchema

from pimc.frontend.onnx_import import OnnxImporter, UnsupportedOnnxOp
from pimc.frontend.onnx_ops import RULES, op_key, rule
from pimc.ir.core import Value

MS = "com.microsoft"


def _register_schemas() -> None:
    """onnxruntime defines SimplifiedLayerNormalization in the default domain; onnx.checker
    rejects a node it has no schema for there (other domains it leaves alone)."""
    if onnx.defs.has("SimplifiedLayerNormalization", ""):
        return
    param, optional = OpSchema.FormalParameter, OpSchema.FormalParameterOption.Optional
    floats = ["tensor(float)", "tensor(float16)", "tensor(bfloat16)", "tensor(double)"]
    onnx.defs.register_schema(OpSchema(
        "SimplifiedLayerNormalization", "", 1, doc="RMSNorm (onnxruntime's contrib op)",
        inputs=[param("X", "T"), param("scale", "V")],
        outputs=[param("Y", "V"), param("inv_std_var", "U", param_option=optional)],
        type_constraints=[("T", floats, ""), ("U", floats, ""), ("V", floats, "")],
        attributes=[OpSchema.Attribute("epsilon", OpSchema.AttrType.FLOAT, ""),
                    OpSchema.Attribute("axis", OpSchema.AttrType.INT, ""),
                    OpSchema.Attribute("stash_type", OpSchema.AttrType.INT, "")]))


_register_schemas()


# ---- checks ----
def refuse(im: OnnxImporter, node, what: str) -> UnsupportedOnnxOp:
    return UnsupportedOnnxOp(f"{op_key(node)} at {im.where(node)}: {what}")


def check_attrs(im: OnnxImporter, node, attrs: dict, supported: dict) -> None:
    """`supported` maps each attribute pimc knows to the values it implements (None: any)."""
    for name, value in attrs.items():
        if name not in supported:
            raise refuse(im, node, f"attribute '{name}' is unknown to pimc; it knows "
                                    f"{', '.join(sorted(supported))}")
        allowed = supported[name]
        if allowed is not None and value not in allowed:
            shown = ", ".join(str(v.decode() if isinstance(v, bytes) else v) for v in allowed)
            value = value.decode() if isinstance(value, bytes) else value
            raise refuse(im, node, f"attribute '{name}' = {value} is not supported; pimc "
                                    f"supports {shown}")


def check_inputs(im: OnnxImporter, node, names: list[str], implemented: int) -> None:
    """Inputs past the first `implemented` must be absent (`names` names them all)."""
    for i in range(implemented, len(node.input)):
        if node.input[i]:
            name = names[i] if i < len(names) else f"#{i}"
            raise refuse(im, node, f"input '{name}' is not supported; pimc implements "
                                    f"{', '.join(names[:implemented])}")


def has_input(node, i: int) -> bool:
    return len(node.input) > i and bool(node.input[i])


# ---- normalisation ----
@rule("SimplifiedLayerNormalization", f"{MS}::SimplifiedLayerNormalization")
def _simplified_layernorm(im, node, attrs):
    check_attrs(im, node, attrs, {"epsilon": None, "axis": (-1,), "stash_type": (1,)})
    x = im.value(node.input[0])
    return [_norm(im, node, x, attrs, 1e-5, simple=True), None]


@rule(f"{MS}::SkipSimplifiedLayerNormalization", f"{MS}::SkipLayerNormalization")
def _skip_layernorm(im, node, attrs):
    check_attrs(im, node, attrs, {"epsilon": None})
    simple = node.op_type == "SkipSimplifiedLayerNormalization"
    total = im.b.op("llm.add", im.value(node.input[0]), im.value(node.input[1]))
    bias = 3 if simple else 4  # SkipLayerNormalization has beta (input 3) before the bias
    if has_input(node, bias):
        total = im.b.op("llm.add", total, im.value(node.input[bias]))
    return [_norm(im, node, total, attrs, 1e-12, simple), None, None, total]


def _norm(im, node, x: Value, attrs: dict, default_eps: float, simple: bool) -> Value:
    eps = float(attrs.get("epsilon", default_eps))
    gamma = im.value(node.input[1 if node.op_type == "SimplifiedLayerNormalization" else 2])
    if simple:
        return im.b.op("llm.rmsnorm", x, gamma, eps=eps)
    beta = [im.value(node.input[3])] if has_input(node, 3) else []
    return im.b.op("llm.layernorm", x, gamma, *beta, eps=eps)


# ---- quantised weights ----
@rule(f"{MS}::MatMulNBits")
def _matmul_nbits(im, node, attrs):
    check_attrs(im, node, attrs, {"K": None, "N": None, "bits": (2, 4, 8), "block_size": None,
                                   "accuracy_level": None, "weight_prepacked": (0,)})
    check_inputs(im, node, ["A", "B", "scales", "zero_points", "g_idx", "bias"], 4)
    name = re.sub(r"_Q\d+$", "", node.input[1])
    if name in im.env:
        name += ".dequantized"
    if name not in im.env:
        arrays = [_initializer(im, node, i) if has_input(node, i) else None for i in (1, 2, 3)]
        w = dequantize(*arrays, bits=attrs.get("bits", 4), block=attrs["block_size"],
                       k=attrs["K"], n=attrs["N"])
        im.env[name] = im.initializer(numpy_helper.from_array(w, name))
    matmul = onnx.helper.make_node("MatMul", [node.input[0], name], node.output[:1],
                                   name=node.name)
    return RULES["MatMul"](im, matmul, {})


def _initializer(im: OnnxImporter, node, i: int) -> np.ndarray:
    for t in im.graph.initializer:
        if t.name == node.input[i]:
            return numpy_helper.to_array(t)
    raise refuse(im, node, f"input '{node.input[i]}' is not an initializer; pimc dequantises "
                            "MatMulNBits weights at import and needs B, scales and zero points "
                            "as constants")


def _unpack(codes: np.ndarray, bits: int, rows: int) -> np.ndarray:
    """uint8 bytes -> one code per `bits`, the low bits of each byte first, [rows, -1]."""
    flat = codes.reshape(rows, -1).astype(np.int32)
    shifts = np.arange(0, 8, bits, dtype=np.int32)
    return ((flat[..., None] >> shifts) & ((1 << bits) - 1)).reshape(rows, -1)


def dequantize(codes: np.ndarray, scales: np.ndarray, zero_points: np.ndarray | None,
               bits: int, block: int, k: int, n: int) -> np.ndarray:
    """MatMulNBits' B as the f32 [K, N] matrix it stands for: (code - zero) * scale."""
    blocks = -(-k // block)
    q = _unpack(codes, bits, n)[:, :blocks * block].reshape(n, blocks, block)
    scale = scales.astype(np.float32).reshape(n, blocks)
    if zero_points is None:
        zero = np.full((n, blocks), 1 << (bits - 1), np.float32)
    elif zero_points.dtype == np.uint8:
        zero = _unpack(zero_points, bits, n)[:, :blocks].astype(np.float32)
    else:
        zero = zero_points.astype(np.float32).reshape(n, blocks)
    w = (q - zero[..., None]) * scale[..., None]
    return np.ascontiguousarray(w.reshape(n, blocks * block)[:, :k].T, dtype=np.float32)


# GroupQueryAttention and RotaryEmbedding, registered on import
from pimc.frontend import onnx_contrib_attention  # noqa: E402,F401
