"""IR -> text, the exact inverse of the parser: `print(parse(print(m))) == print(m)`.

Value names come from their hints (kept by the parser and set by frontends); a clash or a missing
hint gets a fresh name. Names are scoped per function, which is isolated from above.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from pimc.ir.attrs import DictAttr, attr_dict_str
from pimc.ir.core import Block, Operation, Value, gc_paused
from pimc.ir.dialects.builtin import FuncOp, ModuleOp, ReturnOp
from pimc.ir.types import results_str

_NAME_OK = re.compile(r"[A-Za-z0-9_$.\-]+")
_FUNC_IMPLIED = ("sym_name", "function_type", "arg_attrs")


class _Namer:
    def __init__(self):
        self.names: dict[Value, str] = {}
        self.taken: set[str] = set()
        self.counter = 0

    def name(self, value: Value) -> str:
        name = self.names.get(value)
        if name is None:
            hint = value.name_hint
            if hint and _NAME_OK.fullmatch(hint) and not hint.isdigit() and hint not in self.taken:
                name = hint
            elif hint and _NAME_OK.fullmatch(hint) and not hint.isdigit():
                n = 1
                while f"{hint}_{n}" in self.taken:
                    n += 1
                name = f"{hint}_{n}"
            else:
                while str(self.counter) in self.taken:
                    self.counter += 1
                name = str(self.counter)
            self.taken.add(name)
            self.names[value] = name
        return "%" + name


class Printer:
    def __init__(self, print_locations: bool = True):
        self.lines: list[str] = []
        self.locs = print_locations
        self.namer = _Namer()

    def loc(self, op: Operation) -> str:
        return f" {op.loc}" if self.locs and op.loc is not None else ""

    def print_module(self, module: ModuleOp) -> str:
        attrs = f" attributes {attr_dict_str(module.attributes)}" if module.attributes else ""
        self.lines.append(f"builtin.module{attrs} {{")
        for op in module.body.ops:
            self.print_op(op, "  ")
        self.lines.append("}" + self.loc(module))
        return "\n".join(self.lines) + "\n"

    def print_op(self, op: Operation, indent: str) -> None:
        if isinstance(op, FuncOp):
            self.print_func(op, indent)
        elif isinstance(op, ReturnOp):
            values = ", ".join(self.namer.name(v) for v in op.operands)
            types = ", ".join(str(v.type) for v in op.operands)
            tail = f" {values} : {types}" if op.operands else ""
            self.lines.append(f"{indent}func.return{tail}{self.loc(op)}")
        else:
            self.print_generic(op, indent)

    def print_func(self, func: FuncOp, indent: str) -> None:
        outer, self.namer = self.namer, _Namer()  # functions are isolated from above
        arg_dicts = func.arg_attr_dicts()
        args = []
        for arg, d in zip(func.args, arg_dicts):
            extra = f" {attr_dict_str(dict(d.entries))}" if isinstance(d, DictAttr) and d.entries else ""
            args.append(f"{self.namer.name(arg)}: {arg.type}{extra}")
        results = func.function_type.results
        ret = f" -> {results_str(results)}" if results else ""
        extra = {k: v for k, v in func.attributes.items() if k not in _FUNC_IMPLIED}
        attrs = f" attributes {attr_dict_str(extra)}" if extra else ""
        self.lines.append(f"{indent}func.func @{func.sym_name}({', '.join(args)}){ret}{attrs} {{")
        self.print_block_ops(func.body, indent + "  ")
        self.lines.append(f"{indent}}}{self.loc(func)}")
        self.namer = outer

    def print_block_ops(self, block: Block, indent: str) -> None:
        for op in block.ops:
            self.print_op(op, indent)

    def print_generic(self, op: Operation, indent: str) -> None:
        name = self.namer.name
        results = ", ".join(name(r) for r in op.results)
        head = f"{indent}{results} = " if op.results else indent
        operands = ", ".join(name(v) for v in op.operands)
        attrs = f" {attr_dict_str(op.attributes)}" if op.attributes else ""
        sig = f"({', '.join(str(v.type) for v in op.operands)}) -> " \
              f"{results_str(tuple(r.type for r in op.results))}"
        if not op.regions:
            self.lines.append(f'{head}"{op.name}"({operands}){attrs} : {sig}{self.loc(op)}')
            return
        self.lines.append(f'{head}"{op.name}"({operands}) (')
        for i, region in enumerate(op.regions):
            block = region.block
            label = ""
            if block.args:
                label = f" ^bb0({', '.join(f'{name(a)}: {a.type}' for a in block.args)}):"
            self.lines.append(f"{indent}  {{{label}")
            self.print_block_ops(block, indent + "    ")
            self.lines.append(f"{indent}  }}{',' if i + 1 < len(op.regions) else ''}")
        self.lines.append(f"{indent}){attrs} : {sig}{self.loc(op)}")


def print_module(module: ModuleOp, print_locations: bool = True) -> str:
    with gc_paused():
        return Printer(print_locations).print_module(module)


def print_op(op: Operation) -> str:
    """One op as text (functions and modules include their bodies), for diagnostics."""
    p = Printer()
    if isinstance(op, ModuleOp):
        return p.print_module(op).rstrip("\n")
    p.print_op(op, "")
    return "\n".join(p.lines)


def print_values(values: Iterable[Value]) -> list[str]:
    namer = _Namer()
    return [namer.name(v) for v in values]
