"""Request traces: the serving loop's requests read from a CSV file.

One request per row, in a file with a header line. Columns, by header name:
  prompt_len   prompt tokens (alias `seq_len`, the KV length of NeuPIMs' request traces,
               casys-kaist/NeuPIMs request-traces/*.csv);
  output_len   tokens to generate (alias `gen_len`); optional when the caller gives a default
               (`pimc simulate --gen-len`), as NeuPIMs' traces have no output length;
  arrival_s    arrival time in seconds (optional: every request arrives at 0, a static batch).
Other columns (NeuPIMs' `ch_idx`, a channel assignment pimc's layouts make themselves) are
ignored. Requests are numbered in file order and served in arrival order.
"""
from __future__ import annotations

import csv
from pathlib import Path

from pimc.errors import PimcError
from pimc.runtime.system.serving import Request

COLUMNS = {"prompt_len": ("prompt_len", "seq_len"), "output_len": ("output_len", "gen_len"),
           "arrival_s": ("arrival_s",)}


def load_requests(path: str | Path, default_output_len: int | None = None) -> list[Request]:
    """The requests of the CSV trace at `path` (module docstring); errors name file:line:col."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise PimcError(f"--requests-file: cannot read '{path}': {e.strerror}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise PimcError(f"{path}:1:1: empty request trace; expected a header line with "
                        f"{_expected()}")
    header = [h.strip() for h in rows[0]]
    where: dict[str, int] = {}
    for name, aliases in COLUMNS.items():
        found = [i for i, h in enumerate(header) if h in aliases]
        if len(found) > 1:
            raise PimcError(f"{path}:1:{_col(rows[0], found[1])}: column '{name}' given twice "
                            f"({' and '.join(header[i] for i in found)})")
        if found:
            where[name] = found[0]
    if "prompt_len" not in where or ("output_len" not in where and default_output_len is None):
        missing = "prompt_len" if "prompt_len" not in where else "output_len"
        raise PimcError(f"{path}:1:1: request trace has no '{missing}' column (header: "
                        f"{','.join(header)}); expected {_expected()}"
                        + (" or --gen-len" if missing == "output_len" else ""))
    requests = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise PimcError(f"{path}:{line}:1: {len(row)} fields where the header has "
                            f"{len(header)}")
        prompt = _cell(path, line, row, where["prompt_len"], int, 1)
        output = _cell(path, line, row, where["output_len"], int, 1) \
            if "output_len" in where else default_output_len
        arrival = _cell(path, line, row, where["arrival_s"], float, 0.0) \
            if "arrival_s" in where else 0.0
        requests.append(Request(len(requests), arrival, prompt, output))
    if not requests:
        raise PimcError(f"{path}:2:1: request trace has a header but no requests")
    return requests


def requests_for(batch: int | None, prompt_len: int, gen_len: int, requests: int | None,
                 rate: float, workload: str, seed: int,
                 requests_file: str | Path | None = None) -> list[Request]:
    """What `pimc simulate` and `Program.simulate` serve: the trace at `requests_file`
    (`gen_len` for rows without an output length), else a static batch or a Poisson stream."""
    from pimc.runtime.system.simulate import make_requests
    if requests_file is None:
        return make_requests(batch, prompt_len, gen_len, requests, rate, workload, seed)
    if batch is not None or requests is not None:
        raise PimcError("--requests-file: give either a trace or --batch / --requests, not both")
    return load_requests(requests_file, gen_len)


def _cell(path: Path, line: int, row: list[str], i: int, kind: type, least):
    raw = row[i].strip()
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value < least or value != value:  # value != value: NaN
        what = "an integer >= 1" if kind is int else "a number >= 0"
        raise PimcError(f"{path}:{line}:{_col(row, i)}: '{raw}' is not {what}")
    return value


def _col(row: list[str], i: int) -> int:
    """1-based character column of field i (fields joined by commas, no quoting)."""
    return 1 + sum(len(cell) + 1 for cell in row[:i])


def _expected() -> str:
    return "prompt_len (or seq_len), output_len (or gen_len) and optionally arrival_s"
