"""numba-cpu code generation: one Python driver function per IR function, from a rule table
`{op_name: rule}`. A rule returns the expression for the op's result(s) given its operands'
variable names. Heavy ops call the njit kernels (`K.*`); elementwise chains become generated
njit kernels (fusion.py), fused into the linear that produces their input where possible; the
rest is numpy. Every intermediate a kernel writes lives in a statically planned arena slot
(buffers.py), so a steady decode step allocates nothing. Symbolic dims are Python variables bound
from the inputs, and the dim syntax (`(S+1)`, `(B*T)`, `(S//2)`) is already valid Python.
"""
from __future__ import annotations

import keyword
from collections.abc import Callable

from pimc.backends.base import RuleTable
from pimc.backends.numba_cpu.buffers import Step, plan_buffers
from pimc.backends.numba_cpu.fusion import (Group, epilogue_index, epilogue_kernels, find_groups,
                                            inline_constant, loop_kernel)
from pimc.backends.numba_cpu.kv_rules import KV_RULES
from pimc.backends.numba_cpu.logic_rules import RULES as LOGIC_RULES
from pimc.ir.core import BlockArgument, Operation, Value
from pimc.ir.dialects.builtin import FuncOp, ModuleOp, ReturnOp
from pimc.ir.symbolic import dim_str
from pimc.ir.types import TensorType
from pimc.ir.weights import NUMPY_DTYPES

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
    if _is_append(op):  # a KV cache append
        return f"KV.append({a[0]}, {a[1]}, {axis})"
    return f"np.concatenate(({', '.join(a)},), axis={axis})"


def _constant(op: Operation, a: list[str]) -> str:
    value, t = op.attr("value"), _res(op)
    # a whole-valued integer constant stays an integer: an f32 0 made `arange + 0` float ids
    # (GPT-2's position ids under torch.compile), which embedding cannot index with; a
    # fractional one (`ids * 0.5`, promoted by a cast after it) stays f32
    whole = not t.element.is_float and float(value).is_integer()
    scalar = f"np.{NUMPY_DTYPES[t.element.name].name}({int(value)!r})" if whole else \
        f"np.float32({value!r})"
    return f"np.full({shape(t)}, {scalar})" if t.rank else scalar


def _arange(op: Operation, a: list[str]) -> str:
    start, step = dim_str(op.attr("start")), op.attr("step")
    n = dim_str(_res(op).shape[0])
    return f"np.arange({start}, {start} + {n} * {step}, {step})"


# Ops that write their result into a buffer the driver hands them: `out=` a planned arena slot,
# or None for a fresh array (a returned value). Their plain rules below are these with out=None.
def attention_call(lib: str, op: Operation, a: list[str], o: str | None) -> str:
    """`lib.attention(q, k, v, mask, causal, scale, window, softcap, out=o)`, the kernel call
    numba-cpu (K) and cuda (D) share."""
    return (f"{lib}.attention({a[0]}, {a[1]}, {a[2]}, {a[3] if len(a) > 3 else None}, "
            f"{op.attr('causal')}, {op.attr('scale')!r}, {op.attr('window')!r}, "
            f"{op.attr('softcap')!r}, out={o})")


OUT_RULES = {
    "llm.linear": lambda op, a, o: f"K.linear({a[0]}, {a[1]}, {a[2] if len(a) > 2 else None}, out={o})",
    "llm.rmsnorm": lambda op, a, o: f"K.rmsnorm({a[0]}, {a[1]}, {op.attr('eps')!r}, out={o})",
    "llm.softmax": lambda op, a, o: f"K.softmax({a[0]}, {op.attr('axis')}, out={o})",
    "llm.rope": lambda op, a, o: f"K.rope({', '.join(a)}, {op.attr('style')!r}, out={o})",
    "llm.attention": lambda op, a, o: attention_call("K", op, a, o),
    "llm.embedding": lambda op, a, o: f"K.embedding({a[0]}, {a[1]}, out={o})",
    "llm.moe": lambda op, a, o: (f"K.moe({', '.join(a)}, {op.attr('top_k')}, "
                                 f"{op.attr('normalize')}, out={o})"),
    "llm.matmul": lambda op, a, o: _matmul(op, a)[:-1] + f", out={o})",
}
_SAME_WORK = {"pim.gemv": "llm.linear", "pim.attention": "llm.attention",  # layouts differ only
              "npu.gemm": "llm.linear", "npu.matmul": "llm.matmul"}  # tiling is a schedule
