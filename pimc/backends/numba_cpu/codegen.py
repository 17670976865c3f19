"""numba-cpu code generation: one Python driver function per IR function, one statement per op,
from a rule table `{op_name: rule}`. A rule returns the expression for the op's result(s) given
its operands' variable names. Heavy ops call the njit kernels (`K.*`); views and elementwise math
are numpy. Symbolic dims are Python variables bound from the inputs, and the dim syntax (`(S+1)`,
`(B*T)`, `(S//2)`) is already valid Python.
"""
from __future__ import annotations

import keyword
from collections.abc import Callable

from pimc.backends.base import RuleTable
from pimc.ir.core import BlockArgument, Operation, Value
from pimc.ir.dialects.builtin import FuncOp, ModuleOp, ReturnOp
from pimc.ir.symbolic import dim_str
from pimc.ir.types import TensorType

Rule = Callable[[Operation, list[str]], str]


def shape(t: TensorType) -> str:
    return "(" + "".join(f"{dim_str(d)}, " for d in t.shape) + ")"


def _res(op: Operation) -> TensorType:
    return op.results[0].type


def _ew(template: str) -> Rule:
    return lambda op, a: template.format(*a)


def _reduce(fn: str) -> Rule:
    return lambda op, a: f"np.{fn}({a[0]}, axis={tuple(op.attr('axes'))}, keepdims={op.attr('keepdim')})"


def _slice(op: Operation, a: list[str]) -> str:
    rank = op.operands[0].type.rank
    axis = op.attr("axis") % rank
    bound = f"{dim_str(op.attr('start'))}:{dim_str(op.attr('end'))}:{op.attr('step')}"
    return f"{a[0]}[{':, ' * axis}{bound}]"


def _cast(op: Operation, a: list[str]) -> str:
    elem = _res(op).element
    if elem.is_float:  # everything computes in f32: float-to-float casts are no-ops
        return f"{a[0]}.astype(np.float32, copy=False)"
    return f"{a[0]}.astype({'np.bool_' if elem.name == 'i1' else 'np.' + 'int' + str(elem.bits)})"


def _matmul(op: Operation, a: list[str]) -> str:
    lhs = f"np.swapaxes({a[0]}, -1, -2)" if op.attr("transpose_a") else a[0]
    rhs = f"np.swapaxes({a[1]}, -1, -2)" if op.attr("transpose_b") else a[1]
    return f"np.matmul({lhs}, {rhs})"


def _concat(op: Operation, a: list[str]) -> str:
    axis = op.attr("axis") % op.results[0].type.rank
    if len(a) == 2 and isinstance(op.operands[0], BlockArgument):  # a KV cache append
        return f"K.append({a[0]}, {a[1]}, {axis})"
    return f"np.concatenate(({', '.join(a)},), axis={axis})"


def _constant(op: Operation, a: list[str]) -> str:
    value = op.attr("value")
    return f"np.full({shape(_res(op))}, np.float32({value!r}))" if _res(op).rank else \
        f"np.float32({value!r})"


def _arange(op: Operation, a: list[str]) -> str:
    start, step = dim_str(op.attr("start")), op.attr("step")
    n = dim_str(_res(op).shape[0])
    return f"np.arange({start}, {start} + {n} * {step}, {step})"


