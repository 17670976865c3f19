"""Walk one torch-dialect `func.func` (torch_mlir.ir objects) into a pimc `func.func`.

The environment maps each MLIR value to what it means to pimc: an IR `Value` (tensors), a
Python scalar or None (`torch.constant.*`, `torch.prim.NumToTensor.Scalar`), a symbolic dim
(`torch.aten.size.int` and int arithmetic), a list (`torch.prim.ListConstruct`), or a named
literal that becomes an `llm.weight` at its first use. Tensor types come from the MLIR type
(dtype, static dims) and from `torch.bind_symbolic_shape` (dynamic dims as affine maps over
`torch.symbolic_int` symbols), renamed to pimc's B/T/S through the named input dims.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import sympy
import torch

from pimc.errors import PimcError
from pimc.frontend.fx_import import UnsupportedOp, _to_numpy, rename_dim
from pimc.ir import Builder, FuncOp, ModuleOp, TensorType
from pimc.ir.attrs import WeightAttr
from pimc.ir.core import Value
from pimc.ir.dialects.builtin import ReturnOp
from pimc.ir.location import FileLineColLoc, NameLoc
from pimc.ir.symbolic import Dim, as_dim, sym
from pimc.ir.types import ELEMENT_TYPES
from pimc.ir.weights import WeightsStore

_VTENSOR = re.compile(r"^!torch\.vtensor<\[([^\]]*)\],(\w+)>$")
# torch-mlir's dtype spellings -> pimc element types (torch-mlir marks signedness)
ELEMENTS = {"f16": "f16", "bf16": "bf16", "f32": "f32", "f64": "f64", "i1": "i1", "si8": "i8",
            "si16": "i16", "si32": "i32", "si64": "i64"}
SKIPPED = ("torch.bind_symbolic_shape", "torch.symbolic_int")


class Literal:
    """A `torch.vtensor.literal` not used yet (weights appear where they are first used)."""

    __slots__ = ("name", "mlir")

    def __init__(self, name: str, mlir):
        self.name, self.mlir = name, mlir


class MlirImporter:
    def __init__(self, func_op, func_name: str, arg_names: Sequence[str],
                 dim_names: Mapping[str, Mapping[int, str]], store: WeightsStore,
                 tensors: Mapping[str, torch.Tensor]):
        self.func_op, self.func_name, self.store, self.tensors = func_op, func_name, store, tensors
        block = func_op.regions[0].blocks[0]
        self.block_args = list(block.arguments)
        self.arg_names = list(arg_names) or [f"arg{i}" for i in range(len(self.block_args))]
        if len(self.arg_names) != len(self.block_args):
            raise PimcError(f"@{func_name}: {len(self.arg_names)} argument names for "
                            f"{len(self.block_args)} arguments")
        self.dim_names = dim_names
        self.ops = [op.operation for op in block.operations]
        self.env: dict = {}
        self.bound: dict = {}  # MLIR value -> tuple of dims over torch's symbols
        self.symbols: dict[sympy.Symbol, sympy.Expr] = {}  # torch symbol -> pimc symbol
        self.b: Builder | None = None
        self.op = None  # the op being converted, for error messages

    # ---- types ----
    def type_of(self, value) -> TensorType:
        """The pimc type of an MLIR tensor value."""
        text = str(value.type)
        m = _VTENSOR.match(text)
        if m is None:
            raise UnsupportedOp(f"{self.where()}: expected a !torch.vtensor, got {text}")
        dims, elem = m.group(1), m.group(2)
        if elem not in ELEMENTS:
            raise UnsupportedOp(f"{self.where()}: element type {elem} has no pimc element type; "
                                f"supported: {', '.join(ELEMENTS)}")
        static = [None if d == "?" else int(d) for d in dims.split(",")] if dims else []
        shape = self.bound.get(value)
        if shape is None:
            if None in static:
                raise PimcError(f"{self.where()}: {text} has dynamic dims but no "
                                "torch.bind_symbolic_shape (import with "
                                "import_symbolic_shape_expressions=True)")
            shape = static
        return TensorType(tuple(self.dim(d) for d in shape), ELEMENT_TYPES[ELEMENTS[elem]])

    def dim(self, d) -> Dim:
        return d if isinstance(d, int) else rename_dim(d, self.symbols, self.func_name)

    def _affine(self, expr, symbols):
        from torch_mlir import ir
        if isinstance(expr, ir.AffineConstantExpr):
            return sympy.Integer(expr.value)
        if isinstance(expr, ir.AffineSymbolExpr):
            return symbols[expr.position]
        lhs = rhs = None
        if isinstance(expr, ir.AffineBinaryExpr):
            lhs, rhs = self._affine(expr.lhs, symbols), self._affine(expr.rhs, symbols)
        if isinstance(expr, ir.AffineAddExpr):
            return lhs + rhs
        if isinstance(expr, ir.AffineMulExpr):
            return lhs * rhs
        if isinstance(expr, ir.AffineFloorDivExpr):
            return sympy.floor(lhs / rhs)
        if isinstance(expr, ir.AffineCeilDivExpr):
            return sympy.ceiling(lhs / rhs)
        if isinstance(expr, ir.AffineModExpr):
            return sympy.Mod(lhs, rhs)
        raise PimcError(f"@{self.func_name}: unsupported shape expression {expr}")

    def collect_shapes(self) -> None:
        """Read `torch.symbolic_int` and `torch.bind_symbolic_shape` before converting."""
        from torch_mlir import ir
        names = {}
        for op in self.ops:
            if op.name == "torch.symbolic_int":
                text = ir.StringAttr(op.attributes["symbol_name"]).value
                names[op.results[0]] = sympy.Symbol(text, integer=True, positive=True)
        for op in self.ops:
            if op.name == "torch.bind_symbolic_shape":
                value, *syms = op.operands
                amap = ir.AffineMapAttr(op.attributes["shape_expressions"]).value
                symbols = [names[s] for s in syms]
                self.bound[value] = tuple(as_dim(self._affine(e, symbols)) for e in amap.results)
        for index, (name, arg) in enumerate(zip(self.arg_names, self.block_args)):
            shape = self.bound.get(arg, ())
            for axis, dim_name in self.dim_names.get(name, {}).items():
                if axis < len(shape) and isinstance(shape[axis], sympy.Symbol):
                    self.symbols[shape[axis]] = sym(dim_name)
        unknown = set(self.dim_names) - set(self.arg_names)
        if unknown:
            raise PimcError(f"dim names given for {sorted(unknown)}, which are not inputs of "
                            f"@{self.func_name}; inputs: {', '.join(self.arg_names)}")

    # ---- values ----
    def value(self, mlir_value) -> Value:
        v = self.env.get(mlir_value)
        if isinstance(v, Literal):
            v = self.env[mlir_value] = self.weight(v)
        if not isinstance(v, Value):
            raise UnsupportedOp(f"{self.where()}: expected a tensor operand, got {v!r}")
        return v

    def is_tensor(self, mlir_value) -> bool:
        return isinstance(self.env.get(mlir_value), (Value, Literal))

    def py(self, op, index: int, default=None):
        """Operand `index` as a Python value: scalar, None, dim, list (or a tensor Value)."""
        if index >= len(op.operands):
            return default
        v = self.env.get(op.operands[index])
        return self.value(op.operands[index]) if isinstance(v, Literal) else v

    def result_type(self, op, index: int = 0) -> TensorType:
        return self.type_of(op.results[index])

    def constant_like(self, value: float, like: TensorType) -> Value:
        return self.b.op("llm.constant", result_type=TensorType((), like.element),
                         value=float(value))

    def weight(self, lit: Literal) -> Value:
        t = self.type_of(lit.mlir)
        if lit.name not in self.store:
            tensor = self.tensors.get(lit.name)
            if tensor is None or tensor.device.type == "meta":
                self.store.declare(lit.name, tuple(int(d) for d in t.shape), t.element)
            else:
                self.store.add(lit.name, _to_numpy(tensor))
        return self.b.op("llm.weight", result_type=t, handle=WeightAttr(lit.name))

    # ---- locations ----
    def location(self, op):
        from torch_mlir import ir
        loc, name = op.location, None
        if isinstance(loc, ir.NameLoc):
            name, loc = loc.name_str, loc.child_loc
        while isinstance(loc, ir.CallSiteLoc):
            loc = loc.callee  # the innermost Python frame, as the torch.export path keeps
        file = FileLineColLoc(loc.filename, loc.start_line, loc.start_col) \
            if isinstance(loc, ir.FileLineColLoc) else None
        return NameLoc(name, file) if name else file

    def where(self) -> str:
        if self.op is None:
            return f"@{self.func_name}"
        loc = self.location(self.op)
        return f"'{op_name(self.op)}' in @{self.func_name}" + (f" at {loc.describe()}" if loc else "")

    # ---- the walk ----
    def run(self, module: ModuleOp) -> FuncOp:
        from pimc.frontend.torch_mlir_ops import convert
        self.collect_shapes()
        func = FuncOp.create(self.func_name, [self.type_of(a) for a in self.block_args], [],
                             self.arg_names)
        module.body.append(func)
        self.b = Builder.at_end(func.body)
        for arg, value in zip(self.block_args, func.args):
            self.env[arg] = value
        for op in self.ops:
            self.op = op
            if op.name in SKIPPED:
                continue
            if op.name == "func.return":
                for wop in list(func.body.ops):  # weights only lifted tensors flowed through
                    if wop.name == "llm.weight" and not wop.results[0].uses:
                        wop.erase()
                outs = [self.value(v) for v in op.operands]
                self.b.loc = None
                self.b.insert(ReturnOp(outs))
                func.update_type()
                return func
            self.b.loc = self.location(op)
            out = convert(self, op)
            results = list(op.results)
            if len(results) == 1:
                self.env[results[0]] = out
            elif results:
                for r, item in zip(results, out):
                    self.env[r] = item
        raise PimcError(f"@{self.func_name} has no func.return")


def op_name(op) -> str:
    """The torch op an MLIR op stands for (`torch.operator "torch.aten.x"` -> torch.aten.x)."""
    if op.name == "torch.operator":
        from torch_mlir import ir
        return ir.StringAttr(op.attributes["name"]).value
    return op.name
