"""KV-cache compression in the system simulator: the memory each kv-compress setting saves and the
simulated decode speed-up it buys, on neupims and duplex (issue 9 item 3).

One question: per method and level, what does compression do to the KV cache's bytes, to the
batch that fits and to tokens/s? llama2-7b (its config from the zoo, fp16 as the targets count
it) serves a static batch of PROMPT-token prompts generating GEN tokens each, as
bench/kv_quality.py's "Simulated decode" section did, through `default,kv-compress{...}` and
`runtime.system.simulate` (which reads what the pass did: runtime/system/kv_layout.py):
  - KV bytes per token as stored (KIVI's codes and statistics, ThinK's kept key channels; an
    evicted cache stores whole tokens, fewer of them) and per context token (a request's stored
    bytes over its PROMPT + GEN tokens): memory saved = 1 - the latter / the full cache's;
  - KV capacity: stored tokens the memory left after the weights holds, and the largest batch
    of these requests that fits;
  - decode speed: the decode step's time (TBT p50: the batch decodes in lockstep) and decode
    tokens/s = batch / TBT, at a fixed batch FIXED_BATCH (which the full cache fits on both
    targets, so every setting runs one wave: the per-step effect) and at the largest batch that
    fits (the capacity effect), each with its speed-up over the full cache under the same rule;
    and end-to-end tokens/s at the largest batch (generated tokens over the run, the 2048-token
    prefill included).
The settings are kv_quality.py's: every eviction method and ThinK at RATIOS, KIVI at BITS with
QUANT_OPTS (the same values, repeated here so this script needs no torch).
Writes bench/results/kv_speedup.{json,md}.  Usage: python3 bench/kv_speedup.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
MODEL, PROMPT, GEN = "llama2-7b", 2048, 64
FIXED_BATCH = 16  # the full cache of 16 x 2112 tokens fits neupims (18) and duplex (65)
TARGETS = ("neupims", "duplex")
RATIOS = (0.25, 0.5, 0.75, 0.9)  # as bench/kv_quality.py
BITS = (8, 4, 2)
EVICT = ("l2norm", "sink-window", "h2o", "snapkv", "think")
QUANT_OPTS = "group=32,window=32"


def settings(quick: bool = False) -> list[tuple[str, float, str]]:
    ratios = (0.5,) if quick else RATIOS
    out = [("full", 0, "")]
    out += [(m, r, f"kv-compress{{method={m},ratio={r}}}") for m in EVICT for r in ratios]
    out += [("quant", b, f"kv-compress{{method=quant,bits={b},{QUANT_OPTS}}}")
            for b in ((4,) if quick else BITS)]
    return out


def run(quick: bool = False, log=print) -> dict:
    from pimc.api import capture
    from pimc.ir import parse, print_module
    from pimc.passes import PassManager, parse_pipeline
    from pimc.passes.pipelines import build
    from pimc.runtime.system.simulate import SimOptions, make_requests, simulate_requests
    from pimc.targets import get_target

    start = time.time()
    module, _ = capture(MODEL)
    PassManager(build("default")).run(module)
    base = print_module(module)
    log(f"captured {MODEL} ({time.time() - start:.0f} s)")
    rows, breakdowns = [], []
    for target in TARGETS:
        tgt = get_target(target)
        full = None
        for method, level, pipeline in settings(quick):
            t0 = time.time()

            def sim(batch: int) -> dict:
                m = parse(base)
                if pipeline:
                    PassManager(parse_pipeline(pipeline)).run(m)
                return simulate_requests(m, tgt, make_requests(batch, PROMPT, GEN),
                                         SimOptions())
            fixed = sim(FIXED_BATCH)
            fits = fixed["kv_batch_fits"]
            most = sim(fits)
            row = dict(target=target, method=method, level=level, pipeline=pipeline,
                       kv_bytes_per_token=fixed["kv_bytes_per_token"],
                       kv_bytes_per_context_token=fixed["kv_bytes_per_context_token"],
                       kv_capacity_tokens=fixed["kv_capacity_tokens"], batch_fits=fits,
                       tokens_per_s_fixed=fixed["tokens_per_s"], tbt_p50_s_fixed=fixed["tbt_p50_s"],
                       tokens_per_s_max=most["tokens_per_s"], tbt_p50_s_max=most["tbt_p50_s"])
            row.update(decode_tokens_per_s_fixed=FIXED_BATCH / row["tbt_p50_s_fixed"],
                       decode_tokens_per_s_max=fits / row["tbt_p50_s_max"])
            full = full or row
            row.update(memory_saved=1 - row["kv_bytes_per_context_token"] /
                       full["kv_bytes_per_context_token"],
                       decode_speedup_fixed=full["tbt_p50_s_fixed"] / row["tbt_p50_s_fixed"],
                       decode_speedup_max=row["decode_tokens_per_s_max"] /
                       full["decode_tokens_per_s_max"],
                       speedup_max=row["tokens_per_s_max"] / full["tokens_per_s_max"])
            rows.append(row)
            log(f"  {target} {method} {level}: saved {row['memory_saved']:.0%}, fits {fits}, "
                f"decode x{row['decode_speedup_fixed']:.2f} at {FIXED_BATCH}, "
                f"x{row['decode_speedup_max']:.2f} at the most that fit, end to end "
                f"x{row['speedup_max']:.2f} ({time.time() - t0:.1f} s)")
        for method, level, pipeline in BREAKDOWN:
            m = parse(base)
            if pipeline:
                PassManager(parse_pipeline(pipeline)).run(m)
            breakdowns.append(dict(target=target, method=method, level=level,
                                   **step_breakdown(m, tgt)))
    return dict(model=MODEL, prompt=PROMPT, gen=GEN, fixed_batch=FIXED_BATCH, quick=quick,
                rows=rows, breakdown=breakdowns, wall_seconds=round(time.time() - start, 1))


BREAKDOWN = (("full", 0, ""), ("l2norm", 0.5, "kv-compress{method=l2norm,ratio=0.5}"),
             ("quant", 4, f"kv-compress{{method=quant,bits=4,{QUANT_OPTS}}}"))


def step_breakdown(module, tgt) -> dict:
    """One decode step at FIXED_BATCH, the requests halfway through: its time, and the time of
    its attention ops (and where they run) and of the kv ops, summed over the layers."""
    from pimc.runtime.system.kv_layout import kv_layout
    from pimc.runtime.system.serving import StepModel
    from pimc.runtime.system.simulate import SimOptions, prepare
    from pimc.runtime.system.step_cost import uses_npusim
    prepare(module, tgt, FIXED_BATCH, PROMPT + GEN // 2, SimOptions())
    model = StepModel(module, tgt, "roofline", 64, 16, npusim=uses_npusim("auto", tgt))
    context = kv_layout(module, 16).lengths([(PROMPT, GEN // 2)] * FIXED_BATCH)
    tasks, sched = model.step("decode", FIXED_BATCH, context)
    attention = [t for t in tasks if t.kind == "llm.attention"]
    return dict(step_s=sched.makespan_s, attention_s=sum(t.duration_s for t in attention),
                attention_on=sorted({t.device for t in attention}),
                kv_ops_s=sum(t.duration_s for t in tasks if t.kind.startswith("kv.")),
                other_s=sum(t.duration_s for t in tasks if t.kind != "llm.attention" and
                            not t.kind.startswith("kv.")))


def level_name(row: dict) -> str:
    if row["method"] == "full":
        return "-"
    return f"{row['level']} bits" if row["method"] == "quant" else f"{row['level']:.0%}"


def markdown(out: dict) -> str:
    lines = [f"# KV compression: memory and simulated decode speed-up ({out['model']})", "",
             f"Static batch, prompt {out['prompt']} tokens, {out['gen']} generated; fp16; "
             "roofline cost model, npusim on neupims' NPU; `python3 bench/kv_speedup.py` "
             f"(wall time {out['wall_seconds']:.0f} s).", ""]
    for target in dict.fromkeys(r["target"] for r in out["rows"]):
        b = out["fixed_batch"]
        lines += [f"## {target}", "",
                  "| method | level | B/token stored | B/context token | memory saved | "
                  f"KV capacity (tokens) | batch that fits | decode step @{b} | "
                  f"decode speed-up @{b} | decode tok/s @fits | decode speed-up @fits | "
                  "end-to-end tok/s @fits | end-to-end speed-up @fits |", "|---" * 13 + "|"]
        for r in (r for r in out["rows"] if r["target"] == target):
            lines.append(
                f"| {r['method']} | {level_name(r)} | {r['kv_bytes_per_token']:,.0f} | "
                f"{r['kv_bytes_per_context_token']:,.0f} | {r['memory_saved']:.0%} | "
                f"{r['kv_capacity_tokens']:,} | {r['batch_fits']} | "
                f"{r['tbt_p50_s_fixed'] * 1e3:.2f} ms | {r['decode_speedup_fixed']:.2f}x | "
                f"{r['decode_tokens_per_s_max']:,.0f} | {r['decode_speedup_max']:.2f}x | "
                f"{r['tokens_per_s_max']:,.1f} | {r['speedup_max']:.2f}x |")
        lines.append("")
    lines += [f"## Where a decode step's time goes (batch {out['fixed_batch']}, requests halfway)",
              "", "| target | method | level | step | attention (device) | kv ops | the rest "
              "(summed over devices) |", "|---" * 7 + "|"]
    for b in out.get("breakdown", []):
        lines.append(f"| {b['target']} | {b['method']} | {level_name(b)} | "
                     f"{b['step_s'] * 1e3:.2f} ms | {b['attention_s'] * 1e3:.2f} ms "
                     f"({', '.join(b['attention_on'])}) | {b['kv_ops_s'] * 1e3:.2f} ms | "
                     f"{b['other_s'] * 1e3:.2f} ms |")
    return "\n".join(lines + [""] + NOTES) + "\n"


NOTES = [
    "## Notes (read before the numbers)", "",
    "- **What is modelled.** A request reserves what its caches hold after its last token "
    "(eviction: the prompt's budget, P - floor(ratio P), fixed through decode; SnapKV and ThinK "
    "compress the prompt only, so decode appends; KIVI: b-bit codes, fp16 scale and zero per "
    "group of 32, a 32-token fp16 residual; ThinK: the prompt's keys at the kept channels). "
    "Decode attention reads the kept tokens, at their stored size; the kv ops the pass adds "
    "(scores, top-k, select, (de)quantisation) are charged as op_costs.py prices them, each an "
    "op of its own (unfused), on the device the placer picks.",
    "- **Memory saved** is per context token of these requests; the batch that fits follows "
    "from it and the memory left after the weights.",
    "- **At a fixed batch the decode step hardly changes on neupims.** At batch 16 the NPU's "
    "weight GEMMs take 13.3 of the 15.5 ms step; attention on the PIM is 2.2 ms, and eviction "
    "cuts it in proportion to the kept tokens (1.07 ms at 50%), so the step gains 1.04-1.14x. "
    "The gain is the batch that fits: the same weight reads serve 38 requests instead of 18 at "
    "50% (2.0x decode tokens/s), 194 at 90% (8.2x).",
    "- **KIVI makes neupims' PIM attention slower, not faster.** The preset's bank units are "
    "balanced at one flop per byte (16 fp16 multipliers per bank for its internal bandwidth, "
    "targets/presets/neupims.toml); fp16 attention is about two flops per K/V element, and "
    "dequantising adds two more (a multiply and an add) on the unit that runs the attention, "
    "so the attention turns compute-bound: 4.4 ms at 4 and 8 bits against 2.2 ms for fp16 "
    "(0.88x per step). The smaller cache still wins by the batch that fits (1.7x at 4 bits, 2.3x "
    "at 2 bits). On duplex the attention moves to Logic-PIM (0.65 ms against PIM's 0.56 ms for "
    "fp16). A PIM unit with dequantisation in its datapath would change this; none is modelled.",
    "- **On duplex every kv op is a GPU kernel.** The xPU's per-op overhead (6.87 us, "
    "targets/presets/duplex.toml) times the unfused kv ops of 32 layers (key norm, top-k, two "
    "selects for l2norm) is 0.9 ms per step, more than eviction saves in attention (0.56 -> "
    "0.39 ms at 50%): 0.92x at batch 16. SnapKV and ThinK, which compress only in @prefill, "
    "add nothing to decode and gain 1.01-1.05x. Fused kv ops would remove most of this cost.",
    "- **End to end** the 2048-token prefill of every request dominates the run and grows with "
    "the batch, so end-to-end tokens/s gain far less than decode (1.17x at 50% eviction on "
    "neupims against 2.0x decode).",
    "- **Not modelled.** No cycle-level PIM kernel dequantises: under `--cost-model sim` a "
    "KIVI-quantised attention takes the roofline (and `pimc analyze` marks it so), while an "
    "evicted cache runs the simulated kernel at its kept length.",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="ratio 0.5 and 4 bits only")
    ap.add_argument("--markdown-only", action="store_true",
                    help="rewrite the .md from the .json of the last run")
    args = ap.parse_args()
    suffix = ".quick" if args.quick else ""
    if args.markdown_only:
        out = json.loads((RESULTS / f"kv_speedup{suffix}.json").read_text())
        (RESULTS / f"kv_speedup{suffix}.md").write_text(markdown(out))
        return
    out = run(args.quick)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"kv_speedup{suffix}.json").write_text(json.dumps(out, indent=1) + "\n")
    (RESULTS / f"kv_speedup{suffix}.md").write_text(markdown(out))
    print(f"wrote {RESULTS}/kv_speedup{suffix}.{{json,md}} ({out['wall_seconds']} s)")


if __name__ == "__main__":
    main()
