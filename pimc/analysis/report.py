"""`analyze()`: capture a model, measure every op's arithmetic intensity, place it on a target's
devices and estimate its time; the `Report` behind `pimc analyze` and `Program.report()`.

The pipeline is the default one (canonicalize, raise-llm-ops, cleanup), then
`analyze-intensity{dtype=f16}` and place-devices' placer, called with the Target object so that
TOML files and `--set` overrides place exactly as presets do (pimc.analysis.timing). Counting
bytes at f16 by default,
whatever dtype the model was captured in, is deliberate: every preset quotes its peak FLOP/s at
fp16 and Duplex's Op/B characterisation is of fp16 models, so an f32 capture analysed as f32
would halve every Op/B and misplace ops. `dtype="ir"` keeps the captured types.

Estimated times are the cost model's per op (by default the roofline, max(flops/peak,
bytes/bandwidth) plus the device's fixed overhead; `cost_model="sim"` takes PIM decode attention
and GEMV from the cycle-level simulator, each row's `time_source` saying which) plus moving its
inputs from other devices, summed serially: one decode step (one token for each of `batch`
sequences, so the per-token latency) or one prefill of `batch` prompts of `context` tokens. Ops
on different devices do not overlap in this estimate; the system simulator models overlap.
"""
from __future__ import annotations

import json
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pimc.analysis.timing import time_function
from pimc.errors import PimcError, unknown_name_message
from pimc.ir.attrs import StrAttr
from pimc.ir.dialects.builtin import FuncOp, ModuleOp
from pimc.ir.types import ELEMENT_TYPES
from pimc.passes import PassManager
from pimc.passes.analyze_intensity import AnalyzeIntensity, intensity_rows, parse_skew
from pimc.passes.cost_model import COST_MODELS, get_cost_model
from pimc.passes.pipelines import build
from pimc.passes.place_devices import POLICIES, bindings_for, body_ops, parse_pins
from pimc.targets import Target, get_target, preset_names

PHASES = ("decode", "prefill")  # the function reported: @decode (past length S) or @prefill (T)
DEFAULT_DTYPE = "f16"
ROW_KEYS = ("op", "loc", "shape", "dtype", "flops", "bytes", "op_b", "device", "est_time_s",
            "transfer_s", "bound", "time_source")


