"""Device and estimated time of every op of one function: the placement of `place-devices` (its
`Placer`, or the `device` attributes already in the IR) timed by the same cost model.

An op's time is `residency.Movement.time`, the function the placer chooses by: the cost model's
`op_time` on its device plus `transfer_s`, the time to bring its inputs there from the device
that computed them, counted once per value and destination. Function arguments, weights and KV
caches appended in place live in the HBM every device reads, so they never transfer.
"""
from __future__ import annotations

from dataclasses import dataclass

from pimc.errors import PimcError
from pimc.ir.attrs import DeviceAttr
from pimc.ir.core import Operation
from pimc.ir.dialects.builtin import FuncOp
from pimc.ir.printer import print_op
from pimc.passes.analyze_intensity import Cost, evaluate, op_cost
from pimc.passes.cost_model import CostModel, get_cost_model
from pimc.passes.place_devices import Placer, bindings_for, body_ops, parse_pins
from pimc.passes.residency import Movement
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
    memo: dict[int, Cost] = {}
    movement = Movement(func, devices, model, bindings, element_bits)
    out = []
    for op in body_ops(func):
        attr = op.attributes.get("cost")
        if attr is None:
            raise PimcError(f"op '{op.name}' has no cost: run analyze-intensity first",
                            print_op(op))
        if id(attr) not in memo:
            memo[id(attr)] = evaluate(op_cost(op), bindings)
        cost, device = memo[id(attr)], placed[op]
        if cost.flops == 0 and cost.bytes == 0:
            movement.view(op)
            out.append(OpTime(op, cost, device, 0.0, 0.0, ""))
            continue
        op_s, transfer_s = movement.time(op, cost, device)
        movement.commit(op, device)
        spec = devices[device]
        compute, memory = cost.flops / spec.peak_flops, cost.bytes / spec.bandwidth_bytes_s
        out.append(OpTime(op, cost, device, op_s, transfer_s,
                          "compute" if compute > memory else "memory",
                          model.op_source(spec, op, bindings)))
    return out


def _device_attr(op: Operation) -> str:
    attr = op.attributes.get("device")
    if not isinstance(attr, DeviceAttr):
        raise PimcError(f"op '{op.name}' has no device: run place-devices first", print_op(op))
    return attr.device
