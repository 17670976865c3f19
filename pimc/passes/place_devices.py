"""place-devices: choose the device of every op (`device = #pimc.device<"pim">`) for a target.

    pimc opt f.mlir -p 'place-devices{target=neupims,batch=64,context=2048}'
    pimc opt f.mlir -p 'place-devices{target=duplex,policy=duplex,pin="attention:logic_pim"}'

Options:
  * `target=<preset or .toml>`: the hardware (`pimc targets`). Without it the module's
    `pimc.target` attribute names it; with neither the pass stops and lists the presets, since a
    placement for hardware nobody chose would be a guess. The pass records the target it placed
    for in `pimc.target`.
  * `policy=pick-min|neupims|attacc|duplex` (default pick-min), see POLICIES below.
  * `pin="<pattern>:<device>,..."`: fnmatch patterns on the op name without `llm.`
    (`attention:pim`, `lin*:npu`); the first matching pin wins over the policy. Quote a list,
    as commas separate pass options.
  * `batch=<int>` (B, default 1: one request, where every GEMV is memory-bound) and
    `context=<int>` (S, default 2048). T, the new tokens per request, is `context` in a function
    whose name contains "prefill" and 1 elsewhere (decode).
  * `cost-model=roofline|sim` (`cost_model.COST_MODELS`): `sim` times PIM decode attention and
    GEMV with the cycle-level simulator (runtime/pimsim/sim_cost.py), the rest by the roofline.
  * `sweep=true`: also place at B = 1, 2, 4, ..., 512 and print, as remarks on stderr, where each
    op type changes device (`placement_thresholds` returns the same data). The IR keeps the
    placement at `batch`.

Costs come from analyze-intensity, which this pass runs itself when no op carries a cost yet.

Which device can run what (`can_run`): the xPU (NPU or GPU) and a host CPU run every op. PIM at
bank, bank-group or buffer level and Logic-PIM run the GEMV-shaped ops: llm.linear, llm.matmul
with an operand resident in memory (a weight or a KV cache), llm.attention and llm.moe. A GEMM
runs there as one GEMV per row, which the roofline charges in full (flops / peak), so cost, not
capability, keeps prefill GEMMs off PIM. Where the papers put what:
  * NeuPIMs (ASPLOS'24, arXiv:2403.00579, abstract): QKV generation and the FFN are GEMMs for
    the NPU; multi-head attention is GEMV for the bank PIM.
  * AttAcc (ASPLOS'24): HBM3-PIM at bank, bank-group or buffer level runs the whole decode
    attention, score GEMV, softmax and context GEMV (ATTACC.md §1, the SFM command of §3); the
    FC layers stay on the GPU.
  * Duplex (MICRO'24, arXiv:2409.01141, abstract): Logic-PIM on the HBM base die runs attention
    (GQA: Op/B 4-8) and MoE experts (Op/B >= 1, fluctuating under continuous batching), the xPU
    the high-Op/B rest; PIM inside the DRAM dies only suits Op/B under one.

Ops that compute nothing (views, weight handles: zero flops and bytes) take the device of the
data they view. Weights, function arguments and KV caches appended in place live in the HBM
that every device reads directly (PIM in its banks, Logic-PIM over the TSVs, the xPU over the
pins), so reading them moves nothing. Any other operand produced on another device costs one
transfer (`CostModel.transfer_time`) per device it moves to, counted at the IR's element type.
An attention's padding mask is not such an operand (`transferred_operands`). func.return carries
no device.
"""
from __future__ import annotations

import fnmatch
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import sympy

from pimc.errors import OptionError, PimcError, unknown_name_message
from pimc.ir.attrs import DEVICES, DeviceAttr, StrAttr
from pimc.ir.core import Operation
from pimc.ir.dialects.builtin import FuncOp, ModuleOp
from pimc.ir.location import NameLoc
from pimc.ir.printer import print_op
from pimc.passes.analyze_intensity import (STRUCTURAL, AnalyzeIntensity, Cost, evaluate,
                                          op_cost)
from pimc.passes.base import Context, Pass
from pimc.passes.kv_compress_sites import MASK_LENGTH
from pimc.passes.residency import Movement, transferred_operands
from pimc.passes.cost_model import COST_MODELS, CostModel, get_cost_model
from pimc.targets import DeviceSpec, Target, get_target, preset_names

