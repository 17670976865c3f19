"""Host-side launch code for the cuda backend: what the generated drivers call (`D.*`).

Everything a driver computes stays on the device. Host<->device copies happen only where they
are written out here: `upload` (inputs, weights at bind time), `DeviceTensor.numpy()` (an output
the caller reads, e.g. the logits), and the host fallback `down`/`up` pair for the few ops that
have no CUDA kernel (see codegen.py). Views (reshape, transpose, expand, slice) are strided
device arrays over the same memory; a reshape of a non-contiguous view copies on the device.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from pimc.backends.cuda import kernels as G

# Below this many rows a linear is GEMV-shaped (memory-bound): a warp per output feature streams
# the weights once; above it the shared-memory tiled GEMM reuses each tile across 16 rows. Same
# crossover as numba-cpu's GEMV_ROWS, so both backends pick the same kernel for a shape.
GEMV_ROWS = 8
_THREADS = 256  # 1-D elementwise launches: 8 warps per block


class DeviceTensor:
    """A result left on the device. The caller reads it like an array (np.asarray, indexing,
    .shape) and only then is it copied to the host; passed back into a run (a KV cache), it
    stays where it is. `owner` is set when it is the filled prefix of a preallocated KV buffer."""

    __slots__ = ("array", "owner")

    def __init__(self, array, owner=None):
        self.array, self.owner = array, owner

    shape = property(lambda self: tuple(self.array.shape))
    dtype = property(lambda self: np.dtype(self.array.dtype))
    ndim = property(lambda self: len(self.array.shape))
    size = property(lambda self: math.prod(self.array.shape))

    def numpy(self) -> np.ndarray:
        return contiguous(self.array).copy_to_host()

    def __array__(self, dtype=None, copy=None):
        host = self.numpy()
        return host if dtype is None else host.astype(dtype)

    def __getitem__(self, index):
        return self.numpy()[index]

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"DeviceTensor(shape={self.shape}, dtype={self.dtype})"


def arr(x):
    """The device array behind a driver value."""
    return x.array if isinstance(x, DeviceTensor) else x


def is_device(x) -> bool:
    return isinstance(x, DeviceTensor) or bool(getattr(x, "__cuda_ndarray__", False)) or \
        hasattr(x, "__cuda_array_interface__")


def upload(a: np.ndarray):
    return cuda.to_device(np.ascontiguousarray(a))


def empty(shape) -> object:
    return cuda.device_array(tuple(int(d) for d in shape), np.float32)


# -- host fallback: ops without a kernel run in numpy, with the copies spelled out ------------

def down(x):
    return arr(x) if not is_device(x) else DeviceTensor(arr(x)).numpy()


def up(x, out=None):
    if not isinstance(x, np.ndarray) or x.ndim == 0:
        return x  # scalars stay on the host; kernels take them by value
    if x.dtype.kind == "f" and x.dtype != np.float32:
        x = x.astype(np.float32)
    if out is None:
        return upload(x)
    out.copy_to_device(np.ascontiguousarray(x))
    return out


# -- views ------------------------------------------------------------------------------------

def _view(x, shape, strides):
    """A strided view of x's memory (strides in bytes)."""
    if G.SIMULATOR:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
        base = x._ary
        return FakeCUDAArray(np.lib.stride_tricks.as_strided(base, shape, strides))
    from numba.cuda.cudadrv.devicearray import DeviceNDArray
    return DeviceNDArray(tuple(shape), tuple(strides), x.dtype, gpu_data=x.gpu_data)


def _contiguous_layout(x) -> bool:
    expect = x.dtype.itemsize
    for d, s in zip(reversed(x.shape), reversed(x.strides)):
        if d != 1 and s != expect:
            return False
        expect *= d
    return True


def contiguous(x):
    x = arr(x)
    if _contiguous_layout(x):
        return x if x.strides == _c_strides(x.shape, x.dtype.itemsize) else \
            _view(x, x.shape, _c_strides(x.shape, x.dtype.itemsize))
    out = cuda.device_array(x.shape, x.dtype)
    _copy(x, out)
    return out


def _c_strides(shape, item):
    strides, acc = [], item
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    return tuple(reversed(strides))


