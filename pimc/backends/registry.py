"""Backends are found through the `pimc.backends` entry-point group, built-ins included, so a
third-party package registers one the same way (`[project.entry-points."pimc.backends"]`).

This module is the one place outside a backend's own package that names built-in backends: the
defaults below. Core code asks for `EXECUTING_DEFAULT`, or for the backend that provides a stage
(`providing_stage`), and reads capabilities; it never spells a backend's name
(tests/unit/test_backend_names.py holds it to that).
"""
from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points

from pimc.backends.base import Backend
from pimc.errors import PimcError, UnknownNameError

GROUP = "pimc.backends"

# The reference backend that runs a Program for real (Program.__call__, `pimc run`, the demo,
# torch.compile); architecture.md §7 makes numba-cpu the reference semantics.
EXECUTING_DEFAULT = "numba-cpu"


@functools.cache
def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        seen = found.get(ep.name)
        # importlib.metadata lists each distribution once, so one name from two distributions
        # (or twice from one, pointing at different objects) is a real clash: refuse to guess.
        if seen is not None and (seen.value != ep.value or _dist(seen) != _dist(ep)):
            raise PimcError(f"two installed packages register backend '{ep.name}': "
                            f"{_dist(seen)} ({seen.value}) and {_dist(ep)} ({ep.value}); "
                            f"uninstall one of them (pip uninstall {_dist(ep)})")
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


def providing_stage(stage: str) -> str:
    """The name of the one installed backend with a stage called `stage` (`--emit pim-cmds`)."""
    owners = [name for name in names() if stage in {s.name for s in get(name).stages()}]
    if len(owners) != 1:
        found = f"backends {', '.join(owners)} all have it" if owners else "no backend has it"
        raise PimcError(f"stage '{stage}': {found}; installed backends: {', '.join(names())}")
    return owners[0]
