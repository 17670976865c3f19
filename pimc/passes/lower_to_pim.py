"""lower-to-pim: decode GEMV and attention that place-devices put on `pim` become pim ops that
carry their data layout over the target's channels, banks and rows.

    pimc opt f.mlir -p 'place-devices{target=neupims,batch=1},lower-to-pim'

Only decode shapes are lowered: a linear whose input is one vector per sequence, an attention
with one query. Prefill work that placement put on PIM stays as llm ops.
- `llm.linear` without bias on `pim` -> `pim.gemv`, row-tiled: W [N, K] in `units` blocks of
  ceil(N / units) output rows, one block per PIM unit, each stored at the PIM's element type.
  A block that does not fit its unit's share of the memory is an error naming the op.
- `llm.attention` on `pim`, without mask or with a key-padding mask, -> `pim.attention`,
  head-per-channel (AttAcc).
- Other ops on `pim` (llm.moe, llm.matmul over a cache, a linear with bias) stay llm ops: no
  PIM kernel generator handles them yet, and their backend rule still runs them.

The target is `target=`, else the run's (`ctx.target`, which place-devices sets), else the
one a module read from text was placed for (its printed `pimc.target`). Ops keep their
`device`, `cost` and location, so analysis and reports read the lowered IR as before.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pimc.errors import OptionError, PassFailure
from pimc.ir.builder import Builder
from pimc.ir.core import Operation
from pimc.ir.dialects.builtin import ModuleOp
from pimc.ir.printer import print_op
from pimc.passes.base import Context, Pass
from pimc.targets import Target

# Bytes per element of the PIM units' arithmetic (targets/spec.py DType names).
_DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "fp8": 1}
_KEEP = ("device", "cost", "subbatch", "kv")  # subbatch: sub-batch-interleave may run first;
# kv: what kv-compress did to the cache the attention reads (its cost rule reads it)


def _device(op: Operation) -> str | None:
    attr = op.attributes.get("device")
    return getattr(attr, "device", None)


@dataclass(frozen=True)
class LowerToPim(Pass):
    """Rewrite PIM-placed decode GEMV (llm.linear) and attention into pim.gemv/pim.attention
    with the target's row-tiled and head-per-channel layouts."""

    name = "lower-to-pim"
    target: str = ""

    def apply(self, ctx: Context, module: ModuleOp) -> None:
        target = self._target(ctx, module)
        for func in module.funcs:
            for op in list(func.body.ops):
                if _device(op) != "pim":
                    continue
                if op.name == "llm.linear" and len(op.operands) == 2 and _one_row_each(op):
                    _replace(op, "pim.gemv", _gemv_layout(op, target))
                elif op.name == "llm.attention" and _key_mask_only(op) \
                        and op.operands[0].type.shape[2] == 1:  # one query: decode
                    memory = target.memory
                    _replace(op, "pim.attention", {
                        "channels": memory.total_channels * memory.pseudo_channels,
                        "banks_per_channel": memory.banks_per_channel,
                        "causal": op.attr("causal") or None, "scale": op.attr("scale"),
                        "window": op.attr("window"), "softcap": op.attr("softcap")})

    def _target(self, ctx: Context, module: ModuleOp) -> Target:
        target = ctx.target_for(module, "pass 'lower-to-pim'", self.target)
        if target.pim is None or not target.memory.has_banks:
            raise OptionError(f"pass 'lower-to-pim': target '{target.name}' has no in-bank PIM "
                              "with a bank organisation to lay data out over")
        return target


def _key_mask_only(op: Operation) -> bool:
    """No mask, or one that masks whole keys ([B, 1, 1, S]: HF's padding), which the
    head-per-channel layout reads beside K and V."""
    return len(op.operands) == 3 or all(d == 1 for d in op.operands[3].type.shape[1:-1])


def _one_row_each(op: Operation) -> bool:
    """x is [B, K] or [B, 1, K]: one vector per sequence, a GEMV (a prefill's [B, T, K] is a
    GEMM, which PIM would run as T GEMVs; placement already prices that, lowering leaves it)."""
    return all(d == 1 for d in op.operands[0].type.shape[1:-1])


def _gemv_layout(op: Operation, target: Target) -> dict:
    n, k = op.operands[1].type.shape
    memory, pim = target.memory, target.pim
    units = pim.units(memory)
    rows_per_unit = math.ceil(n / units)
    block_bytes = rows_per_unit * k * _DTYPE_BYTES.get(pim.dtype, 2)
    capacity = memory.capacity_bytes
    if capacity is not None and block_bytes > capacity / units:
        raise PassFailure(f"lower-to-pim: {n}x{k} weight needs {block_bytes} bytes per PIM unit, "
                          f"more than the {int(capacity / units)} bytes a unit of "
                          f"'{target.name}' holds", print_op(op))
    return {"units": units, "rows_per_unit": rows_per_unit, "row_bytes": memory.row_bytes,
            "dram_rows_per_unit": math.ceil(block_bytes / memory.row_bytes)}


def _replace(op: Operation, name: str, layout: dict) -> None:
    kept = {key: op.attributes[key] for key in _KEEP if key in op.attributes}
    new = Builder.before_op(op).create(name, list(op.operands), layout,
                                       [r.type for r in op.results], loc=op.loc,
                                       names=[r.name_hint for r in op.results])
    new.attributes.update(kept)
    new.src = op.src
    op.replace_with_values(new.results)
