"""llm dialect, part 2: the graph-level LLM ops that placement and lowering reason about.

matmul/linear (GEMM or GEMV, by shape), norms, rope, softmax, attention with GQA, and MoE. The
fine-grained ops are in `llm_tensor.py`; `OPS` here is the whole dialect.
"""
from __future__ import annotations

from pimc.ir.dialects.llm_logic import OPS as LOGIC_OPS
from pimc.ir.dialects.llm_tensor import OPS as TENSOR_OPS
from pimc.ir.opdef import Attr, OpDef, fail
from pimc.ir.shapes import (broadcast_shapes, broadcasts_to, dim_eq, norm_axis, require_float,
                            same_element, tensor)
from pimc.ir.symbolic import dim_str
from pimc.ir.types import TensorType


class MatmulOp(OpDef):
    name = "llm.matmul"
    summary = "batched a @ b over the last two dims, optionally transposing either side"
    operand_names = ("a", "b")
    attrs = {"transpose_a": Attr("bool", False), "transpose_b": Attr("bool", False)}

    @staticmethod
    def infer(types, attrs):
        a, b = tensor(types[0], "a", min_rank=2), tensor(types[1], "b", min_rank=2)
        elem = same_element((a, b))
        m, ka = (a.shape[-1], a.shape[-2]) if attrs["transpose_a"] else a.shape[-2:]
        kb, n = (b.shape[-1], b.shape[-2]) if attrs["transpose_b"] else b.shape[-2:]
        dim_eq(ka, kb, f"contraction dims differ ({a} @ {b})")
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
        return (TensorType(batch + (m, n), elem),)


class LinearOp(OpDef):
    name, summary = "llm.linear", "x @ w^T + bias, with w laid out [out, in] as in torch"
    operand_names = ("x", "w", "bias?")

    @staticmethod
    def infer(types, attrs):
        x, w = tensor(types[0], "x", min_rank=1), tensor(types[1], "w", rank=2)
        elem = same_element(tuple(tensor(t, "operand") for t in types))
        dim_eq(x.shape[-1], w.shape[1], f"x's last dim must equal w's input dim ({x}, {w})")
        if len(types) == 3:
            bias = tensor(types[2], "bias", rank=1)
            dim_eq(bias.shape[0], w.shape[0], f"bias length must equal w's output dim ({bias}, {w})")
        return (TensorType(x.shape[:-1] + (w.shape[0],), elem),)


class RmsNormOp(OpDef):
    name, summary = "llm.rmsnorm", "x / sqrt(mean(x^2, -1) + eps) * w"
    operand_names = ("x", "w")
    attrs = {"eps": Attr("float", 1e-6)}

    @staticmethod
    def infer(types, attrs):
        x, w = tensor(types[0], "x", min_rank=1), tensor(types[1], "w", rank=1)
        require_float(x, "x")
        dim_eq(w.shape[0], x.shape[-1], f"w's length must equal x's last dim ({w}, {x})")
        return (x,)


class LayerNormOp(OpDef):
    name, summary = "llm.layernorm", "(x - mean) / sqrt(var + eps) * w + b over the last dim"
    operand_names = ("x", "w", "b?")
    attrs = {"eps": Attr("float", 1e-5)}

    @staticmethod
    def infer(types, attrs):
        x = tensor(types[0], "x", min_rank=1)
        require_float(x, "x")
        for i, t in enumerate(types[1:], 1):
            p = tensor(t, f"operand #{i}", rank=1)
            dim_eq(p.shape[0], x.shape[-1], f"operand #{i} length must equal x's last dim ({p}, {x})")
        return (x,)


class SoftmaxOp(OpDef):
    name, summary = "llm.softmax", "exp(x) / sum(exp(x)) along `axis`"
    operand_names = ("x",)
    attrs = {"axis": Attr("int", -1)}

    @staticmethod
    def infer(types, attrs):
        x = tensor(types[0], "operand")
        require_float(x, "operand")
        norm_axis(attrs["axis"], x.rank)
        return (x,)


class RopeOp(OpDef):
    name = "llm.rope"
    summary = "rotary position embedding: x * cos + rotate(x) * sin"
    operand_names = ("x", "cos", "sin")
    # "half": rotate_half as in HF Llama/Qwen2; "interleaved": pairs (2i, 2i+1) as in GPT-J.
    attrs = {"style": Attr("str", "half", choices=("half", "interleaved"))}

    @staticmethod
    def infer(types, attrs):
        x = tensor(types[0], "x", min_rank=2)
        cos, sin = tensor(types[1], "cos"), tensor(types[2], "sin")
        require_float(x, "x")
        same_element((cos, sin), "cos and sin")
        if isinstance(x.shape[-1], int) and x.shape[-1] % 2:
            fail(f"x's last dim must be even to rotate pairs, found {x}")
        broadcasts_to(cos.shape, x.shape, "cos")
        broadcasts_to(sin.shape, x.shape, "sin")
        return (x,)


