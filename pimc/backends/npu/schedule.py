"""npu ops -> their tile schedules with concrete shapes, as text runtime/npusim times."""
from __future__ import annotations

from dataclasses import dataclass

from pimc.errors import PimcError
from pimc.ir import parse, print_module
from pimc.ir.dialects.builtin import ModuleOp
from pimc.ir.symbolic import sym
from pimc.passes import PassManager
from pimc.passes.lower_to_npu import NPU_GEMM_OPS, LowerToNpu, TilePlan, gemm_dims, plan_of
from pimc.passes.place_devices import bindings_for
from pimc.targets import Target
from pimc.targets.load import module_target
from pimc.targets.spec import DTYPE_BYTES

def lower(module: ModuleOp, target: Target | None = None) -> ModuleOp:
    """A copy of `module` with its NPU GEMMs lowered (a no-op where lower-to-npu already ran)."""
    target = _target(module, target)
    lowered = parse(print_module(module, print_locations=True))
    PassManager([LowerToNpu()], target=target).run(lowered)
    return lowered


@dataclass(frozen=True)
class GemmSchedule:
    """One npu op's tile schedule at concrete shapes, with the counts it implies."""

    where: str  # @func, op name and location
    batch: int
    m: int
    k: int
    n: int
    plan: TilePlan
    elem_bytes: float

    @property
    def passes(self) -> int:
        """Weight-tile passes over all arrays."""
        return self.batch * len(self.plan.m_blocks(self.m)) * self.plan.k_tiles * self.plan.n_tiles

    @property
    def array_cycles(self) -> int:
        return self.batch * self.plan.array_cycles(self.m)

    @property
    def bytes_moved(self) -> int:
        return self.batch * self.plan.traffic(self.m, self.k, self.n, self.elem_bytes)[0]

    def text(self) -> str:
        p, blocks = self.plan, self.plan.m_blocks(self.m)
        batch = f"{self.batch} x " if self.batch > 1 else ""
        return "\n".join([
            f"// {self.where}: {batch}[{self.m}x{self.k}] x [{self.k}x{self.n}]",
            f"  tiles {p.tile_k}x{p.tile_n}: {p.k_tiles} K x {p.n_tiles} N on {p.arrays} array(s) "
            f"(column tile j on array j mod {p.arrays}); M in {len(blocks)} block(s) of "
            f"<= {p.tile_m} rows",
            f"  passes {self.passes} ({self.batch * p.passes_per_array(self.m)} on the busiest "
            f"array), array cycles {self.array_cycles}, bytes moved {self.bytes_moved}"])


@dataclass(frozen=True)
class NpuSchedules:
    target: Target
    dims: dict
    gemms: list[GemmSchedule]

    def text(self) -> str:
        xpu = self.target.xpu
        head = (f"// npu schedules for '{self.target.name}': {xpu.count} arrays of "
                f"{xpu.systolic_rows}x{xpu.systolic_cols} at {xpu.clock_hz / 1e9:g} GHz, "
                f"{xpu.sram_bytes} B SRAM; " + ", ".join(f"{k}={v}" for k, v in self.dims.items()))
        total = (f"// total: {len(self.gemms)} GEMMs, {sum(g.passes for g in self.gemms)} passes, "
                 f"{sum(g.array_cycles for g in self.gemms)} array cycles, "
                 f"{sum(g.bytes_moved for g in self.gemms)} bytes moved")
        return "\n".join([head, *(g.text() for g in self.gemms), total]) + "\n"


def emit_schedules(module: ModuleOp, batch: int, context: int,
                   target: Target | None = None) -> NpuSchedules:
    target = _target(module, target)
    elem_bytes = DTYPE_BYTES[target.xpu.dtype]
    gemms, shown = [], {}
    for func in module.funcs:
        dims = bindings_for(func, batch, context)
        for op in func.body.ops:
            if op.name not in NPU_GEMM_OPS:
                continue
            used = {str(s) for d in gemm_dims(op) for s in getattr(d, "free_symbols", ())}
            shown.update((k, v) for k, v in dims.items() if k in used)
            where = f"@{func.sym_name} {op.name} at {op.loc.describe() if op.loc else op.src}"
            values = [_bind(d, dims, where) for d in gemm_dims(op)]
            gemms.append(GemmSchedule(where, *values, plan_of(op), elem_bytes))
    return NpuSchedules(target, dict(sorted(shown.items())), gemms)


def _bind(dim, dims: dict[str, int], where: str) -> int:
    if isinstance(dim, int):
        return dim
    value = dim.subs({sym(k): v for k, v in dims.items()})
    if not value.is_Integer:
        raise PimcError(f"npu backend: {where} has dim {dim}, which the options (batch -> B, "
                        f"context -> S, T) do not fix")
    return int(value)


def _target(module: ModuleOp, given: Target | None) -> Target:
    """The compile's target (the `target` option), or the one a text module was placed for."""
    target = given or module_target(module, "npu backend", error=PimcError)
    if target.xpu is None or target.xpu.kind != "npu":
        raise PimcError(f"npu backend: target '{target.name}' has no NPU; expected an [xpu] "
                        "with kind = \"npu\"")
    return target
