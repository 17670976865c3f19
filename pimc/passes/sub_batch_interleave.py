"""sub-batch-interleave: split a decode function's batch into n sub-batches (NeuPIMs).

    pimc opt f.mlir -p 'sub-batch-interleave{n=2}'
    pimc opt f.mlir -p 'analyze-intensity,place-devices{target=neupims},sub-batch-interleave'

NeuPIMs (Heo et al., ASPLOS'24, arXiv:2403.00579, §5 "sub-batch interleaving") splits the batch of
decoding requests in two so that the NPU runs one sub-batch's GEMMs (QKV generation, output
projection, FFN) while the PIM runs the other's multi-head attention, and vice versa. This pass
makes the split explicit in the IR, for a scheduler to overlap the two:
  * The sequences of a decode batch are independent (embedding, norms, GEMMs, attention over
    each one's own KV cache are row-wise over the batch), so the body is duplicated once per
    sub-batch on a slice of the batch: batched arguments are `llm.slice`d along dim 0, results
    `llm.concat`ed back along dim 0 (the logits). A result that is a concat along another dim
    (a present KV cache: concat(past, new) along the sequence) becomes that concat of the joined
    operands: the whole past cache with the new rows appended, never a copy of the past. The
    signature and the results are unchanged.
  * Every op of sub-batch k carries `subbatch = k` (the common attribute of architecture.md §3). Ops that
    do not depend on the batch (weight handles, constants) are shared and carry none; nor do the
    joins, which serve every sub-batch.
  * Order: each sub-batch's ops are cut into phases (a run of non-PIM ops, then a run of PIM
    ops), emitted round robin: phase j of sub-batch 0, 1, ..., then phase j+1. So sub-batch k's
    attention sits beside the NPU work of sub-batch k+1 that does not depend on it, as in
    NeuPIMs' timeline: sub-batch 1's MHA beside sub-batch 2's QKV generation, sub-batch 2's MHA
    beside sub-batch 1's projection, FFN and next QKV generation. A PIM op has `device` pim or
    logic_pim; before placement, it is an llm.attention or pim.attention (PIM under every policy).

The batch is the symbol `B` (the name every frontend gives it) when an argument type uses it;
sub-batch k then holds sequences floor(k*B/n) .. floor((k+1)*B/n) - 1, as symbolic dims (n=2:
B//2 and B-B//2). No divisibility is required (sizes differ by at most one), the sizes telescope
to exactly B rows, and a sub-batch is empty at run time when B < n. Without `B` the batch is
concrete: the leading dim N of the first argument, batched arguments being those whose leading
dim is N; n may not exceed N. Batched arguments and results carry the batch as their leading
dim, alone. An op that works across the batch (softmax, reduction, concat, slice, gather, take
or topk over an axis holding it; a transpose moving a concrete batch off dim 0) stops the pass.

Existing attributes stay: `device` as it was; `cost` with B replaced by the sub-batch's size, so
flops add up to the original's and bytes count each weight once per sub-batch, as each
sub-batch's GEMMs stream the weights again (a concrete batch's numbers cannot be divided: the
copies drop their cost, and place-devices asks for analyze-intensity again). The new slices and
joins cost nothing, the sub-batches being row ranges of the same buffers (analyze-intensity run
after this pass counts a join as a copy of what it joins: the logits and the new K/V rows).

Options: `n` (sub-batches, >= 1; 1 only tags the ops) and `func` (the function to split,
default `decode`; prefill is left alone, NeuPIMs interleaves the decode batch).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy

from pimc.errors import OptionError, PassFailure
from pimc.ir.attrs import ArrayAttr, Attribute, DictAttr, ExprAttr, IntAttr, SymAttr, TypeAttr
from pimc.ir.builder import Builder
from pimc.ir.core import BlockArgument, Operation, Value
from pimc.ir.dialects.builtin import FuncOp, ModuleOp
from pimc.ir.printer import print_op
from pimc.ir.symbolic import Dim, as_dim, dims_equal, dim_str, sym
from pimc.ir.types import TensorType, Type
from pimc.passes.analyze_intensity import STRUCTURAL, number_attr
from pimc.passes.base import Context, Pass

_PASS = "sub-batch-interleave"
PIM_DEVICES = ("pim", "logic_pim")
PIM_OPS = ("llm.attention", "pim.attention")  # on PIM under every placement policy
_FREE = DictAttr.of({"bytes": IntAttr(0), "flops": IntAttr(0), "op_b": IntAttr(0)})


@dataclass(frozen=True)
class SubBatchInterleave(Pass):
    """Split @decode's batch into n sub-batches, duplicating its ops per sub-batch
    (`subbatch = k`) in NeuPIMs' interleaved order, so one sub-batch's NPU work can overlap
    another's PIM attention; results are joined back, so the function computes the same."""

    name = _PASS
    n: int = 2
    func: str = "decode"

    def __post_init__(self):
        if self.n < 1:
            raise OptionError(f"option 'n' of pass '{_PASS}' must be >= 1, got {self.n}")

    def apply(self, ctx: Context, module: ModuleOp) -> None:
        names = [f.sym_name for f in module.funcs]
        if self.func not in names:
            raise OptionError(f"option 'func' of pass '{_PASS}': no function @{self.func}; "
                              f"functions: {', '.join('@' + n for n in names) or 'none'}")
        split(module.func(self.func), self.n)


