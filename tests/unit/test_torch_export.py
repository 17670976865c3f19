"""The torch.export frontend against PyTorch itself, on the tiny zoo models.

For each model: capture @prefill and @decode, verify, round-trip the text, raise the llm ops
(one llm.attention per layer), then compare the reference interpreter's logits and KV caches
with the HF model's for a 13-token prefill and 8 greedy decode steps.
"""
from collections import Counter

import pytest

from pimc.frontend import zoo
from pimc.frontend.hf import capture
from pimc.frontend.replicate import replicate_layers
from pimc.ir import parse, print_module, verify
from pimc.passes import PassManager
from pimc.passes.pipelines import build
from pimc.testing import compare_with_hf

TINY = ["llama-tiny", "qwen2-tiny", "gpt2-tiny", "mixtral-tiny"]


@pytest.fixture(scope="module", params=TINY)
def captured(request):
    entry = zoo.get(request.param)
    model = entry.build()
    module, store = capture(model)
    return entry, model, module, store


def test_verifies_and_round_trips(captured):
    _, _, module, _ = captured
    verify(module)
    text = print_module(module)
    assert print_module(parse(text)) == text


def test_one_attention_per_layer_after_raising(captured):
    entry, _, module, store = captured
    raised = parse(print_module(module))
    PassManager(build("default")).run(raised)
    for f in raised.funcs:
        hist = Counter(op.name for op in f.body.ops)
        assert hist["llm.attention"] == entry.layers(), (f.sym_name, hist)
    if entry.family != "gpt2":  # GPT-2 uses LayerNorm and GELU instead
        assert hist["llm.rmsnorm"] == 2 * entry.layers() + 1 and hist["llm.rope"] == 2 * entry.layers()
    if entry.family == "mixtral":
        assert hist["llm.moe"] == entry.layers() and "llm.take" not in hist


def test_interpreter_matches_pytorch(captured):
    _, model, module, store = captured
    assert compare_with_hf(model, module, store)["torch"] < 1e-4


def test_raised_module_matches_pytorch(captured):
    _, model, module, store = captured
    raised = parse(print_module(module))
    PassManager(build("default")).run(raised)
    assert compare_with_hf(model, raised, store, steps=2)["torch"] < 1e-4


def test_capture_leaves_the_model_as_it_was():
    model = zoo.get("llama-tiny").build()
    before = model.config._attn_implementation
    capture(model)
    assert model.config._attn_implementation == before and not model.training


def test_replicated_layers_match_a_full_trace():
    """A 4-layer model traced with 2 layers on the meta device and cloned to 4 computes what
    the real 4-layer model computes."""
    entry = zoo.get("llama-tiny")
    full = entry.build(layers=4)
    module, _ = capture(entry.build(layers=2, device="meta"))
    for f in module.funcs:
        replicate_layers(f, "model.layers.", 1, 4)
    verify(module)
    assert [len(f.args) for f in module.funcs] == [3, 3 + 8]  # ids, positions, mask; caches
    assert compare_with_hf(full, module, zoo.store_of(full), steps=2)["torch"] < 1e-4


def test_full_size_capture_declares_the_published_parameter_count():
    module, store = zoo.capture("llama2-7b")
    assert abs(store.num_params / 6.74e9 - 1) < 0.005
    assert not store.has_data
    assert Counter(op.name for op in module.func("decode").body.ops)["llm.attention"] == 32