class AttentionOp(OpDef):
    name = "llm.attention"
    summary = "softmax(cap(q k^T * scale) + mask) v, with GQA: Hq query heads share Hkv kv heads"
    operand_names = ("q", "k", "v", "mask?")
    # scale defaults to 1/sqrt(head_dim). Queries are the last T of the S keys (the
    # decode/prefill convention), so query t sits at position p = S - T + t. `causal` drops keys
    # after p; `window` drops keys at or before p - window (HF's sliding window: a query sees
    # itself and the window - 1 keys before it); `softcap` caps each score as
    # tanh(score / softcap) * softcap before the mask (Gemma 2). A mask is boolean (true:
    # attend) or additive; a query that may attend to no key at all (a left pad) gets zeros.
    attrs = {"causal": Attr("bool", False), "scale": Attr("float", None),
             "window": Attr("int", None), "softcap": Attr("float", None)}

    @staticmethod
    def infer(types, attrs):
        q = tensor(types[0], "q [B, Hq, T, D]", rank=4)
        k = tensor(types[1], "k [B, Hkv, S, D]", rank=4)
        v = tensor(types[2], "v [B, Hkv, S, Dv]", rank=4)
        elem = same_element((q, k, v), "q, k and v")
        dim_eq(q.shape[0], k.shape[0], f"batch of q and k differ ({q}, {k})")
        dim_eq(q.shape[3], k.shape[3], f"head dim of q and k differ ({q}, {k})")
        dim_eq(k.shape[1], v.shape[1], f"kv heads of k and v differ ({k}, {v})")
        dim_eq(k.shape[2], v.shape[2], f"key length of k and v differ ({k}, {v})")
        hq, hkv = q.shape[1], k.shape[1]
        if hkv == 0:  # before the modulo below
            fail(f"k and v must have at least one kv head, found {k}")
        if isinstance(hq, int) and isinstance(hkv, int) and hq % hkv:
            fail(f"query heads ({hq}) must be a multiple of kv heads ({hkv}) for GQA")
        if len(types) == 4:
            mask = tensor(types[3], "mask")
            broadcasts_to(mask.shape, (q.shape[0], hq, q.shape[2], k.shape[2]), "mask")
        if attrs.get("window") is not None and attrs["window"] < 1:
            fail(f"attribute 'window' = {attrs['window']} must be at least 1 (keys per query)")
        if attrs.get("softcap") is not None and not attrs["softcap"] > 0:
            fail(f"attribute 'softcap' = {attrs['softcap']} must be positive")
        return (TensorType(q.shape[:3] + (v.shape[3],), elem),)

    @property
    def groups(self) -> int:
        """Query heads per kv head (1 for MHA, Hq for MQA)."""
        return self.q.type.shape[1] // self.k.type.shape[1]


class MoeOp(OpDef):
    name = "llm.moe"
    summary = "router softmax -> top-k experts -> sum of weighted gated-MLP expert outputs"
    operand_names = ("x", "router", "w_gate", "w_up", "w_down")
    attrs = {"top_k": Attr("int"), "normalize": Attr("bool", True)}

    @staticmethod
    def infer(types, attrs):
        x = tensor(types[0], "x [..., D]", min_rank=1)
        router = tensor(types[1], "router [E, D]", rank=2)
        gate, up = tensor(types[2], "w_gate [E, F, D]", rank=3), tensor(types[3], "w_up [E, F, D]", rank=3)
        down = tensor(types[4], "w_down [E, D, F]", rank=3)
        same_element((x, router, gate, up, down))
        e, d, f = router.shape[0], x.shape[-1], gate.shape[1]
        dim_eq(router.shape[1], d, "router's input dim must equal x's last dim")
        for w, shape, what in ((gate, (e, f, d), "w_gate"), (up, (e, f, d), "w_up"),
                               (down, (e, d, f), "w_down")):
            for got, want, axis in zip(w.shape, shape, "EFD" if what != "w_down" else "EDF"):
                dim_eq(got, want, f"{what} dim {axis} mismatch ({w})")
        k = attrs["top_k"]
        if k < 1 or (isinstance(e, int) and k > e):
            fail(f"attribute 'top_k' = {k} must be in 1..{dim_str(e)} (the expert count)")
        return (x,)


OPS = [*TENSOR_OPS, *LOGIC_OPS, MatmulOp, LinearOp, RmsNormOp, LayerNormOp, SoftmaxOp, RopeOp,
       AttentionOp, MoeOp]
