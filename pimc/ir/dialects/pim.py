"""pim dialect: the ops `lower-to-pim` makes of decode GEMV and attention placed on PIM.

Each op computes exactly what the llm op it replaces computes (so every backend can still run
it, and the interpreter checks the lowering); what it adds is the data layout the PIM backend
emits commands for, decided from the target's memory organisation:
- `pim.gemv`: row tiling. W [N, K] is split into `units` blocks of `rows_per_unit` consecutive
  output rows; each PIM unit holds its block in its bank(s), `dram_rows_per_unit` DRAM rows of
  `row_bytes` each, and streams it through its MAC lanes once per input vector.
- `pim.attention`: AttAcc's head-per-channel layout (AttAcc ASPLOS'24 §4, ATTACC.md §4): the K
  and V of one (sequence, KV head) live in one channel, context positions spread over its banks,
  so every channel works on its own heads and no partial sums cross channels.
"""
from __future__ import annotations

from pimc.ir.dialects.llm import AttentionOp, LinearOp
from pimc.ir.opdef import Attr, OpDef


class GemvOp(OpDef):
    name = "pim.gemv"
    summary = "x @ w^T with w row-tiled over the PIM units (the llm.linear it lowers)"
    operand_names = ("x", "w")
    attrs = {"layout": Attr("str", "row-tiled", choices=("row-tiled",)),
             "units": Attr("int"), "rows_per_unit": Attr("int"),
             "dram_rows_per_unit": Attr("int"), "row_bytes": Attr("int")}
    infer = staticmethod(LinearOp.infer)


class PimAttentionOp(OpDef):
    name = "pim.attention"
    summary = "decode attention with K/V laid out head-per-channel (the llm.attention it lowers)"
    operand_names = ("q", "k", "v", "mask?")  # the mask: HF's padding, [B, 1, 1, S]
    attrs = {"layout": Attr("str", "head-per-channel", choices=("head-per-channel",)),
             "channels": Attr("int"), "banks_per_channel": Attr("int"),
             **{key: AttentionOp.attrs[key] for key in ("causal", "scale", "window", "softcap")}}
    infer = staticmethod(AttentionOp.infer)


OPS = [GemvOp, PimAttentionOp]
