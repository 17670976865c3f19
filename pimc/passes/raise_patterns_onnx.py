"""raise-llm-ops patterns for the forms the onnx frontend's graphs take (merged into the pass's
pattern table by raise_llm_ops.py).

torch.onnx writes aten.rsqrt as Reciprocal(Sqrt(x)), and, below opset 23 (which has no Attention
op), scaled_dot_product_attention as its math: q and k^T each scaled by sqrt(scale), k^T formed
as reshape -> transpose -> reshape, GQA's shared kv heads repeated by unsqueeze -> expand ->
reshape, an additive mask, softmax and a second matmul. The ONNX frontend imports a causal mask
(which ONNX builds from Trilu over shape arithmetic) as one canonical expression over llm.arange,
`min(relu(j - (i + S - T)), 1) * fill` (onnx_import._causal_mask). The attention pattern keeps
any mask as an operand; raise_masks.py then recognises what the mask computes (causal, window,
padding from attention_mask) and folds it into llm.attention's flags.
"""
from __future__ import annotations

from pimc.errors import VerifyError
from pimc.ir.builder import Builder
from pimc.ir.core import Operation, Value
from pimc.ir.symbolic import dims_equal, product
from pimc.ir.shapes import dims_equal_tuple
from pimc.passes.match import binary, either, producer, splat
from pimc.passes.rewrite import PatternTable, Rewriter


def raise_rsqrt(op: Operation, rw: Rewriter) -> bool:
    """reciprocal(sqrt(x)) -> rsqrt(x)."""
    sqrt = producer(op.operands[0], "llm.sqrt")
    if sqrt is None:
        return False
    rw.replace_op(op, [Builder.before_op(op).op("llm.rsqrt", sqrt.operands[0])])
    return True


def raise_linear_bias(add: Operation, rw: Rewriter) -> bool:
    """linear(x, w) + b -> linear(x, w, b): ONNX writes a biased aten.linear as MatMul + Add, so
    the bias add follows the view back from the flattened GEMM rather than preceding it."""
    for y, bias in either(add):
        lin = producer(y, "llm.linear")
        if lin is None or len(lin.operands) != 2 or len(y.uses) != 1 or bias.type.rank != 1 or \
                add.results[0].type != y.type:
            continue
        rw.replace_op(add, [Builder.before_op(add).op("llm.linear", *lin.operands, bias)])
        return True
    return False


def raise_attention(mm: Operation, rw: Rewriter) -> bool:
    """softmax((q*a @ (k*b)^T)*c [+ mask]) @ v, k and v maybe with repeated kv heads, the
    softmax maybe NaN-guarded -> attention(q, k, v [, mask]){scale = a*b*c, causal}."""
    if mm.attr("transpose_a") or mm.attr("transpose_b"):
        return False
    probs, v_rep = mm.operands
    sm = producer(_unguarded(probs), "llm.softmax")
    if sm is None or probs.type.rank != 4 or sm.attr("axis") != 3:
        return False
    (scores, scale), mask = _scaled(sm.operands[0]), None
    add = producer(sm.operands[0], "llm.add")
    if add is not None:
        (scores, scale), mask = next((
            (_scaled(s), m) for s, m in either(add) if s.type == add.results[0].type and
            producer(_scaled(s)[0], "llm.matmul")), ((None, 1.0), None))
    qk = producer(scores, "llm.matmul") if scores is not None else None
    if qk is None or qk.attr("transpose_a"):
        return False
    q, scale_q = _scaled(qk.operands[0])
    kt, scale_k = _scaled(qk.operands[1])
    k_rep = kt if qk.attr("transpose_b") else _untranspose(kt)
    if q.type.rank != 4 or k_rep is None:
        return False
    (k, groups), (v, v_groups) = _repeated_kv(k_rep), _repeated_kv(v_rep)
    if k is None or v is None or groups != v_groups or \
            not dims_equal(k.type.shape[1] * groups, q.type.shape[1]):
        return False
    if mask is not None and splat(mask) == 0.0:  # adds nothing (a decode step's mask)
        mask = None
    operands = [q, k, v] + ([mask] if mask is not None else [])  # raise_masks reads the mask
    b = Builder.before_op(mm)
    try:
        out = b.op("llm.attention", *operands, causal=False, scale=scale * scale_q * scale_k)
    except VerifyError:  # shapes that only looked like attention
        return False
    if out.type != mm.results[0].type:
        out.op.erase()
        return False
    rw.replace_op(mm, [out])
    return True


