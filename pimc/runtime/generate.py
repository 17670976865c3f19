"""Greedy generation over a captured decoder: @prefill on the prompt, then @decode one token at a
time with the KV cache the previous step returned (the capture convention of frontend/hf.py:
prefill(input_ids, position_ids, attention_mask) -> (logits, *state);
decode(input_ids, position_ids, attention_mask, *state) -> (logits, *state)).

Ragged batches run as one batch, left-padded as HF does with `padding_side="left"`: the mask is
0 on the pads, positions count real tokens only (`cumsum(mask) - 1`, pads at 1, as HF's
generate sets them), and each decode step appends a 1 to the mask. A program whose steps take no
mask, or whose @decode ignores it (kv-compress eviction), runs each group of equal-length
prompts as its own batch instead. Either
way the result is left-padded, so the new tokens of every row are the last `max_new_tokens`
columns.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pimc.errors import PimcError

Runner = Callable[..., list[np.ndarray]]


def prompts(input_ids, lengths: Sequence[int] | None = None) -> list[np.ndarray]:
    """The rows of a batch: `input_ids` as [B, T] (right-padded when `lengths` is given), one
    sequence of ids, or a list of sequences of different lengths."""
    if isinstance(input_ids, (list, tuple)) and input_ids and \
            all(np.ndim(r) == 1 for r in input_ids) and lengths is None:
        rows = [np.asarray(r, dtype=np.int64) for r in input_ids]
    else:
        ids = np.asarray(input_ids, dtype=np.int64)
        ids = ids[None, :] if ids.ndim == 1 else ids
        if ids.ndim != 2:
            raise PimcError(f"input_ids must be [batch, tokens], got shape {tuple(ids.shape)}")
        if lengths is None:
            lengths = [ids.shape[1]] * ids.shape[0]
        if len(lengths) != ids.shape[0] or any(not 0 <= n <= ids.shape[1] for n in lengths):
            raise PimcError(f"lengths must give one length in 1..{ids.shape[1]} per row of "
                            f"input_ids ({ids.shape[0]} rows), got {list(lengths)}")
        rows = [ids[i, :n] for i, n in enumerate(lengths)]
    if not rows or any(r.size == 0 for r in rows):
        raise PimcError("every prompt needs at least one token")
    return rows


def greedy(run: Runner, input_ids, max_new_tokens: int, eos: int | None = None,
           max_seq_len: int | None = None,
           kv_buffer: Callable[[np.ndarray, int], np.ndarray] | None = None,
           lengths: Sequence[int] | None = None, pad_id: int | None = None,
           mask: tuple[bool, bool] = (True, True)) -> np.ndarray:
    """Returns [B, T + n] token ids, T the longest prompt: each row is its prompt, left-padded
    with `pad_id` (default `eos`, else 0), then its new tokens; a row that emitted `eos` is
    padded with `eos`. `kv_buffer(cache, capacity)`, when the backend has one, preallocates
    each KV cache after the first decode step (see `preallocate`). `mask`: whether the steps
    take `attention_mask` after the positions, and whether @decode honours it
    (`takes_attention_mask` of the module); without both, ragged prompts run as one batch per
    length.

    The state @prefill returns after its logits is what @decode takes after its step inputs,
    and what it returns: the KV caches, and any state a kv-compress method adds (H2O's
    accumulated scores), in the same order; caches may grow or keep a fixed size."""
    rows = prompts(input_ids, lengths)
    longest = max(r.size for r in rows)
    if max_seq_len is not None and longest + max(max_new_tokens, 0) > max_seq_len:
        raise PimcError(f"prompt ({longest}) + max_new_tokens ({max_new_tokens}) = "
                        f"{longest + max_new_tokens} exceeds the model's max_seq_len {max_seq_len}")
    n = max(max_new_tokens, 0)
    pad = pad_id if pad_id is not None else (eos if eos is not None else 0)
    takes, honours = mask
    if honours or len({r.size for r in rows}) == 1:
        return _greedy_batch(run, rows, n, eos, kv_buffer, pad, takes)
    out = np.full((len(rows), longest + n), pad, np.int64)
    for size in sorted({r.size for r in rows}):
        members = [i for i, r in enumerate(rows) if r.size == size]
        out[members, longest - size:] = _greedy_batch(run, [rows[i] for i in members], n, eos,
                                                      kv_buffer, pad, takes)
    return out


def left_padded(rows: Sequence[np.ndarray], pad: int) -> tuple[np.ndarray, np.ndarray]:
    """The prompts as one [B, T] batch, pads in front, and HF's attention_mask for it."""
    longest = max(r.size for r in rows)
    ids = np.full((len(rows), longest), pad, np.int64)
    mask = np.zeros((len(rows), longest), np.int64)
    for i, r in enumerate(rows):
        ids[i, longest - r.size:], mask[i, longest - r.size:] = r, 1
    return ids, mask


