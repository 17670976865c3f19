"""Pydantic models of a hardware system: an xPU (NPU or GPU) beside HBM whose banks may compute
(PIM) and whose base die may compute (Logic-PIM). One TOML file validates into one `Target`.

Conventions that hold for every target and every preset:

- Clock. Every DRAM timing parameter (`[memory.timing]`, `pim.mac_interval_tck`) is a whole
  number of tCK, the period of the DRAM *command* clock, `memory.timing.tCK_ns`. A duration in
  seconds is always cycles x tCK, so the analytic model and a cycle-level simulator that replays
  the same table agree by construction.
- Burst. `burst_length` counts data beats on the DQ pins of one pseudo-channel. A DDR bus moves
  2 beats per tCK, so a BL4 burst holds the bus for 2 tCK and tCCD (in tCK) is the gap between
  two column commands: with BL4 on a DDR bus, tCCD = 2 is back-to-back bursts. HBM3 moves 4 beats
  per tCK (data_rate_gbps x tCK_ns = 4), so its BL8 also holds the bus for 2 tCK.
- Units. Bytes, seconds, hertz and FLOP/s; one multiply-accumulate is 2 FLOPs; 1 GB = 1e9 bytes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, NonNegativeFloat, NonNegativeInt, PositiveFloat
from pydantic import PositiveInt, model_validator

from pimc.ir.attrs import DEVICES

DType = Literal["fp32", "fp16", "bf16", "fp8", "int8", "int4"]
DTYPE_BYTES: dict[str, float] = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1, "int4": 0.5}


class Spec(BaseModel):
    """Base of every section: unknown keys are errors, values are immutable, and strict types
    (TOML distinguishes 4 from 4.0 and "4", so the model does too; an int is a valid float)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One device as a roofline cost model sees it: time = max(flops / peak_flops,
    bytes / bandwidth_bytes_s) + overhead_s. `name` is the IR's `#pimc.device<...>` kind."""

    name: str  # one of pimc.ir.attrs.DEVICES
    kind: str  # what the device is: npu, gpu, pim-bank, pim-bankgroup, pim-buffer, logic-pim, cpu
    peak_flops: float
    bandwidth_bytes_s: float
    overhead_s: float

    @property
    def ridge_op_b(self) -> float:
        """The Op/B where the roofline bends: below it the device is bandwidth-bound."""
        return self.peak_flops / self.bandwidth_bytes_s


class Xpu(Spec):
    """The compute die beside the memory: an NPU of systolic arrays or a GPU. Its peak is either
    given (`peak_flops`, at `dtype`) or derived from the systolic arrays; if both, they agree."""

    kind: Literal["npu", "gpu"]
    dtype: DType
    peak_flops: PositiveFloat | None = None
    count: PositiveInt | None = None  # systolic arrays (NPU) or streaming multiprocessors (GPU)
    systolic_rows: PositiveInt | None = None
    systolic_cols: PositiveInt | None = None
    clock_hz: PositiveFloat | None = None
    sram_bytes: PositiveInt | None = None
    # Vector units beside the arrays (elementwise ops, softmax, norms), each `vector_lanes` wide.
    # Absent: NeuPIMs' 8 x 128 (casys-kaist/NeuPIMs configs/systolic_ws_128x128_dev.json
    # "vector_core_count": 8, "vector_core_width": 128), which runtime/npusim assumes.
    vector_units: PositiveInt | None = None
    vector_lanes: PositiveInt | None = None
    overhead_s: NonNegativeFloat = 0.0  # fixed cost per op: a kernel launch or a tile dispatch

    @property
    def systolic_peak_flops(self) -> float | None:
        parts = (self.count, self.systolic_rows, self.systolic_cols, self.clock_hz)
        if any(p is None for p in parts):
            return None
        return 2.0 * self.count * self.systolic_rows * self.systolic_cols * self.clock_hz

    @property
    def flops(self) -> float:
        return self.peak_flops if self.peak_flops is not None else self.systolic_peak_flops

    @property
    def device_name(self) -> str:
        # The IR calls an NPU "npu" and any other accelerator die "xpu" (the papers' word).
        return "npu" if self.kind == "npu" else "xpu"

    @model_validator(mode="after")
    def _peak_is_known(self) -> Xpu:
        derived = self.systolic_peak_flops
        if self.peak_flops is None and derived is None:
            raise ValueError("give peak_flops, or count, systolic_rows, systolic_cols and clock_hz")
        if self.peak_flops is not None and derived is not None \
                and abs(self.peak_flops - derived) > 0.01 * derived:
            raise ValueError(f"peak_flops {self.peak_flops:.4g} disagrees with 2 x count x "
                             f"systolic_rows x systolic_cols x clock_hz = {derived:.4g}")
        return self


