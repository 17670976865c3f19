"""`pimc simulate MODEL -t TARGET`: a serving workload on a heterogeneous system, from the IR.

A static batch (`--batch B --prompt-len P --gen-len G`, all arriving at once, as the
papers measure decode throughput) or a request stream (`--requests N --rate R --workload
sharegpt|alpaca`, Poisson arrivals), or a trace (`--requests-file trace.csv`,
runtime/system/request_trace.py). Prints tokens/s, TTFT/TBT percentiles, per-device
utilisation and energy; `--trace out.json` writes a Perfetto/Chrome trace of the first steps.
`-p` runs a pipeline before the simulation (named pipelines expand in place): `-p
'default,kv-compress{method=l2norm,ratio=0.5}'` simulates the compressed KV cache.
"""
from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from pimc.errors import PimcError

FORMATS = ("text", "json")


def simulate(model: Annotated[str, typer.Argument(help="A zoo model (pimc models), .mlir or .onnx.")],
             target: Annotated[str, typer.Option("--target", "-t", help="A target preset or .toml (pimc targets).")] = "neupims",
             pipeline: Annotated[str, typer.Option("-p", "--pipeline", help="A named pipeline or a pipeline string; names expand in place, e.g. 'default,kv-compress{method=quant,bits=4}'.")] = "default",
             set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override one target field: key.path=value.")] = None,
             batch: Annotated[Optional[int], typer.Option("--batch", help="Static batch: sequences.")] = None,
             prompt_len: Annotated[int, typer.Option("--prompt-len", help="Static batch: prompt tokens.")] = 128,
             gen_len: Annotated[int, typer.Option("--gen-len", help="Static batch: generated tokens.")] = 32,
             requests: Annotated[Optional[int], typer.Option("--requests", help="Request stream: number of requests.")] = None,
             rate: Annotated[float, typer.Option("--rate", help="Request stream: arrivals per second (Poisson).")] = 10.0,
             workload: Annotated[str, typer.Option("--workload", help="Request stream lengths: sharegpt or alpaca.")] = "sharegpt",
             seed: Annotated[int, typer.Option("--seed", help="Request stream: random seed.")] = 0,
             requests_file: Annotated[Optional[str], typer.Option("--requests-file", help="Requests from a CSV trace: prompt_len (or NeuPIMs' seq_len), output_len (or --gen-len), arrival_s.")] = None,
             sub_batches: Annotated[int, typer.Option("--sub-batches", help="NeuPIMs sub-batch interleaving: sub-batches per step (1 = off).")] = 1,
             cost_model: Annotated[str, typer.Option("--cost-model", help="roofline or sim.")] = "roofline",
             tp: Annotated[int, typer.Option("--tp", help="Tensor-parallel degree: simulate one device's shard (heads, weight columns / tp).")] = 1,
             pp: Annotated[int, typer.Option("--pp", help="Pipeline-parallel degree: one stage holds layers / pp.")] = 1,
             npu_timing: Annotated[str, typer.Option("--npu-timing", help="NPU op times: auto (npusim on an NPU), npusim or roofline.")] = "auto",
             pim_timing: Annotated[str, typer.Option("--pim-timing", help="PIM attention times: cost-model or neupims-mha (NeuPIMs' own estimate).")] = "cost-model",
             policy: Annotated[str, typer.Option("--policy", help="Placement policy (place-devices).")] = "pick-min",
             max_batch: Annotated[Optional[int], typer.Option("--max-batch", help="Most requests in one step (default: what the KV cache holds).")] = None,
             kv_capacity: Annotated[Optional[int], typer.Option("--kv-capacity", help="KV cache budget in tokens of the uncompressed cache (default: memory left after the weights).")] = None,
             trace: Annotated[Optional[str], typer.Option("--trace", help="Write a Perfetto/Chrome JSON trace of the first 4 steps.")] = None,
             format: Annotated[str, typer.Option("--format", help="text or json")] = "text"):
    """Simulate serving MODEL on TARGET: continuous batching over the devices' timelines."""
    from pimc.api import capture
    from pimc.passes import PassManager
    from pimc.passes.pipelines import passes_of
    from pimc.runtime.system.request_trace import requests_for
    from pimc.runtime.system.simulate import SimOptions, simulate_requests
    from pimc.targets import get_target

    if format not in FORMATS:
        raise PimcError(f"--format: unknown format '{format}'; valid: {', '.join(FORMATS)}")
    opts = SimOptions(sub_batches=sub_batches, cost_model=cost_model, policy=policy,
                      max_batch=max_batch, kv_capacity_tokens=kv_capacity, tp=tp, pp=pp,
                      npu_timing=npu_timing, pim_timing=pim_timing)
    tgt = get_target(target, set_ or ())
    reqs = requests_for(batch, prompt_len, gen_len, requests, rate, workload, seed,
                        requests_file)
    module, _ = capture(model)
    PassManager(passes_of(pipeline)).run(module)
    out = simulate_requests(module, tgt, reqs, opts, trace_path=trace)
    if format == "json":
        typer.echo(json.dumps(out, indent=2))
        return
    util = "  ".join(f"{d} {100 * u:.1f}%" for d, u in out["utilisation"].items())
    lines = [f"{model} on {tgt.name}: {out['requests']} requests, {out['tokens']:,} tokens, "
             f"{out['iterations']} decode iterations ({out['distinct_steps']} distinct steps); "
             f"tp {out['tp']}, pp {out['pp']}, NPU timing {out['npu_timing']}",
             f"throughput      {out['tokens_per_s']:,.1f} tokens/s over {_time(out['time_s'])}",
             f"TTFT            p50 {_time(out['ttft_p50_s'])}, p99 {_time(out['ttft_p99_s'])}",
             f"TBT             p50 {_time(out['tbt_p50_s'])}, p99 {_time(out['tbt_p99_s'])}",
             f"utilisation     {util}",
             f"times from      {_sources(out['time_sources'])}",
             f"energy          {out['energy_j']:.4g} J ({out['energy_per_token_j'] * 1e3:.4g} "
             "mJ/token)",
             f"KV cache        peak {out['max_kv_tokens']:,} of {out['kv_capacity_tokens']:,} "
             f"tokens reserved; {out['kv_bytes_per_token']:,.0f} B/token as stored, "
             f"{out['kv_bytes_per_context_token']:,.0f} B per context token"
             f"{' (compressed)' if out['kv_compressed'] else ''}; "
             f"{out['kv_batch_fits']:,} requests fit"]
    if trace:
        lines.append(f"trace           {trace}")
    typer.echo("\n".join(lines))


def _sources(fractions: dict[str, float]) -> str:
    """'npu: 93.0% npusim, 7.0% roofline; pim: 100.0% sim' from {"npu.npusim": 0.93, ...}."""
    by_device: dict[str, list[str]] = {}
    for key, share in fractions.items():
        device, _, source = key.partition(".")
        by_device.setdefault(device, []).append(f"{100 * share:.1f}% {source}")
    return "; ".join(f"{d}: {', '.join(parts)}" for d, parts in by_device.items())


def _time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3f} {unit}"
    return f"{seconds * 1e9:.1f} ns"
