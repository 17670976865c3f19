"""pim ops -> PIM command streams, with the concrete shapes the backend options bind.

Every stream is one stack's (the stacks run the same stream side by side on their share):
- pim.attention: layout "pimc" (attention_pimc.py) on the target's organisation; grouped-query
  attention stores each KV head once per query head it serves (the head-per-channel stream has
  no shared-KV mode). layout "attacc" is AttAcc's generator, MHA on its HBM3 stack only.
- pim.gemv: the row-tiled stream of gemv_stream.py with lower-to-pim's rows_per_unit.
- Samsung HBM-PIM (one PIM block per two banks, PIMSIM.md §2) runs PIMSimulator's kernel
  sequences (hbmpim_stream.py, the transactions runtime/pimsim/hbmpim.py simulates): a GEMV per
  input vector, and per (sequence, query head) a score GEMV (K q) and a context GEMV (V^T p)
  with the softmax on the host (the PIM blocks have no exponent unit). A kernel spans every
  pseudo-channel of every stack, each receiving the same transactions (PIMSIM.md §8), so the
  stream printed is one pseudo-channel's, one line per transaction, each kernel call headed by
  its name.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pimc.backends.pim.attention_stream import MAC_COMMAND, OPS, attention_stream, stream_counts
from pimc.backends.pim.gemv_stream import GemvLayout
from pimc.backends.pim.hbmpim_stream import BANKS, gemv_stream, stream_lines, txn_counts
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
    `stream` where the target runs vendor kernels (Samsung HBM-PIM): (call, its transactions on
    one pseudo-channel, hbmpim_stream.Txn) in order; a host step has no transactions."""

    where: str  # @func, op name and location
    shape: dict
    placement: str
    stream: np.ndarray | None
    kind: str = "attention"
    calls: list[tuple[str, list]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        if self.stream is None:
            counts = {"kernel calls": sum(1 for _, txns in self.calls if txns)}
            for k, v in txn_counts([t for _, txns in self.calls for t in txns]).items():
                counts[k] = counts.get(k, 0) + v
            return counts
        return stream_counts(self.stream, self.placement)

    def text(self) -> str:
        if self.stream is None:
            counts = self.counts()
            calls = counts.pop("kernel calls")
            size = f"{calls} kernel call{'s' * (calls != 1)}, " \
                f"{counts['RD'] + counts['WR']} transactions per pseudo-channel: "
        else:
            counts, size = self.counts(), f"{len(self.stream)} requests: "
        head = (f"// {self.where}: " + ", ".join(f"{k} {v}" for k, v in self.shape.items()) +
                "; " + size + ", ".join(f"{k} {v}" for k, v in counts.items()))
        if self.stream is None:
            return "\n".join([head, *(line for call, txns in self.calls
                                       for line in (call, *stream_lines(txns)))])
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


def emit_streams(module: ModuleOp, batch: int, context: int, layout: str,
                 target: Target | None = None) -> PimStreams:
    target = _target(module, target)
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


def _target(module: ModuleOp, given: Target | None) -> Target:
    """The compile's target (the `target` option), or the one a text module was placed for."""
    target = given or module_target(module, "pim backend", error=PimcError)
    if target.pim is None or not target.memory.has_banks:
        raise PimcError(f"pim backend: target '{target.name}' has no [pim] over a bank "
                        "organisation ([memory] ranks, bank_groups, banks_per_group, rows, "
                        "columns)")
    return target


def samsung(target: Target) -> bool:
    """The target's PIM takes Samsung HBM-PIM's command set (its declared `pim.isa`)."""
    return target.pim is not None and target.pim.isa == "hbm-pim"


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
        # every (sequence, query head) in turn on all pseudo-channels, as pim_kernels times it
        shape = {"context": length, "heads": b * hq, "head_dim": d, **_samsung_shape(target)}
        if hq != hkv:
            shape["kv_heads"] = hkv
        shape["dtype"] = target.pim.dtype
        padded = -(-length // 16) * 16  # p over whole 16-lane bursts (hbmpim_stream.LANES)
        scores = _samsung_gemv(length, d, target, where)
        context = _samsung_gemv(d, padded, target, where)
        calls = []
        for h in range(b * hq):
            calls += [(f"PIM_GEMV rows {length} cols {d}  // head {h}: scores K q", scores),
                      (f"HOST_SOFTMAX  // head {h}", []),
                      (f"PIM_GEMV rows {d} cols {padded}  // head {h}: context V^T p", context)]
        return KernelStream(where, shape, "BA", None, "attention", calls)
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
        shape = {"batch": batch, "rows": rows, "cols": cols, **_samsung_shape(target)}
        txns = _samsung_gemv(rows, cols, target, where)
        calls = [(f"PIM_GEMV rows {rows} cols {cols}  // input vector {i}", txns)
                 for i in range(batch)]
        return KernelStream(where, shape, "BA", None, "gemv", calls)
    _check_units(target, where)
    org, placement = PimOrg.of(target), PLACEMENT[target.pim.placement]
    rpu = op.attr("rows_per_unit") or math.ceil(rows / target.pim.units(target.memory))
    in_stack = min(rows, rpu * target.pim.units_per_channel * org.channels)
    lay = GemvLayout(in_stack, cols, batch, _dbyte(target), placement, org, rpu)
    shape = {"batch": batch, "rows": rows, "cols": cols, "rows_per_unit": rpu,
             "rows_in_stack": in_stack, "stacks": target.memory.stacks}
    return KernelStream(where, shape, placement, lay.stream(), "gemv")


def _samsung_channels(target: Target) -> int:
    m = target.memory
    if m.bank_groups * m.banks_per_group != BANKS:
        raise NotImplementedError(
            f"pim backend: '{target.name}' has {m.bank_groups * m.banks_per_group} banks per "
            f"pseudo-channel; the HBM-PIM kernel sequences drive {BANKS} (PIMSIM.md §1)")
    return m.total_channels * m.pseudo_channels


def _samsung_shape(target: Target) -> dict:
    return {"stacks": target.memory.stacks, "pseudo_channels": _samsung_channels(target)}


def _samsung_gemv(rows: int, cols: int, target: Target, where: str) -> list:
    try:
        return gemv_stream(rows, cols, _samsung_channels(target))
    except PimcError as err:
        raise PimcError(f"pim backend: {where} on '{target.name}': {err}") from None
