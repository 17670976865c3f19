"""example-npu: a toy systolic-array accelerator, as a pimc backend in its own package.

It shows the whole plug-in contract (pimc docs/backends.md walks through it): capabilities
that list exactly the ops its rule table covers, two named stages (`tile`: the module to
instructions with cycle estimates; `asm`: those instructions as text), and the entry point in
pyproject.toml. The hardware numbers come from the target TOML (example-npu.toml), never from
here: the backend reads `[xpu]` of the target the module was placed for (the `target` option).
"""
from __future__ import annotations

import functools

from pimc.backends.base import Backend, Capabilities, Stage

from pimc_example_npu.isa import RULES, assemble, tile


class ExampleNpuBackend(Backend):
    name = "example-npu"
    capabilities = Capabilities(
        ops=frozenset(RULES.rules), dtypes=frozenset({"f16", "bf16", "f32", "i32", "i64"}),
        devices=frozenset({"npu"}), executes=False,
        summary="toy NPU: a text ISA of GEMM tiles with a SCALE-Sim-style cycle estimate")

    def stages(self, options=None) -> list[Stage]:
        # The CLI passes batch and context (B and S); T is the context in @prefill, 1 elsewhere.
        # pimc.compile passes `target`, the Target object the module was placed for.
        opts = {"batch": 1, "context": 2048, "target": None, **(options or {})}
        return [Stage("tile", functools.partial(tile, batch=opts["batch"],
                                                context=opts["context"], target=opts["target"]),
                      "instructions per function, each with its cycle estimate"),
                Stage("asm", assemble, "the instructions as readable assembly text")]
