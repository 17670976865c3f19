"""Tiny configs of every HF decoder family pimc captures: family -> config class, model class and
the config fields that make it small (hidden 64, vocab 256) while still exercising what makes the
family different (GQA, partial rotary, parallel blocks, q/k norms, MoE routing, windows).

One layer, since capture time grows with depth and the tests capture every family: two where the
layers differ (Gemma 2/3's sliding and full attention). The cache plumbing across layers is
the same for every family and is tested on the two-layer zoo models.

Models get seeded random weights from the transformers config class; nothing is downloaded.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from pimc.errors import UnknownNameError

# Shared by the llama-like families; GQA: 4 query heads over 2 KV heads.
_BASE = dict(vocab_size=256, hidden_size=64, num_hidden_layers=1, num_attention_heads=4,
             num_key_value_heads=2, intermediate_size=128, max_position_embeddings=128)
_MOE = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32)
# A window shorter than the tests' 7-token prompt + 16 new tokens, so it drops keys.
_WINDOW = dict(sliding_window=4)
_LAYER_TYPES = dict(num_hidden_layers=2, layer_types=["sliding_attention", "full_attention"])


@dataclass(frozen=True)
class Family:
    name: str
    config_class: str  # a transformers class name
    model_class: str
    config: dict = field(default_factory=dict)

    def hf_config(self, **overrides):
        import transformers
        # No special tokens: the defaults lie outside a 256-token vocab, and an eos would make HF
        # generate stop (or, with min_new_tokens, mask that token) where pimc's greedy would not.
        tokens = dict(bos_token_id=None, eos_token_id=None, pad_token_id=None)
        return getattr(transformers, self.config_class)(**{**tokens, **self.config, **overrides})

    def build(self, seed: int = 0, **overrides):
        """The HF causal LM with seeded random weights, in eval mode."""
        import transformers
        cfg = self.hf_config(**overrides)
        torch.manual_seed(seed)
        model = getattr(transformers, self.model_class)(cfg)
        return model.eval()


FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("llama", "LlamaConfig", "LlamaForCausalLM", _BASE),
    Family("mistral", "MistralConfig", "MistralForCausalLM", {**_BASE, **_WINDOW}),
    Family("mixtral", "MixtralConfig", "MixtralForCausalLM",
           {**_BASE, "num_local_experts": 4, "num_experts_per_tok": 2}),
    Family("qwen2", "Qwen2Config", "Qwen2ForCausalLM", _BASE),
    # shared expert with its sigmoid gate; top-k weights not renormalised
    Family("qwen2_moe", "Qwen2MoeConfig", "Qwen2MoeForCausalLM",
           {**_BASE, **_MOE, "shared_expert_intermediate_size": 64, "norm_topk_prob": False}),
    Family("qwen3", "Qwen3Config", "Qwen3ForCausalLM", {**_BASE, "head_dim": 16}),
    Family("qwen3_moe", "Qwen3MoeConfig", "Qwen3MoeForCausalLM",
           {**_BASE, **_MOE, "head_dim": 16, "norm_topk_prob": True}),
    Family("gemma", "GemmaConfig", "GemmaForCausalLM", {**_BASE, "head_dim": 16}),
    # soft caps low enough to bend random-weight scores and logits
    Family("gemma2", "Gemma2Config", "Gemma2ForCausalLM",
           {**_BASE, **_WINDOW, **_LAYER_TYPES, "head_dim": 16, "attn_logit_softcapping": 0.5,
            "final_logit_softcapping": 0.5}),
    Family("gemma3", "Gemma3TextConfig", "Gemma3ForCausalLM",
           {**_BASE, **_WINDOW, **_LAYER_TYPES, "head_dim": 16}),
    Family("phi", "PhiConfig", "PhiForCausalLM",
           {**_BASE, "num_key_value_heads": 4, "partial_rotary_factor": 0.5}),
    Family("phi3", "Phi3Config", "Phi3ForCausalLM", _BASE),
    Family("gpt2", "GPT2Config", "GPT2LMHeadModel",
           dict(vocab_size=256, n_embd=64, n_layer=1, n_head=4, n_inner=128, n_positions=128)),
    Family("gpt_neox", "GPTNeoXConfig", "GPTNeoXForCausalLM",  # no GQA in GPT-NeoX
           {**_BASE, "num_key_value_heads": 4, "rotary_pct": 0.25,
            "use_parallel_residual": True}),
    Family("gptj", "GPTJConfig", "GPTJForCausalLM",
           dict(vocab_size=256, n_embd=64, n_layer=1, n_head=4, n_inner=128, n_positions=128,
                rotary_dim=8)),
    Family("opt", "OPTConfig", "OPTForCausalLM",
           dict(vocab_size=256, hidden_size=64, num_hidden_layers=1, num_attention_heads=4,
                ffn_dim=128, max_position_embeddings=128, word_embed_proj_dim=64)),
    # multi-query (one KV head), parallel attention and MLP off one layernorm
    Family("falcon", "FalconConfig", "FalconForCausalLM",
           dict(vocab_size=256, hidden_size=64, num_hidden_layers=1, num_attention_heads=4,
                multi_query=True, parallel_attn=True, new_decoder_architecture=False,
                alibi=False, bias=False, max_position_embeddings=128)),
    # Falcon-RW's ALiBi (no rotary): per-head linear biases on the key positions
    Family("falcon_alibi", "FalconConfig", "FalconForCausalLM",
           dict(vocab_size=256, hidden_size=64, num_hidden_layers=1, num_attention_heads=4,
                multi_query=False, parallel_attn=False, new_decoder_architecture=False,
                alibi=True, bias=True, max_position_embeddings=128)),
    Family("stablelm", "StableLmConfig", "StableLmForCausalLM",
           {**_BASE, "partial_rotary_factor": 0.25}),
    Family("starcoder2", "Starcoder2Config", "Starcoder2ForCausalLM", {**_BASE, **_WINDOW}),
    Family("olmo", "OlmoConfig", "OlmoForCausalLM", _BASE),
    Family("olmo2", "Olmo2Config", "Olmo2ForCausalLM", _BASE),
    Family("granite", "GraniteConfig", "GraniteForCausalLM",
           {**_BASE, "embedding_multiplier": 2.0, "residual_multiplier": 0.5,
            "attention_multiplier": 0.2, "logits_scaling": 4.0}),
    # q/k LayerNorms per head (weights [heads, head_dim]), parallel attention and MLP
    Family("cohere", "CohereConfig", "CohereForCausalLM",
           {**_BASE, "logit_scale": 0.5, "use_qk_norm": True}),
]}


def get(name: str) -> Family:
    if name not in FAMILIES:
        raise UnknownNameError("model family", name, FAMILIES)
    return FAMILIES[name]
