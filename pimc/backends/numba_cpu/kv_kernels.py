"""numba-cpu kernels for the kv dialect (KV-cache compression, pimc/ir/dialects/kv.py).

Same semantics as the interpreter's (pimc/runtime/kv_ops.py), bit for bit where it matters for
which tokens are kept: scores are accumulated in f64 and rounded to f32 once, as there.

Storage:
- eviction compacts in place: `select(x, idx, inplace=True)` moves the kept tokens of each
  (batch, head) to the front of x (positions ascend, so a kept token never moves right and
  the forward copy cannot overwrite one not yet moved) and returns the filled prefix. On a
  preallocated cache (kv_cache.KVBuffer) that prefix is again a KVBuffer, so the next step
  appends in place: a decode step of an evicting layer copies one token in and moves the kept
  tokens after the evicted one down by one, and allocates nothing for the cache;
- a quantised cache is stored as the interpreter stores it (pimc/ir/dialects/kv.py, "The stored
  KIVI cache"): unsigned KIVI levels packed 8/bits to a byte along the channels, low bits
  first, in int8 arrays, with scale, zero and the residual buffer. That is the state @prefill
  returns and @decode takes and returns, so a quantised cache between steps takes
  D*bits/8 bytes per token and head plus the statistics and the residual.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from pimc.backends.numba_cpu.kv_cache import prefix
from pimc.errors import PimcError
from pimc.ir.reference_ops import kv_residual

_JIT = dict(cache=True)  # no fastmath: the scores must round as the interpreter's do


@njit(parallel=True, **_JIT)
def _compact(x, idx):
    for bh in prange(x.shape[0] * x.shape[1]):
        b, h = bh // x.shape[1], bh % x.shape[1]
        for j in range(idx.shape[2]):
            src = idx[b, h, j]
            if src != j:
                x[b, h, j] = x[b, h, src]


def select(x: np.ndarray, idx: np.ndarray, inplace: bool = False) -> np.ndarray:
    idx = np.asarray(idx, np.int64)
    n = x.shape[2]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise PimcError(f"kv.select: positions {idx.min()}..{idx.max()} outside the {n} "
                         "cached tokens")
    if idx.ndim == 1:
        return np.ascontiguousarray(x[:, :, idx])
    if not inplace:
        index = idx.reshape(idx.shape + (1,) * (x.ndim - 3))
        return np.take_along_axis(x, index, axis=2)
    _compact(x, idx)
    return prefix(x, idx.shape[2])


@njit(parallel=True, **_JIT)
def _key_norm(k, out):
    for bh in prange(k.shape[0] * k.shape[1]):
        b, h = bh // k.shape[1], bh % k.shape[1]
        for t in range(k.shape[2]):
            acc = 0.0
            for d in range(k.shape[3]):
                acc += np.float64(k[b, h, t, d]) ** 2
            out[b, h, t] = np.float32(np.sqrt(acc))


def key_norm(k: np.ndarray) -> np.ndarray:
    out = np.empty(k.shape[:3], np.float32)
    _key_norm(k, out)
    return out


@njit(parallel=True, **_JIT)
def _attention_score(q, k, scale, rows, out):
    """out[b, h, j] (f64) += softmax probability of key j for the last `rows` query rows of
    every query head of KV head h's group; row r of the window sits at key position
    n - rows + r and sees keys 0 .. that position."""
    b_, hq, t, d_ = q.shape
    hkv, n = k.shape[1], k.shape[2]
    g = hq // hkv
    for bh in prange(b_ * hkv):
        b, h = bh // hkv, bh % hkv
        s = np.empty(n)
        for head in range(h * g, (h + 1) * g):
            for r in range(rows):
                pos = n - rows + r
                top = -np.inf
                for j in range(pos + 1):
                    acc = 0.0
                    for i in range(d_):
                        acc += np.float64(q[b, head, t - rows + r, i]) * np.float64(k[b, h, j, i])
                    s[j] = acc * scale
                    top = max(top, s[j])
                total = 0.0
                for j in range(pos + 1):
                    s[j] = np.exp(s[j] - top)
                    total += s[j]
                for j in range(pos + 1):
                    out[b, h, j] += s[j] / total


def attention_score(q, k, acc, scale, window: int, pool: int) -> np.ndarray:
    t, d = q.shape[2], q.shape[3]
    rows = window or t
    if rows > t:
        raise PimcError(f"kv.attention_score: window {rows} exceeds the {t} query rows")
    score = np.zeros(k.shape[:3], np.float64)
    _attention_score(q, k, d ** -0.5 if scale is None else float(scale), rows, score)
    if acc is not None:
        score[:, :, :acc.shape[2]] += acc
    if pool > 1:  # F.avg_pool1d(kernel=pool, stride=1, padding=pool//2): zeros padded, / pool
        padded = np.pad(score, ((0, 0), (0, 0), (pool // 2, pool // 2)))
        c = np.cumsum(np.pad(padded, ((0, 0), (0, 0), (1, 0))), axis=-1)
        score = (c[..., pool:] - c[..., :-pool]) / pool
    return score.astype(np.float32)


def keep(cache, scores, count: int, sinks: int, window: int, largest: bool) -> np.ndarray:
    """[B, H, count] ascending positions: the first `sinks`, the last `window`, the rest the
    best by score (ties: the earlier position); without scores, the most recent rest."""
    b, h, n = cache.shape[:3]
    if count > n or sinks + window > count:
        raise PimcError(f"kv.keep: keeps {count} (sinks {sinks}, window {window}) of {n} "
                         "cached tokens")
    position = np.arange(n)
    protected = (position < sinks) | (position >= n - window)
    if scores is None:
        protected |= position >= n - (count - sinks)
        key = np.broadcast_to(np.where(protected, 0.0, 1.0), (b, h, n))
    else:
        s = scores.astype(np.float64)
        key = np.where(protected, -np.inf, -s if largest else s)
    order = np.argsort(key, axis=-1, kind="stable")[..., :count]
    return np.sort(order, axis=-1)


@njit(parallel=True, **_JIT)
def _quantize(x, bits, group, channel, quantised, codes, scale, zero):
    """KIVI min-max over each group (f64, as the interpreter), packed unsigned levels."""
    levels = (1 << bits) - 1
    per = 8 // bits
    b_, h_, n, d_ = x.shape
    for bh in prange(b_ * h_):
        b, h = bh // h_, bh % h_
        for gi in range(scale.shape[2] if channel else n):
            for c in range(d_ if channel else scale.shape[3]):
                if channel:  # tokens gi*group.., channel c
                    t0, t1, d0, d1 = gi * group, min((gi + 1) * group, quantised), c, c + 1
                else:  # token gi, channels c*group..
                    t0, t1 = gi, gi + 1 if gi < quantised else gi
                    d0, d1 = c * group, min((c + 1) * group, d_)
                lo, hi = np.inf, -np.inf
                for t in range(t0, t1):
                    for d in range(d0, d1):
                        v = np.float64(x[b, h, t, d])
                        lo, hi = min(lo, v), max(hi, v)
                if t1 <= t0:  # wholly in the residual
                    lo, hi = 0.0, 0.0
                step = (hi - lo) / levels
                safe = step if step > 0 else 1.0
                scale[b, h, gi, c] = np.float32(step)
                zero[b, h, gi, c] = np.float32(lo)
                for t in range(t0, t1):
                    for d in range(d0, d1):
                        code = np.rint((np.float64(x[b, h, t, d]) - lo) / safe)
                        code = min(max(code, 0.0), np.float64(levels))
                        codes[b, h, t, d // per] |= np.uint8(int(code) << (bits * (d % per)))


def quantize(x: np.ndarray, bits: int, group: int, axis: str, residual: int):
    """(packed codes [B, H, N, D*bits/8] as int8, scale, zero[, residual buffer])."""
    b, h, n, d = x.shape
    per = 8 // bits
    channel = axis == "channel"
    groups = -(-(n if channel else d) // group)
    stats = (b, h, groups, d) if channel else (b, h, n, groups)
    codes = np.zeros((b, h, n, d // per), np.uint8)
    scale, zero = np.empty(stats, np.float32), np.empty(stats, np.float32)
    _quantize(x, bits, group, channel, max(n - residual, 0), codes, scale, zero)
    out = (codes.view(np.int8), scale, zero)
    return out + ((kv_residual(x, residual),) if residual else ())


@njit(parallel=True, **_JIT)
def _dequantize(codes, scale, zero, bits, group, channel, quantised, out):
    mask = (1 << bits) - 1
    per = 8 // bits
    b_, h_, n, d_ = out.shape
    for bh in prange(b_ * h_):
        b, h = bh // h_, bh % h_
        for t in range(quantised):
            for d in range(d_):
                level = (np.int64(codes[b, h, t, d // per]) >> (bits * (d % per))) & mask
                gs = (t // group, d) if channel else (t, d // group)
                out[b, h, t, d] = np.float32(np.float64(level) * np.float64(scale[b, h, gs[0], gs[1]])
                                             + np.float64(zero[b, h, gs[0], gs[1]]))


def dequantize(codes, scale, zero, buffer, bits: int, group: int, axis: str,
               residual: int) -> np.ndarray:
    """Packed codes -> f32 [B, H, N, D]; the last min(N, residual) tokens from the residual
    buffer."""
    b, h, n, packed = codes.shape
    out = np.empty((b, h, n, packed * (8 // bits)), np.float32)
    kept = min(n, residual) if buffer is not None else 0
    if kept:
        out[:, :, n - kept:] = buffer[:, :, residual - kept:]
    _dequantize(codes.view(np.uint8), scale, zero, bits, group, axis == "channel", n - kept, out)
    return out


def prune_channels(k: np.ndarray, q: np.ndarray, keep_channels: int, window: int) -> np.ndarray:
    """ThinK: keep the `keep_channels` channels with the largest ||Q_obs[:, d]|| * ||K[:, d]||
    per (batch, kv head), zero the rest."""
    b, hq, t, d = q.shape
    hkv = k.shape[1]
    rows = window or t
    qg = q[:, :, t - rows:].astype(np.float64).reshape(b, hkv, (hq // hkv) * rows, d)
    score = np.linalg.norm(qg, axis=2) * np.linalg.norm(k.astype(np.float64), axis=2)
    top = np.argsort(-score, axis=-1, kind="stable")[..., :keep_channels]
    mask = np.zeros((b, hkv, d), bool)
    np.put_along_axis(mask, top, True, axis=-1)
    return np.where(mask[:, :, None, :], k, np.float32(0.0))


def heads(x: np.ndarray, which: list[int]) -> np.ndarray:
    return np.ascontiguousarray(x[:, which])


def merge_heads(a: np.ndarray, b: np.ndarray, which: list[int]) -> np.ndarray:
    total = a.shape[1] + b.shape[1]
    rest = [h for h in range(total) if h not in which]
    out = np.empty(a.shape[:1] + (total,) + a.shape[2:], np.float32)
    out[:, which], out[:, rest] = a, b
    return out