SWEEP_BATCHES = tuple(2 ** i for i in range(10))  # 1 .. 512
GENERAL_KINDS = ("npu", "gpu", "cpu")  # DeviceSpec kinds that run every op
GEMV_OPS = ("llm.linear", "llm.attention", "llm.moe")  # plus llm.matmul over a resident operand
# Policies: the devices each op may take. pick-min: every device that can run it.
# neupims and attacc: llm.attention on PIM, the FC layers and everything else on the xPU. At the
# granularity of a fused llm.attention the two papers split a decoder the same way; NeuPIMs'
# difference is concurrency (dual row buffers, sub-batch interleaving), a matter for scheduling.
# duplex: attention, MoE experts and linears take the faster of the xPU and Logic-PIM by the cost
# model, the rest the xPU. The Duplex device is these two processors; a target's bank PIM is the
# design the paper argues against for Op/B >= 1, so this rule leaves it out, while pick-min on
# the same target shows where the roofline would still use it.
POLICIES = ("pick-min", "neupims", "attacc", "duplex")
_POLICY_NEEDS = {"neupims": ("pim",), "attacc": ("pim",), "duplex": ("logic_pim",)}


@dataclass(frozen=True)
class Pin:
    pattern: str
    device: str

    def matches(self, op: Operation) -> bool:
        return fnmatch.fnmatchcase(op.name.removeprefix("llm."), self.pattern)

    def __str__(self) -> str:
        return f"{self.pattern}:{self.device}"


def parse_pins(text: str) -> tuple[Pin, ...]:
    pins = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        pattern, sep, device = part.rpartition(":")
        if not sep or not pattern or not device:
            raise OptionError(f"pass 'place-devices': pin '{part}' should be <op pattern>:<device>"
                              f" (attention:pim)")
        if device not in DEVICES:
            raise OptionError(f"pass 'place-devices': pin '{part}': "
                              + unknown_name_message("device", device, list(DEVICES)))
        pins.append(Pin(pattern, device))
    return tuple(pins)


def can_run(op: Operation, device: DeviceSpec, resident_operand: bool) -> bool:
    """Whether `device` can run `op` (see the module docstring for the rule and its sources)."""
    if device.kind in GENERAL_KINDS or op.name in GEMV_OPS:
        return True
    return op.name == "llm.matmul" and resident_operand


class UnboundDimError(PimcError):
    """A dim of a function's inputs that is none of the dims placement binds."""


def bindings_for(func: FuncOp, batch: int, context: int | Mapping[str, int]) -> dict[str, int]:
    """B, S and T; `context` is S, or a length per symbol (S and kv-compress's S_KV: the system
    simulator's compressed caches); any other symbol in the inputs' types is an error (a cost
    over it could not be compared). kv-compress's released padding mask (S_MASK) is still HF's
    attention_mask [B, S+T], evicted tokens included: an int `context` is that whole context; a
    mapping's S may be an eviction budget, so it names S_MASK itself (KvLayout.lengths)."""
    lengths = dict(context) if isinstance(context, Mapping) else {"S": context}
    tokens = lengths["S"] if "prefill" in func.sym_name else 1
    bindings = {"B": batch, **lengths, "T": tokens}
    bindings.setdefault(MASK_LENGTH, lengths["S"] + tokens)
    for arg in func.args:
        for axis, d in enumerate(getattr(arg.type, "shape", ())):
            free = sorted(s.name for s in sympy.sympify(d).free_symbols if s.name not in bindings)
            if free:
                raise UnboundDimError(
                    f"@{func.sym_name}: input %{arg.name_hint} axis {axis} has dim {free[0]}, "
                    "which placement cannot size; it binds B (batch), T (new tokens) and S "
                    "(past length): name the dim after its role (import_onnx's dim_names, or "
                    "batch_size / sequence_length / past_sequence_length in the ONNX file), or "
                    "compile with target=None")
    return bindings


def body_ops(func: FuncOp) -> Iterator[Operation]:
    return (op for op in func.walk() if op is not func and op.name not in STRUCTURAL)


