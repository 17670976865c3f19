"""Capture a Hugging Face decoder LLM as @prefill and @decode through torch.export.

Capture choices, each from a measured failure (tests/unit/test_export_pitfalls.py shows them):
  * attention goes through a registered attention implementation, "pimc", that calls one
    `F.scaled_dot_product_attention` with `enable_gqa`: HF then builds no mask tensors, repeats
    no KV heads, and the graph keeps one SDPA node per layer, which becomes `llm.attention`;
  * SDPA is popped from the decomposition table (its decomposition also breaks GPT-2's
    Conv1D `.view` on non-contiguous strides);
  * the KV cache is explicit: decode takes past keys/values as tensors and builds a
    `DynamicCache` inside `forward` (a DynamicCache as an export input fails in
    `run_decompositions`); their length uses `Dim.DYNAMIC`, because one named Dim shared by K
    and V fails a contiguity guard on GQA models under HF's own attention (its repeat_kv);
    the importer ties the separate symbols back to one `S` by naming the input axes;
  * example dims are >= 2, since export specialises dims of size 0 and 1;
  * MoE experts use `set_experts_implementation("batched_mm")`; the default grouped_mm emits
    an opaque custom op and "eager" loops over data-dependent expert hits;
  * everything runs under `torch.no_grad()`.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch.export import Dim

from pimc.frontend.torch_export import import_exported
from pimc.ir import ModuleOp
from pimc.ir.attrs import IntAttr
from pimc.ir.weights import WeightsStore

ATTN_IMPL = "pimc"
_state = {"causal": True}


def _attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    # Prefill (no cache) is causal with T == S; a decode step attends to every cached key.
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask,
                                         is_causal=_state["causal"] and attention_mask is None,
                                         scale=scaling, enable_gqa=True)
    return out.transpose(1, 2).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface
    AttentionInterface.register(ATTN_IMPL, _attention)


class _Prefill(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, position_ids):
        out = self.model(input_ids=input_ids, position_ids=position_ids, use_cache=True)
        cache = out.past_key_values.layers
        return (out.logits, *(layer.keys for layer in cache), *(layer.values for layer in cache))


class _Decode(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, position_ids, past_keys, past_values):
        from transformers import DynamicCache
        cache = DynamicCache(ddp_cache_data=list(zip(past_keys, past_values)),
                             config=self.model.config)
        out = self.model(input_ids=input_ids, position_ids=position_ids, past_key_values=cache,
                         use_cache=True)
        layers = out.past_key_values.layers
        return (out.logits, *(layer.keys for layer in layers), *(layer.values for layer in layers))


def kv_shape(config, batch: int, length: int) -> tuple[int, ...]:
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return (batch, heads, length, head_dim)


@contextmanager
def prepared(model: torch.nn.Module):
    """Switch the model to pimc's capture settings, and back afterwards (the caller's model keeps
    its own attention implementation for everything else)."""
    _register()
    attn = model.config._attn_implementation
    experts = getattr(model.config, "_experts_implementation", None)
    moe = hasattr(model, "set_experts_implementation") and getattr(
        model.config, "num_local_experts", None)
    was_training = model.training
    model.eval()
    model.set_attn_implementation(ATTN_IMPL)
    if moe:
        model.set_experts_implementation("batched_mm")
    try:
        yield model
    finally:
        model.set_attn_implementation(attn)
        if moe and experts:
            model.set_experts_implementation(experts)
        model.train(was_training)


def capture(model: torch.nn.Module, store: WeightsStore | None = None,
            module: ModuleOp | None = None) -> tuple[ModuleOp, WeightsStore]:
    """Export `model` (an HF *ForCausalLM) as @prefill and @decode into one module."""
    with prepared(model), warnings.catch_warnings():
        # torch.export's pytree code trips a deprecation inside torch itself on every export
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)`",
                                category=FutureWarning)
        return _capture(model, store, module)


def _capture(model, store, module) -> tuple[ModuleOp, WeightsStore]:
    store = WeightsStore() if store is None else store
    module = ModuleOp() if module is None else module
    layers, device = model.config.num_hidden_layers, next(model.parameters()).device
    b, t, s = 2, 3, 3
    ids = torch.zeros((b, t), dtype=torch.long, device=device)
    pos = torch.arange(t, device=device).repeat(b, 1)
    dyn = {0: Dim.DYNAMIC, 1: Dim.DYNAMIC}
    _state["causal"] = True
    with torch.no_grad():
        ep = torch.export.export(_Prefill(model), (ids, pos),
                                 dynamic_shapes={"input_ids": dyn, "position_ids": dyn})
    import_exported(ep, "prefill", {"input_ids": {0: "B", 1: "T"}, "position_ids": {0: "B", 1: "T"}},
                    store, module, weight_prefix="model.")
    # Distinct tensors for keys and values: export would alias one object passed twice.
    keys, values = (tuple(torch.zeros(kv_shape(model.config, b, s), device=device)
                          for _ in range(layers)) for _ in range(2))
    kv = {0: Dim.DYNAMIC, 2: Dim.DYNAMIC}
    one = {0: Dim.DYNAMIC, 1: Dim.STATIC}
    names = {"input_ids": {0: "B"}, "position_ids": {0: "B"}}
    for i in range(layers):
        names[f"past_keys_{i}"] = names[f"past_values_{i}"] = {0: "B", 2: "S"}
    _state["causal"] = False
    try:
        with torch.no_grad():
            ep = torch.export.export(
                _Decode(model), (ids[:, :1], pos[:, :1] + s, keys, values),
                dynamic_shapes={"input_ids": one, "position_ids": one,
                                "past_keys": (kv,) * layers, "past_values": (kv,) * layers})
    finally:
        _state["causal"] = True
    import_exported(ep, "decode", names, store, module, weight_prefix="model.")
    limit = getattr(model.config, "max_position_embeddings", None) or getattr(
        model.config, "n_positions", None)
    if limit:
        module.attributes["pimc.max_seq_len"] = IntAttr(int(limit))
    return module, store
