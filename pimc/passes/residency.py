"""Which operands move between devices, and which results stay in the HBM every device reads:
the residency rules `place-devices` chooses by and `analysis/timing` times by, in one place,
and `Movement`, the one account of an op's time on a device (its own time plus bringing its
inputs there) that the placer, the report and the system simulator all read."""
from __future__ import annotations

import sympy

from pimc.ir.core import BlockArgument, Operation, OpResult, Value
from pimc.ir.symbolic import sym
from pimc.ir.types import TensorType


def is_padding_mask(t) -> bool:
    """A boolean mask that varies only along the batch and the keys ([B, 1, 1, S]): which keys
    each request has, i.e. its context length, not data an attention reads per score."""
    from pimc.ir.types import TensorType, i1
    return isinstance(t, TensorType) and t.element == i1 and t.rank == 4 and \
        t.shape[1] == 1 and t.shape[2] == 1


def transferred_operands(op: Operation) -> list[Value]:
    """The operands whose data an op's device must receive. An llm.attention's padding mask is
    not among them: it says how many keys each request has, which the scheduler holds before
    the step starts, and PIM attention reads each request's own keys by that length (NeuPIMs
    and AttAcc give the PIM per-request context lengths, no mask tensor); HF capture's mask is
    the attention_mask argument reshaped, so sending it would charge a launch for metadata."""
    if op.name == "llm.attention" and len(op.operands) > 3 and is_padding_mask(op.operands[3].type):
        return list(op.operands[:3])
    return list(op.operands)


def is_cache_append(op: Operation) -> bool:
    """A concat onto a past KV cache (a function argument, maybe through views or kv-compress's
    dequantisation of its stored codes) writes the new rows in place in DRAM, as
    analyze-intensity counts it: the grown cache stays resident. So does kv.quantize of such an
    append: KIVI's streaming form quantises the new token into the stored cache (op_costs)."""
    from pimc.passes.analyze_intensity import VIEWS  # it costs ops by op_costs, which imports this
    if op.name == "kv.quantize":
        grown = op.operands[0]
        return isinstance(grown, OpResult) and is_cache_append(grown.op)
    if op.name != "llm.concat" or len(op.operands) < 2:
        return False
    past = op.operands[0]
    while isinstance(past, OpResult) and (past.op.name in VIEWS or past.op.name == "kv.dequantize"):
        past = past.op.operands[0]
    return isinstance(past, BlockArgument)


class Movement:
    """Where each computed value lives as one function runs in program order, and what an op
    costs on a device: `time` is the cost model's op time there plus the transfers of the
    inputs that live elsewhere, each value sent once per destination from the device that
    computed it. Arguments, weights, views of them and KV caches appended in place live in the
    HBM every device reads, so they never move. The placer calls `time` for each candidate and
    `commit`s its choice; timing (`pimc analyze`, the system simulator) commits the placed
    device and reports the same two numbers."""

    def __init__(self, func, devices: dict, model, bindings: dict,
                 element_bits: int | None = None):
        self.devices, self.model, self.bindings = devices, model, bindings
        self.element_bits = element_bits  # transferred floats counted at this width (None: IR's)
        self.subs = {sym(k): sympy.Float(v) for k, v in bindings.items()}
        self.resident: set[Value] = set(func.args)
        self.view_of: dict[Value, Value] = {}  # a view's result -> the computed value it shows
        self.holders: dict[Value, list[str]] = {}  # computed value -> its device, then copies
        self._sources: tuple[Operation | None, list[Value]] = (None, [])  # the op being placed

    def moving(self, op: Operation) -> list[Value]:
        return [v for v in transferred_operands(op) if v not in self.resident]

    def sources(self, op: Operation) -> list[Value]:
        """The computed values `op` must receive, views seen through, each once (kept for the
        op being placed: the placer asks once per candidate device, then commits)."""
        if self._sources[0] is not op:
            self._sources = op, list(dict.fromkeys(self.view_of.get(v, v)
                                                   for v in self.moving(op)))
        return self._sources[1]

    def view(self, op: Operation) -> str | None:
        """Record an op that computes nothing: the device holding the data it shows, or None
        when it shows resident data (its results are then resident too)."""
        moving = self.moving(op)
        if not moving:
            self.resident.update(op.results)
            return None
        shown = self.view_of.get(moving[0], moving[0])
        self.view_of.update((r, shown) for r in op.results)
        return self.holders[shown][0]

    def time(self, op: Operation, cost, device: str) -> tuple[float, float]:
        """(the op's own time on `device`, bringing its inputs there) in seconds."""
        spec = self.devices[device]
        transfer = sum(self.model.transfer_time(self.nbytes(v), self.devices[self.holders[v][0]],
                                                spec)
                       for v in self.sources(op) if device not in self.holders[v])
        return self.model.op_time(cost, spec, op, self.bindings), transfer

    def commit(self, op: Operation, device: str) -> None:
        """`op` runs on `device`: its inputs now also live there, its results live there (or
        stay resident, for a cache append)."""
        for v in self.sources(op):
            if device not in self.holders[v]:
                self.holders[v].append(device)
        if is_cache_append(op):
            self.resident.update(op.results)
        else:
            self.holders.update((r, [device]) for r in op.results)

    def nbytes(self, value: Value) -> float:
        t = value.type
        if not isinstance(t, TensorType):
            return 0.0
        bits = self.element_bits if self.element_bits is not None and t.element.is_float \
            else t.element.bits
        return float(sympy.sympify(t.numel).xreplace(self.subs)) * bits / 8
