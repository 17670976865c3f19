"""`pimc demo`: the embedded default job, runnable on a fresh install with no download.

It builds a small Llama-style decoder (prefill + decode with a KV cache) in fine-grained llm ops,
verifies it, runs the cleanup pipeline, checks that the text form round-trips, and prints what
changed. Later stages (execution, placement, simulation) extend this one function.
"""
from __future__ import annotations

import time
from collections import Counter

from rich.console import Console
from rich.table import Table

from pimc.frontend.synthetic import DecoderShape, decoder_module
from pimc.ir import parse, print_module, verify
from pimc.passes import PassManager
from pimc.passes.pipelines import build


def _histogram(module) -> Counter:
    return Counter(op.name for op in module.walk() if op.name.startswith("llm."))


def run_demo(console: Console | None = None) -> dict:
    console = console or Console()
    cfg = DecoderShape(layers=2)
    start = time.perf_counter()
    module = decoder_module(cfg)
    verify(module)
    before = _histogram(module)
    PassManager(build("cleanup")).run(module)
    after = _histogram(module)
    text = print_module(module)
    roundtrip = print_module(parse(text, "<demo>")) == text
    elapsed = time.perf_counter() - start

    table = Table(title=f"synthetic decoder, {cfg.layers} layers: llm ops before/after cleanup")
    for col in ("op", "before", "after"):
        table.add_column(col, justify="left" if col == "op" else "right")
    for name in sorted(before):
        table.add_row(name, str(before[name]), str(after.get(name, 0)))
    table.add_row("total", str(sum(before.values())), str(sum(after.values())), style="bold")
    console.print(table)
    console.print(f"functions: {', '.join('@' + f.sym_name for f in module.funcs)}; "
                  f"text round-trip: {'ok' if roundtrip else 'FAILED'}; {elapsed:.2f} s")
    if not roundtrip:
        raise RuntimeError("the printed IR did not round-trip")
    return {"before": sum(before.values()), "after": sum(after.values()), "roundtrip": roundtrip}
