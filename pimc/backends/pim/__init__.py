"""The pim backend: command streams for runtime/pimsim from the pim ops that lower-to-pim made.

One stage, `pim-cmds`: every `pim.attention` and `pim.gemv` becomes the request stream of one HBM
stack (emit.py; the stacks run the same stream side by side on their share), laid over the
target's organisation (layout.py): attention head-per-channel (attention_pimc.py), GEMV row-tiled
(gemv_stream.py); on Samsung HBM-PIM, PIMSimulator's kernel transactions per pseudo-channel
(hbmpim_stream.py). Concrete shapes come from the backend options `batch` and `context` (the dims
B and S), as place-devices uses them; `layout` is `pimc` (default) or `attacc` (AttAcc's
generator on its HBM3 stack, quirks included, for like-for-like validation).
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
        summary="PIM command streams (decode attention, GEMV) for runtime/pimsim")

    def stages(self, options=None) -> list[Stage]:
        opts = {"batch": 1, "context": 2048, "layout": "pimc", "target": None, **(options or {})}
        return [Stage("pim-cmds", functools.partial(emit_streams, **opts),
                      "one command stream per pim op (per HBM stack)")]
