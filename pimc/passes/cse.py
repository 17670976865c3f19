"""cse: common-subexpression elimination of pure ops, scoped by region."""
from __future__ import annotations

from dataclasses import dataclass

from pimc.ir.core import Block, Operation
from pimc.ir.dialects.builtin import ModuleOp
from pimc.passes.base import Context, Pass
from pimc.passes.rewrite import function_blocks


def _key(op: Operation) -> tuple:
    return (op.name, tuple(map(id, op.operands)), tuple(sorted(op.attributes.items())),
            tuple(r.type for r in op.results))


def _cse_block(block: Block, seen: dict[tuple, Operation]) -> None:
    for op in block.ops:
        for region in op.regions:  # an inner region sees the outer expressions, not vice versa
            for inner in region.blocks:
                _cse_block(inner, dict(seen))
        if not op.has_trait("pure") or op.regions:
            continue
        key = _key(op)
        existing = seen.get(key)
        if existing is None:
            seen[key] = op
        else:
            op.replace_with_values(existing.results)


@dataclass(frozen=True)
class CSE(Pass):
    """Merge pure ops with the same name, operands, attributes and result types."""

    name = "cse"

    def apply(self, ctx: Context, module: ModuleOp) -> None:
        for block in function_blocks(module):
            _cse_block(block, {})
