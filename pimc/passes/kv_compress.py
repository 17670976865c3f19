"""kv-compress: KV-cache compression written into the IR as kv dialect ops.

Rewrites the KV cache of every decoder layer (each llm.attention whose keys and values its
function returns) so that what is kept, and how it is stored, is explicit in the IR.

Eviction (`method=l2norm|sink-window|h2o|snapkv`) follows the fixed-budget convention of H2O and
StreamingLLM, with the budget set from the prompt as kvpress does:
- @prefill keeps `count = T - floor(ratio*T)` of the T prompt tokens in its returned caches
  (sink-window with an explicit `window`: `sinks + window`); the prompt's own attention still
  sees the whole prompt;
- @decode attends over `concat(past, new)` (S + 1 tokens), then evicts one token, so the
  returned cache keeps the budget: S tokens. SnapKV is prefill-only, as in its paper: @decode
  appends without evicting.
Which tokens are kept: `kv.keep` protects the first `sinks` and the last `window` tokens and
takes the rest by score:
- l2norm (Devoto et al. 2024): the keys with the LOWEST L2 norm (`kv.key_norm`);
- sink-window (StreamingLLM, Xiao et al. 2024): no score, the sinks and the most recent rest;
- h2o (Zhang et al. 2023): the accumulated attention probability (`kv.attention_score` with an
  accumulator). The accumulator is state: @prefill returns one [B, Hkv, count] score tensor per
  layer after its caches, and @decode takes it as an argument after its caches and returns the
  kept scores in the same place;
- snapkv (Li et al. 2024): attention of the last `window` prompt queries (the observation window,
  always kept), average-pooled with kernel `pool`.
Quantisation (`method=quant`, KIVI, Liu et al. 2024): keys per channel, values per token, `bits`
8/4/2 in groups of `group`, the `window` most recent tokens at full precision (the residual).
The quantised cache is the state between steps, as KIVI stores it: each cache @prefill returns
and @decode takes and returns becomes packed codes (i8 bytes, 8/bits codes each), scale, zero
and a residual buffer of `window` tokens (kv_compress_quant.py); @decode dequantises the past
into its append and its attention reads the quantised grown cache. The head dim must be a
static multiple of 8/bits.
Key-channel pruning (`method=think`, ThinK, Xu et al. 2024): in @prefill, `ratio` of each kv
head's key channels, those with the smallest ||Q_obs[:, d]||·||K[:, d]|| over the last `window`
prompt queries, are zeroed in the returned key cache; @decode appends unpruned keys.

Each compressed layer's attention records what was done to its cache in its `kv` attribute
(evict, ratio, kept; bits, group, residual; key_channels), for cost models and runtimes.

Combining: one eviction per layer, then `kv-compress{method=quant}` quantises what is kept (in
@decode the attention and the eviction scores then read the dequantised grown cache, and the
kept cache is stored quantised). ThinK goes
before eviction, which then scores and selects the pruned keys (the stored cache).

`ratio` is the evicted fraction, in [0, 1). ratio=0 is the explicit no-compression setting:
eviction keeps every token (the kv ops stay, as identities), think keeps every channel, and
quant inserts nothing (no bit width is lossless); for quant any other ratio is ignored.

`pattern` picks layers and heads, DuoAttention/RazorAttention style (retrieval heads keep the
full cache, streaming heads are compressed):
- one letter per layer, `C` (compress) or `F` (full cache), repeated over the layers: `FC`
  compresses the odd layers, `FFC` every third;
- per-layer groups separated by `/`, each one letter for the whole layer or one letter per KV
  head, repeated over the layers: `FC/` keeps KV head 0 of every layer whole and compresses
  head 1; `CF/F` splits layer 0 and keeps every odd layer whole. A split layer has two caches,
  its full heads' then its compressed heads', where it had one (kv_compress_heads.py); per-head
  groups apply to the eviction methods.
With a mixed pattern an evicting method gives the compressed caches in @decode their own length
symbol, S_KV: they hold the prompt's budget while the full caches' S grows.

An evicting method drops @decode's padding mask (the HF capture's `attention_mask`): the
evicted cache no longer lines up with it (kv_compress_sites.release_padding_mask), so
`Program.generate` runs ragged prompts as one batch per prompt length.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from pimc.errors import OptionError, PassFailure, unknown_name_message
from pimc.ir.dialects.builtin import ModuleOp
from pimc.passes.base import Context, Pass
from pimc.passes.kv_compress_rewrite import EVICTION, METHODS, rewrite
from pimc.passes.kv_compress_heads import split_heads
from pimc.passes.kv_compress_quant import quantize
from pimc.passes.kv_compress_sites import (Site, budget_symbol, own_budget, release_padding_mask,
                                          sites)

QUANT_BITS = (8, 4, 2)  # KIVI evaluates 4 and 2 bits (Liu et al. 2024, §4); 8 as a baseline
PREFILL_ONLY = ("snapkv", "think")

# Per-method defaults for sinks/window (-1 in the options means "the method's default").
# StreamingLLM keeps 4 attention sinks (Xiao et al. 2024, §3.2). SnapKV's observation window is
# 32 prompt tokens and its pooling kernel 5 (Li et al. 2024, §4; FasterDecoding/SnapKV
# window_size=32, kernel_size=5); ThinK scores channels over the same observation window
# (Xu et al. 2024, §3, built on SnapKV). KIVI's residual is 128 tokens and its group 32 (Liu
# et al. 2024, §4.1: R = 128, G = 32). H2O splits the budget evenly between heavy hitters and
# recent tokens (Zhang et al. 2023, §5): window=-1 gives half the kept count.
DEFAULT_SINKS = {"sink-window": 4}
DEFAULT_WINDOW = {"snapkv": 32, "think": 32, "quant": 128}


@dataclass(frozen=True)
class KvCompress(Pass):
    """Compress the KV cache: evict (l2norm, sink-window, h2o, snapkv), quantise (quant, KIVI)
    or prune key channels (think) into explicit kv dialect ops.

    Options: method, ratio (evicted fraction, [0, 1); 0 = no compression), bits (quant: 8, 4, 2),
    group (quant group size), sinks, window (-1: the method's default), pool (snapkv's kernel),
    pattern (C/F letters per layer, or per KV head in '/'-separated layer groups; cycled)."""

    name: ClassVar[str] = "kv-compress"
    method: str = ""
    ratio: float = 0.5
    bits: int = 8
    group: int = 32
    sinks: int = -1
    window: int = -1
    pool: int = 5
    pattern: str = ""

    def apply(self, ctx: Context, module: ModuleOp) -> None:
        self.check_options()
        found = [s for f in module.funcs for s in sites(f)]
        if not found:
            raise PassFailure(
                "kv-compress: the module has no llm.attention over a KV cache (no @prefill/@decode "
                "returning its caches; an encoder, or attention not raised: run raise-llm-ops "
                "first)")
        if self.method in PREFILL_ONLY and all(s.decode for s in found):
            raise PassFailure(f"kv-compress: method={self.method} compresses the prompt's "
                              "cache in @prefill; the module has no prefill function")
        policies = {id(s): self.policy(s) for s in found}
        mixed = any(p != "C" for p in policies.values())
        options = self.resolved()
        for func in {id(s.func): s.func for s in found}.values():
            here = [s for s in found if s.func is func]
            budget = budget_symbol(func)
            splits = any(isinstance(policies[id(s)], list) for s in here)  # per-head groups
            if self.method in EVICTION and (self.ratio > 0 or splits) and \
                    any(s.decode for s in here):
                release_padding_mask(func)
            if self.method in EVICTION and self.ratio > 0 and mixed:
                own_budget(func, [s for s in here if s.decode and policies[id(s)] == "C"],
                           budget)
            for site in here:
                policy = policies[id(site)]
                if isinstance(policy, list):
                    split_heads(site, policy, options, budget,
                                evicts=self.method not in PREFILL_ONLY)
                elif policy == "C" and self.method == "quant":
                    quantize(site, options)
                elif policy == "C" and not (site.decode and self.method in PREFILL_ONLY):
                    rewrite(site, options)
            func.update_type()

    def policy(self, site: Site) -> str | list[int]:
        """"C" (compress the layer), "F" (full cache), or the KV heads to compress."""
        if not self.pattern:
            return "C"
        items = [i for i in self.pattern.split("/") if i] if "/" in self.pattern \
            else list(self.pattern)
        item = items[site.layer % len(items)]
        if len(item) == 1:
            return item
        heads = site.k.type.shape[1]
        if len(item) != heads:
            raise OptionError(f"pass 'kv-compress': option 'pattern' gives layer {site.layer} of "
                              f"@{site.func.sym_name} {len(item)} head letters ('{item}'), but "
                              f"it has {heads} KV heads")
        compressed = [h for h, c in enumerate(item) if c == "C"]
        return "F" if not compressed else "C" if len(compressed) == heads else compressed

    def check_options(self) -> None:
        where = "pass 'kv-compress'"
        if self.method not in METHODS:
            raise OptionError(f"{where}: option 'method': " + (
                unknown_name_message("method", self.method, list(METHODS)) if self.method
                else f"required; one of {', '.join(METHODS)}"))
        if not 0 <= self.ratio < 1:
            raise OptionError(f"{where}: option 'ratio' must be in [0, 1) (the evicted fraction; "
                              f"0 = no compression), got {self.ratio}")
        if self.method == "quant" and self.bits not in QUANT_BITS:
            raise OptionError(f"{where}: option 'bits' must be one of "
                              f"{', '.join(map(str, QUANT_BITS))}, got {self.bits}")
        if self.group < 1:
            raise OptionError(f"{where}: option 'group' must be >= 1, got {self.group}")
        for key in ("sinks", "window"):
            if getattr(self, key) < -1:
                raise OptionError(f"{where}: option '{key}' must be >= 0 (or -1: the method's "
                                  f"default), got {getattr(self, key)}")
        if self.pool < 1 or self.pool % 2 == 0:
            raise OptionError(f"{where}: option 'pool' must be an odd kernel size >= 1, "
                              f"got {self.pool}")
        if self.pattern and (set(self.pattern) - set("CF/") or not set(self.pattern) - {"/"}):
            raise OptionError(f"{where}: option 'pattern' takes one letter per layer, C "
                              "(compress) or F (full cache), or per-layer groups of one letter "
                              f"per KV head separated by '/', got '{self.pattern}'")
        if "/" in self.pattern and self.method not in EVICTION:
            raise OptionError(f"{where}: option 'pattern': per-head letters apply to the "
                              f"eviction methods ({', '.join(EVICTION)}), not {self.method}")

    def resolved(self) -> KvCompress:
        """The options with the method's defaults filled in (window None: h2o's half count)."""
        sinks = self.sinks if self.sinks >= 0 else DEFAULT_SINKS.get(self.method, 0)
        window = self.window if self.window >= 0 else DEFAULT_WINDOW.get(self.method, 0)
        if self.window < 0 and self.method == "h2o":
            window = None
        if self.ratio == 0 and self.method != "quant":
            sinks, window = 0, 0  # keep every token and channel: nothing to protect or observe
        return dataclasses.replace(self, sinks=sinks, window=window)
