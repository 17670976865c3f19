"""Time the npu ops that lower-to-npu made, and the npu backend's schedules, with their
recorded tile schedules."""
from __future__ import annotations

import sympy

from pimc.backends.npu.schedule import NpuSchedules
from pimc.errors import PimcError
from pimc.ir.core import Operation
from pimc.ir.symbolic import sym
from pimc.passes.lower_to_npu import NPU_GEMM_OPS, gemm_dims, plan_of
from pimc.runtime.npusim.gemm import NpuResult, gemm_time
from pimc.targets import Target

def _bind(value, dims: dict[str, int], what: str, op: Operation) -> int:
    if isinstance(value, int):
        return value
    bound = sympy.sympify(value).subs({sym(name): v for name, v in dims.items()})
    if not bound.is_Integer:
        missing = ", ".join(sorted(str(s) for s in bound.free_symbols))
        raise PimcError(f"npusim: {what} of '{op.name}' at {op.src or op.loc} is {value}; give "
                        f"a value for {missing}")
    return int(bound)


def op_time(op: Operation, target: Target, dims: dict[str, int] | None = None) -> NpuResult:
    """Time an npu.gemm / npu.matmul on `target` with its recorded schedule, the symbolic dims
    (B, S, ...) bound from `dims`."""
    if op.name not in NPU_GEMM_OPS:
        raise PimcError(f"npusim: cannot time '{op.name}'; it times: {', '.join(NPU_GEMM_OPS)}")
    batch, m, k, n = (_bind(v, dims or {}, what, op)
                      for v, what in zip(gemm_dims(op), ("batch", "M", "K", "N")))
    return gemm_time(m, k, n, target, batch=batch, plan=plan_of(op))


def run_schedules(schedules: NpuSchedules) -> list[NpuResult]:
    """Time every GEMM of the npu backend's `npu-schedule` artifact on its target (the results
    add up with `+`, the ops running one after the other)."""
    return [gemm_time(g.m, g.k, g.n, schedules.target, batch=g.batch, plan=g.plan)
            for g in schedules.gemms]
