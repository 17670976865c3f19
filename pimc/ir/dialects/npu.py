"""npu dialect: the ops `lower-to-npu` makes of GEMMs placed on a systolic-array NPU.

Each op computes exactly what the llm op it replaces computes (every backend can still run it and
the interpreter checks the lowering); what it adds is its weight-stationary tile schedule, decided
from the target's arrays and SRAM:
- the stationary operand (a linear's W [N, K], a matmul's b) is cut into `tile_k` x `tile_n`
  tiles (the array's rows x columns): `k_tiles` x `n_tiles` of them;
- the streamed operand passes through in blocks of at most `tile_m` rows (what the SRAM holds
  next to the double-buffered weight tiles), so M may stay symbolic;
- the `arrays` arrays share each streamed block and take the column tiles round-robin
  (`assignment = "n-round-robin"`): array j holds column tiles j, j + arrays, ...
"""
from __future__ import annotations

from pimc.ir.dialects.llm import LinearOp, MatmulOp
from pimc.ir.opdef import Attr, OpDef

SCHEDULE_ATTRS = {
    "tile_m": Attr("int"), "tile_k": Attr("int"), "tile_n": Attr("int"),
    "k_tiles": Attr("int"), "n_tiles": Attr("int"), "arrays": Attr("int"),
    "assignment": Attr("str", "n-round-robin", choices=("n-round-robin",)),
}


class NpuGemmOp(OpDef):
    name = "npu.gemm"
    summary = "x @ w^T + bias on the systolic arrays, w tiled weight-stationary (an llm.linear)"
    operand_names = ("x", "w", "bias?")
    attrs = dict(SCHEDULE_ATTRS)
    infer = staticmethod(LinearOp.infer)


class NpuMatmulOp(OpDef):
    name = "npu.matmul"
    summary = "batched a @ b on the systolic arrays, b tiled weight-stationary (an llm.matmul)"
    operand_names = ("a", "b")
    attrs = {"transpose_a": Attr("bool", False), "transpose_b": Attr("bool", False),
             **SCHEDULE_ATTRS}
    infer = staticmethod(MatmulOp.infer)


OPS = [NpuGemmOp, NpuMatmulOp]