RULES = RuleTable("numba-cpu", {
    "llm.weight": lambda op, a: f"W[{op.attr('handle')!r}]",
    "llm.constant": _constant,
    "llm.arange": _arange,
    **{f"llm.{k}": _ew(v) for k, v in {
        "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
        "maximum": "np.maximum({0}, {1})", "minimum": "np.minimum({0}, {1})",
        "neg": "-{0}", "exp": "np.exp({0})", "tanh": "np.tanh({0})", "sqrt": "np.sqrt({0})",
        "rsqrt": "1.0 / np.sqrt({0})", "reciprocal": "1.0 / {0}", "cos": "np.cos({0})",
        "sin": "np.sin({0})", "relu": "np.maximum({0}, 0.0)",
        "sigmoid": "1.0 / (1.0 + np.exp(-{0}))", "silu": "{0} / (1.0 + np.exp(-{0}))",
    }.items()},
    "llm.gelu": lambda op, a: f"R.gelu({a[0]}, {op.attr('approximate')!r}).astype(np.float32)",
    "llm.pow_scalar": lambda op, a: f"np.power({a[0]}, np.float32({op.attr('exponent')!r}))",
    "llm.reduce_sum": _reduce("sum"), "llm.reduce_mean": _reduce("mean"),
    "llm.reduce_max": _reduce("max"),
    "llm.reshape": lambda op, a: f"{a[0]}.reshape({shape(_res(op))})",
    "llm.expand": lambda op, a: f"np.broadcast_to({a[0]}, {shape(_res(op))})",
    "llm.cast": _cast,
    "llm.transpose": lambda op, a: f"np.transpose({a[0]}, {tuple(op.attr('perm'))})",
    "llm.concat": _concat,
    "llm.slice": _slice,
    "llm.gather": lambda op, a: f"np.take_along_axis({a[0]}, {a[1]}, axis={op.attr('axis')})",
    "llm.take": lambda op, a: f"np.take({a[0]}, {a[1]}, axis={op.attr('axis')})",
    "llm.embedding": lambda op, a: f"{a[1]}[{a[0]}]",
    "llm.topk": lambda op, a: f"R.topk({a[0]}, {op.attr('k')}, {op.attr('axis')})",
    "llm.matmul": _matmul,
    "llm.linear": lambda op, a: f"K.linear({', '.join(a)})",
    "llm.rmsnorm": lambda op, a: f"K.rmsnorm({a[0]}, {a[1]}, {op.attr('eps')!r})",
    "llm.layernorm": lambda op, a: f"R.layernorm({', '.join(a)}, eps={op.attr('eps')!r})",
    "llm.softmax": lambda op, a: f"K.softmax({a[0]}, {op.attr('axis')})",
    "llm.rope": lambda op, a: f"K.rope({', '.join(a)}, {op.attr('style')!r})",
    "llm.attention": lambda op, a: (f"K.attention({a[0]}, {a[1]}, {a[2]}, "
                                    f"{a[3] if len(a) > 3 else None}, {op.attr('causal')}, "
                                    f"{op.attr('scale')!r})"),
    "llm.moe": lambda op, a: f"K.moe({', '.join(a)}, {op.attr('top_k')}, {op.attr('normalize')})",
})


class _Names:
    def __init__(self):
        self.names: dict[Value, str] = {}

    def __call__(self, v: Value) -> str:
        if v not in self.names:
            hint = v.name_hint if v.name_hint and v.name_hint.isidentifier() and \
                not keyword.iskeyword(v.name_hint) and not v.name_hint[0].isupper() else None
            self.names[v] = f"{hint}_{len(self.names)}" if hint else f"v{len(self.names)}"
        return self.names[v]


def emit_function(func: FuncOp, table: RuleTable = RULES) -> str:
    """Python source of the driver for `func`: `def name(W, *inputs, **dims)`."""
    name = _Names()
    args = ", ".join(name(a) for a in func.args)
    lines = [f"def {func.sym_name}(W, {args}, **dims):"]
    symbols = sorted({s.name for a in func.args for d in a.type.shape if not isinstance(d, int)
                      for s in d.free_symbols})
    lines += [f"    {s} = dims[{s!r}]" for s in symbols]
    for op in func.body.ops:
        if isinstance(op, ReturnOp):
            lines.append(f"    return ({''.join(name(v) + ', ' for v in op.operands)})")
            continue
        expr = table[op.name](op, [name(v) for v in op.operands])
        targets = ", ".join(name(r) for r in op.results)
        lines.append(f"    {targets} = {expr}")
    return "\n".join(lines) + "\n"


def emit_module(module: ModuleOp, table: RuleTable = RULES) -> str:
    header = ("import numpy as np\n"
              "from pimc.backends.numba_cpu import kernels as K\n"
              "from pimc.ir import reference_ops as R\n\n")
    return header + "\n\n".join(emit_function(f, table) for f in module.funcs)
