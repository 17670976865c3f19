"""Batch-1 decode speed on the CPU: pimc numba-cpu vs onnxruntime vs torch eager.

The model is a Llama-shaped decoder of ~134M parameters (hidden 768, 12 layers, 12 heads,
intermediate 2048, vocab 32000), fp32 with seeded random weights. For contexts 128 and 1024, each
engine decodes STEPS tokens after a prompt of that length, with the KV cache as explicit inputs
(onnxruntime runs the same @decode wrapper exported with dynamo; pimc's caches are preallocated
and appended in place, as `Program.generate` does). The memory-bandwidth bound is
(weight bytes + KV-cache bytes read per token) / the copy bandwidth numpy measures in this run
(one core, STREAM's convention: read + write bytes). Decode streams weights with every core and
only reads them, so a tighter bound from a parallel read is reported beside it.

Writes bench/results/decode_cpu.json and bench/results/decode_cpu.md.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

CONFIG = dict(vocab_size=32000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
              num_key_value_heads=12, intermediate_size=2048, max_position_embeddings=2048)
CONTEXTS, STEPS = (128, 1024), 16
RESULTS = Path(__file__).parent / "results"


def copy_bandwidth() -> float:
    """Bytes/s of a large array copy (read + write counted), best of 5."""
    src = np.ones(64 * 2**20, np.float32)  # 256 MiB, well past the caches
    dst = np.empty_like(src)
    best = min(_timed(lambda: np.copyto(dst, src)) for _ in range(5))
    return 2 * src.nbytes / best


def read_bandwidth() -> float:
    """Bytes/s of streaming a large array through a vectorised reduction on every core (reads
    only), best of 5: what a weight-streaming GEMV can at most get. numpy's copy runs on one core
    and also writes, so it understates this."""
    from numba import njit, prange

    @njit(parallel=True, fastmath=True)
    def stream(a):
        total = 0.0
        for i in prange(a.size):
            total += a[i]
        return total

    src = np.ones(64 * 2**20, np.float32)
    stream(src)
    best = min(_timed(lambda: stream(src)) for _ in range(5))
    return src.nbytes / best


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _mask(pos: np.ndarray) -> np.ndarray:
    """HF's attention_mask of an unpadded decode step at `pos` [B, 1]: every token so far."""
    return np.ones((pos.shape[0], int(pos[0, 0]) + 1), np.int64)


def decode_loop(step, cache, first_token, ctx):
    """Tokens/s of STEPS greedy decode steps; `step(tok, pos, cache) -> (logits, cache)`."""
    tok = first_token
    logits, cache = step(tok, np.full((1, 1), ctx), cache)  # warm-up (JIT, allocator)
    start = time.perf_counter()
    for i in range(STEPS):
        tok = logits[:, -1].argmax(-1).reshape(1, 1)
        logits, cache = step(tok, np.full((1, 1), ctx + 1 + i), cache)
    return STEPS / (time.perf_counter() - start)


