"""Symbolic dimensions: batch B, sequence S, tokens T and integer expressions over them.

A dim is a Python `int` (static) or a sympy expression over positive-integer symbols.

Text syntax (documented in docs/ir.md):
  * a symbol is an upper-case identifier: `B`, `S`, `T`, `KV_LEN`, `S2`;
  * an expression is written in parentheses with `+`, `-`, `*`, `//` (floor division) and
    integer constants: `(S+1)`, `(2*B)`, `(S//2)`, `(B*S-1)`.
Printing is canonical (sympy's term order, no spaces), so `parse(print(d)) == d` for every dim.
"""
from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable

import sympy

Dim = int | sympy.Expr

SYMBOL_RE = re.compile(r"[A-Z][A-Z0-9_]*")
_TOKEN_RE = re.compile(r"\s*(?:(\d+)|([A-Z][A-Z0-9_]*)|(//|[-+*()]))")
# Real dims are a few tokens long ("(B*S+1)"); a bound keeps nesting far from the recursion limit.
MAX_DIM_TOKENS = 128


class DimSyntaxError(ValueError):
    """Malformed dim text; `offset` is the 0-based character offset of the problem."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


@functools.cache
def sym(name: str) -> sympy.Symbol:
    """The symbol for a dim name; dims are positive integers, which lets sympy simplify."""
    return sympy.Symbol(name, integer=True, positive=True)


def as_dim(value: int | sympy.Expr) -> Dim:
    """Normalise: a sympy expression that is a constant becomes a plain int."""
    if isinstance(value, int):
        return value
    value = sympy.sympify(value)
    if value.is_Integer:
        return int(value)
    return value


@functools.cache
def parse_dim(text: str) -> Dim:
    """Parse one dim: `4096`, `B` or a parenthesised expression `(S+1)`."""
    if text.isascii() and text.isdigit():  # isdigit alone accepts '²', which int() rejects
        return int(text)
    if SYMBOL_RE.fullmatch(text):
        return sym(text)
    if text.startswith("(") and text.endswith(")"):
        return as_dim(_ExprParser(text).parse())
    raise DimSyntaxError(
        f"invalid dim '{text}': expected an integer, an upper-case symbol (B, S) "
        "or a parenthesised expression like (S+1)", 0)


class _ExprParser:
    """Recursive descent over + - * // with the usual precedence."""

    def __init__(self, text: str):
        self.text, self.tokens, pos = text, [], 0
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if not m or m.end() == pos:
                pos += len(text[pos:]) - len(text[pos:].lstrip())  # at the character, not a blank
                raise DimSyntaxError(f"unexpected character '{text[pos]}' in dim expression "
                                     f"'{text}' (allowed: integers, symbols, + - * // and parentheses)", pos)
            self.tokens.append((m.lastindex, m.group(m.lastindex), m.start(m.lastindex)))
            pos = m.end()
        if len(self.tokens) > MAX_DIM_TOKENS:  # bounds the recursion here and in sympy
            raise DimSyntaxError(f"dim expression '{text}' is too long (more than "
                                 f"{MAX_DIM_TOKENS} tokens)", self.tokens[MAX_DIM_TOKENS][2])
        self.i = 0

    def parse(self) -> sympy.Expr:
        expr = self.additive()
        if self.i != len(self.tokens):
            self.error("unexpected", self.tokens[self.i])
        return expr

    def error(self, what: str, tok) -> None:
        raise DimSyntaxError(f"{what} '{tok[1]}' in dim expression '{self.text}'", tok[2])

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self):
        if self.i >= len(self.tokens):
            raise DimSyntaxError(f"dim expression '{self.text}' ends early", len(self.text))
        self.i += 1
        return self.tokens[self.i - 1]

    def additive(self) -> sympy.Expr:
        expr = self.multiplicative()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            rhs = self.multiplicative()
            expr = expr + rhs if op == "+" else expr - rhs
        return expr

    def multiplicative(self) -> sympy.Expr:
        expr = self.unary()
        while self.peek() in ("*", "//"):
            op = self.take()[1]
            at = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
            rhs = self.unary()
            if op == "//" and rhs.is_zero:  # sympy would make it zoo or nan, which cannot print
                raise DimSyntaxError(f"division by zero in dim expression '{self.text}'", at)
            expr = expr * rhs if op == "*" else sympy.floor(expr / rhs)
        return expr

    def unary(self) -> sympy.Expr:
        if self.peek() == "-":
            self.take()
            return -self.unary()
        kind, text, pos = tok = self.take()
        if kind == 1:
            return sympy.Integer(int(text))
        if kind == 2:
            return sym(text)
        if text == "(":
            expr = self.additive()
            if self.i < len(self.tokens) and self.peek() != ")":  # `(S 1)`: the ')' is there
                self.error("unexpected", self.tokens[self.i])
            if self.peek() != ")":
                raise DimSyntaxError(f"missing ')' in dim expression '{self.text}'", len(self.text))
            self.take()
            return expr
        self.error("unexpected", tok)


