"""kv dialect: KV-cache compression made explicit, as `kv-compress` writes it.

Caches are [B, H, N, D] tensors (batch, KV heads, cached tokens, head dim); token positions run
along dim 2. The ops say what is scored, what is kept and how it is stored:
- `kv.key_norm`: the L2 norm of every cached key (Devoto et al. 2024 keep the LOW-norm keys);
- `kv.attention_score`: the attention probability each cached token receives, summed over the
  query rows (all of them, or an observation window at the end, as in SnapKV) and over the query
  heads of a GQA group, plus an accumulator carried from earlier steps (H2O's heavy-hitter
  score), optionally average-pooled along the tokens (SnapKV);
- `kv.keep`: the positions to keep: `sinks` first tokens, the `window` most recent ones, and the
  rest of `count` by score (largest or smallest); ascending, so the cache stays in token order;
- `kv.select`: gather kept positions along the tokens, per (batch, head) or, with 1-D indices,
  the same positions for the whole layer;
- `kv.quantize` / `kv.dequantize`: KIVI (Liu et al. 2024) asymmetric min-max quantisation, keys
  per channel (groups of `group` tokens share one scale per channel) and values per token
  (groups of `group` channels per token); the `residual` most recent tokens stay full precision.
  The quantised cache is what the function state holds (see "The stored KIVI cache" below);
- `kv.prune_channels`: ThinK (Xu et al. 2024) query-driven key-channel pruning;
- `kv.heads` / `kv.merge_heads`: split a layer's heads into the full-cache and the compressed
  groups of a per-head policy (DuoAttention's retrieval and streaming heads), and put the two
  groups' attention outputs back in head order.

The stored KIVI cache of N tokens [B, H, N, D] is four tensors (three when `residual` is 0):
- codes [B, H, N, D*bits/8] i8: each token's unsigned levels 0 .. 2^bits - 1, packed along the
  channels, 8/bits to a byte, low bits first (channel j*(8/bits) + i in bits [i*bits,
  (i+1)*bits) of byte j); int8 levels are one byte each, read as unsigned. The head dim must
  be static and a multiple of 8/bits. Codes cover all N tokens: the codes of the last
  min(N, residual) tokens are unused (stored as 0), so every shape follows from N alone;
- scale and zero in the cache's element type: [B, H, ceil(N/group), D] for keys (per channel),
  [B, H, N, ceil(D/group)] for values (per token); groups wholly in the residual hold 0;
- residual [B, H, residual, D]: a fixed-size buffer of the last min(N, residual) tokens at full
  precision, right-aligned (a context shorter than the window leaves zeros in front).
"""
from __future__ import annotations

import sympy

from pimc.ir.opdef import Attr, OpDef, fail
from pimc.ir.shapes import (dim_eq, dims_equal_tuple, require_float, require_int, same_element,
                            tensor)
from pimc.ir.symbolic import Dim, dim_str
from pimc.ir.types import TensorType, f32, i8, i64

QUANT_BITS = (8, 4, 2)  # KIVI evaluates int4 and int2; int8 as a baseline


def _cache(t, what: str) -> TensorType:
    return tensor(t, f"{what} [B, H, N, D]", rank=4)


def _tokens(t, what: str) -> TensorType:
    """A cache [B, H, N, D] or a per-token tensor [B, H, N] (scores): both index tokens on dim 2."""
    t = tensor(t, f"{what} [B, H, N(, D)]")
    if t.rank not in (3, 4):
        fail(f"{what} must have rank 3 [B, H, N] or 4 [B, H, N, D], found {t}")
    return t


def _scores(t, cache: TensorType, what: str) -> TensorType:
    s = tensor(t, f"{what} [B, H, N]", rank=3)
    require_float(s, what)
    for i, axis in enumerate("BHN"):
        dim_eq(s.shape[i], cache.shape[i], f"{what} dim {axis} differs from the cache's ({s}, "
                                            f"{cache})")
    return s


