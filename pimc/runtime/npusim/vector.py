"""Vector-unit timing: elementwise ops, softmax and norms beside the systolic arrays.

The model is NeuPIMs' (casys-kaist/NeuPIMs src/SystolicWS.cc get_vector_compute_cycles, with
every latency 1 cycle as in configs/systolic_ws_128x128_dev.json "add_latency" ...
"scalar_mul_latency": 1). One instruction works on one row of `row` elements; a row takes
ceil(row / lanes) iterations per vector op, and a reduction an add tree of tree(row) steps,
tree(x) = 1 if x <= lanes else ceil(x / lanes) + tree(ceil(x / lanes)):
- elementwise (add, mul, silu, gelu, ...): iterations (NeuPIMs ADD and GELU: 1 op each);
- softmax: 2 tree + 3 iterations (a max and a sum tree; add, exp, mul per element);
- layernorm: 2 tree + 3 + 5 iterations (mean and variance trees; 2 scalar muls and a sqrt;
  2 adds and 3 muls per element);
- rmsnorm: tree + 2 + 3 iterations (derived from layernorm without the mean: one tree for the
  sum of squares, a scalar mul and a sqrt, then square, scale and weight multiplies).
Rows go to the least-busy unit (NeuPIMs issue_ex_inst), so `units` rows run side by side.
Operands stream from memory at peak bandwidth, double-buffered: cycles = max(compute, memory).
"""
from __future__ import annotations

import math

from pimc.errors import PimcError
from pimc.runtime.npusim.gemm import NpuResult, bytes_per_cycle
from pimc.targets import Target
from pimc.targets.spec import DTYPE_BYTES

# NeuPIMs' vector units when the target names none (configs/systolic_ws_128x128_dev.json
# "vector_core_count": 8, "vector_core_width": 128).
DEFAULT_VECTOR_UNITS = 8
DEFAULT_VECTOR_LANES = 128

# kind -> (operands read per element, vector ops per iteration, add trees, scalar ops)
VECTOR_KINDS: dict[str, tuple[int, int, int, int]] = {
    "add": (2, 1, 0, 0), "mul": (2, 1, 0, 0), "elementwise": (1, 1, 0, 0),
    "silu": (1, 1, 0, 0), "gelu": (1, 1, 0, 0),
    "softmax": (1, 3, 2, 0), "layernorm": (1, 5, 2, 3), "rmsnorm": (1, 3, 1, 2),
}


def add_tree_steps(size: int, lanes: int) -> int:
    if size <= lanes:
        return 1
    partial = math.ceil(size / lanes)
    return partial + add_tree_steps(partial, lanes)


def vector_units(target: Target) -> tuple[int, int]:
    xpu = target.xpu
    if xpu is None:
        raise PimcError(f"npusim: target '{target.name}' has no [xpu]; expected an NPU")
    return (xpu.vector_units or DEFAULT_VECTOR_UNITS, xpu.vector_lanes or DEFAULT_VECTOR_LANES)


def vector_time(elements: int, kind: str, target: Target, row: int | None = None) -> NpuResult:
    """Time `kind` over `elements` values. A reduction (softmax, the norms) needs `row`, the
    length it reduces over (the hidden size, the key length); an elementwise op is cut into
    lane-wide rows unless `row` is given."""
    if kind not in VECTOR_KINDS:
        raise PimcError(f"npusim: unknown vector op kind '{kind}'; expected one of: "
                        f"{', '.join(VECTOR_KINDS)}")
    units, lanes = vector_units(target)
    reads, ops, trees, scalars = VECTOR_KINDS[kind]
    if row is None and (trees or scalars):
        raise PimcError(f"npusim: vector op '{kind}' reduces along rows; give row=<its length>")
    row = row or lanes
    if elements < 1 or row < 1 or (elements % row and (trees or scalars)):
        raise PimcError(f"npusim: {elements} elements in rows of {row} for '{kind}'; expected "
                        "positive integers with the rows dividing the elements")
    iterations = math.ceil(row / lanes)
    per_row = ops * iterations + trees * add_tree_steps(row, lanes) + scalars
    rows = math.ceil(elements / row)
    compute = math.ceil(rows / units) * per_row

    moved = (reads + 1) * elements * DTYPE_BYTES[target.xpu.dtype]
    memory = math.ceil(moved / bytes_per_cycle(target))
    cycles = max(compute, memory)
    return NpuResult(cycles, compute, memory, rows, ops * elements / (units * lanes * cycles),
                     int(moved))
