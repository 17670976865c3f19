"""A discrete-event schedule of one model step over the devices' timelines.

Each op is a `Task` on one device with a duration and the tasks whose results it reads. A device
has one lane, or several where it has units that work side by side: NeuPIMs' NPU advances its
systolic arrays and its vector units in the same cycle (casys-kaist/NeuPIMs
src/NeuPIMSystolicWS.cc cycle(): systolic_cycle() then vector_unit_cycle(), fed from one queue
that issues the first ready instruction), so a norm of one sub-batch runs beside a GEMM of the
other. A lane runs its tasks one at a time, in the order the IR lists them (the order
`sub-batch-interleave` chose), each as soon as its inputs are done and the lane is free. Tasks on
different devices (and lanes) overlap, which is where heterogeneous systems gain: NeuPIMs' NPU runs sub-batch 1's GEMMs while
its PIM runs sub-batch 2's attention.

Memory contention. The NPU/xPU and the PIM units share the HBM channels. Each task says how long
it needs the channels (`hold_s`): a PIM kernel for its whole run, an NPU/xPU op for the time its
bytes take at the external bandwidth, at its start. With one row buffer per bank (Newton-style
PIM, NeuPIMs' "blocked" baseline `npu-pim-naive`) a channel serves one of them at a time, so
holds never overlap. NeuPIMs' dual row buffers (`pim.row_buffers = 2`, Heo et al., ASPLOS'24
§4) let PIM compute and ordinary reads and writes proceed together, so holds do not conflict.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Task:
    name: str
    device: str
    duration_s: float
    deps: tuple[int, ...] = ()  # indices of earlier tasks whose results this one reads
    hold_s: float = 0.0  # time it needs the shared HBM channels, from its start
    sub_batch: int = -1
    kind: str = ""  # the op, for traces and reports
    flops: float = 0.0
    nbytes: float = 0.0  # bytes it reads and writes, for energy
    unit: str = ""  # the device's lane: "" for its main one, e.g. "vector" for the NPU's vector units
    external: bool = False  # its hold is traffic over the memory's external interface (NPU/xPU)
    source: str = ""  # the model its duration came from: roofline, sim, npusim, neupims-mha

    @property
    def lane(self) -> str:
        return f"{self.device}.{self.unit}" if self.unit else self.device

    def __post_init__(self):
        if self.duration_s < 0 or self.hold_s < 0 or self.hold_s > self.duration_s + 1e-15:
            raise ValueError(f"task {self.name}: needs 0 <= hold_s <= duration_s, got "
                             f"hold {self.hold_s}, duration {self.duration_s}")


@dataclass(frozen=True)
class Slice:
    task: int
    device: str
    start_s: float
    end_s: float
    unit: str = ""  # the device's lane (Task.unit)


@dataclass
class Schedule:
    slices: list[Slice]
    makespan_s: float
    busy_s: dict[str, float] = field(default_factory=dict)  # per lane (Task.lane)

    def utilisation(self) -> dict[str, float]:
        span = self.makespan_s or 1.0
        return {d: b / span for d, b in self.busy_s.items()}


class _Intervals:
    """Disjoint busy intervals of the channels, sorted; finds the first gap that fits."""

    def __init__(self):
        self.starts: list[float] = []
        self.ends: list[float] = []

    def earliest(self, t: float, length: float) -> float:
        if length <= 0:
            return t
        k = bisect.bisect_right(self.ends, t)  # the first interval still busy after t
        while k < len(self.starts):
            if t + length <= self.starts[k]:
                return t
            t = max(t, self.ends[k])
            k += 1
        return t

    def add(self, start: float, length: float) -> None:
        if length <= 0:
            return
        k = bisect.bisect_left(self.starts, start)
        self.starts.insert(k, start)
        self.ends.insert(k, start + length)


def _earliest(t: float, length: float, sets: list[_Intervals]) -> float:
    """The first time from t at which every set has a gap of `length`."""
    while True:
        moved = t
        for s in sets:
            moved = s.earliest(moved, length)
        if moved == t:
            return t
        t = moved


def schedule(tasks: list[Task], dual_row_buffers: bool = True) -> Schedule:
    """Start times for `tasks` (see the module docstring); tasks must be in a topological order
    (every dep an earlier index), as the IR's program order is."""
    finish = [0.0] * len(tasks)
    free: dict[str, float] = {}
    busy: dict[str, float] = {}
    channels, bus = _Intervals(), _Intervals()
    slices = []
    for i, task in enumerate(tasks):
        ready = 0.0
        for d in task.deps:
            if d >= i:
                raise ValueError(f"task {task.name}: depends on a later task {tasks[d].name}")
            ready = max(ready, finish[d])
        if task.duration_s == 0:  # views, handles: no device time
            finish[i] = ready
            continue
        lane = task.lane
        start = max(ready, free.get(lane, 0.0))
        sets = ([] if dual_row_buffers else [channels]) + ([bus] if task.external else [])
        start = _earliest(start, task.hold_s, sets)
        for s in sets:
            s.add(start, task.hold_s)
        finish[i] = start + task.duration_s
        free[lane] = finish[i]
        busy[lane] = busy.get(lane, 0.0) + task.duration_s
        slices.append(Slice(i, task.device, start, finish[i], task.unit))
    return Schedule(slices, max(finish, default=0.0), busy)
