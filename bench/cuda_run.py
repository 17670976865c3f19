"""llama-tiny end to end on a real GPU with the cuda backend, against numba-cpu.

Prefill of a PROMPT-token prompt, then STEPS greedy decode steps. Both backends are fed the same
tokens (numba-cpu's argmax), so their logits are compared step by step; the figure is the max
absolute logits difference over prefill and every decode step. Decode tokens/s is timed over
the STEPS steps after one warm-up step (the first launch of each kernel JIT-compiles it), with
the KV caches preallocated on the device and appended in place, as `Program.generate` does.
With --config llama-134m it also times the Llama-shaped 134M decoder of bench/decode_cpu.py,
where weight streaming rather than launch overhead dominates.

Run from the repo root, on a machine with an NVIDIA GPU, after `pip install -e ".[cuda]"`:
    python bench/cuda_run.py [--steps 64] [--config llama-134m]
Writes bench/results/cuda.json. Exits with status 2 and a one-line reason when there is no GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
PROMPT = 16
# bench/decode_cpu.py's model: Llama-shaped, ~134M parameters, fp32, seeded random weights
LLAMA_134M = dict(vocab_size=32000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                  num_key_value_heads=12, intermediate_size=2048, max_position_embeddings=2048)


def _no_gpu(reason: str) -> None:
    print(f"bench/cuda_run.py: no GPU to run on: {reason}", file=sys.stderr)
    sys.exit(2)


def check_gpu():
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        _no_gpu("NUMBA_ENABLE_CUDASIM is set (the simulator); unset it to time a real GPU")
    from pimc.backends import cuda as backend
    if not backend.available():
        _no_gpu(f"numba-cuda is not installed ({backend.INSTALL_HINT})")
    from numba import cuda
    try:
        if not cuda.is_available():
            _no_gpu("numba.cuda finds no CUDA driver or device (cuda.is_available() is False)")
        device = cuda.get_current_device()
    except Exception as err:  # a driver that is present but unusable
        _no_gpu(f"{type(err).__name__}: {err}".splitlines()[0])
    return cuda, device


def run(model, steps: int, cuda) -> dict:
    """Logits error and decode tokens/s of `model` (a zoo name or an HF model)."""
    import pimc
    start = time.perf_counter()
    cpu = pimc.compile(model, backend="numba-cpu")
    gpu = pimc.compile(model, backend="cuda")
    compile_s = time.perf_counter() - start
    vocab = cpu.ir.funcs[0].body.ops[-1].operands[0].type.shape[-1]
    ids = np.random.default_rng(0).integers(0, vocab, (1, PROMPT))
    pos = np.arange(PROMPT)[None]
    start = time.perf_counter()
    mask = np.ones_like(ids)
    glog, *gcache = gpu.run("prefill", ids, pos, mask)
    glog = np.asarray(glog)
    first_prefill_s = time.perf_counter() - start  # includes JIT compilation of the kernels
    clog, *ccache = cpu.run("prefill", ids, pos, mask)
    worst = float(np.abs(glog - clog).max())
    capacity = PROMPT + steps + 1
    gcache = [gpu.executable.kv_buffer(c, capacity) for c in gcache]
    ccache = [cpu.executable.kv_buffer(c, capacity) for c in ccache]
    tok = clog[:, -1].argmax(-1)[:, None]
    times = []
    for step in range(steps + 1):  # step 0 is the warm-up
        p, mask = np.full((1, 1), PROMPT + step), np.ones((1, PROMPT + step + 1), np.int64)
        start = time.perf_counter()
        glog, *gcache = gpu.run("decode", tok, p, mask, *gcache)
        glog = np.asarray(glog)  # the logits copy down: the step is finished on the device
        times.append(time.perf_counter() - start)
        clog, *ccache = cpu.run("decode", tok, p, mask, *ccache)
        worst = max(worst, float(np.abs(glog - clog).max()))
        tok = clog[:, -1].argmax(-1)[:, None]
    cuda.synchronize()
    decode_s = sum(times[1:])
    return {"max_abs_logits_error_vs_numba_cpu": worst, "decode_steps": steps,
            "decode_tok_s": steps / decode_s, "first_decode_step_s": times[0],
            "first_prefill_s": first_prefill_s, "compile_s": compile_s, "prompt": PROMPT,
            "vocab": int(vocab)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--config", choices=["llama-134m"], action="append", default=[])
    args = parser.parse_args(argv)
    cuda, device = check_gpu()
    import numba
    import numba_cuda
    name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
    result = {"device": name, "compute_capability": list(device.compute_capability),
              "numba": numba.__version__, "numba_cuda": numba_cuda.__version__,
              "python": platform.python_version(), "models": {}}
    result["models"]["llama-tiny"] = run("llama-tiny", args.steps, cuda)
    print("llama-tiny", json.dumps(result["models"]["llama-tiny"]))
    if "llama-134m" in args.config:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM
        torch.manual_seed(0)
        model = LlamaForCausalLM(LlamaConfig(**LLAMA_134M)).eval()
        result["models"]["llama-134m"] = run(model, min(args.steps, 32), cuda)
        print("llama-134m", json.dumps(result["models"]["llama-134m"]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "cuda.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
