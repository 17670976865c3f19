"""Cost models: how long one op takes on one device, and what moving its inputs there costs.

`place-devices` asks a cost model for every candidate (op, device) pair. The interface is two
methods, so a measured model can replace the analytic one without touching the pass:

  * `op_time(cost, device, op, dims) -> seconds`: `cost` is the op's flops and bytes with the
    dims bound (`analyze_intensity.evaluate`); `op` is the op itself and `dims` the bindings of
    its symbolic dims ({"B": 64, "S": 2048, "T": 1}), for models that need its concrete shape
    (a simulator runs the kernel at that shape).
  * `transfer_time(nbytes, src, dst) -> seconds`: moving an activation between two devices.
  * `op_source(device, op, dims) -> str`: where `op_time` took the time from ("roofline",
    "sim"), so a report never presents a roofline number as a simulated one.

Models live in `COST_MODELS` (name -> factory taking the `Target`):

  * `roofline`: the analytic model below.
  * `sim`: PIM decode attention and GEMV timed by pimc's cycle-level simulator (runtime/pimsim,
    architecture.md §8), memoised per (kernel, shape, target); everything else by the roofline. It lives
    in pimc.runtime.pimsim.sim_cost and is registered here by name (EXTERNAL_MODELS).
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import ClassVar

from pimc.ir.core import Operation
from pimc.passes.analyze_intensity import Cost
from pimc.registry import Registry
from pimc.targets import DeviceSpec, Target


class CostModel(ABC):
    name: ClassVar[str]
    # A slow model (one that runs a simulator) calls this with what it is doing, for a progress
    # display; the CLI sets it, everything else leaves it None.
    progress: Callable[[str], None] | None = None

    @abstractmethod
    def op_time(self, cost: Cost, device: DeviceSpec, op: Operation | None = None,
                dims: Mapping[str, int] | None = None) -> float:
        """Seconds `device` takes to run `op` of `cost` (flops and bytes as floats), its
        symbolic dims bound by `dims`."""

    def op_source(self, device: DeviceSpec, op: Operation | None = None,
                  dims: Mapping[str, int] | None = None) -> str:
        """Where `op_time` takes this op's time from: the model's name unless it says otherwise."""
        return self.name

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
    (tests/fixtures/reference/attacc/ATTACC.md §3), HBM-PIM broadcasts inputs into its GRF
    registers with channel writes (tests/fixtures/reference/pimsim/PIMSIM.md), and results
    return as ordinary reads. The producer's own write and the consumer's own read of DRAM are
    already in their op costs, so they are not counted again here.
    """

    name = "roofline"

    def __init__(self, target: Target):
        self.link_bandwidth = target.memory.peak_bandwidth

    def op_time(self, cost: Cost, device: DeviceSpec, op: Operation | None = None,
                dims: Mapping[str, int] | None = None) -> float:
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

# Models defined outside this layer, as "module:attribute" like a plug-in's entry point. The
# simulator-backed model runs pimsim, which lives in pimc.runtime, and passes must not depend on
# runtime (architecture.md §2 layering). Naming it by a string keeps the dependency pointing from runtime
# to passes, imports the simulator only when the model is used, and leaves one registry that
# every place resolving a model by name (place-devices' options, pimc analyze, the API) reads.
# (An importlib.metadata entry-point group, as backends use, would need a reinstall to see a new
# model; this table is the same idea without that step.)
EXTERNAL_MODELS = {"sim": "pimc.runtime.pimsim.sim_cost:SimCostModel"}


def _load_external(ref: str) -> Callable[[], Callable[[Target], CostModel]]:
    def load() -> Callable[[Target], CostModel]:
        module, _, attr = ref.partition(":")
        return getattr(importlib.import_module(module), attr)
    return load


for _name, _ref in EXTERNAL_MODELS.items():
    COST_MODELS.register(_name, _load_external(_ref))


def get_cost_model(name: str, target: Target) -> CostModel:
    """The cost model `name` for `target`; an unknown name lists the valid ones."""
    return COST_MODELS.get(name)(target)
