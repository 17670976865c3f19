"""Samsung HBM-PIM (Aquabolt-XL) kernels as PIMSimulator's host issues them: GEMV (y = W x,
W out x in, fp16, batch 1), ADD, MUL and RELU, run cycle by cycle on one pseudo-channel's
DRAMSim2-style controller (hbmpim_ctrl.py) with the SB / HAB / HAB_PIM mode machine and the PIM
blocks (hbmpim_pim.py), optionally with data (functional mode).

Kernel sequences: /work/shared/reference/pimsim/PIMSIM.md §6 (park in, SB->HAB, CRF programming,
HAB->HAB_PIM, compute groups with barriers, HAB_PIM->HAB, HAB->SB, park out) and §6.1-6.3 (data
layout, tiling). Every PIM channel receives the same command stream (PIMSIM.md §8: PIM cycles
depend only on the work per channel), so one channel is simulated for timing and the data of all
channels rides along (leading axis) in functional mode.

    run_kernel("add", elements=1 << 20)                     # timing, 64 channels
    run_kernel("gemv", rows=64, cols=256, channels=1, w=W, x=x)   # with data: .output
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from pimc.errors import PimcError
from pimc.runtime.pimsim.hbmpim_ctrl import (BAR, HAB_TO_SB_ROW, REG_ROW, SB_TO_HAB_ROW,
                                             Channel, Timing, Txn)
from pimc.runtime.pimsim.hbmpim_pim import BANKS, COLS, LANES, Device, program

KERNELS = ("gemv", "add", "mul", "relu")
PARK_ROW = 1 << 12  # park in / out row 0x1000 (PIMSIM.md §4)
NORMAL_ROWS = 1 << 12  # rows 0..0xFFF hold data; rows with bit 12 set are mode / register rows
ELT_ROWS = (0, 128, 256)  # input 0, input 1, result (PIMSIM.md §6.2)
GRFS = 8


def pimsim_spec():
    """The `hbm2-pim` preset as PIMSimulator enforces it: its RD -> PRE is 3 tCK (trace: READ
    issued at 249, PRECHARGE at 252), not tRTP_L = 5; everything else is the preset's."""
    from pimc.runtime.pimsim.presets import get_spec
    spec = get_spec("hbm2-pim")
    return dataclasses.replace(spec, params={**spec.params, "tRTP": 3})


def _safe(row: int, col: int) -> tuple[int, int]:
    """PIMSimulator's addrGenSafe: a column past the row's 32 wraps into the next row."""
    return row + col // COLS, col % COLS


def _group(out, write, bank, row, col, tag, n=GRFS, barrier=True, data=None):
    for k in range(n):
        r, c = _safe(row, col + k)
        out.append(Txn(write, bank, r, c, tag, None if data is None else data[k]))
    if barrier:
        out[-1].tag += BAR


def _park(out, name: str) -> None:
    for ba in range(4):
        for bg in range(4):
            tag = f"{name}_"
            if bg == 0 and ba == 0:
                tag = "START_" + tag
            elif bg == 3 and ba == 3:
                tag = "END_" + tag
            out.append(Txn(False, bg * 4 + ba, PARK_ROW, 0, tag))
    out[-1].tag += BAR


