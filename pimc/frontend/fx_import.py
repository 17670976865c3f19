"""Import a core-ATen `torch.export.ExportedProgram` into a pimc `func.func`.

The graph is walked once in order. Each call_function node goes through the rule table in
`aten_ops.py`; result types come from the node's FakeTensor metadata, with torch's shape symbols
(s0, s72, ...) renamed to pimc's (B, T, S) through the placeholders the caller names. Parameters,
buffers and lifted constants become `llm.weight` ops whose handles name the tensors in the
weights store. Every op keeps its nn.Module path and Python frame as its location.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import sympy
import torch

from pimc.errors import PimcError
from pimc.ir import Builder, FuncOp, ModuleOp, TensorType
from pimc.ir.attrs import WeightAttr
from pimc.ir.core import Value
from pimc.ir.dialects.builtin import ReturnOp
from pimc.ir.location import FileLineColLoc, NameLoc
from pimc.ir.symbolic import Dim, as_dim, sym
from pimc.ir.types import ELEMENT_TYPES, ElementType
from pimc.ir.weights import WeightsStore

TORCH_DTYPES: dict[torch.dtype, str] = {
    torch.float16: "f16", torch.bfloat16: "bf16", torch.float32: "f32", torch.float64: "f64",
    torch.bool: "i1", torch.int8: "i8", torch.int16: "i16", torch.int32: "i32",
    torch.int64: "i64",
}
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


def rename_dim(expr, symbols: Mapping[sympy.Symbol, sympy.Expr], func_name: str) -> Dim:
    """A traced shape expression over the tracer's symbols (s0, s72) in pimc's (B, T, S)."""
    renamed = sympy.sympify(expr).xreplace(symbols)
    unknown = {s for s in renamed.free_symbols if s not in symbols.values()}
    if unknown:
        raise PimcError(f"@{func_name}: shape symbol(s) {sorted(map(str, unknown))} are not tied "
                        "to a named input dim; name every dynamic dim of the inputs")
    return as_dim(renamed)


class UnsupportedOp(PimcError):
    """An ATen op (or other graph node) the frontend has no rule for."""


class FxImporter:
    def __init__(self, ep: torch.export.ExportedProgram, func_name: str,
                 dim_names: Mapping[str, Mapping[int, str]], store: WeightsStore,
                 weight_prefix: str = ""):
        self.ep, self.func_name, self.store = ep, func_name, store
        self.dim_names, self.weight_prefix = dim_names, weight_prefix
        self.symbols: dict[sympy.Symbol, sympy.Expr] = {}
        self.env: dict[torch.fx.Node, object] = {}
        self.b: Builder | None = None

    # ---- types ----
    def element(self, dtype: torch.dtype, what: str) -> ElementType:
        if dtype not in TORCH_DTYPES:
            raise UnsupportedOp(f"{what}: dtype {dtype} has no pimc element type; supported: "
                                f"{', '.join(map(str, TORCH_DTYPES))}")
        return ELEMENT_TYPES[TORCH_DTYPES[dtype]]

    def dim(self, d) -> Dim:
        if isinstance(d, int):
            return d
        return rename_dim(d.node.expr if isinstance(d, torch.SymInt) else d, self.symbols,
                          self.func_name)

    def type_of(self, node: torch.fx.Node, index: int | None = None) -> TensorType:
        val = node.meta.get("val")
        if index is not None:
            val = val[index]
        if not isinstance(val, torch.Tensor):
            raise UnsupportedOp(f"node {node.name} ({node.target}) does not produce a tensor")
        return TensorType(tuple(self.dim(d) for d in val.shape), self.element(val.dtype, node.name))

    # ---- values ----
    def value(self, arg) -> Value:
        v = self.env.get(arg) if isinstance(arg, torch.fx.Node) else None
        if isinstance(v, _Param):  # materialised at first use, so unused buffers never appear
            v = self.env[arg] = self.weight(v.target, arg)
        if not isinstance(v, Value):
            raise UnsupportedOp(f"expected a tensor operand, got {arg!r}")
        return v

    def is_tensor(self, arg) -> bool:
        return isinstance(arg, torch.fx.Node) and isinstance(self.env.get(arg), (Value, _Param))

    def scalar(self, arg):
        """A Python or symbolic scalar argument (ints from sym_size arithmetic become dims)."""
        if isinstance(arg, torch.fx.Node):
            v = self.env[arg]
            if isinstance(v, Value):
                raise UnsupportedOp(f"expected a scalar, got the tensor {arg.name}")
            return v
        if isinstance(arg, torch.SymInt):
            return self.dim(arg)
        return arg

    def constant_like(self, value: float, like: TensorType) -> Value:
        return self.b.op("llm.constant", result_type=TensorType((), like.element), value=float(value))

    def location(self, node: torch.fx.Node):
        stack = node.meta.get("nn_module_stack") or {}
        path = next(reversed(stack.values()))[0] if stack else ""
        path = path[len(self.weight_prefix):] if path.startswith(self.weight_prefix) else path
        frames = _FRAME.findall(node.meta.get("stack_trace") or "")
        file_loc = FileLineColLoc(frames[-1][0], int(frames[-1][1]), 0) if frames else None
        if path:
            return NameLoc(path, file_loc)
        return file_loc

    # ---- the walk ----
    def bind_symbols(self, placeholders: dict[str, torch.fx.Node]) -> None:
        for input_name, axes in self.dim_names.items():
            node = placeholders.get(input_name)
            if node is None:
                raise PimcError(f"dim names given for '{input_name}', which is not an input; "
                                f"inputs: {', '.join(placeholders)}")
            shape = node.meta["val"].shape
            for axis, name in axes.items():
                d = shape[axis]
                if isinstance(d, torch.SymInt) and isinstance(d.node.expr, sympy.Symbol):
                    self.symbols[d.node.expr] = sym(name)

    def run(self, module: ModuleOp) -> FuncOp:
        from pimc.frontend.aten_ops import convert

        sig = self.ep.graph_signature
        params = {**sig.inputs_to_parameters, **sig.inputs_to_buffers,
                  **sig.inputs_to_lifted_tensor_constants}
        graph = self.ep.graph_module.graph
        user = {n.name: n for n in graph.nodes if n.op == "placeholder" and n.name not in params}
        self.bind_symbols(user)
        func = FuncOp.create(self.func_name, [self.type_of(n) for n in user.values()], [],
                             list(user))
        module.body.append(func)
        self.b = Builder.at_end(func.body)
        for node, arg in zip(user.values(), func.args):
            self.env[node] = arg
        for node in graph.nodes:
            if node.op == "placeholder" and node.name in params:
                self.env[node] = _Param(params[node.name])
            elif node.op == "call_function":
                self.b.loc = self.location(node)
                self.env[node] = convert(self, node)
            elif node.op == "output":
                for op in list(func.body.ops):  # weights only lifted tensors flowed through
                    if op.name == "llm.weight" and not op.results[0].uses:
                        op.erase()
                outs = [self.value(a) for a in _flatten(node.args[0])]
                self.b.loc = None
                self.b.insert(ReturnOp(outs))
                func.update_type()
        return func

    def weight(self, target: str, node: torch.fx.Node) -> Value:
        name = target[len(self.weight_prefix):] if target.startswith(self.weight_prefix) else target
        t = self.type_of(node)
        if name not in self.store:
            tensor = self.ep.state_dict.get(target)
            if tensor is None:
                tensor = self.ep.constants.get(target)
            if tensor is None or tensor.device.type == "meta":
                self.store.declare(name, tuple(int(d) for d in t.shape), t.element)
            else:
                self.store.add(name, _to_numpy(tensor))
        return self.b.op("llm.weight", result_type=t, handle=WeightAttr(name), name_hint=None)


class _Param:
    __slots__ = ("target",)

    def __init__(self, target: str):
        self.target = target


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        import ml_dtypes
        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy().copy()


def _flatten(x):
    if isinstance(x, (list, tuple)):
        for item in x:
            yield from _flatten(item)
    elif x is not None:
        yield x
