"""numpy semantics of the llm dialect's logic and index ops (`llm_logic.py`), one definition
each, beside the IR like reference_ops.py: the reference kernels (reference_kernels.py, which the
interpreter and raise-masks' probe evaluation use) call them.

numba-cpu runs these as numpy in its generated driver (they shape masks and positions, never
the heavy work), calling the same functions (backends/numba_cpu/logic_rules.py), so the two
cannot drift.
"""
from __future__ import annotations

import numpy as np
from scipy.special import erf as _erf

COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
           "gt": np.greater, "ge": np.greater_equal}
LOGICAL = {"and": np.logical_and, "or": np.logical_or, "xor": np.logical_xor}


def compare(a, b, predicate: str):
    return COMPARE[predicate](a, b)


def logical(a, b, op: str):
    return LOGICAL[op](a, b)


def cumsum(x, axis: int, exclusive: bool = False, reverse: bool = False):
    if reverse:
        x = np.flip(x, axis)
    out = np.cumsum(x, axis=axis, dtype=x.dtype)
    if exclusive:
        out = out - x
    return np.flip(out, axis) if reverse else out


def trilu(x, upper: bool, k: int):
    return np.triu(x, k) if upper else np.tril(x, k)


def scatter_nd(data, indices, updates):
    """ONNX ScatterND (reduction none): out[indices[i]] = updates[i]."""
    out = np.array(data, copy=True)
    flat = indices.reshape(-1, indices.shape[-1])
    rows = updates.reshape((flat.shape[0],) + data.shape[indices.shape[-1]:])
    for index, row in zip(flat, rows):
        out[tuple(int(i) for i in index)] = row
    return out


def mod(a, b):
    return np.mod(a, b)


def erf(x):
    return _erf(x).astype(x.dtype, copy=False)


def _dim(frame, op, name):
    return frame.bindings.dim(op.attr(name))


KERNELS = {
    "llm.compare": lambda f, op, a: [compare(a[0], a[1], op.attr("predicate"))],
    "llm.logical": lambda f, op, a: [logical(a[0], a[1], op.attr("op"))],
    "llm.not": lambda f, op, a: [np.logical_not(a[0])],
    "llm.isnan": lambda f, op, a: [np.isnan(a[0])],
    "llm.where": lambda f, op, a: [np.where(*a)],
    "llm.cumsum": lambda f, op, a: [cumsum(a[0], op.attr("axis"), op.attr("exclusive"),
                                           op.attr("reverse"))],
    "llm.trilu": lambda f, op, a: [trilu(a[0], op.attr("upper"), _dim(f, op, "k"))],
    "llm.scatter_nd": lambda f, op, a: [scatter_nd(*a)],
    "llm.erf": lambda f, op, a: [erf(a[0].astype(np.float32) if a[0].dtype != np.float64
                                     else a[0])],
    "llm.mod": lambda f, op, a: [mod(*a)],
}
