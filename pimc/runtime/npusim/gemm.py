"""GEMM timing on weight-stationary systolic arrays with double-buffered SRAM.

The tiling is `plan_gemm` (passes/lower_to_npu.py, the schedule lower-to-npu records): the
stationary [K, N] operand in rows x cols tiles, M streamed in blocks of at most `tile_m` rows,
the column tiles dealt round-robin to the arrays, which share every streamed block. The
schedule's own counts (`TilePlan.array_cycles`, `TilePlan.traffic`) live with it, so the npu
backend prints the same numbers; this module adds the memory system and the overlap.

Compute, per array (all arrays run the same number of rounds, so the busiest one sets the time):
- one pass per (M block, K tile, column-tile round): the block's m rows enter one per cycle while
  the next weight tile shifts in behind them, one array row per cycle, so a pass holds the array
  for max(m, rows) cycles (NeuPIMs SystolicWS::issue_ex_inst: back-to-back GEMMs start
  max(size, 4) cycles apart, a GEMM_PRELOAD core_height cycles after the previous one);
- plus the first weight preload (rows cycles) and the last pass's fill/drain through the array,
  rows + cols - 2 cycles (NeuPIMs SystolicWS::get_inst_compute_cycles:
  core_height + core_width - 2 + size). One pass alone therefore takes 2 rows + cols + m - 2
  cycles, SCALE-Sim's weight-stationary fold time 2 Sr + Sc + T - 2 (Samajdar et al., SCALE-Sim,
  arXiv:1811.02883, §III).

Memory, at the target's peak bandwidth (memory.peak_bandwidth / xpu.clock_hz bytes per cycle):
the streamed operand is read once per column-tile round (the arrays of a round share it), the
stationary operand once per M block, the output written once (it accumulates in SRAM over K).
Double buffering overlaps every load and store with compute except the first step's loads (one
streamed tile and each array's first weight tile) and the last block's store:
    cycles = prologue + max(compute, memory - prologue - epilogue) + epilogue
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pimc.errors import PimcError
from pimc.passes.lower_to_npu import TilePlan, plan_gemm
from pimc.targets import Target
from pimc.targets.spec import DTYPE_BYTES


@dataclass(frozen=True)
class NpuResult:
    """Cycles of one NPU op at the xPU clock. `compute_cycles` and `memory_cycles` are each the
    time alone (arrays or vector units busy; bytes at peak bandwidth); `cycles` overlaps them.
    `tiles` counts weight-tile passes (GEMM) or vector instructions; `utilisation` is useful
    work over what the units could do in `cycles`."""

    cycles: int
    compute_cycles: int
    memory_cycles: int
    tiles: int
    utilisation: float
    bytes: int = 0

    def seconds(self, target: Target) -> float:
        return self.cycles / target.xpu.clock_hz

    def __add__(self, other: NpuResult) -> NpuResult:
        """Two ops one after the other (utilisation weighted by cycles)."""
        cycles = self.cycles + other.cycles
        util = (self.utilisation * self.cycles + other.utilisation * other.cycles) / cycles \
            if cycles else 0.0
        return NpuResult(cycles, self.compute_cycles + other.compute_cycles,
                         self.memory_cycles + other.memory_cycles, self.tiles + other.tiles,
                         util, self.bytes + other.bytes)

    def __radd__(self, other: int) -> NpuResult:
        """`sum(results)` starts from 0."""
        if other != 0:
            return NotImplemented
        return self


def bytes_per_cycle(target: Target) -> float:
    return target.memory.peak_bandwidth / target.xpu.clock_hz


def _dims(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise PimcError(f"npusim: GEMM dim {name} = {value!r}; expected a positive integer "
                        "(bind symbolic dims such as B and S first)")
    return value


def gemm_time(m: int, k: int, n: int, target: Target, batch: int = 1,
              plan: TilePlan | None = None) -> NpuResult:
    """Time `batch` independent [m, k] x [k, n] GEMMs, one after the other, on `target`'s NPU."""
    m, k, n, batch = (_dims(d, v) for d, v in (("M", m), ("K", k), ("N", n), ("batch", batch)))
    if target.xpu is None:
        raise PimcError(f"npusim: target '{target.name}' has no [xpu]; expected an NPU")
    xpu = target.xpu
    plan = plan or plan_gemm(k, n, xpu, "npusim")
    compute = plan.array_cycles(m)
    moved, first, last = plan.traffic(m, k, n, DTYPE_BYTES[xpu.dtype])
    bpc = bytes_per_cycle(target)
    memory = math.ceil(moved / bpc)
    prologue, epilogue = math.ceil(first / bpc), math.ceil(last / bpc)
    one = prologue + max(compute, memory - prologue - epilogue) + epilogue

    cycles = batch * one
    return NpuResult(cycles, batch * compute, batch * memory,
                     batch * len(plan.m_blocks(m)) * plan.k_tiles * plan.n_tiles,
                     batch * m * k * n / (xpu.count * plan.tile_k * plan.tile_n * cycles),
                     batch * moved)
