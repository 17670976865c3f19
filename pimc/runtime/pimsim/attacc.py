"""AttAcc's HBM3-PIM decode-attention kernels on pimsim (ATTACC.md).

    from pimc.runtime.pimsim.attacc import run_attention
    r = run_attention(L=2048, nhead=188, dhead=128, dbyte=2, placement="BA",
                      power_constraint=True, layout="attacc")
    r.cycles, r.time_s, r.commands, r.bandwidth_gbps, r.energy_j, r.log

The request stream comes from backends/pim/attention_stream.py; pim_engine.simulate runs it with
the timing table of `attacc_spec` (HBM3 plus spec.PIM_COMMANDS / PIM_RULES). `r.commands` uses
AttAcc's names: the requests (MACAB|MACSB|MACPB, WRGB, MVSB, MVGB, SFM) and the commands the
controller inserted (ACTAB/PREA, ACTSB/PRESB, ACTPB/PREPB, REFab).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from pimc.errors import PimcError
from pimc.progress import watched
from pimc.backends.pim.attention_stream import MAC_COMMAND, PLACEMENTS, attention_stream
from pimc.backends.pim.emit import samsung
from pimc.backends.pim.layout import HBM3, PimOrg
from pimc.runtime.pimsim.pim_engine import PIM_NAMES, compile_pim, org_of, simulate
from pimc.runtime.pimsim.presets import hbm3
from pimc.runtime.pimsim.spec import (DRAM_COMMANDS, DRAM_RULES, PIM_COMMANDS, PIM_RULES,
                                      DramSpec)

LOG_DTYPE = np.dtype([("cycle", "i8"), ("command", "U5"), ("channel", "i4"),
                      ("pseudo_channel", "i2"), ("rank", "i2"), ("bankgroup", "i2"),
                      ("bank", "i2"), ("row", "i4"), ("column", "i4")])


def mac_bytes_per_command(spec: DramSpec, placement: str) -> int:
    """One column from every bank (BA), one bank per group (BG) or one bank per pseudo-channel
    (BUFFER), over the whole channel: 64, 16 or 2 units x 32 B on HBM3 (ATTACC.md §4)."""
    o = spec.org
    lanes = {"BA": o.pseudo_channels * o.banks_per_unit,
             "BG": o.pseudo_channels * o.ranks * o.bank_groups,
             "BUFFER": o.pseudo_channels}[placement]
    return lanes * o.access_bytes
MOVE_BYTES = 32  # WRGB / MVSB / MVGB move one 32-B column over the TSVs (ATTACC.md §1)
# pJ/bit defaults: the attacc-* targets' [energy] (AttAcc src/config.py ENERGY_TABLE)
PIM_PJ_PER_BIT = {"BA": 0.55, "BG": 0.55, "BUFFER": 0.55}
MOVE_PJ_PER_BIT = 0.5  # TSV, AttAcc ENERGY_TABLE


@lru_cache(maxsize=None)
def attacc_spec(power_constraint: bool = True) -> DramSpec:
    """AttAcc's HBM3-PIM: HBM3_8Gb_2R at 5.2 Gb/s (HBM3_5.2Gbps, or _NPC without the power
    constraint) with the PIM command set and rules."""
    base = hbm3(power_constraint)
    return dataclasses.replace(base, name=base.name.replace("hbm3", "hbm3-pim"),
                               commands=DRAM_COMMANDS + PIM_COMMANDS,
                               rule_rows=DRAM_RULES + PIM_RULES)


@lru_cache(maxsize=None)
def _compiled(power_constraint: bool):
    return compile_pim(attacc_spec(power_constraint))


@dataclass
class PimResult:
    cycles: int
    tck_ns: float
    commands: dict[str, int]  # AttAcc's names
    mac_bytes: int  # bytes the MAC units read
    energy_j: float
    placement: str
    layout: str
    spec: DramSpec = field(repr=False)
    log: np.ndarray | None = field(repr=False, default=None)

    @property
    def time_s(self) -> float:
        return self.cycles * self.tck_ns * 1e-9

    @property
    def bandwidth_gbps(self) -> float:
        """Achieved internal bandwidth: bytes the MAC units read per second."""
        return self.mac_bytes / self.time_s / 1e9 if self.cycles else 0.0

    def summary(self) -> dict:
        return dict(cycles=self.cycles, time_s=self.time_s, commands=self.commands,
                    bandwidth_gbps=self.bandwidth_gbps, energy_j=self.energy_j,
                    placement=self.placement, layout=self.layout, memory=self.spec.name)


def run_attention(L: int, nhead: int, dhead: int, dbyte: int = 2, placement: str = "BA",
                  power_constraint: bool = True, layout: str = "pimc", refresh: bool = True,
                  log: bool = False, pim_pj_per_bit: float | None = None,
                  move_pj_per_bit: float = MOVE_PJ_PER_BIT, stream=None) -> PimResult:
    """Simulate one HBM3 stack's decode attention (nhead heads of L keys x dhead)."""
    if placement not in PLACEMENTS:
        raise PimcError(f"placement: unknown '{placement}'; valid: {', '.join(PLACEMENTS)}")
    if stream is None:
        stream = attention_stream(L, nhead, dhead, dbyte, placement, layout)
    spec = attacc_spec(bool(power_constraint))
    pj = PIM_PJ_PER_BIT[placement] if pim_pj_per_bit is None else pim_pj_per_bit
    return run_stream(stream, spec, placement, layout, refresh, log, pj, move_pj_per_bit,
                      _compiled(bool(power_constraint)))