def positions(mask: np.ndarray) -> np.ndarray:
    """HF's position ids under left padding: real tokens count from 0, pads sit at 1."""
    return np.where(mask == 1, np.cumsum(mask, axis=1) - 1, 1)


def _greedy_batch(run: Runner, rows: Sequence[np.ndarray], max_new_tokens: int,
                  eos: int | None, kv_buffer, pad: int, masked: bool) -> np.ndarray:
    ids, mask = left_padded(rows, pad)
    if max_new_tokens < 1:
        return ids
    step_inputs = (lambda m: (m,)) if masked else (lambda m: ())
    logits, *state = run("prefill", ids, positions(mask), *step_inputs(mask))
    tokens = [logits[:, -1].argmax(-1)]
    done = np.zeros(len(rows), bool) if eos is None else tokens[0] == eos
    for step in range(1, max_new_tokens):
        if eos is not None and done.all():
            tokens += [np.full(len(rows), eos)] * (max_new_tokens - step)
            break
        mask = np.concatenate([mask, np.ones((len(rows), 1), np.int64)], axis=1)
        logits, *new = run("decode", tokens[-1][:, None], positions(mask)[:, -1:],
                           *step_inputs(mask), *state)
        if step == 1 and kv_buffer is not None:
            new = preallocate(kv_buffer, state, new, max_new_tokens - 2)
        state = new
        nxt = logits[:, -1].argmax(-1)
        if eos is not None:
            nxt = np.where(done, eos, nxt)
            done |= nxt == eos
        tokens.append(nxt)
    return np.concatenate([ids, np.stack(tokens, axis=1)], axis=1)


def takes_attention_mask(module) -> tuple[bool, bool]:
    """(takes, honours): whether the module's steps take `attention_mask` after their ids and
    positions (the HF capture's convention), and whether @decode still reads it (an evicting
    kv-compress drops it), so `greedy` can batch ragged prompts in one batch."""
    funcs = {f.sym_name: f for f in module.funcs}
    prefill, decode = funcs.get("prefill"), funcs.get("decode")
    names = [a.name_hint for a in prefill.args] if prefill is not None else []
    takes = names[2:3] == ["attention_mask"]
    honours = takes and (decode is None or bool(decode.args[2].uses))
    return takes, honours


def preallocate(kv_buffer, before: list[np.ndarray], after: list[np.ndarray],
                steps_left: int) -> list[np.ndarray]:
    """The state after the first decode step, each KV cache moved into a buffer with the room
    it needs for the `steps_left` steps to come, which a backend that appends in place then
    fills. How much room, the first step shows: a cache that grew by one token per step gets
    one per step left; one that kept its size (an evicting kv-compress: append one token,
    evict one) gets one, which its append fills and its in-place eviction frees again. State
    that is no [B, H, N, D] cache (H2O's per-token scores) is left as it is."""
    out = []
    for old, new in zip(before, after):
        if new.ndim != 4 or old.ndim != 4:
            out.append(new)
            continue
        grows = new.shape[2] - old.shape[2]
        out.append(kv_buffer(new, new.shape[2] + max(grows * steps_left, 1)))
    return out
