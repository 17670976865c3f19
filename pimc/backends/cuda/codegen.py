"""cuda code generation: numba-cpu's driver generator and rule tables, with the rules whose
kernels differ overridden.

What is shared: the driver structure (one Python function per IR function, symbolic dims bound
from the inputs), elementwise fusion (which trees fuse, which linear takes them as an
epilogue, their scalar bodies), and the static buffer plan (arena slots are device arrays here).

What is overridden:
- `OUT_RULES`: linear, rmsnorm, softmax, rope, attention, embedding and concat call the CUDA
  launchers in device.py (`D.*`), writing into planned device buffers;
- views (reshape, transpose, expand, slice, float casts) become strided device views;
- fused elementwise trees become generated `@cuda.jit` kernels, one thread per element, and
  linear epilogues become a warp-per-feature GEMV that finishes each dot product in its warp,
  plus a post-GEMM pass;
- every other rule (constants, arange, gather, topk, layernorm, reductions, matmul, moe, ...)
  keeps numba-cpu's numpy/njit code and runs on the host: its device operands are copied down
  with `D.down` and its result up with `D.up`, visibly in the generated source. None of these
  is on llama's prefill/decode path.
"""
from __future__ import annotations

from collections.abc import Callable

from pimc.backends.base import RuleTable
from pimc.backends.numba_cpu import codegen as cpu
from pimc.backends.numba_cpu.fusion import (Group, _body, _index, _named, epilogue_index,
                                            epilogue_parts)
from pimc.ir.core import Operation

shape = cpu.shape


def _host(rule: Callable) -> Callable:
    """A numba-cpu rule run on the host: operands copied down, the result copied up."""
    return lambda op, a: f"D.up({rule(op, [f'D.down({x})' for x in a])})"


def _host_out(rule: Callable) -> Callable:
    return lambda op, a, o: f"D.up({rule(op, [f'D.down({x})' for x in a], None)}, out={o})"


def _cast(op: Operation, a: list[str]) -> str:
    if op.operands[0].type.element.is_float and op.results[0].type.element.is_float:
        return a[0]  # everything computes in f32
    return _host(cpu.RULES["llm.cast"])(op, a)


def _concat(op: Operation, a: list[str], o: str | None) -> str:
    axis = op.attr("axis") % op.results[0].type.rank
    if cpu._is_append(op):
        return f"D.append({a[0]}, {a[1]}, {axis})"
    return f"D.concat(({', '.join(a)},), {axis}, out={o})"


_DEVICE = {
    "llm.linear": lambda op, a, o: f"D.linear({a[0]}, {a[1]}, {a[2] if len(a) > 2 else None}, out={o})",
    "llm.rmsnorm": lambda op, a, o: f"D.rmsnorm({a[0]}, {a[1]}, {op.attr('eps')!r}, out={o})",
    "llm.softmax": lambda op, a, o: f"D.softmax({a[0]}, {op.attr('axis')}, out={o})",
    "llm.rope": lambda op, a, o: f"D.rope({', '.join(a)}, {op.attr('style')!r}, out={o})",
    "llm.attention": lambda op, a, o: cpu.attention_call("D", op, a, o),
    "llm.embedding": lambda op, a, o: f"D.embedding({a[0]}, {a[1]}, out={o})",
    "llm.concat": _concat,
}
_DEVICE.update({alias: _DEVICE[llm] for alias, llm in cpu._SAME_WORK.items() if llm in _DEVICE})
# Same keys as numba-cpu's table (the planner's notion of "writes into a buffer" is shared);
# the ops without a kernel here run on the host.
OUT_RULES = {name: _DEVICE.get(name) or _host_out(rule) for name, rule in cpu.OUT_RULES.items()}

_VIEW_RULES = {
    "llm.reshape": lambda op, a: f"D.reshape({a[0]}, {shape(op.results[0].type)})",
    "llm.transpose": lambda op, a: f"D.transpose({a[0]}, {tuple(op.attr('perm'))})",
    "llm.expand": lambda op, a: f"D.expand({a[0]}, {shape(op.results[0].type)})",
    "llm.cast": _cast,
    # numba-cpu's index expression, on the device array (a KV cache's DeviceTensor unwrapped)
    "llm.slice": lambda op, a: cpu._slice(op, [f"D.arr({a[0]})"]),
}
_KEEP = {"llm.weight"}  # the same source on the device: W holds device arrays


def _rule(name: str, rule: Callable) -> Callable:
    if name in _KEEP:
        return rule
    if name in _VIEW_RULES:
        return _VIEW_RULES[name]
    if name in OUT_RULES:  # a returned value: the same launcher, writing a fresh array
        return lambda op, a: OUT_RULES[name](op, a, None)
    return _host(rule)


