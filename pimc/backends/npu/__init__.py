"""The npu backend: tile schedules for runtime/npusim from the GEMMs placed on the NPU.

Two stages: `npu-lower` lowers the NPU-placed llm.linear/llm.matmul of a copy of the module to
npu ops (the lower-to-npu pass, a no-op where the pipeline ran it), and `npu-schedule` lists
every npu op's weight-stationary schedule at concrete shapes: tile counts, array assignment,
M blocks, passes, array cycles and bytes moved. Shapes come from the options `batch` and
`context` (B and S; T is `context` in @prefill and 1 elsewhere), as place-devices binds them.
runtime/npusim times the same schedules against the memory bandwidth (npusim.op_time).
"""
from __future__ import annotations

import functools

from pimc.backends.base import Backend, Capabilities, Stage
from pimc.backends.npu.schedule import emit_schedules, lower


class NpuBackend(Backend):
    name = "npu"
    # Ops placed elsewhere pass through untouched (their device's backend runs them); only the
    # NPU's GEMMs become schedules.
    capabilities = Capabilities(
        ops=None, devices=frozenset({"npu"}), executes=False,
        summary="weight-stationary tile schedules of the NPU's GEMMs for runtime/npusim")

    def stages(self, options=None) -> list[Stage]:
        opts = {"batch": 1, "context": 2048, "target": None, **(options or {})}
        return [Stage("npu-lower", functools.partial(lower, target=opts["target"]),
                      "the module with its NPU GEMMs as npu ops"),
                Stage("npu-schedule", functools.partial(
                    emit_schedules, batch=opts["batch"], context=opts["context"],
                    target=opts["target"]),
                    "every npu op's tile schedule at concrete shapes")]
