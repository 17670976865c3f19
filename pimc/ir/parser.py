"""Text -> IR. A lark LALR parser whose callbacks build ops directly (no parse tree).

Callbacks run in source order, so SSA names resolve as the parser goes: a function header pushes
a scope holding its arguments, each op defines its results, and a use before definition is
reported at the use. Every error is a ParseError at file:line:col with a caret.
"""
from __future__ import annotations

import functools
import json
import re
import threading
from pathlib import Path

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedInput

from pimc.errors import ParseError, PimcError, SourcePos
from pimc.ir.attrs import (DIALECT_ATTRS, ArrayAttr, BoolAttr, DictAttr, FloatAttr, IntAttr,
                           StrAttr, SymbolRefAttr, TypeAttr, UnitAttr)
from pimc.ir.core import Block, Region, Value, gc_paused
from pimc.ir.dialects import op_class
from pimc.ir.dialects.builtin import FuncOp, ModuleOp, ReturnOp
from pimc.ir.location import FileLineColLoc, Location, NameLoc
from pimc.ir.parse_errors import NestingGuard, syntax_error
from pimc.ir.types import (ELEMENT_TYPES, DialectType, Type, TypeSyntaxError,
                            parse_tensor_type)

_TYPE_IN_SIGNATURE = re.compile(r"tensor<[^<>\n]*>|[a-z0-9]+")
_LOC = re.compile(r'loc\(("(?:[^"\\\n]|\\.)*")(?::([0-9]+):([0-9]+)|\(("(?:[^"\\\n]|\\.)*"):([0-9]+):([0-9]+)\))?\)')


@functools.cache
def _signature(text: str) -> tuple[tuple[Type, ...], tuple[Type, ...]]:
    """Types of a SIGNATURE token `: (T, ...) -> T | (T, ...)`; offsets in errors are into text."""
    arrow = text.index("->")
    types = []
    for m in _TYPE_IN_SIGNATURE.finditer(text):
        word = m.group()
        try:
            types.append((m.start() > arrow, ELEMENT_TYPES[word] if word in ELEMENT_TYPES
                          else parse_tensor_type(word)))
        except TypeSyntaxError as e:
            raise TypeSyntaxError(str(e), m.start() + e.offset) from None
    return (tuple(t for after, t in types if not after), tuple(t for after, t in types if after))


@functools.cache
def _location(text: str) -> Location:
    m = _LOC.fullmatch(text)
    name = json.loads(m.group(1))
    if m.group(2):
        return FileLineColLoc(name, int(m.group(2)), int(m.group(3)))
    if m.group(4):
        return NameLoc(name, FileLineColLoc(json.loads(m.group(4)), int(m.group(5)), int(m.group(6))))
    return NameLoc(name)


