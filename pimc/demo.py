"""`pimc demo`: the embedded default job, runnable right after install with no download.

It compiles the zoo's llama-tiny (random weights, seeded) from PyTorch through torch.export into
pimc IR, raises it to graph-level llm ops, runs it on the numba-cpu backend, checks the logits
against PyTorch and 16 greedy tokens against HF `generate`, prints the placement, and simulates
serving the same IR on two targets (runtime/system).
"""
from __future__ import annotations

import time
from collections import Counter

import numpy as np
from rich.console import Console
from rich.table import Table

MODEL, TARGET, PROMPT, NEW_TOKENS = "llama-tiny", "neupims", 13, 16
TEXT_PROMPT = "The capital of France is"


def run_demo(console: Console | None = None, model: str = MODEL) -> dict:
    """The demo on `model`: a tiny zoo model with seeded weights (checked on random prompt ids),
    or one with real weights (checked on a text prompt against HF's own GGUF loader)."""
    from pimc.errors import PimcError
    from pimc.frontend import zoo

    console = console or Console()
    entry = zoo.get(model)
    if entry.package:
        return _pretrained_demo(entry, console)
    if not entry.tiny:
        raise PimcError(f"--model: '{model}' has no weights (full-size zoo models are shapes "
                        "for analysis); run a tiny one or one with real weights: "
                        + ", ".join(m.name for m in zoo.MODELS.values() if m.tiny or m.package))
    return _tiny_demo(model, console)


def _tiny_demo(model: str, console: Console) -> dict:
    import torch

    import pimc
    from pimc.errors import PimcError
    from pimc.frontend import zoo
    MODEL = model  # noqa: N806  (the titles below name the model run)
    t0 = time.perf_counter()
    from pimc.backends.registry import EXECUTING_DEFAULT
    prog = pimc.compile(MODEL, target=TARGET, backend=EXECUTING_DEFAULT)
    t_compile = time.perf_counter() - t0
    model = zoo.get(MODEL).build()
    ids = torch.randint(0, model.config.vocab_size, (1, PROMPT), generator=torch.Generator().manual_seed(0))
    pos = torch.arange(PROMPT)[None]
    with torch.no_grad():
        ref = model(input_ids=ids, position_ids=pos).logits.numpy()
        hf = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS,
                            min_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0).numpy()
    t1 = time.perf_counter()
    logits = prog(ids.numpy(), pos.numpy())[0]
    tokens = prog.generate(ids.numpy(), NEW_TOKENS)  # the first call also JIT-compiles kernels
    t_first = time.perf_counter() - t1
    t2 = time.perf_counter()
    prog.generate(ids.numpy(), NEW_TOKENS)
    tok_s = NEW_TOKENS / (time.perf_counter() - t2)
    err = float(np.abs(logits - ref).max())
    same = bool((tokens == hf).all())

    console.print(_placement_table(prog, MODEL))
    console.print(f"logits vs PyTorch: max |diff| = {err:.2e}; {NEW_TOKENS} greedy tokens "
                  f"{'equal' if same else 'DIFFER from'} HF generate; {tok_s:.0f} tokens/s "
                  f"(batch 1, after warm-up); compile {t_compile:.1f} s, first run "
                  f"{t_first:.1f} s (includes numba JIT; cached on disk for the next run)")
    report = prog.report()
    shares = ", ".join(f"{device} {d['share']:.0%}" for device, d in report.totals()["devices"].items())
    console.print(f"placement: pick-min roofline on {TARGET} at batch 1, context 2048; estimated "
                  f"{report.summary()}; time by device: {shares}. Every device's ops ran here on "
                  "numba-cpu, the functional stand-in")
    sims = _simulated_comparison(prog, console, MODEL)
    if err > 1e-4 or not same:
        raise PimcError("the demo's results do not match PyTorch")
    return {"max_err": err, "tokens_equal": same, "tokens_per_s": tok_s,
            "compile_s": t_compile, "first_run_s": t_first, "simulated": sims}


SIM_TARGETS, SIM_BATCH, SIM_PROMPT, SIM_GEN = (TARGET, "npu-only"), 64, 128, 32


