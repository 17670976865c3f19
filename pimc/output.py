"""Output helpers: never leave a half-written file, and split multi-case inputs."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pimc.errors import PimcError

SPLIT_MARKER = "// -----"


def write_atomically(path: str | Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: readers see all or nothing. A path
    that cannot be written (no such directory, a directory, no permission) is a PimcError."""
    path = Path(path)
    try:
        _write_then_rename(path, text)
    except OSError as e:
        raise PimcError(f"cannot write '{path}': {e.strerror}") from None


def _write_then_rename(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def split_chunks(source: str) -> list[str]:
    """Split at lines that are exactly `// -----`. Each chunk keeps its original line numbers
    (earlier lines become blank), so diagnostics point into the real file."""
    lines = source.split("\n")
    chunks, start = [], 0
    for i, line in enumerate(lines + [SPLIT_MARKER]):
        if line.strip() == SPLIT_MARKER:
            chunks.append("\n" * start + "\n".join(lines[start:i]))
            start = i + 1
    return chunks
