"""`torch.ops.pimc.attention`: the one op an HF attention layer becomes while pimc captures it.

HF hands its attention function a mask, `sliding_window=` and `softcap=` (Gemma 2's logit
soft-capping); `F.scaled_dot_product_attention` can take neither a window beside its causal
flag nor a soft cap, and an explicit [B, 1, T, S] mask would hide the causal structure the
kernels' fast path needs. This op carries them as they are, and the torch.export importer turns
it into one `llm.attention` with the same operands and attributes (aten_ops.py).

Its body (CompositeImplicitAutograd, so it needs no fake kernel) is llm.attention's semantics
in plain torch ops: what the op computes when run eagerly, and what an exporter that
decomposes it (torch.onnx) sees. pimc's own import keeps it whole (torch_export.decompose).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SCHEMA = ("attention(Tensor q, Tensor k, Tensor v, Tensor? mask, bool causal, float? scale, "
          "SymInt? window, float? softcap) -> Tensor")

_lib = torch.library.Library("pimc", "FRAGMENT")  # noqa: TOR901 (kept alive by the module)
_lib.define(SCHEMA)


def attention_math(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                   mask: torch.Tensor | None, causal: bool, scale: float | None,
                   window: int | None, softcap: float | None) -> torch.Tensor:
    """llm.attention (pimc/ir/dialects/llm.py): queries are the last T of the S keys; a
    boolean mask says which keys each query may see, a float one is added; rows that see no
    key are zeros."""
    t, s = q.shape[2], k.shape[2]
    if softcap is None and window is None and mask is None:  # SDPA's own causal flag
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal and t > 1, scale=scale,
                                              enable_gqa=True)
    pos = torch.arange(t, device=q.device)[:, None] + (s - t)
    key = torch.arange(s, device=q.device)[None, :]
    allowed = torch.ones((t, s), dtype=torch.bool, device=q.device)
    if causal:
        allowed = allowed & (key <= pos)
    if window is not None:
        allowed = allowed & (key > pos - window)
    if mask is not None and mask.dtype == torch.bool:
        allowed = allowed & mask
    if softcap is None:  # SDPA's math gives a row that sees no key zeros (its safe softmax)
        bias = mask if mask is not None and mask.dtype != torch.bool else None
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed if bias is None else bias.masked_fill(~allowed, -math.inf),
            scale=scale, enable_gqa=True)
    groups = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
    scores = q @ k.transpose(-1, -2) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    scores = torch.tanh(scores / softcap) * softcap
    if mask is not None and mask.dtype != torch.bool:
        scores = scores + mask
    probs = torch.softmax(scores.masked_fill(~allowed, -math.inf), -1)
    return probs.masked_fill(~allowed.any(-1, keepdim=True), 0.0) @ v


torch.library.impl(_lib, "attention", "CompositeImplicitAutograd")(attention_math)

OP = torch.ops.pimc.attention.default
