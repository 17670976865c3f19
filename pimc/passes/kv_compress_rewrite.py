"""The per-method rewrites of kv-compress (see kv_compress.py for the methods and conventions)."""
from __future__ import annotations

import sympy

from pimc.errors import OptionError, PassFailure
from pimc.ir.attrs import ArrayAttr, DictAttr
from pimc.ir.builder import Builder, to_attr
from pimc.ir.core import Value
from pimc.ir.dialects.builtin import ReturnOp
from pimc.ir.symbolic import Dim, dim_str
from pimc.ir.types import TensorType, f32
from pimc.passes.kv_compress_sites import Site, quantised_from

METHODS = ("l2norm", "sink-window", "h2o", "snapkv", "quant", "think")
EVICTION = ("l2norm", "sink-window", "h2o", "snapkv")


def rewrite(site: Site, o) -> None:
    """Evict or prune channels (quant: kv_compress_quant.py)."""
    if o.method == "think":
        _prune_channels(site, o)
    else:
        _evict(site, o)


def _where(site: Site) -> str:
    return f"layer {site.layer} of @{site.func.sym_name}"


def _evicted(n: Dim, ratio: float) -> Dim:
    """floor(ratio * n), exactly: the ratio as the decimal it was written as."""
    r = sympy.Rational(str(ratio))
    return int(sympy.floor(r * n)) if isinstance(n, int) else sympy.floor(r * n)


def _kept_count(site: Site, o, n: Dim) -> Dim:
    if o.ratio == 0:
        return n
    if site.decode:  # the budget the prompt set: evict one token per new one
        return n - 1
    if o.method == "sink-window" and o.window > 0:  # StreamingLLM's cache: sinks + window
        return o.sinks + o.window
    return n - _evicted(n, o.ratio)


def _check_context(site: Site, n: Dim, count: Dim, sinks: int, window: Dim) -> None:
    """The errors that the static context length already shows."""
    if not isinstance(n, int):
        return
    if isinstance(window, int) and window > n:
        raise OptionError(f"pass 'kv-compress': option 'window' ({window}) is larger than the "
                          f"{n}-token context of {_where(site)}")
    if isinstance(count, int) and count > n:
        raise OptionError(f"pass 'kv-compress': options 'sinks' + 'window' keep {count} tokens, "
                          f"more than the {n}-token context of {_where(site)}")
    if isinstance(count, int) and isinstance(window, int) and sinks + window > count:
        raise OptionError(f"pass 'kv-compress': options 'sinks' ({sinks}) + 'window' ({window}) "
                          f"exceed the {count} tokens kept of the {n}-token context of "
                          f"{_where(site)}; lower them or the option 'ratio'")


def record(site: Site, **params) -> None:
    """Merge what was done into the attention's `kv` attribute (architecture.md §3): which attention
    reads a compressed cache, and how, for the cost model and the runtimes."""
    att = site.attention
    old = att.attributes.get("kv")
    merged = dict(old.entries) if isinstance(old, DictAttr) else {}
    att.attributes["kv"] = DictAttr.of({**merged, **{k: to_attr(v) for k, v in params.items()}})


def check_uncompressed(site: Site) -> None:
    if quantised_from(site.k) is not None or quantised_from(site.returned("k")) is not None:
        raise PassFailure(f"kv-compress: the cache of {_where(site)} is already quantised; "
                          "evict before method=quant")
    if stored_keys(site) is not site.k or site.returned("v") is not site.v:
        raise PassFailure(f"kv-compress: the cache of {_where(site)} is already compressed "
                          f"(by {site.returned('k').op.name}); evict once per layer, and "
                          "before method=quant")


def stored_keys(site: Site) -> Value:
    """The key cache as stored: the attention's keys, or ThinK's pruned keys (an earlier
    kv-compress{method=think}), which eviction then selects from."""
    k = site.returned("k")
    op = getattr(k, "op", None)
    return k.op.operands[0] if op is not None and op.name == "kv.prune_channels" else k


def builder_after(site: Site, *values: Value) -> Builder:
    """Insert after the attention, or after the latest of `values` defined below it (ThinK's
    pruned keys sit just before func.return)."""
    anchor, op = site.attention, site.attention.next
    defining = {id(v.op) for v in values if getattr(v, "op", None) is not None}
    while op is not None:
        if id(op) in defining:
            anchor = op
        op = op.next
    return Builder(anchor.parent, anchor.next, site.attention.loc)