def run_stream(stream: np.ndarray, spec: DramSpec, placement: str, layout: str = "pimc",
               refresh: bool = True, log: bool = False, pim_pj_per_bit: float = 0.55,
               move_pj_per_bit: float = MOVE_PJ_PER_BIT, compiled=None) -> PimResult:
    """Any PIM request stream (STREAM_DTYPE) on any spec with the PIM command rows: the
    organisation comes from spec.org, the rules from spec.rules."""
    lat, depth, code = compiled if compiled is not None else compile_pim(spec)
    cols = [np.ascontiguousarray(stream[f], np.int64)
            for f in ("op", "channel", "rank", "bankgroup", "bank", "row", "column")]
    cap = 4 * len(stream) + 4096 if log else 0
    nrefi = spec.params["tREFI"] if refresh else 0
    fed = np.zeros(1, np.int64)
    cycles, counts, raw, nlog = watched(
        lambda: simulate(*cols, PLACEMENTS.index(placement), lat, depth, code, nrefi, cap,
                         org_of(spec), fed),
        lambda: fed[0], len(stream), f"pimsim {spec.name} {layout} stream")
    names = [c.name for c in spec.commands]
    commands = {name: int(counts[names.index(name)]) for name in PIM_NAMES
                if counts[names.index(name)]}
    mac_bytes = commands.get(MAC_COMMAND[placement], 0) * mac_bytes_per_command(spec, placement)
    moves = sum(commands.get(k, 0) for k in ("WRGB", "MVSB", "MVGB")) * MOVE_BYTES
    energy = (mac_bytes * pim_pj_per_bit + moves * move_pj_per_bit) * 8e-12
    out = None
    if log:
        if nlog > cap:
            raise PimcError(f"pimsim: command log overflow ({nlog} > {cap})")
        raw = raw[:nlog]
        out = np.zeros(nlog, LOG_DTYPE)
        out["command"] = np.asarray(names)[raw[:, 1]]
        for k, f in enumerate(LOG_DTYPE.names):
            if f != "command":
                out[f] = raw[:, k]
    return PimResult(int(cycles), spec.tCK_ns, commands, mac_bytes, energy, placement, layout,
                     spec, out)


PLACEMENT_OF_TARGET = {"bank": "BA", "bankgroup": "BG", "buffer": "BUFFER"}
DBYTE = {"fp16": 2, "int8": 1}


def run_attention_for_target(target, context: int, heads: int, head_dim: int,
                             dtype: str | None = None, layout: str = "pimc") -> PimResult:
    """`pimc pim-kernel attention`: the target's [pim] placement, dtype and power constraint
    (`pim.power_constraint`; absent, it follows `pim.mac_interval_tck`: 6 -> on, 4 -> off)."""
    pim = getattr(target, "pim", None)
    if pim is None:
        raise PimcError(f"-t {target.name}: the target has no [pim] section")
    dtype = dtype or pim.dtype
    if dtype not in DBYTE:
        raise PimcError(f"--dtype: '{dtype}' is not supported by AttAcc's PIM; valid: fp16, int8")
    pc = getattr(pim, "power_constraint", None)
    if pc is None:
        pc = pim.mac_interval_tck > 4
    energy = getattr(target, "energy", None)
    pj = getattr(energy, "pim_pj_per_bit", None) if energy is not None else None
    if samsung(target):
        raise PimcError(f"-t {target.name}: Samsung HBM-PIM has no attention kernel (PIMSimulator: "
                        "gemv, add, mul, relu); pim-kernel attention takes bank, bank-group or "
                        "buffer MAC targets (e.g. -t neupims, attacc-bank)")
    org = PimOrg.of(target)
    if org != HBM3:  # not AttAcc's stack: pimc's layout on the target's own DRAM and PIM rules
        if layout != "pimc":
            raise PimcError(f"--layout {layout}: AttAcc's generator needs its 16-channel HBM3 "
                            f"stack; -t {target.name} takes --layout pimc")
        from pimc.runtime.pimsim.pim_kernels import pim_spec
        placement = PLACEMENT_OF_TARGET[pim.placement]
        stream = attention_stream(context, heads, head_dim, DBYTE[dtype], placement, "pimc", org)
        return run_stream(stream, pim_spec(target), placement, "pimc",
                          pim_pj_per_bit=PIM_PJ_PER_BIT[placement] if pj is None else pj)
    return run_attention(context, heads, head_dim, DBYTE[dtype], PLACEMENT_OF_TARGET[pim.placement],
                         power_constraint=pc, layout=layout, pim_pj_per_bit=pj)
