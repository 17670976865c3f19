"""Symbolic dims (pimc/ir/symbolic.py): text syntax, canonical printing, equality.

Expectations are independent of pimc's printer: hand-written texts from the syntax described in
the module docstring, and plain-Python evaluation (`//` on ints) of the same expression trees.
"""
from __future__ import annotations

import random

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pimc.ir.symbolic import (DimSyntaxError, as_dim, dim_str, dims_equal, free_symbols,
                              parse_dim, product, sym)
from pimc.ir.types import TensorType, TypeSyntaxError, f16, parse_tensor_type

B, S, T = sym("B"), sym("S"), sym("T")
SYMBOLS = {"B": B, "S": S, "T": T}


# ---- hand-written texts ---------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("4096", 4096),
    ("0", 0),
    ("B", B),
    ("KV_LEN", sym("KV_LEN")),
    ("S2", sym("S2")),
    ("(S+1)", S + 1),
    ("(2*B)", 2 * B),
    ("(S//2)", sympy.floor(S / 2)),
    ("(B*S-1)", B * S - 1),
    ("( S + 1 )", S + 1),
    ("(-S+4)", 4 - S),
    ("((S+1)*(B+2))", (S + 1) * (B + 2)),
    ("(S-S+3)", 3),  # constant expressions fold to plain ints
    ("(2*(S+1)//2)", S + 1),
])
def test_parse_dim_hand_written(text, expected):
    got = parse_dim(text)
    assert got == expected
    if isinstance(expected, int):
        assert type(got) is int


@pytest.mark.parametrize("dim, text", [
    (4096, "4096"),
    (B, "B"),
    (S + 1, "(S+1)"),
    (2 * B, "(2*B)"),
    (sympy.floor(S / 2), "(S//2)"),
    (B * S - 1, "(B*S-1)"),
    (B * S * T, "(B*S*T)"),
    (-1, "(-1)"),  # a bare -1 is not in the syntax
])
def test_dim_str_hand_written(dim, text):
    assert dim_str(dim) == text
    assert parse_dim(text) == dim


def test_static_dims_stay_python_ints():
    assert as_dim(sympy.Integer(7)) == 7 and type(as_dim(sympy.Integer(7))) is int
    assert product([2, 3, 4]) == 24 and type(product([2, 3, 4])) is int
    assert product([2, B, 3]) == 6 * B
    assert free_symbols([4, B * S, sympy.floor(T / 2)]) == {"B", "S", "T"}


# ---- equality ---------------------------------------------------------------------------------

@pytest.mark.parametrize("a, b", [
    ("(2*(S+1))", "(2*S+2)"),
    ("((S+1)*(S+1))", "(S*S+2*S+1)"),
    ("((S+1)*(B+1))", "(B*S+B+S+1)"),
    ("(S+B)", "(B+S)"),
    ("(S-S+4)", "4"),
])
def test_dims_equal_differently_written(a, b):
    assert dims_equal(parse_dim(a), parse_dim(b))
    ta = parse_tensor_type(f"tensor<{a}x4xf16>")
    tb = parse_tensor_type(f"tensor<{b}x4xf16>")
    assert ta.same_as(tb)


@pytest.mark.parametrize("a, b", [("(S+1)", "(S+2)"), ("4", "5"), ("4", "S"), ("(2*S)", "(S*S)"),
                                  ("(S//2)", "(S*2)")])
def test_dims_not_equal(a, b):
    assert not dims_equal(parse_dim(a), parse_dim(b))
    assert not parse_tensor_type(f"tensor<{a}xf16>").same_as(parse_tensor_type(f"tensor<{b}xf16>"))


# ---- malformed dims ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, bad", [
    ("(S+)", 3),        # ')' where an operand belongs
    ("(S$1)", 2),       # a character outside the syntax
    ("(S 1)", 3),       # two operands in a row
    ("()", 1),
    ("(s+1)", 1),       # symbols are upper case
    ("(S+ $)", 4),      # the offset is the bad character, not the blank before it
    ("(S/2)", 2),       # '/' alone is not an operator
    ("(S//0)", 4),      # division by zero
    ("(S//(B-B))", 4),  # a divisor that folds to zero
])
def test_malformed_dim_offset(text, bad):
    with pytest.raises(DimSyntaxError) as info:
        parse_dim(text)
    assert info.value.offset == bad, (text, info.value.offset, str(info.value))


