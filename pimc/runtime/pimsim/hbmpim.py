"""Samsung HBM-PIM (Aquabolt-XL) kernels as PIMSimulator's host issues them: GEMV (y = W x,
W out x in, fp16, batch 1), ADD, MUL and RELU, run cycle by cycle on one pseudo-channel's
DRAMSim2-style controller (hbmpim_ctrl.py) with the SB / HAB / HAB_PIM mode machine and the PIM
blocks (hbmpim_pim.py), optionally with data (functional mode).

Kernel sequences: backends/pim/hbmpim_stream.py, the host transactions of PIMSIM.md §6 (park in,
SB->HAB, CRF programming, HAB->HAB_PIM, compute groups with barriers, HAB_PIM->HAB, HAB->SB, park
out; §6.1-6.3 data layout and tiling), the same stream `--emit pim-cmds` prints. Every PIM channel receives the same command stream (PIMSIM.md §8: PIM cycles
depend only on the work per channel), so one channel is simulated for timing and the data of all
channels rides along (leading axis) in functional mode.

    run_kernel("add", elements=1 << 20)                     # timing, 64 channels
    run_kernel("gemv", rows=64, cols=256, channels=1, w=W, x=x)   # with data: .output
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from pimc.backends.pim.hbmpim_stream import (BANKS, _epilogue, _park, eltwise_tiles,
                                             eltwise_txns, gemv_tiles, gemv_txns,
                                             placement_txns)
from pimc.errors import PimcError
from pimc.runtime.pimsim.hbmpim_ctrl import Channel, Timing
from pimc.runtime.pimsim.hbmpim_pim import Device

KERNELS = ("gemv", "add", "mul", "relu")
# _park and _epilogue: tests build mode-machine sequences from them
__all__ = ["KERNELS", "HbmPimResult", "run_kernel", "run_kernel_for_target", "pimsim_spec",
           "trace_rows", "compare_trace", "_park", "_epilogue"]


def pimsim_spec():
    """The `hbm2-pim` preset as PIMSimulator enforces it: its RD -> PRE is 3 tCK (trace: READ
    issued at 249, PRECHARGE at 252), not tRTP_L = 5; everything else is the preset's."""
    from pimc.runtime.pimsim.presets import get_spec
    spec = get_spec("hbm2-pim")
    return dataclasses.replace(spec, params={**spec.params, "tRTP": 3})


@dataclass
class HbmPimResult:
    kernel: str
    shape: dict
    channels: int
    cycles: int
    tck_ns: float
    commands: dict[str, int]  # every channel together
    pim_commands: int  # column commands that triggered a PIM instruction, all channels
    bandwidth_gbps: float  # bytes the PIM blocks read from their banks / time
    energy_j: float | None
    log: np.ndarray = field(repr=False)  # channel 0's commands (placement's too), LOG_FIELDS
    trace: list = field(repr=False)  # channel 0's rows in the reference trace's format
    output: np.ndarray | None = field(default=None, repr=False)
    placement_cycles: int | None = None  # after_placement: the operand writes' own cycles

    @property
    def time_s(self) -> float:
        return self.cycles * self.tck_ns * 1e-9

    def summary(self) -> dict:
        return dict(kernel=self.kernel, **self.shape, channels=self.channels, cycles=self.cycles,
                    time_s=self.time_s, commands=self.commands, pim_commands=self.pim_commands,
                    bandwidth_gbps=self.bandwidth_gbps, energy_j=self.energy_j)


def run_kernel(kernel: str, *, elements: int | None = None, rows: int | None = None,
               cols: int | None = None, channels: int = 64, x=None, y=None, w=None,
               refresh: bool = True, strict_refresh: bool = True,
               after_placement: bool = False) -> HbmPimResult:
    """Run one kernel. Functional mode when operands are given: add/mul (x, y), relu (x),
    gemv (w: rows x cols, x: cols); the result is in `.output` (fp16). `strict_refresh` (default):
    a REF waits tRP after the last PRE, so the log passes check.py; False reproduces
    PIMSimulator's refresh exactly, PRE -> REF < tRP included (hbmpim_ctrl), for trace fidelity.
    `after_placement` (add/mul/relu): first write the operands through the channel in SB mode,
    as PIMSimulator's functional flow does, and time the kernel from there (open rows and the
    refresh phase carry over); `placement_cycles` holds the placement's own cycles."""
    from pimc.runtime.pimsim.hbmpim_data import gemv_load, gemv_output, elt_load, elt_output
    kernel = kernel.lower()
    if kernel not in KERNELS:
        raise PimcError(f"hbm-pim kernel '{kernel}': valid: {', '.join(KERNELS)}")
    spec = pimsim_spec()
    functional = x is not None or w is not None
    dev = Device(channels, functional)
    if kernel == "gemv":
        if rows is None or cols is None:
            raise PimcError("--rows/--cols: required by kernel 'gemv'")
        n_out, n_in = gemv_tiles(rows, cols, channels)
        xb = gemv_load(dev, w, x, n_out, n_in) if functional else None
        txns, shape = gemv_txns(n_out, n_in, xb), dict(rows=rows, cols=cols)
    else:
        if elements is None:
            raise PimcError(f"--elements: required by kernel '{kernel}'")
        n_tile = eltwise_tiles(kernel, elements, channels)
        if functional:
            elt_load(dev, kernel, x, y, elements)
        txns, shape = eltwise_txns(kernel, n_tile), dict(elements=elements)
    ch = Channel(Timing.from_params(spec.derived_params), ranks=spec.org.ranks,
                 device=dev, refresh=refresh, strict_refresh=strict_refresh)
    placement, placed = None, []
    if after_placement:
        if kernel == "gemv":
            raise PimcError("after_placement: only the element-wise kernels (add, mul, relu)")
        first = ch.run(placement_txns(kernel, elements, channels))
        placement, placed = first.cycles, first.issued  # the log keeps them: rows stay open
        dev.trace.clear()
    run = ch.run(txns)
    counts: dict[str, int] = {}
    for rec in run.issued:
        counts[rec.command] = counts.get(rec.command, 0) + channels
    counts = {k: counts[k] for k in ("ACT", "PRE", "RD", "WR", "REF") if k in counts}
    pim = sum(1 for r in dev.trace if r[1] == "dram_cmd" and r[6] != "" and
              not str(r[7]).startswith(("JUMP",))) * channels
    t = run.cycles * spec.tCK_ns * 1e-9
    inner_bytes = pim * 8 * spec.org.access_bytes
    host_bytes = (counts.get("RD", 0) + counts.get("WR", 0)) * spec.org.access_bytes
    energy = None if spec.energy_pj_per_bit is None else \
        (inner_bytes + host_bytes) * 8 * spec.energy_pj_per_bit * 1e-12
    output = None
    if functional:
        output = gemv_output(dev, rows, n_out, n_in) if kernel == "gemv" else \
            elt_output(dev, elements)
    return HbmPimResult(kernel, shape, channels, run.cycles, spec.tCK_ns, counts, pim,
                        inner_bytes / t / 1e9, energy, _log(placed + run.issued), trace_rows(dev.trace),
                        output, placement)


