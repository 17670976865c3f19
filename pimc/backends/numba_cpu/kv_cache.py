"""KV caches that generation preallocates, and the append that fills them in place."""
from __future__ import annotations

import numpy as np


class KVBuffer(np.ndarray):
    """A KV cache that generation preallocated with spare capacity along the sequence axis.
    Only arrays of this type are appended to in place: the caller owns the capacity, so no other
    value can be overwritten."""


def kv_buffer(cache: np.ndarray, capacity: int, axis: int = 2) -> KVBuffer:
    """`cache` copied into a buffer holding `capacity` positions; returns the filled prefix.
    Only f32 caches are appended to: other state (a quantised cache's packed i8 codes, which
    each step writes afresh) is returned as it is."""
    if cache.dtype != np.float32:
        return cache
    shape = list(cache.shape)
    shape[axis] = max(capacity, cache.shape[axis])
    owner = np.empty(shape, np.float32)
    index = (slice(None),) * axis + (slice(0, cache.shape[axis]),)
    owner[index] = cache
    return owner.view(KVBuffer)[index]


def append(prefix: np.ndarray, new: np.ndarray, axis: int) -> np.ndarray:
    """concat(prefix, new) along `axis`; in place when `prefix` is the filled part of a
    KVBuffer with room left, so a decode step copies one position instead of the whole cache."""
    owner = prefix.base if isinstance(prefix, KVBuffer) else None
    n, m = prefix.shape[axis], new.shape[axis]
    if owner is not None and owner.ndim == prefix.ndim and n + m <= owner.shape[axis] and \
            prefix.ctypes.data == owner.ctypes.data and \
            all(prefix.shape[i] == owner.shape[i] for i in range(prefix.ndim) if i != axis):
        head = (slice(None),) * axis
        owner[head + (slice(n, n + m),)] = new
        return owner.view(KVBuffer)[head + (slice(0, n + m),)]
    return np.concatenate((prefix, new), axis=axis)


def prefix(x: np.ndarray, n: int, axis: int = 2) -> np.ndarray:
    """The first `n` positions of `x` along `axis`; when x is the filled part of a KVBuffer,
    again such a part of the same buffer, so the next append stays in place. (A KVBuffer given
    to a step that evicts in place is consumed: its kept tokens move to the front.)"""
    head = (slice(None),) * axis + (slice(0, n),)
    owner = x.base if isinstance(x, KVBuffer) else None
    if owner is not None and owner.ndim == x.ndim and x.ctypes.data == owner.ctypes.data:
        return owner.view(KVBuffer)[head]
    return x[head]
