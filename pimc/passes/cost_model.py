"""Cost models: how long one op takes on one device, and what moving its inputs there costs.

`place-devices` asks a cost model for every candidate (op, device) pair. The interface is two
methods, so a measured model can replace the analytic one without touching the pass:

  * `op_time(cost, device, op) -> seconds`: `cost` is the op's flops and bytes with the dims
    bound (`analyze_intensity.evaluate`); `op` is the op itself, for models that need its shape.
  * `transfer_time(nbytes, src, dst) -> seconds`: moving an activation between two devices.

Models live in `COST_MODELS` (name -> factory taking the `Target`):

  * `roofline`: the analytic model below.
  * `cycle-sim`: reserved for PIM kernel times measured by pimc's cycle-level simulator
    (runtime/pimsim, DESIGN §7), which a later issue builds. Looking it up says so; it does not
    fall back to the roofline, so no result ever claims simulated numbers it does not have.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

from pimc.ir.core import Operation
from pimc.passes.analyze_intensity import Cost
from pimc.registry import Registry
from pimc.targets import DeviceSpec, Target


class CostModel(ABC):
    name: ClassVar[str]

    @abstractmethod
    def op_time(self, cost: Cost, device: DeviceSpec, op: Operation | None = None) -> float:
        """Seconds `device` takes to run an op of `cost` (flops and bytes as floats)."""

    @abstractmethod
    def transfer_time(self, nbytes: float, src: DeviceSpec, dst: DeviceSpec) -> float:
        """Seconds to make `nbytes` that `src` produced available to `dst` (0 when equal)."""


class Roofline(CostModel):
    """time = max(flops / peak, bytes / bandwidth) + the device's fixed per-op overhead.

    Peaks, bandwidths and overheads come from the target (`Target.devices()`, every number
    cited in its preset). A PIM device's bandwidth is its internal one (all units reading their
    rows at once), a Logic-PIM's the TSV bandwidth, an xPU's the external HBM pins.

    A transfer crosses the HBM's external interface once: `nbytes / memory.peak_bandwidth`,
    plus the larger fixed overhead of the two devices (one more command stream or launch). In
    NeuPIMs, AttAcc and Duplex the xPU and the PIM share the same HBM, so nothing is copied
    between memories; what a change of device adds is pushing the activation through the
    channel into the other device's operand path, or reading a result back through it:
    AttAcc's WRGB writes the query vector from the host into the PIM GEMV buffers
    (/work/shared/reference/ATTACC.md §3), HBM-PIM broadcasts inputs into its GRF registers
    with channel writes (/work/shared/reference/pimsim/PIMSIM.md), and results return as
    ordinary reads. The producer's own write and the consumer's own read of DRAM are already in
    their op costs, so they are not counted again here.
    """

    name = "roofline"

    def __init__(self, target: Target):
        self.link_bandwidth = target.memory.peak_bandwidth

    def op_time(self, cost: Cost, device: DeviceSpec, op: Operation | None = None) -> float:
        if cost.flops == 0 and cost.bytes == 0:  # a view or a handle: nothing runs
            return 0.0
        return max(cost.flops / device.peak_flops, cost.bytes / device.bandwidth_bytes_s) \
            + device.overhead_s

    def transfer_time(self, nbytes: float, src: DeviceSpec, dst: DeviceSpec) -> float:
        if src.name == dst.name or nbytes == 0:
            return 0.0
        return nbytes / self.link_bandwidth + max(src.overhead_s, dst.overhead_s)


COST_MODELS: Registry[Callable[[Target], CostModel]] = Registry("cost model")
COST_MODELS.register("roofline", lambda: Roofline)


def _cycle_sim_unavailable() -> Callable[[Target], CostModel]:
    raise NotImplementedError(
        "cost model 'cycle-sim' is not available yet: it needs pimc's cycle-level PIM simulator "
        "(a later issue); use cost-model=roofline")


COST_MODELS.register("cycle-sim", _cycle_sim_unavailable)


def get_cost_model(name: str, target: Target) -> CostModel:
    """The cost model `name` for `target`; an unknown name lists the valid ones."""
    return COST_MODELS.get(name)(target)
