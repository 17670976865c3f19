"""Simulated PIM kernel times for a cost model: one function, memoised by (kind, shape, target).

    from pimc.runtime.pimsim.pim_kernels import simulate_pim_op
    r = simulate_pim_op("attention", {"batch": 1, "heads": 32, "head_dim": 128,
                                      "context": 2048}, "neupims")
    r = simulate_pim_op("gemv", {"batch": 1, "rows": 4096, "cols": 4096}, "attacc-bank")
    r.cycles, r.time_s, r.commands, r.energy_j, r.bandwidth_gbps

Dispatch: targets with one PIM block per two banks (Samsung HBM-PIM) run PIMSimulator's kernel
sequence (hbmpim.py: a GEMV per input vector; attention as a score GEMV and a context GEMV per
head, the softmax on the host and not timed). Every other target runs backends/pim's pimc-layout
stream for one stack on pim_engine, with `pim_spec(target)`: the target's DRAM timing
(presets.spec_from_target) plus the PIM command rows (spec.PIM_COMMANDS / PIM_RULES, ATTACC.md
§3), the all-bank and same-bank MAC spacing being the target's [pim] MAC interval.
The stacks run side by side: cycles and commands are one stack's, energy is every active stack's.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache

from pimc.backends.pim.attention_stream import attention_stream
from pimc.backends.pim.emit import PLACEMENT, samsung
from pimc.backends.pim.gemv_stream import GemvLayout
from pimc.backends.pim.layout import DTYPE_BYTES, PimOrg
from pimc.errors import PimcError
from pimc.runtime.pimsim.attacc import MOVE_PJ_PER_BIT, run_stream
from pimc.runtime.pimsim.presets import spec_from_target
from pimc.runtime.pimsim.spec import DRAM_COMMANDS, DRAM_RULES, PIM_COMMANDS, PIM_RULES, DramSpec

KINDS = {"attention": ("batch", "heads", "head_dim", "context"), "gemv": ("batch", "rows", "cols")}
# pJ/bit a bank-level MAC reads, where the target gives none: [attacc-c] PIM BA 'mem' 0.11 ACT
# + 0.44 cell (the attacc-bank and neupims targets' [energy] pim_pj_per_bit)
DEFAULT_PIM_PJ_PER_BIT = 0.55


@dataclass
class PimOpResult:
    kind: str
    shape: dict
    target: str
    cycles: int
    time_s: float
    commands: dict  # one stack's (AttAcc's names), or Samsung's DRAM commands over all channels
    energy_j: float
    bandwidth_gbps: float
    engine: str  # "pim_engine" or "hbmpim"


def simulate_pim_op(kind: str, shape: dict, target) -> PimOpResult:
    """Simulate one decode PIM kernel. kind "attention": shape batch, heads, head_dim, context
    (and kv_heads, default heads); kind "gemv": batch, rows (outputs), cols (inputs)."""
    if kind not in KINDS:
        raise PimcError(f"pim kernel: unknown kind '{kind}'; valid: {', '.join(KINDS)}")
    missing = [k for k in KINDS[kind] if k not in shape]
    if missing:
        raise PimcError(f"pim kernel {kind}: shape lacks {', '.join(missing)}; needs "
                        f"{', '.join(KINDS[kind])}")
    if isinstance(target, str):
        from pimc.targets import get_target
        target = get_target(target)
    if target.pim is None:
        raise PimcError(f"-t {target.name}: the target has no [pim] section")
    return _simulate(kind, tuple(sorted(shape.items())), target)


@lru_cache(maxsize=4096)
def _simulate(kind: str, items: tuple, target) -> PimOpResult:
    shape = dict(items)
    if samsung(target):
        return _samsung(kind, shape, target)
    mem, pim = target.memory, target.pim
    org, placement = PimOrg.of(target), PLACEMENT[pim.placement]
    dbyte = DTYPE_BYTES.get(pim.dtype)
    if dbyte is None:
        raise PimcError(f"-t {target.name}: PIM dtype {pim.dtype}; the streams take "
                        f"{', '.join(DTYPE_BYTES)}")
    if kind == "attention":
        heads = math.ceil(shape["batch"] * shape["heads"] / mem.stacks)
        stream = attention_stream(shape["context"], heads, shape["head_dim"], dbyte, placement,
                                  "pimc", org)
        active = min(mem.stacks, shape["batch"] * shape["heads"])
    else:
        rpu = math.ceil(shape["rows"] / pim.units(mem))
        per_stack = rpu * pim.units_per_channel * org.channels
        stream = GemvLayout(min(shape["rows"], per_stack), shape["cols"], shape["batch"], dbyte,
                            placement, org, rpu).stream()
        active = math.ceil(shape["rows"] / per_stack)
    energy = getattr(target, "energy", None)
    pj = getattr(energy, "pim_pj_per_bit", None) or DEFAULT_PIM_PJ_PER_BIT
    r = run_stream(stream, pim_spec(target), placement, "pimc", pim_pj_per_bit=pj,
                   move_pj_per_bit=MOVE_PJ_PER_BIT)
    return PimOpResult(kind, shape, target.name, r.cycles, r.time_s, r.commands,
                       r.energy_j * active, r.bandwidth_gbps * active, "pim_engine")


@lru_cache(maxsize=None)
def pim_spec(target) -> DramSpec:
    """One stack of the target's DRAM with the PIM command set and rules. tCCDAB / tCCDSB (the
    spacing of all-bank and same-bank MACs, ATTACC.md §3) are the target's MAC interval: AttAcc's
    nCCDAB/nCCDSB (6, or 4 without the power constraint), NeuPIMs' 2 (NewtonSim COMP -> COMP,
    the neupims target's [pim] mac_interval_tck)."""
    base = spec_from_target(target)
    pim = target.pim
    interval = getattr(pim, "interval_tck", pim.mac_interval_tck)
    cols = PimOrg.of(target)  # PIM columns: what one MAC reads per bank (layout.PimOrg.of)
    return dataclasses.replace(
        base, name=f"{target.name}-pim",
        org=dataclasses.replace(base.org, channels=target.memory.channels,
                                columns=cols.columns, access_bytes=cols.column_bytes),
        params={**base.params, "tCCDAB": interval, "tCCDSB": interval},
        commands=DRAM_COMMANDS + PIM_COMMANDS, rule_rows=DRAM_RULES + PIM_RULES)


def _samsung(kind: str, shape: dict, target) -> PimOpResult:
    from pimc.runtime.pimsim.hbmpim import run_kernel_for_target
    if kind == "gemv":
        calls = [((shape["rows"], shape["cols"]), shape["batch"])]
    else:  # per (sequence, head): scores K q, then context V^T p over 16-padded keys
        n = shape["batch"] * shape["heads"]
        L, d = shape["context"], shape["head_dim"]
        calls = [((L, d), n), ((d, -(-L // 16) * 16), n)]
    cycles = time_s = energy = moved = 0
    commands: dict = {}
    for (rows, cols), times in calls:
        out = run_kernel_for_target("gemv", target, {"rows": rows, "cols": cols})
        cycles += out["cycles"] * times
        time_s += out["time_s"] * times
        energy += (out.get("energy_j") or 0.0) * times
        moved += out["bandwidth_gbps"] * out["time_s"] * times
        for k, v in out["commands"].items():
            commands[k] = commands.get(k, 0) + v * times
    return PimOpResult(kind, shape, target.name, cycles, time_s, commands, energy,
                       moved / time_s if time_s else 0.0, "hbmpim")