def main() -> None:
    import onnxruntime as ort
    from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

    import pimc
    from pimc.frontend.hf import _Decode, kv_shape, prepared

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**CONFIG)).eval()
    layers = CONFIG["num_hidden_layers"]
    params = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight.numel()
    prog = pimc.compile(model, backend="numba-cpu")

    with tempfile.TemporaryDirectory() as tmp, prepared(model):
        from torch.export import Dim
        path = Path(tmp) / "decode.onnx"
        keys, values = (tuple(torch.zeros(kv_shape(model.config, 2, 3)) for _ in range(layers))
                        for _ in range(2))
        kv = {0: Dim.DYNAMIC, 2: Dim.DYNAMIC}
        one = {0: Dim.DYNAMIC, 1: Dim.STATIC}
        from pimc.frontend import hf
        hf._state["causal"] = False
        try:
            torch.onnx.export(_Decode(model), (torch.zeros((2, 1), dtype=torch.long),
                                               torch.full((2, 1), 3),
                                               torch.ones((2, 4), dtype=torch.long), keys, values),
                              str(path), dynamo=True, opset_version=18,
                              dynamic_shapes={"input_ids": one, "position_ids": one,
                                              "attention_mask": {0: Dim.DYNAMIC,
                                                                 1: Dim.DYNAMIC},
                                              "past_keys": (kv,) * layers,
                                              "past_values": (kv,) * layers})
        finally:
            hf._state["causal"] = True
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]

    bandwidth, read_bw = copy_bandwidth(), read_bandwidth()
    rows = []
    for ctx in CONTEXTS:
        prompt = np.random.default_rng(ctx).integers(0, CONFIG["vocab_size"], (1, ctx))
        logits, *cache = prog(prompt, np.arange(ctx)[None], np.ones_like(prompt))
        first = logits[:, -1].argmax(-1).reshape(1, 1)

        def pimc_step(tok, pos, cache):
            out = prog.run("decode", tok, pos, _mask(pos), *cache)
            return out[0], out[1:]

        def ort_step(tok, pos, cache):
            out = sess.run(None, dict(zip(names, [tok.astype(np.int64), pos.astype(np.int64),
                                                  _mask(pos), *cache])))
            return out[0], out[1:]

        def torch_step(tok, pos, cache):
            with torch.no_grad():
                out = model(input_ids=torch.from_numpy(tok), position_ids=torch.from_numpy(pos),
                            past_key_values=cache, use_cache=True)
            return out.logits.numpy(), out.past_key_values

        with torch.no_grad():
            tcache = model(input_ids=torch.from_numpy(prompt), use_cache=True).past_key_values
        kv_bytes = 2 * layers * np.prod(kv_shape(model.config, 1, ctx)) * 4
        streamed = (params - embedding) * 4 + kv_bytes  # a token reads one embedding row only
        bound = bandwidth / streamed
        read_bound = read_bw / streamed
        row = {"context": ctx,
               "pimc_numba_cpu_tok_s": decode_loop(  # caches preallocated, as generate() does
                   pimc_step, [prog.executable.kv_buffer(c, ctx + STEPS + 1) for c in cache],
                   first, ctx),
               "onnxruntime_tok_s": decode_loop(ort_step, list(cache), first, ctx),
               "torch_eager_tok_s": decode_loop(torch_step, tcache, first, ctx),
               "bandwidth_bound_tok_s": bound, "read_bandwidth_bound_tok_s": read_bound}
        row["pimc_vs_onnxruntime"] = row["pimc_numba_cpu_tok_s"] / row["onnxruntime_tok_s"]
        row["pimc_vs_bound"] = row["pimc_numba_cpu_tok_s"] / bound
        row["pimc_vs_read_bound"] = row["pimc_numba_cpu_tok_s"] / read_bound
        rows.append(row)
        print(row, flush=True)
    summary = {"params": params, "copy_bandwidth_gb_s": bandwidth / 1e9,
               "read_bandwidth_gb_s": read_bw / 1e9, "steps": STEPS,
               "dynamic_cache_class": DynamicCache.__name__}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "decode_cpu.json").write_text(json.dumps({"rows": rows, "summary": summary},
                                                        indent=2) + "\n")
    lines = ["| context | pimc numba-cpu tok/s | onnxruntime tok/s | torch eager tok/s | "
             "copy bound tok/s | read bound tok/s | pimc / ort | pimc / copy bound | "
             "pimc / read bound |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['context']} | {r['pimc_numba_cpu_tok_s']:.1f} | {r['onnxruntime_tok_s']:.1f} | "
              f"{r['torch_eager_tok_s']:.1f} | {r['bandwidth_bound_tok_s']:.1f} | "
              f"{r['read_bandwidth_bound_tok_s']:.1f} | {r['pimc_vs_onnxruntime']:.2f} | "
              f"{r['pimc_vs_bound']:.2f} | {r['pimc_vs_read_bound']:.2f} |" for r in rows]
    lines.append(f"\n{params / 1e6:.0f}M parameters, fp32, batch 1; a token streams every weight "
                 f"but the embedding table, plus the KV cache. Copy bound: numpy copy bandwidth "
                 f"{bandwidth / 1e9:.1f} GB/s (one core, read + write bytes, STREAM convention). "
                 f"Read bound: {read_bw / 1e9:.1f} GB/s, a parallel vectorised sum on every core.")
    (RESULTS / "decode_cpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
