"""lower-to-npu: GEMMs that place-devices put on the `npu` become npu ops carrying their
weight-stationary tile schedule over the target's systolic arrays and SRAM.

    pimc opt f.mlir -p 'place-devices{target=neupims,batch=64},lower-to-npu'

- `llm.linear` on `npu` -> `npu.gemm`; `llm.matmul` on `npu` -> `npu.matmul` (same operands and
  attributes, same results: pimc/ir/dialects/npu.py).
- Only GEMMs whose contraction (K) and output (N) dims are static are lowered: the stationary
  operand's tiling must be known. M (batch x sequence) may stay symbolic: it streams through the
  arrays in blocks of `tile_m` rows. A matmul over the context length (attention scores on the
  NPU) keeps its llm op, and every backend still runs it.
- The tiling (`plan_gemm`) is shared with runtime/npusim, which times it.

The target is `target=`, else the run's (`ctx.target`, which place-devices sets), else the
one a module read from text was placed for (its printed `pimc.target`). Ops keep their
`device`, `cost` and location, so analysis and reports read the lowered IR as before.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pimc.errors import OptionError, PimcError
from pimc.ir.builder import Builder
from pimc.ir.core import Operation
from pimc.ir.dialects.builtin import ModuleOp
from pimc.passes.base import Context, Pass
from pimc.targets import Target
from pimc.targets.spec import DTYPE_BYTES, Xpu

_KEEP = ("device", "cost")
_LOWERED = {"llm.linear": "npu.gemm", "llm.matmul": "npu.matmul"}
NPU_GEMM_OPS = tuple(_LOWERED.values())


@dataclass(frozen=True)
class TilePlan:
    """How a [M, K] x [K, N] GEMM maps onto `arrays` weight-stationary arrays (npu dialect)."""

    tile_m: int  # most streamed rows per pass: what the SRAM holds
    tile_k: int  # array rows: one weight tile's K extent
    tile_n: int  # array columns: one weight tile's N extent
    k_tiles: int
    n_tiles: int
    arrays: int  # arrays in use: at most one per column tile

    @property
    def n_groups(self) -> int:
        """Rounds over the column tiles: each round gives every array one column tile."""
        return math.ceil(self.n_tiles / self.arrays)

    def m_blocks(self, m: int) -> list[int]:
        """The streamed rows of each pass over M (the last block may be short)."""
        full, rest = divmod(m, self.tile_m)
        return [self.tile_m] * full + ([rest] if rest else [])

    def passes_per_array(self, m: int) -> int:
        """Weight-tile passes of the busiest array: one per (M block, K tile, column round)."""
        return len(self.m_blocks(m)) * self.k_tiles * self.n_groups

    def array_cycles(self, m: int) -> int:
        """Cycles the busiest array computes (runtime/npusim/gemm.py gives the derivation): a
        pass holds the array for max(rows in the block, array rows), plus the first weight
        preload and the last pass's fill/drain."""
        rows, cols = self.tile_k, self.tile_n
        per_block = sum(max(block, rows) for block in self.m_blocks(m))
        return rows + self.k_tiles * self.n_groups * per_block + rows + cols - 2

    def traffic(self, m: int, k: int, n: int, elem_bytes: float) -> tuple[int, int, int]:
        """(bytes moved, bytes loaded before the first pass, bytes stored after the last): the
        streamed operand once per column round (the arrays of a round share it), the weights
        once per M block, the output once (it accumulates in SRAM over K)."""
        blocks, tk, width = self.m_blocks(m), min(k, self.tile_k), min(n, self.arrays * self.tile_n)
        moved = elem_bytes * (m * k * self.n_groups + k * n * len(blocks) + m * n)
        first = elem_bytes * (blocks[0] * tk + tk * width)
        return int(moved), int(first), int(elem_bytes * blocks[-1] * width)


