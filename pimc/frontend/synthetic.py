"""A Llama-style decoder written directly in fine-grained llm ops, the way a frontend emits it.

It is the embedded model behind `pimc demo` and the IR-scale benchmark, and a realistic input
for pass tests: it has the f32 upcasts around norms and softmax, the reshape/transpose chains of
decomposed projections, the cos/sin views that every layer recomputes, and a dead op per layer.
Weights are `llm.weight` handles named as in HF checkpoints; nothing is inlined.
"""
from __future__ import annotations

from dataclasses import dataclass

from pimc.ir import Builder, FuncOp, ModuleOp, TensorType
from pimc.ir.attrs import WeightAttr
from pimc.ir.builder import to_attr
from pimc.ir.core import Value
from pimc.ir.dialects.builtin import ReturnOp
from pimc.ir.location import NameLoc
from pimc.ir.symbolic import sym
from pimc.ir.types import ELEMENT_TYPES, f32


@dataclass(frozen=True)
class DecoderShape:
    layers: int = 2
    hidden: int = 256
    heads: int = 8
    kv_heads: int = 2
    ffn: int = 512
    vocab: int = 1000
    dtype: str = "f16"
    qkv_bias: bool = True  # as in Qwen2

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


class _Layer:
    def __init__(self, b: Builder, cfg: DecoderShape, index: int):
        self.b, self.cfg, self.i = b, cfg, index
        self.dt = ELEMENT_TYPES[cfg.dtype]

    def weight(self, name: str, *shape) -> Value:
        full = f"model.layers.{self.i}.{name}.weight" if self.i >= 0 else f"{name}.weight"
        return self.b.op("llm.weight", result_type=TensorType(shape, self.dt), handle=WeightAttr(full))

    def t(self, *shape, elem=None) -> TensorType:
        return TensorType(tuple(shape), elem or self.dt)

    def rmsnorm(self, x: Value, name: str) -> Value:
        b, d = self.b, self.cfg.hidden
        shape = x.type.shape
        x32 = b.op("llm.cast", x, result_type=TensorType(shape, f32))
        sq = b.op("llm.mul", x32, x32)
        ms = b.op("llm.reduce_mean", sq, axes=[-1], keepdim=True)
        eps = b.op("llm.constant", result_type=TensorType((), f32), value=1e-6)
        inv = b.op("llm.rsqrt", b.op("llm.add", ms, eps))
        y = b.op("llm.cast", b.op("llm.mul", x32, inv), result_type=x.type)
        return b.op("llm.mul", y, self.weight(name, d))

    def proj(self, x: Value, name: str, out: int, bias: bool = False) -> Value:
        """x @ W^T (+ b) as the ATen decomposition of aten.linear emits it: view, permute, mm,
        add, view."""
        b = self.b
        *lead, k = x.type.shape
        rows = lead[0] * lead[1]
        w = self.weight(name, out, k)
        flat = b.op("llm.reshape", x, result_type=self.t(rows, k))
        y = b.op("llm.matmul", flat, b.op("llm.transpose", w, perm=[1, 0]))
        if bias:
            y = b.op("llm.add", y, self.b.op("llm.weight", result_type=self.t(out),
                                              handle=WeightAttr(f"model.layers.{self.i}.{name}.bias")))
        return b.op("llm.reshape", y, result_type=self.t(*lead, out))

    def heads(self, x: Value, n: int) -> Value:
        bsz, t, _ = x.type.shape
        x = self.b.op("llm.reshape", x, result_type=self.t(bsz, t, n, self.cfg.head_dim))
        return self.b.op("llm.transpose", x, perm=[0, 2, 1, 3])

    def rope(self, x: Value, cos: Value, sin: Value) -> Value:
        b, half = self.b, self.cfg.head_dim // 2
        x1 = b.op("llm.slice", x, axis=-1, start=0, end=half)
        x2 = b.op("llm.slice", x, axis=-1, start=half, end=2 * half)
        rot = b.op("llm.concat", b.op("llm.neg", x2), x1, axis=-1)
        return b.op("llm.add", b.op("llm.mul", x, cos), b.op("llm.mul", rot, sin))

    def softmax(self, s: Value) -> Value:
        b = self.b
        s32 = b.op("llm.cast", s, result_type=s.type.with_element(f32))
        p = b.op("llm.softmax", s32, axis=-1)
        return b.op("llm.cast", p, result_type=s.type)

    def attention(self, x: Value, cos: Value, sin: Value, cache: tuple[Value, Value] | None,
                  mask: Value | None) -> tuple[Value, Value, Value]:
        b, cfg = self.b, self.cfg
        bsz, t, _ = x.type.shape
        # HF's apply_rotary_pos_emb unsqueezes cos/sin in every layer: views that CSE merges.
        # It also casts them to the activation dtype: a no-op cast when they already are.
        cos, sin = (b.op("llm.cast", b.op("llm.reshape", c, result_type=self.t(
            bsz, 1, t, cfg.head_dim)), result_type=self.t(bsz, 1, t, cfg.head_dim))
            for c in (cos, sin))
        bias, kv_dim = cfg.qkv_bias, cfg.kv_heads * cfg.head_dim
        q = self.proj(x, "self_attn.q_proj", cfg.hidden, bias)
        q = self.rope(self.heads(q, cfg.heads), cos, sin)
        k = self.rope(self.heads(self.proj(x, "self_attn.k_proj", kv_dim, bias), cfg.kv_heads),
                      cos, sin)
        v = self.heads(self.proj(x, "self_attn.v_proj", kv_dim, bias), cfg.kv_heads)
        if cache is not None:
            k = b.op("llm.concat", cache[0], k, axis=2)
            v = b.op("llm.concat", cache[1], v, axis=2)
        groups, s = cfg.heads // cfg.kv_heads, k.type.shape[2]
        # GQA by broadcasting: q [B, Hkv, G, T, D] against k [B, Hkv, 1, S, D]
        qg = b.op("llm.reshape", q, result_type=self.t(bsz, cfg.kv_heads, groups, t, cfg.head_dim))
        kg = b.op("llm.reshape", k, result_type=self.t(bsz, cfg.kv_heads, 1, s, cfg.head_dim))
        vg = b.op("llm.reshape", v, result_type=self.t(bsz, cfg.kv_heads, 1, s, cfg.head_dim))
        scores = b.op("llm.matmul", qg, kg, transpose_b=True)
        scale = b.op("llm.constant", result_type=self.t(), value=cfg.head_dim ** -0.5)
        scores = b.op("llm.mul", scores, scale)
        if mask is not None:  # HF slices the causal mask to the key length in every layer
            mask = b.op("llm.slice", mask, axis=3, start=0, end=s)
            mask = b.op("llm.reshape", mask, result_type=self.t(1, 1, 1, t, s))
            scores = b.op("llm.add", scores, mask)
        ctx = b.op("llm.matmul", self.softmax(scores), vg)
        ctx = b.op("llm.reshape", ctx, result_type=self.t(bsz, cfg.heads, t, cfg.head_dim))
        ctx = b.op("llm.transpose", ctx, perm=[0, 2, 1, 3])
        ctx = b.op("llm.reshape", ctx, result_type=self.t(bsz, t, cfg.hidden))
        return self.proj(ctx, "self_attn.o_proj", cfg.hidden), k, v

    def mlp(self, x: Value) -> Value:
        b, f = self.b, self.cfg.ffn
        gate = self.proj(x, "mlp.gate_proj", f)
        act = b.op("llm.mul", gate, b.op("llm.sigmoid", gate))  # silu, decomposed
        b.op("llm.reduce_max", act, axes=[-1])  # dead: an activation statistic nobody reads
        return self.proj(b.op("llm.mul", act, self.proj(x, "mlp.up_proj", f)), "mlp.down_proj",
                         self.cfg.hidden)

    def __call__(self, h, cos, sin, cache, mask):
        attn, k, v = self.attention(self.rmsnorm(h, "input_layernorm"), cos, sin, cache, mask)
        h = self.b.op("llm.add", h, attn)
        return self.b.op("llm.add", h, self.mlp(self.rmsnorm(h, "post_attention_layernorm"))), k, v