def reshape(x, shape):
    x = contiguous(x)
    shape = tuple(int(d) for d in shape)
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        shape = tuple(math.prod(x.shape) // known if d == -1 else d for d in shape)
    return _view(x, shape, _c_strides(shape, x.dtype.itemsize))


def transpose(x, perm):
    x = arr(x)
    return _view(x, tuple(x.shape[p] for p in perm), tuple(x.strides[p] for p in perm))


def expand(x, shape):
    x = arr(x)
    lead = len(shape) - len(x.shape)
    strides = [0] * lead + [0 if d == 1 and shape[lead + i] != 1 else s
                            for i, (d, s) in enumerate(zip(x.shape, x.strides))]
    return _view(x, tuple(int(d) for d in shape), tuple(strides))


def _as4d(x):
    x = arr(x)
    pad = 4 - len(x.shape)
    return _view(x, (1,) * pad + tuple(x.shape), (0,) * pad + tuple(x.strides)) if pad else x


def _copy(src, dst):
    n = math.prod(dst.shape)
    if n:
        G.copy4[(n + _THREADS - 1) // _THREADS, _THREADS](_as4d(src), _as4d(dst))


# -- ops --------------------------------------------------------------------------------------

def launch(kernel, out, *args):
    """A generated elementwise kernel: one thread per element of `out`."""
    n = math.prod(out.shape)
    if n:
        kernel[(n + _THREADS - 1) // _THREADS, _THREADS](arr(out), *(arr(a) for a in args))
    return out


def concat(parts, axis, out=None):
    parts = [arr(p) for p in parts]
    shape = list(parts[0].shape)
    shape[axis] = sum(p.shape[axis] for p in parts)
    out = empty(shape) if out is None else out
    start = 0
    for p in parts:
        index = (slice(None),) * axis + (slice(start, start + p.shape[axis]),)
        _copy(p, out[index])
        start += p.shape[axis]
    return out


def kv_buffer(cache, capacity: int, axis: int = 2) -> DeviceTensor:
    """`cache` copied into a device buffer of `capacity` positions; returns the filled prefix."""
    cache = arr(cache) if is_device(cache) else upload(np.asarray(cache, np.float32))
    shape = list(cache.shape)
    shape[axis] = max(capacity, cache.shape[axis])
    owner = empty(shape)
    index = (slice(None),) * axis + (slice(0, cache.shape[axis]),)
    _copy(cache, owner[index])
    return DeviceTensor(owner[index], owner)


def append(prefix, new, axis: int):
    """concat(prefix, new) along `axis`; in place when `prefix` is a KV buffer's filled part
    with room left, so a decode step writes one position instead of copying the cache."""
    owner = prefix.owner if isinstance(prefix, DeviceTensor) else None
    p, new = arr(prefix), arr(new)
    n, m = p.shape[axis], new.shape[axis]
    if owner is not None and n + m <= owner.shape[axis] and \
            all(p.shape[i] == owner.shape[i] for i in range(len(p.shape)) if i != axis):
        head = (slice(None),) * axis
        _copy(new, owner[head + (slice(n, n + m),)])
        return DeviceTensor(owner[head + (slice(0, n + m),)], owner)
    return concat([p, new], axis)


_NO_BIAS = None


def _no_bias():
    global _NO_BIAS
    if _NO_BIAS is None:
        _NO_BIAS = cuda.to_device(np.zeros(1, np.float32))
    return _NO_BIAS


def _rows(x):
    return reshape(x, (-1, tuple(arr(x).shape)[-1]))


def _run_linear(x2, w, bias, o2):
    b = _no_bias() if bias is None else arr(bias)
    m, n = x2.shape[0], w.shape[0]
    if m <= GEMV_ROWS:
        warps = G.BLOCK // G.WARP
        G.gemv[(n + warps - 1) // warps, G.BLOCK](x2, w, b, bias is not None, o2)
    else:
        grid = ((n + G.TILE - 1) // G.TILE, (m + G.TILE - 1) // G.TILE)
        G.gemm[grid, (G.TILE, G.TILE)](x2, w, b, bias is not None, o2)


def linear(x, w, bias=None, out=None, epilogue=None, extra=()):
    """x [..., K] @ w[N, K]^T (+ bias), then an optional fused epilogue: a pair of generated
    kernels, (gemv form, which finishes each dot product in its warp, and post form, which
    finishes a GEMM's output in one pass)."""
    x, w = arr(x), arr(w)
    lead = tuple(x.shape)[:-1]
    x2 = _rows(x)
    m, n = x2.shape[0], w.shape[0]
    o = empty(lead + (n,)) if out is None else arr(out)
    o2 = reshape(o, (m, n))
    extra = tuple(arr(e) for e in extra)
    if epilogue is not None and bias is None and m <= GEMV_ROWS:
        warps = G.BLOCK // G.WARP
        epilogue[0][(n + warps - 1) // warps, G.BLOCK](x2, w, o2, *extra)
        return o
    _run_linear(x2, w, bias, o2)
    if epilogue is not None and m * n:
        epilogue[1][(m * n + _THREADS - 1) // _THREADS, _THREADS](o2, *extra)
    return o


def rmsnorm(x, w, eps, out=None):
    x = arr(x)
    o = empty(x.shape) if out is None else arr(out)
    x2, o2 = _rows(x), reshape(o, (-1, tuple(x.shape)[-1]))
    if x2.shape[0]:
        G.rmsnorm[x2.shape[0], G.BLOCK](x2, arr(w), np.float32(eps), o2)
    return o


def softmax(x, axis, out=None):
    x = arr(x)
    if axis % len(x.shape) != len(x.shape) - 1:  # rare: the host computes it
        from pimc.backends.numba_cpu import kernels as K
        return up(K.softmax(down(x), axis), out)
    o = empty(x.shape) if out is None else arr(out)
    x2, o2 = _rows(x), reshape(o, (-1, tuple(x.shape)[-1]))
    if x2.shape[0]:
        G.softmax[x2.shape[0], G.BLOCK](x2, o2)
    return o


def rope(x, cos, sin, style, out=None):
    x = arr(x)
    if style != "half" or len(x.shape) > 4 or len(arr(cos).shape) > 4:
        from pimc.ir.reference_ops import rope as reference
        return up(reference(down(x), down(cos), down(sin), style), out)
    o = empty(x.shape) if out is None else arr(out)
    n = math.prod(x.shape) // 2
    if n:
        G.rope_half[(n + _THREADS - 1) // _THREADS, _THREADS](
            _as4d(x), _as4d(cos), _as4d(sin), _as4d(o))
    return o


def attention(q, k, v, mask=None, causal=False, scale=None, window=None, softcap=None, out=None):
    q, k, v = arr(q), arr(k), arr(v)
    if v.shape[3] > G.MAX_HEAD_DIM:
        raise ValueError(f"cuda attention: head dim {v.shape[3]} > {G.MAX_HEAD_DIM}")
    scale = 1.0 / math.sqrt(tuple(q.shape)[-1]) if scale is None else scale
    o = empty(tuple(q.shape)[:3] + (v.shape[3],)) if out is None else arr(out)
    if mask is None:
        m = _no_bias().reshape((1, 1, 1, 1))
    else:  # a boolean mask becomes additive 0/-inf once, on the host (rare: causal is a flag)
        host = down(mask)
        m = upload(np.where(host, 0.0, -np.inf).astype(np.float32) if host.dtype == np.bool_
                   else host.astype(np.float32))
        m = _as4d(m)
    warps = q.shape[0] * q.shape[1] * q.shape[2]
    per_block = G.BLOCK // G.WARP
    if warps:
        G.attention[(warps + per_block - 1) // per_block, G.BLOCK](
            q, k, v, m, mask is not None, bool(causal), np.float32(scale), int(window or 0),
            np.float32(softcap or 0.0), o)
    return o


def embedding(ids, table, out=None):
    ids, table = arr(ids), arr(table)
    shape = tuple(ids.shape) + tuple(table.shape[1:])
    o = empty(shape) if out is None else arr(out)
    flat = reshape(ids, (-1,))
    n = flat.shape[0] * table.shape[1]
    if n:
        G.embedding[(n + _THREADS - 1) // _THREADS, _THREADS](
            flat, table, reshape(o, (flat.shape[0], table.shape[1])))
    return o
