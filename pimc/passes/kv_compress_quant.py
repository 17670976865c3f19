"""kv-compress{method=quant}: KIVI (Liu et al. 2024) quantisation, with the quantised cache as the
state carried between generation steps.

Each layer's K and V are stored as KIVI stores them (pimc/ir/dialects/kv.py, "The stored KIVI
cache"): packed codes (8/bits to a byte along the head dim), scale, zero and the residual
buffer of the `window` most recent tokens at full precision, four tensors in place of each f32
cache (three with window=0):
- @prefill attends over the prompt at full precision and returns kv.quantize's results in
  place of each cache it returned;
- @decode takes those tensors in place of each past cache argument, kv.dequantize's them into
  the past cache its append reads, and quantises the grown cache: the attention (and the
  eviction scores of an earlier eviction) read its dequantisation, and the step returns the
  quantised grown cache, or, after an eviction, the quantised kept cache.

Codes cover every token, the residual tokens' included (stored as 0, unused), so all shapes
follow from the cache length S and the function's types stay symbolic in S alone; the
residual buffer has the fixed length `window`, right-aligned when fewer tokens exist.

A decode step quantises its whole grown cache again from the dequantised past (the token that
left the residual and the last, partly filled key group change their group's statistics), so
every value the attention reads is bit-identical to quantising and dequantising the f32 cache
at each step, as when the state was the dequantised f32 cache: the stored cache dequantises to
exactly that f32 cache. After an eviction the kept cache is quantised once more to be stored
(its key groups re-form over the kept tokens), and the next step's past is its dequantisation,
not the dequantised kept cache itself: values already on a group's grid get the same levels
again, so the two differ only where a re-derived scale rounds differently (llama-tiny, 10
decode steps: equal, or logits within 6e-8 and the same tokens).
"""
from __future__ import annotations

from pimc.errors import OptionError, PassFailure
from pimc.ir.attrs import ArrayAttr, DictAttr
from pimc.ir.builder import Builder
from pimc.ir.core import BlockArgument, Value
from pimc.ir.dialects.builtin import FuncOp
from pimc.ir.dialects.kv import QuantizeOp
from pimc.ir.opdef import infer_results
from pimc.ir.symbolic import dim_str
from pimc.passes.kv_compress_heads import _remove_argument
from pimc.passes.kv_compress_rewrite import _check_context, _where, record, replace_results
from pimc.passes.kv_compress_sites import Site, quantised_from

AXES = (("k", "channel"), ("v", "token"))  # KIVI: keys per channel, values per token
STATE = ("codes", "scale", "zero", "residual")


def quantize(site: Site, o) -> None:
    if o.ratio == 0:
        return  # the explicit no-compression setting: no bit width is lossless
    n, d = site.k.type.shape[2], site.k.type.shape[3]
    _check_context(site, n, n, 0, o.window)
    per = 8 // o.bits
    if per > 1 and (not isinstance(d, int) or d % per):
        raise OptionError(f"pass 'kv-compress': option 'bits' ({o.bits}) packs {per} codes to a "
                          f"byte along the head dim, which must be a static multiple of {per}; "
                          f"{_where(site)} has head dim {dim_str(d)}")
    attrs = dict(bits=o.bits, group=o.group, residual=o.window)
    for which in ("k", "v"):
        value = site.k if which == "k" else site.v
        if quantised_from(value) is not None or any(
                quantised_from(site.ret.operands[i]) is not None for i in site.results(which)):
            raise PassFailure(f"kv-compress: the cache of {_where(site)} is already quantised")
    if site.decode:
        for which, axis in AXES:
            _decode_step(site, which, axis, attrs)
    split = {}
    for which, axis in AXES:  # what the function returns: the stored cache(s)
        for i in site.results(which):
            value = site.ret.operands[i]
            source = quantised_from(value)  # @decode: the grown cache, quantised already
            split[i] = list(value.op.operands[0].op.results) if source is not None else \
                list(Builder.before_op(site.ret).op("kv.quantize", value, axis=axis, **attrs))
    replace_results(site, split, [])
    record(site, **attrs)


def _decode_step(site: Site, which: str, axis: str, attrs: dict) -> None:
    """Past argument -> stored-cache arguments, dequantised into the append; the grown cache
    quantised and dequantised for every op that read it."""
    value = site.k if which == "k" else site.v
    append = value.op
    past = append.operands[0]
    if not isinstance(past, BlockArgument):
        raise PassFailure(f"kv-compress: the past {which} cache of {_where(site)} is not a "
                          "function argument")
    state = _state_arguments(site.func, past, axis, attrs)
    append.set_operand(0, Builder.before_op(append).op("kv.dequantize", *state, axis=axis,
                                                       **attrs))
    _remove_argument(site.func, past)
    uses = list(value.uses)
    b = Builder.before_op(site.attention)
    stored = b.op("kv.quantize", value, axis=axis, **attrs)
    deq = b.op("kv.dequantize", *stored, axis=axis, **attrs)
    for op, index in uses:
        op.set_operand(index, deq)


def _state_arguments(func: FuncOp, past: BlockArgument, axis: str, attrs: dict) -> list[Value]:
    """The stored cache's tensors as arguments in `past`'s place, typed as kv.quantize of a
    cache of past's type types them."""
    given = {**attrs, "axis": axis}
    types = infer_results(QuantizeOp, (past.type,), {k: given[k] for k in QuantizeOp.attrs})
    hint = past.name_hint or f"arg{past.index}"
    made = [func.body.add_arg(t, f"{hint}_{tag}", past.index + 1 + i)
            for i, (t, tag) in enumerate(zip(types, STATE))]
    arg_attrs = func.attributes.get("arg_attrs")
    if isinstance(arg_attrs, ArrayAttr):
        items = list(arg_attrs.items)
        items[past.index + 1:past.index + 1] = [DictAttr.of({})] * len(made)
        func.attributes["arg_attrs"] = ArrayAttr(tuple(items))
    return made
