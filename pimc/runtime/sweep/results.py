"""Sweep results: a journal that survives a kill, the final table (parquet or CSV), the Pareto
front of tokens/s against energy per token, and its plot.

Parquet cannot be appended to (its footer is written last), so every finished point is first
appended to a JSON-lines journal beside the output, `<out>.partial.jsonl`, and flushed to disk.
A restarted sweep skips the points in the journal and in an existing output file; when every
point is done the table is written whole (to a temporary file, then renamed) and the journal
removed.
"""
from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from pimc.errors import PimcError

KEY = "point"  # the column holding each row's point key
FORMATS = (".parquet", ".csv")
X, Y = "energy_per_token_j", "tokens_per_s"


class ResultStore:
    """The rows of one output file: those already written, those in its journal, and new ones
    appended as their points finish."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        if self.out.suffix not in FORMATS:
            raise PimcError(f"--out '{self.out}': unknown format '{self.out.suffix}'; valid: "
                            f"{', '.join(FORMATS)}")
        if not self.out.parent.is_dir():
            raise PimcError(f"--out '{self.out}': no such directory '{self.out.parent}'")
        if self.out.suffix == ".parquet":
            _pyarrow()  # fail before any work rather than after it
        self.journal = self.out.with_name(self.out.name + ".partial.jsonl")
        self.rows: dict[str, dict] = {}
        if self.out.exists():
            for row in read_table(self.out):
                self.rows[str(row[KEY])] = row
        if self.journal.exists():
            for row in _read_journal(self.journal):
                self.rows[row[KEY]] = row
        self._file = None

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def append(self, row: dict) -> None:
        """Record a finished point durably: a kill after this returns does not lose it."""
        if self._file is None:
            self._file = open(self.journal, "a", encoding="utf-8")
        self._file.write(json.dumps(row, allow_nan=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.rows[row[KEY]] = row

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def finish(self, order: list[str]) -> list[dict]:
        """Write the whole table, rows in `order` first (the grid's), then any rows of earlier
        grids; remove the journal. Returns the rows written."""
        self.close()
        first = [self.rows[k] for k in order if k in self.rows]
        rest = [row for k, row in self.rows.items() if k not in set(order)]
        rows = first + rest
        write_table(self.out, rows)
        if self.journal.exists():
            self.journal.unlink()
        return rows


def _read_journal(path: Path) -> list[dict]:
    """The journal's rows. A kill in the middle of a write leaves a last line without its
    newline: it is dropped, and cut from the file so that the next append starts clean."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as f:
            f.truncate(end)
    rows = []
    for n, line in enumerate(data[:end].decode("utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise PimcError(f"{path}:{n}: not a sweep journal line ({e.msg}); remove the file "
                            "to start over") from None
        if not isinstance(row, dict) or KEY not in row:
            raise PimcError(f"{path}:{n}: not a sweep journal line (no '{KEY}' key)")
        rows.append(row)
    return rows


def columns(rows: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def write_table(path: Path, rows: list[dict]) -> None:
    cols = columns(rows)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if path.suffix == ".parquet":
            pa = _pyarrow()
            import pyarrow.parquet as pq
            pq.write_table(pa.table({c: [row.get(c) for row in rows] for c in cols}), tmp)
        else:
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, cols)
                writer.writeheader()
                writer.writerows(rows)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_table(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        _pyarrow()
        import pyarrow.parquet as pq
        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as e:  # pyarrow raises its own error types for a damaged file
            raise PimcError(f"{path}: not a readable parquet file ({e})") from None
    else:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [{k: _csv_value(v) for k, v in row.items()} for row in csv.DictReader(f)]
    if rows and KEY not in rows[0]:
        raise PimcError(f"{path}: exists and is not a pimc sweep result (no '{KEY}' column); "
                        "give another --out")
    for row in rows:
        row[KEY] = str(row[KEY])  # a CSV reads a key of digits back as a number
    return rows


def _csv_value(text: str):
    """CSV keeps no types: numbers come back as numbers, empty cells as missing."""
    if text == "":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(text, text)


def _pyarrow():
    try:
        import pyarrow
    except ImportError:
        raise PimcError("parquet output needs pyarrow: pip install 'pimc[sweep]', or give "
                        "--out with a .csv name") from None
    return pyarrow


# ---- the Pareto front -----------------------------------------------------------------------

def pareto_front(tokens_per_s, energy_per_token) -> np.ndarray:
    """Which points no other point beats: none has at least their tokens/s and at most their
    energy per token, and is better in one. Sorted by tokens/s (highest first), a point is on the
    front if its energy is the lowest of its tokens/s and below every faster point's."""
    tps = np.asarray(tokens_per_s, dtype=float)
    ept = np.asarray(energy_per_token, dtype=float)
    front = np.zeros(len(tps), dtype=bool)
    order = np.lexsort((ept, -tps))
    best_faster = math.inf  # the lowest energy among strictly faster points
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and tps[order[j]] == tps[order[i]]:
            j += 1
        group = order[i:j]
        lowest = ept[group[0]]  # the group is sorted by energy
        if lowest < best_faster:
            front[group[ept[group] == lowest]] = True
        best_faster = min(best_faster, lowest)
        i = j
    return front


def measured(rows: list[dict]) -> list[dict]:
    """The rows with both metrics (failed points have neither)."""
    def ok(row):
        values = [row.get(X), row.get(Y)]
        return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
    return [row for row in rows if ok(row)]


def front_rows(rows: list[dict]) -> list[dict]:
    """The Pareto-optimal rows, fastest first."""
    good = measured(rows)
    mask = pareto_front([r[Y] for r in good], [r[X] for r in good])
    return sorted((r for r, m in zip(good, mask) if m), key=lambda r: -r[Y])


def plot_pareto(rows: list[dict], path: str | Path, title: str = "") -> None:
    """Tokens/s against mJ per token, one colour per target, the front joined and ringed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    good = measured(rows)
    if not good:
        raise PimcError(f"--plot '{path}': no point has tokens/s and energy to plot")
    front = front_rows(good)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for target in dict.fromkeys(r["target"] for r in good):
        mine = [r for r in good if r["target"] == target]
        ax.scatter([r[X] * 1e3 for r in mine], [r[Y] for r in mine], s=18, alpha=0.7,
                   label=target)
    xs, ys = [r[X] * 1e3 for r in front], [r[Y] for r in front]
    ax.plot(xs, ys, color="black", lw=1, zorder=1)
    ax.scatter(xs, ys, s=70, facecolors="none", edgecolors="red", lw=1.5,
               label=f"Pareto front ({len(front)})", zorder=3)
    ax.set_xlabel("energy per token (mJ)")
    ax.set_ylabel("tokens/s")
    ax.set_title(title or "pimc sweep")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as e:
        raise PimcError(f"--plot: cannot write '{path}': {e.strerror}") from None
    finally:
        plt.close(fig)
