"""numba-cpu rules for the kv dialect: each calls a kernel of kv_kernels.py, reached as `K.kvk`
(the kernels module re-exports it, so a backend that reuses these rules with its own header,
cuda, finds them too).

In place: an eviction's kv.select writes into the cache it reads when that cache is its to
overwrite: a fresh array this step made (a KV append, whose result is either a new array or
the unfilled room of a buffer generation preallocated, or the result of another kv op) that
nothing reads after it.
"""
from __future__ import annotations

from pimc.ir.core import BlockArgument, Operation, Value
from pimc.ir.dialects.builtin import ReturnOp
from pimc.ir.symbolic import dim_str

# kv ops whose results are fresh arrays this step owns (select may alias its input, which is
# then owned too)
_OWNED = frozenset({"kv.select", "kv.dequantize", "kv.attention_score", "kv.key_norm"})


def _owned(v: Value) -> bool:
    op = getattr(v, "op", None)
    if op is None:  # a function argument: the caller's
        return False
    if op.name == "llm.concat":  # a KV append (codegen._is_append): new array or spare room
        return len(op.operands) == 2 and isinstance(op.operands[0], BlockArgument)
    return op.name in _OWNED


def last_reader(op: Operation, v: Value) -> bool:
    """`op` reads `v` after every other reader, and the function does not return v."""
    ops = list(op.parent.ops)
    at = ops.index(op)
    for user, _ in v.uses:
        if isinstance(user, ReturnOp) or (user is not op and ops.index(user) > at):
            return False
    return True


def _inplace(op: Operation, v: Value) -> bool:
    return _owned(v) and last_reader(op, v)


def _dequantize(op: Operation, a: list[str]) -> str:
    buffer = a[3] if len(a) > 3 else None
    return (f"K.kvk.dequantize({a[0]}, {a[1]}, {a[2]}, {buffer}, {op.attr('bits')}, "
            f"{op.attr('group')}, {op.attr('axis')!r}, {op.attr('residual')})")


KV_RULES = {
    "kv.select": lambda op, a: (f"K.kvk.select({a[0]}, {a[1]}, "
                                f"{op.operands[1].type.rank == 3 and _inplace(op, op.operands[0])})"),
    "kv.key_norm": lambda op, a: f"K.kvk.key_norm({a[0]})",
    "kv.attention_score": lambda op, a: (
        f"K.kvk.attention_score({a[0]}, {a[1]}, {a[2] if len(a) > 2 else None}, "
        f"{op.attr('scale')!r}, {op.attr('window')}, {op.attr('pool')})"),
    "kv.keep": lambda op, a: (
        f"K.kvk.keep({a[0]}, {a[1] if len(a) > 1 else None}, {dim_str(op.attr('count'))}, "
        f"{op.attr('sinks')}, {dim_str(op.attr('window'))}, {op.attr('largest')})"),
    "kv.quantize": lambda op, a: (f"K.kvk.quantize({a[0]}, {op.attr('bits')}, {op.attr('group')}, "
                                  f"{op.attr('axis')!r}, {op.attr('residual')})"),
    "kv.dequantize": _dequantize,
    "kv.prune_channels": lambda op, a: (f"K.kvk.prune_channels({a[0]}, {a[1]}, {op.attr('keep')}, "
                                        f"{op.attr('window')})"),
    "kv.heads": lambda op, a: f"K.kvk.heads({a[0]}, {list(op.attr('heads'))})",
    "kv.merge_heads": lambda op, a: f"K.kvk.merge_heads({a[0]}, {a[1]}, {list(op.attr('heads'))})",
}
