"""pim ops -> PIM command streams, with the concrete shapes the backend options bind."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pimc.backends.pim.attention_stream import (CHANNELS, MAC_COMMAND, OPS, attention_stream,
                                                 stream_counts)
from pimc.errors import PimcError
from pimc.ir.attrs import StrAttr
from pimc.ir.dialects.builtin import ModuleOp
from pimc.ir.symbolic import sym
from pimc.targets import Target, get_target

PLACEMENT = {"bank": "BA", "bankgroup": "BG", "buffer": "BUFFER"}  # targets -> AttAcc's names


@dataclass
class KernelStream:
    """One pim op's commands for one HBM stack, with what it was generated from."""

    where: str  # @func, op name and location
    shape: dict
    placement: str
    stream: np.ndarray

    def counts(self) -> dict[str, int]:
        return stream_counts(self.stream, self.placement)

    def text(self) -> str:
        head = (f"// {self.where}: " + ", ".join(f"{k} {v}" for k, v in self.shape.items()) +
                f"; {len(self.stream)} requests: " +
                ", ".join(f"{k} {v}" for k, v in self.counts().items()))
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
            if op.name != "pim.attention":
                raise NotImplementedError(
                    f"pim backend: no command-stream generator for {op.name} yet ({where}); "
                    "streams exist for pim.attention (AttAcc HBM3-PIM)")
            kernels.append(_attention(op, dims, target, layout, where))
    return PimStreams(kernels)


def _target(module: ModuleOp) -> Target:
    attr = module.attributes.get("pimc.target")
    if not isinstance(attr, StrAttr):
        raise PimcError("pim backend: the module has no pimc.target; run place-devices and "
                        "lower-to-pim first")
    target = get_target(attr.value)
    memory = target.memory
    if target.pim is None or memory.standard != "HBM3" or memory.channels != CHANNELS:
        raise NotImplementedError(
            f"pim backend: the attention stream models AttAcc's HBM3-PIM stack ({CHANNELS} "
            f"channels); target '{target.name}' has {memory.standard} with {memory.channels} "
            "channels per stack (try -t attacc-bank, attacc-bg or attacc-buffer)")
    return target


def _attention(op, dims: dict, target: Target, layout: str, where: str) -> KernelStream:
    def bound(shape):
        return [d if isinstance(d, int) else int(d.subs(dims)) for d in shape]
    b, hq, t, d = bound(op.operands[0].type.shape)
    hkv, length = bound(op.operands[1].type.shape)[1:3]
    if t != 1 or hq != hkv:
        raise NotImplementedError(
            f"pim backend: AttAcc's stream is MHA decode attention (one query per KV head); "
            f"{where} has {hq} query heads over {hkv} KV heads and {t} queries")
    stacks = target.memory.stacks
    heads = math.ceil(b * hkv / stacks)  # the stacks split the (sequence, head) pairs
    placement = PLACEMENT[target.pim.placement]
    bytes_per = 2 if target.pim.dtype in ("fp16", "bf16") else 4
    stream = attention_stream(length, heads, d, bytes_per, placement, layout)
    return KernelStream(where, {"context": length, "heads_per_stack": heads, "head_dim": d,
                                "stacks": stacks, "layout": layout}, placement, stream)
