"""`pimc simulate` / `prog.simulate()`: a serving workload on a target, from the model's IR.

The module is placed once (place-devices at the workload's batch and mean context, optionally
after `sub-batch-interleave`), then serving.py runs the requests with continuous batching over
the placed functions' step times. The KV budget is the target's memory minus the weights, in
stored tokens of the model's own cache (every @decode state argument, kv_layout.py).

A cache that kv-compress compressed (kv_layout.py reads what it did) changes three things:
a request reserves what its caches hold at its last token (an evicting cache its budget, KIVI's
codes and statistics, ThinK's pruned keys), in tokens of the stored bytes per token; a decode
step binds each cache's length symbol to its mean length over the running requests (S = the
budget under eviction, S_KV beside S under a per-layer or per-head pattern), so attention reads
what is kept; and @decode's attention over a ThinK-pruned key cache is charged the pruned
prompt tokens' keys at their kept channels.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy

from pimc.errors import PimcError
from pimc.ir.dialects.builtin import ModuleOp
from pimc.ir.symbolic import sym
from pimc.ir.types import TensorType
from pimc.ir.attrs import DeviceAttr, StrAttr
from pimc.passes import PassManager
from pimc.progress import watched
from pimc.passes.cost_model import get_cost_model
from pimc.passes.place_devices import Placer
from pimc.passes.pipeline_parser import parse_pipeline
from pimc.runtime.system.chrome_trace import trace_events, write_trace
from pimc.runtime.system.kv_layout import KvLayout, kv_layout, mean_request
from pimc.runtime.system.parallel import check_parallelism
from pimc.runtime.system.serving import (Request, StepModel, fixed_requests, poisson_requests,
                                         serve, summary)
from pimc.runtime.system.step_cost import NPU_TIMINGS, PIM_TIMINGS, uses_npusim
from pimc.targets import Target


@dataclass(frozen=True)
class SimOptions:
    sub_batches: int = 1  # NeuPIMs' sub-batch interleaving (sub-batch-interleave{n=...})
    cost_model: str = "roofline"
    policy: str = "pick-min"
    max_batch: int | None = None  # default: as many as the KV cache holds
    # default: memory left after the weights; a budget in tokens of the uncompressed cache (the
    # memory they take), which a kv-compress'ed cache fills with more of its stored tokens
    kv_capacity_tokens: int | None = None
    context_bucket: int = 64
    # analyze-intensity's dtype: "target" counts every float at the xPU's (else the PIM's)
    # arithmetic type, as the papers do (NeuPIMs, AttAcc and Duplex all run fp16); "ir" keeps
    # the captured model's types
    dtype: str = "target"
    tp: int = 1  # tensor-parallel degree: heads and weight columns per device (parallel.py)
    pp: int = 1  # pipeline-parallel degree: layers per device
    # NPU op times: "auto" (npusim where the xPU is an NPU), "npusim" or "roofline"
    npu_timing: str = "auto"
    # PIM attention times: "cost-model" (the cost model's) or "neupims-mha" (NeuPIMs' estimate)
    pim_timing: str = "cost-model"

    def __post_init__(self):
        check_parallelism(self.tp, self.pp)
        if self.sub_batches < 1:
            raise PimcError(f"--sub-batches: must be >= 1, got {self.sub_batches}")
        if self.npu_timing not in NPU_TIMINGS:
            raise PimcError(f"--npu-timing: unknown '{self.npu_timing}'; valid: "
                            f"{', '.join(NPU_TIMINGS)}")
        if self.pim_timing not in PIM_TIMINGS:
            raise PimcError(f"--pim-timing: unknown '{self.pim_timing}'; valid: "
                            f"{', '.join(PIM_TIMINGS)}")


_DTYPES = {"fp16": "f16", "bf16": "bf16", "fp32": "f32"}  # targets/spec.py DType -> IR names
_BITS = {"f16": 16, "bf16": 16, "f32": 32}


def counted_dtype(target: Target, option: str) -> str:
    if option != "target":
        return option
    unit = target.xpu or target.pim
    return _DTYPES.get(unit.dtype, "ir") if unit is not None else "ir"


def counted_bits(target: Target, opts: SimOptions) -> int | None:
    """The width every float is counted at (analyze-intensity's dtype), or None: the IR's own."""
    return _BITS.get(counted_dtype(target, opts.dtype))


def _bytes(t: TensorType, dims: dict, bits: int | None = None) -> float:
    n = sympy.sympify(t.numel).xreplace({sym(k): v for k, v in dims.items()})
    width = bits if bits is not None and t.element.is_float else t.element.bits
    return float(n) * width / 8


def kv_bytes_per_token(module: ModuleOp, bits: int | None = None) -> float:
    """Bytes one token of one sequence takes in the KV cache as stored: the @decode state
    arguments (kv_layout.py; KIVI's codes and statistics, ThinK's kept key channels)."""
    return float(kv_layout(module, bits).bytes_per_token)


class KvStepModel(StepModel):
    """Step times and KV reservations of a module whose caches kv-compress compressed."""

    def __init__(self, layout: KvLayout, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.layout = layout

    def reserved_tokens(self, r: Request) -> int:
        return self.layout.reserved_tokens(r.prompt_len, r.output_len)

    def decode_context(self, requests: list[Request], tokens: dict[int, int]):
        return self.layout.lengths([(r.prompt_len, tokens[r.id]) for r in requests])


def weight_bytes(module: ModuleOp, bits: int | None = None) -> float:
    seen = {}
    for func in module.funcs:
        for op in func.walk():
            if op.name == "llm.weight":
                seen[str(op.attributes["handle"])] = _bytes(op.results[0].type, {}, bits)
    return sum(seen.values())


def prepare(module: ModuleOp, target: Target, batch: int, context: int,
            opts: SimOptions) -> ModuleOp:
    """Cost and place `module` (already through the default pipeline) in place. The placer
    gets the Target object itself, so `--set` overrides reach it (the place-devices pass takes
    a preset name)."""
    steps = [f"sub-batch-interleave{{n={opts.sub_batches}}}"] if opts.sub_batches > 1 else []
    steps.append(f"analyze-intensity{{dtype={counted_dtype(target, opts.dtype)}}}")
    PassManager(parse_pipeline(",".join(steps))).run(module)
    layout = _layout(module, target, opts)
    if layout is not None:
        layout.charge_pruned_keys()
    placer = Placer(target, target.name, get_cost_model(opts.cost_model, target), opts.policy,
                    [])
    for func in module.funcs:
        at = layout.lengths([(context, 0)]) if layout is not None and \
            func.sym_name == "decode" else context
        for op, device in placer.place(func, batch, at).items():
            op.attributes["device"] = DeviceAttr(device)
    module.attributes["pimc.target"] = StrAttr(target.name)
    return module


def _layout(module: ModuleOp, target: Target, opts: SimOptions) -> KvLayout | None:
    """The compressed KV cache's layout, or None (uncompressed, or no @decode)."""
    if not any(f.sym_name == "decode" for f in module.funcs):
        return None
    layout = kv_layout(module, counted_bits(target, opts))
    return layout if layout.compressed else None


def simulate_requests(module: ModuleOp, target: Target, requests: list[Request],
                      opts: SimOptions = SimOptions(), trace_path: str | None = None,
                      trace_steps: int = 4) -> dict:
    """Place `module` for the workload, serve `requests`, and report (serving.summary)."""
    if not requests:
        raise PimcError("simulate: no requests")
    batch = opts.max_batch or len(requests)
    mean_ctx = round(sum(r.prompt_len + r.output_len / 2 for r in requests) / len(requests))
    prepare(module, target, min(batch, len(requests)), mean_ctx, opts)
    bits = counted_bits(target, opts)
    layout = kv_layout(module, bits)
    per_token = float(layout.bytes_per_token)
    capacity = opts.kv_capacity_tokens
    if capacity is not None and layout.compressed:
        capacity = int(capacity * layout.full_bytes_per_token // layout.bytes_per_token)
    devices = opts.tp * opts.pp  # each holds 1/devices of the weights and of every token's KV
    if capacity is None:
        weights = weight_bytes(module, bits)
        free = (target.memory.capacity_bytes or 0) * devices - weights
        if free <= 0:
            raise PimcError(f"simulate: the weights ({weights / 2**30:.1f} GiB) do not fit "
                            f"{devices} x {target.name}'s memory; give --kv-capacity TOKENS "
                            "or more --tp/--pp")
        capacity = int(free // per_token)
    npusim = uses_npusim(opts.npu_timing, target)
    args = (module, target, opts.cost_model, opts.context_bucket, bits, opts.tp, opts.pp,
            npusim, opts.pim_timing)
    model = KvStepModel(layout, *args) if layout.compressed else StepModel(*args)
    done = [0]
    result = watched(lambda: serve(requests, model, capacity, opts.max_batch or len(requests),
                                   done=done),
                     lambda: done[0], len(requests), f"simulate {target.name}")
    report = dict(model_target=target.name, dual_row_buffers=model.dual,
                  sub_batches=opts.sub_batches, tp=opts.tp, pp=opts.pp,
                  npu_timing="npusim" if npusim else "roofline", pim_timing=opts.pim_timing,
                  kv_bytes_per_token=per_token, kv_compressed=layout.compressed,
                  kv_bytes_per_context_token=sum(
                      float(layout.request_bytes(r.prompt_len, r.output_len)) /
                      (r.prompt_len + r.output_len) for r in requests) / len(requests),
                  kv_batch_fits=capacity // layout.reserved_tokens(*mean_request(requests)),
                  distinct_steps=len(model.memo), **summary(result, target))
    if trace_path:
        steps = [(f"{s.phase}{i}", s.tasks, s.schedule, s.start_s)
                 for i, s in enumerate(result.steps[:trace_steps])]
        pim = {"pim": target.memory.total_channels} if target.pim is not None else {}
        write_trace(trace_path, trace_events(steps, pim))
    return report


def make_requests(batch: int | None = None, prompt_len: int = 128, gen_len: int = 32,
                  requests: int | None = None, rate: float = 10.0, workload: str = "sharegpt",
                  seed: int = 0) -> list[Request]:
    """A static batch (`batch` x `prompt_len` + `gen_len`, all at time 0) or a Poisson stream
    of `requests` at `rate` per second with `workload`'s lengths; not both."""
    if batch is not None and requests is not None:
        raise PimcError("--batch/--requests: give a static batch or a request stream, not both")
    if requests is not None:
        return poisson_requests(requests, rate, workload, seed)
    return fixed_requests(batch or 1, prompt_len, gen_len)
