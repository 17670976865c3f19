"""How long does capturing a full-size model take, and how much memory? (7B to 175B, and a
pretrained checkpoint with its real weights)

Each model is compiled in a fresh process, exactly as a user would (`pimc compile NAME --emit ir
-o FILE`), and timed with its peak RSS. The weights store's declared parameter count is compared
with the count the model's source publishes.

The pretrained rows (SmolLM2-135M from its Q4_1 GGUF) split a fresh process's time into reading
the checkpoint (GGUF header, dequantising every tensor to f32) and capturing it (tracing the
first layers with their weights through torch.export, importing @prefill and @decode, cloning
the other layers), both timed in the process that runs them; imports are outside both.

Writes bench/results/capture_scale.json and bench/results/capture_scale.md.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("llama2-7b", "llama2-13b", "llama2-70b", "gpt3-175b")
RESULTS = Path(__file__).parent / "results"

_CHILD = """
import resource, sys, time
start = time.perf_counter()
from pimc.cli import main
code = main(["compile", sys.argv[1], "--emit", "ir", "-o", sys.argv[2]])
print("RSS_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print("SECONDS", time.perf_counter() - start)
sys.exit(code)
"""


def measure(name: str) -> dict:
    from pimc.frontend import zoo
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{name}.mlir"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _CHILD, name, str(out)], capture_output=True,
                              text=True, check=True)
        wall = time.perf_counter() - start
        text = out.read_text()
    decode = text[text.index("func.func @decode"):]
    store = zoo.store_of(zoo.get(name).build(device="meta"))
    published = zoo.get(name).published_params
    return {
        "model": name, "wall_s": wall,
        "in_process_s": float(re.search(r"SECONDS (\S+)", proc.stdout).group(1)),
        "peak_rss_mb": float(re.search(r"RSS_MB (\S+)", proc.stdout).group(1)),
        "decode_attention": decode.count('"llm.attention"'),
        "layers": zoo.get(name).layers(),
        "declared_params": store.num_params, "published_params": published,
        "params_ratio": store.num_params / published if published else None,
        "declared_bytes": store.nbytes, "ir_bytes": len(text),
    }


PRETRAINED = ("smollm2-135m",)
_PRETRAINED_CHILD = """
import json, sys, time
import torch, transformers  # imports are not capture
from pimc.frontend import checkpoint, zoo
from pimc.frontend.pretrained import checkpoint_path
path = checkpoint_path(zoo.get(sys.argv[1]))
t0 = time.perf_counter()
ckpt = checkpoint.open_checkpoint(path)
t1 = time.perf_counter()
module, store = checkpoint.capture_checkpoint(ckpt)
t2 = time.perf_counter()
print(json.dumps({"read_s": t1 - t0, "capture_s": t2 - t1, "params": store.num_params,
                  "decode_attention": sum(op.name == "llm.attention"
                                          for op in module.func("decode").body.ops)}))
"""


def measure_pretrained(name: str) -> dict:
    from pimc.frontend import zoo
    proc = subprocess.run([sys.executable, "-c", _PRETRAINED_CHILD, name], capture_output=True,
                          text=True, check=True)
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"model": name, "layers": zoo.get(name).layers(), **row}


def main() -> None:
    pretrained = [measure_pretrained(m) for m in PRETRAINED]
    rows = [measure(m) for m in MODELS]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "capture_scale.json").write_text(
        json.dumps({"zoo_shapes": rows, "pretrained": pretrained}, indent=2) + "\n")
    lines = ["| model | layers | wall s | peak RSS MB | llm.attention in @decode | declared params | "
             "published | ratio |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['layers']} | {r['wall_s']:.1f} | {r['peak_rss_mb']:.0f} | "
              f"{r['decode_attention']} | {r['declared_params'] / 1e9:.3f}B | "
              f"{r['published_params'] / 1e9:.2f}B | {r['params_ratio']:.4f} |" for r in rows]
    lines += ["", "Pretrained, real weights (fresh process each; times in-process, imports excluded):",
              "", "| model | layers | read checkpoint s | capture s (target <= 10) | params | "
              "llm.attention in @decode |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['layers']} | {r['read_s']:.1f} | {r['capture_s']:.1f} | "
              f"{r['params'] / 1e6:.1f}M | {r['decode_attention']} |" for r in pretrained]
    lines += ["", f"Machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end."]
    (RESULTS / "capture_scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