def _evict(site: Site, o) -> None:
    check_uncompressed(site)
    k = site.returned("k")
    b = builder_after(site, k)
    k, v, scores, count = evict_cache(b, site, site.attention.operands[0], k, site.v, o)
    site.ret.set_operand(site.k_result, k)
    site.ret.set_operand(site.v_result, v)
    if scores is not None:
        replace_results(site, {}, [scores])
    record(site, evict=o.method, ratio=o.ratio, kept=count)


def evict_cache(b: Builder, site: Site, q: Value, k: Value, v: Value, o):
    """Score, keep and select one cache (all of a layer's KV heads, or a per-head group):
    the kept K and V, H2O's kept scores (else None), and the kept count."""
    n = k.type.shape[2]
    count = _kept_count(site, o, n)
    window = o.window if o.window is not None else sympy.floor(sympy.sympify(count) / 2)
    window = int(window) if isinstance(window, sympy.Integer) else window
    _check_context(site, n, count, o.sinks, window)
    if o.method == "sink-window":  # kv.keep without scores keeps the sinks and the recent rest
        window = 0
    scale = site.attention.attr("scale")
    scores = None
    if o.method == "l2norm":
        scores = b.op("kv.key_norm", k)
    elif o.method == "h2o":
        acc = [_state_argument(site, k.op.operands[0])] if site.decode else []
        scores = b.op("kv.attention_score", q, k, *acc, scale=scale)
    elif o.method == "snapkv":
        scores = b.op("kv.attention_score", q, k, scale=scale, window=o.window, pool=o.pool)
    keep = b.op("kv.keep", k, *([scores] if scores is not None else []), count=count,
                sinks=o.sinks, window=window, largest=o.method != "l2norm")
    kept_k, kept_v = b.op("kv.select", k, keep), b.op("kv.select", v, keep)
    kept_scores = b.op("kv.select", scores, keep) if o.method == "h2o" else None
    return kept_k, kept_v, kept_scores, count


def _state_argument(site: Site, past: Value) -> Value:
    """@decode's H2O accumulator for this layer: [B, H, S], the kept scores of the step
    before, an argument after the caches (and after earlier layers' accumulators)."""
    func = site.func
    arg = func.body.add_arg(TensorType(past.type.shape[:3], f32), f"h2o_scores_{site.layer}")
    attrs = func.attributes.get("arg_attrs")
    if isinstance(attrs, ArrayAttr):
        func.attributes["arg_attrs"] = ArrayAttr(attrs.items + (DictAttr.of({}),))
    return arg


def replace_results(site: Site, split: dict[int, list[Value]], extra: list[Value]) -> None:
    """func.return with result i replaced by the values split[i] (in place) and `extra`
    appended."""
    ret = site.ret
    operands = []
    for i, value in enumerate(ret.operands):
        operands += split.get(i, [value])
    Builder.before_op(ret).insert(ReturnOp(operands + extra, loc=ret.loc))
    ret.drop_operand_uses()
    ret.detach()


def _prune_channels(site: Site, o) -> None:
    q, ret = site.attention.operands[0], site.ret
    if len(site.results("k")) > 1:
        raise PassFailure(f"kv-compress: method=think on {_where(site)}, whose heads a per-head "
                          "pattern split into two caches, is not supported; prune channels "
                          "first, then evict")
    k = site.returned("k")
    d, n = k.type.shape[3], k.type.shape[2]
    if not isinstance(d, int):
        raise PassFailure(f"kv-compress: method=think needs a static head dim, {_where(site)} "
                          f"has {dim_str(d)}")
    t = q.type.shape[2]
    if isinstance(t, int) and o.window > t:
        raise OptionError(f"pass 'kv-compress': option 'window' ({o.window}) is larger than the "
                          f"{t}-token context of {_where(site)}")
    _check_context(site, n, n, 0, 0)
    keep = d - _evicted(d, o.ratio)
    pruned = Builder.before_op(ret).op("kv.prune_channels", k, q, keep=keep, window=o.window)
    ret.set_operand(site.k_result, pruned)
    record(site, key_channels=keep)
