"""analyze-intensity: flops, bytes and arithmetic intensity (Op/B) of every op, symbolic in B/S/T.

The pass attaches to every op of every function (@prefill and @decode alike) a `cost`; for a
decode GEMV, llm.linear of x: Bx1x4096 and w: 11008x4096 in f16,

    cost = {bytes = #pimc.sym<"30208*B+90177536">, flops = #pimc.sym<"90177536*B">,
            op_b = #pimc.expr<"176128*B/(59*B + 176128)">}

Each value is an integer (`4096`), a float (`1.5`), an integer polynomial in the dim syntax
(`#pimc.sym<"...">`) or, where that cannot hold it, a real expression (`#pimc.expr<"...">`: an
Op/B ratio, an expected MoE expert count with the token count in an exponent). op_b is
flops / bytes, reduced by `cancel`; ops that move nothing (views, weight handles) have op_b 0.
func.return carries no cost. The rules and their conventions are in `op_costs.py`.

Options:
  * `dtype=ir|f16|bf16|f32`: count every float tensor (weights and activations) at this type,
    e.g. a captured f32 model as the fp16 model Duplex characterises. `ir` keeps the IR's types.
  * `kv-dtype=ir|f32|f16|bf16|i8|i4|i2`: the bytes per K/V element that attention reads and
    cache appends write (a quantised KV cache); `ir` is the K/V tensors' type after `dtype`.
  * `moe-skew=uniform|<s>|"w1,w2,..."`: MoE routing. A number s is a Zipf exponent (the chance
    that a token picks the expert of rank r is ∝ r⁻ˢ); a quoted list gives relative weights per
    expert. Either is normalised so the chances sum to top_k (see `routing_probabilities`).

Python API, for `pimc analyze`, `place-devices` and reports:
  * `op_cost(op) -> Cost | None`: the attached cost as (flops, bytes, op_b) numbers/expressions.
  * `evaluate(cost, {"B": 64, "S": 2048}) -> Cost` of floats.
  * `intensity_rows(module, "decode", {"B": 64, "S": 2048}) -> list[dict]`: per op, its name,
    location, result shape and dtype, flops, bytes and op_b as floats.
KV caches are recognised structurally (see `_kv_roles`): a concat of a function argument (the
past) with new rows that is returned or read by an attention is a cache append, and ops that
read its result through views read K/V.
Costs are computed once per distinct (op name, types, attributes, KV role): a 70B model repeats
a few dozen signatures thousands of times, and sympy is slow.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple

import sympy

from pimc.errors import OptionError, PassFailure, PimcError
from pimc.ir.attrs import Attribute, DictAttr, ExprAttr, FloatAttr, IntAttr, SymAttr
from pimc.ir.core import BlockArgument, Operation, OpResult, Value
from pimc.ir.dialects.builtin import FuncOp, ModuleOp
from pimc.ir.location import NameLoc
from pimc.ir.opdef import COMMON_ATTRS, OpDef
from pimc.ir.printer import print_op
from pimc.ir.real_expr import parse_real, real_str
from pimc.ir.symbolic import DimSyntaxError, dim_str, parse_dim, sym
from pimc.ir.types import ELEMENT_TYPES, TensorType
from pimc.passes.base import Context, Pass
from pimc.passes.op_costs import RULES, CostOptions, OpView

STRUCTURAL = ("func.return",)
VIEWS = ("llm.reshape", "llm.transpose", "llm.expand", "llm.cast", "llm.slice")


class Cost(NamedTuple):
    flops: int | float | sympy.Expr
    bytes: int | float | sympy.Expr
    op_b: int | float | sympy.Expr


def parse_skew(text: str) -> float | tuple[float, ...]:
    """`uniform` -> 0.0, `1.2` -> a Zipf exponent, `4,2,1,1` -> relative expert weights."""
    if text == "uniform":
        return 0.0
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) == 1 and values[0] >= 0:
        return values[0]
    if len(values) > 1 and all(w > 0 for w in values):
        return values
    raise ValueError(text)


@dataclass(frozen=True)
class AnalyzeIntensity(Pass):
    """Attach cost = {flops, bytes, op_b} to every op, symbolic in the dims (B, S, T).

    Bytes count weights, activations and the KV cache at the op's dtypes (or at `dtype` and
    `kv-dtype`); attention counts K/V once per KV head (GQA), MoE the expected experts a batch
    activates under uniform or skewed (`moe-skew`) top-k routing."""

    name = "analyze-intensity"
    dtype: Literal["ir", "f16", "bf16", "f32"] = "ir"
    kv_dtype: Literal["ir", "f32", "f16", "bf16", "i8", "i4", "i2"] = "ir"
    moe_skew: str = "uniform"

    def __post_init__(self):
        try:
            parse_skew(self.moe_skew)
        except ValueError:
            raise OptionError(f"option 'moe-skew' of pass '{self.name}' expects uniform, a Zipf "
                              "exponent >= 0 or quoted positive expert weights (\"4,2,1,1\"), "
                              f"got '{self.moe_skew}'") from None

    def cost_options(self) -> CostOptions:
        pick = (lambda n: None if n == "ir" else ELEMENT_TYPES[n])
        return CostOptions(pick(self.dtype), pick(self.kv_dtype), parse_skew(self.moe_skew))

    def apply(self, ctx: Context, module: ModuleOp) -> None:
        options, memo = self.cost_options(), {}
        for func in module.funcs:
            kv_values, appends = _kv_roles(func)
            for op in func.walk():
                if op is func or op.name in STRUCTURAL:
                    continue
                roles = (frozenset(i for i, v in enumerate(op.operands) if v in kv_values),
                         appends.get(op, frozenset()),
                         frozenset(i for i, v in enumerate(op.operands)  # a step's live cache
                                   if isinstance(_origin(v), OpResult)
                                   and _origin(v).op in appends))
                key = (op.name, tuple(v.type for v in op.operands),
                       tuple(r.type for r in op.results), _signature_attrs(op), roles)
                attr = memo.get(key)
                if attr is None:
                    attr = memo[key] = _cost_attr(op, options, roles)
                op.attributes["cost"] = attr


def _signature_attrs(op: Operation) -> tuple:
    return tuple(sorted((k, a) for k, a in op.attributes.items() if k not in COMMON_ATTRS))


def _origin(value: Value) -> Value:
    """The value behind views, and behind a kv-compress quantise/dequantise round trip (the
    cache it quantised, or the stored cache's codes argument: the past cache)."""
    while isinstance(value, OpResult):
        if value.op.name in VIEWS:
            value = value.op.operands[0]
        elif value.op.name == "kv.dequantize":
            codes = value.op.operands[0]
            value = codes.op.operands[0] if isinstance(codes, OpResult) else codes
        else:
            break
    return value


def _kv_roles(func: FuncOp) -> tuple[set[Value], dict[Operation, frozenset[int]]]:
    """The K/V values of a function, and the concats that append to a past cache.

    A cache append is a concat whose first operand is (a view of) a function argument and whose
    result reaches an attention's K/V or the function's results: the past comes first, as in
    HF's torch.cat([past, new], dim=-2), and the grown cache is returned. K/V values are the
    appends' results, the caches an attention reads directly, and views of either: ops that
    read them (the QK^T and PV matmuls of an unraised graph) read the KV cache."""
    ret = func.body.last
    sinks = {_origin(v) for v in ret.operands} if ret is not None and ret.name in STRUCTURAL \
        else set()
    attention_kv = {_origin(v) for op in func.walk() if op.name == "llm.attention"
                    for v in op.operands[1:3]}
    stack = [v for v in attention_kv if isinstance(v, BlockArgument)]
    appends = {}
    for op in func.walk():
        if op.name == "llm.concat" and len(op.operands) > 1 and \
                (op.result in sinks or op.result in attention_kv) and \
                isinstance(_origin(op.operands[0]), BlockArgument):
            appends[op] = frozenset({0})
            stack.append(op.result)
    kv: set[Value] = set()
    while stack:
        value = stack.pop()
        if value not in kv:
            kv.add(value)
            stack.extend(user.result for user, _ in value.uses if user.name in VIEWS)
    return kv, appends


def _cost_attr(op: Operation, options: CostOptions, roles: tuple) -> DictAttr:
    rule = RULES.get(op.name)
    if rule is None:
        raise PassFailure(f"pass 'analyze-intensity': no cost rule for op '{op.name}' (rules "
                          "exist for the llm dialect; see pimc/passes/op_costs.py)", print_op(op))
    attrs = {k: op.attr(k) for k in type(op).attrs} if isinstance(op, OpDef) else {}
    if isinstance(op.attributes.get("kv"), DictAttr):  # what kv-compress did to its cache
        attrs["kv"] = op.attributes["kv"]
    view = OpView(op.name, tuple(v.type for v in op.operands), tuple(r.type for r in op.results),
                  attrs, options, *roles)
    try:
        flops, nbytes = rule(view)
    except (TypeError, ValueError) as e:
        raise PassFailure(f"pass 'analyze-intensity': cannot cost '{op.name}': {e}",
                          print_op(op)) from None
    flops, nbytes = sympy.expand(flops), sympy.expand(nbytes)
    if nbytes == 0:
        op_b = sympy.Integer(0)
    elif flops.is_polynomial() and nbytes.is_polynomial():
        op_b = sympy.cancel(flops / nbytes)
    else:  # cancel would rewrite (3/4)**T as 3**T/4**T: harder to read, no cheaper to evaluate
        op_b = flops / nbytes
    return DictAttr.of({"flops": number_attr(flops), "bytes": number_attr(nbytes),
                        "op_b": number_attr(op_b)})


def number_attr(value: int | float | sympy.Expr) -> Attribute:
    """The most specific attribute for a cost value: int, float, dim polynomial, expression."""
    value = sympy.sympify(value)
    if value.is_Integer:
        return IntAttr(int(value))
    if value.is_number:
        return FloatAttr(float(value))
    try:
        if parse_dim(dim_str(value)) == value:
            return SymAttr(value)
    except (ValueError, DimSyntaxError):  # outside the dim syntax (a Float, a ratio)
        pass
    return ExprAttr(parse_real(real_str(value)))  # the value the printed text parses back to


def _attr_value(a: Attribute) -> int | float | sympy.Expr:
    if isinstance(a, (IntAttr, FloatAttr)):
        return a.value
    return a.expr


def op_cost(op: Operation) -> Cost | None:
    """The cost analyze-intensity attached to `op`, or None."""
    a = op.attributes.get("cost")
    if not isinstance(a, DictAttr):
        return None
    values = dict(a.entries)
    return Cost(*(_attr_value(values[k]) if k in values else 0 for k in Cost._fields))


def _symbol_map(bindings: Mapping) -> dict[sympy.Symbol, sympy.Float]:
    return {sym(k if isinstance(k, str) else k.name): sympy.Float(v) for k, v in bindings.items()}


def _number(value, subs: dict, memo: dict | None = None) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if memo is not None and value in memo:
        return memo[value]
    # Float bindings: (3/4)**(B*S) with exact integers would build a huge rational
    bound = value.xreplace(subs)
    if bound.free_symbols:
        missing = ", ".join(sorted(s.name for s in bound.free_symbols))
        raise PimcError(f"the cost {value} depends on {missing}: bind "
                        f"{'it' if ',' not in missing else 'them'} (bound: "
                        f"{', '.join(sorted(s.name for s in subs)) or 'nothing'})")
    result = float(bound)
    if memo is not None:
        memo[value] = result
    return result


def evaluate(cost: Cost, bindings: Mapping) -> Cost:
    """Flops, bytes and Op/B (flops / bytes, 0 where nothing moves) as floats, with the dims
    bound: `evaluate(cost, {"B": 64, "S": 2048})` (keys are names or sympy symbols)."""
    return _evaluate(cost, _symbol_map(bindings), None)


def _evaluate(cost: Cost, subs: dict, memo: dict | None) -> Cost:
    flops, nbytes = _number(cost.flops, subs, memo), _number(cost.bytes, subs, memo)
    return Cost(flops, nbytes, flops / nbytes if nbytes else 0.0)


def intensity_rows(module: ModuleOp, func: str | FuncOp, bindings: Mapping,
                   include_free: bool = False) -> list[dict]:
    """One row per op of `func` (after analyze-intensity): op, loc (the NameLoc, e.g. the layer),
    shape (the result's, dims bound) and dtype as in the IR, and flops, bytes and op_b as floats.
    Ops with no flops and no bytes (views, weight handles) only with `include_free`."""
    f = module.func(func) if isinstance(func, str) else func
    subs, memo, rows = _symbol_map(bindings), {}, []
    for op in f.walk():
        if op is f or op.name in STRUCTURAL:
            continue
        cost = op_cost(op)
        if cost is None:
            raise PimcError(f"op '{op.name}' in @{f.sym_name} has no cost: run the "
                            "analyze-intensity pass first", print_op(op))
        flops, nbytes, op_b = _evaluate(cost, subs, memo)
        if not include_free and flops == 0 and nbytes == 0:
            continue
        out = op.results[0].type if op.results else None
        shape, dtype = ("x".join(str(int(_number(d, subs, memo))) for d in out.shape),
                        str(out.element)) if isinstance(out, TensorType) else ("", "")
        rows.append({"op": op.name, "loc": op.loc.name if isinstance(op.loc, NameLoc) else "",
                     "shape": shape, "dtype": dtype, "flops": flops, "bytes": nbytes,
                     "op_b": op_b})
    return rows
