"""The numba-cpu backend: real execution of the llm dialect on the host CPU.

Stages: `codegen` (IR -> Python driver source, dumpable) and `load` (source -> an Executable that
binds weights and runs the drivers). It is also the functional stand-in for ops placed on NPU or
PIM devices, which this machine does not have.
"""
from __future__ import annotations

import pimc.numba_cache  # noqa: F401  (before any kernel: package-wide cache stamps)
from pimc.backends.base import Backend, Capabilities, Stage
from pimc.backends.numba_cpu.codegen import RULES, emit_module
from pimc.backends.numba_cpu.executable import Executable


class NumbaCpuBackend(Backend):
    name = "numba-cpu"
    capabilities = Capabilities(
        ops=frozenset(RULES.rules), dtypes=frozenset({"f16", "bf16", "f32", "i1", "i2", "i4", "i8", "i32", "i64"}),
        devices=frozenset({"host", "npu", "xpu", "pim", "logic_pim"}), executes=True,
        summary="numba/numpy kernels on the CPU; computes in f32")

    def stages(self, options=None) -> list[Stage]:
        return [Stage("codegen", emit_module, "Python driver source"),
                Stage("load", Executable, "compiled drivers")]
