"""pim.gemv command streams: y = W x on one stack, W [rows, cols] row-tiled as lower-to-pim lays it
out (blocks of `rows_per_unit` output rows, one block per PIM unit).

Units are numbered channel-innermost (unit q = j * channels + c is unit j of channel c), so
rows spread over every channel before a channel's second unit fills. Unit q holds rows
[q * rpu, (q + 1) * rpu); its n-th row's column slice k (nmac inputs) is MAC number
i = n * kk + k at geometry.mac_address(i, 0), in each of its banks' lanes. One MAC command
serves every unit of the channel (BA: each bank its own rows; BG: bank b of every group;
BUFFER: one bank of each pseudo-channel), so a channel issues rpu * kk MACs per input vector.

Per batch row bi (run one after another: every unit's accumulators hold one vector's results,
and the global buffer one input vector):
- WRGB (column k, row = bi): input slice k into every unit's global buffer (broadcast).
- MACs in 16-row blocks, each block's results moved out by MVSB (rank, group, column = block,
  row = bi) while the next block computes (the attention score phase's pipeline, ATTACC.md §4);
  the buffer die collects y, which the host reads back.
"""
from __future__ import annotations

import numpy as np

from pimc.backends.pim.attention_stream import (MAC, MVSB, WRGB, STREAM_DTYPE, _Builder,
                                                _phase)
from pimc.backends.pim.layout import HBM3, Geometry, PimOrg, cdiv
from pimc.errors import PimcError

BLOCK = 16  # results per move: 16 fp16 = one 32-B MVSB (ATTACC.md §4)


class GemvLayout:
    def __init__(self, rows: int, cols: int, batch: int = 1, dbyte: int = 2,
                 placement: str = "BA", org: PimOrg | None = None,
                 rows_per_unit: int | None = None):
        org = org or HBM3
        for name, value in (("rows", rows), ("cols", cols), ("batch", batch)):
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise PimcError(f"{name}: must be a positive integer, got {value!r}")
        self.geo = Geometry(org, placement, dbyte, 1)
        self.rows, self.cols, self.batch, self.org = rows, cols, batch, org
        self.placement = placement
        self.U = self.geo.units
        self.rpu = rows_per_unit or cdiv(rows, self.U * org.channels)
        if self.rpu * self.U * org.channels < rows:
            raise PimcError(f"rows: {rows} rows do not fit {self.U * org.channels} units x "
                            f"{self.rpu} rows per unit of one stack")
        self.kk = cdiv(cols, self.geo.nmac)
        self.region = cdiv(self.rpu * self.kk, self.geo.per_row)
        if self.region > org.rows:
            raise PimcError(f"rows: a {rows} x {cols} GEMV needs {self.region} rows per bank; "
                            f"the memory has {org.rows}")
        self.chans = [c for c in range(org.channels) if c * self.rpu < rows]

    def row_of(self, c: int, unit: int, n: int) -> int:
        """W's row that unit `unit` of channel c holds as its n-th."""
        return (unit * self.org.channels + c) * self.rpu + n

    def slice_of(self, k: int) -> slice:
        return slice(k * self.geo.nmac, (k + 1) * self.geo.nmac)

    def stream(self) -> np.ndarray:
        if not self.chans:
            return np.zeros(0, STREAM_DTYPE)
        out, o, geo = _Builder(self.org.channels), self.org, self.geo
        steps = cdiv(self.rpu, BLOCK)
        for bi in range(self.batch):
            b = _Builder(o.channels)
            b.add(WRGB, self.chans, row=bi, col=np.arange(self.kk))
            out.extend(b.done())
            out.barrier()

            def macs(j):
                n = np.arange(BLOCK * j, min(BLOCK * j + BLOCK, self.rpu))
                b = _Builder(o.channels)
                b.add(MAC, self.chans, *geo.mac_address(
                    (n[:, None] * self.kk + np.arange(self.kk)[None, :]).ravel(), 0))
                return b.done()

            def mvsb(j, bi=bi):
                b = _Builder(o.channels)
                if self.placement == "BUFFER":
                    b.add(MVSB, self.chans, row=bi, col=j)
                else:
                    bg, r = np.meshgrid(np.arange(o.bank_groups), np.arange(o.ranks),
                                        indexing="ij")
                    b.add(MVSB, self.chans, rank=r.ravel(), bg=bg.ravel(), row=bi, col=j)
                return b.done()
            _phase(out, steps, macs, mvsb)
            out.barrier()
        return out.done()
