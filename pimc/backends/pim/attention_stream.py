"""AttAcc's decode-attention PIM request stream (ATTACC.md §4), as numpy arrays.

`attention_stream(L, nhead, dhead, dbyte, placement, layout)` returns a `Stream`: one request per
row in issue (file) order, with fields `STREAM_DTYPE`: `op` (one of `OPS`: MAC, WRGB, MVSB, MVGB,
SFM, BARRIER), `channel`, `rank`, `bankgroup`, `bank`, `row`, `column` (pseudo-channel is always 0,
as in AttAcc's traces). A MAC is MACAB/MACSB/MACPB by placement.

layout="attacc" reproduces AttAcc's trace generator (scale-snu/attacc_simulator, commit c1540de),
quirks included: the first pair's dummy MAC, the repeated context phase (B's context is never
emitted, A's twice), the WRGB/MVGB strides that drop the remainder, and the odd-tail SFM/MVGB
block repeated after every score step. layout="pimc" (the default) has none of them and lays the
heads over any target's organisation (attention_pimc.py); both share `schedule`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pimc.errors import PimcError

OPS = ("MAC", "WRGB", "MVSB", "MVGB", "SFM", "BARRIER")
MAC, WRGB, MVSB, MVGB, SFM, BARRIER = range(6)
PLACEMENTS = ("BA", "BG", "BUFFER")
MAC_COMMAND = {"BA": "MACAB", "BG": "MACSB", "BUFFER": "MACPB"}
STREAM_DTYPE = np.dtype([("op", "i1"), ("channel", "i2"), ("rank", "i2"), ("bankgroup", "i2"),
                         ("bank", "i2"), ("row", "i4"), ("column", "i2")])
CHANNELS, ROWS, MAX_LEN = 16, 16384, 4096  # one HBM3 stack; the generator's default max length
V_BASE_ROW = 8192  # V at byte offset 2^23 = row 8192


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class Shape:
    L: int
    nhead: int
    dhead: int
    dbyte: int
    placement: str

    @property
    def nmac(self) -> int:
        return 32 // self.dbyte

    @property
    def units(self) -> int:  # U: parallel units along L
        return 2 if self.placement == "BUFFER" else 16

    @property
    def kk(self) -> int:
        per = 4 * self.nmac if self.placement == "BA" else self.nmac
        return cdiv(self.dhead, per)

    @property
    def keys(self) -> int:  # keys per unit
        return cdiv(self.L, self.units)

    @property
    def groups(self) -> int:
        return cdiv(self.nhead, CHANNELS)

    def validate(self) -> None:
        for name, value in (("context", self.L), ("heads", self.nhead), ("head_dim", self.dhead)):
            if not isinstance(value, int) or value <= 0:
                raise PimcError(f"{name}: must be a positive integer, got {value!r}")
        if self.placement not in PLACEMENTS:
            raise PimcError(f"placement: unknown '{self.placement}'; valid: {', '.join(PLACEMENTS)}")
        if self.dbyte not in (1, 2):
            raise PimcError(f"dtype: {self.dbyte}-byte elements; AttAcc's PIM takes fp16 or int8")
        if self.L > MAX_LEN:
            raise PimcError(f"context: {self.L} keys do not fit the layout's {MAX_LEN}-key "
                            "K/V region per head")
        if self.dhead % 16:
            raise PimcError(f"head_dim: {self.dhead} is not a multiple of 16 (the K/V regions "
                            "would not be row-aligned)")
        last = V_BASE_ROW + self.row_base(self.groups - 1) + self._mac_rows()
        if last > ROWS:
            raise PimcError(f"heads: {self.nhead} heads x head_dim {self.dhead} need "
                            f"{last} rows per bank; the memory has {ROWS}")

    def row_base(self, g: int) -> int:
        return g * cdiv(MAX_LEN * self.dhead, 64) // 1024

    def _mac_rows(self) -> int:
        per_row = {"BA": 32, "BG": 128, "BUFFER": 1024}[self.placement]
        return cdiv(self.keys * self.kk, per_row)

    def mac_address(self, i: np.ndarray, base: int):
        """(rank, bankgroup, bank, row, column) arrays of MAC number i (ATTACC.md §4)."""
        z = np.zeros_like(i)
        if self.placement == "BA":
            return z, z, z, base + i // 32, i % 32
        if self.placement == "BG":
            return z, z, (i // 32) % 4, base + i // 128, i % 32
        return (i // 4) % 2, i % 4, (i // 8) % 4, base + i // 1024, (i // 32) % 32


class _Builder:
    """Appends blocks of requests; each block is emitted channel-innermost."""

    def __init__(self, nch: int = CHANNELS):
        self.parts: list[np.ndarray] = []
        self.nch = nch  # a barrier fences every channel of the stack

    def add(self, op, chans, rank=0, bg=0, bank=0, row=0, col=0) -> None:
        """One request per (outer index, channel): the address arrays have the outer shape and
        `chans` is the list of channels, innermost."""
        arrays = np.broadcast_arrays(*(np.atleast_1d(np.asarray(a)) for a in
                                       (rank, bg, bank, row, col)))
        n, c = arrays[0].size, len(chans)
        if n == 0 or c == 0:
            return
        out = np.zeros(n * c, STREAM_DTYPE)
        out["op"] = op
        out["channel"] = np.tile(np.asarray(chans), n)
        for name, a in zip(("rank", "bankgroup", "bank", "row", "column"), arrays):
            out[name] = np.repeat(a.ravel(), c)
        self.parts.append(out)

    def barrier(self) -> None:
        self.add(BARRIER, list(range(self.nch)))

    def extend(self, block: np.ndarray) -> None:
        if len(block):
            self.parts.append(block)

    def done(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, STREAM_DTYPE)


class _Head:
    """One head group's request lists (ATTACC.md §4 `per_channel_lists`), channel-innermost."""

    def __init__(self, s: Shape, g: int, chans: list[int]):
        self.s, self.g, self.chans = s, g, chans
        self.len1, self.len2 = cdiv(s.keys, 16), s.kk
        b = _Builder()
        if s.placement == "BA":
            bank, _ = np.meshgrid(np.arange(4), np.arange(s.kk), indexing="ij")
            b.add(WRGB, chans, bank=bank.ravel())
        else:
            b.add(WRGB, chans, bank=np.zeros(s.kk, int))
        self.wrgb = b.done()
        b = _Builder()
        if s.placement == "BUFFER":
            b.add(MVGB, chans, col=np.zeros(cdiv(s.L, 2 * s.nmac), int))
        else:
            r, bg, _ = np.meshgrid(np.arange(2), np.arange(4), np.arange(cdiv(s.L, 16 * s.nmac)),
                                   indexing="ij")
            b.add(MVGB, chans, rank=r.ravel(), bg=bg.ravel())
        self.mvgb = b.done()

    def score_macs(self, j: int) -> np.ndarray:
        s = self.s
        n = np.arange(16 * j, min(16 * j + 16, s.keys))
        i = (n[:, None] * s.kk + np.arange(s.kk)[None, :]).ravel()
        return self._macs(i, s.row_base(self.g))

    def context_macs(self, j: int) -> np.ndarray:
        s = self.s
        return self._macs(np.arange(s.keys) + j * s.keys, V_BASE_ROW + s.row_base(self.g))

    def first_mac(self) -> np.ndarray:
        return self._macs(np.zeros(1, int), self.s.row_base(self.g))

    def _macs(self, i, base) -> np.ndarray:
        b = _Builder()
        ra, bg, ba, row, col = self.s.mac_address(i, base)
        b.add(MAC, self.chans, ra, bg, ba, row, col)
        return b.done()

    def score_mvsb(self, j: int) -> np.ndarray:  # the MVSBs of score block j
        b = _Builder()
        if self.s.placement == "BUFFER":
            b.add(MVSB, self.chans)
        else:
            bg, r = np.meshgrid(np.arange(4), np.arange(2), indexing="ij")
            b.add(MVSB, self.chans, rank=r.ravel(), bg=bg.ravel())
        return b.done()

    def context_mvsb(self, j: int) -> np.ndarray:  # the MVSBs of output chunk j
        b = _Builder()
        if self.s.placement == "BA":
            bank, r = np.meshgrid(np.arange(4), np.arange(2), indexing="ij")
            b.add(MVSB, self.chans, rank=r.ravel(), bank=bank.ravel())
        elif self.s.placement == "BG":
            b.add(MVSB, self.chans, rank=np.arange(2))
        else:
            b.add(MVSB, self.chans)
        return b.done()

    def sfm(self) -> np.ndarray:
        b = _Builder()
        b.add(SFM, self.chans)
        return b.done()


