"""Real-valued expressions over the dims, for the values that the dim syntax cannot hold.

Costs are mostly integer polynomials in B, S and T (written as `#pimc.sym<"...">`), but an Op/B
ratio is a rational function (`4096*B/(B + 4096)`) and an expected MoE expert count has the
token count in an exponent (`8 - 8*(3/4)**B`). Those print as sympy prints them and read back
through a small recursive-descent parser, never through `eval` (IR text is untrusted input).

Grammar: numbers (`3`, `0.75`, `1.5e-05`), upper-case symbols (`B`, `KV_LEN`), `floor(...)`,
`+ - * / **` with Python's precedence, and parentheses. Symbols are the dims' positive-integer
symbols, so `parse_real(real_str(e)) == e` and printing is a fixed point.
"""
from __future__ import annotations

import functools
import re

import sympy

from pimc.ir.symbolic import sym

_TOKEN_RE = re.compile(r"\s*(?:(\d+\.\d*(?:e[-+]?\d+)?|\d+e[-+]?\d+)|(\d+)|([A-Z][A-Z0-9_]*)"
                       r"|(floor)|(\*\*|[-+*/()]))")
MAX_TOKENS = 512  # bounds the recursion; a cost is a few dozen tokens


class RealExprSyntaxError(ValueError):
    pass


def real_str(expr: sympy.Expr) -> str:
    return str(expr)


@functools.cache
def parse_real(text: str) -> sympy.Expr:
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str):
        self.text, self.tokens, pos = text, [], 0
        while pos < len(text) and not text[pos:].isspace():
            m = _TOKEN_RE.match(text, pos)
            if not m:
                at = pos + len(text[pos:]) - len(text[pos:].lstrip())
                raise RealExprSyntaxError(
                    f"unexpected character '{text[at]}' in expression '{text}' (allowed: numbers, "
                    "upper-case symbols, floor(), + - * / ** and parentheses)")
            self.tokens.append((m.lastindex, m.group(m.lastindex)))
            pos = m.end()
        if len(self.tokens) > MAX_TOKENS:
            raise RealExprSyntaxError(f"expression is too long (more than {MAX_TOKENS} tokens)")
        self.i = 0

    def parse(self) -> sympy.Expr:
        expr = self.additive()
        if self.i != len(self.tokens):
            self.fail(f"unexpected '{self.tokens[self.i][1]}'")
        return expr

    def fail(self, what: str):
        raise RealExprSyntaxError(f"{what} in expression '{self.text}'")

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self) -> tuple[int, str]:
        if self.i >= len(self.tokens):
            self.fail("unexpected end")
        self.i += 1
        return self.tokens[self.i - 1]

    def expect(self, text: str) -> None:
        if self.peek() != text:
            self.fail(f"expected '{text}'")
        self.i += 1

    def additive(self) -> sympy.Expr:
        expr = self.multiplicative()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            rhs = self.multiplicative()
            expr = expr + rhs if op == "+" else expr - rhs
        return expr

    def multiplicative(self) -> sympy.Expr:
        expr = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()[1]
            rhs = self.unary()
            if op == "/" and rhs.is_zero:  # sympy would make it zoo, which cannot print back
                self.fail("division by zero")
            expr = expr * rhs if op == "*" else expr / rhs
        return expr

    def unary(self) -> sympy.Expr:  # as in Python, -a**b is -(a**b)
        if self.peek() == "-":
            self.take()
            return -self.unary()
        return self.power()

    def power(self) -> sympy.Expr:
        base = self.atom()
        if self.peek() == "**":
            self.take()
            return base ** self.unary()
        return base

    def atom(self) -> sympy.Expr:
        kind, text = self.take()
        if kind == 1:
            return sympy.Float(text)
        if kind == 2:
            return sympy.Integer(int(text))
        if kind == 3:
            return sym(text)
        if kind == 4:
            self.expect("(")
            arg = self.additive()
            self.expect(")")
            return sympy.floor(arg)
        if text == "(":
            expr = self.additive()
            self.expect(")")
            return expr
        self.fail(f"unexpected '{text}'")
