"""The torch-mlir frontend against PyTorch itself and against the torch.export path.

For each tiny zoo model: capture @prefill and @decode through `torch_mlir.fx.export_and_import`,
verify, round-trip the text, check that the default pipeline leaves one llm.attention per layer
and exactly the op histogram of the torch.export path, then compare the interpreter's logits and
KV caches with the HF model's for a 13-token prefill and 8 greedy decode steps.
"""
from collections import Counter

import numpy as np
import pytest
import torch

from pimc.frontend import zoo
from pimc.frontend.fx_import import UnsupportedOp
from pimc.frontend.hf import capture as capture_torch_export
from pimc.frontend.torch_mlir import capture_hf, export
from pimc.ir import parse, print_module, verify
from pimc.passes import PassManager
from pimc.passes.pipelines import build
from pimc.runtime.interpreter import run
from pimc.testing import compare_with_hf

TINY = ["llama-tiny", "qwen2-tiny", "gpt2-tiny", "mixtral-tiny"]


def _raised(module):
    module = parse(print_module(module))
    PassManager(build("default")).run(module)
    return module


def _hist(func):
    return Counter(op.name for op in func.body.ops if op.name != "func.return")


@pytest.fixture(scope="module", params=TINY)
def captured(request):
    entry = zoo.get(request.param)
    model = entry.build()
    buffers = {name: set(m._non_persistent_buffers_set) for name, m in model.named_modules()}
    module, store = capture_hf(model)
    return entry, model, module, store, buffers


@pytest.fixture(scope="module")
def reference(captured):
    """The same model through the torch.export path."""
    return capture_torch_export(captured[1])


def test_verifies_and_round_trips(captured):
    module = captured[2]
    verify(module)
    text = print_module(module)
    assert print_module(parse(text)) == text
    assert "torch." not in text  # no torch-dialect op or type leaked through


def test_same_signature_weights_and_locations_as_torch_export(captured, reference):
    _, _, module, store, _ = captured
    ref_module, ref_store = reference
    assert module.attributes == ref_module.attributes
    for name in ("prefill", "decode"):
        f, g = module.func(name), ref_module.func(name)
        assert str(f.function_type) == str(g.function_type)
        assert [a.name_hint for a in f.args] == [a.name_hint for a in g.args]
        handles = sorted(op.attr("handle") for op in f.body.ops if op.name == "llm.weight")
        assert handles == sorted(op.attr("handle") for op in g.body.ops if op.name == "llm.weight")
        for h in handles:  # one WeightsStore serves both frontends
            np.testing.assert_array_equal(store[h], ref_store[h])
        attn = next(op for op in f.body.ops if op.name == "llm.attention")
        assert ".self_attn" in attn.loc.name or ".attn" in attn.loc.name  # nn.Module path
        assert attn.loc.child.file.endswith(".py") and attn.loc.child.line > 0


def test_one_attention_per_layer_and_same_histogram_after_raising(captured, reference):
    entry, _, module, _, _ = captured
    raised, ref = _raised(module), _raised(reference[0])
    for name in ("prefill", "decode"):
        hist = _hist(raised.func(name))
        assert hist["llm.attention"] == entry.layers(), (name, hist)
        assert hist == _hist(ref.func(name)), (name, hist, _hist(ref.func(name)))
        if entry.family != "gpt2":
            assert hist["llm.rmsnorm"] == 2 * entry.layers() + 1
            assert hist["llm.rope"] == 2 * entry.layers()


def test_interpreter_matches_pytorch(captured):
    _, model, module, store, _ = captured
    assert compare_with_hf(model, module, store)["torch"] < 1e-4  # prefill T=13, 8 decode steps


def test_raised_module_matches_pytorch(captured):
    _, model, module, store, _ = captured
    assert compare_with_hf(model, _raised(module), store, steps=2)["torch"] < 1e-4


def test_capture_leaves_the_model_as_it_was(captured):
    _, model, _, _, buffers = captured
    assert model.config._attn_implementation != "pimc" and not model.training
    assert {name: set(m._non_persistent_buffers_set)
            for name, m in model.named_modules()} == buffers


def test_unsupported_torch_op_names_op_location_supported_ops_and_hint(unsupported_module, cumprod_frame):
    with pytest.raises(UnsupportedOp) as err:
        export(unsupported_module, (torch.randn(2, 4),))
    msg = str(err.value)
    assert "unsupported op 'torch.aten.cumprod' in @forward" in msg
    assert cumprod_frame in msg  # the Python frame of the cumprod call
    assert "frontend supports:" in msg and "torch.aten.mm" in msg
    assert "pimc/frontend/torch_mlir_ops.py" in msg  # the hint says where a rule would go


def test_plain_module_with_dynamic_batch():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 2))
    module, store = export(model, (torch.randn(3, 4),),
                           dynamic_shapes=({0: torch.export.Dim.DYNAMIC},),
                           dim_names={"input": {0: "B"}})
    assert str(module.func("forward").function_type) == "(tensor<Bx4xf32>) -> tensor<Bx2xf32>"
    x = torch.randn(5, 4)
    (y,) = run(module, "forward", [x.numpy()], store)
    assert np.abs(y - model(x).detach().numpy()).max() < 1e-5

