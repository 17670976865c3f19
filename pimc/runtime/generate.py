"""Greedy generation over a captured decoder: @prefill on the prompt, then @decode one token at a
time with the KV cache the previous step returned (the capture convention of frontend/hf.py:
prefill(input_ids, position_ids) -> (logits, *caches); decode(ids, positions, *caches))."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pimc.errors import PimcError

Runner = Callable[..., list[np.ndarray]]


def greedy(run: Runner, input_ids, max_new_tokens: int, eos: int | None = None,
           max_seq_len: int | None = None,
           kv_buffer: Callable[[np.ndarray, int], np.ndarray] | None = None) -> np.ndarray:
    """Returns [B, T + n] token ids; finished rows (after `eos`) are padded with `eos`.
    `kv_buffer(cache, capacity)`, when the backend has one, preallocates each KV cache."""
    ids = np.asarray(input_ids, dtype=np.int64)
    if ids.ndim == 1:
        ids = ids[None, :]
    if ids.ndim != 2 or ids.shape[1] == 0:
        raise PimcError(f"input_ids must be [batch, tokens] with at least one token, got shape "
                        f"{tuple(ids.shape)}")
    batch, prompt = ids.shape
    if max_new_tokens < 1:
        return ids
    if max_seq_len is not None and prompt + max_new_tokens > max_seq_len:
        raise PimcError(f"prompt ({prompt}) + max_new_tokens ({max_new_tokens}) = "
                        f"{prompt + max_new_tokens} exceeds the model's max_seq_len {max_seq_len}")
    logits, *cache = run("prefill", ids, np.tile(np.arange(prompt), (batch, 1)))
    if kv_buffer is not None:  # a backend that appends in place gets room for every new token
        cache = [kv_buffer(c, prompt + max_new_tokens) for c in cache]
    tokens = [logits[:, -1].argmax(-1)]
    done = np.zeros(batch, bool) if eos is None else tokens[0] == eos
    for step in range(1, max_new_tokens):
        if eos is not None and done.all():
            break
        pos = np.full((batch, 1), prompt + step - 1)
        logits, *cache = run("decode", tokens[-1][:, None], pos, *cache)
        nxt = logits[:, -1].argmax(-1)
        if eos is not None:
            nxt = np.where(done, eos, nxt)
            done |= nxt == eos
        tokens.append(nxt)
    return np.concatenate([ids, np.stack(tokens, axis=1)], axis=1)