class Placer:
    """Places the ops of one function at fixed dims: greedy in program order, each op taking
    the allowed device that minimises its own time plus moving its inputs there."""

    def __init__(self, target: Target, label: str, model: CostModel, policy: str,
                 pins: tuple[Pin, ...]):
        self.label, self.model, self.policy, self.pins = label, model, policy, pins
        self.devices = target.devices()
        names = ", ".join(self.devices)
        for pin in pins:
            if pin.device not in self.devices:
                raise OptionError(f"pass 'place-devices': pin '{pin}': target '{label}' has no "
                                  f"{pin.device} device; its devices: {names}")
        self.xpu = next((d.name for d in self.devices.values() if d.kind in ("npu", "gpu")), None)
        needs = _POLICY_NEEDS.get(policy, ())
        missing = [f"a {n} device" for n in needs if n not in self.devices] + \
            (["an npu or xpu device"] if needs and self.xpu is None else [])
        if missing:
            raise OptionError(f"pass 'place-devices': policy '{policy}' needs {missing[0]}; "
                              f"target '{label}' has: {names}")
        self.default = self.xpu or next(iter(self.devices))

    def candidates(self, op: Operation, resident_operand: bool) -> list[str]:
        pin = next((p for p in self.pins if p.matches(op)), None)
        if pin is not None:
            if not can_run(op, self.devices[pin.device], resident_operand):
                raise OptionError(f"pass 'place-devices': pin '{pin}': {pin.device} "
                                  f"({self.devices[pin.device].kind}) cannot run {op.name}; "
                                  "PIM and Logic-PIM run linear, attention, moe and matmul "
                                  "over a weight or KV cache")
            return [pin.device]
        if self.policy in ("neupims", "attacc"):
            return ["pim" if op.name == "llm.attention" else self.xpu]
        if self.policy == "duplex":
            if can_run(op, self.devices["logic_pim"], resident_operand):
                return [self.xpu, "logic_pim"]
            return [self.xpu]
        return [d.name for d in self.devices.values() if can_run(op, d, resident_operand)]

    def place(self, func: FuncOp, batch: int, context: int) -> dict[Operation, str]:
        """Each op's device; `self.times` keeps each op's (op_s, transfer_s) on it."""
        bindings = bindings_for(func, batch, context)
        memo: dict[int, Cost] = {}
        placed: dict[Operation, str] = {}
        self.times: dict[Operation, tuple[float, float]] = {}
        movement = Movement(func, self.devices, self.model, bindings)
        pending: list[Operation] = []  # views of resident data: placed with their first user
        for op in body_ops(func):
            cost = self._cost(op, bindings, memo)
            if cost.flops == 0 and cost.bytes == 0:  # a view shows its data where it is
                pin = next((p.device for p in self.pins if p.matches(op)), None)
                holder = movement.view(op)
                if pin or holder:
                    placed[op] = pin or holder
                else:
                    pending.append(op)
                continue
            reads_resident = len(movement.moving(op)) < len(transferred_operands(op))
            best, best_time = None, 0.0
            for device in self.candidates(op, reads_resident):
                times = movement.time(op, cost, device)
                if best is None or sum(times) < best_time:  # ties keep the earlier: the xPU
                    best, best_time, self.times[op] = device, sum(times), times
            if best is None:
                raise PimcError(f"no device of target '{self.label}' can run {op.name} "
                                f"(devices: {', '.join(self.devices)})", print_op(op))
            placed[op] = best
            movement.commit(op, best)
        for op in reversed(pending):
            user = next((u for r in op.results for u, _ in r.uses if u in placed), None)
            placed[op] = placed[user] if user is not None else self.default
        return placed

    @staticmethod
    def _cost(op: Operation, bindings: dict, memo: dict[int, Cost]) -> Cost:
        attr = op.attributes.get("cost")
        if attr is None:
            raise PimcError(f"op '{op.name}' has no cost: run analyze-intensity after the pass "
                            "that created it", print_op(op))
        if id(attr) not in memo:  # analyze-intensity shares one attribute among identical ops
            memo[id(attr)] = evaluate(op_cost(op), bindings)
        return memo[id(attr)]


# ---- the batch sweep -------------------------------------------------------------------------

@dataclass(frozen=True)
class Threshold:
    """Ops of one type (name, operand types and source location with layer numbers as `*`) in
    one function that share a device at every swept batch: `devices` is (batch, device) per
    batch, `flips` the batches where it changes."""

    func: str
    op: str
    operands: str
    loc: str
    count: int
    devices: tuple[tuple[int, str], ...]

    @property
    def flips(self) -> tuple[tuple[int, str, str], ...]:
        """(first batch on the new device, old device, new device) per change."""
        return tuple((b, d0, d1) for (_, d0), (b, d1) in zip(self.devices, self.devices[1:])
                     if d0 != d1)

    def describe(self) -> str:
        runs: list[list] = []
        for batch, device in self.devices:
            if runs and runs[-1][0] == device:
                runs[-1][2] = batch
            else:
                runs.append([device, batch, batch])
        spans = ", ".join(f"{d} for B in [{lo}, {hi}]" for d, lo, hi in runs)
        at = f" at {self.loc}" if self.loc else ""
        return f"@{self.func}: {self.count} x {self.op}({self.operands}){at}: {spans}"


