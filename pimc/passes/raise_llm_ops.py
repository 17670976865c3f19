"""raise-llm-ops: fold the decomposed patterns frontends emit into graph-level llm ops.

Placement and lowering reason about `llm.rmsnorm`, `llm.rope`, `llm.linear`, `llm.silu`,
`llm.gelu` and `llm.attention`, not the dozen elementwise ops each one decomposes into. Patterns
are anchored at the op that produces the folded value; what they replace dies with the
rewriter's dead-producer sweep. Dtype conversions the original did (f32 upcasts around norms)
are kept as a cast of the raised op's result when the types differ.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pimc.ir.builder import Builder
from pimc.ir.core import Operation, OpResult, Value
from pimc.ir.dialects.builtin import ModuleOp
from pimc.ir.symbolic import dims_equal, product
from pimc.passes.base import Context, Pass
from pimc.passes.match import binary, either, last_axis, near, producer, splat, through
from pimc.passes.rewrite import PatternTable, Rewriter, apply_patterns


def _replace(rw: Rewriter, root: Operation, name: str, operands: list[Value], **attrs) -> bool:
    b = Builder.before_op(root)
    value = b.op(name, *operands, **attrs)
    want = root.results[0].type
    if value.type != want:
        value = b.op("llm.cast", value, result_type=want)
    rw.replace_op(root, [value])
    return True


def raise_silu(op: Operation, rw: Rewriter) -> bool:
    """x * sigmoid(x) -> silu(x)."""
    for x, s in either(op):
        sig = producer(s, "llm.sigmoid")
        if sig is not None and sig.operands[0] is x:
            return _replace(rw, op, "llm.silu", [x])
    return False


def raise_gelu_tanh(op: Operation, rw: Rewriter) -> bool:
    """0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))) -> gelu(x, approximate=tanh)."""
    for half_x, one_plus in either(op):
        for t, one in binary(one_plus, "llm.add"):
            tanh = producer(t, "llm.tanh")
            if tanh is None or not near(splat(one), 1.0):
                continue
            for inner, k in binary(tanh.operands[0], "llm.mul"):
                if not near(splat(k), math.sqrt(2 / math.pi)):
                    continue
                for x, cubic in binary(inner, "llm.add"):
                    if _is_cubic_term(cubic, x) and _is_half_of(half_x, x):
                        return _replace(rw, op, "llm.gelu", [x], approximate="tanh")
    return False


def _is_cubic_term(v: Value, x: Value) -> bool:
    for p, c in binary(v, "llm.mul"):
        pw = producer(p, "llm.pow_scalar")
        if pw is not None and pw.operands[0] is x and pw.attr("exponent") == 3 and near(splat(c), 0.044715):
            return True
    return False


def _is_half_of(v: Value, x: Value) -> bool:
    return any(a is x and near(splat(c), 0.5) for a, c in binary(v, "llm.mul"))


def raise_rmsnorm(op: Operation, rw: Rewriter) -> bool:
    """w * cast(x * rsqrt(mean(x^2, -1) + eps)) -> rmsnorm(x, w){eps}, x possibly upcast; with
    x = y - mean(y, -1) it is layernorm(y, w){eps}."""
    for w, y in either(op):
        if w.type.rank != 1 or not dims_equal(w.type.shape[0], op.results[0].type.shape[-1]):
            continue
        for x, r in binary(through(y, "llm.cast"), "llm.mul"):
            rsqrt = producer(r, "llm.rsqrt")
            if rsqrt is None:
                continue
            for mean, eps in binary(rsqrt.operands[0], "llm.add"):
                m = producer(mean, "llm.reduce_mean")
                if m is None or splat(eps) is None or not m.attr("keepdim") or \
                        not last_axis(m, "axes", x.type.rank) or not _is_square_of(m.operands[0], x):
                    continue
                centered = _centered(through(x, "llm.cast"))
                if centered is not None:  # Cohere's bias-free LayerNorm, spelled out
                    return _replace(rw, op, "llm.layernorm", [centered, w], eps=float(splat(eps)))
                return _replace(rw, op, "llm.rmsnorm", [through(x, "llm.cast"), w],
                                eps=float(splat(eps)))
    return False


def _centered(v: Value) -> Value | None:
    """x for v = x - mean(x, -1, keepdim)."""
    sub = producer(v, "llm.sub")
    m = producer(sub.operands[1], "llm.reduce_mean") if sub is not None else None
    if m is None or m.operands[0] is not sub.operands[0] or not m.attr("keepdim") or \
            not last_axis(m, "axes", v.type.rank):
        return None
    return sub.operands[0]


def _is_square_of(v: Value, x: Value) -> bool:
    pw = producer(v, "llm.pow_scalar")
    if pw is not None:
        return _same(pw.operands[0], x) and pw.attr("exponent") == 2
    sq = producer(v, "llm.mul")
    return sq is not None and _same(sq.operands[0], x) and _same(sq.operands[1], x)


def _same(a: Value, b: Value) -> bool:
    """a is b, or both come from one kind of op on the same operands (Cohere's norm computes
    `x - mean` twice, and CSE runs after this pass)."""
    if a is b:
        return True
    if not isinstance(a, OpResult) or not isinstance(b, OpResult) or a.index != b.index:
        return False
    x, y = a.op, b.op
    return x.name == y.name and x.has_trait("pure") and not x.regions and \
        list(x.operands) == list(y.operands) and x.attributes == y.attributes


def raise_rope(op: Operation, rw: Rewriter) -> bool:
    """x * cos + concat(-x[h:], x[:h]) * sin -> rope(x, cos, sin){style=half}, and with GPT-J's
    rotate_every_two (pairs) for the rotation, {style=interleaved}."""
    for a, b in either(op):
        for x, cos in binary(a, "llm.mul"):
            for rot, sin in binary(b, "llm.mul"):
                if _is_rotate_half(rot, x):
                    return _replace(rw, op, "llm.rope", [x, cos, sin], style="half")
                if _is_rotate_pairs(rot, x):
                    return _replace(rw, op, "llm.rope", [x, cos, sin], style="interleaved")
    return False


def _is_rotate_pairs(v: Value, x: Value) -> bool:
    """v = stack([-x[..., 1::2], x[..., 0::2]], -1).flatten(-2): a reshape of a concat along a
    new last axis."""
    flat = producer(v, "llm.reshape")
    cat = producer(flat.operands[0], "llm.concat") if flat is not None else None
    rank = x.type.rank
    if cat is None or len(cat.operands) != 2 or cat.attr("axis") % (rank + 1) != rank or \
            v.type != x.type:
        return False
    neg = producer(through(cat.operands[0], "llm.reshape"), "llm.neg")
    odd = producer(neg.operands[0], "llm.slice") if neg is not None else None
    even = producer(through(cat.operands[1], "llm.reshape"), "llm.slice")
    return all(s is not None and s.operands[0] is x and s.attr("axis") % rank == rank - 1 and
               s.attr("step") == 2 and s.attr("start") == start
               for s, start in ((odd, 1), (even, 0)))


def _is_rotate_half(v: Value, x: Value) -> bool:
    cat = producer(v, "llm.concat")
    if cat is None or len(cat.operands) != 2 or cat.attr("axis") % x.type.rank != x.type.rank - 1:
        return False
    neg = producer(cat.operands[0], "llm.neg")
    hi = producer(neg.operands[0], "llm.slice") if neg else None
    lo = producer(cat.operands[1], "llm.slice")
    d = x.type.shape[-1]
    if hi is None or lo is None or hi.operands[0] is not x or lo.operands[0] is not x or \
            not isinstance(d, int):
        return False
    return (lo.attr("start"), lo.attr("end"), hi.attr("start"), hi.attr("end")) == \
        (0, d // 2, d // 2, d) and lo.attr("step") == hi.attr("step") == 1


def raise_linear(mm: Operation, rw: Rewriter) -> bool:
    """matmul(x, transpose(w)) [+ b] -> linear(x, w[, b]): ATen's decomposition of aten.linear.

    Anchored at the GEMM. A flattening view on its input (view to 2-D) is looked through when
    the linear can take the unflattened x, and a view of its output is kept as a reshape of the
    linear (it may also split heads, after canonicalize merged two views)."""
    if mm.attr("transpose_a") or mm.attr("transpose_b"):
        return False
    flat, wt = mm.operands
    t = producer(wt, "llm.transpose")
    if t is None or t.attr("perm") != (1, 0) or flat.type.rank < 2:
        return False
    root, bias = mm, None
    (user, _), = mm.results[0].uses if len(mm.results[0].uses) == 1 else [(None, None)]
    if user is not None and user.name == "llm.add":
        other = next(v for v in user.operands if v is not mm.results[0])
        if other.type.rank == 1:
            root, bias = user, other
    (user, _), = root.results[0].uses if len(root.results[0].uses) == 1 else [(None, None)]
    if user is not None and user.name == "llm.reshape":  # the view back (or into heads)
        root = user
    x = flat
    view = producer(flat, "llm.reshape")
    if view is not None and flat.type.rank == 2:
        inner = view.operands[0]
        if inner.type.rank >= 2 and dims_equal(inner.type.shape[-1], flat.type.shape[1]) and \
                dims_equal(product(inner.type.shape[:-1]), flat.type.shape[0]):
            x = inner
    b = Builder.before_op(root)
    y = b.op("llm.linear", x, t.operands[0], *([bias] if bias else []))
    if y.type != root.results[0].type:
        y = b.op("llm.reshape", y, result_type=root.results[0].type)
    rw.replace_op(root, [y])  # the GEMM and its bias add die with the replaced root
    return True


def raise_batched_matmul(view: Operation, rw: Rewriter) -> bool:
    """reshape(matmul(flat(a), flat(b))) -> matmul(a, b): ATen decomposes an N-D torch.matmul
    into one bmm over the batch dims flattened (after broadcasting them with expand), which hides
    attention written out as math (GPT-J's q @ k^T, probs @ v) from the attention pattern."""
    mm = producer(view.operands[0], "llm.matmul")
    out = view.results[0].type
    if mm is None or mm.results[0].type.rank != 3 or out.rank < 4 or \
            mm.attr("transpose_a") or mm.attr("transpose_b") or len(mm.results[0].uses) != 1:
        return False
    a, b = (_unflattened(v, out.shape[:-2]) for v in mm.operands)
    if a is None or b is None or not dims_equal(out.shape[-2], mm.results[0].type.shape[-2]) or \
            not dims_equal(out.shape[-1], mm.results[0].type.shape[-1]):
        return False
    return _replace(rw, view, "llm.matmul", [a, b])


def raise_transposed_rhs(mm: Operation, rw: Rewriter) -> bool:
    """matmul(a, transpose(y, P)) -> matmul(a, transpose(y, P'), transpose_b) where P puts y's
    last two axes in reverse order and P' keeps them in order: canonicalize merges GPT-J's k.transpose(1, 2) and
    .transpose(-1, -2) into one permutation, which leaves no [B, H, S, D] key for the attention
    pattern to find; P' rebuilds it (the cached key, which CSE then shares)."""
    t = producer(mm.operands[1], "llm.transpose")
    rank = mm.operands[1].type.rank
    if t is None or mm.attr("transpose_b") or rank < 3:
        return False
    perm = list(t.attr("perm"))
    # only a permutation that swaps y's last two axes (a plain swap is matched as it is)
    if perm[-2] < perm[-1] or perm[:-2] == list(range(rank - 2)):
        return False
    perm[-2], perm[-1] = perm[-1], perm[-2]
    b = Builder.before_op(mm)
    key = b.op("llm.transpose", t.operands[0], perm=perm)
    rw.replace_op(mm, [b.op("llm.matmul", mm.operands[0], key,
                            transpose_a=mm.attr("transpose_a"), transpose_b=True)])
    return True


def _unflattened(v: Value, batch) -> Value | None:
    """x [*batch, M, K] (behind an expand to `batch`) for v = reshape(x) [prod(batch), M, K]."""
    r = producer(v, "llm.reshape")
    if r is None:
        return None
    x = r.operands[0]
    e = producer(x, "llm.expand")
    x = e.operands[0] if e is not None and e.operands[0].type.rank == x.type.rank else x
    shape = x.type.shape
    ok = len(shape) == len(batch) + 2 and all(dims_equal(d, 1) or dims_equal(d, want)
                                              for d, want in zip(shape[:-2], batch)) and \
        dims_equal(shape[-2], v.type.shape[1]) and dims_equal(shape[-1], v.type.shape[2])
    return x if ok else None


def _views(v: Value) -> Value:
    """Look through reshapes and expands (layout only)."""
    while True:
        op = producer(v, "llm.reshape") or producer(v, "llm.expand")
        if op is None:
            return v
        v = op.operands[0]


def _topk_weights(v: Value) -> tuple[Operation, bool] | None:
    """(topk op, normalised?) for the routing weights: topk values, optionally divided by their
    sum over the top-k axis (Mixtral's renormalisation)."""
    div = producer(v, "llm.div")
    if div is not None:
        vals, total = div.operands
        s = producer(total, "llm.reduce_sum")
        if s is not None and s.operands[0] is vals and isinstance(vals, OpResult) and \
                vals.op.name == "llm.topk" and vals.index == 0:
            return vals.op, True
    if isinstance(v, OpResult) and v.op.name == "llm.topk" and v.index == 0:
        return v.op, False
    return None


def _expert_gemm(v: Value, ids: Value) -> tuple[Value, Value] | None:
    """matmul(take(W, ids), x as a column) -> (W, x)."""
    mm = producer(_views(v), "llm.matmul")
    if mm is None:
        return None
    take = producer(mm.operands[0], "llm.take")
    if take is None or take.attr("axis") != 0 or _views(take.operands[1]) is not ids:
        return None
    return take.operands[0], _views(mm.operands[1])


def _silu_of(v: Value) -> Value | None:
    op = producer(v, "llm.silu")
    if op is not None:
        return op.operands[0]
    for g, s in binary(v, "llm.mul"):
        sig = producer(s, "llm.sigmoid")
        if sig is not None and sig.operands[0] is g:
            return g
    return None


def raise_moe(op: Operation, rw: Rewriter) -> bool:
    """HF's batched_mm experts: route (softmax, top-k, renormalise), gather each token's k
    expert matrices, gated-SiLU GEMVs, weight and sum over k -> llm.moe."""
    (r,) = op.operands
    if r.type.rank != 3 or op.attr("keepdim") or list(op.attr("axes")) != [1]:
        return False
    for y, w in binary(_views(r), "llm.mul"):
        routed = _topk_weights(_views(w))
        if routed is None:
            continue
        topk, normalize = routed
        ids = topk.results[1]
        down = _expert_gemm(y, ids)
        if down is None:
            continue
        w_down, act = down
        for a, u in binary(act, "llm.mul"):
            g = _silu_of(a)
            gs, us = producer(g, "llm.slice") if g else None, producer(u, "llm.slice")
            if gs is None or us is None or gs.operands[0] is not us.operands[0]:
                continue
            up = _expert_gemm(gs.operands[0], ids)
            probs = producer(topk.operands[0], "llm.softmax")
            if up is None or probs is None:
                continue
            w_gate_up, x = up
            router = _router_weight(probs.operands[0], x)
            if router is None:
                continue
            b = Builder.before_op(op)
            gate = b.op("llm.slice", w_gate_up, axis=1, start=gs.attr("start"), end=gs.attr("end"))
            upw = b.op("llm.slice", w_gate_up, axis=1, start=us.attr("start"), end=us.attr("end"))
            moe = b.op("llm.moe", x, router, gate, upw, w_down, top_k=topk.attr("k"),
                       normalize=normalize)
            if moe.type != op.results[0].type:  # x is the unflattened hidden state
                moe = b.op("llm.reshape", moe, result_type=op.results[0].type)
            rw.replace_op(op, [moe])
            return True
    return False


def _router_weight(logits: Value, x: Value) -> Value | None:
    logits = _views(logits)
    lin = producer(logits, "llm.linear")
    if lin is not None and _views(lin.operands[0]) is _views(x) and len(lin.operands) == 2:
        return lin.operands[1]
    mm = producer(logits, "llm.matmul")
    t = producer(mm.operands[1], "llm.transpose") if mm is not None else None
    if t is not None and _views(mm.operands[0]) is _views(x):
        return t.operands[0]
    return None


PATTERNS: PatternTable = {
    "llm.mul": [raise_silu, raise_gelu_tanh, raise_rmsnorm],
    "llm.add": [raise_rope],
    "llm.matmul": [raise_linear, raise_transposed_rhs],
    "llm.reshape": [raise_batched_matmul],
    "llm.reduce_sum": [raise_moe],
}


def pattern_table() -> PatternTable:
    """This module's patterns plus those for other frontends' decompositions."""
    from pimc.passes import raise_patterns_onnx, raise_patterns_torch_mlir
    table = {name: list(patterns) for name, patterns in PATTERNS.items()}
    for extra in (raise_patterns_onnx.PATTERNS, raise_patterns_torch_mlir.PATTERNS):
        for name, patterns in extra.items():
            table.setdefault(name, []).extend(patterns)
    return table


@dataclass(frozen=True)
class RaiseLlmOps(Pass):
    """Fold decomposed norms, rotary embeddings, activations, linear layers and MoE experts into
    llm ops."""

    name = "raise-llm-ops"

    def apply(self, ctx: Context, module: ModuleOp) -> None:
        apply_patterns(module, pattern_table())