@functools.cache
def dim_str(dim: Dim) -> str:
    if isinstance(dim, int):  # a bare `-1` is not a dim; `(-1)` parses back
        return str(dim) if dim >= 0 else f"({dim})"
    if dim.is_Symbol:
        return dim.name
    return f"({expr_str(dim)})"


def expr_str(e: sympy.Expr) -> str:
    """Canonical text of an expression in the dim syntax (without outer parentheses)."""
    if e.is_Integer or e.is_Symbol:
        return str(e)
    if e.is_Add:
        parts = []
        for i, term in enumerate(e.as_ordered_terms()):
            neg = term.could_extract_minus_sign()
            text = _factor_str(-term if neg else term)
            if neg and not i and _minus_binds_tighter(-term):
                text = f"({text})"
            parts.append(("-" if neg else ("+" if i else "")) + text)
        return "".join(parts)
    return _factor_str(e)


def _factor_str(e: sympy.Expr) -> str:
    if isinstance(e, sympy.floor):
        return _floor_str(e)
    if e.is_Mul:
        coeff, rest = e.as_coeff_Mul()
        if not coeff.is_Integer:  # sympy dropped the floor of an integral p*x/q: write it back
            num, den = sympy.fraction(e)
            return f"{_paren(num)}//{_paren(den)}"
        factors = rest.as_ordered_factors()
        text = [_atom_str(f) for f in factors]
        if coeff != 1:  # `2*(S+1)*T` reads back as (2*S+2)*T: then the number goes last
            first = factors[0]
            last = first.is_Add or first.is_Pow and first.base.is_Add
            text.insert(len(text) if last else 0, str(coeff))
        return "*".join(text)
    return _atom_str(e)


def _minus_binds_tighter(e: sympy.Expr) -> bool:
    """Whether `-e` needs `-(e)`: a leading minus takes only the first factor, so `-S//2` would
    read back as (-S)//2 and `-(B-1)*T` as (1-B)*T (and `-(T-1)*(T-1)`, a power, as
    (1-T)*(T-1)), a different value or expression."""
    return isinstance(e, sympy.floor) or e.is_Mul and not e.as_coeff_Mul()[0].is_Integer or \
        (e.is_Mul or e.is_Pow) and _factor_str(e).startswith("(")


def _atom_str(e: sympy.Expr) -> str:
    if e.is_Integer or e.is_Symbol:
        return str(e)
    if e.is_Pow and e.exp.is_Integer and e.exp > 0:
        return "*".join([_atom_str(e.base)] * int(e.exp))
    if isinstance(e, sympy.floor):
        return f"({_floor_str(e)})"
    if e.is_Add:
        return f"({expr_str(e)})"
    raise ValueError(f"dim expression {e} is outside the dim syntax (+ - * // over integers)")


def _floor_str(e: sympy.floor) -> str:
    arg = e.args[0]
    num, den = sympy.fraction(sympy.together(arg))
    if arg.is_Add and den.is_Integer:  # sympy spread `//den` over the terms: undo just that, as
        num = sympy.Add(*(term * den for term in arg.args))  # together() factors (B*(B+1))
    return f"{_paren(num)}//{_paren(den)}"


def _paren(e: sympy.Expr) -> str:
    text = expr_str(e)
    return text if (e.is_Integer or e.is_Symbol) and not text.startswith("-") else f"({text})"


@functools.cache
def dims_equal(a: Dim, b: Dim) -> bool:
    if a == b:
        return True
    if isinstance(a, int) and isinstance(b, int):
        return False
    return sympy.expand(a - b) == 0


@functools.cache
def _mul_cached(dims: tuple[Dim, ...]) -> Dim:
    static = math.prod(d for d in dims if isinstance(d, int))
    symbolic = [d for d in dims if not isinstance(d, int)]
    return as_dim(sympy.Mul(static, *symbolic)) if symbolic else static


def product(dims: Iterable[Dim]) -> Dim:
    return _mul_cached(tuple(dims))


def is_static(dim: Dim) -> bool:
    return isinstance(dim, int)


def free_symbols(dims: Iterable[Dim]) -> set[str]:
    return {s.name for d in dims if not isinstance(d, int) for s in d.free_symbols}