def _function(module: ModuleOp, cfg: DecoderShape, decode: bool) -> None:
    dt = ELEMENT_TYPES[cfg.dtype]
    B, T, S = sym("B"), sym("T"), sym("S")
    t = 1 if decode else T
    keys = S + 1 if decode else T
    hd = cfg.head_dim
    inputs = [TensorType((B, t), ELEMENT_TYPES["i64"]), TensorType((B, t, hd), dt),
              TensorType((B, t, hd), dt)]
    names = ["ids", "cos", "sin"]
    if decode:
        for i in range(cfg.layers):
            inputs += [TensorType((B, cfg.kv_heads, S, hd), dt)] * 2
            names += [f"k_cache{i}", f"v_cache{i}"]
    else:
        inputs.append(TensorType((1, 1, T, T), dt))
        names.append("mask")
    kv_t = TensorType((B, cfg.kv_heads, keys, hd), dt)
    results = [TensorType((B, t, cfg.vocab), dt)] + [kv_t] * (2 * cfg.layers)
    func = FuncOp.create("decode" if decode else "prefill", inputs, results, names)
    module.body.append(func)
    b = Builder.at_end(func.body)
    ids, cos, sin = func.args[:3]
    mask = None if decode else func.args[3]
    head = _Layer(b, cfg, -1)
    h = b.op("llm.embedding", ids, head.weight("model.embed_tokens", cfg.vocab, cfg.hidden))
    caches = []
    for i in range(cfg.layers):
        b.loc = NameLoc(f"model.layers.{i}")
        cache = tuple(func.args[3 + 2 * i: 5 + 2 * i]) if decode else None
        h, k, v = _Layer(b, cfg, i)(h, cos, sin, cache, mask)
        caches += [k, v]
    b.loc = None
    h = head.rmsnorm(h, "model.norm")
    logits = head.proj(h, "lm_head", cfg.vocab)
    b.insert(ReturnOp([logits, *caches]))


def decoder_module(cfg: DecoderShape = DecoderShape()) -> ModuleOp:
    """A module with @prefill (T prompt tokens) and @decode (one token, KV caches of length S)."""
    module = ModuleOp(attributes={"pimc.model": to_attr("synthetic-llama")})
    _function(module, cfg, decode=False)
    _function(module, cfg, decode=True)
    return module
