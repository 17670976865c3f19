"""Tensor and pipeline parallelism: the step of one device's shard.

NeuPIMs simulates one device of a tensor- and pipeline-parallel deployment (casys-kaist/NeuPIMs
configs/model_configs/gpt3-*.json: n_tp, n_pp; src/StageProgram.cc init_PIM_program takes
`model_n_head / n_tp` heads, init_SA_program divides the projection/FFN input columns by n_tp;
model_n_layer is 1, one layer standing for the device's share). pimc does the same from the
whole model's IR, Megatron-style (Shoeybi et al. 2019, §3):

* tensor parallelism `tp`: a GEMM whose activation input is whole is column-parallel (its
  weight's output columns, its output and its FLOPs divided by tp: QKV, FFN up, the LM head);
  one whose input is already split is row-parallel (weight rows and input divided, output whole:
  attention output projection, FFN down). Attention and the KV cache are split by heads. An op
  that reads a split value (bias add, GELU, the K/V appends) works on its shard. Norms, residual
  adds and embeddings are replicated. An op's FLOPs scale by 1/tp when it works on a shard; its
  bytes by the byte-weighted share of the tensors it touches that are split.
* pipeline parallelism `pp`: each device holds layers/pp consecutive layers. The step simulated
  is one stage, the first ceil(layers/pp) layers plus the ops outside any layer (embedding,
  final norm, LM head: the first and last stages' extras, counted together so the simulated
  stage bounds the slowest one). A decode iteration passes every stage in turn, so its latency
  is pp stage times.

Communication is not modelled, as in NeuPIMs (its StageProgram has no all-reduce or
send/receive op): the tp all-reduces after each row-parallel GEMM and the pp activations
between stages take no time. Weight and KV-cache memory per device is 1/(tp*pp) of the whole.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import sympy

from pimc.errors import PimcError
from pimc.ir.core import BlockArgument, Operation, OpResult, Value
from pimc.ir.dialects.builtin import FuncOp
from pimc.ir.location import NameLoc
from pimc.ir.symbolic import sym
from pimc.ir.types import TensorType
from pimc.passes.analyze_intensity import Cost
from pimc.passes.place_devices import body_ops

GEMM_OPS = ("llm.matmul", "llm.linear")
ATTENTION_OPS = ("llm.attention", "pim.attention")
REPLICATED = ("llm.embedding", "llm.gather")  # Megatron's vocab-parallel embedding aside
_LAYER = re.compile(r"\.(\d+)(?:\.|$)")  # "transformer.h.7.attn", "model.layers.7.mlp"


@dataclass(frozen=True)
class Shard:
    """How one op's work scales on one device: FLOPs and bytes factors, and which of its
    GEMM dims is split (`split`: "n" column-parallel, "k" row-parallel, "" none)."""
    flops: float = 1.0
    bytes: float = 1.0
    split: str = ""

    def cost(self, cost: Cost) -> Cost:
        if self.flops == 1.0 and self.bytes == 1.0:
            return cost
        flops, nbytes = cost.flops * self.flops, cost.bytes * self.bytes
        return Cost(flops, nbytes, flops / nbytes if nbytes else 0.0)


def check_parallelism(tp: int, pp: int) -> None:
    for name, value in (("--tp", tp), ("--pp", pp)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise PimcError(f"{name}: must be a positive integer, got {value!r}")


def _is_weight(v: Value) -> bool:
    return isinstance(v, OpResult) and v.op.name == "llm.weight"


def state_args(func: FuncOp) -> list[BlockArgument]:
    """A step's state: the arguments it returns again, the last as many as its results after
    the logits (KV caches, kv-compress' KIVI storage and H2O scores), each [B, Hkv, ...]."""
    n = len(func.body.last.operands) - 1
    state = list(func.args)[-n:] if n > 0 else []
    return [a for a in state if isinstance(a.type, TensorType) and a.type.rank >= 3]


def _nbytes(v: Value, subs: dict) -> float:
    t = v.type
    if not isinstance(t, TensorType):
        return 0.0
    return float(sympy.sympify(t.numel).xreplace(subs)) * t.element.bits / 8


def shard_table(func: FuncOp, tp: int, bindings: dict[str, int]) -> dict[Operation, Shard]:
    """Each op's `Shard` at tensor-parallel degree `tp` (ops absent: replicated, factor 1)."""
    if tp == 1:
        return {}
    subs = {sym(k): sympy.Integer(v) for k, v in bindings.items()}
    for op in body_ops(func):
        heads = op.operands[1].type.shape[1] if op.name in ATTENTION_OPS else None
        if isinstance(heads, int) and tp > heads:  # a shard needs at least one KV head
            raise PimcError(f"--tp: {tp} exceeds @{func.sym_name}'s {heads} KV heads; "
                            f"allowed: 1..{heads}")
    split: set[Value] = set(state_args(func))  # KV caches and their kin, by heads
    table: dict[Operation, Shard] = {}
    for op in body_ops(func):
        acts = [v for v in op.operands if not _is_weight(v)]
        weights = [v for v in op.operands if _is_weight(v)]
        if op.name in REPLICATED or op.name == "llm.weight":
            continue
        if op.name in GEMM_OPS and weights:
            row = any(v in split for v in acts)  # input already split: row-parallel
            tensors = [(v, True) for v in weights] + [(v, row) for v in acts] + \
                      [(r, not row) for r in op.results]
            if not row:
                split.update(op.results)
            kind = "k" if row else "n"
        elif op.name in ATTENTION_OPS or any(v in split for v in acts):
            tensors = [(v, True) for v in (*op.operands, *op.results)]
            split.update(op.results)
            kind = "heads" if op.name in ATTENTION_OPS else "elementwise"
        elif op.name == "llm.moe":  # experts' weights split, tokens whole, output all-reduced
            tensors = [(v, _is_weight(v)) for v in (*op.operands, *op.results)]
            kind = "experts"
        else:
            continue
        total = sum(_nbytes(v, subs) for v, _ in tensors)
        share = sum(_nbytes(v, subs) / (tp if s else 1) for v, s in tensors)
        table[op] = Shard(1.0 / tp, share / total if total else 1.0 / tp, kind)
    return table


def layer_of(op: Operation) -> int | None:
    """The decoder layer an op belongs to, from its module-path location, or None."""
    m = _LAYER.search(op.loc.name) if isinstance(op.loc, NameLoc) else None
    return int(m.group(1)) if m else None


def stage_ops(func: FuncOp, pp: int) -> set[Operation] | None:
    """The ops of one pipeline stage (see the module docstring); None keeps them all."""
    if pp == 1:
        return None
    layers = {layer_of(op) for op in body_ops(func)} - {None}
    if not layers:
        raise PimcError(f"--pp {pp}: @{func.sym_name} has no ops located in numbered layers "
                        "(module paths like model.layers.<k>); cannot split it into stages")
    if pp > len(layers):
        raise PimcError(f"--pp: {pp} stages exceed @{func.sym_name}'s {len(layers)} layers; "
                        f"allowed: 1..{len(layers)}")
    keep = sorted(layers)[:math.ceil(len(layers) / pp)]
    return {op for op in body_ops(func) if layer_of(op) is None or layer_of(op) in keep}
