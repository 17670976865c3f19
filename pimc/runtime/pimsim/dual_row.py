"""NeuPIMs' dual row buffers (Heo et al., ASPLOS'24, §4): one channel runs a PIM kernel and
ordinary reads/writes (the NPU's GEMM traffic) together, cycle by cycle, with one row buffer per
bank (Newton / the `npu-pim-naive` target: the classes take turns) or two (`neupims`: each class
keeps its own open row, so reads and writes proceed while PIM computes).

    from pimc.runtime.pimsim.dual_row import (gemv_stream, interference, mixed_spec,
                                              run_mixed, streaming_requests)
    spec = mixed_spec("neupims")                      # pim.row_buffers of the target (2)
    pim = gemv_stream(spec, out_rows=64, in_cols=512)  # one channel's MACs: (row, column)
    reqs = streaming_requests(spec, 1024)              # REQUEST_DTYPE: arrive, write, bg, ba,...
    r = run_mixed("neupims", pim, reqs)                # or a Target (after --set), a DramSpec
    r.cycles, r.pim_finish, r.ordinary_finish, r.ordinary_bandwidth_gbps, r.commands, r.log
    interference("neupims", pim, reqs)                 # slow-downs against each class alone

The system simulator calibrates with `interference` per channel: `pim_slowdown` (how much the
NPU's traffic stretches a PIM kernel) and `ordinary_slowdown` (how much PIM stretches it back),
each the finish cycle together over the finish cycle alone.

`run_mixed(memory, pim_stream, requests, row_buffers=None, ...)` -> MixedResult. `memory` is a
pimc target (name, .toml or Target; its `pim.row_buffers` and `pim.mac_interval_tck` apply) or a
DramSpec from `mixed_spec`. `row_buffers` overrides the target's. `pim_stream`: any structured
array with `row` and `column` (the MACs, in order; backends/pim streams are accepted and their
MAC requests kept). `requests`: REQUEST_DTYPE, or a pimsim Trace (its `channel`'s requests).
Each MAC is an all-bank MACAB; the engine inserts ACTAB/PREA (AttAcc's all-bank commands, which
stand for NeuPIMs' G_ACT/COMP/PIM_PRECHARGE here), ACT/PRE for the requests and an all-bank
REF every tREFI (refresh=False: none). Policies: dual_engine.py. `r.log` is in check.LOG_FIELDS
order: check.check_log(r.spec, r.log) re-verifies it, with dual mode's separate open-row state
(spec.pim["row_buffers"]).

Timing: the spec's DRAM rows and AttAcc's PIM rows (spec.DRAM_RULES, spec.PIM_RULES, values
untouched) plus the cross-class rows below, chosen by mode. Dual mode keeps, from NewtonSim's
enable_dual_buffer table ([newton] casys-kaist/NeuPIMs extern/NewtonSim/src/timing.cc): the
shared command buses, ACT -> all-bank ACT at tRRD_L (both row buffers share the bank's activation
path) and all-bank ACT -> ACT at tFAW (one all-bank activation draws at least a four-activation
window's current); it drops the same-bank rules NewtonSim zeroes in that mode (RD/WR -> COMP,
COMP -> PRE) and those that only protect a shared buffer (PRE/PREA -> ACT*, ACT* -> PRE*).
A MAC moves no data on the channel's data bus (its operands go from the bank's PIM row buffer to
the bank's PIM unit, whose accumulators keep the result until a later read-out: Newton's COMP,
[newton] README), so by default no rule spaces MACs against reads and writes; `shared_column_path=True` adds
NewtonSim's rank-level COMP <-> RD/WR gaps, which its dual mode still keeps.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pimc.errors import PimcError
from pimc.runtime.pimsim.dual_engine import MixedEngine
from pimc.runtime.pimsim.presets import MEMORY_PRESETS, spec_from_target
from pimc.runtime.pimsim.spec import (DRAM_COMMANDS, DRAM_RULES, PIM_COMMANDS, PIM_RULES,
                                      DramSpec)
from pimc.runtime.pimsim.trace import Trace, read_trace

PIM_DTYPE = np.dtype([("row", "i4"), ("column", "i4")])
REQUEST_DTYPE = np.dtype([("arrive", "i8"), ("write", "?"), ("bankgroup", "i2"),
                          ("bank", "i2"), ("row", "i4"), ("column", "i4")])
LOG_DTYPE = np.dtype([("cycle", "i8"), ("command", "U5"), ("channel", "i4"),
                      ("pseudo_channel", "i2"), ("rank", "i2"), ("bankgroup", "i2"),
                      ("bank", "i2"), ("row", "i4"), ("column", "i4")])
PIM_CLASS = ("ACTAB", "MACAB", "PREA")
ORDINARY_CLASS = ("ACT", "PRE", "RD", "WR")
MAC_OP = 0  # backends/pim/attention_stream.OPS: MAC is op 0

# Cross-class rows, in spec.DRAM_RULES' format. All-bank commands act on every bank of the
# channel, so each row takes the strictest of [newton]'s same-bank / same-bank-group / same-rank
# entries and sits at channel level (one rank per channel).
SHARED_BUFFER_ROWS = (  # row_buffers = 1: one row buffer per bank, used by both classes
    ("channel", "ACT", "ACTAB", "tRC"),  # [newton] act_to_pim_act_same_bk = tRC
    ("channel", "PRE", "ACTAB", "tRP"),  # [newton] PRECHARGE -> ACTIVATE tRP, same bank
    ("channel", "PREA", "ACT", "tRP"),  # [newton] PIM_PRECHARGE -> G_ACT tRP: the buffer is shared
    ("channel", "ACT", "PREA", "tRAS"),  # [newton] ACTIVATE -> PRECHARGE tRAS
    ("channel", "ACTAB", "PRE", "tRAS"),  # [newton] G_ACT -> PIM_PRECHARGE tRAS
    ("channel", "RD", "PREA", "AL + tRTP"),  # [newton] READ -> PRECHARGE read_to_precharge
    ("channel", "WR", "PREA", "WL + nBL + tWR"),  # [newton] WRITE -> PRECHARGE
    ("channel", "MACAB", "PRE", "AL + tRTP"),  # [newton] pim_to_precharge = read_to_precharge
    ("channel", "RD", "MACAB", "max(nBL, tCCD_L)"),  # [newton] read_to_pim_read_same_bk
    ("channel", "WR", "MACAB", "WL + nBL + tWTR_L"),  # [newton] write_to_pim_read_same_bk
    ("channel", "MACAB", "RD", "max(nBL, tCCD_S)"),  # [newton] COMP -> READ read_to_read_s
    ("channel", "MACAB", "WR", "RL + nBL - WL + tRTRS"),  # [newton] COMP -> WRITE read_to_write
)
DUAL_BUFFER_ROWS = (  # row_buffers = 2 ([newton] with enable_dual_buffer)
    ("channel", "ACT", "ACTAB", "tRRD_L"),  # [newton] act_to_pim_act_same_bk = tRRD_L
)
SHARED_COLUMN_ROWS = (  # dual mode, shared_column_path=True: [newton]'s rank-level gaps
    ("channel", "MACAB", "RD", "max(nBL, tCCD_S)"),  # [newton] COMP -> READ read_to_read_s
    ("channel", "MACAB", "WR", "RL + nBL - WL + tRTRS"),  # [newton] COMP -> WRITE read_to_write
    ("channel", "RD", "MACAB", "max(nBL, tCCD_S)"),  # [newton] READ -> COMP, other bank groups
    ("channel", "WR", "MACAB", "WL + nBL + tWTR_S"),  # [newton] WRITE -> COMP, other bank groups
)
BOTH_MODES_ROWS = (
    ("channel", "ACTAB", "ACT", "tFAW"),  # [newton] same_rank G_ACT -> ACTIVATE tFAW
    ("channel", "PREA", "REF", "tRP"),  # [newton] PIM_PRECHARGE -> REFRESH precharge_to_activate
    ("channel", "REF", "ACTAB", "tRFC"),  # [newton] REFRESH -> G_ACT refresh_to_activate (tRFC)
)


def _target(memory):
    """A pimc Target for a target name / .toml / Target; None for a DramSpec or a preset."""
    from pimc.targets import Target, get_target
    if isinstance(memory, Target):
        return memory
    if isinstance(memory, DramSpec) or memory in MEMORY_PRESETS:
        return None
    return get_target(str(memory))  # an unknown name: the registry's error lists the valid ones


def mixed_spec(memory, row_buffers: int | None = None, mac_interval_tck: int | None = None,
               shared_column_path: bool = False) -> DramSpec:
    """The DramSpec a mixed run uses: the memory's DRAM rows, AttAcc's PIM rows with tCCDAB =
    the target's `pim.mac_interval_tck`, and the cross-class rows of `row_buffers` (default: the
    target's `pim.row_buffers`, or spec.pim["row_buffers"] of a DramSpec)."""
    target = _target(memory)
    if target is not None:
        if target.pim is None:
            raise PimcError(f"-t {target.name}: the target has no [pim] section; a mixed "
                            "PIM + ordinary run needs pim.row_buffers and pim.mac_interval_tck")
        base = spec_from_target(target)
        pim = dict(row_buffers=target.pim.row_buffers, mac_interval_tck=target.pim.interval_tck)
    else:
        base = memory if isinstance(memory, DramSpec) else MEMORY_PRESETS[memory]()
        pim = dict(base.pim)
        pim.setdefault("mac_interval_tck", base.params.get("tCCDAB"))
        pim.setdefault("row_buffers", 1)
    if row_buffers is not None:
        pim["row_buffers"] = row_buffers
    if mac_interval_tck is not None:
        pim["mac_interval_tck"] = mac_interval_tck
    if pim["row_buffers"] not in (1, 2):
        raise PimcError(f"row_buffers: {pim['row_buffers']!r} is not allowed; valid: 1 (shared "
                        "row buffer, Newton), 2 (NeuPIMs' dual row buffers)")
    if not isinstance(pim["mac_interval_tck"], int) or pim["mac_interval_tck"] <= 0:
        raise PimcError(f"{base.name}: no MAC spacing; pass mac_interval_tck (a positive number "
                        "of tCK) or use a target with pim.mac_interval_tck")
    mac = pim["mac_interval_tck"]
    dual = pim["row_buffers"] == 2
    rows = (DUAL_BUFFER_ROWS + (SHARED_COLUMN_ROWS if shared_column_path else ())
            if dual else SHARED_BUFFER_ROWS) + BOTH_MODES_ROWS
    # MACSB rows of PIM_RULES need tCCDSB too; bank-group MACs are not issued here.
    params = dict(base.params, tCCDAB=mac, tCCDSB=mac)
    return dataclasses.replace(
        base, name=f"{base.name}-rb{pim['row_buffers']}", params=params,
        commands=DRAM_COMMANDS + PIM_COMMANDS, rule_rows=DRAM_RULES + PIM_RULES + rows, pim=pim)


