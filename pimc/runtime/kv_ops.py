"""numpy semantics of the kv dialect (see pimc/ir/dialects/kv.py), for the reference interpreter.

Caches are [B, H, N, D]; scores [B, H, N] in f32. A quantised cache is held as stored: packed
codes (KIVI's unsigned levels 0 .. 2^bits - 1, 8/bits to a byte along the channels, in an int8
array), scale, zero and the residual buffer (pimc/ir/dialects/kv.py, "The stored KIVI cache").
"""
from __future__ import annotations

import warnings

import numpy as np

from pimc.errors import PimcError
from pimc.ir.reference_ops import kv_residual


def select(cache: np.ndarray, indices: np.ndarray) -> np.ndarray:
    indices = np.asarray(indices, np.int64)
    n = cache.shape[2]
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise PimcError(f"kv.select: positions {indices.min()}..{indices.max()} outside the "
                        f"{n} cached tokens")
    if indices.ndim == 1:
        return cache[:, :, indices]
    index = indices.reshape(indices.shape + (1,) * (cache.ndim - 3))
    return np.take_along_axis(cache, index, axis=2)


def key_norm(k: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum(np.square(k.astype(np.float64)), axis=-1)).astype(np.float32)


def attention_score(q: np.ndarray, k: np.ndarray, acc: np.ndarray | None, scale: float | None,
                    window: int, pool: int) -> np.ndarray:
    """Σ over query rows (the last `window`, or all) and the GQA group of softmax(q kᵀ·scale),
    causal with the queries at the last T positions; + acc on its positions; avg-pooled."""
    b, hq, t, d = q.shape
    hkv, n = k.shape[1], k.shape[2]
    rows = window or t
    if rows > t:
        raise PimcError(f"kv.attention_score: window {rows} exceeds the {t} query rows")
    scale = d ** -0.5 if scale is None else scale
    qg = q[:, :, t - rows:].astype(np.float64).reshape(b, hkv, hq // hkv, rows, d)
    s = np.einsum("bhgtd,bhnd->bhgtn", qg, k.astype(np.float64)) * scale
    position = n - rows + np.arange(rows)  # each query row's own position among the keys
    s = np.where(np.arange(n)[None, :] <= position[:, None], s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    score = p.sum(axis=(2, 3))
    if acc is not None:
        m = acc.shape[2]
        if m > n:
            raise PimcError(f"kv.attention_score: accumulator covers {m} tokens, the cache {n}")
        score[:, :, :m] += acc
    if pool > 1:  # F.avg_pool1d(kernel=pool, stride=1, padding=pool//2): zeros padded, / pool
        padded = np.pad(score, ((0, 0), (0, 0), (pool // 2, pool // 2)))
        c = np.cumsum(np.pad(padded, ((0, 0), (0, 0), (1, 0))), axis=-1)
        score = (c[..., pool:] - c[..., :-pool]) / pool
    return score.astype(np.float32)


def keep(cache: np.ndarray, scores: np.ndarray | None, count: int, sinks: int, window: int,
         largest: bool) -> np.ndarray:
    """[B, H, count] ascending positions: the first `sinks`, the last `window`, the rest the
    best by score (ties: the earlier position); without scores, the most recent rest."""
    b, h, n = cache.shape[:3]
    if count > n:
        raise PimcError(f"kv.keep: keeps {count} of only {n} cached tokens")
    if sinks + window > count:
        raise PimcError(f"kv.keep: sinks ({sinks}) + window ({window}) exceed the kept count "
                        f"({count})")
    position = np.arange(n)
    protected = (position < sinks) | (position >= n - window)
    if scores is None:
        protected |= position >= n - (count - sinks)
        key = np.broadcast_to(np.where(protected, 0.0, 1.0), (b, h, n))
    else:
        s = scores.astype(np.float64)
        key = np.where(protected, -np.inf, -s if largest else s)
    order = np.argsort(key, axis=-1, kind="stable")[..., :count]
    return np.sort(order, axis=-1).astype(np.int64)


def _grouped(x: np.ndarray, group: int, axis: str) -> tuple[np.ndarray, int]:
    """x [B, H, N, D] as [B, H, groups, group, D] (channel: tokens grouped) or
    [B, H, N, groups, group] (token: channels grouped), NaN-padded; and the padded length."""
    b, h, n, d = x.shape
    along = n if axis == "channel" else d
    groups = -(-along // group)
    pad = groups * group - along
    if axis == "channel":
        x = np.pad(x, ((0, 0), (0, 0), (0, pad), (0, 0)), constant_values=np.nan)
        return x.reshape(b, h, groups, group, d), pad
    x = np.pad(x, ((0, 0), (0, 0), (0, 0), (0, pad)), constant_values=np.nan)
    return x.reshape(b, h, n, groups, group), pad


def _expand(p: np.ndarray, group: int, axis: str, n: int, d: int) -> np.ndarray:
    return np.repeat(p, group, axis=2)[:, :, :n] if axis == "channel" else \
        np.repeat(p, group, axis=3)[..., :d]


def pack(levels: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned levels [..., D] -> bytes [..., D*bits/8] as int8: 8/bits levels to a byte along
    the last axis, low bits first (pimc/ir/dialects/kv.py, "The stored KIVI cache")."""
    per = 8 // bits
    u = levels.astype(np.uint8).reshape(levels.shape[:-1] + (levels.shape[-1] // per, per))
    shifts = (bits * np.arange(per)).astype(np.uint8)
    return np.bitwise_or.reduce(u << shifts, axis=-1).astype(np.uint8).view(np.int8)


def unpack(codes: np.ndarray, bits: int) -> np.ndarray:
    """Bytes [..., P] (int8 or uint8) -> the unsigned levels [..., P*8/bits] as uint8."""
    per = 8 // bits
    u = np.ascontiguousarray(codes).view(np.uint8)
    shifts = (bits * np.arange(per)).astype(np.uint8)
    levels = (u[..., None] >> shifts) & np.uint8(2 ** bits - 1)
    return levels.reshape(codes.shape[:-1] + (codes.shape[-1] * per,))


def quantize(x: np.ndarray, bits: int, group: int, axis: str, residual: int):
    """(codes, scale, zero[, residual buffer]) as stored: level = round((x - min) / scale),
    scale = (max - min) / (2^bits - 1) over each group, packed; the last `residual` tokens are
    not quantised (their levels are 0, their groups' statistics ignore them) but kept whole in
    the residual buffer."""
    b, h, n, d = x.shape
    quantised = max(n - residual, 0)
    work = x.astype(np.float64).copy()
    work[:, :, quantised:] = np.nan
    g, _ = _grouped(work, group, axis)
    reduce = 3 if axis == "channel" else 4
    with warnings.catch_warnings():  # a group wholly in the residual is all NaN: 0 below
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanmin(g, axis=reduce), np.nanmax(g, axis=reduce)
    lo, hi = np.nan_to_num(lo), np.nan_to_num(hi)
    levels = 2 ** bits - 1
    scale = (hi - lo) / levels
    safe = np.where(scale > 0, scale, 1.0)
    codes = np.rint((x - _expand(lo, group, axis, n, d)) / _expand(safe, group, axis, n, d))
    codes = np.clip(codes, 0, levels)
    codes[:, :, quantised:] = 0
    out = (pack(codes, bits), scale.astype(x.dtype), lo.astype(x.dtype))
    return out + ((kv_residual(x, residual),) if residual else ())


def dequantize(codes: np.ndarray, scale: np.ndarray, zero: np.ndarray,
               buffer: np.ndarray | None, bits: int, group: int, axis: str,
               residual: int) -> np.ndarray:
    levels = unpack(codes, bits).astype(np.float64)
    b, h, n, d = levels.shape
    out = levels * _expand(scale.astype(np.float64), group, axis, n, d) + \
        _expand(zero.astype(np.float64), group, axis, n, d)
    out = out.astype(scale.dtype)
    if residual and buffer is not None:
        kept = min(n, residual)
        if kept:
            out[:, :, n - kept:] = buffer[:, :, residual - kept:]
    return out


def prune_channels(k: np.ndarray, q: np.ndarray, keep_channels: int, window: int) -> np.ndarray:
    """ThinK: per (batch, kv head) channel d scores ||Q_obs[:, d]|| * ||K[:, d]|| (the
    Frobenius norm of the outer product Q_obs[:, d] K[:, d]ᵀ), Q_obs the last `window` query
    rows (0: all) of every query head of the group; all but the top `keep_channels` are zeroed."""
    b, hq, t, d = q.shape
    hkv = k.shape[1]
    rows = window or t
    if rows > t:
        raise PimcError(f"kv.prune_channels: window {rows} exceeds the {t} query rows")
    qg = q[:, :, t - rows:].astype(np.float64).reshape(b, hkv, (hq // hkv) * rows, d)
    score = np.linalg.norm(qg, axis=2) * np.linalg.norm(k.astype(np.float64), axis=2)
    top = np.argsort(-score, axis=-1, kind="stable")[..., :keep_channels]
    mask = np.zeros((b, hkv, d), bool)
    np.put_along_axis(mask, top, True, axis=-1)
    return np.where(mask[:, :, None, :], k, np.zeros((), k.dtype))



def merge_heads(a: np.ndarray, b: np.ndarray, heads: list[int]) -> np.ndarray:
    total = a.shape[1] + b.shape[1]
    rest = [h for h in range(total) if h not in heads]
    out = np.empty(a.shape[:1] + (total,) + a.shape[2:], a.dtype)
    out[:, heads], out[:, rest] = a, b
    return out


# interpreter rules: (frame, op, operand arrays) -> result arrays
KERNELS = {
    "kv.select": lambda f, op, a: [select(a[0], a[1])],
    "kv.key_norm": lambda f, op, a: [key_norm(a[0])],
    "kv.attention_score": lambda f, op, a: [attention_score(
        a[0], a[1], a[2] if len(a) > 2 else None, op.attr("scale"), op.attr("window"),
        op.attr("pool"))],
    "kv.keep": lambda f, op, a: [keep(
        a[0], a[1] if len(a) > 1 else None, f.bindings.dim(op.attr("count")), op.attr("sinks"),
        f.bindings.dim(op.attr("window")), op.attr("largest"))],
    "kv.quantize": lambda f, op, a: list(quantize(
        a[0], op.attr("bits"), op.attr("group"), op.attr("axis"), op.attr("residual"))),
    "kv.dequantize": lambda f, op, a: [dequantize(
        a[0], a[1], a[2], a[3] if len(a) > 3 else None, op.attr("bits"), op.attr("group"),
        op.attr("axis"), op.attr("residual"))],
    "kv.prune_channels": lambda f, op, a: [prune_channels(a[0], a[1], op.attr("keep"),
                                                          op.attr("window"))],
    "kv.heads": lambda f, op, a: [a[0][:, op.attr("heads")]],
    "kv.merge_heads": lambda f, op, a: [merge_heads(a[0], a[1], op.attr("heads"))],
}