def _strided(items: np.ndarray, steps: int, exact: bool):
    """`items` cut into `steps` chunks: AttAcc's floor stride drops the remainder (exact=False);
    pimc's spreads every item (exact=True)."""
    if exact:
        edges = [len(items) * k // steps for k in range(steps + 1)]
    else:
        stride = len(items) // steps
        edges = [stride * k for k in range(steps + 1)]
    return [items[edges[k]:edges[k + 1]] for k in range(steps)]


def attention_stream(L: int, nhead: int, dhead: int, dbyte: int = 2, placement: str = "BA",
                     layout: str = "pimc", org=None) -> np.ndarray:
    """The request stream (STREAM_DTYPE array, file order) of one HBM stack's decode attention.
    layout="pimc" lays the heads over `org` (a layout.PimOrg; default AttAcc's HBM3 stack);
    layout="attacc" is AttAcc's generator on its HBM3 stack."""
    if layout not in ("attacc", "pimc"):
        raise PimcError(f"layout: unknown '{layout}'; valid: attacc, pimc")
    if layout == "pimc":
        from pimc.backends.pim.attention_pimc import AttentionLayout
        return AttentionLayout(L, nhead, dhead, dbyte, placement, org).stream()
    s = Shape(L, nhead, dhead, dbyte, placement)
    s.validate()
    G = s.groups
    heads = [_Head(s, g, list(range(min(CHANNELS, nhead - CHANNELS * g)))) for g in range(G)]
    return schedule(heads, True, CHANNELS)


def schedule(heads: list, quirks: bool, nch: int) -> np.ndarray:
    """The head groups' requests in pairs (ATTACC.md §4), one group's softmax and moves hidden
    under the other's MACs; quirks=True is AttAcc's generator, bugs included."""
    out = _Builder(nch)
    G = len(heads)
    for p in range(G // 2):
        A, B = heads[2 * p], heads[2 * p + 1]
        len1, len2 = A.len1, A.len2
        out.extend(A.wrgb)
        if quirks and p == 0:
            out.extend(A.first_mac())  # the generator's dummy MAC
        out.barrier()
        wrgb_b = _strided(B.wrgb, len1, exact=not quirks)
        # P1: A's scores while B's query is written
        _phase(out, len1, A.score_macs, A.score_mvsb, lambda j: [wrgb_b[j]] if j < len1 else [])
        mvgb_a = _strided(A.mvgb, cdiv(len1, 2), exact=not quirks)
        # P2: B's scores; A's softmax, then A's probabilities moved over the second half
        _phase(out, len1, B.score_macs, B.score_mvsb, _softmax_then_moves(A, mvgb_a, len1))
        mvgb_b = _strided(B.mvgb, cdiv(len2, 2), exact=not quirks)
        # P3: A's context; B's softmax and moves
        _phase(out, len2, A.context_macs, A.context_mvsb, _softmax_then_moves(B, mvgb_b, len2))
        C = A if quirks else B  # P4: AttAcc emits A's context a second time
        _phase(out, len2, C.context_macs, C.context_mvsb)
    if G % 2:  # odd tail: the last group alone
        T = heads[-1]
        out.extend(T.wrgb)
        out.barrier()
        for j in range(T.len1 + 1):
            if j < T.len1:
                out.extend(T.score_macs(j))
            if j > 0:
                out.extend(T.score_mvsb(j - 1))
            if j < T.len1:
                out.barrier()
            if quirks or j == T.len1:  # c1540de: this block sat inside the loop
                out.extend(T.sfm())
                out.extend(T.mvgb)
                out.barrier()
        _phase(out, T.len2, T.context_macs, T.context_mvsb)
    return out.done()


def _phase(out, steps: int, macs, mvsb, extra=lambda j: []) -> None:
    """One software-pipelined phase: step j issues its MACs and the previous step's MVSB, then
    `extra(j)` (the other head's traffic), then a barrier; one more step drains the last MVSB."""
    for j in range(steps + 1):
        if j < steps:
            out.extend(macs(j))
        if j > 0:
            out.extend(mvsb(j - 1))
        for block in extra(j):
            out.extend(block)
        if j < steps:
            out.barrier()


def _softmax_then_moves(head, moves, steps: int):
    """The other head's softmax at step 0, its MVGB chunks over the second half of the steps."""
    def extra(j):
        return ([head.sfm()] if j == 0 else []) + \
            ([moves[j - steps // 2]] if steps // 2 <= j < steps else [])
    return extra


def stream_counts(stream: np.ndarray, placement: str) -> dict[str, int]:
    """Requests per AttAcc command name (barriers excluded)."""
    counts = np.bincount(stream["op"], minlength=len(OPS))
    names = (MAC_COMMAND[placement], "WRGB", "MVSB", "MVGB", "SFM")
    return {name: int(counts[k]) for k, name in enumerate(names)}