def plan_gemm(k: int, n: int, xpu: Xpu, where: str = "lower-to-npu") -> TilePlan:
    """Tile a GEMM with static K and N for `xpu`'s arrays and SRAM.

    SRAM holds, at once: every array's weight tile twice (double buffering: the next tile loads
    while the current one computes), the shared streamed block [tile_m, rows] twice, and the
    block's accumulators [tile_m, arrays x cols] once. tile_m is the largest multiple of the
    array rows that fits (a block shorter than the rows would leave the array waiting on its
    next weight preload), or the largest count of rows that fits when not even `rows` do."""
    rows, cols, count, sram = xpu.systolic_rows, xpu.systolic_cols, xpu.count, xpu.sram_bytes
    if None in (rows, cols, count, sram, xpu.clock_hz) or xpu.kind != "npu":
        raise OptionError(f"{where}: the xpu ({xpu.kind}) is no systolic-array NPU; it needs "
                          "kind = \"npu\", count, systolic_rows, systolic_cols, clock_hz and "
                          "sram_bytes")
    b = DTYPE_BYTES[xpu.dtype]
    n_tiles = math.ceil(n / cols)
    arrays = min(count, n_tiles)
    room = sram - 2 * arrays * rows * cols * b
    per_row = 2 * rows * b + arrays * cols * b
    fit = int(room // per_row) if room > 0 else 0
    if fit < 1:
        raise PimcError(f"{where}: {sram} bytes of SRAM cannot hold {arrays} double-buffered "
                        f"{rows}x{cols} weight tiles and one streamed row; it needs at least "
                        f"{int(2 * arrays * rows * cols * b + per_row)}")
    tile_m = fit // rows * rows if fit >= rows else fit
    return TilePlan(tile_m, rows, cols, math.ceil(k / rows), n_tiles, arrays)


def plan_of(op: Operation) -> TilePlan:
    """The tile schedule recorded on an npu op."""
    return TilePlan(*(op.attr(key) for key in ("tile_m", "tile_k", "tile_n", "k_tiles",
                                               "n_tiles", "arrays")))


def gemm_dims(op: Operation) -> tuple[object, object, object, object]:
    """(batch, M, K, N) of an llm.linear / npu.gemm or llm.matmul / npu.matmul, from its types:
    each a Python int or a sympy expression. `batch` counts the matmul's independent products."""
    a, b = op.operands[0].type.shape, op.operands[1].type.shape
    if op.name in ("llm.linear", "npu.gemm"):
        return 1, math.prod(a[:-1]), a[-1], b[0]
    m, k = (a[-1], a[-2]) if op.attr("transpose_a") else (a[-2], a[-1])
    n = b[-2] if op.attr("transpose_b") else b[-1]
    return math.prod(op.results[0].type.shape[:-2]), m, k, n


def _device(op: Operation) -> str | None:
    return getattr(op.attributes.get("device"), "device", None)


@dataclass(frozen=True)
class LowerToNpu(Pass):
    """Rewrite NPU-placed llm.linear/llm.matmul with static K and N into npu.gemm/npu.matmul
    carrying the weight-stationary tile schedule for the target's systolic arrays."""

    name = "lower-to-npu"
    target: str = ""

    def apply(self, ctx: Context, module: ModuleOp) -> None:
        xpu = self._target(ctx, module).xpu
        for func in module.funcs:
            for op in list(func.body.ops):
                if _device(op) != "npu" or op.name not in _LOWERED:
                    continue
                _, _, k, n = gemm_dims(op)
                if not (isinstance(k, int) and isinstance(n, int)):
                    continue
                _replace(op, _LOWERED[op.name], plan_gemm(k, n, xpu, f"pass '{self.name}'"))

    def _target(self, ctx: Context, module: ModuleOp) -> Target:
        target = ctx.target_for(module, "pass 'lower-to-npu'", self.target)
        if target.xpu is None or target.xpu.kind != "npu":
            raise OptionError(f"pass 'lower-to-npu': target '{target.name}' has no NPU; "
                              "expected an [xpu] with kind = \"npu\"")
        return target


def _replace(op: Operation, name: str, plan: TilePlan) -> None:
    attrs = {key: op.attributes[key] for key in ("transpose_a", "transpose_b")
             if key in op.attributes}
    attrs.update(tile_m=plan.tile_m, tile_k=plan.tile_k, tile_n=plan.tile_n,
                 k_tiles=plan.k_tiles, n_tiles=plan.n_tiles, arrays=plan.arrays)
    new = Builder.before_op(op).create(name, list(op.operands), attrs,
                                       [r.type for r in op.results], loc=op.loc,
                                       names=[r.name_hint for r in op.results])
    new.attributes.update({key: op.attributes[key] for key in _KEEP if key in op.attributes})
    new.src = op.src
    op.replace_with_values(new.results)
