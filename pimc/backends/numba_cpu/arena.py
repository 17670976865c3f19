"""Statically planned scratch buffers for one generated driver.

Codegen assigns every intermediate that a kernel writes to a slot (buffers.py); values whose
lifetimes do not overlap share a slot. At run time each slot is one flat f32 array that grows
only when a call needs more than it holds, so once a decode step has run, later steps of the same
batch allocate nothing. Growth at least doubles, so a slot sized by the context S reallocates
O(log S) times over a generation, not every step.

An arena belongs to one driver and is not reentrant: two concurrent calls of the same program
would share buffers. Values a function returns never live in the arena.
"""
from __future__ import annotations

import math

import numpy as np


class Arena:
    def __init__(self, slots: int):
        self.buffers = [np.empty(0, np.float32) for _ in range(slots)]
        self.allocations = 0  # how many times a slot grew: tests and benchmarks read it

    def get(self, slot: int, shape: tuple[int, ...]) -> np.ndarray:
        n = math.prod(shape)
        buf = self.buffers[slot]
        if buf.size < n:
            buf = self.buffers[slot] = np.empty(max(n, 2 * buf.size), np.float32)
            self.allocations += 1
        return buf[:n].reshape(shape)

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self.buffers)
