"""onnxruntime's attention contrib ops: `GroupQueryAttention` and `RotaryEmbedding` (see
`onnx_contrib.py` for the rest and the sources of the semantics).

GroupQueryAttention takes Q, K, V packed in one tensor or separate, [B, T, heads * D]; with
`do_rotary` it rotates Q and K at the positions onnxruntime's CPU kernel derives from
`seqlens_k` (max(seqlens_k[b] + 1 - T, 0) + t: 0.. for a first prompt, the row's length for a
decode step); it appends K and V to the past ([B, kv_heads, P, D]), which are the present
outputs, and becomes `llm.attention` (GQA, causal, `softcap`, and `local_window_size` w as
`window` w: a query sees itself and the w - 1 keys before it, as onnxruntime 1.32 computes it)
with a padding mask: key j of row b is seen iff j <= seqlens_k[b].

The builder names the cache's head dim (`kv_cache_dim`) and the total length
(`total_sequence_length`) with symbols of their own; GroupQueryAttention ties them to the head
size and to past + new length (`unify_dim`). pimc's present is concat(past, new), as
onnxruntime's is when past and present are separate buffers and no row's past is padded
(seqlens_k[b] + 1 is the total length): with a buffer shared between past and present, or
right-padded rows in a decode step, onnxruntime writes each row's new keys at its own length,
a layout pimc does not reproduce.
"""
from __future__ import annotations

import sympy

from pimc.frontend.onnx_contrib import check_attrs, check_inputs, has_input, refuse
from pimc.frontend.onnx_import import OnnxImporter
from pimc.frontend.onnx_ops import _reshape, _slice_axis, rule
from pimc.frontend.onnx_values import Known
from pimc.ir.core import Value
from pimc.ir.symbolic import Dim, as_dim, dim_str, dims_equal
from pimc.ir.types import TensorType, i1, i64

MS = "com.microsoft"
GQA_INPUTS = ["query", "key", "value", "past_key", "past_value", "seqlens_k",
              "total_sequence_length", "cos_cache", "sin_cache", "position_ids",
              "attention_bias", "head_sink", "k_scale", "v_scale", "q_norm_weight",
              "k_norm_weight", "query_seqlens"]
GQA_ATTRS = {"num_heads": None, "kv_num_heads": None, "scale": None, "softcap": None,
             "local_window_size": None, "do_rotary": (0, 1), "rotary_interleaved": (0, 1),
             "causal": (1,), "smooth_softmax": (-1, 0), "qk_output": (0,),
             "sliding_window_cache": (0,), "k_quant_type": (b"NONE",),
             "v_quant_type": (b"NONE",), "kv_cache_bit_width": (0,), "qk_norm_epsilon": None,
             "q_norm_epsilon": None, "k_norm_epsilon": None}


# ---- rotary embeddings ----
def _cos_sin(im, positions: Value, cos_name: str, sin_name: str, interleaved: bool):
    """cos and sin over the rotary dim at `positions` [B, T] -> [B, T, rotary], from caches of
    half the rotary dim: each value twice, as two halves or as adjacent pairs."""
    out = []
    for name in (cos_name, sin_name):
        half = im.b.op("llm.embedding", positions, im.value(name))
        *lead, h = half.type.shape
        if interleaved:
            pairs = _reshape(im, half, (*lead, h, 1))
            pairs = im.b.op("llm.expand", pairs,
                            result_type=pairs.type.with_shape((*lead, h, 2)))
            out.append(_reshape(im, pairs, (*lead, 2 * h)))
        else:
            out.append(im.b.op("llm.concat", half, half, axis=len(lead)))
    return out


def _rotate(im, x: Value, cos: Value, sin: Value, interleaved: bool) -> Value:
    """llm.rope on the first rotary dims of x's last axis (cos/sin broadcast to them); the
    rest of the head passes through."""
    rotary, head = cos.type.shape[-1], x.type.shape[-1]
    axis = x.type.rank - 1
    part = _slice_axis(im, x, axis, 0, rotary)
    style = "interleaved" if interleaved else "half"
    turned = im.b.op("llm.rope", part, cos, sin, style=style)
    if dims_equal(rotary, head):
        return turned
    rest = _slice_axis(im, x, axis, rotary, head)
    return im.b.op("llm.concat", turned, rest, axis=axis)


def _heads_first(im, x: Value, heads: int, head: int) -> Value:
    """[B, T, heads * head] -> [B, heads, T, head]."""
    b, t, _ = x.type.shape
    return im.b.op("llm.transpose", _reshape(im, x, (b, t, heads, head)), perm=[0, 2, 1, 3])