class Timing(Spec):
    """DRAM timing constraints, in tCK of the DRAM command clock (tCK_ns itself in ns). Names
    follow JEDEC/DRAMsim3: _S is another bank group, _L the same bank group; tRCD is ACT to READ
    and tRCDWR ACT to WRITE; tRTRS (rank-to-rank switch) is optional."""

    tCK_ns: PositiveFloat
    CL: PositiveInt
    CWL: PositiveInt
    tRCD: PositiveInt
    tRCDWR: PositiveInt
    tRP: PositiveInt
    tRAS: PositiveInt
    tRC: PositiveInt
    tCCD_S: PositiveInt
    tCCD_L: PositiveInt
    tRRD_S: PositiveInt
    tRRD_L: PositiveInt
    tFAW: PositiveInt
    tWR: PositiveInt
    tRTP_S: PositiveInt
    tRTP_L: PositiveInt
    tWTR_S: PositiveInt
    tWTR_L: PositiveInt
    tRFC: PositiveInt
    tREFI: PositiveInt
    tRTRS: NonNegativeInt | None = None


class Memory(Spec):
    """The HBM system: how many stacks, channels and pins, how fast the pins run, and (for
    simulation and PIM) the bank organisation and timing. A roofline-only target may leave the
    bank fields and `[memory.timing]` out."""

    standard: Literal["HBM", "HBM2", "HBM2E", "HBM3", "HBM3E"]
    stacks: PositiveInt
    channels: PositiveInt  # per stack
    pseudo_channels: PositiveInt  # per channel; 1 = a legacy-mode channel
    device_width_bits: PositiveInt  # DQ pins of one pseudo-channel
    data_rate_gbps: PositiveFloat  # per pin
    capacity_gib: PositiveFloat | None = None  # only where the bank fields cannot derive it
    ranks: PositiveInt | None = None  # per pseudo-channel (stack IDs)
    bank_groups: PositiveInt | None = None  # per rank
    banks_per_group: PositiveInt | None = None
    rows: PositiveInt | None = None  # per bank
    columns: PositiveInt | None = None  # column accesses (bursts) per row
    burst_length: PositiveInt | None = None
    timing: Timing | None = None

    @property
    def total_channels(self) -> int:
        return self.stacks * self.channels

    @property
    def peak_bandwidth(self) -> float:
        """Bytes/s over the external pins of every stack."""
        pins = self.total_channels * self.pseudo_channels * self.device_width_bits
        return pins * self.data_rate_gbps * 1e9 / 8

    @property
    def has_banks(self) -> bool:
        return None not in (self.ranks, self.bank_groups, self.banks_per_group, self.rows,
                            self.columns, self.burst_length)

    @property
    def banks_per_channel(self) -> int:
        return self.pseudo_channels * self.ranks * self.bank_groups * self.banks_per_group

    @property
    def access_bytes(self) -> int:
        """Bytes one column command moves: the pseudo-channel's DQ width times its burst."""
        return self.device_width_bits * self.burst_length // 8

    @property
    def row_bytes(self) -> int:
        return self.columns * self.access_bytes

    @property
    def capacity_bytes(self) -> float | None:
        if self.capacity_gib is not None:
            return self.capacity_gib * 2**30
        if not self.has_banks:
            return None
        return float(self.total_channels * self.banks_per_channel * self.rows * self.row_bytes)

    @property
    def beats_per_tck(self) -> float:
        return self.data_rate_gbps * self.timing.tCK_ns

    @property
    def burst_tck(self) -> float:
        """tCK one burst holds the data bus (2 for BL4 on DDR, see the module docstring)."""
        return self.burst_length / self.beats_per_tck

    @model_validator(mode="after")
    def _consistent(self) -> Memory:
        if self.timing is not None and abs(self.beats_per_tck - round(self.beats_per_tck)) > 0.01:
            raise ValueError(f"data_rate_gbps x timing.tCK_ns = {self.beats_per_tck:.3f} beats per "
                             "tCK; expected a whole number (2 on a DDR bus, 4 for HBM3)")
        if self.capacity_gib is not None and self.has_banks:
            raise ValueError("capacity_gib: the bank fields already give the capacity; drop one")
        return self


