"""pim ops -> PIM command streams, with the concrete shapes the backend options bind.

Every stream is one stack's (the stacks run the same stream side by side on their share):
- pim.attention: layout "pimc" (attention_pimc.py) on the target's organisation; grouped-query
  attention stores each KV head once per query head it serves (the head-per-channel stream has
  no shared-KV mode). layout "attacc" is AttAcc's generator, MHA on its HBM3 stack only.
- pim.gemv: the row-tiled stream of gemv_stream.py with lower-to-pim's rows_per_unit.
- Samsung HBM-PIM (one PIM block per two banks, PIMSIM.md §2) runs its own kernel sequence,
  which runtime/pimsim/hbmpim.py generates; the stream here names the kernel calls: a GEMV per
  input vector, and per head a score GEMV (K q) and a context GEMV (V^T p) with the softmax on
  the host (the PIM blocks have no exponent unit).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pimc.backends.pim.attention_stream import MAC_COMMAND, OPS, attention_stream, stream_counts
from pimc.backends.pim.gemv_stream import GemvLayout
from pimc.backends.pim.layout import DTYPE_BYTES, HBM3, PLACEMENT_OF, Geometry, PimOrg
from pimc.errors import PimcError
from pimc.ir.dialects.builtin import ModuleOp
from pimc.ir.symbolic import sym
from pimc.targets import Target
from pimc.targets.load import module_target

PLACEMENT = PLACEMENT_OF  # targets -> AttAcc's names


@dataclass
class KernelStream:
    """One pim op's commands for one HBM stack, with what it was generated from. `calls` replaces
    `stream` where the target runs vendor kernels (Samsung HBM-PIM)."""

    where: str  # @func, op name and location
    shape: dict
    placement: str
    stream: np.ndarray | None
    kind: str = "attention"
    calls: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        if self.stream is None:
            return {"kernel calls": len(self.calls)}
        return stream_counts(self.stream, self.placement)

    def text(self) -> str:
        head = (f"// {self.where}: " + ", ".join(f"{k} {v}" for k, v in self.shape.items()) +
                (f"; {len(self.stream)} requests: " if self.stream is not None else "; ") +
                ", ".join(f"{k} {v}" for k, v in self.counts().items()))
        if self.stream is None:
            return "\n".join([head, *self.calls])
        names = [MAC_COMMAND[self.placement] if name == "MAC" else name for name in OPS]
        lines = [head]
        for r in self.stream:
            name = names[r["op"]]
            lines.append(name if name == "BARRIER" else
                         f"{name} ch{r['channel']} ra{r['rank']} bg{r['bankgroup']} "
                         f"ba{r['bank']} row{r['row']} col{r['column']}")
        return "\n".join(lines)


@dataclass
class PimStreams:
    kernels: list[KernelStream]

    def text(self) -> str:
        return "\n".join(k.text() for k in self.kernels) + "\n"


def emit_streams(module: ModuleOp, batch: int, context: int, layout: str) -> PimStreams:
    target = _target(module)
    kernels = []
    for func in module.funcs:
        dims = {sym("B"): batch, sym("S"): context}  # lower-to-pim lowers decode shapes only
        for op in func.body.ops:
            if not op.name.startswith("pim."):
                continue
            where = f"@{func.sym_name} {op.name} at {op.src or (op.loc.describe() if op.loc else '?')}"
            if op.name == "pim.attention":
                kernels.append(_attention(op, dims, target, layout, where))
            elif op.name == "pim.gemv":
                kernels.append(_gemv(op, dims, target, where))
            else:
                raise NotImplementedError(
                    f"pim backend: no command-stream generator for {op.name} ({where}) on "
                    f"'{target.name}'; streams exist for pim.attention and pim.gemv")
    return PimStreams(kernels)


def _target(module: ModuleOp) -> Target:
    target = module_target(module, "pim backend", error=PimcError)
    if target.pim is None or not target.memory.has_banks:
        raise PimcError(f"pim backend: target '{target.name}' has no [pim] over a bank "
                        "organisation ([memory] ranks, bank_groups, banks_per_group, rows, "
                        "columns)")
    return target


def samsung(target: Target) -> bool:
    """One PIM block per two banks of a pseudo-channel (Samsung HBM-PIM, PIMSIM.md §2)."""
    m, pim = target.memory, target.pim
    return pim.placement == "bank" and \
        pim.units_per_channel * 2 == m.pseudo_channels * m.bank_groups * m.banks_per_group


def geometry_units(target: Target) -> int:
    """PIM units per channel in pimc's generic geometry, which must be the target's count."""
    return Geometry(PimOrg.of(target), PLACEMENT[target.pim.placement], 2).units


def _bound(shape, dims) -> list[int]:
    return [d if isinstance(d, int) else int(d.subs(dims)) for d in shape]


def _dbyte(target: Target) -> int:
    dtype = target.pim.dtype
    if dtype not in DTYPE_BYTES:
        raise PimcError(f"pim backend: target '{target.name}' computes in {dtype}; the PIM "
                        f"streams take {', '.join(DTYPE_BYTES)}")
    return DTYPE_BYTES[dtype]


def _attention(op, dims: dict, target: Target, layout: str, where: str) -> KernelStream:
    b, hq, t, d = _bound(op.operands[0].type.shape, dims)
    hkv, length = _bound(op.operands[1].type.shape, dims)[1:3]
    if t != 1:
        raise NotImplementedError(f"pim backend: {where} has {t} queries per head on "
                                  f"'{target.name}'; PIM attention streams are decode (1 query)")
    stacks = target.memory.stacks
    heads = math.ceil(b * hq / stacks)  # the stacks split the (sequence, query head) pairs
    shape = {"context": length, "heads_per_stack": heads, "head_dim": d, "stacks": stacks,
             "layout": layout}
    if hq != hkv:
        shape["kv_heads"] = hkv
    placement = PLACEMENT[target.pim.placement]
    if layout == "attacc" and (hq != hkv or PimOrg.of(target) != HBM3):
        raise NotImplementedError(
            f"pim backend: {where} on '{target.name}': --layout attacc is AttAcc's generator, "
            f"MHA on its 16-channel HBM3 stack; this op has {hq} query / {hkv} KV heads on "
            f"{target.memory.standard} with {target.memory.channels} channels (use --layout pimc)")
    if samsung(target):
        shape["dtype"] = target.pim.dtype
        calls = [f"PIM_GEMV rows {length} cols {d}  // scores K q",
                 "HOST_SOFTMAX",
                 f"PIM_GEMV rows {d} cols {-(-length // 16) * 16}  // context V^T p"]
        return KernelStream(where, shape, "BA", None, "attention", calls * heads)
    if layout == "pimc":
        _check_units(target, where)
    stream = attention_stream(length, heads, d, _dbyte(target), placement, layout,
                              PimOrg.of(target))
    return KernelStream(where, shape, placement, stream)


def _check_units(target: Target, where: str) -> None:
    units = geometry_units(target)
    if units != target.pim.units_per_channel:
        raise NotImplementedError(
            f"pim backend: {where} on '{target.name}': its [pim] has {target.pim.units_per_channel} "
            f"units per channel; the {target.pim.placement} placement's streams drive {units} "
            "(one per bank, bank group or pseudo-channel)")


def _gemv(op, dims: dict, target: Target, where: str) -> KernelStream:
    xshape = _bound(op.operands[0].type.shape, dims)
    rows, cols = _bound(op.operands[1].type.shape, dims)
    batch = math.prod(xshape[:-1])
    if samsung(target):
        shape = {"batch": batch, "rows": rows, "cols": cols, "stacks": target.memory.stacks}
        calls = [f"PIM_GEMV rows {rows} cols {cols}  // input vector {i}" for i in range(batch)]
        return KernelStream(where, shape, "BA", None, "gemv", calls)
    _check_units(target, where)
    org, placement = PimOrg.of(target), PLACEMENT[target.pim.placement]
    rpu = op.attr("rows_per_unit") or math.ceil(rows / target.pim.units(target.memory))
    in_stack = min(rows, rpu * target.pim.units_per_channel * org.channels)
    lay = GemvLayout(in_stack, cols, batch, _dbyte(target), placement, org, rpu)
    shape = {"batch": batch, "rows": rows, "cols": cols, "rows_per_unit": rpu,
             "rows_in_stack": in_stack, "stacks": target.memory.stacks}
    return KernelStream(where, shape, placement, lay.stream(), "gemv")
