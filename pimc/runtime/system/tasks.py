"""One step of a placed function as schedulable tasks: each op's device and time from the same
cost model and placement `pimc analyze` reports (analysis.timing), its deps from the IR's
use-def edges, and how long it needs the shared HBM channels.

Channel holds (schedule.py explains what they are for):
- PIM units (`pim`, bank/bank-group/buffer-die) compute inside the DRAM, so a PIM op holds the
  channels for its whole run;
- an NPU/xPU op holds them for its bytes at the memory's external bandwidth (its weight and
  activation traffic), and computes for the rest;
- Logic-PIM on the base die reads through the TSVs at its own bandwidth, which the same banks
  serve (Duplex, Yun et al., MICRO'24 §4), so it holds them for its bytes at that bandwidth.
"""
from __future__ import annotations

from pimc.analysis.timing import time_function
from pimc.ir.attrs import IntAttr
from pimc.ir.dialects.builtin import FuncOp
from pimc.passes.cost_model import CostModel, get_cost_model
from pimc.passes.place_devices import bindings_for
from pimc.runtime.system.parallel import shard_table, stage_ops
from pimc.runtime.system.schedule import Task
from pimc.runtime.system.step_cost import StepCost
from pimc.targets import Target

SUB_BATCH_ATTR = "subbatch"  # set by sub-batch-interleave (architecture.md §3)
# Device kinds whose traffic does not cross the HBM's external interface: Logic-PIM reads the
# banks through the TSVs (Duplex §4), the host its own memory.
EXTERNAL_EXEMPT = ("logic-pim", "cpu")


def function_tasks(func: FuncOp, target: Target, batch: int, context: int,
                   cost_model: str | CostModel = "roofline", element_bits: int | None = None,
                   tp: int = 1, pp: int = 1, npusim: bool = False,
                   pim_timing: str = "cost-model") -> list[Task]:
    """Tasks of `func` in program order; `func` must be placed (device attributes) and costed.
    `element_bits`: the width transfers count floats at (analyze-intensity's dtype). `tp`/`pp`:
    one device's shard and one pipeline stage (parallel.py); `npusim`: NPU ops timed by
    npusim, `pim_timing` "neupims-mha": PIM attention by NeuPIMs' estimate (step_cost.py)."""
    base = cost_model if isinstance(cost_model, CostModel) else \
        get_cost_model(cost_model, target)
    shards = shard_table(func, tp, bindings_for(func, batch, context))
    model = StepCost(base, target, shards, tp, npusim, pim_timing)
    times = time_function(func, target, batch, context, keep_devices=True, cost_model=model,
                          element_bits=element_bits)
    stage = stage_ops(func, pp)
    if stage is not None:
        times = [t for t in times if t.op in stage]
    devices = target.devices()
    index = {t.op: i for i, t in enumerate(times)}
    external = target.memory.peak_bandwidth
    tasks = []
    for t in times:
        deps = sorted({index[v.owner] for v in t.op.operands
                       if getattr(v, "owner", None) in index})
        duration = t.est_time_s
        spec = devices[t.device]
        nbytes = model.shard(t.op).cost(t.cost).bytes
        if spec.kind.startswith("pim"):
            hold = duration
        elif spec.kind == "logic-pim":
            hold = min(duration, nbytes / spec.bandwidth_bytes_s)
        else:
            hold = min(duration, nbytes / external)
        attr = t.op.attributes.get(SUB_BATCH_ATTR)
        sub = attr.value if isinstance(attr, IntAttr) else -1
        where = t.op.loc.describe() if t.op.loc else ""
        flops = model.shard(t.op).cost(t.cost).flops
        tasks.append(Task(f"{t.op.name} {where}".strip(), t.device, duration, tuple(deps),
                          hold, sub, t.op.name, flops, nbytes, model.unit_of(t.op, spec),
                          external=spec.kind not in EXTERNAL_EXEMPT and
                          not spec.kind.startswith("pim"), source=t.source))
    return tasks


def energy_j(tasks: list[Task], target: Target) -> float:
    """Each task's bytes at its device's pJ/bit and its FLOPs at its pJ/FLOP (the target's
    [energy], each figure cited in the preset); 0 where the target gives no energy table.
    PIM and Logic-PIM fall back to the DRAM / xPU figures where the preset has no own one."""
    e = target.energy
    if e is None:
        return 0.0
    kinds = {d.name: d.kind for d in target.devices().values()}
    total = 0.0
    for t in tasks:
        kind = kinds[t.device]
        if kind.startswith("pim"):
            bit, flop = e.pim_pj_per_bit or e.dram_pj_per_bit, e.pim_pj_per_flop or e.xpu_pj_per_flop
        elif kind == "logic-pim":
            bit, flop = e.logic_pim_pj_per_bit or e.dram_pj_per_bit, e.xpu_pj_per_flop
        else:
            bit, flop = e.dram_pj_per_bit, e.xpu_pj_per_flop
        total += (t.nbytes * 8 * bit + t.flops * flop) * 1e-12
    return total
