"""Module verification: op signatures, shape rules, SSA dominance and function structure.

Every failure is a VerifyError that names the op, says where it is (the text position it was
parsed from, else its source location) and what was expected versus found, and shows the op.
"""
from __future__ import annotations

from pimc.errors import VerifyError
from pimc.ir.core import Block, Operation, Value, gc_paused
from pimc.ir.dialects.builtin import FuncOp, ModuleOp
from pimc.ir.opdef import OpDef, OpInvalid, infer_results
from pimc.ir.printer import print_op
from pimc.ir.types import FunctionType, results_str, same_type


def where(op: Operation) -> str:
    if op.src is not None:
        text = str(op.src)
        return text + (f" (from {op.loc.describe()})" if op.loc is not None else "")
    return op.loc.describe() if op.loc is not None else "<unknown location>"


def op_error(op: Operation, message: str) -> VerifyError:
    return VerifyError(f"{where(op)}: '{op.name}' op {message}", _context(op))


def _context(op: Operation) -> str:
    if isinstance(op, FuncOp):  # the header only, built from parts that exist even when broken
        args = ", ".join(f"%{a.name_hint or a.index}: {a.type}" for a in op.body.args) \
            if op.regions and op.regions[0].blocks else ""
        ft = op.attributes["function_type"].type
        results = ft.results if isinstance(ft, FunctionType) else ()
        ret = f" -> {results_str(results)}" if results else ""
        return f"func.func @{op.sym_name}({args}){ret} {{"
    if op.regions:  # the op's first line; its regions are too much context
        return print_op(op).splitlines()[0]
    return print_op(op)


def verify_op_signature(op: OpDef) -> None:
    """Operand/result counts, attribute kinds, the shape rule and the op's own checks."""
    cls = type(op)
    ok, want = cls.operand_count_ok(len(op.operands))
    if not ok:
        raise OpInvalid(f"expects {want} operand(s), found {len(op.operands)}")
    if cls.num_results is not None and len(op.results) != cls.num_results:
        raise OpInvalid(f"expects {cls.num_results} result(s), found {len(op.results)}")
    if len(op.regions) != cls.num_regions:
        raise OpInvalid(f"expects {cls.num_regions} region(s), found {len(op.regions)}")
    values = cls.attr_values(op.attributes)
    if cls.infer is not None:
        expected = infer_results(cls, tuple(v.type for v in op.operands), values)
        for r, want_type in zip(op.results, expected):
            if not same_type(r.type, want_type):
                raise OpInvalid(f"result #{r.index} should be {want_type}, found {r.type}")
    op.verify_()


def verify(module: ModuleOp) -> None:
    """Raise VerifyError at the first broken invariant in `module`."""
    if not isinstance(module, ModuleOp):
        raise VerifyError(f"expected a builtin.module at the top, found '{module.name}'")
    with gc_paused():
        _verify_module(module)


def _verify_module(module: ModuleOp) -> None:
    _check(module)
    for op in module.body.ops:
        if not isinstance(op, FuncOp):
            raise op_error(op, "is not allowed at module level (only func.func is)")
        _check(op)
        _verify_block(op.body, set(op.body.args))


def _check(op: Operation) -> None:
    try:
        verify_op_signature(op)
    except OpInvalid as e:
        raise op_error(op, str(e)) from None


def _verify_block(block: Block, defined: set[Value]) -> None:
    for op in block.ops:
        for i, v in enumerate(op.operands):
            if v not in defined:
                raise op_error(op, f"operand #{i} is not defined before this op in an enclosing "
                                   "scope (SSA dominance)")
        if op.has_trait("isolated"):
            raise op_error(op, "cannot be nested inside a function")
        if op.has_trait("terminator") and op is not block.last:
            raise op_error(op, "must be the last op of its block")
        _check(op)
        for region in op.regions:
            for inner in region.blocks:
                _verify_block(inner, defined | set(inner.args))
        defined.update(op.results)
