"""Static buffer planning for a generated driver: which arena slot each intermediate lives in.

The plan runs over the driver's statements in emission order. A view (reshape, transpose,
slice, expand, a no-op cast) aliases its operand, so a buffer stays live until the last use of
any view of it. A slot is taken when a kernel first writes a value and returned to the free list
after the value's last read; later values reuse it, preferring a slot that held the same shape,
so a slot's size (the max over its values) stays close to what one value needs. Values a
function returns, and their views, get fresh arrays: the caller keeps them across calls.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pimc.ir.core import Value


@dataclass(eq=False)
class Step:
    """One driver statement: the values it reads and defines, and how its result is stored."""

    reads: list[Value]
    defines: list[Value]
    kind: str = "fresh"  # "planned": writes into a buffer given to it; "view": aliases reads[0]
    op_name: str = ""  # for comments and tests


@dataclass
class Plan:
    slot: dict[Value, int] = field(default_factory=dict)
    slots: int = 0
    shapes: list[tuple] = field(default_factory=list)  # per slot, the shapes it holds


def plan_buffers(steps: list[Step], returned: list[Value]) -> Plan:
    root: dict[Value, Value] = {}
    for step in steps:
        for v in step.defines:
            root[v] = root.get(step.reads[0], step.reads[0]) if step.kind == "view" else v
    escaping = {root.get(v, v) for v in returned}
    last_read: dict[Value, int] = {}
    for i, step in enumerate(steps):
        for v in step.reads:
            last_read[root.get(v, v)] = i
    plan, free, freed = Plan(), [], set()  # free: [(slot, shape)]
    for i, step in enumerate(steps):
        if step.kind == "planned":
            for v in step.defines:
                if v in escaping:
                    continue
                shape = tuple(v.type.shape)
                pick = next((f for f in free if f[1] == shape), free[0] if free else None)
                if pick is not None:
                    free.remove(pick)
                    plan.slot[v] = pick[0]
                else:
                    plan.slot[v] = plan.slots
                    plan.slots += 1
                    plan.shapes.append([])
                plan.shapes[plan.slot[v]].append(shape)
        for r in dict.fromkeys(root.get(v, v) for v in [*step.reads, *step.defines]):
            if r in plan.slot and r not in freed and last_read.get(r, i) <= i:
                freed.add(r)
                free.append((plan.slot[r], tuple(r.type.shape)))
    return plan