def _log(issued) -> np.ndarray:
    from pimc.runtime.pimsim.dram import LOG_DTYPE
    log = np.zeros(len(issued), LOG_DTYPE)
    for i, r in enumerate(issued):
        col = r.col if r.command in ("RD", "WR") else -1
        row = r.row if r.command in ("ACT", "RD", "WR", "PRE") else -1
        log[i] = (r.cycle, r.command, 0, 0, r.rank, r.bank // 4, r.bank % 4, row, col)
    return log


def trace_rows(trace) -> list[dict]:
    """The device's rows as the reference CSV writes them (strings), in print order."""
    order = sorted(range(len(trace)), key=lambda i: (trace[i][0], i))
    rows = []
    for i in order:
        cyc, kind, cmd, bank, row, col, pc, instr, reg, tag = trace[i]
        rows.append(dict(cycle=str(cyc), kind=kind, command=cmd, channel="0", rank="0",
                         bankgroup="" if bank == "" else str(bank // 4),
                         bank=str(bank), row=str(row), column=str(col), crf_pc=str(pc),
                         pim_instruction=instr, reg_index=str(reg), tag=tag))
    return rows


TRACE_FIELDS = ("cycle", "kind", "command", "channel", "rank", "bankgroup", "bank", "row",
                "column", "crf_pc", "pim_instruction", "reg_index", "tag")


def compare_trace(ours: list[dict], reference: list[dict]) -> list[str]:
    """Differences, one line each ('' list when equal command for command)."""
    diffs = []
    if len(ours) != len(reference):
        diffs.append(f"{len(ours)} rows vs {len(reference)} in the reference")
    for i, (a, b) in enumerate(zip(ours, reference)):
        bad = [f"{k} {a[k]!r} != {b[k]!r}" for k in TRACE_FIELDS if a[k] != b[k]]
        if bad:
            diffs.append(f"row {i}: " + ", ".join(bad))
    return diffs


def run_kernel_for_target(kernel: str, target, opts: dict) -> dict:
    """`pimc pim-kernel gemv|add|mul|relu -t hbm-pim`: the kernel on the target's pseudo-channels,
    PIMSimulator's cycles at the target's tCK, energy at the target's DRAM pJ per bit.
    `opts`: rows, cols (gemv) or elements (add/mul/relu)."""
    mem, pim = target.memory, getattr(target, "pim", None)
    if not mem.has_banks or mem.bank_groups * mem.banks_per_group != BANKS or \
            mem.timing is None or pim is None or \
            pim.units_per_channel * 2 != BANKS * mem.pseudo_channels:
        raise PimcError(f"-t {target.name}: the {kernel} kernel runs on Samsung HBM-PIM; the "
                        f"target needs [memory] with 16 banks per pseudo-channel, "
                        f"[memory.timing] and [pim] with one unit per 2 banks (e.g. -t hbm-pim)")
    channels = mem.total_channels * mem.pseudo_channels
    if kernel == "gemv":
        for name in ("rows", "cols"):
            if opts.get(name) is None:
                raise PimcError(f"--{name}: required by kernel 'gemv'")
        res = run_kernel("gemv", rows=opts["rows"], cols=opts["cols"], channels=channels)
    else:
        if opts.get("elements") is None:
            raise PimcError(f"--elements: required by kernel '{kernel}'")
        res = run_kernel(kernel, elements=opts["elements"], channels=channels)
    out = res.summary()
    out["time_s"] = res.cycles * mem.timing.tCK_ns * 1e-9
    out["bandwidth_gbps"] = res.bandwidth_gbps * res.tck_ns / mem.timing.tCK_ns
    pj = target.energy.dram_pj_per_bit if target.energy is not None else None
    if pj is not None and res.energy_j is not None:
        out["energy_j"] = res.energy_j * pj / pimsim_spec().energy_pj_per_bit
    return out
