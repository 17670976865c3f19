"""Where kv-compress finds a KV cache: each llm.attention whose keys and values its function
returns (the present cache), in @prefill (keys computed from the prompt) and @decode (keys are
`concat(past, new)` along the tokens, the past a function argument)."""
from __future__ import annotations

from dataclasses import dataclass

from pimc.errors import PassFailure
from pimc.ir.core import BlockArgument, Operation, Value
from pimc.ir.dialects.builtin import FuncOp, ReturnOp
from pimc.ir.opdef import OpDef, OpInvalid, infer_results
from pimc.ir.symbolic import free_symbols, sym
from pimc.ir.types import TensorType


@dataclass
class Site:
    func: FuncOp
    attention: Operation
    layer: int  # the attention's index in its function: the decoder layer
    decode: bool  # keys are concat(past argument, new rows): a step over a cache it was given

    @property
    def ret(self) -> ReturnOp:
        return self.func.body.last

    @property
    def k(self) -> Value:
        return self.attention.operands[1]

    @property
    def v(self) -> Value:
        return self.attention.operands[2]

    @property
    def k_result(self) -> int:
        """Which func.return operand is the present key cache (found again after every
        rewrite, as splitting another layer's cache shifts the results)."""
        return _result_of(self.ret, self.k)

    @property
    def v_result(self) -> int:
        return _result_of(self.ret, self.v)

    def returned(self, which: str) -> Value:
        return self.ret.operands[self.k_result if which == "k" else self.v_result]

    def results(self, which: str) -> list[int]:
        """Every result holding this layer's K (or V): two after a per-head split."""
        value = self.k if which == "k" else self.v
        return [i for i, r in enumerate(self.ret.operands) if _derived(r, value)]


def _result_of(ret: ReturnOp, value: Value) -> int:
    return next(i for i, r in enumerate(ret.operands) if _derived(r, value))


def is_append(v: Value) -> bool:
    """A KV append: concat along the tokens of the past cache, a function argument or (after
    kv-compress{method=quant}) the dequantised stored cache, and the new rows."""
    op = getattr(v, "op", None)
    return op is not None and op.name == "llm.concat" and op.attr("axis") in (2, -2) and \
        isinstance(_past(op.operands[0]), BlockArgument)


def _past(v: Value) -> Value:
    op = getattr(v, "op", None)
    return op.operands[0] if op is not None and op.name == "kv.dequantize" else v


def quantised_from(v: Value) -> Value | None:
    """The cache that kv-compress{method=quant} quantised into `v`: v is
    kv.dequantize(kv.quantize(x)...) or one of that kv.quantize's results; else None."""
    op = getattr(v, "op", None)
    if op is not None and op.name == "kv.dequantize":
        op = getattr(op.operands[0], "op", None)
    return op.operands[0] if op is not None and op.name == "kv.quantize" else None


def _derived(v: Value, target: Value) -> bool:
    """`v` is `target`, or made from it by kv ops (an earlier kv-compress): selected, or
    quantised (v one of the stored cache's tensors) and dequantised."""
    base = quantised_from(target)
    while v is not target and v is not base:
        op = getattr(v, "op", None)
        if op is None or not op.name.startswith("kv."):
            return False
        v = op.operands[0]  # the cache a select, quantize or dequantize (via its codes) reads
    return True


def sites(func: FuncOp) -> list[Site]:
    """The attention ops of `func` with their returned caches. An attention whose keys or
    values the function does not return is no KV cache: an error, not a silent skip."""
    ret = func.body.last
    if not isinstance(ret, ReturnOp):
        return []
    found = []
    attentions = [op for op in func.body.ops if op.name in ("llm.attention", "pim.attention")]
    for layer, att in enumerate(attentions):
        k, v = att.operands[1], att.operands[2]
        for value in (k, v):
            if not any(_derived(r, value) for r in ret.operands):
                what = "keys" if value is k else "values"
                raise PassFailure(
                    f"kv-compress: @{func.sym_name} has no KV cache: the {what} of llm.attention "
                    f"#{layer} ({att.loc or 'no location'}) are not a result of the function, so "
                    "there is no cache to compress (an encoder?); kv-compress needs a decoder's "
                    "@prefill/@decode that return their caches")
        decode = is_append(k) or is_append(quantised_from(k))
        found.append(Site(func, att, layer, decode=decode))
    return found


def budget_symbol(func: FuncOp) -> str:
    """The length symbol of compressed caches in a @decode whose full caches grow with S: S_KV,
    or S_KV2, ... when an earlier kv-compress took it."""
    used = set().union(*(free_symbols(a.type.shape) for a in func.args
                         if isinstance(a.type, TensorType)))
    return next(n for n in ("S_KV", *(f"S_KV{i}" for i in range(2, 100))) if n not in used)


def own_budget(func: FuncOp, decode_sites: list[Site], name: str) -> None:
    """Give the past caches of `decode_sites` their own length symbol `name`: a compressed
    layer's cache holds the budget the prompt set, while the full layers' caches grow, so one
    symbol S cannot bind both across decode steps. Types downstream of the renamed arguments are
    inferred again."""
    for site in decode_sites:
        for cache in (site.k, site.v):
            past = _append_of(cache).operands[0]
            shape = past.type.shape
            past.type = past.type.with_shape(shape[:2] + (sym(name),) + shape[3:])
    retype(func, name)


def retype(func: FuncOp, name: str = "") -> None:
    """Infer every op's result types again after argument types changed."""
    for op in func.body.ops:
        cls = type(op)
        if not isinstance(op, OpDef) or cls.infer is None or isinstance(op, ReturnOp):
            continue
        try:
            types = infer_results(cls, tuple(v.type for v in op.operands),
                                  cls.attr_values(op.attributes))
        except OpInvalid as e:
            raise PassFailure(f"kv-compress: giving the compressed caches of @{func.sym_name} "
                              f"their own length {name} breaks '{op.name}': {e}") from None
        for r, t in zip(op.results, types):
            r.type = t
    func.update_type()


MASK_LENGTH = "S_MASK"  # a released padding mask's own length symbol


def release_padding_mask(func: FuncOp) -> None:
    """Eviction leaves a decode step's cache without the token order the padding mask indexes
    (`attention_mask` [B, S+1] of the HF capture), so @decode's attentions drop their mask and
    the argument, now unused, gets a length of its own. `runtime.generate` then batches only
    prompts of one length together (no pads), as `takes_attention_mask` tells it."""
    from pimc.passes.dce import _dce_block
    for att in (op for op in func.body.ops if op.name in ("llm.attention", "pim.attention")):
        if len(att.operands) == 4:
            mask = att.operands.pop()
            mask.uses.remove((att, 3))
    _dce_block(func.body)
    for arg in func.args:
        if arg.name_hint == "attention_mask" and not arg.uses:
            arg.type = arg.type.with_shape(arg.type.shape[:-1] + (sym(MASK_LENGTH),))
    func.update_type()


def _append_of(v: Value) -> Operation:
    op = v.op
    return op if op.name == "llm.concat" else quantised_from(v).op  # through quant