class Batch:
    """The batch dim of one function and the row ranges of its n sub-batches."""

    def __init__(self, func: FuncOp, n: int):
        self.symbolic = any(sym("B") in _symbols(a.type) for a in func.args)
        if self.symbolic:
            self.dim: Dim = sym("B")
        else:
            first = func.args[0].type if func.args else None
            if not isinstance(first, TensorType) or not first.rank or \
                    not isinstance(first.shape[0], int):
                raise OptionError(f"option 'func' of pass '{_PASS}': @{func.sym_name} has no "
                                  "batch dim to split: no argument type uses the symbol B and "
                                  "its first argument has no static leading dim")
            self.dim = first.shape[0]
            if n > self.dim:
                raise OptionError(f"option 'n' of pass '{_PASS}' is {n}, more than the batch "
                                  f"{self.dim} of @{func.sym_name} (allowed: 1..{self.dim})")
        # floor(k*B/n): telescoping bounds, so the sizes add up to B exactly, even symbolically
        self.bounds = [as_dim(sympy.floor(sympy.Integer(k) * self.dim / n)) for k in range(n + 1)]
        self.sizes = [as_dim(hi - lo) for lo, hi in zip(self.bounds, self.bounds[1:])]

    def is_batch(self, d: Dim) -> bool:
        return dims_equal(d, self.dim) if self.symbolic else d == self.dim

    def holds(self, d: Dim, axis: int) -> bool:
        """Whether dim `d`, at `axis` of a batched value, holds (part of) the batch."""
        if self.symbolic:
            return not isinstance(d, int) and self.dim in d.free_symbols
        return axis == 0

    def leading(self, t: Type) -> bool:
        """Whether `t` carries the batch as its leading dim alone (B, 2*B; N, 2*N)."""
        if not isinstance(t, TensorType) or not t.rank:
            return False
        if not self.symbolic:
            return isinstance(t.shape[0], int) and t.shape[0] % self.dim == 0
        return self.dim in _symbols(t) and self.dim not in _symbols(t, start=1)

    def resize(self, t: Type, k: int) -> Type:
        """`t` for sub-batch k: B -> its size (symbolic), or dim 0 scaled (concrete)."""
        if not isinstance(t, TensorType):
            return t
        if self.symbolic:
            subs = {self.dim: self.sizes[k]}
            return t.with_shape(d if isinstance(d, int) else as_dim(d.xreplace(subs))
                                for d in t.shape)
        return t.with_shape((t.shape[0] * self.sizes[k] // self.dim, *t.shape[1:]))

    def resize_attr(self, a: Attribute, k: int) -> Attribute:
        """Slice bounds, costs and types over B, for sub-batch k."""
        if not self.symbolic:
            return a
        if isinstance(a, (SymAttr, ExprAttr)) and isinstance(a.expr, sympy.Expr):
            return number_attr(a.expr.xreplace({self.dim: self.sizes[k]}))
        if isinstance(a, DictAttr):
            return DictAttr.of({key: self.resize_attr(v, k) for key, v in a.entries})
        if isinstance(a, ArrayAttr):
            return ArrayAttr(tuple(self.resize_attr(v, k) for v in a.items))
        if isinstance(a, TypeAttr):
            return TypeAttr(self.resize(a.type, k))
        return a


def _symbols(t: Type, start: int = 0) -> set:
    """The symbols of `t`'s dims from dim `start` on."""
    if not isinstance(t, TensorType):
        return set()
    return {s for d in t.shape[start:] if not isinstance(d, int) for s in d.free_symbols}


def split(func: FuncOp, n: int) -> None:
    """Split `func`'s batch into `n` sub-batches in place (see the module docstring)."""
    batch = Batch(func, n)
    ops = [op for op in func.body.ops if op.name not in STRUCTURAL]
    if any("subbatch" in op.attributes for op in ops):
        raise PassFailure(f"pass '{_PASS}': @{func.sym_name} is split already (its ops carry "
                          "subbatch)")
    batched_args = _batched_args(func, batch)
    per_batch, batched = _per_batch_ops(ops, batched_args, batch)
    for op in ops:
        if op in per_batch:
            _check_row_wise(op, batched, batch)
    for v in func.body.last.operands:
        if v in batched and not batch.leading(v.type):
            raise PassFailure(f"pass '{_PASS}': result {v.type} of @{func.sym_name} does not "
                              "carry the batch as its leading dim alone, so the sub-batches' "
                              "results could not be joined")
    if n == 1:  # one sub-batch: the whole batch, nothing to slice or reorder
        for op in per_batch:
            op.attributes["subbatch"] = IntAttr(0)
        return
    _Emitter(func, batch, n, batched_args, per_batch, batched).run(ops)


def _batched_args(func: FuncOp, batch: Batch) -> set[Value]:
    batched = set()
    for arg in func.args:
        t = arg.type
        if not isinstance(t, TensorType) or not t.rank:
            continue
        if batch.symbolic and batch.dim in _symbols(t) and not (
                batch.is_batch(t.shape[0]) and batch.dim not in _symbols(t, start=1)):
            raise PassFailure(f"pass '{_PASS}': argument %{arg.name_hint or arg.index}: {t} of "
                              f"@{func.sym_name} holds B outside its leading dim; the batch "
                              "must be dim 0 alone, where the pass slices it")
        if batch.is_batch(t.shape[0]):
            batched.add(arg)
    return batched


def _per_batch_ops(ops: list[Operation], batched_args: set[Value],
                   batch: Batch) -> tuple[set[Operation], set[Value]]:
    """Ops that read batched data or, with a symbolic batch, have B in a result type (a
    constant of B rows), and the batched values; the other ops are shared by the sub-batches."""
    batched: set[Value] = set(batched_args)
    per_batch = set()
    for op in ops:
        mentions_b = batch.symbolic and any(batch.dim in _symbols(r.type) for r in op.results)
        if mentions_b or any(v in batched for v in op.operands):
            per_batch.add(op)
            batched.update(op.results)
    return per_batch, batched


def _check_row_wise(op: Operation, batched: set[Value], batch: Batch) -> None:
    """Refuse ops that combine rows of different sequences: they cannot be split."""
    if op.regions:
        raise PassFailure(f"pass '{_PASS}': op '{op.name}' has regions, which it cannot split",
                          print_op(op))
    axes = list(op.attr("axes")) if "axes" in op.attributes else []
    # an int axis indexes a dim; kv.quantize's named one ("channel"/"token") groups within
    # each sequence's own cache, so it never mixes sequences
    if isinstance(op.attributes.get("axis"), IntAttr):
        axes.append(op.attr("axis"))
    # an axis indexes the data operand (x), or every input of a concat
    for v in op.operands if op.name == "llm.concat" else op.operands[:1]:
        t = v.type
        if v not in batched or not isinstance(t, TensorType) or not t.rank:
            continue
        for axis in (a % t.rank for a in axes):
            if batch.holds(t.shape[axis], axis):
                raise PassFailure(f"pass '{_PASS}': '{op.name}' works along axis {axis}, which "
                                  f"holds the batch ({dim_str(t.shape[axis])}); splitting the "
                                  "batch would change what it computes", print_op(op))
    if batch.symbolic:
        return
    # a concrete batch is known by its position only: it must stay in dim 0
    if op.name == "llm.transpose" and op.attr("perm")[0] != 0:
        raise PassFailure(f"pass '{_PASS}': 'llm.transpose' moves the batch off dim 0, where "
                          "a concrete batch is split", print_op(op))
    for r in op.results:
        if isinstance(r.type, TensorType) and not batch.leading(r.type):
            raise PassFailure(f"pass '{_PASS}': '{op.name}' gives {r.type}, whose dim 0 is not "
                              f"a multiple of the batch {batch.dim}", print_op(op))


def _is_pim(op: Operation, placed: bool) -> bool:
    if placed:
        return getattr(op.attributes.get("device"), "device", None) in PIM_DEVICES
    return op.name in PIM_OPS


class _Emitter:
    """Rebuilds the function body: sub-batch copies in round-robin phase order before
    func.return, shared ops moved next to their first user, batched results joined."""

    def __init__(self, func: FuncOp, batch: Batch, n: int, batched_args: set, per_batch: set,
                 batched: set):
        self.func, self.batch, self.n = func, batch, n
        self.batched_args, self.per_batch, self.batched = batched_args, per_batch, batched
        self.joined: dict[Value, Value] = {}
        self.ret = func.body.last
        self.placed = any("device" in op.attributes for op in func.body.ops)
        self.costed = any("cost" in op.attributes for op in func.body.ops)
        self.maps: list[dict[Value, Value]] = [{} for _ in range(n)]
        self.moved: set[Operation] = set()
        self.builder = Builder.before_op(self.ret)

    def run(self, ops: list[Operation]) -> None:
        phases: list[list[Operation]] = [[]]
        previous_pim = False
        for op in (op for op in ops if op in self.per_batch):
            pim = _is_pim(op, self.placed)
            if previous_pim and not pim:
                phases.append([])
            phases[-1].append(op)
            previous_pim = pim
        for phase in phases:
            for k in range(self.n):
                for op in phase:
                    self.clone(op, k)
        for i, v in enumerate(list(self.ret.operands)):
            if v in self.batched:
                self.ret.set_operand(i, self.join(v))
            else:
                self.share(v)
        for op in reversed(ops):
            if op in self.per_batch:
                op.erase()

    def share(self, v: Value) -> None:
        """Move the shared op defining `v` (and its shared operands) before the insertion
        point, unless it is there already."""
        if isinstance(v, BlockArgument) or v.op in self.moved:
            return
        for operand in v.op.operands:
            self.share(operand)
        self.moved.add(v.op)
        self.builder.insert(v.op.detach())

    def value(self, v: Value, k: int, user: Operation) -> Value:
        if v in self.batched_args:
            if v not in self.maps[k]:
                self.maps[k][v] = self.slice(v, k, user)
            return self.maps[k][v]
        if isinstance(v, BlockArgument) or v.op not in self.per_batch:
            self.share(v)
            return v
        return self.maps[k][v]

    def slice(self, arg: Value, k: int, user: Operation) -> Value:
        lo, hi = self.batch.bounds[k], self.batch.bounds[k + 1]
        op = self.builder.create("llm.slice", [arg], {"axis": 0, "start": lo, "end": hi},
                                 loc=user.loc, names=[f"{arg.name_hint}_sb{k}"]
                                 if arg.name_hint else ())
        self.annotate(op, like=user)
        op.attributes["subbatch"] = IntAttr(k)
        return op.result

    def clone(self, op: Operation, k: int) -> None:
        operands = [self.value(v, k, op) for v in op.operands]
        attrs = {key: self.batch.resize_attr(a, k) for key, a in op.attributes.items()
                 if not (key == "cost" and not self.batch.symbolic)}
        attrs["subbatch"] = IntAttr(k)
        new = self.builder.create(op.name, operands, attrs,
                                  [self.batch.resize(r.type, k) for r in op.results], loc=op.loc,
                                  names=[f"{r.name_hint}_sb{k}" if r.name_hint else None
                                         for r in op.results])
        new.src = op.src
        self.maps[k].update(zip(op.results, new.results))

    def join(self, v: Value) -> Value:
        """`v` of the whole batch from its sub-batch copies. The join of an argument's slices
        is the argument, and a join passes into a concat along another axis: a present KV
        cache, concat(past, new) along the sequence, becomes concat(past, join(new)), the
        append of the new rows to the whole past cache, not a copy of the past."""
        if v in self.batched_args:
            return v
        if v not in self.joined:
            op, axis = v.op, None
            if op.name == "llm.concat" and all(o in self.batched for o in op.operands):
                axis = op.attr("axis") % v.type.rank
            if axis:  # a concat along a dim other than the batch's
                parts, attrs = [self.join(o) for o in op.operands], {"axis": axis}
            else:
                parts, attrs = [self.maps[k][v] for k in range(self.n)], {"axis": 0}
            new = self.builder.create("llm.concat", parts, attrs, loc=op.loc,
                                      names=[v.name_hint] if v.name_hint else ())
            self.annotate(new, like=self.maps[0][v].op)
            self.joined[v] = new.result
        return self.joined[v]

    def annotate(self, op: Operation, like: Operation) -> None:
        """A slice or join moves nothing: give it no cost, and the device of the op it serves,
        where the function is placed and costed already."""
        if self.costed:
            op.attributes["cost"] = _FREE
        device = like.attributes.get("device")
        if self.placed and device is not None:
            op.attributes["device"] = device
