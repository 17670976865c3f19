"""Backends are found through the `pimc.backends` entry-point group, built-ins included, so a
third-party package registers one the same way (`[project.entry-points."pimc.backends"]`)."""
from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points

from pimc.backends.base import Backend
from pimc.errors import PimcError, UnknownNameError

GROUP = "pimc.backends"


@functools.cache
def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        if ep.name in found and found[ep.name].value != ep.value:
            raise PimcError(f"two installed packages register backend '{ep.name}': "
                            f"{_dist(found[ep.name])} ({found[ep.name].value}) and {_dist(ep)} "
                            f"({ep.value}); uninstall one")
        found[ep.name] = ep
    return found


def _dist(ep: EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else "an unknown distribution"


def names() -> list[str]:
    return sorted(_entry_points())


def get(name: str) -> Backend:
    eps = _entry_points()
    if name not in eps:
        raise UnknownNameError("backend", name, eps)
    cls = eps[name].load()
    backend = cls() if isinstance(cls, type) else cls
    if not isinstance(backend, Backend):
        raise PimcError(f"backend '{name}' ({eps[name].value}, from {_dist(eps[name])}) is not a "
                        "pimc.backends.base.Backend")
    return backend


def distribution(name: str) -> str:
    return _dist(_entry_points()[name])
