"""A loaded numba-cpu program: the generated drivers plus the weights they read (upcast to f32
once, at load, instead of in every call)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pimc.backends.numba_cpu.kernels import KVBuffer, kv_buffer
from pimc.errors import PimcError
from pimc.ir.dialects.builtin import ModuleOp
from pimc.ir.types import TensorType
from pimc.ir.weights import NUMPY_DTYPES, WeightsStore
from pimc.ir.shape_binding import Bindings


class Executable:
    def __init__(self, source: str):
        self.source = source
        self.namespace: dict = {}
        exec(compile(source, "<pimc numba-cpu>", "exec"), self.namespace)
        self.weights: dict[str, np.ndarray] = {}

    def kv_buffer(self, cache: np.ndarray, capacity: int) -> np.ndarray:
        """Preallocate a cache for `capacity` positions; decode then appends in place."""
        return kv_buffer(cache, capacity)

    def bind_weights(self, store: WeightsStore, module: ModuleOp) -> None:
        for op in module.walk():
            if op.name == "llm.weight":
                handle = op.attr("handle")
                if handle not in self.weights:
                    data = store[handle]
                    self.weights[handle] = np.ascontiguousarray(
                        data, dtype=np.float32 if data.dtype.kind in "fV" else data.dtype)

    def run(self, module: ModuleOp, func: str, inputs: Sequence) -> list[np.ndarray]:
        fn = module.func(func)
        if len(inputs) != len(fn.args):
            raise PimcError(f"@{func} takes {len(fn.args)} inputs "
                            f"({', '.join('%' + (a.name_hint or str(a.index)) for a in fn.args)}), "
                            f"got {len(inputs)}")
        bindings, arrays = Bindings(), []
        for arg, value in zip(fn.args, inputs):
            array = _as_input(value, arg.type, f"argument %{arg.name_hint or arg.index} of @{func}")
            bindings.bind(f"argument %{arg.name_hint or arg.index} of @{func}", arg.type, array)
            arrays.append(array)
        for arg, array in zip(fn.args, arrays):
            bindings.check(f"argument %{arg.name_hint or arg.index} of @{func}", arg.type, array)
        dims = {s.name: int(v) for s, v in bindings.values.items()}
        return list(self.namespace[func](self.weights, *arrays, **dims))


def _as_input(value, t: TensorType, what: str) -> np.ndarray:
    array = np.asarray(value)
    want = NUMPY_DTYPES[t.element.name]
    if t.element.is_float:
        if array.dtype.kind not in "fV":
            raise PimcError(f"{what} must be a float tensor ({t}), got dtype {array.dtype}")
        if isinstance(value, KVBuffer) and array.dtype == np.float32:
            return value  # a preallocated cache: the kernels take its strided view as is
        return np.ascontiguousarray(array, dtype=np.float32)
    if array.dtype.kind not in "iub":
        raise PimcError(f"{what} must be an integer tensor ({t}), got dtype {array.dtype}")
    return array.astype(want, copy=False)
