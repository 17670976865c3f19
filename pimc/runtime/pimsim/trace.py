"""DRAMsim3-format memory traces: one request per line, `<hex byte address> <READ|WRITE> <cycle>`
(/work/shared/reference/dramsim3/DRAMSIM3.md §2), e.g. `0x00001fc0 READ 127`. Blank lines are
skipped. A bad line is one error naming file:line."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pimc.errors import PimcError

class TraceError(PimcError):
    """A trace that cannot be read, a malformed line, or a request the memory cannot serve."""


@dataclass(frozen=True)
class Trace:
    """Requests in file order. `line` holds each request's 1-based line number."""

    name: str
    addr: np.ndarray  # int64 byte addresses
    is_write: np.ndarray  # bool
    cycle: np.ndarray  # int64 issue cycles (DRAM tCK)
    line: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.addr)

    @staticmethod
    def from_requests(requests, name: str = "<requests>") -> Trace:
        """A Trace from (address, "READ"|"WRITE", cycle) tuples."""
        text = "".join(f"{a:#x} {op} {c}\n" for a, op, c in requests)
        return parse_trace(text, name)


def read_trace(path: str | Path) -> Trace:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise TraceError(f"cannot read trace '{path}': {e.strerror}") from None
    return parse_trace(data, str(path))


def parse_trace(text: str | bytes, name: str = "<trace>") -> Trace:
    # Line by line on bytes (about 0.5 us a line): whole-file tokenising is no faster once it
    # has checked every line's shape, and this names the bad line.
    data = text.encode() if isinstance(text, str) else text
    addr, is_write, cycle, line = [], [], [], []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        fields = raw.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise TraceError(f"{name}:{number}: expected '<hex address> READ|WRITE <cycle>', "
                             f"got '{_show(raw.strip())}'")
        a, op, c = fields
        if op != b"READ" and op != b"WRITE":
            raise TraceError(f"{name}:{number}: unknown command '{_show(op)}'; valid: READ, WRITE")
        try:
            value = int(a, 16)
        except ValueError:
            raise TraceError(f"{name}:{number}: address '{_show(a)}' is not a hexadecimal "
                             "number") from None
        if not 0 <= value < 2**63:
            raise TraceError(f"{name}:{number}: address '{_show(a)}' is out of range")
        if not c.isdigit():
            raise TraceError(f"{name}:{number}: cycle '{_show(c)}' is not a non-negative integer")
        addr.append(value)
        is_write.append(op == b"WRITE")
        cycle.append(int(c))
        line.append(number)
    return Trace(name, np.array(addr, dtype=np.int64), np.array(is_write, dtype=bool),
                 np.array(cycle, dtype=np.int64), np.array(line, dtype=np.int64))


def _show(raw: bytes) -> str:
    return raw.decode(errors="backslashreplace")
