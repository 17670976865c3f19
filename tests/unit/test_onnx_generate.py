"""`Program.generate` on imported ONNX decoders (optimum's text-generation-with-past, the
onnxruntime-genai builder's): pimc derives @prefill and @decode from the graph
(frontend/onnx_steps.py), and its greedy tokens on numba-cpu must equal greedy decoding done by
hand with onnxruntime on the very same file: 16 new tokens for one prompt, and for a ragged
batch of two prompts, left-padded as HF pads them (mask 0 on the pads, positions counting real
tokens, pads at 1).
"""
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import pimc
from pimc.frontend.onnx import import_onnx

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "onnx"
CASES = ["optimum/llama", "optimum/gemma", "optimum/gpt2", "genai/qwen2"]
NEW_TOKENS = 16


def _path(name: str) -> Path:
    return FIXTURES / (f"{name}/model.onnx" if name.startswith("genai/") else f"{name}.onnx")


def _head_size(path: Path) -> int | None:
    """The genai builder leaves the cache's head dim symbolic; its config names it."""
    config = path.parent / "genai_config.json"
    return json.loads(config.read_text())["model"]["decoder"]["head_size"] \
        if config.is_file() else None


def _ort_greedy(path: Path, rows: list[list[int]], n: int) -> np.ndarray:
    """Left-pad the prompts (pad id 0), then run the graph: prefill with an empty past, then
    one token at a time with the presents as the past."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    width = max(map(len, rows))
    ids = np.zeros((len(rows), width), np.int64)
    mask = np.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, width - len(r):], mask[i, width - len(r):] = r, 1
    past, step, out = {}, ids, [ids]
    for _ in range(n):
        positions = np.where(mask == 1, np.cumsum(mask, 1) - 1, 1)[:, -step.shape[1]:]
        feeds = {"input_ids": step, "attention_mask": mask, "position_ids": positions}
        inputs = {}
        for i in session.get_inputs():
            if i.name in feeds:
                inputs[i.name] = feeds[i.name]
            else:  # a past: empty before the prompt, else the last step's present
                head = i.shape[3] if isinstance(i.shape[3], int) else _head_size(path)
                empty = np.zeros((len(rows), i.shape[1], 0, head), np.float32)
                inputs[i.name] = past.get(i.name, empty)
        results = session.run(None, inputs)
        names = [o.name for o in session.get_outputs()]
        past = {name.replace("present", "past_key_values", 1): r
                for name, r in zip(names, results) if name.startswith("present")}
        step = results[0][:, -1].argmax(-1)[:, None]
        out.append(step)
        mask = np.concatenate([mask, np.ones_like(step)], axis=1)
    return np.concatenate(out, axis=1)


@pytest.fixture(scope="module", params=CASES)
def compiled(request):
    path = _path(request.param)
    return pimc.compile(str(path), target=None, backend="numba-cpu"), path


@pytest.mark.parametrize("rows", [[[5, 17, 42, 9, 3]], [[5, 17, 42, 9, 3, 61, 8], [23, 4, 77]]],
                         ids=["one", "ragged"])
def test_generate_equals_onnxruntime_greedy(compiled, rows):
    prog, path = compiled
    if "genai" in path.parts:  # GroupQueryAttention reads the mask as right padding: each
        # prompt runs alone, as generate runs a program whose steps take no mask
        width = max(map(len, rows)) + NEW_TOKENS
        want = np.stack([np.pad(_ort_greedy(path, [r], NEW_TOKENS)[0],
                                (width - len(r) - NEW_TOKENS, 0)) for r in rows])
    else:
        want = _ort_greedy(path, rows, NEW_TOKENS)
    got = prog.generate([np.array(r) for r in rows], max_new_tokens=NEW_TOKENS, pad_id=0)
    np.testing.assert_array_equal(got, want)


def test_steps_keep_the_graph_entry():
    """@main still mirrors the file; the steps take generate's inputs, the state in the order
    of the graph's past inputs."""
    module, _ = import_onnx(_path("optimum/gemma"))
    assert module.attributes["pimc.entry"].value == "main"
    prefill, decode = module.func("prefill"), module.func("decode")
    assert [a.name_hint for a in prefill.args] == ["input_ids", "position_ids", "attention_mask"]
    assert not prefill.args[1].uses  # gemma's graph computes its positions from the mask
    pasts = [a.name_hint for a in module.func("main").args][2:]
    assert [a.name_hint for a in decode.args][3:] == pasts
    assert str(decode.args[0].type) == "tensor<Bx1xi64>"
    assert len(prefill.function_type.results) == 1 + len(pasts)
