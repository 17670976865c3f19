"""Where pimc's PIM layouts put data: a memory organisation taken from the target, and the
geometry of one placement's MAC units over it.

One stack is laid out; the other stacks hold their own share and run the same stream beside it.
A MAC command reads one column (`column_bytes`) in every bank it acts on (its *lanes*):
- BA (bank, AttAcc's MACAB): every bank of the channel, both pseudo-channels.
- BG (bank group, MACSB): bank b of every bank group.
- BUFFER (buffer die, MACPB): one (rank, group, bank) of every pseudo-channel.
Requests address pseudo-channel 0 and stand for every pseudo-channel (ATTACC.md §3, §4).

A *unit* is what accumulates one result stream: for attention (AttAcc, ATTACC.md §4) a bank group
under BA (its banks split the head dimension, `split` = banks per group) and BG, a pseudo-channel
under BUFFER; for GEMV (lower-to-pim's row tiling, one weight block per PIM unit) every bank under
BA, as the targets' units_per_channel count them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pimc.errors import PimcError

PLACEMENTS = ("BA", "BG", "BUFFER")
PLACEMENT_OF = {"bank": "BA", "bankgroup": "BG", "buffer": "BUFFER"}  # targets -> AttAcc's names
DTYPE_BYTES = {"fp16": 2, "bf16": 2, "int8": 1}


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class PimOrg:
    """One stack's organisation, as the target's [memory] gives it."""

    channels: int
    pseudo_channels: int
    ranks: int
    bank_groups: int
    banks: int  # per bank group
    rows: int
    columns: int
    column_bytes: int

    @classmethod
    def of(cls, target) -> "PimOrg":
        m = target.memory
        if not m.has_banks:
            raise PimcError(f"target '{target.name}': [memory] has no bank organisation (ranks, "
                            "bank_groups, banks_per_group, rows, columns) to lay PIM data over")
        # A MAC reads what a unit multiplies at once: `lanes` elements of the PIM's type. That is
        # one column on AttAcc's HBM3 (16 fp16 = 32 B); NeuPIMs' 16 multipliers per bank take
        # half of an HBM2 64-B burst (pim_comp_coverage 16, configs/memory_configs/neupims.json),
        # so its rows hold twice as many PIM columns as burst columns.
        col = m.access_bytes
        if target.pim is not None:
            col = min(col, target.pim.lanes * DTYPE_BYTES.get(target.pim.dtype, 2))
        return cls(m.channels, m.pseudo_channels, m.ranks, m.bank_groups, m.banks_per_group,
                   m.rows, m.columns * m.access_bytes // col, col)


# AttAcc's HBM3 stack (ATTACC.md §2): 16 channels x 2 pCH x 2 ranks x 4 groups x 4 banks,
# 2^14 rows of 32 columns of 32 B.
HBM3 = PimOrg(16, 2, 2, 4, 4, 16384, 32, 32)


@dataclass(frozen=True)
class Geometry:
    org: PimOrg
    placement: str
    dbyte: int
    split: int = 1  # BA only: banks of a group that split one vector (attention: all of them)

    def __post_init__(self):
        if self.placement not in PLACEMENTS:
            raise PimcError(f"placement: unknown '{self.placement}'; valid: {', '.join(PLACEMENTS)}")

    @property
    def nmac(self) -> int:
        """Elements per column."""
        return self.org.column_bytes // self.dbyte

    @property
    def units(self) -> int:
        o = self.org
        if self.placement == "BUFFER":
            return o.pseudo_channels
        groups = o.pseudo_channels * o.ranks * o.bank_groups
        return groups * o.banks // self.split if self.placement == "BA" else groups

    @property
    def per_row(self) -> int:
        """MACs before the address moves to the next row."""
        o = self.org
        return {"BA": o.columns, "BG": o.columns * o.banks,
                "BUFFER": o.columns * o.banks * o.ranks * o.bank_groups}[self.placement]

    def mac_address(self, i, base: int):
        """(rank, bankgroup, bank, row, column) of MAC number i: ATTACC.md §4's table with the
        target's counts (BA: column-major through one row; BG: 32 columns of bank 0, then
        bank 1...; BUFFER: rotate over group, rank, bank, then column)."""
        i = np.asarray(i)
        o, z = self.org, np.zeros_like(i)
        if self.placement == "BA":
            return z, z, z, base + i // o.columns, i % o.columns
        if self.placement == "BG":
            return z, z, (i // o.columns) % o.banks, base + i // self.per_row, i % o.columns
        g, r, b = o.bank_groups, o.ranks, o.banks
        return ((i // g) % r, i % g, (i // (g * r)) % b, base + i // self.per_row,
                (i // (g * r * b)) % o.columns)

    def mac_index(self, rank: int, bg: int, bank: int, row: int, col: int, base: int) -> int:
        """The inverse of mac_address."""
        o = self.org
        off = (row - base) * self.per_row
        if self.placement == "BA":
            return off + col
        if self.placement == "BG":
            return off + bank * o.columns + col
        g, r = o.bank_groups, o.ranks
        return off + ((col * o.banks + bank) * r + rank) * g + bg

    def lanes(self, rank: int = 0, bg: int = 0, bank: int = 0) -> np.ndarray:
        """The banks a MAC addressed at (rank, bg, bank) reads: rows of (pch, rank, group, bank,
        unit, part), `part` being the slice of the vector a BA bank holds when split > 1."""
        o = self.org
        p, r, g, b = np.meshgrid(np.arange(o.pseudo_channels), np.arange(o.ranks),
                                 np.arange(o.bank_groups), np.arange(o.banks), indexing="ij")
        p, r, g, b = p.ravel(), r.ravel(), g.ravel(), b.ravel()
        group = (p * o.ranks + r) * o.bank_groups + g
        if self.placement == "BA":
            unit, part = (group, b) if self.split > 1 else (group * o.banks + b, 0 * b)
            keep = np.ones_like(p, bool)
        elif self.placement == "BG":
            unit, part, keep = group, 0 * b, b == bank
        else:
            unit, part, keep = p, 0 * b, (r == rank) & (g == bg) & (b == bank)
        return np.stack([p, r, g, b, unit, part], 1)[keep]

    def unit_lane(self, unit, part, rank, bg, bank):
        """(pch, rank, group, bank) where `unit`'s part `part` meets a MAC addressed at
        (rank, bg, bank): the forward map that the memory image uses."""
        o = self.org
        if self.placement == "BUFFER":
            return unit, rank, bg, bank
        if self.placement == "BA" and self.split == 1:
            group, b = unit // o.banks, unit % o.banks
        else:
            group, b = unit, (part if self.placement == "BA" else bank)
        g = group % o.bank_groups
        r = (group // o.bank_groups) % o.ranks
        return group // (o.bank_groups * o.ranks), r, g, b

    def drained(self, rank: int, bg: int) -> np.ndarray:
        """Units whose results one result move at (rank, bg) carries: those under (rank, group)
        in every pseudo-channel (BA/BG, ATTACC.md §4 score MVSB), every unit (BUFFER)."""
        lanes = self.lanes()
        if self.placement != "BUFFER":
            lanes = lanes[(lanes[:, 1] == rank) & (lanes[:, 2] == bg)]
        return np.unique(lanes[:, 4])
