"""Iteration-level continuous batching (Orca, Yu et al., OSDI'22; vLLM, Kwon et al., SOSP'23)
over the simulated step times of a placed model.

Each iteration first admits waiting requests that have arrived, in arrival order, while the
running batch is below `max_batch` and the KV cache can hold every admitted request's whole
sequence (prompt + output, reserved at admission, so no request is ever preempted); the admitted
requests run one prefill step together, which gives each its first token. Then every running
request that still has tokens to generate takes one decode step together. A request leaves when
it has generated its output, and frees its KV reservation.

A step's time is the makespan of its function's tasks on the devices (schedule.py), memoised by
(phase, batch, context rounded up to `context_bucket`), so a long run costs a few distinct steps.
With tensor/pipeline parallelism (parallel.py) the tasks are one device's shard of one stage;
a step passes all `pp` stages in turn, so it lasts `pp` stage makespans, and its energy is the
shard's times the tp x pp devices.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from pimc.errors import PimcError
from pimc.ir.dialects.builtin import ModuleOp
from pimc.passes.cost_model import get_cost_model
from pimc.runtime.system.schedule import Schedule, Task, schedule
from pimc.runtime.system.tasks import energy_j, function_tasks
from pimc.targets import Target


@dataclass(frozen=True)
class Request:
    id: int
    arrival_s: float
    prompt_len: int
    output_len: int


@dataclass(frozen=True)
class LengthStats:
    """Mean prompt and output lengths of a public chat/instruction dataset."""
    prompt_mean: float
    output_mean: float
    source: str


WORKLOADS = {
    # vLLM (Kwon et al., SOSP'23) §6.1, Fig. 11: ShareGPT averages 161 input and 338 output
    # tokens, Alpaca 19 and 58 (8.4x and 5.8x shorter).
    "sharegpt": LengthStats(161.31, 337.99, "vLLM SOSP'23 Fig. 11 (ShareGPT)"),
    "alpaca": LengthStats(19.31, 58.45, "vLLM SOSP'23 Fig. 11 (Alpaca)"),
}
LENGTH_SIGMA = 0.8  # lognormal spread: an assumption (the paper gives histograms, not a fit)


def poisson_requests(n: int, rate: float, workload: str = "sharegpt", seed: int = 0,
                     max_len: int | None = None) -> list[Request]:
    """`n` requests with Poisson arrivals at `rate` per second and lognormal lengths whose means
    are the workload's (`WORKLOADS`), each at least 1 and at most `max_len` tokens."""
    if workload not in WORKLOADS:
        raise PimcError(f"--workload: unknown '{workload}'; valid: {', '.join(WORKLOADS)}")
    if n <= 0 or rate <= 0:
        raise PimcError(f"--requests/--rate: need positive values, got {n} and {rate}")
    stats, rng = WORKLOADS[workload], np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / rate, n))

    def lengths(mean):
        mu = np.log(mean) - LENGTH_SIGMA ** 2 / 2  # so that E[lognormal] = mean
        x = np.maximum(1, np.rint(rng.lognormal(mu, LENGTH_SIGMA, n))).astype(int)
        return np.minimum(x, max_len) if max_len else x
    prompts, outputs = lengths(stats.prompt_mean), lengths(stats.output_mean)
    return [Request(i, float(arrivals[i]), int(prompts[i]), int(outputs[i])) for i in range(n)]


def fixed_requests(batch: int, prompt_len: int, gen_len: int) -> list[Request]:
    """`batch` identical requests that all arrive at time 0 (the papers' static-batch runs)."""
    if min(batch, prompt_len, gen_len) <= 0:
        raise PimcError(f"--batch/--prompt-len/--gen-len: need positive values, got {batch}, "
                        f"{prompt_len}, {gen_len}")
    return [Request(i, 0.0, prompt_len, gen_len) for i in range(batch)]


