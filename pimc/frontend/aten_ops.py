"""The core-ATen -> llm rule table used by the torch.export importer.

Each rule takes the importer and an FX node and returns the node's value: an IR Value, a tuple of
them (multi-output ops, read by operator.getitem), a symbolic dim (SymInt arithmetic), or None
(asserts). Result types always come from the node's FakeTensor metadata, so view-like ops need no
shape arithmetic here.
"""
from __future__ import annotations

import operator
from collections.abc import Callable

import torch

from pimc.frontend.fx_import import FxImporter, UnsupportedOp
from pimc.frontend.hf_attention import OP as HF_ATTENTION
from pimc.ir import TensorType
from pimc.ir.types import ELEMENT_TYPES
from pimc.ir.symbolic import as_dim, dims_equal

aten = torch.ops.aten
Rule = Callable[[FxImporter, torch.fx.Node], object]
RULES: dict[object, Rule] = {}


def rule(*targets):
    def register(fn: Rule) -> Rule:
        for t in targets:
            RULES[t] = fn
        return fn
    return register


def _arg(node, i, name, default=None):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def _axis(node, i, name, rank, default=0):
    a = _arg(node, i, name, default)
    return a % rank if rank else 0


# ---- views and copies (result shape from metadata) ----
@rule(aten.view.default, aten._unsafe_view.default, aten.reshape.default, aten.unsqueeze.default,
      aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default)
def _reshape(im: FxImporter, node):
    return im.b.op("llm.reshape", im.value(node.args[0]), result_type=im.type_of(node))


@rule(aten.expand.default)
def _expand(im, node):
    x, t = im.value(node.args[0]), im.type_of(node)
    return x if x.type == t else im.b.op("llm.expand", x, result_type=t)


@rule(aten.clone.default, aten.alias.default, aten.detach.default, aten.lift_fresh_copy.default)
def _identity(im, node):
    return im.value(node.args[0])


@rule(aten._to_copy.default, aten.to.dtype)
def _cast(im, node):
    x, t = im.value(node.args[0]), im.type_of(node)
    return x if x.type == t else im.b.op("llm.cast", x, result_type=t)


@rule(aten.permute.default)
def _permute(im, node):
    x = im.value(node.args[0])
    return im.b.op("llm.transpose", x, perm=[d % x.type.rank for d in node.args[1]])


@rule(aten.transpose.int, aten.t.default)
def _transpose(im, node):
    x = im.value(node.args[0])
    rank = x.type.rank
    a, b = (node.args[1] % rank, node.args[2] % rank) if len(node.args) > 1 else (0, 1)
    perm = list(range(rank))
    perm[a], perm[b] = perm[b], perm[a]
    return im.b.op("llm.transpose", x, perm=perm)


# ---- arithmetic ----
def _operand(im, arg, like):
    if im.is_tensor(arg):
        return im.value(arg)
    value = im.scalar(arg)
    if isinstance(value, (int, float)):
        return im.constant_like(float(value), like.type)
    # a symbolic length (HF's cache_position = arange(T) + S): a one-element ramp from it
    ramp = im.b.op("llm.arange", result_type=TensorType((1,), ELEMENT_TYPES["i64"]), start=value)
    scalar = im.b.op("llm.reshape", ramp, result_type=TensorType((), ramp.type.element))
    return _with_element(im, scalar, like.type.element)


def _binary(op_name):
    def convert(im, node):
        a, b = node.args[0], node.args[1]
        like = im.value(a) if im.is_tensor(a) else im.value(b)
        lhs, rhs = _operand(im, a, like), _operand(im, b, like)
        if lhs.type.element != rhs.type.element:  # torch promotes (ALiBi: bf16 slopes * i64)
            element = im.type_of(node).element
            lhs, rhs = _with_element(im, lhs, element), _with_element(im, rhs, element)
        alpha = node.kwargs.get("alpha", 1)
        if alpha != 1:
            rhs = im.b.op("llm.mul", rhs, im.constant_like(alpha, rhs.type))
        return _cast_to(im, node, im.b.op(op_name, lhs, rhs))
    return convert


def _with_element(im, v, element):
    if v.type.element == element:
        return v
    return im.b.op("llm.cast", v, result_type=v.type.with_element(element))


def _cast_to(im, node, v):
    t = im.type_of(node)
    return v if v.type == t else im.b.op("llm.cast", v, result_type=t)


for _t, _name in ((aten.add.Tensor, "llm.add"), (aten.add.Scalar, "llm.add"),
                  (aten.sub.Tensor, "llm.sub"), (aten.sub.Scalar, "llm.sub"),
                  (aten.mul.Tensor, "llm.mul"), (aten.mul.Scalar, "llm.mul"),
                  (aten.div.Tensor, "llm.div"), (aten.div.Scalar, "llm.div"),
                  (aten.maximum.default, "llm.maximum"), (aten.minimum.default, "llm.minimum")):
    RULES[_t] = _binary(_name)


