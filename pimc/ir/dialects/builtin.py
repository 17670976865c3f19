"""The structural ops: builtin.module, func.func and func.return (printed in MLIR's custom forms)."""
from __future__ import annotations

from collections.abc import Iterator, Sequence

from pimc.ir.attrs import ArrayAttr, Attribute, DictAttr, StrAttr, TypeAttr
from pimc.ir.core import Block, Region
from pimc.ir.opdef import Attr, OpDef, fail
from pimc.ir.types import FunctionType, Type


class ModuleOp(OpDef):
    name, summary = "builtin.module", "the top-level container of functions"
    traits = frozenset({"isolated"})
    num_results, num_regions = 0, 1

    def __init__(self, attributes: dict[str, Attribute] | None = None, loc=None):
        super().__init__(attributes=attributes, regions=[Region([Block()])], loc=loc)

    @property
    def body(self) -> Block:
        return self.regions[0].block

    @property
    def funcs(self) -> Iterator[FuncOp]:
        return (op for op in self.body.ops if isinstance(op, FuncOp))

    def func(self, name: str) -> FuncOp:
        for f in self.funcs:
            if f.sym_name == name:
                return f
        from pimc.errors import UnknownNameError
        raise UnknownNameError("function", name, [f.sym_name for f in self.funcs])

    def verify_(self):
        if len(self.regions) != 1 or len(self.regions[0].blocks) != 1:
            fail("must have one region with one block")
        names = [f.sym_name for f in self.funcs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            fail(f"defines function @{dupes[0]} more than once")


class FuncOp(OpDef):
    name, summary = "func.func", "a function: typed arguments, one block, func.return at the end"
    traits = frozenset({"isolated"})
    num_results, num_regions = 0, 1
    attrs = {"sym_name": Attr("str"), "function_type": Attr("type"),
             "arg_attrs": Attr("any", None)}

    @classmethod
    def create(cls, name: str, inputs: Sequence[Type], results: Sequence[Type],
               arg_names: Sequence[str | None] = (), loc=None) -> FuncOp:
        attrs = {"sym_name": StrAttr(name),
                 "function_type": TypeAttr(FunctionType(tuple(inputs), tuple(results)))}
        return cls(attributes=attrs, regions=[Region([Block(inputs, arg_names)])], loc=loc)

    def update_type(self) -> None:
        """Recompute the function type from the block arguments and the func.return."""
        last = self.body.last
        results = tuple(v.type for v in last.operands) if isinstance(last, ReturnOp) else ()
        self.attributes["function_type"] = TypeAttr(
            FunctionType(tuple(a.type for a in self.args), results))

    @property
    def sym_name(self) -> str:
        return self.attributes["sym_name"].value

    @property
    def function_type(self) -> FunctionType:
        return self.attributes["function_type"].type

    @property
    def body(self) -> Block:
        return self.regions[0].block

    @property
    def args(self):
        return self.body.args

    def arg_attr_dicts(self) -> list[DictAttr | None]:
        a = self.attributes.get("arg_attrs")
        return list(a.items) if isinstance(a, ArrayAttr) else [None] * len(self.args)

    def verify_(self):
        ft = self.attributes["function_type"].type
        if not isinstance(ft, FunctionType):
            fail(f"attribute 'function_type' must be a function type, found {ft}")
        if len(self.regions) != 1 or len(self.regions[0].blocks) != 1:
            fail("must have one region with one block")
        args = self.body.args
        if tuple(a.type for a in args) != ft.inputs:
            fail(f"argument types ({', '.join(str(a.type) for a in args)}) differ from the "
                 f"function type {ft}")
        a = self.attributes.get("arg_attrs")
        if a is not None and not (isinstance(a, ArrayAttr) and len(a.items) == len(args) and
                                  all(isinstance(d, DictAttr) for d in a.items)):
            fail(f"attribute 'arg_attrs' must be an array of {len(args)} dictionaries")
        last = self.body.last
        if not isinstance(last, ReturnOp):
            fail(f"must end with func.return, found {last.name if last else 'an empty body'}")
        got = tuple(v.type for v in last.operands)
        if got != ft.results:
            fail(f"returns ({', '.join(map(str, got))}) but its type promises "
                 f"({', '.join(map(str, ft.results))})")


class ReturnOp(OpDef):
    name, summary = "func.return", "return values from a function"
    operand_names = ("values*",)
    traits = frozenset({"terminator"})
    num_results = 0

    def verify_(self):  # "last in its block" is the verifier's check for every terminator
        if not isinstance(self.parent_op(), FuncOp):
            fail("must be directly inside a func.func")


OPS = [ModuleOp, FuncOp, ReturnOp]