class StepModel:
    """Step times of a placed module on a target, memoised (see the module docstring)."""

    tp = pp = 1  # class defaults: a subclass with its own step() need not set them

    def __init__(self, module: ModuleOp, target: Target, cost_model: str = "roofline",
                 context_bucket: int = 64, element_bits: int | None = None, tp: int = 1,
                 pp: int = 1, npusim: bool = False, pim_timing: str = "cost-model"):
        self.funcs = {f.sym_name: f for f in module.funcs}
        self.target, self.bucket = target, context_bucket
        self.cost_model = get_cost_model(cost_model, target)  # one instance: its memo is shared
        self.element_bits, self.tp, self.pp, self.npusim = element_bits, tp, pp, npusim
        self.pim_timing = pim_timing
        self.dual = target.pim is None or target.pim.row_buffers == 2
        self.memo: dict[tuple, tuple[list[Task], Schedule]] = {}

    @property
    def devices(self) -> int:
        """Devices the whole system has: every shard of every stage."""
        return self.tp * self.pp

    def reserved_tokens(self, r: Request) -> int:
        """KV-cache tokens a request reserves at admission: its whole sequence."""
        return r.prompt_len + r.output_len

    def decode_context(self, requests: list[Request], tokens: dict[int, int]) -> int | Mapping:
        """What a decode step of `requests` (`tokens` generated so far) binds: the mean
        context S, or (simulate.KvStepModel, compressed caches) each cache symbol's length."""
        return round(sum(r.prompt_len + tokens[r.id] for r in requests) / len(requests))

    def step(self, phase: str, batch: int, context: int | Mapping) -> tuple[list[Task], Schedule]:
        if phase not in self.funcs:
            raise PimcError(f"the model has no @{phase} function; it has "
                            f"{', '.join('@' + n for n in self.funcs)}")
        if isinstance(context, Mapping):  # lengths per symbol (place_devices.bindings_for)
            context = {k: -(-max(v, 1) // self.bucket) * self.bucket for k, v in context.items()}
            key = (phase, batch, tuple(sorted(context.items())))
        else:
            context = -(-max(context, 1) // self.bucket) * self.bucket
            key = (phase, batch, context)
        if key not in self.memo:
            tasks = function_tasks(self.funcs[phase], self.target, batch, context,
                                   self.cost_model, self.element_bits, self.tp, self.pp,
                                   self.npusim, self.pim_timing)
            stage = schedule(tasks, self.dual)
            if self.pp > 1:  # every stage in turn; utilisation stays the stage's
                stage = Schedule(stage.slices, stage.makespan_s * self.pp,
                                 {d: b * self.pp for d, b in stage.busy_s.items()})
            self.memo[key] = tasks, stage
        return self.memo[key]


@dataclass
class Step:
    phase: str
    start_s: float
    batch: int
    context: int
    tasks: list[Task]
    schedule: Schedule


@dataclass
class ServingResult:
    requests: list[Request]
    first_token_s: dict[int, float]
    finish_s: dict[int, float]
    token_gaps_s: list[float]  # time between consecutive tokens of one request
    tokens: dict[int, int]
    steps: list[Step] = field(default_factory=list)
    max_kv_tokens: int = 0
    kv_capacity_tokens: int = 0
    devices: int = 1  # tp x pp: the steps' tasks are one device's shard of one stage


def serve(requests: list[Request], model: StepModel, kv_capacity_tokens: int,
          max_batch: int, keep_steps: bool = True, done: list[int] | None = None) -> ServingResult:
    """Run `requests` to completion; `done[0]`, if given, counts finished requests as it goes
    (for a progress bar)."""
    too_long = [r for r in requests if model.reserved_tokens(r) > kv_capacity_tokens]
    if too_long:
        r = too_long[0]
        raise PimcError(f"request {r.id}: {model.reserved_tokens(r)} tokens exceed the KV "
                        f"cache's {kv_capacity_tokens} tokens")
    waiting = deque(sorted(requests, key=lambda r: (r.arrival_s, r.id)))
    running: list[Request] = []
    tokens = {r.id: 0 for r in requests}
    last = {}
    out = ServingResult(requests, {}, {}, [], tokens, kv_capacity_tokens=kv_capacity_tokens,
                        devices=model.devices)
    t, reserved = 0.0, 0
    while waiting or running:
        if not running and waiting[0].arrival_s > t:
            t = waiting[0].arrival_s  # idle until the next arrival
        admitted = []
        while waiting and waiting[0].arrival_s <= t and len(running) + len(admitted) < max_batch \
                and reserved + model.reserved_tokens(waiting[0]) <= kv_capacity_tokens:
            r = waiting.popleft()
            admitted.append(r)
            reserved += model.reserved_tokens(r)
        out.max_kv_tokens = max(out.max_kv_tokens, reserved)
        if admitted:
            context = max(r.prompt_len for r in admitted)
            t = _run(out, model, "prefill", t, len(admitted), context, keep_steps)
            for r in admitted:
                tokens[r.id] = 1
                out.first_token_s[r.id] = t
                last[r.id] = t
            running += admitted
        decoding = [r for r in running if tokens[r.id] < r.output_len]
        if decoding:
            context = model.decode_context(decoding, tokens)
            t = _run(out, model, "decode", t, len(decoding), context, keep_steps)
            for r in decoding:
                tokens[r.id] += 1
                out.token_gaps_s.append(t - last[r.id])
                last[r.id] = t
        for r in [r for r in running if tokens[r.id] >= r.output_len]:
            running.remove(r)
            out.finish_s[r.id] = t
            reserved -= model.reserved_tokens(r)
            if done is not None:
                done[0] += 1
    return out


def _run(out: ServingResult, model: StepModel, phase: str, t: float, batch: int,
         context: int, keep: bool) -> float:
    tasks, sched = model.step(phase, batch, context)
    if keep:
        out.steps.append(Step(phase, t, batch, context, tasks, sched))
    return t + sched.makespan_s


def time_sources(spent: dict[tuple[str, str], float]) -> dict[str, float]:
    """{"device.model": the fraction of that device's task time the model gave}: which times
    were simulated, which came from a roofline or NeuPIMs' estimate (a fallback shows here)."""
    total: dict[str, float] = {}
    for (device, _), seconds in spent.items():
        total[device] = total.get(device, 0.0) + seconds
    return {f"{device}.{source}": seconds / total[device]
            for (device, source), seconds in sorted(spent.items())}


def summary(result: ServingResult, target: Target) -> dict:
    """Tokens/s, TTFT and TBT percentiles, per-device utilisation and energy of a run."""
    reqs = result.requests
    end = max(result.finish_s.values(), default=0.0)
    start = min((r.arrival_s for r in reqs), default=0.0)
    ttft = [result.first_token_s[r.id] - r.arrival_s for r in reqs]
    busy: dict[str, float] = {}
    spent: dict[tuple[str, str], float] = {}  # (device, cost model) -> task seconds
    energy = 0.0
    for s in result.steps:
        for d, b in s.schedule.busy_s.items():
            busy[d] = busy.get(d, 0.0) + b
        for t in s.tasks:
            if t.duration_s > 0:
                spent[t.device, t.source] = spent.get((t.device, t.source), 0.0) + t.duration_s
        energy += energy_j(s.tasks, target) * result.devices
    span = end - start or 1.0
    generated = sum(result.tokens.values())

    def pct(x, q):
        return float(np.percentile(x, q)) if len(x) else 0.0
    return dict(requests=len(reqs), tokens=generated, time_s=end - start,
                tokens_per_s=generated / span, iterations=sum(s.phase == "decode"
                                                              for s in result.steps),
                ttft_p50_s=pct(ttft, 50), ttft_p99_s=pct(ttft, 99),
                tbt_p50_s=pct(result.token_gaps_s, 50), tbt_p99_s=pct(result.token_gaps_s, 99),
                utilisation={d: b / span for d, b in sorted(busy.items())},
                time_sources=time_sources(spent),
                energy_j=energy, energy_per_token_j=energy / max(generated, 1),
                max_kv_tokens=result.max_kv_tokens, kv_capacity_tokens=result.kv_capacity_tokens)
