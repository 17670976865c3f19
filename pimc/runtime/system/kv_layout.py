"""The KV cache as kv-compress left it, in numbers a serving run needs: the tokens each cache
holds for a request and the bytes they take as stored.

kv-compress (passes/kv_compress.py) keeps the cache tensors at their symbolic lengths and says
what it did in the IR; this module reads it back per @decode state argument (a K or V cache,
or H2O's score accumulator), paired by position with @prefill's state results and @decode's
own (both list them in the same order after the logits):
* tokens: @prefill's result length at T = the prompt length P (eviction: P - floor(ratio*P),
  sink-window with a window: sinks + window), plus one per generated token where @decode
  returns one token more than it took (a growing cache: uncompressed, quant, think, snapkv's
  prefill-only budget); a cache @decode returns at the length it took keeps its budget
  (l2norm, sink-window, h2o evict one token per new one);
* bytes: KIVI's storage where the attention that reads the cache carries `bits` (op_costs'
  `kivi_bytes`: codes, per-group scale and zero, a full-precision residual); ThinK's pruned
  key channels (`kv.prune_channels` before @prefill's return) for the prompt's tokens, while
  @decode appends whole keys; elsewhere one element per channel at the counted width.
Per-layer and per-head patterns need nothing special: a full cache is a state argument like any
other, with its own length symbol (S) beside the compressed ones' (S_KV).

A request reserves its peak: every cache at its length after its last token. A layer's whole
prompt exists only while @prefill computes that layer, before eviction, so it is not reserved.
"""
from __future__ import annotations

import math
from fractions import Fraction
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import sympy

from pimc.errors import PimcError
from pimc.ir.attrs import DictAttr
from pimc.ir.core import Operation, Value
from pimc.ir.dialects.builtin import ModuleOp
from pimc.ir.symbolic import free_symbols, sym
from pimc.ir.types import TensorType
from pimc.passes.analyze_intensity import VIEWS, number_attr, op_cost
from pimc.passes.kv_compress_sites import MASK_LENGTH
from pimc.passes.op_costs import kivi_bytes
from pimc.runtime.system.parallel import ATTENTION_OPS, state_args

# ops between a @decode cache argument and the attention that reads it
_TO_ATTENTION = ("llm.concat", "kv.quantize", "kv.dequantize", "kv.heads", *VIEWS)
PRUNED = "S_PRUNED"  # the binding: tokens of a ThinK-pruned key cache that are the prompt's


@dataclass(frozen=True)
class Cache:
    """One @decode state argument."""
    symbol: str  # its length symbol in @decode: S, or S_KV for the compressed caches of a pattern
    heads: int
    dim: int  # channels per token; 1 for a per-token score
    role: str  # "k", "v", "state" (per-token scores), "fixed" (no length: `dim` elements in
    # all) or "aux" (KIVI's scale, zero or residual: counted with their codes, as KIVI lays out)
    prompt_len: sympy.Expr  # tokens kept of a T-token prompt (@prefill's result length)
    grows: bool  # @decode appends without evicting
    quant: tuple[int, int, int] | None = None  # KIVI's bits, group, residual
    channels: int = 0  # key channels kept for the prompt's tokens (ThinK); 0: all

    def tokens(self, prompt: int, generated: int) -> int:
        return _kept(self.prompt_len, prompt) + (generated if self.grows else 0)

    def pruned(self, prompt: int, generated: int) -> int:
        """Tokens whose keys ThinK pruned: the prompt's still held."""
        if not self.channels:
            return 0
        return self.tokens(prompt, 0) if self.grows else self.tokens(prompt, generated)

    def bytes(self, tokens: int, pruned: int, element: sympy.Rational) -> sympy.Rational:
        """Stored bytes of `tokens` tokens, `pruned` of them with ThinK's pruned keys."""
        keys = self.role == "k"
        if self.role == "aux":
            return sympy.Integer(0)
        if self.role == "fixed":
            return self.dim * element
        if self.quant is not None:
            bits, group, residual = self.quant
            per_head = sympy.sympify(kivi_bytes(tokens, self.dim if keys else 0,
                                                0 if keys else self.dim, bits, group,
                                                residual, element))
            if keys and pruned and tokens:  # the pruned tokens' codes and statistics shrink
                per_head *= sympy.Rational(pruned * self.channels + (tokens - pruned) * self.dim,
                                           tokens * self.dim)
        else:
            channels = pruned * self.channels + (tokens - pruned) * self.dim if keys \
                else tokens * self.dim
            per_head = channels * element
        return self.heads * per_head

    def element_bytes(self, element: sympy.Rational) -> sympy.Rational:
        """Stored bytes of one element of a quantised token (codes and its share of the
        statistics), or of one element."""
        if self.quant is None:
            return element
        bits, group, _ = self.quant
        return sympy.Rational(bits, 8) + (2 * element / group if self.role == "k" else
                                          2 * element * math.ceil(self.dim / group) / self.dim)