OUT_RULES.update({pim: OUT_RULES[llm] for pim, llm in _SAME_WORK.items()})


def _fresh(out_rule: Callable) -> Rule:
    return lambda op, a: out_rule(op, a, None)


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
    "llm.topk": lambda op, a: f"R.topk({a[0]}, {op.attr('k')}, {op.attr('axis')})",
    "llm.layernorm": lambda op, a: f"R.layernorm({', '.join(a)}, eps={op.attr('eps')!r})",
    **{name: _fresh(rule) for name, rule in OUT_RULES.items()},
    **KV_RULES,
    **LOGIC_RULES,
})
# A concat that is not a KV append writes into a planned buffer too.
OUT_RULES["llm.concat"] = lambda op, a, o: _concat(op, a)[:-1] + f", out={o})"
_VIEWS = frozenset({"llm.reshape", "llm.transpose", "llm.slice", "llm.expand"})


def _kind(op: Operation) -> str:
    if op.name in _VIEWS or (op.name == "llm.cast" and op.operands[0].type.element.is_float
                             and _res(op).element.is_float):
        return "view"
    if op.name in OUT_RULES and not _is_append(op) and \
            all(r.type.element.is_float for r in op.results):
        return "planned"
    return "fresh"


def _is_append(op: Operation) -> bool:
    return op.name == "llm.concat" and len(op.operands) == 2 and \
        isinstance(op.operands[0], BlockArgument)


class _Names:
    def __init__(self):
        self.names: dict[Value, str] = {}

    def __call__(self, v: Value) -> str:
        if v not in self.names:
            hint = v.name_hint if v.name_hint and v.name_hint.isidentifier() and \
                not keyword.iskeyword(v.name_hint) and not v.name_hint[0].isupper() else None
            self.names[v] = f"{hint}_{len(self.names)}" if hint else f"v{len(self.names)}"
        return self.names[v]


class _Driver:
    """The statements of one driver, as planning steps that know how to print themselves.
    A backend that reuses this driver generator (cuda) subclasses it, replacing `out_rules` and
    `_group` (how fused elementwise kernels are emitted and called)."""

    out_rules = OUT_RULES

    def __init__(self, func: FuncOp, table: RuleTable, kernels: dict[str, str], fuse: bool):
        self.table, self.kernels, self.name = table, kernels, _Names()
        self.steps: list[Step] = []
        for a in func.args:  # arguments get the first names, as in the IR
            self.name(a)
        groups = find_groups(func) if fuse else []
        member = {op: g for g in groups for op in g.ops}
        at = {(g.linear or g.root): g for g in groups}
        skip = {g.through.owner for g in groups if g.linear and g.through.owner is not g.linear}
        inlined = {op for op in func.body.ops if op.results and inline_constant(op.results[0])
                   and all(user in member for r in op.results for user, _ in r.uses)}
        for op in func.body.ops:
            if op in at:
                self._group(at[op])
            elif op not in member and op not in skip and op not in inlined \
                    and not isinstance(op, ReturnOp):
                self._op(op)

    def _add(self, reads, defines, kind, op_name, emit):
        step = Step(list(reads), list(defines), kind, op_name)
        step.emit = emit
        self.steps.append(step)

    def _op(self, op: Operation) -> None:
        kind = _kind(op)
        targets = ", ".join(self.name(r) for r in op.results)
        args = [self.name(v) for v in op.operands]
        if kind == "planned":
            rule = self.out_rules[op.name]
            emit = lambda o: [f"{targets} = {rule(op, args, o)}"]
        else:
            expr = self.table[op.name](op, args)
            emit = lambda o: [f"{targets} = {expr}"]
        self._add(op.operands, op.results, kind, op.name, emit)

    def _kernel(self, named: tuple[str, str]) -> str:
        self.kernels.setdefault(*named)
        return named[0]

    def _group(self, g: Group) -> None:
        target = self.name(g.value)
        if g.linear is None:
            kernel = self._kernel(loop_kernel(g))
            args = "".join(f", {self.name(v)}" for v in g.inputs)
            fresh = f"np.empty({shape(g.value.type)}, np.float32)"
            emit = lambda o: [f"{target} = {o or fresh}", f"{kernel}({target}{args})"]
            self._add(g.inputs, [g.value], "planned", "fused", emit)
            return
        gemv, post = (self._kernel(k) for k in epilogue_kernels(g))
        extra = [v for v in g.inputs if v is not g.through]
        views = "".join(_epilogue_view(self.name(v), epilogue_index(v, g.value.type))
                        for v in extra)
        lin = [self.name(v) for v in g.linear.operands]
        bias = lin[2] if len(lin) > 2 else None
        emit = lambda o: [f"{target} = K.linear({lin[0]}, {lin[1]}, {bias}, out={o}, "
                          f"epilogue=({gemv}, {post}), extra=({views})).reshape({shape(g.value.type)})"]
        self._add([*g.linear.operands, *extra], [g.value], "planned", "linear+fused", emit)


