"""The cost model of a simulated step: the placement's cost model on one device's shard
(parallel.py), with NPU ops timed by npusim where the target's xPU is an NPU.

Why npusim: NeuPIMs times its NPU cycle by cycle (casys-kaist/NeuPIMs src/SystolicWS.cc,
src/operations/MatMul.cc: weight-stationary 128x128 arrays fed by MOVIN tiles from DRAM), not by
a roofline. npusim (runtime/npusim) is pimc's model of that core, so with `npu_timing =
"npusim"` every GEMM with a weight operand and every vector op (norms, softmax, GELU/SiLU, adds)
on an `npu` device takes npusim's time at the shard's shape:
  * a GEMM [m, k] x [k, n], m the activation rows (batch x tokens), n or k divided by tp for a
    column- or row-parallel shard: `gemm_time`, which re-reads the weight tile per M block;
  * a vector op over the result's elements (1/tp of them when it works on a shard), reduced
    along the last dim for norms and softmax: `vector_time`.
Attention on the NPU (the NPU-only baseline) keeps the roofline's bandwidth time: NeuPIMs'
FusedMHA (src/operations/FusedMHA.cc) issues one tile per request, spread over the cores,
each streaming its K/V once, which is bandwidth-bound; npusim's batched GEMM would instead run
the B x heads GEMVs one after another, each paying the array's fill and drain.

Sub-batches re-read the weights: NeuPIMs builds each stage's GEMMs as separate MatMul ops over
the same parameters (src/StageProgram.cc: the stage table, lines 27-30, puts QKVgen#1 in stage
A and QKVgen#2 in stage B; init_SA_program makes each `projection_block`/`ffn1_block`/
`qkv_gen_block` a new MatMul), and each MatMul
loads its weight tiles from DRAM (src/operations/MatMul.cc initialize_instructions: a MOVIN of
the weight tile per L1 tile), so pimc's per-sub-batch GEMMs each stream their weights too.

A bias add right after a GEMM takes no NPU time: NeuPIMs' MatMul loads the bias into the
accumulator scratchpad before the first K tile (src/operations/MatMul.cc initialize_instructions,
"-- bias --": a MOVIN to ACCUM_SPAD_BASE when K == 0), so the add happens in the accumulation.

With `pim_timing = "neupims-mha"`, attention on PIM takes NeuPIMs' own latency estimate
(neupims_mha.py) instead of the cost model's time.

PIM kernels under the `sim` cost model run at the shard's shape (heads / tp for attention,
rows or columns / tp for a GEMV).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import sympy

from pimc.ir.core import Operation
from pimc.ir.symbolic import sym
from pimc.passes.analyze_intensity import VIEWS, Cost
from pimc.passes.cost_model import CostModel
from pimc.runtime.npusim import gemm_time, vector_time
from pimc.runtime.pimsim.sim_cost import PIM_KINDS, SimCostModel, kernel_of
from pimc.runtime.system.kv_layout import stored_width
from pimc.runtime.system.neupims_mha import attention_seconds
from pimc.runtime.system.parallel import ATTENTION_OPS, GEMM_OPS, Shard
from pimc.targets import DeviceSpec, Target
from pimc.targets.spec import DTYPE_BYTES

NPU_TIMINGS = ("auto", "npusim", "roofline")
PIM_TIMINGS = ("cost-model", "neupims-mha")  # neupims_mha.py: NeuPIMs' own estimate
VECTOR_OPS = {"llm.layernorm": "layernorm", "llm.rmsnorm": "rmsnorm", "llm.softmax": "softmax",
              "llm.gelu": "gelu", "llm.silu": "silu", "llm.add": "add", "llm.mul": "mul"}
_NONE = Shard()


def uses_npusim(option: str, target: Target) -> bool:
    """`auto`: npusim where the xPU is an NPU (NeuPIMs' presets), the roofline on a GPU."""
    if option == "auto":
        return target.xpu is not None and target.xpu.kind == "npu"
    return option == "npusim"


class StepCost(CostModel):
    """`base` (the placement's cost model) on the shard `shards` describes, npusim on NPUs."""

    name = "step"

    def __init__(self, base: CostModel, target: Target, shards: dict[Operation, Shard],
                 tp: int = 1, npusim: bool = False, pim_timing: str = "cost-model"):
        self.base, self.target, self.shards, self.tp = base, target, shards, tp
        self.npusim = npusim and target.xpu is not None
        self.neupims_mha = pim_timing == "neupims-mha"

    def shard(self, op: Operation | None) -> Shard:
        return self.shards.get(op, _NONE) if op is not None else _NONE

    def op_time(self, cost: Cost, device: DeviceSpec, op: Operation | None = None,
                dims: Mapping[str, int] | None = None) -> float:
        shard = self.shard(op)
        cost = shard.cost(cost)
        if cost.flops == 0 and cost.bytes == 0:
            return 0.0
        if self.npusim and device.kind == "npu" and op is not None and dims is not None:
            seconds = self._npu_time(op, dims, shard)
            if seconds is not None:
                return seconds + device.overhead_s
        if self.neupims_mha and device.kind in PIM_KINDS and op is not None \
                and op.name in ATTENTION_OPS and dims is not None:
            return self._neupims_mha(op, dims, shard) + device.overhead_s
        if shard.split and device.kind in PIM_KINDS and isinstance(self.base, SimCostModel):
            kernel = kernel_of(op, dims)
            if kernel is not None:
                seconds, _ = self.base.kernel_time(*self._shard_kernel(*kernel, shard))
                if seconds is not None:
                    return seconds + device.overhead_s
        return self.base.op_time(cost, device, op, dims)

    def op_source(self, device: DeviceSpec, op: Operation | None = None,
                  dims: Mapping[str, int] | None = None) -> str:
        """Which model `op_time` took the time from, case for case as it decides."""
        shard = self.shard(op)
        if self.npusim and device.kind == "npu" and op is not None and dims is not None \
                and self._npu_time(op, dims, shard) is not None:
            return "npusim"
        if self.neupims_mha and device.kind in PIM_KINDS and op is not None \
                and op.name in ATTENTION_OPS and dims is not None:
            return "neupims-mha"
        if shard.split and device.kind in PIM_KINDS and isinstance(self.base, SimCostModel):
            kernel = kernel_of(op, dims)
            if kernel is not None and \
                    self.base.kernel_time(*self._shard_kernel(*kernel, shard))[0] is not None:
                return "sim"
        return self.base.op_source(device, op, dims)

    def unit_of(self, op: Operation, device: DeviceSpec) -> str:
        """The lane an op runs on (schedule.py): npusim's vector ops on an NPU get the vector
        units' own lane, beside the systolic arrays (NeuPIMs src/NeuPIMSystolicWS.cc cycle())."""
        return "vector" if self.npusim and device.kind == "npu" and op.name in VECTOR_OPS \
            else ""

    def transfer_time(self, nbytes: float, src: DeviceSpec, dst: DeviceSpec) -> float:
        return self.base.transfer_time(nbytes, src, dst)

    def _neupims_mha(self, op: Operation, dims: Mapping[str, int], shard: Shard) -> float:
        subs = {sym(k): v for k, v in dims.items()}
        batch, heads, context, head_dim = (int(sympy.sympify(d).xreplace(subs))
                                           for d in op.operands[1].type.shape)
        if shard.split:
            heads = math.ceil(heads / self.tp)
        width = DTYPE_BYTES[self.target.pim.dtype] if self.target.pim is not None else 2
        width = stored_width(op, context, head_dim, width)  # a KIVI cache: as stored
        return attention_seconds(batch, heads, head_dim, context,
                                 self.target.memory.total_channels, width)

    def _shard_kernel(self, kind: str, shape: dict, shard: Shard) -> tuple[str, dict]:
        tp, shape = self.tp, dict(shape)
        if kind == "attention":
            shape["heads"] = math.ceil(shape["heads"] / tp)
        elif kind == "gemv":
            dim = "cols" if shard.split == "k" else "rows"
            shape[dim] = math.ceil(shape[dim] / tp)
        return kind, shape

    def _npu_time(self, op: Operation, dims: Mapping[str, int], shard: Shard) -> float | None:
        subs = {sym(k): v for k, v in dims.items()}

        def bound(shape) -> list[int]:
            return [int(sympy.sympify(d).xreplace(subs)) for d in shape]

        if op.name in GEMM_OPS and shard.split in ("", "n", "k"):
            weights = [v for v in op.operands if _is_weight(v)]
            if len(weights) != 1 or len(weights[0].type.shape) != 2 or \
                    op.attributes.get("transpose_a") is not None and \
                    getattr(op.attributes["transpose_a"], "value", False):
                return None
            act = op.operands[0]
            if act is weights[0]:
                return None
            m = math.prod(bound(act.type.shape[:-1]))
            a, b = bound(weights[0].type.shape)
            transposed = op.name == "llm.linear" or \
                getattr(op.attributes.get("transpose_b"), "value", False)
            k, n = (b, a) if transposed else (a, b)
            if shard.split == "n":
                n = math.ceil(n / self.tp)
            elif shard.split == "k":
                k = math.ceil(k / self.tp)
            return gemm_time(m, k, n, self.target).seconds(self.target)
        if _fused_bias(op):
            return 0.0
        kind = VECTOR_OPS.get(op.name)
        if kind is None or not op.results:
            return None
        shape = bound(op.results[0].type.shape)
        elements, row = math.prod(shape), shape[-1] if shape else 1
        if elements == 0:
            return 0.0
        if kind in ("layernorm", "rmsnorm", "softmax"):
            rows = math.ceil(elements // row * shard.flops)
            return vector_time(rows * row, kind, self.target, row=row).seconds(self.target)
        return vector_time(math.ceil(elements * shard.flops), kind,
                           self.target).seconds(self.target)


def _is_weight(v) -> bool:
    return getattr(getattr(v, "op", None), "name", "") == "llm.weight"


def _fused_bias(op: Operation) -> bool:
    """An add of a 1-D weight to a GEMM's result (through views): the GEMM's bias."""
    if op.name != "llm.add" or len(op.operands) != 2:
        return False
    bias = [v for v in op.operands if _is_weight(v) and len(v.type.shape) == 1]
    if len(bias) != 1:
        return False
    x = next(v for v in op.operands if v is not bias[0])
    while getattr(getattr(x, "op", None), "name", "") in VIEWS:
        x = x.op.operands[0]
    return getattr(getattr(x, "op", None), "name", "") in GEMM_OPS