RULES = RuleTable("cuda", {name: _rule(name, rule) for name, rule in cpu.RULES.rules.items()})


def loop_kernel(g: Group) -> tuple[str, str]:
    """(name, source) of a `@cuda.jit` kernel(out, *inputs): one thread per output element,
    whose flat index is unravelled into the loop indices numba-cpu's loop nest would have."""
    out = g.value.type
    loops = [f"i{k}" for k in range(out.rank)]
    lines = ["    idx = cuda.grid(1)",
             "    if idx >= out.size:",
             "        return"]
    for k in reversed(range(out.rank)):
        lines.append(f"    {loops[k]} = idx % out.shape[{k}]" if k else f"    {loops[k]} = idx")
        if k:
            lines.append(f"    idx //= out.shape[{k}]")
    read = {v: f"a{n}{_index(v, out, loops)}" for n, v in enumerate(g.inputs)}
    body, last = _body(g, read)
    lines += [f"    {s}" for s in body] + [f"    out[{', '.join(loops)}] = {last}"]
    args = "".join(f", a{n}" for n in range(len(g.inputs)))
    return _named("cuew", "@cuda.jit\ndef {name}(out" + args + "):\n", "\n".join(lines))


def epilogue_kernels(g: Group) -> tuple[tuple[str, str], tuple[str, str]]:
    """(gemv, post) kernels for a group fused into its linear: gemv(x, w, out, *extra) is
    kernels.gemv with the group's body at the store; post(out, *extra) finishes a GEMM's output
    in place, one thread per element."""
    args, finish = epilogue_parts(g)

    gemv = _named("cugemv", "@cuda.jit\ndef {name}(x, w, out" + args + "):\n",
                  "    j = (cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x) // G.WARP\n"
                  "    lane = cuda.threadIdx.x % G.WARP\n"
                  "    n, k = w.shape\n"
                  "    active = j < n\n"
                  "    for r in range(x.shape[0]):\n"
                  "        acc = float32(0.0)\n"
                  "        if active:\n"
                  "            for i in range(lane, k, G.WARP):\n"
                  "                acc += x[r, i] * w[j, i]\n"
                  "        acc = G.warp_sum(acc)\n"
                  "        if active and lane == 0:\n" + finish(" " * 12))
    post = _named("cupost", "@cuda.jit\ndef {name}(out" + args + "):\n",
                  "    idx = cuda.grid(1)\n"
                  "    if idx >= out.shape[0] * out.shape[1]:\n"
                  "        return\n"
                  "    r = idx // out.shape[1]\n"
                  "    j = idx % out.shape[1]\n"
                  "    acc = out[r, j]\n" + finish(" " * 4))
    return gemv, post


class CudaDriver(cpu._Driver):
    """numba-cpu's driver with CUDA out-rules and CUDA fused kernels."""

    out_rules = OUT_RULES

    def _group(self, g: Group) -> None:
        target = self.name(g.value)
        if g.linear is None:
            kernel = self._kernel(loop_kernel(g))
            args = "".join(f", {self.name(v)}" for v in g.inputs)
            fresh = f"D.empty({shape(g.value.type)})"
            emit = lambda o: [f"{target} = {o or fresh}", f"D.launch({kernel}, {target}{args})"]
            self._add(g.inputs, [g.value], "planned", "fused", emit)
            return
        gemv, post = (self._kernel(k) for k in epilogue_kernels(g))
        extra = [v for v in g.inputs if v is not g.through]
        views = "".join(f"D.reshape({self.name(v)}, (-1, {shape(v.type)}[-1])), "
                        if epilogue_index(v, g.value.type) == "[r, j]" else
                        f"D.reshape({self.name(v)}, (-1,)), " for v in extra)
        lin = [self.name(v) for v in g.linear.operands]
        bias = lin[2] if len(lin) > 2 else None
        emit = lambda o: [f"{target} = D.reshape(D.linear({lin[0]}, {lin[1]}, {bias}, out={o}, "
                          f"epilogue=({gemv}, {post}), extra=({views})), "
                          f"{shape(g.value.type)})"]
        self._add([*g.linear.operands, *extra], [g.value], "planned", "linear+fused", emit)


HEADER = ("import math\n"
          "import numpy as np\n"
          "from numba import cuda, float32\n"
          "from pimc.backends.cuda import device as D, kernels as G\n"
          "# host fallbacks reuse numba-cpu's kernels and the reference ops\n"
          "from pimc.backends.numba_cpu import kernels as K, kv_cache as KV\n"
          "from pimc.ir import reference_ops as R\n")


def emit_module(module, fuse: bool = True) -> str:
    return cpu.emit_module(module, RULES, fuse, driver_class=CudaDriver, header=HEADER)
