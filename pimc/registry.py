"""A lazy name -> object registry, shared by passes, dialects, targets and backends.

Entries are loaders (zero-argument callables) so that `pimc passes` does not import every pass
module, and an unknown name is answered with the list of valid names and a "did you mean".
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from pimc.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._loaders: dict[str, Callable[[], T]] = {}
        self._loaded: dict[str, T] = {}

    def register(self, name: str, loader: Callable[[], T]) -> None:
        if name in self._loaders:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._loaders[name] = loader

    def __contains__(self, name: str) -> bool:
        return name in self._loaders

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._loaders))

    def get(self, name: str, where: str = "") -> T:
        if name not in self._loaded:
            if name not in self._loaders:
                raise UnknownNameError(self.kind, name, self._loaders, where)
            self._loaded[name] = self._loaders[name]()
        return self._loaded[name]

    def items(self) -> Iterator[tuple[str, T]]:
        return ((name, self.get(name)) for name in self)