def _ceil_div(n: Dim, g: int) -> Dim:
    return -(-n // g) if isinstance(n, int) else sympy.floor((n + g - 1) / g)


def _positive(value: int, name: str, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        fail(f"attribute '{name}' must be {'>= 0' if allow_zero else '>= 1'}, found {value}")


class SelectOp(OpDef):
    name = "kv.select"
    summary = "gather the kept token positions (dim 2) of a cache or of per-token scores"
    operand_names = ("cache", "indices")

    @staticmethod
    def infer(types, attrs):
        cache = _tokens(types[0], "cache")
        idx = tensor(types[1], "indices")
        require_int(idx, "indices")
        if idx.rank == 1:  # one position list for the whole layer
            kept = idx.shape[0]
        elif idx.rank == 3:  # per (batch, head)
            for i, axis in enumerate("BH"):
                dim_eq(idx.shape[i], cache.shape[i], f"indices dim {axis} differs from the "
                                                     f"cache's ({idx}, {cache})")
            kept = idx.shape[2]
        else:
            fail(f"indices must have rank 1 [K] or 3 [B, H, K], found {idx}")
        return (cache.with_shape(cache.shape[:2] + (kept,) + cache.shape[3:]),)


class KeyNormOp(OpDef):
    name, summary = "kv.key_norm", "the L2 norm of every cached key, [B, H, N] in f32"
    operand_names = ("k",)

    @staticmethod
    def infer(types, attrs):
        k = _cache(types[0], "k")
        require_float(k, "k")
        return (TensorType(k.shape[:3], f32),)


class AttentionScoreOp(OpDef):
    name = "kv.attention_score"
    summary = ("attention probability per cached token, summed over query rows and the GQA "
               "group, plus an accumulator (H2O), average-pooled (SnapKV)")
    operand_names = ("q", "k", "acc?")
    # window: the last `window` query rows only (0: all); pool: odd average-pool kernel along
    # the tokens (1: none); queries are the last T of the N keys and see no later key.
    attrs = {"scale": Attr("float", None), "window": Attr("int", 0), "pool": Attr("int", 1)}

    @staticmethod
    def infer(types, attrs):
        q, k = tensor(types[0], "q [B, Hq, T, D]", rank=4), _cache(types[1], "k")
        same_element((q, k), "q and k")
        require_float(q, "q")
        dim_eq(q.shape[0], k.shape[0], f"batch of q and k differ ({q}, {k})")
        dim_eq(q.shape[3], k.shape[3], f"head dim of q and k differ ({q}, {k})")
        hq, hkv = q.shape[1], k.shape[1]
        if isinstance(hq, int) and isinstance(hkv, int) and (hkv == 0 or hq % hkv):
            fail(f"query heads ({hq}) must be a multiple of kv heads ({hkv}) for GQA")
        _positive(attrs["window"], "window", allow_zero=True)
        if attrs["pool"] < 1 or attrs["pool"] % 2 == 0:
            fail(f"attribute 'pool' must be an odd kernel size >= 1, found {attrs['pool']}")
        if isinstance(q.shape[2], int) and attrs["window"] > q.shape[2]:
            fail(f"attribute 'window' ({attrs['window']}) exceeds the {q.shape[2]} query rows")
        if len(types) == 3:
            acc = tensor(types[2], "acc [B, H, M]", rank=3)
            require_float(acc, "acc")
            for i, axis in enumerate("BH"):
                dim_eq(acc.shape[i], k.shape[i], f"acc dim {axis} differs from k's ({acc}, {k})")
        return (TensorType(k.shape[:3], f32),)


class KeepOp(OpDef):
    name = "kv.keep"
    summary = ("positions to keep, ascending: `sinks` first tokens, `window` last ones, the rest "
               "of `count` by score")
    operand_names = ("cache", "scores?")  # without scores: the sinks and the most recent rest
    attrs = {"count": Attr("dim"), "sinks": Attr("int", 0), "window": Attr("dim", 0),
             "largest": Attr("bool", True)}

    @staticmethod
    def infer(types, attrs):
        cache = _cache(types[0], "cache")
        if len(types) == 2:
            _scores(types[1], cache, "scores")
        count, sinks, window, n = attrs["count"], attrs["sinks"], attrs["window"], cache.shape[2]
        _positive(sinks, "sinks", allow_zero=True)
        if isinstance(count, int):
            _positive(count, "count")
            if isinstance(window, int) and sinks + window > count:
                fail(f"sinks ({sinks}) + window ({window}) exceed the kept count ({count})")
        if isinstance(count, int) and isinstance(n, int) and count > n:
            fail(f"keeps {count} of only {n} cached tokens")
        return (TensorType(cache.shape[:2] + (count,), i64),)


class QuantizeOp(OpDef):
    name = "kv.quantize"
    summary = ("KIVI asymmetric quantisation, as stored: packed codes, scale and zero point (keys "
               "per channel, values per token), and the residual buffer when `residual` > 0")
    operand_names = ("x",)
    num_results = None  # 3, or 4 with the residual buffer
    attrs = {"bits": Attr("int"), "group": Attr("int"),
             "axis": Attr("str", choices=("channel", "token")), "residual": Attr("int", 0)}

    @staticmethod
    def infer(types, attrs):
        x = _cache(types[0], "x")
        require_float(x, "x")
        _check_quant_attrs(attrs)
        b, h, n, d = x.shape
        codes = TensorType((b, h, n, packed_dim(d, attrs["bits"])), i8)
        stats = _scale_type(x, attrs)
        residual = (TensorType((b, h, attrs["residual"], d), x.element),) \
            if attrs["residual"] else ()
        return (codes, stats, stats) + residual


def _check_quant_attrs(attrs) -> None:
    if attrs["bits"] not in QUANT_BITS:
        fail(f"attribute 'bits' must be one of {', '.join(map(str, QUANT_BITS))}, "
             f"found {attrs['bits']}")
    _positive(attrs["group"], "group")
    _positive(attrs["residual"], "residual", allow_zero=True)


def packed_dim(d: Dim, bits: int) -> Dim:
    """Bytes per token of `bits`-bit codes over d channels: 8 // bits codes to a byte."""
    per = 8 // bits
    if per == 1:
        return d
    if not isinstance(d, int):
        fail(f"packing {bits}-bit codes {per} to a byte needs a static head dim, found "
             f"{dim_str(d)}")
    if d % per:
        fail(f"packing {bits}-bit codes {per} to a byte needs a head dim that is a multiple of "
             f"{per}, found {d}")
    return d // per


def _scale_type(x: TensorType, attrs) -> TensorType:
    b, h, n, d = x.shape
    g = attrs["group"]
    shape = (b, h, _ceil_div(n, g), d) if attrs["axis"] == "channel" else \
        (b, h, n, _ceil_div(d, g))
    return TensorType(shape, x.element)


class DequantizeOp(OpDef):
    name = "kv.dequantize"
    summary = ("unpacked codes * scale + zero; the last min(N, residual) tokens from the "
               "residual buffer, at full precision")
    operand_names = ("codes", "scale", "zero", "residual?")
    attrs = {"bits": Attr("int"), "group": Attr("int"),
             "axis": Attr("str", choices=("channel", "token")), "residual": Attr("int", 0)}

    @staticmethod
    def infer(types, attrs):
        codes = _cache(types[0], "codes")
        if codes.element != i8:
            fail(f"codes must be packed bytes (i8), found {codes}")
        _check_quant_attrs(attrs)
        b, h, n, packed = codes.shape
        scale, zero = tensor(types[1], "scale"), tensor(types[2], "zero")
        require_float(scale, "scale")
        same_element((scale, zero), "scale and zero")
        out = TensorType((b, h, n, packed * (8 // attrs["bits"])), scale.element)
        want = _scale_type(out, attrs)
        for t, what in ((scale, "scale"), (zero, "zero")):
            if not dims_equal_tuple(t.shape, want.shape):
                fail(f"{what} must have shape {want.with_element(t.element)} for group "
                     f"{attrs['group']} along the {attrs['axis']}s, found {t}")
        if attrs["residual"] and len(types) < 4:
            fail("a residual needs the residual buffer as operand 'residual'")
        if len(types) == 4:
            r = _cache(types[3], "residual")
            want = out.with_shape((b, h, attrs["residual"], out.shape[3]))
            if not r.same_as(want):
                fail(f"residual must be {want} (the last 'residual' tokens), found {r}")
        return (out,)


class PruneChannelsOp(OpDef):
    name = "kv.prune_channels"
    summary = ("ThinK: zero all but the `keep` key channels with the largest "
               "||Q_obs[:, d]|| * ||K[:, d]|| per (batch, kv head)")
    operand_names = ("k", "q")
    attrs = {"keep": Attr("int"), "window": Attr("int", 0)}

    @staticmethod
    def infer(types, attrs):
        k, q = _cache(types[0], "k"), tensor(types[1], "q [B, Hq, T, D]", rank=4)
        same_element((k, q), "k and q")
        require_float(k, "k")
        dim_eq(q.shape[3], k.shape[3], f"head dim of q and k differ ({q}, {k})")
        d = k.shape[3]
        if attrs["keep"] < 1 or (isinstance(d, int) and attrs["keep"] > d):
            fail(f"attribute 'keep' must be in 1..{dim_str(d)} (the head dim), "
                 f"found {attrs['keep']}")
        _positive(attrs["window"], "window", allow_zero=True)
        return (k,)


def _head_list(heads, what: str, total) -> None:
    if not heads:
        fail(f"attribute '{what}' must list at least one head")
    if len(set(heads)) != len(heads) or min(heads) < 0 or \
            (isinstance(total, int) and max(heads) >= total):
        fail(f"attribute '{what}' must list distinct heads in 0..{dim_str(total - 1)}, "
             f"found {list(heads)}")


class HeadsOp(OpDef):
    name, summary = "kv.heads", "the listed heads (dim 1) of a cache or of queries, in that order"
    operand_names = ("x",)
    attrs = {"heads": Attr("ints")}

    @staticmethod
    def infer(types, attrs):
        x = tensor(types[0], "x [B, H, ...]", min_rank=3)
        _head_list(attrs["heads"], "heads", x.shape[1])
        return (x.with_shape(x.shape[:1] + (len(attrs["heads"]),) + x.shape[2:]),)


class MergeHeadsOp(OpDef):
    name = "kv.merge_heads"
    summary = "heads of a and b interleaved back: a's at positions `heads`, b's in the rest"
    operand_names = ("a", "b")
    attrs = {"heads": Attr("ints")}

    @staticmethod
    def infer(types, attrs):
        a, b = tensor(types[0], "a", min_rank=3), tensor(types[1], "b", min_rank=3)
        same_element((a, b), "a and b")
        if a.rank != b.rank or not dims_equal_tuple(a.shape[2:], b.shape[2:]) or \
                not dims_equal_tuple(a.shape[:1], b.shape[:1]):
            fail(f"a and b must differ in dim 1 only, found {a} and {b}")
        total = a.shape[1] + b.shape[1]
        if attrs["heads"] and len(attrs["heads"]) != a.shape[1]:
            fail(f"attribute 'heads' must give a position for each of a's {a.shape[1]} heads")
        _head_list(attrs["heads"], "heads", total)
        return (a.with_shape(a.shape[:1] + (total,) + a.shape[2:]),)


OPS = [SelectOp, KeyNormOp, AttentionScoreOp, KeepOp, QuantizeOp, DequantizeOp, PruneChannelsOp,
       HeadsOp, MergeHeadsOp]
