"""The IR core: SSA values with use lists, operations, blocks and regions.

Ops in a block form a doubly linked list (as in MLIR and xDSL) so that passes insert and erase in
O(1) on 20k-op modules. An op's kind is its Python class: dialects subclass `Operation` and give
it a `name`, an operand/attribute signature and a shape rule (see `pimc.ir.opdef`).
"""
from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar

from pimc.errors import SourcePos
from pimc.ir.attrs import Attribute
from pimc.ir.location import Location
from pimc.ir.types import Type


@contextmanager
def gc_paused():
    """Pause the cyclic GC during bulk IR work. Ops and values reference each other, so a 20k-op
    module is a large tracked heap, and every generation-2 collection triggered by the
    allocations of a parse or pass walks all of it: time grows faster than linearly. Refcounting
    still frees garbage meanwhile; the collector resumes afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Value:
    __slots__ = ("type", "uses", "name_hint")

    def __init__(self, type: Type, name_hint: str | None = None):
        self.type = type
        self.uses: list[tuple[Operation, int]] = []
        self.name_hint = name_hint

    def replace_all_uses_with(self, new: Value) -> None:
        if new is self:
            return
        for op, index in self.uses:
            op.operands[index] = new
        new.uses.extend(self.uses)
        self.uses = []

    @property
    def owner(self) -> Operation | Block:
        raise NotImplementedError


class OpResult(Value):
    __slots__ = ("op", "index")

    def __init__(self, type: Type, op: Operation, index: int):
        super().__init__(type)
        self.op, self.index = op, index

    @property
    def owner(self) -> Operation:
        return self.op


class BlockArgument(Value):
    __slots__ = ("block", "index")

    def __init__(self, type: Type, block: Block, index: int, name_hint: str | None = None):
        super().__init__(type, name_hint)
        self.block, self.index = block, index

    @property
    def owner(self) -> Block:
        return self.block


class Operation:
    """One op. Subclasses set `name`; the generic fields are the same for every op."""

    __slots__ = ("operands", "results", "attributes", "regions", "loc", "src", "parent",
                 "prev", "next")
    name: ClassVar[str] = ""
    dialect_traits: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, operands: Sequence[Value] = (), result_types: Sequence[Type] = (),
                 attributes: dict[str, Attribute] | None = None,
                 regions: Sequence[Region] = (), loc: Location | None = None):
        self.operands: list[Value] = list(operands)
        for i, v in enumerate(self.operands):
            v.uses.append((self, i))
        self.results = [OpResult(t, self, i) for i, t in enumerate(result_types)]
        self.attributes: dict[str, Attribute] = dict(attributes or {})
        self.regions: list[Region] = []
        for r in regions:
            self.add_region(r)
        self.loc = loc
        self.src: SourcePos | None = None  # where the op was parsed from, for diagnostics
        self.parent: Block | None = None
        self.prev: Operation | None = None
        self.next: Operation | None = None

    # ---- structure ----
    @property
    def result(self) -> OpResult:
        if len(self.results) != 1:
            raise ValueError(f"'{self.name}' has {len(self.results)} results, not one")
        return self.results[0]

    def has_trait(self, trait: str) -> bool:
        return trait in self.dialect_traits

    def add_region(self, region: Region) -> None:
        region.parent = self
        self.regions.append(region)

    def set_operand(self, index: int, value: Value) -> None:
        old = self.operands[index]
        old.uses.remove((self, index))
        self.operands[index] = value
        value.uses.append((self, index))

    def walk(self) -> Iterator[Operation]:
        """This op and every op nested in its regions, in pre-order."""
        yield self
        for region in self.regions:
            for block in region.blocks:
                for op in block.ops:
                    yield from op.walk()

    def parent_op(self) -> Operation | None:
        block = self.parent
        return block.parent.parent if block and block.parent else None

    # ---- rewriting ----
    def detach(self) -> Operation:
        """Unlink from the parent block, keeping operands and uses."""
        block = self.parent
        if block is None:
            return self
        if self.prev:
            self.prev.next = self.next
        else:
            block.first = self.next
        if self.next:
            self.next.prev = self.prev
        else:
            block.last = self.prev
        self.parent = self.prev = self.next = None
        return self

    def drop_operand_uses(self) -> None:
        for i, v in enumerate(self.operands):
            v.uses.remove((self, i))
        self.operands = []

    def erase(self) -> None:
        """Remove the op. Its results must be unused (replace them first)."""
        for r in self.results:
            if r.uses:
                raise ValueError(f"cannot erase '{self.name}': result #{r.index} still has "
                                 f"{len(r.uses)} use(s)")
        for region in self.regions:
            for block in region.blocks:
                for op in reversed(list(block.ops)):
                    op.drop_operand_uses()
        self.drop_operand_uses()
        self.detach()

    def replace_with_values(self, values: Sequence[Value]) -> None:
        """Redirect every use of this op's results to `values`, then erase the op."""
        for r, v in zip(self.results, values, strict=True):
            r.replace_all_uses_with(v)
        self.erase()

    def __repr__(self) -> str:
        return f"<{self.name} at {self.src or self.loc or '?'}>"

    def __str__(self) -> str:
        """The op as IR text (a module or function with its body), as MLIR's `op->print`."""
        from pimc.ir.printer import print_op
        return print_op(self)


class Block:
    __slots__ = ("args", "first", "last", "parent")

    def __init__(self, arg_types: Sequence[Type] = (), arg_names: Sequence[str | None] = ()):
        names = list(arg_names) + [None] * (len(arg_types) - len(arg_names))
        self.args = [BlockArgument(t, self, i, n) for i, (t, n) in enumerate(zip(arg_types, names))]
        self.first: Operation | None = None
        self.last: Operation | None = None
        self.parent: Region | None = None

    @property
    def ops(self) -> Iterator[Operation]:
        op = self.first
        while op is not None:
            nxt = op.next  # read first so that erasing the current op is safe
            yield op
            op = nxt

    def reversed_ops(self) -> Iterator[Operation]:
        op = self.last
        while op is not None:
            prv = op.prev
            yield op
            op = prv

    def append(self, op: Operation) -> Operation:
        assert op.parent is None, "op is already in a block"
        op.parent, op.prev = self, self.last
        if self.last:
            self.last.next = op
        else:
            self.first = op
        self.last = op
        return op

    def insert_before(self, op: Operation, anchor: Operation) -> Operation:
        assert op.parent is None and anchor.parent is self
        op.parent, op.prev, op.next = self, anchor.prev, anchor
        if anchor.prev:
            anchor.prev.next = op
        else:
            self.first = op
        anchor.prev = op
        return op

    def add_arg(self, type: Type, name_hint: str | None = None,
                index: int | None = None) -> BlockArgument:
        index = len(self.args) if index is None else index
        arg = BlockArgument(type, self, index, name_hint)
        self.args.insert(index, arg)
        for i, a in enumerate(self.args[index + 1:], index + 1):
            a.index = i
        return arg

    def __len__(self) -> int:
        return sum(1 for _ in self.ops)


class Region:
    __slots__ = ("blocks", "parent")

    def __init__(self, blocks: Sequence[Block] = ()):
        self.blocks: list[Block] = []
        self.parent: Operation | None = None
        for b in blocks:
            self.add_block(b)

    def add_block(self, block: Block) -> Block:
        block.parent = self
        self.blocks.append(block)
        return block

    @property
    def block(self) -> Block:
        return self.blocks[0]