@dataclass(frozen=True, eq=False)
class KvLayout:
    caches: tuple[Cache, ...]
    element: sympy.Rational  # bytes of one element at the counted width
    readers: dict[int, list[Operation]] = field(default_factory=dict)  # cache -> attentions
    mask: bool = False  # @decode takes an evicting kv-compress's padding mask [B, S_MASK]

    @property
    def bytes_per_token(self) -> Fraction:
        """Stored bytes one more token of one sequence takes in every cache: KIVI's quantised
        token with its statistics' share, ThinK's pruned keys; eviction stores whole tokens."""
        total = sympy.Integer(0)
        for c in self.caches:
            if c.role in ("aux", "fixed"):
                continue
            per = c.element_bytes(self.element)
            if c.role == "k" and c.channels:
                total += c.heads * c.channels * per
            else:
                total += c.heads * c.dim * per
        return _fraction(total)

    @property
    def full_bytes_per_token(self) -> Fraction:
        """What one token takes in the uncompressed cache: every K/V head at the counted width."""
        return _fraction(sum((c.heads * c.dim * self.element for c in self.caches
                              if c.role in ("k", "v")), sympy.Integer(0)))

    def request_bytes(self, prompt: int, output: int) -> Fraction:
        """Stored bytes of one request's caches after its last token (its peak)."""
        return _request_bytes(self, prompt, output)

    def reserved_tokens(self, prompt: int, output: int) -> int:
        """What a request reserves, in stored tokens of `bytes_per_token`."""
        return math.ceil(self.request_bytes(prompt, output) / self.bytes_per_token)

    @cached_property
    def _length_kinds(self) -> list[Cache]:
        """One cache per (symbol, prompt length, growth): what `lengths` needs to look at."""
        kinds = {(c.symbol, c.prompt_len, c.grows): c for c in self.caches
                 if c.role not in ("aux", "fixed")}
        return list(kinds.values())

    @cached_property
    def compressed(self) -> bool:
        return any(c.quant or c.channels or not c.grows or
                   sympy.simplify(c.prompt_len - sym("T")) != 0 for c in self.caches)

    def lengths(self, requests: list[tuple[int, int]]) -> int | dict[str, int]:
        """@decode's bindings for requests of (prompt, generated tokens): the mean length of
        every cache symbol, and of ThinK's pruned tokens; the mean context alone when nothing
        is compressed (as serving.StepModel binds S)."""
        context = round(sum(p + g for p, g in requests) / len(requests))
        if not self.compressed:
            return context
        out: dict[str, int] = {"S": context}
        if self.mask:  # still the whole context and the new token, though S becomes a budget
            out[MASK_LENGTH] = context + 1
        seen: dict[str, float] = {}
        for c in self._length_kinds:
            mean = sum(c.tokens(p, g) for p, g in requests) / len(requests)
            seen[c.symbol] = max(seen.get(c.symbol, 0), mean)  # one symbol, one length
        out.update({s: round(v) for s, v in seen.items()})
        pruned = [c for c in self.caches if c.channels]
        if pruned:
            out[PRUNED] = round(sum(pruned[0].pruned(p, g) for p, g in requests) / len(requests))
        return out

    def charge_pruned_keys(self) -> None:
        """analyze-intensity prices @decode's attention at whole keys (the IR keeps pruned
        channels as zeros); take off what ThinK neither stores nor multiplies (Xu et al. 2024,
        §3: QK^T over the kept channels): for each of the S_PRUNED prompt tokens, (dim -
        channels) key elements per batch row and KV head, their multiply-add per query head,
        and their dequantisation (2 flops) where the cache is KIVI's."""
        for i, c in enumerate(self.caches):
            if c.role != "k" or not c.channels:
                continue
            for att in self.readers.get(i, []):
                cost = op_cost(att)
                if cost is None:
                    continue
                batch, heads = att.operands[1].type.shape[:2]
                queries = att.operands[0].type.shape[1]
                pruned = (c.dim - c.channels) * sym(PRUNED) * batch
                nbytes = sympy.expand(cost.bytes - pruned * heads * c.element_bytes(self.element))
                flops = sympy.expand(cost.flops - pruned * 2 * (queries + (heads if c.quant
                                                                           else 0)))
                att.attributes["cost"] = DictAttr.of({
                    "flops": number_attr(flops), "bytes": number_attr(nbytes),
                    "op_b": number_attr(sympy.cancel(flops / nbytes))})


