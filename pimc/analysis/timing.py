"""Device and estimated time of every op of one function: the placement of `place-devices` (its
`Placer`, or the `device` attributes already in the IR) timed by the same cost model.

An op's time is the cost model's `op_time` on its device plus `transfer_s`, the time to bring
its inputs there from the device that computed them (`CostModel.transfer_time`), counted once
per value and destination, as the placer counts it when it chooses. Function arguments, weights
and KV caches appended in place live in the HBM every device reads, so they never transfer.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy

from pimc.errors import PimcError
from pimc.ir.attrs import DeviceAttr
from pimc.ir.core import Operation, Value
from pimc.ir.dialects.builtin import FuncOp
from pimc.ir.printer import print_op
from pimc.ir.symbolic import sym
from pimc.ir.types import TensorType
from pimc.passes.analyze_intensity import Cost, evaluate, op_cost
from pimc.passes.cost_model import CostModel, get_cost_model
from pimc.passes.place_devices import Placer, bindings_for, body_ops, parse_pins
from pimc.passes.residency import is_cache_append, transferred_operands
from pimc.targets import Target


@dataclass(frozen=True)
class OpTime:
    op: Operation
    cost: Cost  # flops, bytes and Op/B with the dims bound
    device: str
    op_s: float  # the cost model's time on `device`, overhead included
    transfer_s: float  # bringing the inputs computed elsewhere to `device`
    bound: str  # "compute" or "memory": the larger roofline term on `device`; "" if nothing runs
    source: str = ""  # where op_s came from: "roofline" or "sim" (CostModel.op_source)

    @property
    def est_time_s(self) -> float:
        return self.op_s + self.transfer_s


def time_function(func: FuncOp, target: Target, batch: int, context: int,
                  policy: str = "pick-min", pin: str = "", keep_devices: bool = False,
                  cost_model: str | CostModel = "roofline",
                  element_bits: int | None = None) -> list[OpTime]:
    """One OpTime per op of `func` (after analyze-intensity), in program order. With
    `keep_devices` the ops' `device` attributes are the placement; otherwise the Placer
    chooses under `policy` and `pin`. `element_bits` counts transferred floats at that width
    (the analysis dtype); None keeps the IR's types. `cost_model`: a name or a model."""
    model = cost_model if isinstance(cost_model, CostModel) else get_cost_model(cost_model, target)
    devices = target.devices()
    bindings = bindings_for(func, batch, context)
    if keep_devices:
        placed = {op: _device_attr(op) for op in body_ops(func)}
    else:
        placed = Placer(target, target.name, model, policy, parse_pins(pin)).place(
            func, batch, context)
    subs = {sym(k): sympy.Float(v) for k, v in bindings.items()}
    memo: dict[int, Cost] = {}
    resident: set[Value] = set(func.args)
    home: dict[Value, Value] = {}  # a view's result -> the computed value it views
    holders: dict[Value, list[str]] = {}  # a computed value -> its device, then its copies
    out = []
    for op in body_ops(func):
        attr = op.attributes.get("cost")
        if attr is None:
            raise PimcError(f"op '{op.name}' has no cost: run analyze-intensity first",
                            print_op(op))
        if id(attr) not in memo:
            memo[id(attr)] = evaluate(op_cost(op), bindings)
        cost, device = memo[id(attr)], placed[op]
        moving = [v for v in transferred_operands(op) if v not in resident]
        spec = devices[device]
        if cost.flops == 0 and cost.bytes == 0:
            if moving:
                for r in op.results:
                    home[r] = home.get(moving[0], moving[0])
            else:
                resident.update(op.results)
            out.append(OpTime(op, cost, device, 0.0, 0.0, ""))
            continue
        transfer = 0.0
        for value in dict.fromkeys(home.get(v, v) for v in moving):
            if device not in holders[value]:  # sent from where it was computed, as the placer does
                src = devices[holders[value][0]]
                transfer += model.transfer_time(_nbytes(value, subs, element_bits), src, spec)
                holders[value].append(device)
        if is_cache_append(op):
            resident.update(op.results)
        else:
            holders.update((r, [device]) for r in op.results)
        compute, memory = cost.flops / spec.peak_flops, cost.bytes / spec.bandwidth_bytes_s
        out.append(OpTime(op, cost, device, model.op_time(cost, spec, op, bindings), transfer,
                          "compute" if compute > memory else "memory",
                          model.op_source(spec, op, bindings)))
    return out


def _device_attr(op: Operation) -> str:
    attr = op.attributes.get("device")
    if not isinstance(attr, DeviceAttr):
        raise PimcError(f"op '{op.name}' has no device: run place-devices first", print_op(op))
    return attr.device


def _nbytes(value: Value, subs: dict, element_bits: int | None) -> float:
    t = value.type
    if not isinstance(t, TensorType):
        return 0.0
    bits = element_bits if element_bits is not None and t.element.is_float else t.element.bits
    return float(sympy.sympify(t.numel).xreplace(subs)) * bits / 8
