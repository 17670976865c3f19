"""The reference interpreter: evaluates any verified llm-dialect function with numpy.

It is the semantic oracle for passes and frontends, not the fast path. Every op computes in f32
(f64 for f64 tensors) and rounds to its result's element type, like PyTorch's CPU kernels do for
f16/bf16. Symbolic dims are bound from the inputs, and every result's shape is checked against
its IR type, so a shape rule that disagrees with the semantics is caught here.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pimc.errors import PimcError
from pimc.ir.core import Operation, Value
from pimc.ir.dialects.builtin import ModuleOp, ReturnOp
from pimc.ir.types import TensorType
from pimc.ir import reference_ops as ref
from pimc.ir.shape_binding import Bindings
from pimc.ir.weights import NUMPY_DTYPES, WeightsStore
from pimc.runtime import kv_ops, logic_kernels

Kernel = Callable[["_Frame", Operation, list[np.ndarray]], list[np.ndarray]]


class _Frame:
    def __init__(self, weights: WeightsStore | None):
        self.weights, self.bindings = weights, Bindings()


def _unary(fn):
    return lambda f, op, a: [fn(ref.compute(a[0]), op)]


def _binary(fn):
    return lambda f, op, a: [fn(ref.compute(a[0]), ref.compute(a[1]))]


def _weight(frame: _Frame, op, args):
    if frame.weights is None:
        raise PimcError(f"'{op.name}' needs a weights store (weight {op.attr('handle')!r})")
    return [frame.weights[op.attr("handle")]]


def _constant(frame: _Frame, op, args):
    return [np.full(frame.bindings.shape(op.results[0].type), op.attr("value"), np.float32)]


def _slice(frame: _Frame, op, args):
    index = [slice(None)] * args[0].ndim
    index[op.attr("axis")] = slice(frame.bindings.dim(op.attr("start")),
                                   frame.bindings.dim(op.attr("end")), op.attr("step"))
    return [args[0][tuple(index)]]


def _reshape(frame: _Frame, op, args):
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
# A pim or npu op computes what the llm op it lowers computes; only its data layout or tile
# schedule differs.
KERNELS["pim.gemv"], KERNELS["pim.attention"] = KERNELS["llm.linear"], KERNELS["llm.attention"]
KERNELS["npu.gemm"], KERNELS["npu.matmul"] = KERNELS["llm.linear"], KERNELS["llm.matmul"]
KERNELS.update(kv_ops.KERNELS)
KERNELS.update(logic_kernels.KERNELS)


def run(module: ModuleOp, func: str, inputs: Sequence[np.ndarray],
        weights: WeightsStore | None = None) -> list[np.ndarray]:
    """Evaluate `@func` on `inputs` (one array per argument, in order)."""
    fn = module.func(func)
    if len(inputs) != len(fn.args):
        raise PimcError(f"@{func} takes {len(fn.args)} inputs, got {len(inputs)}")
    frame = _Frame(weights)
    env: dict[Value, np.ndarray] = {}
    for i, (arg, array) in enumerate(zip(fn.args, inputs)):
        array = np.asarray(array)
        frame.bindings.bind(f"input #{i} of @{func}", arg.type, array)
        env[arg] = array
    for i, (arg, array) in enumerate(zip(fn.args, inputs)):
        frame.bindings.check(f"input #{i} of @{func}", arg.type, env[arg])
    for op in fn.body.ops:
        if isinstance(op, ReturnOp):
            return [env[v] for v in op.operands]
        kernel = KERNELS.get(op.name)
        if kernel is None:
            raise PimcError(f"the interpreter has no kernel for '{op.name}'; it knows: "
                            f"{', '.join(sorted(KERNELS))}")
        outs = kernel(frame, op, [env[v] for v in op.operands])
        for r, value in zip(op.results, outs):
            value = _as_type(value, r.type)
            frame.bindings.check(f"result #{r.index} of '{op.name}' at {op.src or op.loc}",
                                 r.type, value)
            env[r] = value
    raise PimcError(f"@{func} has no func.return")


def _as_type(value: np.ndarray, t: TensorType) -> np.ndarray:
    want = NUMPY_DTYPES.get(t.element.name)
    if want is None:
        raise PimcError(f"the interpreter cannot hold {t.element} values")
    value = np.asarray(value)
    return value if value.dtype == want else value.astype(want)
