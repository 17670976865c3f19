"""Cost rules of the llm ops: op name -> (flops, bytes), symbolic in the dims of the op's types.

A rule sees an `OpView` (operand and result types, attribute values, the KV roles of its
operands, the dtype options) and returns sympy expressions or ints. The conventions:

* flops: 2·M·N·K for matmul and linear (a multiply-add is two flops); attention is QKᵀ, the
  scale, the mask, softmax and PV over every query × key pair (causal masking not halved, as in
  PaLM's FLOP count); elementwise ops cost `FLOPS_PER_ELEMENT` per result element.
* bytes: every operand read once and every result written once, at its element type (f16 = 2,
  f32 = 4, i4 = 1/2): DRAM traffic of an unfused kernel whose operands do not fit on chip.
  Weights are operands, so they count where they are used. Views (reshape, transpose, slice,
  expand) and producers of handles or splats (weight, constant, arange) move nothing.
* KV caches: attention reads K and V once per KV head (GQA: g query heads share them), at the
  KV dtype, as does any op reading K/V (the QKᵀ and PV matmuls of an unraised graph). A concat
  that appends new rows to a past cache (a function argument) writes only the new rows, in
  place, as the runtimes' KV buffers do.
* MoE: N tokens each run top-k of E gated-MLP experts. Flops are the router plus N·k expert
  MLPs; weight bytes are the expected number of distinct experts that N tokens activate,
  Σₑ 1 − (1 − pₑ)ᴺ, where pₑ is the chance that one token routes to expert e (Σ pₑ = k). Uniform
  routing gives E·(1 − (1 − k/E)ᴺ), exactly, because a token picks k distinct experts at random.
  The gate/up/down intermediates of one expert stay on chip (a fused kernel).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy

from pimc.ir.symbolic import Dim, product
from pimc.ir.types import ElementType, TensorType, Type
from pimc.passes.residency import is_padding_mask

Expr = int | sympy.Expr

# Per-element flop estimates. Transcendentals count 4, the order of a polynomial or SFU
# evaluation; the exact value hardly matters, as these ops are memory-bound at any batch.
TRANSCENDENTAL = 4
SIGMOID = TRANSCENDENTAL + 2  # exp(-x), 1 + ., reciprocal
SOFTMAX = TRANSCENDENTAL + 4  # running max, subtract, exp, sum, divide
FLOPS_PER_ELEMENT = {
    "llm.add": 1, "llm.sub": 1, "llm.mul": 1, "llm.div": 1, "llm.maximum": 1, "llm.minimum": 1,
    "llm.neg": 1, "llm.relu": 1, "llm.reciprocal": 1,
    "llm.exp": TRANSCENDENTAL, "llm.tanh": TRANSCENDENTAL, "llm.sqrt": TRANSCENDENTAL,
    "llm.rsqrt": TRANSCENDENTAL, "llm.cos": TRANSCENDENTAL, "llm.sin": TRANSCENDENTAL,
    "llm.pow_scalar": TRANSCENDENTAL, "llm.sigmoid": SIGMOID, "llm.silu": SIGMOID + 1,
    "llm.gelu": TRANSCENDENTAL + 4,  # erf or tanh, and the scale, add and multiply around it
    "llm.softmax": SOFTMAX,
    "llm.rmsnorm": 4,  # square, sum, scale by the rsqrt, times the weight
    "llm.rope": 3,  # x·cos + rotate(x)·sin
    # masks and guards of exported graphs (llm_logic.py): one compare or select per element
    **{f"llm.{name}": 1 for name in ("compare", "logical", "not", "isnan", "where", "cumsum",
                                     "trilu", "mod")},
    "llm.erf": TRANSCENDENTAL,
}
FREE = ("llm.weight", "llm.constant", "llm.arange", "llm.reshape", "llm.transpose", "llm.slice",
        "llm.expand")


@dataclass(frozen=True)
class CostOptions:
    dtype: ElementType | None = None  # every float tensor counted at this type
    kv_dtype: ElementType | None = None  # K/V read by attention and appended to caches
    moe_skew: float | tuple[float, ...] = 0.0  # a Zipf exponent, or relative expert weights


@dataclass(frozen=True)
class OpView:
    """What a cost rule sees of one op."""

    name: str
    operands: tuple[Type, ...]
    results: tuple[Type, ...]
    attrs: dict[str, Any]
    options: CostOptions
    kv_operands: frozenset[int] = frozenset()  # operands that are K or V (a cache's content)
    cache_operands: frozenset[int] = frozenset()  # past caches this op appends to
    appended: frozenset[int] = frozenset()  # a decode step's live cache: a KV append's result

    def element(self, t: TensorType, kv: bool = False) -> ElementType:
        if kv and self.options.kv_dtype is not None:
            return self.options.kv_dtype
        if self.options.dtype is not None and t.element.is_float:
            return self.options.dtype
        return t.element

    def bytes(self, t: Type, kv: bool = False) -> Expr:
        bits = self.element(tensor(t), kv).bits
        return numel(t) * (bits // 8 if bits % 8 == 0 else sympy.Rational(bits, 8))

    def io_bytes(self) -> Expr:
        reads = sum(self.bytes(t, i in self.kv_operands) for i, t in enumerate(self.operands))
        return reads + sum(self.bytes(t) for t in self.results)

    @property
    def out(self) -> TensorType:
        return tensor(self.results[0])


def tensor(t: Type) -> TensorType:
    if not isinstance(t, TensorType):
        raise TypeError(f"no byte count for the non-tensor type {t}")
    return t


def numel(t: Type) -> Dim:
    return tensor(t).numel


Rule = Callable[[OpView], tuple[Expr, Expr]]


def _per_element(v: OpView) -> tuple[Expr, Expr]:
    return FLOPS_PER_ELEMENT[v.name] * numel(v.out), v.io_bytes()


def _free(v: OpView) -> tuple[Expr, Expr]:
    return 0, 0


def _cast(v: OpView) -> tuple[Expr, Expr]:
    src, dst = tensor(v.operands[0]), v.out
    if v.element(src) == v.element(dst):  # a no-op (also when `dtype` makes both sides equal)
        return 0, 0
    return 0, v.io_bytes()


def _reduce(v: OpView) -> tuple[Expr, Expr]:
    """reductions and top-k: one add or compare per input element."""
    return numel(v.operands[0]), v.io_bytes()


def _layernorm(v: OpView) -> tuple[Expr, Expr]:
    # mean, subtract, square, sum, normalise, times the weight (+ the bias)
    return (6 + (len(v.operands) > 2)) * numel(v.out), v.io_bytes()


def _matmul(v: OpView) -> tuple[Expr, Expr]:
    a = tensor(v.operands[0])
    k = a.shape[-2] if v.attrs["transpose_a"] else a.shape[-1]
    return 2 * numel(v.out) * k, v.io_bytes()


def _linear(v: OpView) -> tuple[Expr, Expr]:
    k = tensor(v.operands[1]).shape[1]
    bias = numel(v.out) if len(v.operands) > 2 else 0
    return 2 * numel(v.out) * k + bias, v.io_bytes()


def _attention(v: OpView) -> tuple[Expr, Expr]:
    q, k, val = (tensor(t) for t in v.operands[:3])
    b, hq, t, d = q.shape
    scores = product((b, hq, t, k.shape[2]))
    # a padding mask is each request's context length (residency.is_padding_mask): the kernel
    # reads that many keys, so it costs neither a flop per score nor its bytes; a mask that
    # varies per head or query is data, added to every score
    mask = [x for x in v.operands[3:] if not is_padding_mask(x)]
    per_score = 2 * d + 2 * val.shape[3] + SOFTMAX + 1 + len(mask)  # +1: the scale
    kv = v.bytes(k, kv=True) + v.bytes(val, kv=True)  # [B, Hkv, S, D]: once per KV head
    rest = v.bytes(q) + sum(v.bytes(x) for x in mask)
    quant = kv_params(v).get("bits")
    if quant:  # a KIVI cache: read as stored, dequantised on the fly (2 flops per element)
        return scores * per_score + 2 * (numel(k) + numel(val)), \
            quantised_kv_bytes(v, k, val) + rest + v.bytes(v.out)
    return scores * per_score, kv + rest + v.bytes(v.out)


def kv_params(v: OpView) -> dict[str, Any]:
    """The attention's `kv` attribute (kv-compress: evict, kept, bits, group, residual, ...)
    as Python values; {} for an uncompressed cache."""
    kv = v.attrs.get("kv")
    if kv is None:
        return {}
    return {k: getattr(a, "value", getattr(a, "expr", None)) for k, a in kv.entries}


def quantised_kv_bytes(v: OpView, k: TensorType, val: TensorType) -> Expr:
    """Bytes of a KIVI cache [B, H, N, D] (keys) and [B, H, N, Dv] (values), as stored:
    `kivi_bytes` per (batch, head), at the KV dtype."""
    p = kv_params(v)
    b, h, n, d = k.shape
    return b * h * kivi_bytes(n, d, val.shape[3], p["bits"], p["group"], p.get("residual", 0),
                              _kv_bytes_per_element(v, k))


def kivi_bytes(tokens: Expr, key_dim: Expr, value_dim: Expr, bits: int, group: int,
               residual: Expr, element_bytes: Expr) -> Expr:
    """Bytes of one KV head's KIVI cache (Liu et al. 2024, §3.3) of `tokens` tokens, as stored:
    the tokens - residual quantised tokens' codes at `bits` (packed), keys' scale and zero per
    channel per group of `group` tokens, values' per token per group of `group` channels, both
    at `element_bytes`, and the `residual` most recent tokens at `element_bytes`. A dim of 0
    leaves that half out (keys alone: value_dim=0)."""
    residual = min(residual, tokens) if isinstance(tokens, int) else residual
    quantised = tokens - residual
    codes = quantised * (key_dim + value_dim) * sympy.Rational(bits, 8)
    stats = 2 * element_bytes * (_ceil_div(quantised, group) * key_dim +
                                 quantised * _ceil_div(value_dim, group))
    return codes + stats + residual * (key_dim + value_dim) * element_bytes


def _kv_bytes_per_element(v: OpView, t: TensorType) -> Expr:
    bits = v.element(t, kv=True).bits
    return bits // 8 if bits % 8 == 0 else sympy.Rational(bits, 8)


def _ceil_div(n: Expr, g: int) -> Expr:
    return -(-n // g) if isinstance(n, int) else sympy.floor((n + g - 1) / g)


def _copy(v: OpView) -> tuple[Expr, Expr]:
    """concat: a copy, except that appending to a past KV cache writes only the new rows."""
    if v.cache_operands:
        new = sum(v.bytes(t, kv=True) for i, t in enumerate(v.operands)
                  if i not in v.cache_operands)
        return 0, 2 * new
    return 0, v.io_bytes()


def _picked_rows(v: OpView) -> tuple[Expr, Expr]:
    """embedding/gather/take: read the indices and the picked elements, write them."""
    indices = v.operands[0] if v.name == "llm.embedding" else v.operands[1]
    return 0, v.bytes(indices) + 2 * v.bytes(v.out)


def _moe(v: OpView) -> tuple[Expr, Expr]:
    x, router, gate, up, down = (tensor(t) for t in v.operands)
    d, e, f, k = x.shape[-1], router.shape[0], gate.shape[1], v.attrs["top_k"]
    tokens = product(x.shape[:-1])
    route = tokens * e * (2 * d + SOFTMAX + 1)  # logits, softmax, top-k selection
    # gate/up/down GEMVs, SiLU·up, and the routing weight applied and summed into the output
    expert = 6 * d * f + (FLOPS_PER_ELEMENT["llm.silu"] + 1) * f + 2 * d
    weights = sympy.sympify(v.bytes(gate) + v.bytes(up) + v.bytes(down)) / e  # one expert's
    active = expected_active_experts(e, k, tokens, v.options.moe_skew)
    reads = v.bytes(x) + v.bytes(router) + active * weights
    return route + tokens * k * expert, reads + v.bytes(v.out)


def routing_probabilities(experts: int, k: int, skew: float | tuple[float, ...]) -> list[float]:
    """pₑ, the chance that one token routes to expert e, with Σ pₑ = k and every pₑ ≤ 1.

    `skew` is a Zipf exponent s (pₑ ∝ rank⁻ˢ; 0 is uniform) or relative weights per expert.
    Weights that would give pₑ > 1 are capped at 1 (a token picks an expert at most once) and
    the excess is spread over the rest in proportion, until nothing exceeds 1."""
    if isinstance(skew, tuple):
        if len(skew) != experts:
            raise ValueError(f"moe-skew gives {len(skew)} expert weights, but the op has "
                             f"{experts} experts")
        weights = list(skew)
    else:
        weights = [(rank + 1) ** -skew for rank in range(experts)]
    probs, capped = [0.0] * experts, set()
    while True:
        free = [i for i in range(experts) if i not in capped]
        total = sum(weights[i] for i in free)
        for i in free:
            probs[i] = (k - len(capped)) * weights[i] / total
        over = {i for i in free if probs[i] > 1}
        if not over:
            return probs
        capped |= over
        for i in over:
            probs[i] = 1.0


def expected_active_experts(experts: Dim, k: int, tokens: Dim,
                            skew: float | tuple[float, ...]) -> Expr:
    """E[distinct experts activated by `tokens` tokens] = Σₑ 1 − (1 − pₑ)^tokens."""
    if skew == 0.0:
        return experts * (1 - (1 - sympy.Rational(k) / experts) ** tokens)
    if not isinstance(experts, int):
        raise ValueError("a skewed moe-skew needs a static expert count")
    probs = routing_probabilities(experts, k, skew)
    return sum(1 - (1 - sympy.Float(p)) ** tokens for p in probs)


# kv dialect (kv-compress). A cache [B, H, N, D] is read and written at the KV dtype; codes at
# their packed width (i4 = 1/2 byte), so the quantised cache's bytes are what is stored.
#
# A decode step (append one token, evict one) is costed as a runtime with a fixed-budget cache
# does it: the new token goes into the evicted token's slot, the new key's norm is computed
# once, and H2O's probabilities come out of the attention that read K (H2O accumulates the
# attention weights the layer computes, Zhang et al. 2023, §4). Quantisation is KIVI's
# streaming form: the stored cache is codes, one token per step leaves the residual window and
# is quantised, and dequantisation happens inside the attention that reads the codes.
def _evicts_one(v: OpView) -> bool:
    """A decode step's eviction: one token fewer than the live cache (a KV append, maybe
    quantised and dequantised); per-token scores (rank 3) are not a cache, the count decides."""
    n, kept = tensor(v.operands[0]).shape[2], v.out.shape[2]
    live = 0 in v.appended or tensor(v.operands[0]).rank == 3
    return live and sympy.simplify(sympy.sympify(n) - kept - 1) == 0


def _kv_select(v: OpView) -> tuple[Expr, Expr]:
    cache = tensor(v.out).rank == 4
    if _evicts_one(v):  # the evicted slot's index; the new token read and written into it
        b, h = v.out.shape[:2]
        one = v.bytes(v.out, kv=cache) / v.out.shape[2]
        return 0, 8 * b * h + 2 * one
    return 0, v.bytes(v.operands[1]) + 2 * v.bytes(v.out, kv=cache)


def _kv_key_norm(v: OpView) -> tuple[Expr, Expr]:
    k = tensor(v.operands[0])
    if 0 in v.appended:  # the cached keys' norms are kept; only the new key's is computed
        b, h, _, d = k.shape
        return (2 * d + TRANSCENDENTAL) * b * h, b * h * d * _kv_bytes_per_element(v, k) + 4 * b * h
    return 2 * numel(k) + TRANSCENDENTAL * numel(v.out), v.bytes(k, kv=True) + v.bytes(v.out)


def _kv_attention_score(v: OpView) -> tuple[Expr, Expr]:
    q, k = tensor(v.operands[0]), tensor(v.operands[1])
    if 1 in v.appended and not v.attrs["window"] and v.attrs["pool"] == 1:
        # H2O in decode: the attention's probabilities, summed over the group and added to
        # the accumulator; K is not read again
        acc = sum(v.bytes(x) for x in v.operands[2:])
        return product(q.shape[:3]) * k.shape[2], acc + v.bytes(v.out)
    b, hq, t, d = q.shape
    rows = v.attrs["window"] or t
    scores = product((b, hq, rows, k.shape[2]))
    pooled = (v.attrs["pool"] - 1) * numel(v.out)
    reads = v.bytes(q) + v.bytes(k, kv=True) + sum(v.bytes(x) for x in v.operands[2:])
    return scores * (2 * d + SOFTMAX + 2) + pooled, reads + v.bytes(v.out)


def _kv_keep(v: OpView) -> tuple[Expr, Expr]:
    """a top-k over the scores; the cache operand only gives the token count. Evicting one
    (decode) is an arg-min whose answer is one slot per (batch, head)."""
    scores = v.operands[1:]
    out = 8 * product(v.out.shape[:2]) if _evicts_one(v) else v.bytes(v.out)
    return sum(numel(x) for x in scores), sum(v.bytes(x) for x in scores) + out


def _kv_quantize(v: OpView) -> tuple[Expr, Expr]:
    x = tensor(v.operands[0])
    if 0 in v.appended:  # decode: the one token leaving the residual window is quantised
        b, h, _, d = x.shape
        g, bits = v.attrs["group"], v.attrs["bits"]  # the codes are packed bytes
        e = _kv_bytes_per_element(v, x)
        stats = sympy.Rational(2 * d, g) * e if v.attrs["axis"] == "channel" else \
            2 * _ceil_div(d, g) * e
        return 5 * b * h * d, b * h * (d * e + d * sympy.Rational(bits, 8) + stats)
    # min, max, subtract, divide, round per element
    return 5 * numel(x), v.bytes(x, kv=True) + sum(v.bytes(r) for r in v.results)


def _kv_dequantize(v: OpView) -> tuple[Expr, Expr]:
    """Fused into the ops that read the cache: the attention reads the codes (its `kv`
    attribute) and counts the dequantisation's flops; the stored cache is the codes the
    kv.quantize before it wrote."""
    return 0, 0


def _kv_prune_channels(v: OpView) -> tuple[Expr, Expr]:
    k, q = tensor(v.operands[0]), v.operands[1]
    kept = sympy.Rational(v.attrs["keep"], k.shape[3])  # the key cache keeps these channels
    return 2 * (numel(q) + numel(k)), v.bytes(k, kv=True) + v.bytes(q) + \
        kept * v.bytes(v.out, kv=True)


RULES: dict[str, Rule] = {
    **{name: _per_element for name in FLOPS_PER_ELEMENT},
    **{name: _free for name in FREE},
    **{f"llm.reduce_{kind}": _reduce for kind in ("sum", "mean", "max")},
    "llm.cast": _cast, "llm.layernorm": _layernorm, "llm.matmul": _matmul,
    "llm.linear": _linear, "llm.attention": _attention, "llm.concat": _copy,
    "llm.scatter_nd": _copy,
    "llm.embedding": _picked_rows, "llm.gather": _picked_rows, "llm.take": _picked_rows,
    "llm.topk": _reduce, "llm.moe": _moe,
    "pim.gemv": _linear, "pim.attention": _attention,  # the same work, laid out for PIM
    "npu.gemm": _linear, "npu.matmul": _matmul,  # the same work, tiled for the NPU
    "kv.select": _kv_select, "kv.key_norm": _kv_key_norm,
    "kv.attention_score": _kv_attention_score, "kv.keep": _kv_keep,
    "kv.quantize": _kv_quantize, "kv.dequantize": _kv_dequantize,
    "kv.prune_channels": _kv_prune_channels,
    # a per-head policy's split and merge: copies (the runtimes keep the groups apart)
    "kv.heads": _copy, "kv.merge_heads": _copy,
}