class Pim(Spec):
    """Compute units inside the DRAM dies, at each bank, each bank group or the buffer die
    (AttAcc's three placements). One MAC command to a channel makes every unit of that channel
    multiply `lanes` elements it reads from its row buffer; a channel accepts one MAC command per
    `mac_interval_tck`. `row_buffers = 2` is NeuPIMs' dual row buffer: PIM and ordinary reads do
    not evict each other's open row."""

    # The PIM command set the units take: "attacc" (AttAcc's MAC-all-bank/-bank-group/-buffer
    # commands), "neupims" (the same all-bank MACs, with NeuPIMs' dual row buffer when
    # row_buffers = 2; one stream generator serves both), or "hbm-pim" (Samsung HBM-PIM's
    # mode changes and CRF/GRF/SRF program, one block per two banks; backends/pim
    # hbmpim_stream.py, PIMSimulator). Declared, never inferred from the geometry.
    isa: Literal["attacc", "neupims", "hbm-pim"] = "attacc"
    placement: Literal["bank", "bankgroup", "buffer"]
    units_per_channel: PositiveInt
    lanes: PositiveInt  # multipliers per unit
    dtype: DType
    mac_interval_tck: PositiveInt
    row_buffers: Literal[1, 2] = 1
    buffer_bytes: PositiveInt | None = None  # registers/buffers per unit
    # AttAcc's power constraint on all-bank/same-bank MACs: `mac_interval_tck` is the constrained
    # spacing (HBM3_5.2Gbps nCCDAB = nCCDSB = 6) and `mac_interval_npc_tck` the one without it
    # (HBM3_5.2Gbps_NPC, 4), so `--set pim.power_constraint=false` switches the analytic model
    # and the simulator together. Absent: the target has one interval and no such switch.
    power_constraint: bool | None = None
    mac_interval_npc_tck: PositiveInt | None = None
    overhead_s: NonNegativeFloat = 0.0

    @model_validator(mode="after")
    def _power_switch(self) -> "Pim":
        if self.power_constraint is False and self.mac_interval_npc_tck is None:
            raise ValueError("power_constraint: false needs mac_interval_npc_tck, the MAC spacing "
                             "without the constraint (this target has only mac_interval_tck)")
        return self

    @property
    def interval_tck(self) -> int:
        """The MAC spacing in force: without the power constraint where it is lifted."""
        if self.power_constraint is False:
            return self.mac_interval_npc_tck
        return self.mac_interval_tck

    def units(self, memory: Memory) -> int:
        return self.units_per_channel * memory.total_channels

    def clock_hz(self, memory: Memory) -> float:
        """MAC commands per second per channel: the rate every unit computes at."""
        return 1e9 / (self.interval_tck * memory.timing.tCK_ns)

    def peak_flops(self, memory: Memory) -> float:
        return 2.0 * self.units(memory) * self.lanes * self.clock_hz(memory)

    def internal_bandwidth(self, memory: Memory) -> float:
        """Bytes/s the units read from their rows, summed over the whole memory."""
        return self.units(memory) * self.lanes * DTYPE_BYTES[self.dtype] * self.clock_hz(memory)

    @property
    def op_b(self) -> float:
        """FLOPs per byte read at peak: 2 per element, so 1 for fp16 (Duplex's bank-PIM band)."""
        return 2.0 / DTYPE_BYTES[self.dtype]


class LogicPim(Spec):
    """Compute in the HBM base (logic) die, Duplex's Logic-PIM: it reads the DRAM through the
    TSVs at `bandwidth_multiplier` x the external bandwidth, with a peak set by either `op_b`
    (FLOPs per byte at that bandwidth) or `peak_flops`."""

    bandwidth_multiplier: PositiveFloat
    dtype: DType
    op_b: PositiveFloat | None = None
    peak_flops: PositiveFloat | None = None
    overhead_s: NonNegativeFloat = 0.0

    def bandwidth(self, memory: Memory) -> float:
        return self.bandwidth_multiplier * memory.peak_bandwidth

    def flops(self, memory: Memory) -> float:
        if self.peak_flops is not None:
            return self.peak_flops
        return self.op_b * self.bandwidth(memory)

    @model_validator(mode="after")
    def _one_peak(self) -> LogicPim:
        if (self.op_b is None) == (self.peak_flops is None):
            raise ValueError("give exactly one of op_b and peak_flops")
        return self