def _unguarded(p: Value) -> Value:
    """p behind HF's NaN guard `where(isnan(p), 0, p)` (a query whose keys are all masked gets
    NaN from the softmax, and the guard makes its row zeros, as llm.attention gives it)."""
    where = producer(p, "llm.where")
    if where is None:
        return p
    cond, zero, x = where.operands
    isnan = producer(cond, "llm.isnan")
    guarded = isnan is not None and isnan.operands[0] is x and splat(zero) == 0.0
    return x if guarded and x.type == p.type else p


def _scaled(v: Value) -> tuple[Value, float]:
    """v = x * c (or x / c) with a one-element splat c that does not broadcast x: (x, c);
    else (v, 1)."""
    for x, c in binary(v, "llm.mul"):
        if _scalar(c) and x.type == v.type:
            return x, float(splat(c))
    div = producer(v, "llm.div")
    if div is not None and _scalar(div.operands[1]) and splat(div.operands[1]) != 0 and \
            div.operands[0].type == v.type:
        return div.operands[0], 1 / float(splat(div.operands[1]))
    return v, 1.0


def _scalar(c: Value) -> bool:
    return splat(c) is not None and all(d == 1 for d in c.type.shape)


def _untranspose(kt: Value) -> Value | None:
    """x with kt = x^T over the last two dims, x's leading dims possibly viewed differently:
    transpose(x){perm=[..., -1, -2]}, or reshape(transpose(reshape(x, [N, S, D]), [0, 2, 1]))."""
    t = producer(kt, "llm.transpose")
    rank = kt.type.rank
    if t is not None and t.attr("perm") == tuple(range(rank - 2)) + (rank - 1, rank - 2):
        return t.operands[0]
    outer = producer(kt, "llm.reshape")
    t = producer(outer.operands[0], "llm.transpose") if outer else None
    inner = producer(t.operands[0], "llm.reshape") if t else None
    if inner is None or t.attr("perm") != (0, 2, 1):
        return None
    x, flat = inner.operands[0], inner.results[0]
    same = dims_equal_tuple(x.type.shape[-2:], flat.type.shape[-2:]) and \
        dims_equal_tuple(kt.type.shape[-2:], t.results[0].type.shape[-2:]) and \
        dims_equal(product(kt.type.shape[:-2]), flat.type.shape[0]) and \
        dims_equal(product(x.type.shape[:-2]), flat.type.shape[0])
    return x if same else None


def _through_views(v: Value) -> Value:
    """Look through reshapes that keep the last two dims (they only regroup heads and batch)."""
    while (r := producer(v, "llm.reshape")) is not None and \
            dims_equal_tuple(r.operands[0].type.shape[-2:], v.type.shape[-2:]):
        v = r.operands[0]
    return v


def _repeated_kv(v: Value) -> tuple[Value | None, int]:
    """(k, groups) for v = k [B, Hkv, S, D] with each kv head repeated `groups` times
    (reshape(expand(reshape(k, [B, Hkv, 1, S, D]), [B, Hkv, G, S, D]), [B, Hkv*G, S, D])),
    or (v, 1) for a plain 4-D v."""
    v = _through_views(v)
    e = producer(v, "llm.expand")
    if e is None:
        return (v, 1) if v.type.rank == 4 else (None, 1)
    src, k = e.operands[0], _through_views(e.operands[0])
    (b, hkv, one, s, d), (eb, ehkv, g, es, ed) = src.type.shape, e.results[0].type.shape
    ok = src.type.rank == 5 and one == 1 and k.type.rank == 4 and \
        dims_equal_tuple(k.type.shape, (b, hkv, s, d)) and \
        dims_equal_tuple((eb, ehkv, es, ed), (b, hkv, s, d)) and isinstance(g, int)
    return (k, g) if ok else (None, 1)


def _raise_mask(op: Operation, rw: Rewriter) -> bool:
    from pimc.passes.raise_masks import raise_attention_mask
    return raise_attention_mask(op, rw)


PATTERNS: PatternTable = {
    "llm.reciprocal": [raise_rsqrt],
    "llm.add": [raise_linear_bias],
    "llm.matmul": [raise_attention],
    # exporter-agnostic (it reads what the mask computes), so torch.export graphs that build
    # their own masks (Falcon, GPT-J) get it too
    "llm.attention": [_raise_mask],
}
