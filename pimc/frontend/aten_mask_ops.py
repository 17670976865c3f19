"""Core-ATen rules for mask, position and index arithmetic: comparisons, booleans, `where`,
`cumsum`, powers of a constant, `repeat`, `gather` and multi-tensor indexing. Models that build
their own attention masks and biases (Falcon with or without ALiBi, GPT-J, which bypass HF's
attention interface) compute them with these; they register into the rule table of
`aten_ops.py`.
"""
from __future__ import annotations

import math

import torch

from pimc.frontend.aten_ops import RULES, _cast_to, _operand, _with_element, rule
from pimc.frontend.fx_import import UnsupportedOp

aten = torch.ops.aten


def _compare(predicate):
    def convert(im, node):
        a, b = node.args[0], node.args[1]
        like = im.value(a) if im.is_tensor(a) else im.value(b)
        lhs, rhs = _operand(im, a, like), _operand(im, b, like)
        # torch promotes int against float; compare in the float type
        element = rhs.type.element if rhs.type.element.is_float else lhs.type.element
        lhs, rhs = _with_element(im, lhs, element), _with_element(im, rhs, element)
        return im.b.op("llm.compare", lhs, rhs, predicate=predicate)
    return convert


for _p in ("eq", "ne", "lt", "le", "gt", "ge"):
    for _overload in ("Tensor", "Scalar"):
        RULES[getattr(getattr(aten, _p), _overload)] = _compare(_p)


def _logical(op_name):
    def convert(im, node):
        operands = [im.value(a) for a in node.args[:2]]
        if any(v.type.element.name != "i1" for v in operands):
            raise UnsupportedOp(f"node {node.name}: {node.target} on integers; pimc supports it "
                                "on booleans only")
        return im.b.op("llm.logical", *operands, op=op_name)
    return convert


for _t, _name in ((aten.bitwise_and.Tensor, "and"), (aten.logical_and.default, "and"),
                  (aten.bitwise_or.Tensor, "or"), (aten.logical_or.default, "or"),
                  (aten.bitwise_xor.Tensor, "xor"), (aten.logical_xor.default, "xor")):
    RULES[_t] = _logical(_name)


@rule(aten.bitwise_not.default, aten.logical_not.default)
def _not(im, node):
    x = im.value(node.args[0])
    if x.type.element.name != "i1":
        raise UnsupportedOp(f"node {node.name}: {node.target} on {x.type.element.name}; pimc "
                            "supports it on booleans only")
    return im.b.op("llm.not", x)


@rule(aten.where.self)
def _where(im, node):
    t = im.type_of(node)
    a, b = (_with_element(im, im.value(v), t.element) for v in node.args[1:3])
    return im.b.op("llm.where", im.value(node.args[0]), a, b)


# ---- position arithmetic (Falcon's ALiBi: slopes base**k, positions cumsum(mask) - 1) ----
@rule(aten.cumsum.default)
def _cumsum(im, node):
    x = im.value(node.args[0])
    return _cast_to(im, node, im.b.op("llm.cumsum", x, axis=node.args[1] % x.type.rank))


@rule(aten.pow.Tensor_Tensor, aten.pow.Scalar)
def _pow_of_constant(im, node):
    """base ** x for a constant base, as exp(x * ln(base)); pimc has no logarithm op for a
    computed base."""
    base = _constant_value(node.args[0])
    if base is None or base <= 0:
        raise UnsupportedOp(f"node {node.name}: {node.target} with base {node.args[0]}; pimc "
                            "supports a positive constant base (base ** x as exp(x * ln base))")
    t = im.type_of(node)
    x = _with_element(im, im.value(node.args[1]), t.element)
    scaled = im.b.op("llm.mul", x, im.constant_like(math.log(base), t))
    return im.b.op("llm.exp", scaled)


def _constant_value(arg) -> float | None:
    """A Python number, or the value of an aten.full / scalar_tensor node."""
    if isinstance(arg, (int, float)):
        return float(arg)
    if isinstance(arg, torch.fx.Node) and arg.target in (aten.full.default,
                                                         aten.scalar_tensor.default):
        value = arg.args[1] if arg.target == aten.full.default else arg.args[0]
        return float(value) if isinstance(value, (int, float)) else None
    return None


# ---- selection ----
@rule(aten.repeat.default)
def _repeat(im, node):
    """torch's repeat: tile along each axis; a size-1 axis is a broadcast (llm.expand), any
    other is that many copies concatenated. Extra leading repeats add axes."""
    x, counts = im.value(node.args[0]), [im.scalar(c) for c in node.args[1]]
    shape = (1,) * (len(counts) - x.type.rank) + tuple(x.type.shape)
    if shape != x.type.shape:
        x = im.b.op("llm.reshape", x, result_type=x.type.with_shape(shape))
    for axis, (n, size) in enumerate(zip(counts, shape)):
        if n == 1:
            continue
        if size == 1:
            grown = list(x.type.shape)
            grown[axis] = n
            x = im.b.op("llm.expand", x, result_type=x.type.with_shape(tuple(grown)))
        elif isinstance(n, int):
            x = im.b.op("llm.concat", *([x] * n), axis=axis)
        else:
            raise UnsupportedOp(f"node {node.name}: aten.repeat of an axis of size {size} by the "
                                f"symbolic count {n}; pimc repeats those by constant counts only")
    return x


@rule(aten.gather.default)
def _gather(im, node):
    x = im.value(node.args[0])
    return im.b.op("llm.gather", x, im.value(node.args[2]), axis=node.args[1] % x.type.rank)


@rule(aten.index.Tensor)
def _index(im, node):
    indices = node.args[1]
    picked = [i for i, a in enumerate(indices) if a is not None]
    if len(picked) == 1:
        axis = picked[0]
        return im.b.op("llm.take", im.value(node.args[0]), im.value(indices[axis]), axis=axis)
    return _outer_index(im, node, [im.value(a) for a in indices], picked)


def _outer_index(im, node, indices, picked):
    """x[i0, i1, ...] where the index tensors broadcast as an outer product (each varies along
    one axis of its own, in order: HF's mask[batch[:, None, None, None], kv[None, None, None, :]])
    is one numpy.take per indexed axis, then a reshape to the broadcast result."""
    x = im.value(node.args[0])
    varying = [[a for a, d in enumerate(i.type.shape) if d != 1] for i in indices]
    axes = [v[0] for v in varying if v]
    if picked != list(range(len(indices))) or any(len(v) > 1 for v in varying) or \
            axes != sorted(set(axes)):
        raise UnsupportedOp(f"aten.index.Tensor at node {node.name}: {len(picked)} index tensors "
                            "that do not index leading axes as an outer product; pimc supports "
                            "one index tensor, or one per leading axis each varying along its own "
                            "axis in order")
    for axis, i in enumerate(indices):
        n = next((d for d in i.type.shape if d != 1), 1)
        flat = im.b.op("llm.reshape", i, result_type=i.type.with_shape((n,)))
        x = im.b.op("llm.take", x, flat, axis=axis)
    return im.b.op("llm.reshape", x, result_type=im.type_of(node))
