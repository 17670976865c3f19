"""numba-cpu rules for the llm dialect's logic and index ops (`llm_logic.py`): numpy calls in
the generated driver (they shape masks and positions, never the heavy work) into the same
functions the interpreter runs, pimc/ir/logic_reference.py (imported there as `L`), so the two
cannot drift.
"""
from __future__ import annotations

from pimc.ir.symbolic import dim_str


def _call(fn: str, *attrs: str):
    """A numba-cpu rule calling `L.fn(operands..., attrs...)` (L is pimc.ir.logic_reference)."""
    def emit(op, a):
        values = [f"({dim_str(op.attr(n))})" if hasattr(op.attr(n), "free_symbols")
                  else repr(op.attr(n)) for n in attrs]
        return f"L.{fn}({', '.join([*a, *values])})"
    return emit


RULES = {
    "llm.compare": _call("compare", "predicate"),
    "llm.logical": _call("logical", "op"),
    "llm.not": lambda op, a: f"np.logical_not({a[0]})",
    "llm.isnan": lambda op, a: f"np.isnan({a[0]})",
    "llm.where": lambda op, a: f"np.where({', '.join(a)})",
    "llm.cumsum": _call("cumsum", "axis", "exclusive", "reverse"),
    "llm.trilu": _call("trilu", "upper", "k"),
    "llm.scatter_nd": _call("scatter_nd"),
    "llm.erf": lambda op, a: f"L.erf({a[0]})",
    "llm.mod": _call("mod"),
}
