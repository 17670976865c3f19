"""The weights store that sits beside the IR: `#pimc.weight<"name">` handles resolve here.

An entry always declares shape and element type; it holds data unless the model was captured
without weight memory (the meta device), which is how 70B-class models are analysed. Stores are
saved as safetensors files; element types numpy lacks (bf16) travel as raw bits plus metadata.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import ml_dtypes
import numpy as np

from pimc.errors import PimcError
from pimc.ir.types import ELEMENT_TYPES, ElementType

NUMPY_DTYPES: dict[str, np.dtype] = {
    "f16": np.dtype(np.float16), "bf16": np.dtype(ml_dtypes.bfloat16),
    "f32": np.dtype(np.float32), "f64": np.dtype(np.float64), "i1": np.dtype(np.bool_),
    "i8": np.dtype(np.int8), "i16": np.dtype(np.int16), "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
}


def element_of(dtype: np.dtype) -> ElementType:
    for name, d in NUMPY_DTYPES.items():
        if d == dtype:
            return ELEMENT_TYPES[name]
    raise PimcError(f"numpy dtype {dtype} has no pimc element type; valid: "
                    f"{', '.join(str(d) for d in NUMPY_DTYPES.values())}")


@dataclass(frozen=True)
class WeightSpec:
    shape: tuple[int, ...]
    element: ElementType

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.numel * self.element.bits // 8


class WeightsStore:
    def __init__(self):
        self.specs: dict[str, WeightSpec] = {}
        self._data: dict[str, np.ndarray] = {}
        self.aliases: dict[str, str] = {}  # tied weights (GPT-2's lm_head = wte): counted once

    def add(self, name: str, array: np.ndarray) -> None:
        self.specs[name] = WeightSpec(tuple(array.shape), element_of(array.dtype))
        self._data[name] = array

    def declare(self, name: str, shape: tuple[int, ...], element: ElementType) -> None:
        """An entry without data (shape-only capture)."""
        self.specs[name] = WeightSpec(tuple(shape), element)

    def copy(self) -> WeightsStore:
        """A store with the same entries; the arrays are shared, not copied."""
        other = WeightsStore()
        other.__dict__.update({key: dict(value) if isinstance(value, dict) else value
                               for key, value in self.__dict__.items()})
        return other

    def tie(self, alias: str, name: str) -> None:
        """`alias` names the same tensor as `name`."""
        self.aliases[alias] = name

    def __contains__(self, name: str) -> bool:
        return name in self.specs or name in self.aliases

    def __len__(self) -> int:
        return len(self.specs)

    def __getitem__(self, name: str) -> np.ndarray:
        name = self.aliases.get(name, name)
        if name not in self.specs:
            from pimc.errors import UnknownNameError
            raise UnknownNameError("weight", name, self.specs)
        if name not in self._data:
            raise PimcError(f"weight '{name}' is declared without data (captured shape-only); "
                            "it can be analysed and simulated but not executed")
        return self._data[name]

    def retain(self, names: set[str]) -> None:
        """Drop entries the IR does not reference (tracing leaves a few empty constants)."""
        keep = {self.aliases.get(n, n) for n in names}
        for name in [n for n in self.specs if n not in keep]:
            del self.specs[name]
            self._data.pop(name, None)
        self.aliases = {a: n for a, n in self.aliases.items() if n in keep}

    @property
    def has_data(self) -> bool:
        return len(self._data) == len(self.specs)

    @property
    def num_params(self) -> int:
        return sum(s.numel for s in self.specs.values())

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.specs.values())

    def save(self, path: str | Path) -> None:
        from safetensors.numpy import save_file
        arrays = {n: (a.view(np.uint16) if a.dtype == NUMPY_DTYPES["bf16"] else a)
                  for n, a in self._data.items()}
        meta = {n: [list(s.shape), s.element.name] for n, s in self.specs.items()}
        save_file(arrays, str(path), metadata={"pimc.specs": json.dumps(meta),
                                                "pimc.aliases": json.dumps(self.aliases)})

    @classmethod
    def load(cls, path: str | Path) -> WeightsStore:
        from safetensors import safe_open
        store = cls()
        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = json.loads((f.metadata() or {}).get("pimc.specs", "{}"))
                store.aliases = json.loads((f.metadata() or {}).get("pimc.aliases", "{}"))
                for name, (shape, elem) in meta.items():
                    store.declare(name, tuple(shape), ELEMENT_TYPES[elem])
                for name in f.keys():
                    array = f.get_tensor(name)
                    if store.specs[name].element.name == "bf16":
                        array = array.view(NUMPY_DTYPES["bf16"])
                    store._data[name] = array
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
            raise PimcError(f"{path}: not a pimc weights file ({e})") from None
        return store
