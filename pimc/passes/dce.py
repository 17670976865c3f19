"""dce: erase pure ops whose results are unused."""
from __future__ import annotations

from dataclasses import dataclass

from pimc.ir.core import Block
from pimc.ir.dialects.builtin import ModuleOp
from pimc.passes.base import Context, Pass
from pimc.passes.rewrite import is_trivially_dead


def _dce_block(block: Block) -> None:
    for op in block.reversed_ops():  # users before producers, so chains die in one sweep
        for region in op.regions:
            for inner in region.blocks:
                _dce_block(inner)
        if is_trivially_dead(op):
            op.erase()


@dataclass(frozen=True)
class DCE(Pass):
    """Erase pure ops whose results nobody uses (side-effecting ops stay)."""

    name = "dce"

    def apply(self, ctx: Context, module: ModuleOp) -> None:
        for func in module.body.ops:
            for region in func.regions:
                for block in region.blocks:
                    _dce_block(block)