@lru_cache(maxsize=4096)
def _request_bytes(layout: KvLayout, prompt: int, output: int) -> Fraction:
    return _fraction(sum((c.bytes(c.tokens(prompt, output), c.pruned(prompt, output),
                                  layout.element) for c in layout.caches), sympy.Integer(0)))


@lru_cache(maxsize=65536)
def _kept(prompt_len: sympy.Expr, prompt: int) -> int:
    """Tokens a cache keeps of a `prompt`-token prompt (its @prefill length at T = prompt)."""
    kept = int(sympy.sympify(prompt_len).xreplace({sym("T"): prompt}))
    return min(max(kept, 0), prompt)


def _fraction(x) -> Fraction:
    """An exact sympy rational as a Fraction (which compares equal to ints and floats)."""
    x = sympy.Rational(x)
    return Fraction(int(x.p), int(x.q))


def _length_symbol(t: TensorType) -> str | None:
    names = sorted(s.name for d in t.shape for s in getattr(d, "free_symbols", set())
                   if s.name != "B")
    return names[0] if names else None


def _aux(arg: Value) -> bool:
    """KIVI's scale, zero or residual tensor: a kv.dequantize operand after the codes."""
    return any(user.name == "kv.dequantize" and index > 0 for user, index in arg.uses)


def _readers(arg: Value) -> list[tuple[Operation, int]]:
    """The attentions reading `arg` (through its append, quantisation, head split, views), with
    the operand index (1: keys, 2: values)."""
    found, stack, seen = [], [arg], set()
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        for user, index in value.uses:
            if user.name in ATTENTION_OPS and index in (1, 2):
                found.append((user, index))
            elif user.name in _TO_ATTENTION and not (user.name == "kv.dequantize" and index):
                stack.extend(user.results)
    return found


def _kv_params(att: Operation) -> dict:
    kv = att.attributes.get("kv")
    if not isinstance(kv, DictAttr):
        return {}
    return {k: getattr(a, "value", getattr(a, "expr", None)) for k, a in kv.entries}


def _kept_channels(value: Value) -> int:
    """ThinK's kept key channels, where @prefill's returned cache comes from kv.prune_channels
    (maybe evicted or quantised after), else 0."""
    while getattr(value, "op", None) is not None and value.op.name.startswith("kv."):
        if value.op.name == "kv.prune_channels":
            return int(value.op.attr("keep"))
        value = value.op.operands[0]
    return 0


