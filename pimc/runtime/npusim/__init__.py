"""npusim: timing of the NPU beside the memory (architecture.md §8), weight-stationary systolic arrays
with double-buffered SRAM, loads bound by the memory's bandwidth, and vector units.

    from pimc.runtime.npusim import gemm_time, vector_time, op_time
    r = gemm_time(4096, 4096, 4096, get_target("neupims"))
    r.cycles, r.compute_cycles, r.memory_cycles, r.tiles, r.utilisation
    vector_time(64 * 4096, "rmsnorm", target, row=4096)
    op_time(npu_gemm_op, target, {"B": 64, "S": 1})   # an npu op that lower-to-npu made
    sum(run_schedules(artifact))                        # the npu backend's npu-schedule output
"""
from pimc.runtime.npusim.gemm import NpuResult, bytes_per_cycle, gemm_time
from pimc.runtime.npusim.ops import op_time, run_schedules
from pimc.runtime.npusim.vector import (DEFAULT_VECTOR_LANES, DEFAULT_VECTOR_UNITS, VECTOR_KINDS,
                                        add_tree_steps, vector_time)

__all__ = ["DEFAULT_VECTOR_LANES", "DEFAULT_VECTOR_UNITS", "VECTOR_KINDS", "NpuResult",
           "add_tree_steps", "bytes_per_cycle", "gemm_time", "op_time", "run_schedules",
           "vector_time"]
