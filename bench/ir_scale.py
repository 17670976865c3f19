"""How fast is the IR front door at scale? Parse, verify, print and cleanup pipeline, 2k-20k ops.

The module is the synthetic Llama-style decoder (prefill + decode, fine-grained llm ops, ~213
ops per layer), grown layer by layer to each target op count. Every size starts from cold caches
(type, dim and shape-rule memo tables are cleared), so the per-op cost is not flattered by an
earlier, smaller run. Reference point: xDSL took about 2 minutes to parse 20k ops (xDSL #937).

Writes bench/results/ir_scale.json and bench/results/ir_scale.md.
"""
from __future__ import annotations

import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

from pimc.frontend.synthetic import DecoderShape, decoder_module
from pimc.ir import clear_caches, parse, print_module, verify
from pimc.passes import PassManager, parse_pipeline

TARGETS = (2_000, 4_000, 10_000, 20_000)
REPEATS = 3
RESULTS = Path(__file__).parent / "results"


def count_ops(module) -> int:
    return sum(1 for op in module.walk() if op.name not in ("builtin.module", "func.func"))


def module_with(ops: int):
    per_layer = count_ops(decoder_module(DecoderShape(layers=2))) - count_ops(
        decoder_module(DecoderShape(layers=1)))
    base = count_ops(decoder_module(DecoderShape(layers=1))) - per_layer
    layers = max(1, math.ceil((ops - base) / per_layer))
    return decoder_module(DecoderShape(layers=layers)), layers


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def measure(text: str) -> dict:
    runs = []
    for _ in range(REPEATS):
        clear_caches()
        module, t_parse = timed(lambda: parse(text, "<bench>"))
        _, t_verify = timed(lambda: verify(module))
        printed, t_print = timed(lambda: print_module(module))
        assert printed == text, "round trip broke"
        pm = PassManager(parse_pipeline("canonicalize,cse,dce"), verify_each=False)
        _, t_pipeline = timed(lambda: pm.run(module))
        runs.append((t_parse, t_verify, t_print, t_pipeline))
    med = [statistics.median(r[i] for r in runs) for i in range(4)]
    return dict(zip(("parse_s", "verify_s", "print_s", "pipeline_s"), med))


def main() -> None:
    rows = []
    for target in TARGETS:
        module, layers = module_with(target)
        n = count_ops(module)
        row = {"target_ops": target, "ops": n, "layers": layers, **measure(print_module(module))}
        row["pvp_s"] = row["parse_s"] + row["verify_s"] + row["print_s"]
        row["pvp_ops_per_s"] = n / row["pvp_s"]
        row["pvp_us_per_op"] = 1e6 * row["pvp_s"] / n
        rows.append(row)
        print(f"{n:>6} ops ({layers} layers): parse {row['parse_s']:.3f}s verify "
              f"{row['verify_s']:.3f}s print {row['print_s']:.3f}s -> "
              f"{row['pvp_ops_per_s']:,.0f} ops/s; pipeline {row['pipeline_s']:.3f}s",
              file=sys.stderr)
    lo, hi = rows[0], rows[-1]
    # Growth exponent k in time ~ ops^k between the smallest and largest size (1.0 = linear).
    exponent = math.log(hi["pvp_s"] / lo["pvp_s"]) / math.log(hi["ops"] / lo["ops"])
    summary = {"growth_exponent_2k_to_20k": exponent,
               "pvp_ops_per_s_at_20k": hi["pvp_ops_per_s"],
               "target_ops_per_s": 10_000,
               "machine": f"{platform.machine()}, {platform.python_implementation()} "
                          f"{platform.python_version()}"}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ir_scale.json").write_text(json.dumps({"rows": rows, "summary": summary},
                                                      indent=2) + "\n")
    lines = ["| ops | layers | parse s | verify s | print s | parse+verify+print ops/s | "
             "us/op | canonicalize+cse+dce s |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['ops']} | {r['layers']} | {r['parse_s']:.3f} | {r['verify_s']:.3f} | "
              f"{r['print_s']:.3f} | {r['pvp_ops_per_s']:,.0f} | {r['pvp_us_per_op']:.1f} | "
              f"{r['pipeline_s']:.3f} |" for r in rows]
    lines.append(f"\nGrowth exponent of parse+verify+print time from {lo['ops']} to {hi['ops']} "
                 f"ops: {exponent:.2f} (1.00 is linear).")
    (RESULTS / "ir_scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
