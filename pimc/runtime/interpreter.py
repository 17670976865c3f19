"""The reference interpreter: evaluates any verified llm-dialect function with numpy.

It is the semantic oracle for passes and frontends, not the fast path. Every op computes in f32
(f64 for f64 tensors) and rounds to its result's element type, like PyTorch's CPU kernels do for
f16/bf16. Symbolic dims are bound from the inputs, and every result's shape is checked against
its IR type, so a shape rule that disagrees with the semantics is caught here. The llm ops'
kernels are the IR's (pimc/ir/reference_kernels.py); this adds the pim/npu and kv ones.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pimc.errors import PimcError
from pimc.ir.core import Value
from pimc.ir.dialects.builtin import ModuleOp, ReturnOp
from pimc.ir.types import TensorType
from pimc.ir.weights import NUMPY_DTYPES, WeightsStore
from pimc.ir.reference_kernels import KERNELS as REFERENCE_KERNELS, Frame, Kernel
from pimc.runtime import kv_ops

# A copy: the aliases and kv kernels below are the interpreter's, not the IR's table.
KERNELS: dict[str, Kernel] = dict(REFERENCE_KERNELS)
# A pim or npu op computes what the llm op it lowers computes; only its data layout or tile
# schedule differs.
KERNELS["pim.gemv"], KERNELS["pim.attention"] = KERNELS["llm.linear"], KERNELS["llm.attention"]
KERNELS["npu.gemm"], KERNELS["npu.matmul"] = KERNELS["llm.linear"], KERNELS["llm.matmul"]
KERNELS.update(kv_ops.KERNELS)


def run(module: ModuleOp, func: str, inputs: Sequence[np.ndarray],
        weights: WeightsStore | None = None) -> list[np.ndarray]:
    """Evaluate `@func` on `inputs` (one array per argument, in order)."""
    fn = module.func(func)
    if len(inputs) != len(fn.args):
        raise PimcError(f"@{func} takes {len(fn.args)} inputs, got {len(inputs)}")
    frame = Frame(weights)
    env: dict[Value, np.ndarray] = {}
    for i, (arg, array) in enumerate(zip(fn.args, inputs)):
        array = np.asarray(array)
        frame.bindings.bind(f"input #{i} of @{func}", arg.type, array)
        env[arg] = array
    for i, (arg, array) in enumerate(zip(fn.args, inputs)):
        frame.bindings.check(f"input #{i} of @{func}", arg.type, env[arg])
    for op in fn.body.ops:
        if isinstance(op, ReturnOp):
            return [env[v] for v in op.operands]
        kernel = KERNELS.get(op.name)
        if kernel is None:
            raise PimcError(f"the interpreter has no kernel for '{op.name}'; it knows: "
                            f"{', '.join(sorted(KERNELS))}")
        outs = kernel(frame, op, [env[v] for v in op.operands])
        for r, value in zip(op.results, outs):
            value = _as_type(value, r.type)
            frame.bindings.check(f"result #{r.index} of '{op.name}' at {op.src or op.loc}",
                                 r.type, value)
            env[r] = value
    raise PimcError(f"@{func} has no func.return")


def _as_type(value: np.ndarray, t: TensorType) -> np.ndarray:
    want = NUMPY_DTYPES.get(t.element.name)
    if want is None:
        raise PimcError(f"the interpreter cannot hold {t.element} values")
    value = np.asarray(value)
    return value if value.dtype == want else value.astype(want)
