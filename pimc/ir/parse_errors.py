"""Syntax errors of the IR parser: lark's exceptions as located ParseErrors that say what was
expected, and a bound on bracket nesting, checked as the lexer goes."""
from __future__ import annotations

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from pimc.errors import ParseError, SourcePos

# What each terminal looks like, for "expected ..." in error messages.
TERMINAL_NAMES = {
    "VALUE_ID": "an SSA value (%name)", "BLOCK_ID": "a block label (^bb0)",
    "SYMBOL": "a symbol (@name)", "STRING": 'a string ("...")', "TENSOR_TYPE": "a tensor type",
    "ELEMENT_TYPE": "an element type (f16, i64, ...)", "BANG_ID": "a dialect type (!kv.cache)",
    "HASH_ID": "a dialect attribute (#pimc.device)", "BARE_ID": "an attribute name",
    "FLOAT": "a float", "INT": "an integer", "MODULE_KW": "'builtin.module'",
    "FUNC_KW": "'func.func'", "RETURN_KW": "'func.return'", "$END": "end of input",
    "SIGNATURE": "a type signature (: (T, ...) -> T)", "LOC": "a location (loc(...))",
}

# Real IR nests a few levels deep. The printer, the verifier and attribute hashing recurse once
# or more per level, so input nested thousands deep would end in a RecursionError, not a
# located error: the lexer refuses it first.
MAX_NESTING = 64
_BRACKETS = {"LPAR": 1, "LBRACE": 1, "LSQB": 1, "LESSTHAN": 1,
             "RPAR": -1, "RBRACE": -1, "RSQB": -1, "MORETHAN": -1}


class NestingGuard:
    """Lark lexer callbacks that count open brackets of every kind; `reset` before each parse."""

    def __init__(self):
        self.reset("", "<string>")

    def reset(self, source: str, filename: str) -> None:
        self.depth, self.source, self.filename = 0, source, filename

    def callbacks(self) -> dict:
        return {name: self.on_bracket for name in _BRACKETS}

    def on_bracket(self, tok: Token) -> Token:
        self.depth += _BRACKETS[tok.type]
        if self.depth > MAX_NESTING:
            raise ParseError(SourcePos(self.filename, tok.line, tok.column),
                             f"brackets nest more than {MAX_NESTING} levels deep", self.source)
        return tok


def syntax_error(e: UnexpectedInput, source: str, filename: str, lark: Lark) -> ParseError:
    line, col = max(e.line, 1), max(e.column, 1)
    if isinstance(e, UnexpectedCharacters):
        found = repr(source[e.pos_in_stream]) if e.pos_in_stream < len(source) else "end of input"
        expected = e.allowed
    elif isinstance(e, UnexpectedEOF):
        found, expected = "end of input", e.expected
        line = source.count("\n") + 1
        col = len(source) - source.rfind("\n")
    else:
        assert isinstance(e, UnexpectedToken)
        tok = e.token
        found = "end of input" if tok.type == "$END" else repr(tok.value)
        expected = e.accepts or e.expected
        if tok.type == "$END":
            line = source.count("\n") + 1
            col = len(source) - source.rfind("\n")
    return ParseError(SourcePos(filename, line, col),
                      f"unexpected {found}; expected {_describe(expected, lark)}", source)


def _describe(terminals, lark: Lark) -> str:
    names = []
    for name in terminals:
        if name in TERMINAL_NAMES:
            names.append(TERMINAL_NAMES[name])
            continue
        try:
            pattern = lark.get_terminal(name).pattern
        except KeyError:
            names.append(name)
            continue
        names.append(repr(pattern.value) if pattern.type == "str" else name)
    names = sorted(set(names))
    return names[0] if len(names) == 1 else "one of " + ", ".join(names)
