"""The example-npu ISA: a rule table from llm ops to instructions, each with a cycle estimate.

Machine model (a toy, chosen for the tutorial): `count` weight-stationary systolic arrays of
`systolic_rows` x `systolic_cols` and one vector unit of `vector_units` x `vector_lanes` lanes,
all read from the target's [xpu] section. Ops run one after another. A GEMM is cut into
K x N weight tiles of one array's size; output column tile j runs on array j mod count, so an
op takes as long as its busiest array. Instructions:

  GEMM[.ACC] aJ out[m0:m1, n0:n1] <- x[m0:m1, k0:k1] * w[k0:k1, n0:n1] [xB]   one weight tile
  VEC.<op>   out[n] <- inputs                                               elementwise / norm
  MOVE       out[n] <- x                                                    transpose, concat
  GATHER     out[n] <- table[ids]                                           embedding rows
and `;` comments. Views (reshape), weights and constants cost nothing: they are already in
memory.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from pimc.backends.base import RuleTable
from pimc.errors import PimcError
from pimc.ir.attrs import StrAttr
from pimc.ir.symbolic import sym
from pimc.targets import Target, get_target


@dataclass(frozen=True)
class Instr:
    text: str
    cycles: int = 0


@dataclass
class Listing:
    """The `tile` stage's artifact: every function's instructions, grouped per op."""

    target: Target
    dims: dict[str, dict[str, int]]
    funcs: dict[str, list[tuple[str, int, list[Instr]]]] = field(default_factory=dict)

    def cycles(self, func: str) -> int:
        return sum(op_cycles for _, op_cycles, _ in self.funcs[func])


class Emitter:
    """What a rule sees: the target's numbers, the function's concrete dims, value names."""

    def __init__(self, target: Target, dims: dict[str, int]):
        xpu = target.xpu
        self.rows, self.cols, self.arrays = xpu.systolic_rows, xpu.systolic_cols, xpu.count
        self.lanes = xpu.vector_units * xpu.vector_lanes
        self.dims, self.names, self.temps = dims, {}, 0

    def name(self, value) -> str:
        """A weight by its handle, an argument by its name, anything else t0, t1, ..."""
        if value not in self.names:
            owner = getattr(value, "op", None)
            if owner is not None and owner.name == "llm.weight":
                self.names[value] = owner.attr("handle")
            else:
                self.names[value] = value.name_hint or f"t{self.temps}"
                self.temps += 1
        return self.names[value]

    def size(self, dim) -> int:
        if isinstance(dim, int):
            return dim
        value = dim.subs({sym(k): v for k, v in self.dims.items()})
        if not value.is_Integer:
            raise PimcError(f"example-npu: dim {dim} is not fixed by B, S, T = {self.dims}")
        return int(value)

    def shape(self, value) -> list[int]:
        return [self.size(d) for d in value.type.shape]

    def elements(self, value) -> int:
        return math.prod(self.shape(value))

    def gemm(self, batch: int, m: int, k: int, n: int, x: str, w: str, out: str):
        """Weight tiles of one GEMM; cycles per tile from SCALE-Sim's weight-stationary fold,
        2*rows + cols + M - 2 (Samajdar et al., "A Systematic Methodology for Characterizing
        Scalability of DNN Accelerators using SCALE-Sim", ISPASS 2020, Sec. III-B)."""
        per_tile = batch * (2 * self.rows + self.cols + m - 2)
        busy = [0] * self.arrays
        instrs = []
        for j, n0 in enumerate(range(0, n, self.cols)):
            n1 = min(n0 + self.cols, n)
            for k0 in range(0, k, self.rows):
                k1 = min(k0 + self.rows, k)
                repeat = f" x{batch}" if batch > 1 else ""
                instrs.append(Instr(
                    f"GEMM{'.ACC' if k0 else '    '} a{j % self.arrays} {out}[0:{m}, {n0}:{n1}] "
                    f"<- {x}[0:{m}, {k0}:{k1}] * {w}[{k0}:{k1}, {n0}:{n1}]{repeat}", per_tile))
                busy[j % self.arrays] += per_tile
        return instrs, max(busy)

    def stream(self, mnemonic: str, elements: int, out: str, *inputs: str):
        cycles = math.ceil(elements / self.lanes)
        return [Instr(f"{mnemonic:<10} {out}[{elements}] <- {', '.join(inputs)}", cycles)], cycles


# ---- the rule table: op name -> rule(op, emitter) -> (instructions, op cycles) ----------------

def _linear(op, e: Emitter):
    x, w = op.operands[:2]  # w is [N, K], as torch stores nn.Linear weights
    xs = e.shape(x)
    return e.gemm(1, math.prod(xs[:-1]), xs[-1], e.shape(w)[0], e.name(x), e.name(w) + "^T",
                  e.name(op.results[0]))


def _matmul(op, e: Emitter):
    a, b = (e.shape(v) for v in op.operands[:2])
    m, k = (a[-1], a[-2]) if op.attr("transpose_a") else (a[-2], a[-1])
    n = b[-2] if op.attr("transpose_b") else b[-1]
    batch = math.prod(e.shape(op.results[0])[:-2])
    return e.gemm(batch, m, k, n, e.name(op.operands[0]), e.name(op.operands[1]),
                  e.name(op.results[0]))


def _attention(op, e: Emitter):
    """softmax(q k^T) v as two batched GEMMs around a vector softmax, per query head."""
    q, k, v = (e.shape(x) for x in op.operands[:3])
    (b, hq, t, d), s, dv = q, k[2], v[3]
    out = e.name(op.results[0])
    qk, qk_cycles = e.gemm(b * hq, t, d, s, e.name(op.operands[0]), e.name(op.operands[1]) + "^T",
                           out + ".scores")
    sm, sm_cycles = e.stream("VEC.softmax", b * hq * t * s, out + ".probs", out + ".scores")
    pv, pv_cycles = e.gemm(b * hq, t, s, dv, out + ".probs", e.name(op.operands[2]), out)
    return qk + sm + pv, qk_cycles + sm_cycles + pv_cycles


def _vector(mnemonic: str):
    def rule(op, e: Emitter):
        return e.stream(mnemonic, e.elements(op.results[0]), e.name(op.results[0]),
                        *(e.name(x) for x in op.operands))
    return rule


def _free(op, e: Emitter):
    return [], 0


def _vec(op_name: str):
    return _vector("VEC." + op_name.split(".")[1])


_ELEMENTWISE = ["llm.add", "llm.sub", "llm.mul", "llm.div", "llm.neg", "llm.exp", "llm.silu",
                "llm.gelu", "llm.relu", "llm.sigmoid", "llm.tanh", "llm.cos", "llm.sin",
                "llm.rsqrt", "llm.sqrt", "llm.reciprocal", "llm.maximum", "llm.minimum",
                "llm.pow_scalar", "llm.cast", "llm.rmsnorm", "llm.layernorm", "llm.softmax",
                "llm.rope", "llm.reduce_mean", "llm.reduce_sum", "llm.reduce_max", "llm.arange"]

RULES = RuleTable("example-npu", {
    "llm.linear": _linear, "llm.matmul": _matmul, "llm.attention": _attention,
    "llm.embedding": _vector("GATHER"), "llm.transpose": _vector("MOVE"),
    "llm.concat": _vector("MOVE"), "llm.slice": _vector("MOVE"),
    "llm.reshape": _free, "llm.weight": _free, "llm.constant": _free,
    **{name: _vec(name) for name in _ELEMENTWISE}})


# ---- the stages -------------------------------------------------------------------------------

def target_of(module, given: Target | None = None) -> Target:
    """The compile's Target (the `target` option), else the one a module read from text
    names in its printed `pimc.target`."""
    attr = module.attributes.get("pimc.target")
    if given is None and not isinstance(attr, StrAttr):
        raise PimcError("example-npu: the module has no pimc.target; compile with "
                        "-t example-npu.toml (or another target with a systolic [xpu])")
    target = given or get_target(attr.value)
    xpu = target.xpu
    missing = [key for key in ("count", "systolic_rows", "systolic_cols", "vector_units",
                               "vector_lanes") if xpu is None or getattr(xpu, key) is None]
    if missing:
        raise PimcError(f"example-npu: target '{target.name}' [xpu] lacks {', '.join(missing)}; "
                        "the cycle estimate needs them")
    return target


def tile(module, batch: int, context: int, target: Target | None = None) -> Listing:
    """Stage `tile`: every op through the rule table, at B=batch, S=context (T = S in
    @prefill, 1 elsewhere: one new token per decode step)."""
    target = target_of(module, target)
    listing = Listing(target, {})
    for func in module.funcs:
        dims = {"B": batch, "S": context, "T": context if "prefill" in func.sym_name else 1}
        listing.dims[func.sym_name] = dims
        emitter, ops = Emitter(target, dims), []
        for arg in func.args:
            emitter.name(arg)
        for op in func.body.ops:
            if op.name == "func.return":
                continue
            instrs, cycles = RULES[op.name](op, emitter)
            if instrs:  # views, weights and constants emit nothing
                where = getattr(op.loc, "name", None)  # the nn.Module path, where there is one
                ops.append((f"{op.name}{f' in {where}' if where else ''}", cycles, instrs))
        listing.funcs[func.sym_name] = ops
    return listing


def assemble(listing: Listing) -> str:
    """Stage `asm`: the listing as text, an op header (with its cycles) over its instructions."""
    xpu = listing.target.xpu
    lines = [f"; example-npu assembly for target '{listing.target.name}': {xpu.count} array(s) "
             f"of {xpu.systolic_rows}x{xpu.systolic_cols}, {xpu.vector_units}x"
             f"{xpu.vector_lanes} vector lanes, {xpu.clock_hz / 1e9:g} GHz"]
    for func, ops in listing.funcs.items():
        dims = ", ".join(f"{k}={v}" for k, v in listing.dims[func].items())
        lines += ["", f".func @{func}  ; {dims}"]
        for header, cycles, instrs in ops:
            lines.append(f"  ; {header}: {cycles} cycles")
            lines += [f"  {i.text:<72} ; {i.cycles}" for i in instrs]
        total = listing.cycles(func)
        lines.append(f"  ; total @{func}: {total} cycles = {total / xpu.clock_hz * 1e6:.3f} us")
    return "\n".join(lines) + "\n"