def _prologue(out, crf) -> None:
    _park(out, "PARK_IN")
    for i, (bank, tag) in enumerate(((0, "START_SB_TO_HAB_"), (1, ""), (8, ""), (9, "END_SB_TO_HAB_"))):
        out.append(Txn(True, bank, SB_TO_HAB_ROW, 0x1F, tag))
    out[-1].tag += BAR
    for i in range(0, len(crf), 8):
        out.append(Txn(True, 1, REG_ROW, 4 + i // 8, "PROGRAM_CRF", crf[i:i + 8]))
    out[-1].tag += BAR


def _pim_mode(out, on: bool, toggle: int = 0, zero_b: bool = False) -> None:
    ctrl = dict(pim_op=on, toggle=toggle, zero_grf_a=False, zero_grf_b=zero_b)
    out.append(Txn(True, 0, REG_ROW, 0, "PIM" + BAR, ctrl))


def _epilogue(out) -> None:
    out.append(Txn(True, 0, HAB_TO_SB_ROW, 0x1F, "START_HAB_TO_SB"))
    out.append(Txn(True, 1, HAB_TO_SB_ROW, 0x1F, "END_HAB_TO_SB" + BAR))
    _park(out, "PARK_OUT")


def eltwise_tiles(kernel: str, elements: int, channels: int) -> int:
    per_tile = BANKS * GRFS * LANES * channels  # 2048 elements per channel per tile
    if elements <= 0 or elements % per_tile:
        raise PimcError(f"--elements: {kernel} on HBM-PIM needs a positive multiple of "
                        f"{per_tile} (16 banks x 8 bursts x 16 lanes x {channels} channels); "
                        f"got {elements}")
    n_tile = elements // per_tile
    if n_tile * GRFS > (ELT_ROWS[1] - ELT_ROWS[0]) * COLS:
        raise PimcError(f"--elements: {elements} {kernel} elements need {n_tile * GRFS // COLS} "
                        f"DRAM rows per bank and operand; HBM-PIM's layout leaves "
                        f"{ELT_ROWS[1] - ELT_ROWS[0]} (max {per_tile * 512} elements on "
                        f"{channels} channels)")
    return n_tile


def eltwise_txns(kernel: str, n_tile: int) -> list[Txn]:
    kind = kernel.upper()
    out: list[Txn] = []
    _prologue(out, program(kind, n_tile))
    _pim_mode(out, True)
    in0, in1, res = ELT_ROWS
    for i in range(n_tile):
        c = GRFS * i
        if kind == "RELU":
            _group(out, False, 0, in0, c, "FILL&ReLU")
            _group(out, True, 0, res, c, "GRF_A_TO_EVEN_BANK")
            _group(out, False, 1, in0, c, "FILL&ReLU")
            _group(out, True, 1, res, c, "GRF_B_TO_ODD_BANK")
            continue
        for b in range(2):
            _group(out, False, b, in0, c, "BANK_TO_GRF_")
            _group(out, False, b, in1, c, "ADD")
            _group(out, True, b, res, c, "GRF_TO_BANK")
    _pim_mode(out, False)
    _epilogue(out)
    return out


def placement_txns(kernel: str, elements: int, channels: int) -> list[Txn]:
    """The operand writes of PIMSimulator's functional flow (preloadNoReplacement: bursts in
    address order, Scheme8 puts consecutive bursts on consecutive channels, then banks, bank
    groups, columns, rows), for one channel."""
    n, out = elements // LANES // channels, []
    for base in ELT_ROWS[:1 if kernel == "relu" else 2]:
        for b in range(n):
            colg = b // BANKS
            out.append(Txn(True, (b // 4) % 4 * 4 + b % 4, base + colg // COLS, colg % COLS))
    return out


def gemv_tiles(rows: int, cols: int, channels: int) -> tuple[int, int]:
    if rows <= 0 or cols <= 0:
        raise PimcError(f"--rows/--cols: GEMV needs positive sizes; got {rows} x {cols}")
    if cols % LANES:
        raise PimcError(f"--cols: GEMV inputs must be a multiple of {LANES} (one fp16 burst); got {cols}")
    n_out = -(-rows // (GRFS * 8 * channels))
    n_in = -(-cols // (GRFS * LANES))
    need = (n_out * (n_in // 2) * 64 + n_out * GRFS) // COLS + 1
    need = max(need, (n_out * -(-n_in // 2) * 64) // COLS + 1)
    if need > NORMAL_ROWS:
        raise PimcError(f"--rows/--cols: a {rows} x {cols} GEMV needs {need} DRAM rows per bank "
                        f"on {channels} channels; HBM-PIM has {NORMAL_ROWS} data rows")
    return n_out, n_in


def tiles_per_out(n_in: int, parity: int) -> int:
    """Input tiles per output tile in the even (parity 0) or odd bank. PIMSimulator uses
    n_in // 2 for both, which overlaps the even bank's tiles when n_in is odd and there is more
    than one output tile; the cycles are the same either way."""
    return -(-n_in // 2) if parity == 0 else n_in // 2


def gemv_txns(n_out: int, n_in: int, x_bursts=None) -> list[Txn]:
    out: list[Txn] = []
    _prologue(out, program("GEMV", even_jumps=GRFS * -(-n_in // 2) - 1,
                           odd_jumps=GRFS * (n_in // 2) - 1 if n_in > 1 else -1))
    for j in range(n_out):
        _pim_mode(out, True, zero_b=True)
        for parity in (0, 1):
            for i in range(parity, n_in, 2):
                data = None if x_bursts is None else x_bursts[i * GRFS:(i + 1) * GRFS]
                for g in range(GRFS):
                    out.append(Txn(True, 1, REG_ROW, 8 + g, "WRIO_TO_GRF_",
                                   None if data is None else data[g]))
                out[-1].tag += BAR
                col = GRFS * GRFS * (i // 2 + j * tiles_per_out(n_in, parity))
                for c_idx in range(0, 64, 8):
                    _group(out, False, parity, 0, col + c_idx, "MAC_")
        col = n_out * (n_in // 2) * 64 + j * GRFS
        _group(out, True, 1, 0, col, "GRFB_TO_BANK_")
        _pim_mode(out, False)
    _epilogue(out)
    return out


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
