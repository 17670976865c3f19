"""Where pimc caches things, and digests of its own source to key them by.

One root for every cache (`cache_root`): the generated numba-cpu and CUDA modules, the
simulated-cost files, assembled checkpoints and tokenizers. A cache whose entries code computed
is keyed by the digest of that code (`source_digest`), so it cannot serve what an older version
computed: the simulated-cost files (runtime/pimsim/sim_cost.py), the generated modules
(backends/numba_cpu/executable.py) and numba's on-disk cache of pimc's kernels
(numba_cache.py), instead of version numbers bumped by hand."""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def cache_root() -> Path:
    """$PIMC_CACHE_DIR, else $XDG_CACHE_HOME/pimc, else ~/.cache/pimc."""
    if "PIMC_CACHE_DIR" in os.environ:
        return Path(os.environ["PIMC_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pimc"


@functools.cache
def source_digest(*parts: str | Path) -> str:
    """sha256 over the .py files of each part (a folder, searched recursively, or a file;
    relative to the pimc package unless absolute), their names and bytes; 16 hex digits."""
    h = hashlib.sha256()
    for part in parts:
        path = ROOT / part
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for f in files:
            h.update(str(f.relative_to(path.parent if path.is_file() else path)).encode())
            h.update(b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]
