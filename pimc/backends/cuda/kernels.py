"""numba.cuda kernels for the cuda backend. Host-side launch code lives in device.py; the fused
elementwise kernels and linear epilogues are generated per model by codegen.py.

All arrays are f32 except token ids. Kernels take strided views (a KV cache is a prefix of a
preallocated buffer; attention reads K/V in place), so signatures use layout 'A'.

Warp reductions: on a GPU a warp sums with a shfl.xor butterfly, so every lane ends with the
same value (IEEE addition commutes, and each butterfly step adds the same pair on both lanes).
numba-cuda's simulator has no shuffles; there the reductions come from sim.py and are barriers,
so kernels call them uniformly: a warp whose output is out of range still runs the reduction
and only skips its store.
"""
from __future__ import annotations

import math

from numba import cuda, float32, int64
from numba.cuda.core import config as _config

SIMULATOR = bool(_config.ENABLE_CUDASIM)
WARP = 32  # threads per warp on every NVIDIA GPU (CUDA C++ Programming Guide, "SIMT Architecture")
TILE = 16  # GEMM tile edge: a 16x16 block is 256 threads, 2 KiB of shared memory per operand
TILE_PAD = TILE + 1  # the w tile's row length in shared memory (see gemm)
BLOCK = 128  # threads per block for row reductions and warp-per-output kernels (4 warps)
MAX_HEAD_DIM = 256  # attention keeps each lane's slice of the output row in registers
_LANE_VALUES = MAX_HEAD_DIM // WARP
FULL_MASK = 0xFFFFFFFF


@cuda.jit(device=True, inline="always")
def _warp_sum(x):
    offset = 16
    while offset > 0:
        x += cuda.shfl_xor_sync(FULL_MASK, x, offset)
        offset //= 2
    return x


@cuda.jit(device=True, inline="always")
def _block_sum(x):
    """Sum over a 1-D block of BLOCK threads (a tree in shared memory); every thread gets it."""
    buf = cuda.shared.array(BLOCK, float32)
    t = cuda.threadIdx.x
    cuda.syncthreads()  # the previous reduction's readers are done
    buf[t] = x
    cuda.syncthreads()
    step = BLOCK // 2
    while step > 0:
        if t < step:
            buf[t] += buf[t + step]
        cuda.syncthreads()
        step //= 2
    return buf[0]


@cuda.jit(device=True, inline="always")
def _block_max(x):
    buf = cuda.shared.array(BLOCK, float32)
    t = cuda.threadIdx.x
    cuda.syncthreads()
    buf[t] = x
    cuda.syncthreads()
    step = BLOCK // 2
    while step > 0:
        if t < step:
            buf[t] = max(buf[t], buf[t + step])
        cuda.syncthreads()
        step //= 2
    return buf[0]


if SIMULATOR:  # no shuffles there, and its syncthreads is slow: see sim.py
    from pimc.backends.cuda.sim import block_max, block_sum, warp_sum
else:
    warp_sum, block_sum, block_max = _warp_sum, _block_sum, _block_max