@pytest.mark.parametrize("text", ["s", "-4", "4.0", "", "x", "(S+1", "\u00b2", "\u00b2\u00b3"])
def test_malformed_dim_reported_at_start(text):
    with pytest.raises(DimSyntaxError) as info:
        parse_dim(text)
    assert info.value.offset == 0


def test_missing_close_paren_reported_at_end():
    with pytest.raises(DimSyntaxError) as info:
        parse_dim("((S+1)")
    assert info.value.offset == len("((S+1)")


@pytest.mark.parametrize("text", ["(" * 600 + "S" + ")" * 600, "(" + "-" * 3000 + "S)",
                                  "(S" + "//2" * 400 + ")"], ids=["parens", "minus", "floors"])
def test_deeply_nested_dim_is_a_syntax_error_not_a_crash(text):
    with pytest.raises(DimSyntaxError):
        parse_dim(text)


@pytest.mark.parametrize("type_text, bad_at", [
    ("tensor<4x(S+)xf16>", ")"),
    ("tensor<4x(S$1)xf16>", "$"),
    ("tensor<4xBxf17>", "f17"),
    ("tensor<4x (S+)xf16>", ")"),   # blanks inside the type do not shift the offset
    ("tensor<4x s xf16>", "s"),
    ("tensor<4x  f17>", "f17"),
])
def test_type_syntax_error_offsets(type_text, bad_at):
    """The offset points at the first character of the bad part of the type text."""
    with pytest.raises(TypeSyntaxError) as info:
        parse_tensor_type(type_text)
    assert info.value.offset == type_text.rindex(bad_at), (type_text, str(info.value))


# ---- random expressions -----------------------------------------------------------------------

def _leaf():
    return st.one_of(st.sampled_from(["B", "S", "T"]).map(lambda n: ("sym", n)),
                     st.integers(0, 12).map(lambda v: ("int", v)))


def _node(children):
    binary = st.tuples(st.sampled_from(["+", "-", "*"]), children, children)
    floor = st.tuples(st.just("//"), children, st.integers(1, 6).map(lambda v: ("int", v)))
    neg = st.tuples(st.just("neg"), children)
    return st.one_of(binary, floor, neg)


TREES = st.recursive(_leaf(), _node, max_leaves=8)


def to_sympy(tree):
    kind = tree[0]
    if kind == "sym":
        return SYMBOLS[tree[1]]
    if kind == "int":
        return sympy.Integer(tree[1])
    if kind == "neg":
        return -to_sympy(tree[1])
    a, b = to_sympy(tree[1]), to_sympy(tree[2])
    return {"+": a + b, "-": a - b, "*": a * b, "//": sympy.floor(a / b) if kind == "//" else None}[kind]


def evaluate(tree, env):
    """Plain Python integer semantics: the independent meaning of the expression."""
    kind = tree[0]
    if kind == "sym":
        return env[tree[1]]
    if kind == "int":
        return tree[1]
    if kind == "neg":
        return -evaluate(tree[1], env)
    a, b = evaluate(tree[1], env), evaluate(tree[2], env)
    return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "//": lambda: a // b}[kind]()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TREES, st.randoms(use_true_random=False))
def test_random_dims_round_trip(tree, rnd: random.Random):
    d = as_dim(to_sympy(tree))
    text = dim_str(d)
    back = parse_dim(text)
    assert back == d, (tree, text, back)
    assert dim_str(back) == text  # printing is a fixed point
    # and the text means the same thing as the tree, checked with Python ints
    for _ in range(3):
        env = {n: rnd.randint(1, 50) for n in SYMBOLS}
        value = back if isinstance(back, int) else back.subs({SYMBOLS[k]: v for k, v in env.items()})
        assert int(value) == evaluate(tree, env), (tree, text, env)
    # the dim survives inside a tensor type as well, where a surely negative dim is refused
    ty = TensorType((B, d, 4), f16)
    if d < 0 if isinstance(d, int) else d.is_negative:
        with pytest.raises(TypeSyntaxError, match="negative"):
            parse_tensor_type(str(ty))
    else:
        assert parse_tensor_type(str(ty)) == ty
