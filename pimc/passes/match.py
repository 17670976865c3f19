"""Small helpers for writing DAG patterns over SSA values (used by raise-llm-ops)."""
from __future__ import annotations

from collections.abc import Iterator

from pimc.ir.core import Operation, OpResult, Value


def producer(v: Value, name: str) -> Operation | None:
    """The op that defines `v`, if it is a `name` op."""
    return v.op if isinstance(v, OpResult) and v.op.name == name else None


def through(v: Value, name: str) -> Value:
    """Look through one `name` op (a cast, say) if `v` is its result."""
    op = producer(v, name)
    return op.operands[0] if op is not None else v


def splat(v: Value) -> float | None:
    """The value of an `llm.constant` (a splat), else None."""
    op = producer(v, "llm.constant")
    return op.attr("value") if op is not None else None


def either(op: Operation) -> Iterator[tuple[Value, Value]]:
    """Both operand orders of a commutative binary op."""
    a, b = op.operands
    yield a, b
    yield b, a


def binary(v: Value, name: str) -> Iterator[tuple[Value, Value]]:
    """Both operand orders of `v`'s producer, if it is a `name` op (add and mul commute)."""
    op = producer(v, name)
    return either(op) if op is not None else iter(())


def near(x: float | None, want: float, rel: float = 1e-3) -> bool:
    return x is not None and abs(x - want) <= rel * abs(want)


def last_axis(op: Operation, key: str, rank: int) -> bool:
    """The op's int-list attribute `key` names exactly the last axis."""
    axes = op.attr(key)
    return axes is not None and len(axes) == 1 and axes[0] % rank == rank - 1