def _epilogue_view(name: str, index: str) -> str:
    """An epilogue reads its inputs as [rows, N] (index [r, j]) or [N] (index [j])."""
    return f"{name}.reshape(-1, {name}.shape[-1]), " if index == "[r, j]" else f"{name}.reshape(-1), "


def emit_function(func: FuncOp, table: RuleTable = RULES, kernels: dict[str, str] | None = None,
                  fuse: bool = True, driver_class: type = _Driver) -> tuple[str, int]:
    """Python source of the driver for `func`, `def name(W, A, *inputs, **dims)`, and the
    number of arena slots it needs. Fused kernels are added to `kernels` (name -> source)."""
    driver = driver_class(func, table, {} if kernels is None else kernels, fuse)
    name = driver.name
    returned = list(func.body.ops)[-1].operands
    plan = plan_buffers(driver.steps, returned)
    args = ", ".join(name(a) for a in func.args)
    lines = [f"def {func.sym_name}(W, A, {args}, **dims):"]
    symbols = sorted({s.name for a in func.args for d in a.type.shape if not isinstance(d, int)
                      for s in d.free_symbols})
    lines += [f"    {s} = dims[{s!r}]" for s in symbols]
    for step in driver.steps:
        out = None
        if step.kind == "planned" and step.defines[0] in plan.slot:
            v = step.defines[0]
            out = f"A.get({plan.slot[v]}, {shape(v.type)})"
        lines += [f"    {line}" for line in step.emit(out)]
    lines.append(f"    return ({''.join(name(v) + ', ' for v in returned)})")
    return "\n".join(lines) + "\n", plan.slots


HEADER = ("import math\n"
          "from math import inf, nan  # constants print as repr(float): -inf, nan\n"
          "import numpy as np\n"
          "from numba import njit, prange\n"
          "from pimc.backends.numba_cpu import kernels as K, kv_cache as KV\n"
          "from pimc.ir import logic_reference as L\n"
          "from pimc.ir import reference_ops as R\n")


def emit_module(module: ModuleOp, table: RuleTable = RULES, fuse: bool = True,
                driver_class: type = _Driver, header: str = HEADER) -> str:
    """The generated module: fused kernels, then one driver per function, then `SLOTS`, the
    arena size of each driver. `driver_class` and `header` let a backend that shares this
    driver generator (cuda) swap in its own rules, kernels and imports."""
    kernels: dict[str, str] = {}
    drivers = [(f.sym_name, *emit_function(f, table, kernels, fuse, driver_class))
               for f in module.funcs]
    slots = ", ".join(f"{n!r}: {k}" for n, _, k in drivers)
    return "\n\n".join([header, *kernels.values(), *(src for _, src, _ in drivers)]) + \
        f"\n\nSLOTS = {{{slots}}}\n"
