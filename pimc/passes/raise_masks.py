"""raise-llm-ops: attention masks recognised by what they compute (part of the pass's pattern
table, through raise_patterns_onnx.PATTERNS).

Exporters spell HF's mask out as dozens of ops (ranges, comparisons, gathers on the flattened
`attention_mask`, packed-sequence detection, `where(..., 0, -inf)`), each exporter differently.
Rather than match one spelling, the pattern takes the ops that compute llm.attention's mask
operand, checks that they read nothing but dims, constants and at most one [batch, keys] integer
argument (the padding mask), evaluates them with the interpreter's kernels (the IR's table,
pimc/ir/reference_kernels.py) on a few probe shapes and padding masks, and compares the result
with what `causal`, `window` and a key-padding mask allow. When one spelling agrees on every
probe, the attention takes it: `causal`/`window` flags and the mask
`reshape(cast(attention_mask))` [B, 1, 1, S]; dce removes the rest.

An additive mask with a finite fill (HF's finfo.min) is only equal to a boolean one while every
query sees some key: a fully masked row averages all values instead of giving zeros. So a finite
fill is accepted only where no padding is involved (causal rows always see their own key).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy

from pimc.errors import PimcError
from pimc.ir.builder import Builder
from pimc.ir.core import BlockArgument, Operation, OpResult, Value
from pimc.ir.reference_kernels import KERNELS, Frame
from pimc.ir.symbolic import dims_equal
from pimc.ir.types import TensorType, i1
from pimc.ir.weights import NUMPY_DTYPES
from pimc.passes.rewrite import Rewriter

MAX_OPS = 400  # a mask is tens of ops; a larger slice is not a mask computation
QUERIES, PASTS = (1, 3), (0, 2)  # probe lengths: a decode step and a short prefill, with a past
LONGEST = 512  # longest key length a window probe may use when only the queries can grow
SEED = 0


@dataclass(frozen=True)
class Spelling:
    """What a mask allows: keys up to the query's position, within a window, not padded."""

    causal: bool
    window: int | None
    padding: bool

    def allowed(self, t: int, s: int, keys: np.ndarray | None) -> np.ndarray:
        from pimc.ir.reference_ops import attention_allowed
        allowed = attention_allowed(t, s, self.causal, self.window)[None, None]
        return allowed & (keys != 0)[:, None, None, :] if self.padding else allowed


def raise_attention_mask(op: Operation, rw: Rewriter) -> bool:
    """attention(q, k, v, mask computed from dims, constants and attention_mask) ->
    attention(q, k, v[, key padding]){causal, window} when the mask computes exactly that."""
    if len(op.operands) != 4:
        return False
    q, k, v, mask = op.operands
    found = _mask_ops(mask)
    if found is None:
        return False
    ops, args = found
    batch, t, total = q.type.shape[0], q.type.shape[2], k.type.shape[2]
    pad = args[0] if len(args) == 1 else None
    if len(args) > 1 or pad is not None and not _is_padding(pad, batch, total):
        return False
    if pad is not None and all(o.name in ("llm.cast", "llm.reshape") for o in ops):
        return False  # already a key-padding mask
    windows = _windows(ops) | ({op.attr("window")} if op.attr("window") else set())
    probes = _probes(batch, t, total, max(windows, default=0))
    if not probes:
        return False
    own = Spelling(bool(op.attr("causal")), op.attr("window"), False)  # what it masks already
    spelling = _recognise(ops, mask, pad, probes, windows, own)
    if spelling is None:
        return False
    b = Builder.before_op(op)
    operands = [q, k, v]
    if spelling.padding:
        keys = pad if pad.type.element == i1 else \
            b.op("llm.cast", pad, result_type=TensorType(pad.type.shape, i1))
        operands.append(b.op("llm.reshape", keys,
                             result_type=TensorType((batch, 1, 1, total), i1)))
    attrs = {"causal": spelling.causal, "scale": op.attr("scale"), "window": spelling.window,
             "softcap": op.attr("softcap")}
    out = b.op("llm.attention", *operands, **{n: a for n, a in attrs.items() if a is not None})
    rw.replace_op(op, [out])
    return True


def _mask_ops(mask: Value) -> tuple[list[Operation], list[BlockArgument]] | None:
    """The pure ops computing `mask`, producers first, and the function arguments they read;
    None if they read a weight (no data at compile time) or are too many to be a mask."""
    ops, args, done, expanded, stack = [], [], set(), set(), [mask]
    while stack:
        v = stack.pop()
        if isinstance(v, BlockArgument):
            if not any(a is v for a in args):
                args.append(v)
            continue
        op = v.op
        if id(op) in done:
            continue
        if id(op) in expanded:  # its operands are done: postorder
            done.add(id(op))
            ops.append(op)
            continue
        if op.name == "llm.weight" or op.regions or not op.has_trait("pure") or \
                len(expanded) >= MAX_OPS:
            return None
        expanded.add(id(op))
        stack.append(v)
        stack.extend(op.operands)
    return ops, args


def _is_padding(arg: Value, batch, total) -> bool:
    """A [batch, keys] integer or boolean tensor: HF's attention_mask."""
    t = arg.type
    return t.rank == 2 and dims_equal(t.shape[0], batch) and dims_equal(t.shape[1], total) and \
        (t.element == i1 or t.element.name.startswith("i"))