@rule(f"{MS}::RotaryEmbedding")
def _rotary_embedding(im, node, attrs):
    check_attrs(im, node, attrs, {"interleaved": (0, 1), "num_heads": None,
                                   "rotary_embedding_dim": None, "is_packed_batching": (0,),
                                   "scale": (1.0,)})
    x = im.value(node.input[0])
    if x.type.rank not in (3, 4):
        raise refuse(im, node, f"input is {x.type}; pimc rotates [B, T, hidden] or "
                                "[B, heads, T, head]")
    b, t = (x.type.shape[0], x.type.shape[1 if x.type.rank == 3 else 2])
    positions = _positions(im, node, b, t)
    interleaved = bool(attrs.get("interleaved", 0))
    cos, sin = _cos_sin(im, positions, node.input[2], node.input[3], interleaved)
    if x.type.rank == 4:  # [B, heads, T, head]: cos/sin [B, 1, T, rotary]
        cos, sin = (_reshape(im, c, (b, 1, t, c.type.shape[-1])) for c in (cos, sin))
        return [_rotate(im, x, cos, sin, interleaved)]
    heads = attrs.get("num_heads", 0)
    head = x.type.shape[2] // heads if heads else cos.type.shape[-1]
    split = _reshape(im, x, (b, t, as_dim(x.type.shape[2] // head), head))
    cos, sin = (_reshape(im, c, (b, t, 1, c.type.shape[-1])) for c in (cos, sin))
    return [_reshape(im, _rotate(im, split, cos, sin, interleaved), x.type.shape)]


def _positions(im, node, b: Dim, t: Dim) -> Value:
    """RotaryEmbedding's position_ids as [B, T]: given per token, or one start offset."""
    ids = im.value(node.input[1])
    ids = ids if ids.type.element == i64 else im.b.op("llm.cast", ids,
                                                      result_type=ids.type.with_element(i64))
    if ids.type.rank == 2:
        return ids
    ramp = im.b.op("llm.arange", result_type=TensorType((t,), i64), start=0, step=1)
    start = _reshape(im, ids, (1, 1))
    return im.b.op("llm.expand", im.b.op("llm.add", start, _reshape(im, ramp, (1, t))),
                   result_type=TensorType((b, t), i64))


# ---- GroupQueryAttention ----
@rule(f"{MS}::GroupQueryAttention")
def _group_query_attention(im, node, attrs):
    check_attrs(im, node, attrs, GQA_ATTRS)
    check_inputs(im, node, GQA_INPUTS, 9)
    heads, kv_heads = attrs["num_heads"], attrs["kv_num_heads"]
    q, k, v = _split_qkv(im, node, heads, kv_heads)
    head = q.type.shape[-1]
    seqlens = im.value(node.input[5])
    seqlens = im.b.op("llm.cast", seqlens, result_type=seqlens.type.with_element(i64))
    if attrs.get("do_rotary", 0):
        b, t = q.type.shape[0], q.type.shape[2]
        interleaved = bool(attrs.get("rotary_interleaved", 0))
        cos, sin = _cos_sin(im, _gqa_positions(im, seqlens, b, t), node.input[7],
                            node.input[8], interleaved)
        cos, sin = (_reshape(im, c, (b, 1, t, c.type.shape[-1])) for c in (cos, sin))
        q, k = (_rotate(im, x, cos, sin, interleaved) for x in (q, k))
    present = [_append(im, node, i, x, head) for i, x in ((3, k), (4, v))]
    total = im.known(node.input[6], node).dims()[0]
    unify_dim(im, node, total, present[0].type.shape[2], "total_sequence_length")
    options = {"causal": True}
    if attrs.get("scale", 0.0):
        options["scale"] = float(attrs["scale"])
    if attrs.get("local_window_size", -1) > 0:
        options["window"] = int(attrs["local_window_size"])
    if attrs.get("softcap", 0.0) > 0:
        options["softcap"] = float(attrs["softcap"])
    mask = _padding_mask(im, seqlens, present[0].type.shape[2])
    out = im.b.op("llm.attention", q, *present, mask, **options)
    b, _, t, _ = out.type.shape
    out = im.b.op("llm.transpose", out, perm=[0, 2, 1, 3])
    return [_reshape(im, out, (b, t, heads * head)), *present]


def _split_qkv(im, node, heads: int, kv_heads: int) -> list[Value]:
    """Q, K, V as [B, heads, T, D] from the packed query or the three inputs."""
    query = im.value(node.input[0])
    width = query.type.shape[-1]
    packed = not has_input(node, 1)
    parts = heads + 2 * kv_heads if packed else heads
    if not isinstance(width, int) or width % parts:
        raise refuse(im, node, f"query is {query.type}; its last dim must be a whole "
                                f"{parts} heads (num_heads + 2 * kv_num_heads when packed)")
    head = width // parts
    if packed:
        bounds = [0, heads * head, (heads + kv_heads) * head, width]
        tensors = [_slice_axis(im, query, 2, lo, hi) for lo, hi in zip(bounds, bounds[1:])]
    else:
        tensors = [query, im.value(node.input[1]), im.value(node.input[2])]
    return [_heads_first(im, x, n, head) for x, n in zip(tensors, (heads, kv_heads, kv_heads))]


def _gqa_positions(im, seqlens: Value, b: Dim, t: Dim) -> Value:
    """[B, T]: max(seqlens_k[b] + 1 - T, 0) + t, the rotary positions of onnxruntime's kernel."""
    scalar = TensorType((), i64)
    zero = im.b.op("llm.constant", result_type=scalar, value=0.0)
    last = im.b.op("llm.arange", result_type=TensorType((1,), i64), start=as_dim(t - 1))
    start = im.b.op("llm.maximum", im.b.op("llm.sub", seqlens, last), zero)
    ramp = im.b.op("llm.arange", result_type=TensorType((t,), i64), start=0, step=1)
    return im.b.op("llm.add", _reshape(im, start, (b, 1)), _reshape(im, ramp, (1, t)))


def _padding_mask(im, seqlens: Value, keys: Dim) -> Value:
    """[B, 1, 1, keys] booleans: key j of row b is seen iff j <= seqlens_k[b], computed as
    min(max(seqlens_k[b] - j + 1, 0), 1) (llm has no comparisons)."""
    b = seqlens.type.shape[0]
    scalar = TensorType((), i64)
    zero, one = (im.b.op("llm.constant", result_type=scalar, value=v) for v in (0.0, 1.0))
    j = im.b.op("llm.arange", result_type=TensorType((keys,), i64), start=0, step=1)
    room = im.b.op("llm.sub", _reshape(im, seqlens, (b, 1)), _reshape(im, j, (1, keys)))
    seen = im.b.op("llm.minimum", im.b.op("llm.maximum", im.b.op("llm.add", room, one), zero),
                   one)
    seen = im.b.op("llm.cast", seen, result_type=seen.type.with_element(i1))
    return _reshape(im, seen, (b, 1, 1, keys))


def _append(im, node, i: int, new: Value, head: int) -> Value:
    """The present K or V: the past input (if any) with `new` appended along the sequence."""
    if not has_input(node, i):
        return new
    past = im.value(node.input[i])
    if past.type.rank != 4:
        raise refuse(im, node, f"{GQA_INPUTS[i]} is {past.type}; pimc reads BNSH caches "
                                "[batch, kv_heads, length, head]")
    unify_dim(im, node, past.type.shape[3], head, f"{GQA_INPUTS[i]}'s head dim")
    past = im.value(node.input[i])
    return im.b.op("llm.concat", past, new, axis=2)


def unify_dim(im: OnnxImporter, node, dim: Dim, value: Dim, what: str) -> None:
    """Make `dim` equal `value`: a symbol of the graph's inputs that the file leaves free
    (kv_cache_dim, total_sequence_length) is replaced by `value` wherever it appears (argument
    and result types, compile-time values); other dims must already be equal."""
    if dims_equal(dim, value):
        return
    free = {s for a in im.b.block.args for d in a.type.shape if not isinstance(d, int)
            for s in sympy.sympify(d).free_symbols}
    if not isinstance(dim, sympy.Symbol) or dim not in free or dim in sympy.sympify(
            value).free_symbols:
        raise refuse(im, node, f"{what} is {dim_str(dim)} where pimc computes "
                                f"{dim_str(value)}; pimc supports a past and present of "
                                "past + new length, each head of the query's head size")

    def subst(d: Dim) -> Dim:
        return d if isinstance(d, int) else as_dim(sympy.sympify(d).xreplace({dim: value}))

    for key, bound in list(im.symbols.items()):  # sympy values: the importer xreplaces them
        im.symbols[key] = sympy.sympify(subst(bound))
    values = list(im.b.block.args) + [r for op in im.b.block.ops for r in op.results]
    for v in values:
        if isinstance(v.type, TensorType):
            v.type = v.type.with_shape(tuple(subst(d) for d in v.type.shape))
    for name, entry in im.env.items():
        if isinstance(entry, Known) and not entry.concrete:
            im.env[name] = Known.of(entry.array.copy(), entry.elem)
            im.env[name].array.flat[:] = [subst(x) for x in entry.array.flat]
