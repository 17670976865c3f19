"""A loaded numba-cpu program: the generated module plus the weights it reads (upcast to f32
once, at load, instead of in every call) and one buffer arena per driver.

The generated source is written to a file named by its hash under the pimc cache directory and
imported from there: numba's on-disk cache (`cache=True`) needs a source file, and the same
source always maps to the same file, so a second process loads the fused kernels' machine code
instead of compiling them.
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pimc.backends.numba_cpu.arena import Arena
from pimc.backends.numba_cpu.kv_cache import KVBuffer, kv_buffer
from pimc.errors import PimcError
from pimc.ir.dialects.builtin import ModuleOp
from pimc.ir.shape_binding import Bindings
from pimc.ir.types import TensorType
from pimc.ir.weights import NUMPY_DTYPES, WeightsStore
from pimc.output import write_atomically
from pimc.caches import cache_root, source_digest


def function_for(module: ModuleOp, func: str, inputs: Sequence):
    """@func of `module`, after checking it is given one input per argument."""
    fn = module.func(func)
    if len(inputs) != len(fn.args):
        raise PimcError(f"@{func} takes {len(fn.args)} inputs "
                        f"({', '.join('%' + (a.name_hint or str(a.index)) for a in fn.args)}), "
                        f"got {len(inputs)}")
    return fn


def import_generated(source: str, folder: str = "numba-cpu", prefix: str = "pimc_generated",
                     calls: Path = Path(__file__).parent):
    """The generated module for `source`, written to the cache under a name from its hash (so
    numba's on-disk cache applies to its kernels) and imported once per process. The folder
    is named by the digest of `calls` too, the backend package whose kernels the generated
    code calls (`K.`): numba would not notice those change."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    name = f"{prefix}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    path = cache_root() / f"{folder}-{source_digest(calls)}" / f"{name}.py"
    if not path.exists() or path.read_text() != source:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


class Executable:
    def __init__(self, source: str):
        self.source = source
        self.namespace = vars(import_generated(source))
        self.arenas = {name: Arena(n) for name, n in self.namespace["SLOTS"].items()}
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
                    # asarray, not ascontiguousarray, which makes a 0-d buffer 1-d (Gemma's
                    # embed_scale)
                    self.weights[handle] = np.asarray(
                        data, dtype=np.float32 if data.dtype.kind in "fV" else data.dtype,
                        order="C")

    def run(self, module: ModuleOp, func: str, inputs: Sequence) -> list[np.ndarray]:
        fn = function_for(module, func, inputs)
        bindings, arrays = Bindings(), []
        for arg, value in zip(fn.args, inputs):
            array = _as_input(value, arg.type, f"argument %{arg.name_hint or arg.index} of @{func}")
            bindings.bind(f"argument %{arg.name_hint or arg.index} of @{func}", arg.type, array)
            arrays.append(array)
        for arg, array in zip(fn.args, arrays):
            bindings.check(f"argument %{arg.name_hint or arg.index} of @{func}", arg.type, array)
        dims = {s.name: int(v) for s, v in bindings.values.items()}
        return list(self.namespace[func](self.weights, self.arenas[func], *arrays, **dims))


def _as_input(value, t: TensorType, what: str) -> np.ndarray:
    array = np.asarray(value)
    want = NUMPY_DTYPES[t.element.name]
    if t.element.is_float:
        if array.dtype.kind not in "fV":
            raise PimcError(f"{what} must be a float tensor ({t}), got dtype {array.dtype}")
        if isinstance(value, KVBuffer) and array.dtype == np.float32:
            return value  # a preallocated cache: the kernels take its strided view as is
        return np.asarray(array, dtype=np.float32, order="C")
    if array.dtype.kind not in "iub":
        raise PimcError(f"{what} must be an integer tensor ({t}), got dtype {array.dtype}")
    return array.astype(want, copy=False)
