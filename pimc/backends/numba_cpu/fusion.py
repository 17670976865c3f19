"""Elementwise fusion for numba-cpu codegen.

A chain of elementwise ops whose intermediates have one use each becomes one generated njit
kernel: one loop nest over the chain's output, every intermediate a scalar in a register, no
temporaries. When such a chain consumes the result of an `llm.linear` that nothing else reads,
it is fused into that linear as an epilogue (the residual add after o_proj/down_proj, the
`silu(gate) * up` of a gated MLP, a bias-free activation), so the value is finished while the
dot product's accumulator is still in a register.

Broadcasting is known statically: an input dim that is the literal 1 where the output's is not
is indexed at 0. Inputs align to the right, as in numpy.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pimc.ir.core import Operation, Value
from pimc.ir.dialects.builtin import FuncOp
from pimc.ir.types import TensorType

# Scalar forms, evaluated in f64 by numba's `math` and rounded once at the store.
_SCALAR = {
    "llm.add": "{0} + {1}", "llm.sub": "{0} - {1}", "llm.mul": "{0} * {1}",
    "llm.div": "{0} / {1}", "llm.maximum": "max({0}, {1})", "llm.minimum": "min({0}, {1})",
    "llm.neg": "-{0}", "llm.exp": "math.exp({0})", "llm.tanh": "math.tanh({0})",
    "llm.sqrt": "math.sqrt({0})", "llm.rsqrt": "1.0 / math.sqrt({0})",
    "llm.reciprocal": "1.0 / {0}", "llm.cos": "math.cos({0})", "llm.sin": "math.sin({0})",
    "llm.relu": "max({0}, 0.0)", "llm.sigmoid": "1.0 / (1.0 + math.exp(-{0}))",
    "llm.silu": "{0} / (1.0 + math.exp(-{0}))",
}
_GELU = {"none": "0.5 * {0} * (1.0 + math.erf({0} * 0.7071067811865476))",
         "tanh": "0.5 * {0} * (1.0 + math.tanh(0.7978845608028654 * ({0} + 0.044715 * {0} ** 3)))"}


def _float(v: Value) -> bool:
    return isinstance(v.type, TensorType) and v.type.element.is_float


def scalar_expr(op: Operation, args: list[str]) -> str | None:
    """The op's value at one element from its operands' values there; None if not elementwise."""
    if op.name in _SCALAR:
        return _SCALAR[op.name].format(*args)
    if op.name == "llm.gelu":
        return _GELU.get(op.attr("approximate"), "").format(*args) or None
    if op.name == "llm.pow_scalar":
        return f"{args[0]} ** {op.attr('exponent')!r}"
    if op.name == "llm.cast":
        # np.float64, not float(): numba's float() refuses booleans (an ONNX mask cast to f32)
        return args[0] if _float(op.operands[0]) else f"np.float64({args[0]})"
    return None


def _fusable(op: Operation) -> bool:
    if len(op.results) != 1 or not _float(op.results[0]) or op.results[0].type.rank == 0:
        return False
    if scalar_expr(op, ["x"] * len(op.operands)) is None:
        return False
    return all(isinstance(v.type, TensorType) for v in op.operands)


def inline_constant(v: Value) -> str | None:
    """A splat constant operand is written into the kernel as a literal."""
    op = v.owner
    if isinstance(op, Operation) and op.name == "llm.constant" and _float(v):
        return repr(float(op.attr("value")))
    return None


@dataclass(eq=False)
class Group:
    ops: list[Operation]
    inputs: list[Value] = field(default_factory=list)
    linear: Operation | None = None  # the producer this group is an epilogue of
    through: Value | None = None  # the input that carries the linear's result (maybe reshaped)

    @property
    def root(self) -> Operation:
        return self.ops[-1]

    @property
    def value(self) -> Value:
        return self.root.results[0]


def _single_use(v: Value) -> Operation | None:
    users = {op for op, _ in v.uses}
    return next(iter(users)) if len(users) == 1 else None


def find_groups(func: FuncOp) -> list[Group]:
    """Maximal single-use elementwise trees, each with its epilogue producer when it has one."""
    group_of: dict[Operation, Group] = {}
    position = {op: i for i, op in enumerate(func.body.ops)}
    for op in func.body.ops:
        if not _fusable(op):
            continue
        group = Group([])
        for v in op.operands:
            inner = group_of.get(v.owner) if isinstance(v.owner, Operation) else None
            if inner is not None and _single_use(v) is op and inner.root is v.owner:
                group.ops += inner.ops
                for member in inner.ops:
                    group_of[member] = group
        group.ops.append(op)
        group_of[op] = group
    groups = list(dict.fromkeys(group_of.values()))
    for g in groups:
        members = set(g.ops)
        g.inputs = list(dict.fromkeys(v for op in g.ops for v in op.operands
                                      if v.owner not in members and inline_constant(v) is None))
        _attach_producer(g, position)
    return groups


def _linear_behind(v: Value) -> Operation | None:
    """The llm.linear whose result `v` is (directly or through one reshape), if only `v` reads it."""
    op = v.owner
    if isinstance(op, Operation) and op.name == "llm.reshape" and _single_use(op.operands[0]):
        op = op.operands[0].owner
    if isinstance(op, Operation) and op.name in ("llm.linear", "pim.gemv") \
            and _single_use(op.results[0]):
        return op
    return None


def epilogue_index(v: Value, out: TensorType) -> str | None:
    """How an epilogue reads input `v` at output row r, feature j; None if it cannot."""
    shape = v.type.shape
    if shape == out.shape:
        return "[r, j]"
    if shape and shape[-1] == out.shape[-1] and all(d == 1 for d in shape[:-1]):
        return "[j]"
    return None


def _attach_producer(g: Group, position: dict[Operation, int]) -> None:
    out = g.value.type
    candidates = [v for v in g.inputs if _single_use(v) is not None and v.type.shape == out.shape]
    for v in sorted(candidates, key=lambda v: -position[v.owner]):
        linear = _linear_behind(v)
        if linear is None or linear.results[0].type.shape[-1] != out.shape[-1]:
            continue
        others = [u for u in g.inputs if u is not v]
        if all(epilogue_index(u, out) and (not isinstance(u.owner, Operation)
                                           or position[u.owner] < position[linear])
               for u in others):
            g.linear, g.through = linear, v
            return


def _index(v: Value, out: TensorType, loops: list[str]) -> str:
    shape = v.type.shape
    lead = len(out.shape) - len(shape)
    idx = ["0" if d == 1 and out.shape[lead + k] != 1 else loops[lead + k]
           for k, d in enumerate(shape)]
    return _subscript(idx)


def _subscript(idx: list[str]) -> str:
    # a rank-0 array (Gemma's embedding normaliser is a 0-d buffer) is read as a[()], not a[]
    return f"[{', '.join(idx)}]" if idx else "[()]"


def _body(g: Group, read: dict[Value, str]) -> tuple[list[str], str]:
    """Scalar statements for the group's ops, given expressions for its inputs."""
    names = dict(read)
    lines = []
    for k, op in enumerate(g.ops):
        args = [names.get(v) or inline_constant(v) for v in op.operands]
        lines.append(f"t{k} = {scalar_expr(op, args)}")
        names[op.results[0]] = f"t{k}"
    return lines, f"t{len(g.ops) - 1}"


