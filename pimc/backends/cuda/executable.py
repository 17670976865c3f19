"""A loaded cuda program: the generated module, weights uploaded once (at bind time), one
device arena per driver.

Transfers: `bind_weights` uploads every weight once; `run` uploads the host inputs of a call
(token ids, positions; a KV cache the caller got from a previous run is already a
DeviceTensor and is not copied) and returns device-resident `DeviceTensor`s, which copy to the
host only when read. So a decode step moves the new token ids up and the logits down, nothing
else; the KV caches stay on the device and are appended to in place (`kv_buffer`).
"""
from __future__ import annotations

from pathlib import Path

import math
from collections.abc import Sequence

import numpy as np
from numba import cuda

from pimc.backends.cuda import device as D
from pimc.backends.numba_cpu.executable import _as_input, function_for, import_generated
from pimc.errors import PimcError
from pimc.ir.dialects.builtin import ModuleOp
from pimc.ir.shape_binding import Bindings
from pimc.ir.weights import WeightsStore


class DeviceArena:
    """numba-cpu's arena (numba_cpu/arena.py) with device slots: each slot is one flat f32
    device array that only grows, at least doubling, so steady decode steps allocate nothing."""

    def __init__(self, slots: int):
        self.buffers = [None] * slots
        self.allocations = 0

    def get(self, slot: int, shape: tuple[int, ...]):
        n = math.prod(shape)
        buf = self.buffers[slot]
        if buf is None or buf.shape[0] < n:
            size = max(n, 2 * (0 if buf is None else buf.shape[0]), 1)
            buf = self.buffers[slot] = cuda.device_array(size, np.float32)
            self.allocations += 1
        return D.reshape(buf[:n], shape)


class CudaExecutable:
    def __init__(self, source: str):
        self.source = source
        self.namespace = vars(import_generated(source, "cuda", "pimc_cuda",
                                               Path(__file__).parent))
        self.arenas = {name: DeviceArena(n) for name, n in self.namespace["SLOTS"].items()}
        self.weights: dict[str, object] = {}

    def kv_buffer(self, cache, capacity: int) -> D.DeviceTensor:
        """Preallocate a cache on the device for `capacity` positions; decode appends in place."""
        return D.kv_buffer(cache, capacity)

    def bind_weights(self, store: WeightsStore, module: ModuleOp) -> None:
        for op in module.walk():
            if op.name == "llm.weight":
                handle = op.attr("handle")
                if handle not in self.weights:
                    data = store[handle]
                    self.weights[handle] = D.upload(np.asarray(
                        data, dtype=np.float32 if data.dtype.kind in "fV" else data.dtype))

    def run(self, module: ModuleOp, func: str, inputs: Sequence) -> list:
        fn = function_for(module, func, inputs)
        bindings, arrays = Bindings(), []
        for arg, value in zip(fn.args, inputs):
            what = f"argument %{arg.name_hint or arg.index} of @{func}"
            if D.is_device(value):  # already on the device (a KV cache from an earlier run)
                array = value if isinstance(value, D.DeviceTensor) else D.DeviceTensor(value)
                if array.dtype != np.float32 and arg.type.element.is_float:
                    raise PimcError(f"{what} must be an f32 device tensor, got {array.dtype}")
            else:
                array = _as_input(value, arg.type, what)
            bindings.bind(what, arg.type, array)
            arrays.append(array)
        for arg, array in zip(fn.args, arrays):
            bindings.check(f"argument %{arg.name_hint or arg.index} of @{func}", arg.type, array)
        dims = {s.name: int(v) for s, v in bindings.values.items()}
        args = [a if isinstance(a, D.DeviceTensor) else D.upload(a) for a in arrays]
        outs = self.namespace[func](self.weights, self.arenas[func], *args, **dims)
        return [o if isinstance(o, D.DeviceTensor) else
                D.DeviceTensor(o) if D.is_device(o) else o for o in outs]