def placement_thresholds(module: ModuleOp, target: str | Target, *, policy: str = "pick-min",
                         pin: str = "", context: int = 2048,
                         batches: Iterable[int] = SWEEP_BATCHES,
                         cost_model: str = "roofline") -> list[Threshold]:
    """The device of every op type at each batch of `batches` (S = `context`), grouped as
    `Threshold`s; ops that compute nothing are left out. Runs analyze-intensity if no op has
    a cost yet. The module's device attributes are not changed."""
    if policy not in POLICIES:
        raise OptionError(unknown_name_message("policy", policy, list(POLICIES)))
    resolved = get_target(target)
    label = target if isinstance(target, str) else resolved.name
    placer = Placer(resolved, label, get_cost_model(cost_model, resolved), policy, parse_pins(pin))
    ensure_costs(module)
    batches = tuple(batches)
    rows = []
    for func in module.funcs:
        per_batch = [placer.place(func, b, context) for b in batches]
        groups: dict[tuple, int] = {}
        for op in body_ops(func):
            cost = op_cost(op)
            if cost.flops == 0 and cost.bytes == 0:
                continue
            loc = re.sub(r"\.\d+(?=\.|$)", ".*", op.loc.name) if isinstance(op.loc, NameLoc) else ""
            key = (op.name, ", ".join(str(v.type) for v in op.operands), loc,
                   tuple(zip(batches, (p[op] for p in per_batch))))
            groups[key] = groups.get(key, 0) + 1
        rows += [Threshold(func.sym_name, name, operands, loc, n, devices)
                 for (name, operands, loc, devices), n in groups.items()]
    return rows


def ensure_costs(module: ModuleOp) -> None:
    ops = [op for func in module.funcs for op in body_ops(func)]
    missing = [op for op in ops if "cost" not in op.attributes]
    if len(missing) == len(ops):
        AnalyzeIntensity().apply(Context(), module)
    elif missing:
        raise PimcError(f"pass 'place-devices': {len(missing)} ops have no cost while others do "
                        f"(first: {missing[0].name}); run analyze-intensity again",
                        print_op(missing[0]))


# ---- the pass ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlaceDevices(Pass):
    """Set `device` on every op: pick-min over the devices that can run it (roofline time plus
    moving its inputs), or the rule of NeuPIMs, AttAcc or Duplex; pins override both.

    `sweep=true` also prints, per op type, the batches where the choice changes (B = 1..512)."""

    name = "place-devices"
    target: str = ""
    policy: Literal["pick-min", "neupims", "attacc", "duplex"] = "pick-min"
    pin: str = ""
    batch: int = 1
    context: int = 2048
    cost_model: str = "roofline"
    sweep: bool = False

    def __post_init__(self):
        parse_pins(self.pin)
        for option, value in (("batch", self.batch), ("context", self.context)):
            if value < 1:
                raise OptionError(f"option '{option}' of pass 'place-devices' must be >= 1, "
                                  f"got {value}")
        COST_MODELS.get(self.cost_model, "pass 'place-devices': ")

    def apply(self, ctx: Context, module: ModuleOp) -> None:
        if not self.target and ctx.target is None and "pimc.target" not in module.attributes:
            raise OptionError("pass 'place-devices' needs a target: give target=<preset or "
                              ".toml>, or run it with one (pimc compile -t, pimc opt -t) "
                              f"(presets: {', '.join(preset_names())})")
        target = ctx.target_for(module, "pass 'place-devices'", self.target)
        ctx.target = target  # the passes after this one work for the same target
        label = self.target or target.name
        pins = parse_pins(self.pin)
        placer = Placer(target, label, get_cost_model(self.cost_model, target), self.policy, pins)
        ensure_costs(module)
        placed = {op: device for func in module.funcs
                  for op, device in placer.place(func, self.batch, self.context).items()}
        for p in pins:
            if not any(p.matches(op) for op in placed):
                raise OptionError(f"pass 'place-devices': pin '{p}' matches no op (names are "
                                  "matched without the 'llm.' prefix)")
        for op, device in placed.items():
            op.attributes["device"] = DeviceAttr(device)
        module.attributes["pimc.target"] = StrAttr(label)
        if self.sweep:
            self.report(module, label, target)

    def report(self, module: ModuleOp, label: str, target: Target) -> None:
        rows = placement_thresholds(module, target, policy=self.policy, pin=self.pin,
                                    context=self.context, cost_model=self.cost_model)
        flipping = [r for r in rows if r.flips]
        out = sys.stderr
        out.write(f"remark: place-devices: sweep over B = {', '.join(map(str, SWEEP_BATCHES))} "
                  f"at S = {self.context} on '{label}' ({self.policy}): {len(flipping)} op "
                  f"type(s) change device\n")
        for row in flipping:
            out.write(f"remark: place-devices: {row.describe()}\n")
