"""Bind a function's symbolic dims (B, S, T, ...) to the concrete shapes of its inputs."""
from __future__ import annotations

import numpy as np
import sympy

from pimc.errors import PimcError
from pimc.ir.symbolic import Dim, dim_str
from pimc.ir.types import TensorType


class Bindings:
    def __init__(self):
        self.values: dict[sympy.Symbol, int] = {}
        self._shapes: dict[TensorType, tuple[int, ...]] = {}

    def dim(self, d: Dim) -> int:
        if isinstance(d, int):
            return d
        value = sympy.sympify(d.xreplace(self.values))
        if not value.is_Integer:
            missing = ", ".join(sorted(s.name for s in value.free_symbols))
            raise PimcError(f"dim {dim_str(d)} depends on {missing}, which no input binds")
        return int(value)

    def shape(self, t: TensorType) -> tuple[int, ...]:
        shape = self._shapes.get(t)
        if shape is None:
            shape = self._shapes[t] = tuple(self.dim(d) for d in t.shape)
        return shape

    def bind(self, what: str, t: TensorType, array: np.ndarray) -> None:
        """Bind plain symbols from `array`'s shape; check static dims and expressions later."""
        if array.ndim != t.rank:
            raise PimcError(f"{what} has rank {array.ndim} (shape {array.shape}), expected {t}")
        for d, n in zip(t.shape, array.shape):
            if isinstance(d, sympy.Symbol):
                bound = self.values.setdefault(d, int(n))
                if bound != n:
                    raise PimcError(f"{what} has shape {array.shape}, expected {t}: "
                                    f"{d.name} is {bound} from an earlier input, here {n}")

    def check(self, what: str, t: TensorType, array: np.ndarray) -> None:
        if tuple(array.shape) != self.shape(t):
            bound = ", ".join(f"{s.name}={v}" for s, v in sorted(self.values.items(), key=str))
            raise PimcError(f"{what} has shape {array.shape}, expected {t} "
                            f"= {self.shape(t)} ({bound or 'no symbols'})")
