"""dce: erase pure ops whose results are unused."""
from __future__ import annotations

from dataclasses import dataclass

from pimc.ir.core import Block
from pimc.ir.dialects.builtin import ModuleOp
from pimc.passes.base import Context, Pass
from pimc.passes.rewrite import function_blocks, is_trivially_dead


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
        for block in function_blocks(module):
            _dce_block(block)
