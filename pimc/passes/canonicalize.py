"""canonicalize: fold no-op and chained view ops by a pattern table."""
from __future__ import annotations

from dataclasses import dataclass

from pimc.errors import OptionError
from pimc.ir.builder import to_attr
from pimc.ir.core import Operation
from pimc.ir.dialects.builtin import ModuleOp
from pimc.passes.base import Context, Pass
from pimc.passes.match import producer
from pimc.passes.rewrite import PatternTable, Rewriter, apply_patterns


def fold_noop(op: Operation, rw: Rewriter) -> bool:
    """reshape or cast whose result type equals its operand's: use the operand."""
    if op.operands[0].type != op.results[0].type:
        return False
    rw.replace_op(op, [op.operands[0]])
    return True


def fold_reshape_of_reshape(op: Operation, rw: Rewriter) -> bool:
    inner = producer(op.operands[0], "llm.reshape")
    if inner is None:
        return False
    rw.set_operand(op, 0, inner.operands[0])
    return True


def fold_identity_transpose(op: Operation, rw: Rewriter) -> bool:
    perm = op.attr("perm")
    if perm != tuple(range(len(perm))):
        return False
    rw.replace_op(op, [op.operands[0]])
    return True


def fold_transpose_of_transpose(op: Operation, rw: Rewriter) -> bool:
    """transpose(transpose(x, p1), p2) = transpose(x, p1[p2[i]])."""
    inner = producer(op.operands[0], "llm.transpose")
    if inner is None:
        return False
    p1, p2 = inner.attr("perm"), op.attr("perm")
    op.attributes["perm"] = to_attr([p1[p] for p in p2])
    rw.set_operand(op, 0, inner.operands[0])
    return True


PATTERNS: PatternTable = {
    "llm.reshape": [fold_noop, fold_reshape_of_reshape],
    "llm.cast": [fold_noop],
    "llm.transpose": [fold_identity_transpose, fold_transpose_of_transpose],
}


@dataclass(frozen=True)
class Canonicalize(Pass):
    """Fold reshape-of-reshape and transpose-of-transpose; drop identity transposes and no-op
    casts and reshapes."""

    name = "canonicalize"
    max_iterations: int = 10  # worklist re-seedings, as in MLIR's greedy rewrite driver

    def apply(self, ctx: Context, module: ModuleOp) -> None:
        if self.max_iterations < 1:
            raise OptionError(f"option 'max-iterations' of pass 'canonicalize' must be >= 1, "
                              f"got {self.max_iterations}")
        apply_patterns(module, PATTERNS, self.max_iterations)
