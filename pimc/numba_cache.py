"""numba's on-disk cache (`cache=True`) for pimc's own kernels, keyed on their whole package.

numba stamps a cached function with its own source file only, so a kernel that calls a
function in another file keeps its stale machine code when only that other file changes. For
functions defined under one of `ROOTS`, the locators below stamp the cache with the digest of
every .py file in the function's folder (caches.py): editing any file a kernel can call
into (a package's kernels call only their own package) recompiles it. The cache stays where
numba would put it (the source's __pycache__, else the user-wide cache). Importing this module
installs the locators; the numba-cpu backend and pimsim import it before defining kernels.
"""
from __future__ import annotations

from pathlib import Path

from numba.core import caching

from pimc.caches import ROOT, source_digest

ROOTS: list[Path] = [ROOT]  # trees whose numba functions get package-wide stamps


def _folder(py_file: str) -> Path | None:
    path = Path(py_file).resolve()
    return path.parent if any(path.is_relative_to(root) for root in ROOTS) else None


class _PackageStamp:
    @classmethod
    def from_function(cls, py_func, py_file):
        if _folder(py_file) is None:
            return None  # not ours: numba's own locators handle it
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        return source_digest(_folder(self._py_file))


class PackageInTreeLocator(_PackageStamp, caching.InTreeCacheLocator):
    """The source's __pycache__, stamped with its folder's digest."""


class PackageUserWideLocator(_PackageStamp, caching.UserWideCacheLocator):
    """The user-wide numba cache (a read-only install), stamped the same way."""


def install() -> None:
    locators = caching.CacheImpl._locator_classes
    for cls in (PackageUserWideLocator, PackageInTreeLocator):
        if cls not in locators:
            locators.insert(0, cls)


install()