@dataclass
class Report:
    """Per-op rows of one function (`phase`) at fixed batch and context, on `target`.

    Each row (ROW_KEYS): op, loc (the source module, e.g. the layer), shape (the result's,
    dims bound), dtype (that bytes were counted at), flops, bytes, op_b, device, est_time_s
    (transfer_s included), transfer_s (moving its inputs from other devices) and bound
    ("compute" or "memory": the larger roofline term on its device) and time_source (where the
    op's time came from: "roofline" or "sim"). Ops that compute and move nothing (views, weight
    handles) have no row."""

    model: str
    target: Target
    options: Options
    rows: list[dict] = field(default_factory=list)

    @property
    def phase(self) -> str:
        return self.options.phase

    @property
    def batch(self) -> int:
        return self.options.batch

    @property
    def context(self) -> int:
        return self.options.context

    @property
    def dtype(self) -> str:
        return self.options.dtype

    @property
    def tokens(self) -> int:
        """Tokens the function produces or consumes: one per sequence in decode, all in prefill."""
        return self.batch if self.phase == "decode" else self.batch * self.context

    def by_type(self) -> list[dict]:
        """Rows aggregated per (op, shape, device), the slowest first: count, summed flops,
        bytes and est_time_s, op_b of the sums, and each group's share of the total time."""
        groups: dict[tuple, dict] = {}
        for r in self.rows:
            g = groups.setdefault((r["op"], r["shape"], r["device"]), {
                "op": r["op"], "shape": r["shape"], "dtype": r["dtype"], "device": r["device"],
                "count": 0, "flops": 0.0, "bytes": 0.0, "est_time_s": 0.0, "transfer_s": 0.0,
                "bound": set(), "time_source": set()})
            g["count"] += 1
            for key in ("flops", "bytes", "est_time_s", "transfer_s"):
                g[key] += r[key]
            g["bound"].add(r["bound"])
            g["time_source"].add(r["time_source"])
        total = self.est_time_s
        out = []
        for g in groups.values():
            g["op_b"] = g["flops"] / g["bytes"] if g["bytes"] else 0.0
            g["bound"] = "/".join(sorted(g["bound"]))
            g["time_source"] = "/".join(sorted(g["time_source"]))
            g["share"] = g["est_time_s"] / total if total else 0.0
            out.append(g)
        return sorted(out, key=lambda g: (-g["est_time_s"], g["op"], g["shape"]))

    @property
    def est_time_s(self) -> float:
        return sum(r["est_time_s"] for r in self.rows)

    def totals(self) -> dict:
        """Per device (ops, flops, bytes, est_time_s, share) and overall: the time of one decode
        step or prefill, the tokens it yields and tokens/s."""
        total, devices = self.est_time_s, {}
        for r in self.rows:
            d = devices.setdefault(r["device"], {"ops": 0, "flops": 0.0, "bytes": 0.0,
                                                 "est_time_s": 0.0, "transfer_s": 0.0})
            d["ops"] += 1
            for key in ("flops", "bytes", "est_time_s", "transfer_s"):
                d[key] += r[key]
        for d in devices.values():
            d["share"] = d["est_time_s"] / total if total else 0.0
        return {"model": self.model, "target": self.target.name, "phase": self.phase,
                "batch": self.batch, "context": self.context, "dtype": self.dtype,
                "flops": sum(r["flops"] for r in self.rows),
                "bytes": sum(r["bytes"] for r in self.rows),
                "est_time_s": total, "tokens": self.tokens,
                "tokens_per_s": self.tokens / total if total else 0.0, "devices": devices}

    def title(self) -> str:
        ctx = "context" if self.phase == "decode" else "prompt"
        costs = "" if self.options.cost_model == "roofline" else f", {self.options.cost_model} costs"
        return (f"{self.model} on {self.target.name} ({self.options.policy}{costs}): {self.phase}, "
                f"batch {self.batch}, {ctx} {self.context}, {self.dtype}")

    def summary(self) -> str:
        """One line: the estimated time and what it buys."""
        t = self.totals()
        what = (f"decode step ({self.batch} token{'s' if self.batch > 1 else ''}, one per "
                f"sequence; the per-token latency)" if self.phase == "decode"
                else f"prefill of {self.batch}x{self.context} tokens (time to first token)")
        return f"{what}: {format_time(t['est_time_s'])}, {t['tokens_per_s']:,.0f} tokens/s"

    def to_json(self, per_op: bool = True) -> str:
        """The per-op rows (or, with per_op=False, the by_type() rows) as a JSON list."""
        return json.dumps(self.rows if per_op else self.by_type(), indent=2)

    def to_markdown(self, per_op: bool = False) -> str:
        """The table (per op type, or per op), the per-device totals and the summary line."""
        if per_op:
            head = ["op", "loc", "shape", "flops", "bytes", "Op/B", "device", "est. time"]
            body = [[r["op"], r["loc"], r["shape"], si(r["flops"]), si(r["bytes"], "B"),
                     f"{r['op_b']:.2f}", r["device"], format_time(r["est_time_s"])]
                    for r in self.rows]
        else:
            head = ["op", "shape", "count", "flops", "bytes", "Op/B", "device", "est. time",
                    "share"]
            body = [[g["op"], g["shape"], str(g["count"]), si(g["flops"]), si(g["bytes"], "B"),
                     f"{g['op_b']:.2f}", g["device"], format_time(g["est_time_s"]),
                     f"{100 * g['share']:.1f}%"] for g in self.by_type()]
        totals = self.totals()
        dev_head = ["device", "ops", "flops", "bytes", "est. time", "share"]
        dev_body = [[name, str(d["ops"]), si(d["flops"]), si(d["bytes"], "B"),
                     format_time(d["est_time_s"]), f"{100 * d['share']:.1f}%"]
                    for name, d in totals["devices"].items()]
        return (f"**{self.title()}**\n\n{markdown_table(head, body)}\n\n"
                f"{markdown_table(dev_head, dev_body)}\n\n{self.summary()}\n")


