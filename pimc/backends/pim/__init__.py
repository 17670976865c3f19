"""The pim backend: command streams for runtime/pimsim from the pim ops that lower-to-pim made.

One stage, `pim-cmds`: every `pim.attention` becomes AttAcc's HBM3-PIM decode-attention request
stream for one HBM stack (attention_stream.py; the stacks run the same stream side by side on
their share of the heads). Concrete shapes come from the backend options `batch` and `context`
(the dims B and S), as place-devices uses them; `layout` is `pimc` (default) or `attacc` (AttAcc's
generator, quirks included, for like-for-like validation).
"""
from __future__ import annotations

import functools

from pimc.backends.base import Backend, Capabilities, Stage
from pimc.backends.pim.emit import emit_streams


class PimBackend(Backend):
    name = "pim"
    # Ops placed elsewhere pass through untouched (their device's backend runs them); only pim
    # ops become commands.
    capabilities = Capabilities(
        ops=None, devices=frozenset({"pim"}), executes=False,
        summary="PIM command streams (AttAcc HBM3-PIM decode attention) for runtime/pimsim")

    def stages(self, options=None) -> list[Stage]:
        opts = {"batch": 1, "context": 2048, "layout": "pimc", **(options or {})}
        return [Stage("pim-cmds", functools.partial(emit_streams, **opts),
                      "one command stream per pim op (per HBM stack)")]
