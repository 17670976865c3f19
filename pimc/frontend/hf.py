"""Capture a Hugging Face decoder LLM as @prefill and @decode through torch.export:

    @prefill(input_ids [B, T], position_ids [B, T], attention_mask [B, T]) -> (logits, *keys, *values)
    @decode(input_ids [B, 1], position_ids [B, 1], attention_mask [B, S+1], *past_keys, *past_values)
        -> (logits, *keys, *values)

`attention_mask` is HF's (1: a real token, 0: a pad), covering the past and the new tokens;
`STEP_INPUTS` names the inputs before the state that @decode takes back from the previous step.

Capture choices, each from a measured failure (tests/unit/test_export_pitfalls.py shows them):
  * attention goes through a registered attention implementation, "pimc", that calls one
    `torch.ops.pimc.attention` (hf_attention.py) with the layer's scale, sliding window and soft
    cap: HF then repeats no KV heads, and the graph keeps one node per layer, which becomes
    `llm.attention`. Its mask interface, also "pimc", hands that op only the padding, as a
    [B, 1, 1, S] key mask; causality (prefill) and the window stay attributes, so the kernels
    keep their causal fast path;
  * SDPA is popped from the decomposition table (its decomposition also breaks GPT-2's
    Conv1D `.view` on non-contiguous strides);
  * the KV cache is explicit: decode takes past keys/values as tensors and builds a
    `DynamicCache` inside `forward` (a DynamicCache as an export input fails in
    `run_decompositions`); their length uses `Dim.DYNAMIC`, because one named Dim shared by K
    and V fails a contiguity guard on GQA models under HF's own attention (its repeat_kv);
    the importer ties the separate symbols back to one `S` by naming the input axes, and the
    mask interface ties the mask's length to the keys' (a `torch._check`);
  * the caches are plain `DynamicLayer`s, also on sliding-window layers: HF's sliding cache
    keeps only the last window - 1 tokens, which would give those layers a cache length of
    their own; the window is applied in attention instead, which computes the same;
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
from torch.export import Dim

from pimc.frontend.hf_attention import OP as HF_ATTENTION
from pimc.frontend.torch_export import import_exported
from pimc.ir import ModuleOp
from pimc.ir.attrs import IntAttr
from pimc.ir.weights import WeightsStore

ATTN_IMPL = "pimc"
STEP_INPUTS = ("input_ids", "position_ids", "attention_mask")  # then the state, in @decode
_state = {"causal": True}


def _attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
               sliding_window=None, softcap=None, **kwargs):
    # Prefill (no cache) is causal with T == S; a decode step attends to every cached key.
    out = HF_ATTENTION(query, key, value, attention_mask, _state["causal"], scaling,
                       sliding_window, softcap)
    return out.transpose(1, 2).contiguous(), None


def _padding_mask(batch_size, q_length, kv_length, q_offset=0, kv_offset=0, mask_function=None,
                  attention_mask=None, **kwargs):
    """HF's mask interface for "pimc": the 2-D padding mask as a [B, 1, 1, S] key mask. Causal
    and sliding-window structure reach attention as its flags instead (every cache layer is a
    full DynamicLayer, so the keys are the whole sequence: kv_offset is 0)."""
    if attention_mask is None:
        return None
    torch._check(attention_mask.shape[-1] == kv_length)  # ties the mask's length to the keys'
    return attention_mask[:, None, None, :]


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface
    AttentionInterface.register(ATTN_IMPL, _attention)
    AttentionMaskInterface.register(ATTN_IMPL, _padding_mask)


class _Prefill(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, position_ids, attention_mask):
        from transformers import DynamicCache
        out = self.model(input_ids=input_ids, position_ids=position_ids,
                         attention_mask=attention_mask, past_key_values=DynamicCache(),
                         use_cache=True)
        cache = out.past_key_values.layers
        return (out.logits, *(layer.keys for layer in cache), *(layer.values for layer in cache))


class _Decode(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, position_ids, attention_mask, past_keys, past_values):
        from transformers import DynamicCache
        cache = DynamicCache(ddp_cache_data=list(zip(past_keys, past_values)))
        # the mask covers past and new tokens; models that build their own masks (Falcon,
        # GPT-J) never tie its length symbol to the cache's, so tie it here
        torch._check(attention_mask.shape[-1] == past_keys[0].shape[2] + input_ids.shape[1])
        out = self.model(input_ids=input_ids, position_ids=position_ids,
                         attention_mask=attention_mask, past_key_values=cache, use_cache=True)
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
    moe = hasattr(model, "set_experts_implementation") and (  # Qwen2-MoE says num_experts
        getattr(model.config, "num_local_experts", None) or getattr(model.config, "num_experts", None))
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
    mask = torch.ones((b, t), dtype=torch.long, device=device)
    dyn = {0: Dim.DYNAMIC, 1: Dim.DYNAMIC}
    # Distinct tensors for keys and values: export would alias one object passed twice.
    keys, values = (tuple(torch.zeros(kv_shape(model.config, b, s), device=device)
                          for _ in range(layers)) for _ in range(2))
    kv, one = {0: Dim.DYNAMIC, 2: Dim.DYNAMIC}, {0: Dim.DYNAMIC, 1: Dim.STATIC}
    # @decode's mask is [B, S+1]: its length symbol is tied to S by the mask interface's check
    names = {"input_ids": {0: "B"}, "position_ids": {0: "B"}, "attention_mask": {0: "B"}}
    for i in range(layers):
        names[f"past_keys_{i}"] = names[f"past_values_{i}"] = {0: "B", 2: "S"}
    step = dict(zip(STEP_INPUTS, ({0: "B", 1: "T"},) * 3))
    return [
        Signature("prefill", _Prefill(model), (ids, pos, mask), dict.fromkeys(STEP_INPUTS, dyn),
                  step, True),
        Signature("decode", _Decode(model),
                  (ids[:, :1], pos[:, :1] + s, torch.ones((b, s + 1), dtype=torch.long,
                                                          device=device), keys, values),
                  {"input_ids": one, "position_ids": one, "attention_mask": dyn,
                   "past_keys": (kv,) * layers, "past_values": (kv,) * layers}, names, False),
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