def markdown_table(head: list[str], body: Iterable[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def si(value: float, unit: str = "") -> str:
    """1.2 G, 340 MB: three significant digits and an SI prefix."""
    for prefix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def format_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


@dataclass(frozen=True)
class Options:
    """What to analyse: the phase at `batch` sequences and `context` tokens, the dtypes bytes are
    counted at, the MoE routing skew, and the placement policy and pins (see place-devices)."""

    phase: str = "decode"
    batch: int = 1
    context: int = 2048
    dtype: str = DEFAULT_DTYPE
    kv_dtype: str = "ir"
    moe_skew: str = "uniform"
    policy: str = "pick-min"
    pin: str = ""
    cost_model: str = "roofline"

    def __post_init__(self):
        hints = typing.get_type_hints(AnalyzeIntensity)
        for what, value, valid in (
                ("phase", self.phase, tuple(PHASES)),
                ("dtype", self.dtype, typing.get_args(hints["dtype"])),
                ("kv-dtype", self.kv_dtype, typing.get_args(hints["kv_dtype"])),
                ("policy", self.policy, POLICIES),
                ("cost model", self.cost_model, list(COST_MODELS))):
            if value not in valid:
                raise PimcError(unknown_name_message(what, value, list(valid)))
        for what, value in (("batch", self.batch), ("context", self.context)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PimcError(f"{what} must be an integer >= 1, got {value!r}")
        try:
            parse_skew(self.moe_skew)
        except ValueError:
            raise PimcError("moe-skew must be uniform, a Zipf exponent >= 0 or positive expert "
                            f"weights (\"4,2,1,1\"), got '{self.moe_skew}'") from None
        parse_pins(self.pin)

    def check_target(self, target: Target) -> None:
        """A pin to a device the target lacks, before any slow work (the placer says so too)."""
        devices = target.devices()
        for pin in parse_pins(self.pin):
            if pin.device not in devices:
                raise PimcError(f"pin '{pin}': target '{target.name}' has no {pin.device} device; "
                                f"its devices: {', '.join(devices)}")


def resolve_target(target: str | Path | Target, overrides: Iterable[str] = ()) -> Target:
    """A Target from a preset name, a .toml path or a Target, with `key.path=value` edits."""
    return get_target(target, overrides)


def analyze(model: Any, target: str | Path | Target, batch: int = 1, context: int = 2048,
            phase: str = "decode", *, overrides: Iterable[str] = (),
            progress: Callable[[str], None] | None = None, **options) -> Report:
    """Capture `model` (a zoo name, a .mlir or .onnx path, or a ModuleOp, which is changed in
    place), run the default pipeline, analyze-intensity and the placement, and report `phase`
    at `batch` sequences and `context` tokens (the past length in decode, the prompt in
    prefill). `options`: dtype, kv_dtype, moe_skew, policy, pin, cost_model (see `Options`);
    `overrides`: `key.path=value` target edits, as the CLI's --set."""
    opts = Options(phase, batch, context, **options)
    spec = resolve_target(target, overrides)
    opts.check_target(spec)
    step = progress or (lambda _: None)
    if isinstance(model, ModuleOp):
        module, name = model, "module"
    else:
        from pimc.api import capture
        step(f"capturing {model}")
        module, _ = capture(model)
        name = Path(str(model)).name
    step("raising llm ops")
    PassManager(build("default")).run(module)
    return report_of_module(module, spec, opts, name, step=step)


def report_for_program(prog, target: str | Path | Target | None = None, batch: int = 1,
                       context: int = 2048, phase: str = "decode", *,
                       overrides: Iterable[str] = (), **options) -> Report:
    """`Program.report()`: the program's ops with their cost, device and estimated time.

    Costs are (re)computed by analyze-intensity on `prog.ir`, in place. `target` defaults to
    the one the program was placed for (`prog.target`, or for a program read from text the
    printed `pimc.target`). If the program was placed
    for that target (every op of the phase's function has a device), the report keeps its
    placement, made at the batch and context it was compiled for; otherwise the ops are placed
    for the report under `policy`, and the IR's devices are not changed."""
    opts, overrides = Options(phase, batch, context, **options), tuple(overrides)
    attr = prog.ir.attributes.get("pimc.target")
    placed_for = prog.target or (attr.value if isinstance(attr, StrAttr) else None)
    if target is None and placed_for is None:
        raise PimcError("a report needs a hardware target: compile with target=... or call "
                        f"report(target=...) (presets: {', '.join(preset_names())})")
    chosen = placed_for if target is None else target
    spec = resolve_target(chosen, overrides)
    opts.check_target(spec)
    func = phase_function(prog.ir, phase)
    keep = spec == resolve_target(placed_for) if placed_for is not None else False
    keep = keep and all("device" in op.attributes for op in body_ops(func))
    return report_of_module(prog.ir, spec, opts, "program", keep_devices=keep)


def report_of_module(module: ModuleOp, target: Target, opts: Options, name: str,
                     keep_devices: bool = False,
                     step: Callable[[str], None] = lambda _: None) -> Report:
    """Analyse an already raised `module`, place (or keep) and time its phase function."""
    func = phase_function(module, opts.phase)
    step("measuring arithmetic intensity")
    PassManager([AnalyzeIntensity(dtype=opts.dtype, kv_dtype=opts.kv_dtype,
                                  moe_skew=opts.moe_skew)]).run(module)
    step(f"placing on {target.name}")
    counted = None if opts.dtype == "ir" else ELEMENT_TYPES[opts.dtype]
    model = get_cost_model(opts.cost_model, target)
    model.progress = step  # a simulating model says which kernel it is running
    timed = time_function(func, target, opts.batch, opts.context, opts.policy, opts.pin,
                          keep_devices, model, element_bits=counted.bits if counted else None)
    rows = []
    # include_free keeps intensity_rows in step with the timed ops, one row per op
    for row, t in zip(intensity_rows(module, func, bindings_for(func, opts.batch, opts.context),
                                     include_free=True), timed, strict=True):
        if row["flops"] == 0 and row["bytes"] == 0:
            continue  # views and weight handles: nothing runs
        if counted is not None and row["dtype"] in ELEMENT_TYPES and \
                ELEMENT_TYPES[row["dtype"]].is_float:
            row["dtype"] = opts.dtype
        row.update(device=t.device, est_time_s=t.est_time_s, transfer_s=t.transfer_s,
                   bound=t.bound, time_source=t.source)
        rows.append(row)
    return Report(name, target, opts, rows)


def phase_function(module: ModuleOp, phase: str) -> FuncOp:
    """@decode or @prefill, or the module's only function whatever its name."""
    funcs = list(module.funcs)
    for f in funcs:
        if f.sym_name == phase:
            return f
    if len(funcs) == 1:
        return funcs[0]
    raise PimcError(f"the module has no @{phase} function; it has "
                    f"{', '.join('@' + f.sym_name for f in funcs) or 'none'}")