def _named(prefix: str, header: str, text: str) -> tuple[str, str]:
    """Kernels are named by their text, so identical ones (every layer's) compile once."""
    name = f"{prefix}_{hashlib.sha1(text.encode()).hexdigest()[:10]}"
    return name, header.format(name=name) + text


def loop_kernel(g: Group) -> tuple[str, str]:
    """(name, source) of `kernel(out, *inputs)` writing the group's value into `out`."""
    out = g.value.type
    loops = [f"i{k}" for k in range(out.rank)]
    lines, pad = [], "    "
    for k, i in enumerate(loops):
        lines.append(f"{pad}for {i} in range(out.shape[{k}]):")
        pad += "    "
    read = {v: f"a{n}{_index(v, out, loops)}" for n, v in enumerate(g.inputs)}
    body, last = _body(g, read)
    lines += [pad + s for s in body] + [f"{pad}out{_subscript(loops)} = {last}"]
    args = "".join(f", a{n}" for n in range(len(g.inputs)))
    return _named("ew", "@njit(cache=True)\ndef {name}(out" + args + "):\n", "\n".join(lines))


def epilogue_parts(g: Group):
    """What every backend's epilogue kernels share: the extra arguments (`, a0, a1...`) and
    `finish(pad)`, the group's body applied to the accumulator `acc`, stored to out[r, j]."""
    out = g.value.type
    extra = [v for v in g.inputs if v is not g.through]
    read = {v: f"a{n}{epilogue_index(v, out)}" for n, v in enumerate(extra)}
    read[g.through] = "acc"
    body, last = _body(g, read)
    args = "".join(f", a{n}" for n in range(len(extra)))

    def finish(pad: str) -> str:
        return "".join(f"{pad}{s}\n" for s in body) + f"{pad}out[r, j] = {last}"
    return args, finish


def epilogue_kernels(g: Group) -> tuple[tuple[str, str], tuple[str, str]]:
    """(gemv, post) kernels for a group fused into its linear. gemv(x, w, out, *extra) computes
    each dot product and finishes it; post(out, *extra) finishes a BLAS GEMM's output in place."""
    args, finish = epilogue_parts(g)

    gemv = _named("gemv", "@njit(parallel=True, cache=True, fastmath=K.FAST)\n"
                  "def {name}(x, w, out" + args + "):\n",
                  "    n, k = w.shape\n"
                  "    for block in prange((n + 63) // 64):\n"
                  "        for j in range(block * 64, min(n, block * 64 + 64)):\n"
                  "            for r in range(x.shape[0]):\n"
                  "                acc = np.float32(0.0)\n"
                  "                for i in range(k):\n"
                  "                    acc += x[r, i] * w[j, i]\n" + finish(" " * 16))
    post = _named("post", "@njit(cache=True)\ndef {name}(out" + args + "):\n",
                  "    for r in range(out.shape[0]):\n"
                  "        for j in range(out.shape[1]):\n"
                  "            acc = out[r, j]\n" + finish(" " * 12))
    return gemv, post
