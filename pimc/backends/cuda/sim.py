"""Warp and block reductions for numba-cuda's simulator (NUMBA_ENABLE_CUDASIM=1).

The simulator runs each CUDA thread of a block as a Python thread and has no warp shuffles.
Its `syncthreads` is a barrier that a manager thread releases by polling every thread, which
made a GEMV's shared-memory warp sums ~95% of a llama-tiny prefill (measured: 97 s). These
plain-Python versions exchange values through a `threading.Barrier` of just the threads that
take part (a warp, or the block), two waits per reduction. Sums run in lane order, so every
thread gets the same value, as the shfl.xor butterfly gives on a GPU.
"""
from __future__ import annotations

import threading

_WARP = 32


def _exchange(key, parties: int, slot: int, value: float, combine) -> float:
    thread = threading.current_thread()
    state = thread._manager.__dict__.setdefault("_pimc_reduce", {})
    barrier, values = state.setdefault(key, (threading.Barrier(parties), [0.0] * parties))
    values[slot] = value
    barrier.wait()
    result = values[0]
    for v in values[1:]:
        result = combine(result, v)
    barrier.wait()  # nobody overwrites `values` before everyone has read it
    return result


def _where():
    thread = threading.current_thread()
    block = thread._manager._block_dim
    size = block[0] * block[1] * block[2] if isinstance(block, tuple) else block.x
    return thread, tuple(thread.blockIdx), thread.thread_id, size


def warp_sum(x):
    thread, block, tid, _ = _where()
    return type(x)(_exchange(("warp", block, tid // _WARP), _WARP, tid % _WARP, x,
                             lambda a, b: a + b))


def block_sum(x):
    thread, block, tid, size = _where()
    return type(x)(_exchange(("sum", block), size, tid, x, lambda a, b: a + b))


def block_max(x):
    thread, block, tid, size = _where()
    return type(x)(_exchange(("max", block), size, tid, x, max))
