"""numpy definitions of the llm ops (the semantics every backend must match)."""
from __future__ import annotations

import math

import numpy as np
from scipy.special import erf


def compute(a: np.ndarray) -> np.ndarray:
    """Arithmetic precision for an operand: f64 stays, other floats widen to f32."""
    if a.dtype == np.float64 or a.dtype.kind in "iub":
        return a
    return a.astype(np.float32)  # f16, f32 and bf16 (an ml_dtypes type of kind "V")


def gelu(x, approximate: str = "none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


UNARY = {
    "silu": lambda x, op: x * _sigmoid(x), "gelu": lambda x, op: gelu(x, op.attr("approximate")),
    "relu": lambda x, op: np.maximum(x, 0), "sigmoid": lambda x, op: _sigmoid(x),
    "neg": lambda x, op: -x, "exp": lambda x, op: np.exp(x), "tanh": lambda x, op: np.tanh(x),
    "sqrt": lambda x, op: np.sqrt(x), "rsqrt": lambda x, op: 1 / np.sqrt(x),
    "reciprocal": lambda x, op: 1 / x, "cos": lambda x, op: np.cos(x),
    "sin": lambda x, op: np.sin(x),
    "pow_scalar": lambda x, op: np.power(x, op.attr("exponent")),
}
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
          "maximum": np.maximum, "minimum": np.minimum}
REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max}


def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def matmul(a, b, transpose_a=False, transpose_b=False):
    return np.matmul(np.swapaxes(a, -1, -2) if transpose_a else a,
                     np.swapaxes(b, -1, -2) if transpose_b else b)


def linear(x, w, bias=None):
    y = x @ w.T
    return y if bias is None else y + bias


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def layernorm(x, w, b=None, eps=1e-5):
    mu = np.mean(x, axis=-1, keepdims=True)
    y = (x - mu) / np.sqrt(np.var(x, axis=-1, keepdims=True) + eps) * w
    return y if b is None else y + b


def rope(x, cos, sin, style="half"):
    if style == "half":  # HF Llama: rotate_half(x) = cat(-x2, x1)
        h = x.shape[-1] // 2
        rotated = np.concatenate([-x[..., h:], x[..., :h]], axis=-1)
    else:  # GPT-J: pairs (x0, x1) -> (-x1, x0)
        rotated = np.stack([-x[..., 1::2], x[..., 0::2]], axis=-1).reshape(x.shape)
    return x * cos + rotated * sin


def attention(q, k, v, mask=None, causal=False, scale=None, window=None, softcap=None):
    """q [B,Hq,T,D], k/v [B,Hkv,S,D]; the T queries are the last T of the S positions (see
    llm.AttentionOp for causal, window and softcap). A query that may attend to no key gets
    zeros, and a key no query of its row may attend to contributes nothing, not even a NaN
    its (pad) values might hold."""
    groups = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, groups, axis=1), np.repeat(v, groups, axis=1)
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) * scale
    if softcap is not None:
        scores = np.tanh(scores / softcap) * softcap
    allowed = np.broadcast_to(attention_allowed(q.shape[2], k.shape[2], causal, window),
                              scores.shape)
    if mask is not None:
        if mask.dtype == np.bool_:
            allowed = allowed & mask
        else:
            allowed = allowed & (mask != -np.inf)
            scores = scores + np.where(mask == -np.inf, 0, mask)
    scores = np.where(allowed, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    e = np.where(allowed, np.exp(scores - np.where(np.isfinite(top), top, 0)), 0)
    total = np.sum(e, axis=-1, keepdims=True)
    p = e / np.where(total == 0, 1, total)
    reachable = np.any(allowed, axis=2)[..., None]  # [B, H, S, 1]: keys some query may see
    return np.matmul(p, np.where(reachable, v, 0))


def attention_allowed(t: int, s: int, causal: bool, window: int | None) -> np.ndarray:
    """[T, S] booleans: which keys each query may see by position alone (query t at S-T+t)."""
    pos = np.arange(t)[:, None] + s - t
    key = np.arange(s)[None, :]
    allowed = np.ones((t, s), bool)
    if causal:
        allowed &= key <= pos
    if window is not None:
        allowed &= key > pos - window
    return allowed


def topk(x, k, axis=-1):
    order = np.argsort(-x, axis=axis, kind="stable")
    idx = np.take(order, np.arange(k), axis=axis)
    return np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64)


def moe(x, router, w_gate, w_up, w_down, top_k, normalize=True):
    """Mixtral-style: softmax router, top-k experts, (re)normalised weights, SiLU-gated MLPs."""
    flat = x.reshape(-1, x.shape[-1])
    probs = softmax(flat @ router.T, -1)
    weights, experts = topk(probs, top_k, -1)
    if normalize:
        weights = weights / np.sum(weights, axis=-1, keepdims=True)
    out = np.zeros_like(flat)
    for e in range(router.shape[0]):
        rows, slot = np.nonzero(experts == e)
        if rows.size == 0:
            continue
        h = flat[rows]
        g = h @ w_gate[e].T
        y = (g * _sigmoid(g) * (h @ w_up[e].T)) @ w_down[e].T
        out[rows] += weights[rows, slot][:, None] * y
    return out.reshape(x.shape)


def kv_residual(x: np.ndarray, residual: int) -> np.ndarray:
    """KIVI's residual buffer [B, H, residual, D]: the last min(N, residual) tokens of the
    cache x [B, H, N, D], right-aligned, zeros in front (kv.quantize's full-precision tail)."""
    b, h, n, d = x.shape
    out = np.zeros((b, h, residual, d), x.dtype)
    kept = min(n, residual)
    if kept:
        out[:, :, residual - kept:] = x[:, :, n - kept:]
    return out