@rule(aten.rsub.Scalar)
def _rsub(im, node):
    x = im.value(node.args[0])
    return im.b.op("llm.sub", im.constant_like(node.args[1], x.type), x)


_UNARY = {aten.neg.default: "llm.neg", aten.rsqrt.default: "llm.rsqrt", aten.sqrt.default: "llm.sqrt",
          aten.exp.default: "llm.exp", aten.tanh.default: "llm.tanh", aten.sigmoid.default: "llm.sigmoid",
          aten.silu.default: "llm.silu", aten.cos.default: "llm.cos", aten.sin.default: "llm.sin",
          aten.relu.default: "llm.relu", aten.reciprocal.default: "llm.reciprocal"}
for _t, _name in _UNARY.items():
    RULES[_t] = (lambda n: lambda im, node: im.b.op(n, im.value(node.args[0])))(_name)


@rule(aten.gelu.default)
def _gelu(im, node):
    return im.b.op("llm.gelu", im.value(node.args[0]),
                   approximate=node.kwargs.get("approximate", "none"))


@rule(aten.pow.Tensor_Scalar)
def _pow(im, node):
    return im.b.op("llm.pow_scalar", im.value(node.args[0]), exponent=float(node.args[1]))


def _reduce(op_name):
    def convert(im, node):
        x = im.value(node.args[0])
        axes = _arg(node, 1, "dim") or list(range(x.type.rank))
        axes = [axes] if isinstance(axes, int) else axes
        v = im.b.op(op_name, x, axes=[a % x.type.rank for a in axes],
                    keepdim=bool(_arg(node, 2, "keepdim", False)))
        return _cast_to(im, node, v)
    return convert


RULES[aten.mean.dim] = _reduce("llm.reduce_mean")
RULES[aten.sum.dim_IntList] = _reduce("llm.reduce_sum")
RULES[aten.amax.default] = _reduce("llm.reduce_max")


@rule(aten._softmax.default, aten.softmax.int)
def _softmax(im, node):
    x = im.value(node.args[0])
    return _cast_to(im, node, im.b.op("llm.softmax", x, axis=node.args[1] % x.type.rank))


# ---- linear algebra ----
@rule(aten.mm.default, aten.bmm.default, aten.matmul.default)
def _matmul(im, node):
    return im.b.op("llm.matmul", im.value(node.args[0]), im.value(node.args[1]))


@rule(aten.addmm.default)
def _addmm(im, node):
    if node.kwargs.get("beta", 1) != 1 or node.kwargs.get("alpha", 1) != 1:
        raise UnsupportedOp(f"aten.addmm with beta/alpha != 1 at node {node.name}")
    y = im.b.op("llm.matmul", im.value(node.args[1]), im.value(node.args[2]))
    return im.b.op("llm.add", y, im.value(node.args[0]))


@rule(aten.scaled_dot_product_attention.default)
def _sdpa(im, node):
    q, k, v = (im.value(a) for a in node.args[:3])
    mask = _arg(node, 3, "attn_mask")
    if _arg(node, 4, "dropout_p", 0.0):
        raise UnsupportedOp(f"scaled_dot_product_attention with dropout at node {node.name}")
    causal = bool(_arg(node, 5, "is_causal", False))
    t, s = q.type.shape[2], k.type.shape[2]
    if causal and not dims_equal(t, s):
        raise UnsupportedOp(f"node {node.name}: PyTorch's is_causal aligns the mask top-left, which "
                            "differs from pimc's bottom-right causal when query and key lengths "
                            "differ; pass an explicit mask instead")
    operands = [q, k, v] + ([im.value(mask)] if mask is not None else [])
    return im.b.op("llm.attention", *operands, causal=causal, scale=_arg(node, 6, "scale"))


@rule(HF_ATTENTION)
def _pimc_attention(im, node):
    """HF capture's attention (hf_attention.py): llm.attention with the same operands and
    attributes."""
    q, k, v, mask, causal, scale, window, softcap = node.args
    operands = [im.value(a) for a in (q, k, v, mask) if a is not None]
    return im.b.op("llm.attention", *operands, causal=causal, scale=scale, window=window,
                   softcap=softcap)


@rule(aten.native_layer_norm.default)
def _layernorm(im, node):
    x, w, b = im.value(node.args[0]), node.args[2], node.args[3]
    if w is None:  # OLMo's norm has no affine parameters; llm.layernorm always scales
        ones = TensorType((x.type.shape[-1],), x.type.element)
        weight = im.b.op("llm.constant", result_type=ones, value=1.0)
    else:
        weight = im.value(w)
    operands = [x, weight] + ([im.value(b)] if b is not None else [])
    return (im.b.op("llm.layernorm", *operands, eps=float(node.args[4])), None, None)


