"""The torch.export pitfalls the HF capture works around (frontend/hf.py), each shown to be real
on the pinned torch/transformers, next to the workaround that pimc uses. If one of these starts
failing because torch fixed the pitfall, the workaround can go."""
import pytest
import torch
from torch.export import Dim

from pimc.frontend import zoo
from pimc.frontend.hf import _Decode, _Prefill, kv_shape, prepared
from pimc.frontend.torch_export import decompose


DYN = {0: Dim.DYNAMIC, 1: Dim.DYNAMIC}
PREFILL_DYN = {"input_ids": DYN, "position_ids": DYN, "attention_mask": DYN}


def _decode_inputs(model, b=2, s=3):
    layers = model.config.num_hidden_layers
    keys, values = (tuple(torch.zeros(kv_shape(model.config, b, s)) for _ in range(layers))
                    for _ in range(2))
    return (torch.zeros((b, 1), dtype=torch.long), torch.full((b, 1), s),
            torch.ones((b, s + 1), dtype=torch.long), keys, values), layers


def _export_decode(model, kv):
    args, layers = _decode_inputs(model)
    one = {0: Dim.DYNAMIC, 1: Dim.STATIC}
    with torch.no_grad():
        return torch.export.export(_Decode(model), args, dynamic_shapes={
            "input_ids": one, "position_ids": one,  # a named past length: the mask's is past + 1
            "attention_mask": DYN if kv[2] is Dim.DYNAMIC else {0: kv[0], 1: kv[2] + 1},
            "past_keys": (kv,) * layers, "past_values": (kv,) * layers})


def test_named_kv_dim_fails_on_gqa_and_dim_dynamic_works():
    """With HF's own sdpa attention (repeat_kv expands the 2 kv heads to 4), one named Dim for
    the K and V lengths fails a contiguity guard; Dim.DYNAMIC exports. pimc's attention passes
    enable_gqa instead of repeating heads, so it avoids the guard altogether."""
    model = zoo.get("llama-tiny").build()
    model.set_attn_implementation("sdpa")
    with pytest.raises(Exception, match="(?i)constraint|guard"):
        _export_decode(model, {0: Dim("batch"), 2: Dim("past")})
    _export_decode(model, {0: Dim.DYNAMIC, 2: Dim.DYNAMIC})
    with prepared(model):
        _export_decode(model, {0: Dim("batch"), 2: Dim("past")})


def test_mixtral_eager_experts_do_not_export_but_batched_mm_does():
    model = zoo.get("mixtral-tiny").build()
    ids = torch.zeros((2, 3), dtype=torch.long)
    pos = torch.arange(3).repeat(2, 1)
    with prepared(model):
        model.set_experts_implementation("eager")
        with pytest.raises(Exception, match="(?i)data-dependent|guard"), torch.no_grad():
            torch.export.export(_Prefill(model), (ids, pos, torch.ones_like(ids)),
                                dynamic_shapes=PREFILL_DYN)
        model.set_experts_implementation("batched_mm")
        with torch.no_grad():
            ep = torch.export.export(_Prefill(model), (ids, pos, torch.ones_like(ids)),
                                     dynamic_shapes=PREFILL_DYN)
    targets = {str(n.target) for n in decompose(ep).graph.nodes}
    assert "aten.bmm.default" in targets and not any("grouped_mm" in t for t in targets)


def test_size_one_example_dims_get_specialised():
    model = zoo.get("llama-tiny").build()
    ids, pos = torch.zeros((1, 1), dtype=torch.long), torch.zeros((1, 1), dtype=torch.long)
    with prepared(model), torch.no_grad():
        with pytest.raises(Exception, match="(?i)specializ"):
            torch.export.export(_Prefill(model), (ids, pos, torch.ones_like(ids)),
                                dynamic_shapes=PREFILL_DYN)


def test_attention_is_kept_whole_by_popping_it_from_the_decomposition_table():
    model = zoo.get("gpt2-tiny").build()
    ids = torch.zeros((2, 3), dtype=torch.long)
    pos = torch.arange(3).repeat(2, 1)
    with prepared(model), torch.no_grad():
        ep = torch.export.export(_Prefill(model), (ids, pos, torch.ones_like(ids)),
                                 dynamic_shapes=PREFILL_DYN)
    targets = [str(n.target) for n in decompose(ep).graph.nodes]
    assert targets.count("pimc.attention.default") == model.config.n_layer