def gemv_stream(spec: DramSpec, out_rows: int, in_cols: int, dbyte: int = 2,
                base_row: int = 0) -> np.ndarray:
    """One channel's share of y = W x, W [out_rows, in_cols], row-tiled: bank k's PIM unit holds
    output rows k, k + banks, ...; one MACAB reads one column of every bank's open row, so the
    channel issues ceil(out_rows / banks) x ceil(in_cols x dbyte / column bytes) MACs, packed
    row after row from `base_row` (NeuPIMs' GEMV layout, one weight row after another)."""
    for name, value in (("out_rows", out_rows), ("in_cols", in_cols), ("dbyte", dbyte)):
        if not isinstance(value, (int, np.integer)) or value <= 0:
            raise PimcError(f"gemv_stream: {name} must be a positive integer, got {value!r}")
    org = spec.org
    banks = org.bank_groups * org.banks_per_group * org.ranks
    n = -(-out_rows // banks) * -(-in_cols * dbyte // org.access_bytes)
    i = np.arange(n)
    out = np.zeros(n, PIM_DTYPE)
    out["row"], out["column"] = base_row + i // org.columns, i % org.columns
    if n and out["row"][-1] >= org.rows:
        raise PimcError(f"gemv_stream: {out_rows} x {in_cols} needs rows {base_row}.."
                        f"{out['row'][-1]} of a bank; the memory has {org.rows}")
    return out


def streaming_requests(spec: DramSpec, n: int, write: bool = False, start_row: int = 0,
                       interval: int = 0) -> np.ndarray:
    """n requests sweeping whole rows: request i reads column i mod C of the (i div C)-th row
    slot, slots spread over bank groups first, then banks, then rows (the NPU streaming a
    weight or KV tile). Request i arrives at cycle i x interval."""
    org = spec.org
    i = np.arange(n)
    slot = i // org.columns
    out = np.zeros(n, REQUEST_DTYPE)
    out["arrive"] = i * interval
    out["write"] = write
    out["bankgroup"] = slot % org.bank_groups
    out["bank"] = slot // org.bank_groups % org.banks_per_group
    out["row"] = start_row + slot // (org.bank_groups * org.banks_per_group)
    out["column"] = i % org.columns
    return out


def requests_from_trace(trace, spec: DramSpec, channel: int = 0) -> np.ndarray:
    """A DRAMsim3-format trace's requests to one channel (spec's address mapping), as
    REQUEST_DTYPE; `trace` is a Trace or a path."""
    trace = trace if isinstance(trace, Trace) else read_trace(trace)
    coords = spec.address_mapping.decode(trace.addr)
    keep = coords["ch"] == channel
    out = np.zeros(int(keep.sum()), REQUEST_DTYPE)
    out["arrive"], out["write"] = trace.cycle[keep], trace.is_write[keep]
    for name, f in (("bankgroup", "bg"), ("bank", "ba"), ("row", "ro"), ("column", "co")):
        out[name] = coords[f][keep]
    return out


@dataclass
class MixedResult:
    cycles: int  # the later of the two finishes
    tck_ns: float
    row_buffers: int
    commands: dict[str, int]  # every issued command by name
    pim_finish: int  # cycle of the kernel's final PREA (0: no kernel)
    ordinary_finish: int  # cycle the last request's data burst ends (0: no requests)
    macs: int
    ordinary_bytes: int
    spec: DramSpec = field(repr=False)
    log: np.ndarray | None = field(repr=False, default=None)  # LOG_DTYPE

    def _class(self, names) -> dict[str, int]:
        return {n: self.commands.get(n, 0) for n in names}

    @property
    def pim_commands(self) -> dict[str, int]:
        return self._class(PIM_CLASS)

    @property
    def ordinary_commands(self) -> dict[str, int]:
        return self._class(ORDINARY_CLASS)

    @property
    def ordinary_bandwidth_gbps(self) -> float:
        """Ordinary bytes over [0, ordinary_finish]."""
        t = self.ordinary_finish * self.tck_ns
        return self.ordinary_bytes / t if t else 0.0

    def summary(self) -> dict:
        return dict(memory=self.spec.name, row_buffers=self.row_buffers, cycles=self.cycles,
                    pim_finish=self.pim_finish, ordinary_finish=self.ordinary_finish,
                    ordinary_bandwidth_gbps=self.ordinary_bandwidth_gbps,
                    pim=self.pim_commands, ordinary=self.ordinary_commands)


def _macs(pim_stream) -> np.ndarray:
    if pim_stream is None:
        return np.zeros(0, PIM_DTYPE)
    names = getattr(getattr(pim_stream, "dtype", None), "names", None) or ()
    if "row" not in names or "column" not in names:
        raise PimcError("pim_stream: expected a structured array with 'row' and 'column' "
                        "fields (gemv_stream(), or a backends/pim stream)")
    return pim_stream[pim_stream["op"] == MAC_OP] if "op" in names else pim_stream


def _requests(requests, spec: DramSpec, channel: int) -> np.ndarray:
    if requests is None:
        return np.zeros(0, REQUEST_DTYPE)
    if isinstance(requests, (Trace, str, Path)):
        return requests_from_trace(requests, spec, channel)
    names = getattr(getattr(requests, "dtype", None), "names", None) or ()
    missing = [n for n in REQUEST_DTYPE.names if n not in names]
    if missing:
        raise PimcError(f"requests: missing field(s) {', '.join(missing)}; expected "
                        f"{', '.join(REQUEST_DTYPE.names)} (streaming_requests(), "
                        "requests_from_trace())")
    org = spec.org
    for name, limit in (("bankgroup", org.bank_groups), ("bank", org.banks_per_group),
                        ("row", org.rows), ("column", org.columns)):
        bad = np.flatnonzero((requests[name] < 0) | (requests[name] >= limit))
        if bad.size:
            raise PimcError(f"requests[{bad[0]}]: {name} {requests[name][bad[0]]} is outside "
                            f"{spec.name}'s 0..{limit - 1}")
    if np.any(np.diff(requests["arrive"]) < 0):
        raise PimcError("requests: arrival cycles must not decrease (file order)")
    return requests


def run_mixed(memory, pim_stream, requests, row_buffers: int | None = None, *,
              pim_quantum: int | None = None, ordinary_quantum: int | None = None,
              pim_first: bool = True, shared_column_path: bool = False, channel: int = 0,
              refresh: bool = True, log: bool = True) -> MixedResult:
    """Simulate one channel running `pim_stream`'s MACs and `requests` together (see the module
    docstring); pim_quantum / ordinary_quantum / pim_first shape the single-buffer turns."""
    ready = (isinstance(memory, DramSpec) and row_buffers is None and not shared_column_path
             and BOTH_MODES_ROWS[0] in memory.rule_rows)  # already a mixed_spec
    spec = memory if ready else mixed_spec(memory, row_buffers,
                                           shared_column_path=shared_column_path)
    macs, reqs = _macs(pim_stream), _requests(requests, spec, channel)
    if macs.size and (macs["row"].max() >= spec.org.rows or macs["column"].max()
                      >= spec.org.columns or min(macs["row"].min(), macs["column"].min()) < 0):
        raise PimcError(f"pim_stream: a MAC's row or column is outside {spec.name}'s "
                        f"{spec.org.rows} rows x {spec.org.columns} columns")
    for name, q in (("pim_quantum", pim_quantum), ("ordinary_quantum", ordinary_quantum)):
        if q is not None and (not isinstance(q, int) or q <= 0):
            raise PimcError(f"{name}: {q!r}; expected a positive integer or None (no limit)")
    engine = MixedEngine(spec, macs["row"], macs["column"], reqs, spec.pim["row_buffers"],
                         pim_quantum, ordinary_quantum, pim_first, channel=channel,
                         refresh=refresh)
    cycles = engine.run()
    out = None
    if log:
        out = np.array(engine.log, LOG_DTYPE) if engine.log else np.zeros(0, LOG_DTYPE)
    return MixedResult(cycles, spec.tCK_ns, spec.pim["row_buffers"],
                       {k: v for k, v in engine.counts.items() if v}, engine.pim_finish,
                       engine.ordinary_finish, int(macs.size),
                       int(reqs.size) * spec.org.access_bytes, spec, out)


def interference(memory, pim_stream, requests, row_buffers: int | None = None,
                 **options) -> dict:
    """Each class alone and both together: {"pim_alone", "ordinary_alone", "mixed":
    MixedResult, "pim_slowdown", "ordinary_slowdown": finish together / finish alone}."""
    alone_p = run_mixed(memory, pim_stream, None, row_buffers, log=False, **options)
    alone_o = run_mixed(memory, None, requests, row_buffers, log=False, **options)
    mixed = run_mixed(memory, pim_stream, requests, row_buffers, **options)
    return dict(pim_alone=alone_p, ordinary_alone=alone_o, mixed=mixed,
                pim_slowdown=mixed.pim_finish / alone_p.pim_finish if alone_p.pim_finish else 1.0,
                ordinary_slowdown=(mixed.ordinary_finish / alone_o.ordinary_finish
                                   if alone_o.ordinary_finish else 1.0))
