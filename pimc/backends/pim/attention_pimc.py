"""pimc's decode-attention layout (layout="pimc") on any target's organisation.

AttAcc's head-per-channel scheme (ATTACC.md §4) without its generator's quirks, with the target's
channels, pseudo-channels, ranks, groups, banks, rows and columns: head 16g+c (here
channels*g + c) sits in channel c; group g's K occupies rows [g*R, (g+1)*R) of every bank and its
V rows [(G+g)*R, ...), R rows being what `max_context` keys need (regions never overlap, unlike
AttAcc's byte offsets). Key l belongs to unit l // keys (keys = ceil(L / units)), as its n-th key.

Commands carry their operands in the address fields, so the functional executor
(runtime/pimsim/pim_functional.py) can interpret them:
- WRGB (bank b, column k, row = K base): query slice k of bank b's part into the global buffer.
- MAC number i at mac_address(i, base): score i = n*kk + k (key n, query slice k); context
  i = j*keys + n (output slice j, key n).
- MVSB (rank, group, row = K base, column j): score block j (16 keys of each unit under the
  rank and group) to the buffer die; (rank, bank, row = V base, column j): output slice j.
- SFM (row = K base): softmax of the group's scores on the buffer die.
- MVGB (rank, group, row = V base, column m): probabilities m*nmac.. of those units' keys into
  their global buffers.
"""
from __future__ import annotations

import numpy as np

from pimc.backends.pim.attention_stream import (MAC, MAX_LEN, MVGB, MVSB, SFM, WRGB, _Builder,
                                                schedule)
from pimc.backends.pim.layout import HBM3, Geometry, PimOrg, cdiv
from pimc.errors import PimcError

BLOCK = 16  # keys per score move: 16 fp16 scores = one 32-B move (ATTACC.md §4 score MVSB)


class AttentionLayout:
    def __init__(self, L: int, nhead: int, dhead: int, dbyte: int = 2, placement: str = "BA",
                 org: PimOrg | None = None, max_context: int = MAX_LEN):
        org = org or HBM3
        for name, value in (("context", L), ("heads", nhead), ("head_dim", dhead)):
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise PimcError(f"{name}: must be a positive integer, got {value!r}")
        if dbyte not in (1, 2):
            raise PimcError(f"dtype: {dbyte}-byte elements; the PIM units take fp16 or int8")
        if L > max_context:
            raise PimcError(f"context: {L} keys do not fit the layout's {max_context}-key "
                            "K/V region per head")
        if dhead % 16:
            raise PimcError(f"head_dim: {dhead} is not a multiple of 16 (K/V columns hold "
                            "16-element slices)")
        self.L, self.nhead, self.dhead, self.org = L, nhead, dhead, org
        self.geo = Geometry(org, placement, dbyte, org.banks if placement == "BA" else 1)
        self.placement = placement
        self.U = self.geo.units
        self.keys = cdiv(L, self.U)
        self.kk = cdiv(dhead, self.geo.split * self.geo.nmac)
        self.G = cdiv(nhead, org.channels)
        self.region = cdiv(cdiv(max_context, self.U) * self.kk, self.geo.per_row)
        if 2 * self.G * self.region > org.rows:
            raise PimcError(f"heads: {nhead} heads x head_dim {dhead} need "
                            f"{2 * self.G * self.region} rows per bank; the memory has {org.rows}")

    def kbase(self, g: int) -> int:
        return g * self.region

    def vbase(self, g: int) -> int:
        return (self.G + g) * self.region

    def region_of(self, row: int) -> tuple[int, str]:
        r = row // self.region
        return (r, "K") if r < self.G else (r - self.G, "V")

    def slice_of(self, part: int, k: int) -> slice:
        """The head dims that a bank's `part` holds in column slice k."""
        start = (part * self.kk + k) * self.geo.nmac
        return slice(start, start + self.geo.nmac)

    def head(self, g: int, c: int) -> int:
        return g * self.org.channels + c

    def heads(self) -> list["_PimcHead"]:
        ch = self.org.channels
        return [_PimcHead(self, g, list(range(min(ch, self.nhead - ch * g))))
                for g in range(self.G)]

    def stream(self) -> np.ndarray:
        return schedule(self.heads(), False, self.org.channels)


class _PimcHead:
    """One head group's request lists, channel-innermost (the interface schedule() reads)."""

    def __init__(self, lay: AttentionLayout, g: int, chans: list[int]):
        self.lay, self.g, self.chans = lay, g, chans
        o, geo = lay.org, lay.geo
        self.len1, self.len2 = cdiv(lay.keys, BLOCK), lay.kk
        kb, vb = lay.kbase(g), lay.vbase(g)
        b = self._b()
        bank, col = np.meshgrid(np.arange(geo.split), np.arange(lay.kk), indexing="ij")
        b.add(WRGB, chans, bank=bank.ravel(), row=kb, col=col.ravel())
        self.wrgb = b.done()
        b = self._b()
        moves = np.arange(cdiv(lay.keys, geo.nmac))
        if lay.placement == "BUFFER":
            b.add(MVGB, chans, row=vb, col=moves)
        else:
            r, bg, m = np.meshgrid(np.arange(o.ranks), np.arange(o.bank_groups), moves,
                                   indexing="ij")
            b.add(MVGB, chans, rank=r.ravel(), bg=bg.ravel(), row=vb, col=m.ravel())
        self.mvgb = b.done()

    def _b(self) -> _Builder:
        return _Builder(self.lay.org.channels)

    def _macs(self, i, base) -> np.ndarray:
        b = self._b()
        b.add(MAC, self.chans, *self.lay.geo.mac_address(i, base))
        return b.done()

    def score_macs(self, j: int) -> np.ndarray:
        lay = self.lay
        n = np.arange(BLOCK * j, min(BLOCK * j + BLOCK, lay.keys))
        return self._macs((n[:, None] * lay.kk + np.arange(lay.kk)[None, :]).ravel(),
                          lay.kbase(self.g))

    def context_macs(self, j: int) -> np.ndarray:
        lay = self.lay
        return self._macs(np.arange(lay.keys) + j * lay.keys, lay.vbase(self.g))

    def score_mvsb(self, j: int) -> np.ndarray:
        b, o = self._b(), self.lay.org
        if self.lay.placement == "BUFFER":
            b.add(MVSB, self.chans, row=self.lay.kbase(self.g), col=j)
        else:
            bg, r = np.meshgrid(np.arange(o.bank_groups), np.arange(o.ranks), indexing="ij")
            b.add(MVSB, self.chans, rank=r.ravel(), bg=bg.ravel(), row=self.lay.kbase(self.g),
                  col=j)
        return b.done()

    def context_mvsb(self, j: int) -> np.ndarray:
        b, o, vb = self._b(), self.lay.org, self.lay.vbase(self.g)
        if self.lay.placement == "BA":  # one per (bank, rank): the banks hold different dims
            bank, r = np.meshgrid(np.arange(o.banks), np.arange(o.ranks), indexing="ij")
            b.add(MVSB, self.chans, rank=r.ravel(), bank=bank.ravel(), row=vb, col=j)
        elif self.lay.placement == "BG":
            b.add(MVSB, self.chans, rank=np.arange(o.ranks), row=vb, col=j)
        else:
            b.add(MVSB, self.chans, row=vb, col=j)
        return b.done()

    def sfm(self) -> np.ndarray:
        b = self._b()
        b.add(SFM, self.chans, row=self.lay.kbase(self.g))
        return b.done()