class Host(Spec):
    """The processor that drives the system (a CPU), as a roofline: optional."""

    peak_flops: PositiveFloat
    bandwidth_bytes_s: PositiveFloat
    overhead_s: NonNegativeFloat = 0.0


class Energy(Spec):
    """Energy per bit moved and per FLOP, in pJ. `dram_pj_per_bit` is the whole path from a cell
    to the xPU's pins; `pim_pj_per_bit` stops at the PIM unit and `logic_pim_pj_per_bit` at the
    base die; `transfer_pj_per_bit` moves a bit between the base die and the xPU."""

    dram_pj_per_bit: PositiveFloat
    transfer_pj_per_bit: PositiveFloat
    xpu_pj_per_flop: PositiveFloat
    pim_pj_per_bit: PositiveFloat | None = None
    pim_pj_per_flop: PositiveFloat | None = None
    logic_pim_pj_per_bit: PositiveFloat | None = None


class Target(Spec):
    """A whole hardware system: memory plus at least one device that computes."""

    name: str
    description: str
    xpu: Xpu | None = None
    host: Host | None = None
    memory: Memory
    pim: Pim | None = None
    logic_pim: LogicPim | None = None
    energy: Energy | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Target:
        if self.xpu is None and self.host is None and self.pim is None and self.logic_pim is None:
            raise ValueError("no device computes; give at least one of [xpu], [host], [pim], "
                             "[logic_pim]")
        if self.pim is not None:
            self._check_pim_fits(self.pim, self.memory)
            self._check_isa(self.pim, self.memory)
        if self.energy is not None:
            for section, key in (("pim", "pim_pj_per_bit"), ("logic_pim", "logic_pim_pj_per_bit")):
                if getattr(self, section) is not None and getattr(self.energy, key) is None:
                    raise ValueError(f"energy.{key}: required when [{section}] is present")
        return self

    @staticmethod
    def _check_pim_fits(pim: Pim, memory: Memory) -> None:
        if memory.timing is None or not memory.has_banks:
            raise ValueError("pim: needs [memory.timing] and the memory's bank fields (ranks, "
                             "bank_groups, banks_per_group, rows, columns, burst_length)")
        # How many units of each placement a channel has room for.
        room = {"bank": memory.banks_per_channel,
                "bankgroup": memory.pseudo_channels * memory.ranks * memory.bank_groups,
                "buffer": memory.pseudo_channels}[pim.placement]
        if pim.units_per_channel > room:
            raise ValueError(f"pim.units_per_channel: {pim.units_per_channel} {pim.placement}-level "
                             f"units, but a channel has room for {room}")

    @staticmethod
    def _check_isa(pim: Pim, memory: Memory) -> None:
        banks = memory.pseudo_channels * memory.bank_groups * memory.banks_per_group
        if pim.isa == "hbm-pim" and (pim.placement != "bank" or pim.units_per_channel * 2 != banks):
            raise ValueError(f"pim.isa: 'hbm-pim' has one PIM block per two banks of a pseudo-"
                             f"channel (placement = \"bank\", units_per_channel = {banks // 2}); "
                             f"this target has {pim.units_per_channel} {pim.placement}-level units")

    def devices(self) -> dict[str, DeviceSpec]:
        """The devices a placement pass may choose from, keyed by IR device name."""
        found: list[DeviceSpec] = []
        mem = self.memory
        if self.xpu is not None:
            found.append(DeviceSpec(self.xpu.device_name, self.xpu.kind, self.xpu.flops,
                                    mem.peak_bandwidth, self.xpu.overhead_s))
        if self.pim is not None:
            found.append(DeviceSpec("pim", f"pim-{self.pim.placement}", self.pim.peak_flops(mem),
                                    self.pim.internal_bandwidth(mem), self.pim.overhead_s))
        if self.logic_pim is not None:
            lp = self.logic_pim
            found.append(DeviceSpec("logic_pim", "logic-pim", lp.flops(mem), lp.bandwidth(mem),
                                    lp.overhead_s))
        if self.host is not None:
            found.append(DeviceSpec("host", "cpu", self.host.peak_flops,
                                    self.host.bandwidth_bytes_s, self.host.overhead_s))
        assert all(d.name in DEVICES for d in found), "device names must be IR device kinds"
        return {d.name: d for d in found}