def kv_layout(module: ModuleOp, bits: int | None = None) -> KvLayout:
    """The layout of `module`'s KV cache, floats counted at `bits` (None: the IR's types)."""
    funcs = {f.sym_name: f for f in module.funcs}
    decode = funcs.get("decode")
    if decode is None:
        raise PimcError("simulate: the model has no @decode function (a decoder with a KV "
                        "cache is needed)")
    args = state_args(decode)
    if not args:
        raise PimcError("simulate: @decode has no KV-cache argument (no argument with a "
                        "length dim such as S)")
    n = len(args)
    returned = list(decode.body.last.operands)[-n:]
    prefill = funcs.get("prefill")
    kept = list(prefill.body.last.operands)[-n:] if prefill is not None and \
        len(prefill.body.last.operands) > n else [None] * n
    first = next((a.type.element for a in args if a.type.element.is_float), args[0].type.element)
    width = bits if bits is not None and first.is_float else first.bits
    caches, readers = [], {}
    for i, (arg, ret, pre) in enumerate(zip(args, returned, kept)):
        t, symbol = arg.type, _length_symbol(arg.type)
        if _aux(arg):
            caches.append(Cache("", 1, 0, "aux", sym("T"), False))
            continue
        if symbol is None:
            numel = int(sympy.sympify(t.numel).xreplace({sym("B"): 1}))
            caches.append(Cache("", 1, numel, "fixed", sym("T"), False))
            continue
        length = t.shape[2]
        grows = sympy.simplify(sympy.sympify(ret.type.shape[2]) - length) == 1
        prompt = sympy.sympify(pre.type.shape[2]) if pre is not None and pre.type.rank >= 3 \
            else sym("T")
        reads = _readers(arg)
        readers[i] = [att for att, _ in reads]
        role = "state" if t.rank == 3 or not reads else "k" if reads[0][1] == 1 else "v"
        params = _kv_params(reads[0][0]) if reads else {}
        quant = (params["bits"], params["group"], params.get("residual", 0)) \
            if params.get("bits") else None
        # the logical head dim: the attention's K/V (stored codes are packed bytes)
        dim = reads[0][0].operands[reads[0][1]].type.shape[3] if reads else \
            (t.shape[3] if t.rank == 4 else 1)
        channels = _kept_channels(pre) if pre is not None and role == "k" else 0
        caches.append(Cache(symbol, int(t.shape[1]), int(dim), role, prompt, bool(grows), quant,
                            channels if channels and channels < dim else 0))
    mask = any(MASK_LENGTH in free_symbols(a.type.shape) for a in decode.args
               if isinstance(a.type, TensorType))
    return KvLayout(tuple(caches), sympy.Rational(width, 8), readers, mask)


def stored_width(attention: Operation, tokens: int, head_dim: int,
                 element: float) -> float:
    """Bytes per K/V element an attention reads as stored: KIVI's codes and statistics where
    its `kv` attribute has `bits`, else `element`."""
    p = _kv_params(attention)
    if not p.get("bits") or tokens <= 0:
        return element
    stored = kivi_bytes(tokens, head_dim, head_dim, p["bits"], p["group"], p.get("residual", 0),
                        sympy.Rational(element).limit_denominator(64))
    return float(stored) / (2 * tokens * head_dim)


def batch_that_fits(layout: KvLayout, capacity_tokens: int, prompt: int, output: int) -> int:
    """Requests of `prompt` + `output` tokens that `capacity_tokens` stored tokens hold."""
    return capacity_tokens // layout.reserved_tokens(prompt, output)


def mean_request(requests) -> tuple[int, int]:
    n = len(requests)
    return (round(sum(r.prompt_len for r in requests) / n),
            round(sum(r.output_len for r in requests) / n))