def _simulated_comparison(prog, console: Console, model: str) -> dict:
    """The same IR served on two systems by runtime/system (roofline step times): what the
    placement is worth, in simulated decode throughput."""
    out = {name: prog.simulate(name, batch=SIM_BATCH, prompt_len=SIM_PROMPT, gen_len=SIM_GEN)
           for name in SIM_TARGETS}
    table = Table(title=f"simulated serving: {model}, batch {SIM_BATCH}, prompt {SIM_PROMPT}, "
                        f"{SIM_GEN} generated tokens (pimc simulate)")
    for column in ("target", "tokens/s", "TBT p50", "utilisation"):
        table.add_column(column, justify="left" if column in ("target", "utilisation") else "right")
    for name, r in out.items():
        util = ", ".join(f"{d} {u:.0%}" for d, u in r["utilisation"].items())
        table.add_row(name, f"{r['tokens_per_s']:,.0f}", f"{r['tbt_p50_s'] * 1e6:.2f} us", util)
    console.print(table)
    first, second = SIM_TARGETS
    console.print(f"{first} / {second}: {out[first]['tokens_per_s'] / out[second]['tokens_per_s']:.2f}x "
                  "simulated tokens/s (a tiny model: full-size ratios come from bench/paper_ratios.py)")
    return {name: r["tokens_per_s"] for name, r in out.items()}


def _placement_table(prog, model: str) -> Table:
    """Per op type in @decode: how many, and on which of the target's devices."""
    placed = Counter((op.name, op.attributes["device"].device if "device" in op.attributes else "-")
                     for op in prog.ir.func("decode").body.ops
                     if op.name not in ("func.return", "llm.weight"))
    table = Table(title=f"{model}: @decode after raise-llm-ops, placed on {TARGET}")
    for column in ("op", "device", "count"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for (name, device), n in sorted(placed.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(name, device, str(n))
    return table


def _pretrained_demo(entry, console: Console) -> dict:
    """Real weights: pimc's text beside the text HF generates from the same file, loaded by
    transformers' own GGUF reader (not pimc's), and the logits of the prompt compared."""
    import torch
    from transformers import AutoModelForCausalLM

    import pimc
    from pimc.backends.registry import EXECUTING_DEFAULT
    from pimc.errors import PimcError
    from pimc.frontend.pretrained import checkpoint_path
    t0 = time.perf_counter()
    prog = pimc.compile(entry.name, target=TARGET, backend=EXECUTING_DEFAULT)
    t_compile = time.perf_counter() - t0
    path = checkpoint_path(entry)
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()  # transformers' GGUF loader draws one per tensor
    hf = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name,
                                              dtype=torch.float32).eval()
    tok = prog.tokenizer
    ids = tok(TEXT_PROMPT).input_ids
    with torch.no_grad():
        ref_logits = hf(torch.tensor([ids])).logits.numpy()
        ref = hf.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                          max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False,
                          pad_token_id=tok.eos_token_id)[0].tolist()
    err = float(np.abs(prog(np.array([ids]))[0] - ref_logits).max())
    prog.generate([ids], 2)  # warm-up: JIT-compiles (or loads) the kernels
    t1 = time.perf_counter()
    out = prog.generate([ids], NEW_TOKENS)[0].tolist()
    tok_s = NEW_TOKENS / (time.perf_counter() - t1)
    table = Table(title=f"{entry.name} ({entry.source}): greedy, {NEW_TOKENS} new tokens, f32")
    table.add_column("")
    table.add_column("text")
    table.add_row("pimc numba-cpu", tok.decode(out, skip_special_tokens=True))
    table.add_row("HF transformers", tok.decode(ref, skip_special_tokens=True))
    console.print(table)
    same = out == ref
    console.print(f"logits of the prompt vs HF: max |diff| = {err:.2e}; {NEW_TOKENS} greedy tokens "
                  f"{'equal' if same else 'DIFFER from'} HF generate; {tok_s:.1f} tokens/s (batch 1, "
                  f"after warm-up); compile {t_compile:.1f} s")
    console.print(_placement_table(prog, entry.name))
    if err > 1e-3 or not same:
        raise PimcError("the demo's results do not match HF")
    return {"max_err": err, "tokens_equal": same, "tokens_per_s": tok_s, "compile_s": t_compile}
