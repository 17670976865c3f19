"""The reference kernels: what each llm-dialect op computes, as `{op name: kernel}` over numpy.

They live with the IR, beside the op semantics they call (reference_ops.py,
logic_reference.py), so that both the interpreter (runtime) and passes that evaluate a small
subgraph at compile time (raise-masks' probes) use one table without a layer importing upward.
A kernel takes a `Frame` (the weights store and the bound symbolic dims), the op and its
operand arrays, and returns its result arrays; rounding to the result type is the caller's.
The interpreter adds the pim/npu aliases and the kv dialect's kernels (runtime/kv_ops.py).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pimc.errors import PimcError
from pimc.ir import logic_reference
from pimc.ir import reference_ops as ref
from pimc.ir.core import Operation
from pimc.ir.shape_binding import Bindings
from pimc.ir.weights import WeightsStore

Kernel = Callable[["Frame", Operation, list[np.ndarray]], list[np.ndarray]]


class Frame:
    def __init__(self, weights: WeightsStore | None):
        self.weights, self.bindings = weights, Bindings()


def _unary(fn):
    return lambda f, op, a: [fn(ref.compute(a[0]), op)]


def _binary(fn):
    return lambda f, op, a: [fn(ref.compute(a[0]), ref.compute(a[1]))]


def _weight(frame: Frame, op, args):
    if frame.weights is None:
        raise PimcError(f"'{op.name}' needs a weights store (weight {op.attr('handle')!r})")
    return [frame.weights[op.attr("handle")]]


def _constant(frame: Frame, op, args):
    return [np.full(frame.bindings.shape(op.results[0].type), op.attr("value"), np.float32)]


def _slice(frame: Frame, op, args):
    index = [slice(None)] * args[0].ndim
    index[op.attr("axis")] = slice(frame.bindings.dim(op.attr("start")),
                                   frame.bindings.dim(op.attr("end")), op.attr("step"))
    return [args[0][tuple(index)]]


def _reshape(frame: Frame, op, args):
    return [args[0].reshape(frame.bindings.shape(op.results[0].type))]


KERNELS: dict[str, Kernel] = {
    **{f"llm.{name}": _unary(fn) for name, fn in ref.UNARY.items()},
    **{f"llm.{name}": _binary(fn) for name, fn in ref.BINARY.items()},
    **{f"llm.reduce_{name}": (lambda fn: lambda f, op, a: [fn(ref.compute(a[0]), axis=tuple(
        op.attr("axes")), keepdims=op.attr("keepdim"))])(fn) for name, fn in ref.REDUCE.items()},
    "llm.weight": _weight,
    "llm.constant": _constant,
    "llm.reshape": _reshape,
    "llm.slice": _slice,
    "llm.cast": lambda f, op, a: [a[0]],  # rounding to the result type happens for every op
    "llm.transpose": lambda f, op, a: [np.transpose(a[0], op.attr("perm"))],
    "llm.arange": lambda f, op, a: [f.bindings.dim(op.attr("start")) + op.attr("step") * np.arange(
        f.bindings.shape(op.results[0].type)[0])],
    "llm.expand": lambda f, op, a: [np.broadcast_to(a[0], f.bindings.shape(op.results[0].type))],
    "llm.take": lambda f, op, a: [np.take(a[0], a[1], axis=op.attr("axis"))],
    "llm.concat": lambda f, op, a: [np.concatenate(a, axis=op.attr("axis"))],
    "llm.gather": lambda f, op, a: [np.take_along_axis(a[0], a[1], axis=op.attr("axis"))],
    "llm.embedding": lambda f, op, a: [a[1][a[0]]],
    "llm.topk": lambda f, op, a: list(ref.topk(ref.compute(a[0]), op.attr("k"), op.attr("axis"))),
    "llm.matmul": lambda f, op, a: [ref.matmul(ref.compute(a[0]), ref.compute(a[1]),
                                               op.attr("transpose_a"), op.attr("transpose_b"))],
    "llm.linear": lambda f, op, a: [ref.linear(*map(ref.compute, a))],
    "llm.rmsnorm": lambda f, op, a: [ref.rmsnorm(*map(ref.compute, a), op.attr("eps"))],
    "llm.layernorm": lambda f, op, a: [ref.layernorm(*map(ref.compute, a), eps=op.attr("eps"))],
    "llm.softmax": lambda f, op, a: [ref.softmax(ref.compute(a[0]), op.attr("axis"))],
    "llm.rope": lambda f, op, a: [ref.rope(*map(ref.compute, a), op.attr("style"))],
    "llm.attention": lambda f, op, a: [ref.attention(
        *map(ref.compute, a), causal=op.attr("causal"), scale=op.attr("scale"),
        window=op.attr("window"), softcap=op.attr("softcap"))],
    "llm.moe": lambda f, op, a: [ref.moe(*map(ref.compute, a), op.attr("top_k"),
                                         op.attr("normalize"))],
}
KERNELS.update(logic_reference.KERNELS)