@cuda.jit
def gemm(x, w, bias, has_bias, out):
    """out[r, j] = x[r, :] . w[j, :] (+ bias[j]): 16x16 output tiles; each step stages a 16x16
    tile of x and of w in shared memory, so every global element is read once per tile pass.
    The w tile is padded to 17 columns: its reads run down a column, which would otherwise hit
    one shared-memory bank 16 times."""
    xs = cuda.shared.array((TILE, TILE), float32)
    ws = cuda.shared.array((TILE, TILE_PAD), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    m, k = x.shape
    n = w.shape[0]
    r = cuda.blockIdx.y * TILE + ty
    j = cuda.blockIdx.x * TILE + tx
    wrow = cuda.blockIdx.x * TILE + ty  # the w row this thread stages
    acc = float32(0.0)
    for t0 in range(0, k, TILE):
        xs[ty, tx] = x[r, t0 + tx] if r < m and t0 + tx < k else float32(0.0)
        ws[ty, tx] = w[wrow, t0 + tx] if wrow < n and t0 + tx < k else float32(0.0)
        cuda.syncthreads()
        for i in range(TILE):
            acc += xs[ty, i] * ws[tx, i]
        cuda.syncthreads()
    if r < m and j < n:
        out[r, j] = acc + bias[j] if has_bias else acc


@cuda.jit
def gemv(x, w, bias, has_bias, out):
    """A few rows times w^T: one warp per output feature j, for every row. Lanes stride over K
    (adjacent lanes read adjacent weights: coalesced), then a warp sum; each weight row is
    streamed once per row from L2, once from HBM."""
    j = (cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x) // WARP
    lane = cuda.threadIdx.x % WARP
    n, k = w.shape
    active = j < n
    for r in range(x.shape[0]):
        acc = float32(0.0)
        if active:
            for i in range(lane, k, WARP):
                acc += x[r, i] * w[j, i]
        acc = warp_sum(acc)
        if active and lane == 0:
            out[r, j] = acc + bias[j] if has_bias else acc


@cuda.jit
def rmsnorm(x, w, eps, out):
    """One block per row: a block-wide sum of squares, then the scaled row."""
    r = cuda.blockIdx.x
    t = cuda.threadIdx.x
    n = x.shape[1]
    part = float32(0.0)
    for i in range(t, n, BLOCK):
        part += x[r, i] * x[r, i]
    total = block_sum(part)
    inv = float32(1.0) / math.sqrt(total / n + eps)
    for i in range(t, n, BLOCK):
        out[r, i] = x[r, i] * inv * w[i]


@cuda.jit
def softmax(x, out):
    """One block per row: block max, exp and block sum, then the normalised row."""
    r = cuda.blockIdx.x
    t = cuda.threadIdx.x
    n = x.shape[1]
    top = float32(-math.inf)
    for i in range(t, n, BLOCK):
        top = max(top, x[r, i])
    top = block_max(top)
    part = float32(0.0)
    for i in range(t, n, BLOCK):
        e = math.exp(x[r, i] - top)
        out[r, i] = e
        part += e
    total = block_sum(part)
    for i in range(t, n, BLOCK):
        out[r, i] /= total


@cuda.jit
def rope_half(x, cos, sin, out):
    """x [B,H,T,D]; cos/sin broadcast against it (each dim 1 or equal). One thread per pair
    (i, i + D/2) of rotated features."""
    idx = cuda.grid(1)
    b_, h_, t_, d_ = x.shape
    half = d_ // 2
    if idx >= b_ * h_ * t_ * half:
        return
    i = idx % half
    row = idx // half
    b, h, t = row // (h_ * t_), (row // t_) % h_, row % t_
    cb, ch, ct = b % cos.shape[0], h % cos.shape[1], t % cos.shape[2]
    lo, hi = x[b, h, t, i], x[b, h, t, i + half]
    out[b, h, t, i] = lo * cos[cb, ch, ct, i] - hi * sin[cb, ch, ct, i]
    out[b, h, t, i + half] = hi * cos[cb, ch, ct, i + half] + lo * sin[cb, ch, ct, i + half]


@cuda.jit
def attention(q, k, v, mask, has_mask, causal, scale, window, softcap, out):
    """One warp per query (b, h, t), over K/V [B,Hkv,S,D] read in place (GQA: head h reads KV
    head h // (Hq/Hkv)); query t sits at position S-T+t. Per key: the lanes split the dot
    product over D and warp-sum it, so all lanes hold the score; an online softmax (running max
    and sum, rescaling when the max grows) needs no score buffer, and each lane accumulates its
    strided share of the output row in registers. Keys outside [first, limit) (causal,
    `window` > 0) or set to -inf by the mask are skipped before their K is read (a pad's NaN
    never reaches a real row); a query with no key left (a left pad) writes zeros. `softcap`
    > 0 caps scores as tanh(s/cap)*cap before the mask."""
    warp = (cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x) // WARP
    lane = cuda.threadIdx.x % WARP
    b_, hq, t_, d_ = q.shape
    hkv, s_, dv = k.shape[1], k.shape[2], v.shape[3]
    active = warp < b_ * hq * t_
    row = warp if active else 0  # an idle warp still joins every warp_sum
    b, h, t = row // (hq * t_), (row // t_) % hq, row % t_
    kh = h // (hq // hkv)
    pos = s_ - t_ + t
    limit = pos + 1 if causal else s_
    first = max(pos - window + 1, 0) if window > 0 else 0
    if not active:
        limit = 0
    acc = cuda.local.array(_LANE_VALUES, float32)
    for c in range(_LANE_VALUES):
        acc[c] = float32(0.0)
    top = float32(-math.inf)
    total = float32(0.0)
    for j in range(s_):  # uniform trip count: the simulator's warp_sum is a block barrier
        bias = float32(0.0)
        seen = first <= j < limit
        if seen and has_mask:
            bias = mask[b % mask.shape[0], h % mask.shape[1], t % mask.shape[2], j]
            seen = bias != -math.inf
        part = float32(0.0)
        if seen:
            for i in range(lane, d_, WARP):
                part += q[b, h, t, i] * k[b, kh, j, i]
        score = warp_sum(part) * scale
        if not seen:
            continue
        if softcap > 0:
            score = math.tanh(score / softcap) * softcap
        score += bias
        if score > top:
            shrink = math.exp(top - score)
            total *= shrink
            for c in range(_LANE_VALUES):
                acc[c] *= shrink
            top = score
        p = math.exp(score - top)
        total += p
        c = 0
        for i in range(lane, dv, WARP):
            acc[c] += p * v[b, kh, j, i]
            c += 1
    if active:
        inv = float32(1.0) / total if total > 0 else float32(0.0)
        c = 0
        for i in range(lane, dv, WARP):
            out[b, h, t, i] = acc[c] * inv
            c += 1


@cuda.jit
def embedding(ids, table, out):
    """out[r, :] = table[ids[r], :], one thread per output element."""
    idx = cuda.grid(1)
    d = table.shape[1]
    if idx < ids.shape[0] * d:
        out[idx // d, idx % d] = table[ids[idx // d], idx % d]


@cuda.jit
def copy4(src, dst):
    """dst[...] = src[...] for 4-D strided views of one shape: concat pieces, KV appends, and
    making a transposed view contiguous."""
    idx = cuda.grid(1)
    a, b, c, d = dst.shape
    if idx < a * b * c * d:
        i3 = idx % d
        rest = idx // d
        i2 = rest % c
        rest //= c
        dst[rest // b, rest % b, i2, i3] = src[rest // b, rest % b, i2, i3]


def kernel_signatures() -> dict:
    """{name: (kernel, signature)} for every hand-written kernel, for compiling PTX without a
    GPU (tests/unit/test_cuda_backend.py)."""
    from numba import boolean, types
    m2 = types.Array(float32, 2, "A")
    m4 = types.Array(float32, 4, "A")
    v1 = types.Array(float32, 1, "A")
    return {
        "gemm": (gemm, (m2, m2, v1, boolean, m2)),
        "gemv": (gemv, (m2, m2, v1, boolean, m2)),
        "rmsnorm": (rmsnorm, (m2, v1, float32, m2)),
        "softmax": (softmax, (m2, m2)),
        "rope_half": (rope_half, (m4, m4, m4, m4)),
        "attention": (attention, (m4, m4, m4, m4, boolean, boolean, float32, int64, float32,
                                 m4)),
        "embedding": (embedding, (types.Array(int64, 1, "A"), m2, m2)),
        "copy4": (copy4, (m4, m4)),
    }
