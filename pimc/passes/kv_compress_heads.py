"""Per-head policies of kv-compress (DuoAttention's retrieval and streaming heads, RazorAttention's
retrieval heads): one layer's KV heads split into a full-cache group and a compressed group.

The two groups are two caches: @prefill returns, in place of the layer's K (and V) result, the
full heads' cache then the compressed heads' cache; @decode takes them as two arguments in the
same place, the compressed one of length S_KV (the prompt's budget) while the full one grows
with S. @decode's attention runs once per group, on the query heads of that group's KV heads
(GQA), and kv.merge_heads puts the outputs back in head order.
"""
from __future__ import annotations

from pimc.errors import PassFailure
from pimc.ir.attrs import ArrayAttr, DictAttr
from pimc.ir.builder import Builder
from pimc.ir.core import BlockArgument, Value
from pimc.ir.dialects.builtin import FuncOp
from pimc.ir.symbolic import sym
from pimc.ir.types import TensorType
from pimc.passes.kv_compress_rewrite import (builder_after, check_uncompressed, evict_cache,
                                             record, replace_results)
from pimc.passes.kv_compress_sites import Site


def query_heads(kv_heads: list[int], groups: int) -> list[int]:
    """The query heads that read the given KV heads (GQA: `groups` query heads per KV head)."""
    return [h * groups + i for h in kv_heads for i in range(groups)]


def split_heads(site: Site, compressed: list[int], o, budget: str, evicts: bool) -> None:
    """Split `site`'s layer into its full heads and its `compressed` heads; evict in the
    compressed group's cache when `evicts` (else, as SnapKV in @decode, only append)."""
    check_uncompressed(site)
    kv_heads = site.k.type.shape[1]
    full = [h for h in range(kv_heads) if h not in compressed]
    if site.decode:
        _split_decode(site, full, compressed, o, budget, evicts)
    else:
        _split_prefill(site, full, compressed, o)


def _split_prefill(site: Site, full: list[int], compressed: list[int], o) -> None:
    """The prompt attends over every head's whole cache; the compressed heads' returned cache
    keeps what the method keeps."""
    att = site.attention
    q, k, v = att.operands[0], site.returned("k"), site.v
    groups = q.type.shape[1] // k.type.shape[1]
    b = builder_after(site, k)
    kf, kc = (b.op("kv.heads", k, heads=h) for h in (full, compressed))
    vf, vc = (b.op("kv.heads", v, heads=h) for h in (full, compressed))
    qc = b.op("kv.heads", q, heads=query_heads(compressed, groups))
    kc, vc, scores, count = evict_cache(b, site, qc, kc, vc, o)
    replace_results(site, {site.k_result: [kf, kc], site.v_result: [vf, vc]},
                    [scores] if scores is not None else [])
    record(site, evict=o.method, ratio=o.ratio, kept=count, compressed_heads=compressed)


def _split_decode(site: Site, full: list[int], compressed: list[int], o, budget: str,
                  evicts: bool) -> None:
    func, att = site.func, site.attention
    q, kc_op, vc_op = att.operands[0], site.k.op, site.v.op
    groups = q.type.shape[1] // site.k.type.shape[1]
    b = Builder.before_op(att)
    parts = {}
    for name, append in (("k", kc_op), ("v", vc_op)):
        past, new = append.operands[0], append.operands[1]
        if not isinstance(past, BlockArgument):
            raise PassFailure(f"kv-compress: the past {name} cache of layer {site.layer} of "
                              f"@{func.sym_name} is not a function argument")
        past_full, past_comp = _split_argument(func, past, full, compressed, budget)
        parts[name] = [b.op("llm.concat", p, b.op("kv.heads", new, heads=h), axis=2)
                       for p, h in ((past_full, full), (past_comp, compressed))]
    attrs = {key: a for key, a in att.attributes.items() if key != "kv"}
    outs = []
    for i, heads in enumerate((full, compressed)):
        qh = b.op("kv.heads", q, heads=query_heads(heads, groups))
        outs.append(b.create(att.name, [qh, parts["k"][i], parts["v"][i]], attrs).results[0])
    merged = b.op("kv.merge_heads", *outs, heads=query_heads(full, groups))
    full_att, comp_att = outs[0].op, outs[1].op
    split_site = Site(func, comp_att, site.layer, decode=True)
    k_index, v_index = site.k_result, site.v_result
    att.results[0].replace_all_uses_with(merged)
    kept, scores = parts["k"][1:] + parts["v"][1:], None
    record(split_site, compressed_heads=compressed)
    record(Site(func, full_att, site.layer, decode=True), full_heads=full)
    if evicts:
        after = Builder(comp_att.parent, comp_att.next, comp_att.loc)
        kc, vc, scores, count = evict_cache(after, split_site, comp_att.operands[0],
                                            parts["k"][1], parts["v"][1], o)
        kept = [kc, vc]
        record(split_site, evict=o.method, ratio=o.ratio, kept=count)
    replace_results(site, {k_index: [parts["k"][0], kept[0]], v_index: [parts["v"][0], kept[1]]},
                    [scores] if scores is not None else [])
    att.erase()
    for append in (kc_op, vc_op):
        past = append.operands[0]
        append.erase()
        _remove_argument(func, past)


def _split_argument(func: FuncOp, past: BlockArgument, full: list[int], compressed: list[int],
                    budget: str) -> tuple[Value, Value]:
    """Two arguments in `past`'s place: the full heads' cache [B, |full|, S, D] and the
    compressed heads' [B, |compressed|, budget, D]."""
    b, _, s, d = past.type.shape
    hint = past.name_hint or f"arg{past.index}"
    index = past.index
    made = []
    for offset, (heads, length, tag) in enumerate(((full, s, "full"),
                                                   (compressed, sym(budget), "kept"))):
        t = TensorType((b, len(heads), length, d), past.type.element)
        made.append(func.body.add_arg(t, f"{hint}_{tag}", index + 1 + offset))
    attrs = func.attributes.get("arg_attrs")
    if isinstance(attrs, ArrayAttr):
        items = list(attrs.items)
        items[index + 1:index + 1] = [DictAttr.of({}), DictAttr.of({})]
        func.attributes["arg_attrs"] = ArrayAttr(tuple(items))
    return made[0], made[1]


def _remove_argument(func: FuncOp, arg: BlockArgument) -> None:
    """Drop an argument that splitting left without uses (a layer's original past cache)."""
    args = func.body.args
    attrs = func.attributes.get("arg_attrs")
    if isinstance(attrs, ArrayAttr):
        items = list(attrs.items)
        del items[arg.index]
        func.attributes["arg_attrs"] = ArrayAttr(tuple(items))
    args.remove(arg)
    for i, a in enumerate(args):
        a.index = i
    func.update_type()