class _Builder(Transformer):
    """Parser callbacks, one per rule, each taking the rule's children as a list (lark's
    inline-args wrapper costs a third of the parse time). `reset` before each parse: the LALR
    tables are built once."""

    def reset(self, source: str, filename: str) -> None:
        self.source, self.filename = source, filename
        self.scopes: list[dict[str, Value]] = []
        self.blocks: list[Block] = []

    def error(self, tok: Token, message: str, offset: int = 0) -> ParseError:
        return ParseError(SourcePos(self.filename, tok.line, tok.column + offset), message,
                          self.source)

    def unstring(self, tok: Token, text: str | None = None, offset: int = 0) -> str:
        """Decode the string literal `tok` (or `text`, found at `offset` in it)."""
        try:
            return json.loads(tok.value if text is None else text)
        except ValueError as e:  # a bad escape or a raw control character: report it, located
            raise self.error(tok, f"invalid string literal: {e.msg.removesuffix(' at')} "
                                  "(strings use JSON escapes)", offset + e.pos) from None

    # ---- SSA scopes ----
    def define(self, tok: Token, value: Value) -> None:
        name = tok.value[1:]
        if name in self.scopes[-1]:
            raise self.error(tok, f"redefinition of SSA value %{name}")
        value.name_hint = name
        self.scopes[-1][name] = value

    def lookup(self, tok: Token) -> Value:
        name = tok.value[1:]
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise self.error(tok, f"use of undefined SSA value %{name}")

    def open_block(self, block: Block, isolated: bool) -> None:
        self.scopes.append({} if isolated else {})
        self.blocks.append(block)

    # ---- structure ----
    def start(self, c):
        if len(c) == 1 and isinstance(c[0], ModuleOp):
            return c[0]
        module = ModuleOp()
        for f in c:
            module.body.append(f)
        return module

    def module_op(self, c):
        kw, attrs, *rest = c
        *funcs, loc = rest
        module = ModuleOp(attributes=attrs or {}, loc=loc)
        module.src = self.pos(kw)
        for f in funcs:
            module.body.append(f)
        return module

    def func_head(self, c):
        kw, symbol, args, results, attrs = c
        args = args or []
        results = results or ()
        inputs = tuple(t for _, t, _ in args)
        func = FuncOp.create(symbol.value[1:], inputs, results)
        func.src = self.pos(kw)
        for key, value in (attrs or {}).items():
            if key in ("sym_name", "function_type", "arg_attrs"):  # arg_attrs: inline dicts
                raise self.error(kw, f"attribute '{key}' is implied by the func.func syntax")
            func.attributes[key] = value
        arg_dicts = [d for _, _, d in args]
        if any(arg_dicts):
            func.attributes["arg_attrs"] = ArrayAttr(tuple(DictAttr.of(d or {}) for d in arg_dicts))
        self.open_block(func.body, isolated=True)
        for (tok, _, _), value in zip(args, func.body.args):
            self.define(tok, value)
        return func

    def func_op(self, c):
        func, *rest = c
        *ops, loc = rest
        for op in ops:
            func.body.append(op)
        func.loc = loc
        self.scopes.pop()
        self.blocks.pop()
        return func

    def args(self, c):
        return c

    def arg(self, c):
        return tuple(c)  # (name token, type, attribute dict or None)

    def pos(self, tok: Token) -> SourcePos:
        return SourcePos(self.filename, tok.line, tok.column)

    def generic_op(self, c):
        names, name_tok, operands, regions, attrs, ftype, loc = c
        anchor = names[0] if names else name_tok
        op_name = self.unstring(name_tok)
        try:
            cls = op_class(op_name)
        except PimcError as e:
            raise self.error(name_tok, e.message) from None
        if cls in (FuncOp, ModuleOp, ReturnOp):
            raise self.error(name_tok, f"'{op_name}' must be written in its custom form")
        operands = operands or []
        inputs, results = ftype
        if len(inputs) != len(operands):
            raise self.error(name_tok, f"'{op_name}' has {len(operands)} operand(s) but its "
                                       f"type lists {len(inputs)}")
        values = [self.lookup(t) for t in operands]
        for tok, value, want in zip(operands, values, inputs):
            if value.type != want:
                raise self.error(tok, f"%{value.name_hint} has type {value.type}, but the op's "
                                      f"type says {want}")
        names = names or []
        if len(names) != len(results):
            raise self.error(anchor, f"'{op_name}' names {len(names)} result(s) but its type "
                                     f"lists {len(results)}")
        op = cls(values, results, attrs or {}, regions or (), loc)
        op.src = self.pos(anchor)
        for tok, r in zip(names, op.results):
            self.define(tok, r)
        return op

    def return_op(self, c):
        kw, values, types, loc = c
        values = [self.lookup(t) for t in values or []]
        types = types or []
        if len(values) != len(types):
            raise self.error(kw, f"func.return has {len(values)} value(s) but {len(types)} type(s)")
        for v, t in zip(values, types):
            if v.type != t:
                raise self.error(kw, f"func.return: %{v.name_hint} has type {v.type}, not {t}")
        op = ReturnOp(values, (), {}, (), loc)
        op.src = self.pos(kw)
        return op

    def result_names(self, c):
        return c

    def value_list(self, c):
        return c

    def regions(self, c):
        return c

    def region_open(self, c):
        block = Block()
        self.open_block(block, isolated=False)
        return block

    def region(self, c):
        block, _label, *ops = c
        for op in ops:
            block.append(op)
        self.scopes.pop()
        self.blocks.pop()
        return Region([block])

    def block_label(self, c):
        _tok, args = c
        block = self.blocks[-1]
        for tok, type, _ in args or []:
            self.define(tok, block.add_arg(type))

    # ---- types ----
    def function_type(self, c):
        inputs, results = c
        return (tuple(inputs or ()), tuple(results))

    def op_type(self, c):
        if len(c) == 2:  # ":" is filtered, so this is the general function_type
            return c[1]
        item, = c
        if not isinstance(item, Token):
            return item
        try:
            return _signature(item.value)
        except TypeSyntaxError as e:
            before = item.value[:e.offset]
            line = item.line + before.count("\n")
            col = (e.offset - before.rfind("\n")) if "\n" in before else item.column + e.offset
            raise ParseError(SourcePos(self.filename, line, col), str(e), self.source) from None

    def result_types(self, c):
        types, = c
        """`T` or `(T, ...)`; the parenthesised form arrives as a list (None when empty)."""
        return tuple(types or ()) if types is None or isinstance(types, list) else (types,)

    def type_list(self, c):
        return c

    def tensor_type(self, c):
        tok, = c
        try:
            return parse_tensor_type(tok.value)
        except TypeSyntaxError as e:
            raise ParseError(SourcePos(self.filename, tok.line, tok.column + e.offset), str(e),
                             self.source) from None

    def element_type(self, c):
        tok, = c
        return ELEMENT_TYPES[tok.value]

    def dialect_type(self, c):
        tok, params = c
        return DialectType(tok.value[1:], tuple(params or ()))

    # ---- attributes ----
    def attr_dict(self, c):
        entries, = c
        return dict(entries or [])

    def attr_entries(self, c):
        seen = {}
        for tok, value in c:
            key = self.unstring(tok) if tok.type == "STRING" else tok.value
            if key in seen:
                raise self.error(tok, f"duplicate attribute '{key}'")
            seen[key] = value
        return list(seen.items())

    def attr_entry(self, c):
        tok, value = c
        return (tok, UnitAttr() if value is None else value)

    def attr_list(self, c):
        return c

    def int_attr(self, c):
        tok, = c
        return IntAttr(int(tok.value))

    def float_attr(self, c):
        tok, = c
        return FloatAttr(float(tok.value))

    def str_attr(self, c):
        tok, = c
        return StrAttr(self.unstring(tok))

    def true_attr(self, c):
        return BoolAttr(True)

    def false_attr(self, c):
        return BoolAttr(False)

    def unit_attr(self, c):
        return UnitAttr()

    def array_attr(self, c):
        items, = c
        return ArrayAttr(tuple(items or ()))

    def dict_attr(self, c):
        entries, = c
        return DictAttr.of(entries)

    def symbol_attr(self, c):
        tok, = c
        return SymbolRefAttr(tok.value[1:])

    def type_attr(self, c):
        type, = c
        return TypeAttr(type)

    def dialect_attr(self, c):
        tok, params = c
        name = tok.value[1:]
        cls = DIALECT_ATTRS.get(name)
        if cls is None:
            raise self.error(tok, f"unknown dialect attribute '#{name}'; valid: "
                                  f"{', '.join('#' + n for n in sorted(DIALECT_ATTRS))}")
        try:
            return cls.from_params(tuple(params or ()))
        except ValueError as e:
            raise self.error(tok, str(e)) from None

    # ---- locations ----
    def fast_loc(self, c):
        tok, = c
        try:
            return _location(tok.value)
        except ValueError:  # a bad string: decode each one again to say which, and where
            m = _LOC.fullmatch(tok.value)
            for group in (g for g in (1, 4) if m.group(g)):
                self.unstring(tok, m.group(group), m.start(group))
            raise

    def name_loc(self, c):
        name, = c
        return NameLoc(self.unstring(name))

    def file_loc(self, c):
        file, line, col = c
        return FileLineColLoc(self.unstring(file), int(line), int(col))

    def nested_loc(self, c):
        name, file, line, col = c
        return NameLoc(self.unstring(name), FileLineColLoc(self.unstring(file), int(line), int(col)))


_GRAMMAR = (Path(__file__).parent / "grammar.lark").read_text()
_builder = _Builder()
_nesting = NestingGuard()
_lark = Lark(_GRAMMAR, parser="lalr", lexer="contextual", transformer=_builder,
             maybe_placeholders=True, propagate_positions=False,
             lexer_callbacks=_nesting.callbacks())
_lock = threading.Lock()


def parse(source: str, filename: str = "<string>") -> ModuleOp:
    """Parse IR text into a ModuleOp. Raises ParseError (a PimcError) on malformed input."""
    with _lock, gc_paused():
        _builder.reset(source, filename)
        _nesting.reset(source, filename)
        try:
            return _lark.parse(source)
        except UnexpectedInput as e:
            raise syntax_error(e, source, filename, _lark) from None
        finally:
            _builder.reset("", "")
            _nesting.reset("", "")


def parse_file(path: str | Path) -> ModuleOp:
    path = Path(path)
    return parse(path.read_text(), str(path))