# ---- data movement ----
@rule(aten.cat.default)
def _cat(im, node):
    # torch.cat skips legacy empty 1-D tensors (HF's lazily initialised cache layers are these)
    xs = [im.value(a) for a in node.args[0] if im.type_of(a).shape != (0,)]
    if len(xs) == 1:
        return xs[0]
    return im.b.op("llm.concat", *xs, axis=_axis(node, 1, "dim", xs[0].type.rank))


@rule(aten.slice.Tensor)
def _slice(im, node):
    x = im.value(node.args[0])
    axis = _axis(node, 1, "dim", x.type.rank)
    size, out = x.type.shape[axis], im.type_of(node).shape[axis]
    start = im.scalar(_arg(node, 2, "start", 0)) or 0
    if isinstance(start, int) and start < 0:
        start = as_dim(size + start)
    step = _arg(node, 4, "step", 1)
    if dims_equal(out, size) and step == 1:
        return x
    # the last element taken is start + (out - 1) * step: x[1::2] of 16 ends at 16, not 17
    return im.b.op("llm.slice", x, axis=axis, start=start,
                   end=as_dim(start + (out - 1) * step + 1), step=step)


@rule(aten.select.int)
def _select(im, node):
    x = im.value(node.args[0])
    axis, index = node.args[1] % x.type.rank, im.scalar(node.args[2])
    if isinstance(index, int) and index < 0:
        index = as_dim(x.type.shape[axis] + index)
    part = im.b.op("llm.slice", x, axis=axis, start=index, end=as_dim(index + 1))
    return im.b.op("llm.reshape", part, result_type=im.type_of(node))


@rule(aten.split_with_sizes.default, aten.split.Tensor)
def _split(im, node):
    x = im.value(node.args[0])
    axis = _axis(node, 2, "dim", x.type.rank)
    parts, start = [], 0
    for i in range(len(node.meta["val"])):
        n = im.type_of(node, i).shape[axis]
        parts.append(im.b.op("llm.slice", x, axis=axis, start=start, end=as_dim(start + n)))
        start = as_dim(start + n)
    return tuple(parts)


@rule(aten.embedding.default)
def _embedding(im, node):
    return im.b.op("llm.embedding", im.value(node.args[1]), im.value(node.args[0]))


@rule(aten.topk.default)
def _topk(im, node):
    x = im.value(node.args[0])
    if not _arg(node, 3, "largest", True):
        raise UnsupportedOp(f"aten.topk with largest=False at node {node.name}")
    return im.b.op("llm.topk", x, k=int(node.args[1]), axis=_axis(node, 2, "dim", x.type.rank, -1))


@rule(aten.arange.start_step, aten.arange.start, aten.arange.default)
def _arange(im, node):
    start = im.scalar(node.args[0]) if node.target != aten.arange.default else 0
    step = _arg(node, 2, "step", 1) if node.target == aten.arange.start_step else 1
    return im.b.op("llm.arange", result_type=im.type_of(node), start=start, step=int(step))


@rule(aten.full.default, aten.scalar_tensor.default, aten.full_like.default)
def _full(im, node):
    value = node.args[0] if node.target == aten.scalar_tensor.default else node.args[1]
    return im.b.op("llm.constant", result_type=im.type_of(node), value=float(value))


@rule(operator.getitem)
def _getitem(im, node):
    item = im.env[node.args[0]][node.args[1]]
    if item is None:
        raise UnsupportedOp(f"node {node.name} reads an output pimc does not produce "
                            f"({node.args[0].target} output #{node.args[1]})")
    return item


@rule(aten._assert_tensor_metadata.default, aten._assert_scalar.default)
def _drop(im, node):
    return None


def convert(im: FxImporter, node: torch.fx.Node):
    val = node.meta.get("val")
    if isinstance(val, (torch.SymInt, int)) and not isinstance(val, bool):
        return im.dim(val)  # shape arithmetic (sym_size, operator.add, ...): a dim, not a tensor
    fn = RULES.get(node.target)
    if fn is None:
        where = im.location(node)
        raise UnsupportedOp(
            f"unsupported op '{node.target}' at node {node.name}"
            f"{f' ({where.describe()})' if where else ''}; the torch.export frontend supports: "
            f"{', '.join(sorted(map(str, RULES)))}. Hint: add a rule in pimc/frontend/aten_ops.py "
            "(or keep the op whole by removing it from the decomposition table)")
    return fn(im, node)


# rules that live in their own module register on import (it imports this one)
from pimc.frontend import aten_mask_ops  # noqa: E402,F401