def _windows(ops: list[Operation]) -> set[int]:
    """Window sizes the mask's integer constants may stand for (a comparison with p - w may be
    spelled with w, w - 1 or w + 1)."""
    found = set()
    for op in ops:
        c = op.attr("value") if op.name == "llm.constant" else None
        if c is not None and np.isfinite(c) and c == int(c) and 2 <= abs(c) <= 1 << 20:
            found |= {abs(int(c)) + d for d in (-1, 0, 1)}
    return found


def _probes(batch, t, total, window: int) -> list[tuple[dict, int, int, int]]:
    """(symbol values, batch, queries, keys) for each probe shape the dims allow: two rows, one
    or three queries, an empty or short past, and keys beyond the widest window. Empty when the
    dims cannot be bound so (then the mask is not recognised)."""
    shapes = [(n, past) for n in QUERIES for past in PASTS]
    if window:
        shapes += [(3, window + 2), (window + 3, 0)]
    probes, longest = [], 0
    for n, past in shapes:
        values = {}
        if (isinstance(batch, int) or _solve(batch, 2, values)) and \
                _solve(t, n, values) and _solve(total, n + past, values):
            b = batch if isinstance(batch, int) else int(sympy.sympify(batch.xreplace(values)))
            if n + past <= LONGEST or past:
                probes.append((values, b, n, n + past))
                longest = max(longest, n + past)
    return probes if longest > window + 1 else []


def _solve(expr, want: int, values: dict) -> bool:
    """Bind `expr`'s one free symbol so that it equals `want` (a static expr must already)."""
    expr = sympy.sympify(expr if isinstance(expr, int) else expr.xreplace(values))
    if not expr.free_symbols:
        return expr == want
    if len(expr.free_symbols) != 1:
        return False
    (sym,) = expr.free_symbols
    sol = sympy.solve(sympy.Eq(expr, want), sym)
    if len(sol) != 1 or not sol[0].is_Integer or sol[0] < 0:
        return False
    values[sym] = int(sol[0])
    return True


def _recognise(ops: list[Operation], mask: Value, pad: Value | None, probes: list,
               windows: set[int], own: Spelling) -> Spelling | None:
    """The first spelling the mask agrees with on every probe: padding alone (a decode step's
    mask: causal or not is the same there), causal, causal with a window; without a padding
    argument, the same without padding (no mask at all first). What the attention's own flags
    (`own`) hide counts as masked: an all-true mask on a causal attention is causal."""
    candidates = [Spelling(False, None, pad is not None), Spelling(True, None, pad is not None)]
    candidates += [Spelling(True, w, pad is not None) for w in sorted(windows)]
    rng = np.random.default_rng(SEED)
    results = []
    for values, b, n, s in probes:
        keys = None
        if pad is not None:  # random padding, one real token per row at least
            keys = rng.integers(0, 2, (b, s)).astype(NUMPY_DTYPES[pad.type.element.name])
            keys[np.arange(b), rng.integers(0, s, b)] = 1
        try:
            m = _evaluate(ops, mask, pad, keys, values)
            if own.causal or own.window:
                m = np.where(own.allowed(n, s, None), m, False if m.dtype == np.bool_ else
                             -np.inf)
            results.append((m, n, s, keys))
        except (PimcError, KeyError, ValueError, TypeError):  # no kernel, unbound dims, ...
            return None
    for spelling in candidates:
        if all(_agrees(m, spelling.allowed(n, s, keys), spelling.padding)
               for m, n, s, keys in results):
            return spelling
    return None


def _evaluate(ops: list[Operation], mask: Value, pad: Value | None, keys, values: dict):
    """The mask's value for one probe, with the interpreter's kernels (the IR's reference
    table, which a pass may import) and rounding."""
    frame = Frame(weights=None)
    frame.bindings.values.update(values)
    env = {} if pad is None else {pad: keys}
    for op in ops:
        outs = KERNELS[op.name](frame, op, [env[v] for v in op.operands])
        for r, value in zip(op.results, outs):
            env[r] = np.asarray(value).astype(NUMPY_DTYPES[r.type.element.name], copy=False)
            if env[r].shape != frame.bindings.shape(r.type):
                raise ValueError(f"{op.name} gives {env[r].shape}, its type says {r.type}")
    return env[mask]


def _agrees(mask: np.ndarray, allowed: np.ndarray, padding: bool) -> bool:
    """`mask` (boolean, or additive: 0 where allowed, one fill elsewhere) allows exactly
    `allowed` [B or 1, 1, T, S], as llm.attention reads it."""
    try:
        shape = np.broadcast_shapes(mask.shape, allowed.shape)
    except ValueError:
        return False
    if len(shape) != 4 or shape[2:] != allowed.shape[2:]:
        return False
    mask, allowed = np.broadcast_to(mask, shape), np.broadcast_to(allowed, shape)
    if mask.dtype == np.bool_:
        return bool(np.array_equal(mask, allowed))
    fills = np.unique(mask[~allowed])
    if not np.all(mask[allowed] == 0) or len(fills) > 1:
        return False
    # a finite fill is a boolean mask only while every query sees a key (see the docstring)
    return not len(fills) or fills[0] == -np.inf or fills[0] <= -1e30 and not padding
