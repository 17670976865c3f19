"""A greedy pattern-rewrite driver over a pattern table `{op_name: [pattern, ...]}`.

A pattern is `fn(op, rewriter) -> bool`; it returns True when it changed the IR, and changes the
IR only through the rewriter, which keeps the worklist up to date and erases ops left dead.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence

from pimc.ir.core import Block, Operation, OpResult, Value
from pimc.ir.dialects.builtin import ModuleOp

Pattern = Callable[[Operation, "Rewriter"], bool]
PatternTable = dict[str, list[Pattern]]


def function_blocks(module: ModuleOp) -> Iterator[Block]:
    """The body blocks of the module's functions (passes recurse into nested regions)."""
    for func in module.body.ops:
        for region in func.regions:
            yield from region.blocks


def all_blocks(module: ModuleOp) -> Iterator[Block]:
    for op in module.walk():
        for region in op.regions:
            yield from region.blocks


class Rewriter:
    def __init__(self):
        self.worklist: deque[Operation] = deque()
        self.changes = 0

    def _revisit_users(self, value: Value) -> None:
        self.worklist.extend(op for op, _ in value.uses)

    def replace_op(self, op: Operation, values: Sequence[Value]) -> None:
        """Replace op's results with `values` and erase it (and producers left dead)."""
        for v in values:
            self._revisit_users(v)
        operands = list(op.operands)
        op.replace_with_values(values)
        self.changes += 1
        self._erase_dead_producers(operands)

    def set_operand(self, op: Operation, index: int, value: Value) -> None:
        old = op.operands[index]
        op.set_operand(index, value)
        self.worklist.append(op)
        self.changes += 1
        self._erase_dead_producers([old])

    def _erase_dead_producers(self, values: Sequence[Value]) -> None:
        stack = list(values)
        while stack:
            v = stack.pop()
            if isinstance(v, OpResult) and v.op.parent is not None and is_trivially_dead(v.op):
                stack.extend(v.op.operands)
                v.op.erase()


def is_trivially_dead(op: Operation) -> bool:
    return op.has_trait("pure") and not op.regions and all(not r.uses for r in op.results)


def apply_patterns(module: ModuleOp, table: PatternTable, max_iterations: int = 10) -> int:
    """Rewrite until no pattern applies, as MLIR's greedy driver does: each iteration seeds the
    worklist with every op and drains it; stop after an iteration that changed nothing, or after
    `max_iterations`. Returns the number of rewrites."""
    rw = Rewriter()
    for _ in range(max_iterations):
        before = rw.changes
        rw.worklist.extend(op for block in all_blocks(module) for op in block.ops)
        while rw.worklist:
            op = rw.worklist.popleft()
            if op.parent is None:  # erased meanwhile
                continue
            for pattern in table.get(op.name, ()):
                if pattern(op, rw):
                    break
        if rw.changes == before:
            break
    return rw.changes
