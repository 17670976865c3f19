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
from dataclasses import dataclass

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
    if getattr(config, "multi_query", False) and not getattr(config, "new_decoder_architecture",
                                                             False):
        heads = 1  # Falcon's multi-query layout caches one KV head, whatever num_kv_heads says
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


@dataclass(frozen=True)
class Signature:
    """One function to capture: its wrapper, example inputs, dynamic dims and pimc dim names."""

    func: str
    wrapper: torch.nn.Module
    args: tuple
    dynamic_shapes: dict
    dim_names: dict[str, dict[int, str]]
    causal: bool

    @contextmanager
    def attention_mode(self):
        """The attention implementation reads this while tracing (prefill is causal)."""
        _state["causal"] = self.causal
        try:
            yield
        finally:
            _state["causal"] = True


def signatures(model: torch.nn.Module) -> list[Signature]:
    """@prefill and @decode of an HF causal LM, as every frontend captures them."""
    layers, device = model.config.num_hidden_layers, next(model.parameters()).device
    b, t, s = 2, 3, 3  # >= 2: export specialises dims of size 0 and 1
    ids = torch.zeros((b, t), dtype=torch.long, device=device)
    pos = torch.arange(t, device=device).repeat(b, 1)
    dyn = {0: Dim.DYNAMIC, 1: Dim.DYNAMIC}
    # Distinct tensors for keys and values: export would alias one object passed twice.
    keys, values = (tuple(torch.zeros(kv_shape(model.config, b, s), device=device)
                          for _ in range(layers)) for _ in range(2))
    kv, one = {0: Dim.DYNAMIC, 2: Dim.DYNAMIC}, {0: Dim.DYNAMIC, 1: Dim.STATIC}
    names = {"input_ids": {0: "B"}, "position_ids": {0: "B"}}
    for i in range(layers):
        names[f"past_keys_{i}"] = names[f"past_values_{i}"] = {0: "B", 2: "S"}
    return [
        Signature("prefill", _Prefill(model), (ids, pos),
                  {"input_ids": dyn, "position_ids": dyn},
                  {"input_ids": {0: "B", 1: "T"}, "position_ids": {0: "B", 1: "T"}}, True),
        Signature("decode", _Decode(model), (ids[:, :1], pos[:, :1] + s, keys, values),
                  {"input_ids": one, "position_ids": one, "past_keys": (kv,) * layers,
                   "past_values": (kv,) * layers}, names, False),
    ]


def export_programs(model: torch.nn.Module) -> list[tuple[Signature, torch.export.ExportedProgram]]:
    """torch.export of each signature (call inside `prepared(model)`)."""
    programs = []
    for sig in signatures(model):
        with sig.attention_mode(), torch.no_grad():
            programs.append((sig, torch.export.export(sig.wrapper, sig.args,
                                                      dynamic_shapes=sig.dynamic_shapes)))
    return programs


def record_max_seq_len(module: ModuleOp, config) -> None:
    """The context limit `Program.generate` enforces."""
    limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if limit:
        module.attributes["pimc.max_seq_len"] = IntAttr(int(limit))


def capture(model: torch.nn.Module, store: WeightsStore | None = None,
            module: ModuleOp | None = None) -> tuple[ModuleOp, WeightsStore]:
    """Export `model` (an HF *ForCausalLM) as @prefill and @decode into one module."""
    store = WeightsStore() if store is None else store
    module = ModuleOp() if module is None else module
    with prepared(model), quiet_export():
        for sig, ep in export_programs(model):
            import_exported(ep, sig.func, sig.dim_names, store, module, weight_prefix="model.")
    record_max_seq_len(module, model.config)
    return module, store


@contextmanager
def quiet_export():
    with warnings.catch_warnings():
        # torch.export's pytree code trips a deprecation inside torch itself on every export
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)`",
                                category=FutureWarning)
        yield
