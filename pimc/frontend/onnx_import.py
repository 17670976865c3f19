"""The ONNX importer: walks a checked ModelProto's graph once and builds one `func.func`.

Graph inputs become function arguments, their `dim_param`s renamed to pimc's symbols through the
input axes the caller names. Shapes are computed here, not read from `value_info`: compile-time
values (shape arithmetic, constants, shape-only tensors) fold over symbolic dims
(`onnx_values.py`), and every other node goes through the rule table in `onnx_ops.py`.
Initializers become `llm.weight` handles; integer and one-element ones are compile-time
constants. Each op keeps its nn.Module path (from `pkg.torch.onnx.name_scopes`) and Python frame,
or else the ONNX node's name, as its location.
"""
from __future__ import annotations

import ast
import re
import tokenize
from collections.abc import Collection, Mapping

import numpy as np
import onnx
import sympy
from onnx import TensorProto, numpy_helper

from pimc.errors import PimcError
from pimc.frontend.onnx_values import (PAST_INPUT, Known, Lazy, NeedsLazy, Seq, causal_fill,
                                       default_dim, evaluate, fold_symbolic, is_splat,
                                       make_lazy, probe_bindings, run_node)
from pimc.ir import Builder, FuncOp, ModuleOp, TensorType
from pimc.ir.attrs import WeightAttr
from pimc.ir.core import Value
from pimc.ir.dialects.builtin import ReturnOp
from pimc.ir.location import FileLineColLoc, NameLoc
from pimc.ir.shapes import dims_equal_tuple
from pimc.ir.symbolic import Dim, as_dim, sym
from pimc.ir.types import ELEMENT_TYPES, ElementType, i64
from pimc.ir.weights import WeightsStore

ELEMENTS = {TensorProto.FLOAT: "f32", TensorProto.FLOAT16: "f16", TensorProto.BFLOAT16: "bf16",
            TensorProto.DOUBLE: "f64", TensorProto.BOOL: "i1", TensorProto.INT8: "i8",
            TensorProto.INT16: "i16", TensorProto.INT32: "i32", TensorProto.INT64: "i64"}
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class OnnxError(PimcError):
    """A file pimc cannot read as an ONNX model, or a model onnx.checker rejects."""


class UnsupportedOnnxOp(PimcError):
    """An ONNX op (or use of one) the frontend has no rule for."""


class _Weight:
    """A parameter, materialised as an llm.weight at first use; `tensor` is None for one that
    is declared without data (a graph input standing for a meta-device parameter)."""

    __slots__ = ("name", "shape", "elem", "tensor")

    def __init__(self, name: str, shape: tuple[int, ...], elem: int,
                 tensor: onnx.TensorProto | None = None):
        self.name, self.shape, self.elem, self.tensor = name, shape, elem, tensor


class OnnxImporter:
    def __init__(self, model: onnx.ModelProto, source: str, func_name: str,
                 dim_names: Mapping[str, Mapping[int, str]] | None, store: WeightsStore,
                 weight_prefix: str = "", declared: Collection[str] = ()):
        self.model, self.graph, self.source = model, model.graph, source
        self.opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        self.func_name, self.dim_names, self.store = func_name, dim_names, store
        self.weight_prefix, self.declared = weight_prefix, frozenset(declared)
        self.symbols: dict[sympy.Symbol, Dim] = {}  # dim_param symbols -> pimc's
        self.env: dict[str, object] = {}
        self.weights: dict[int, Value] = {}
        self.eval_cache: dict = {}
        self.b: Builder | None = None

    # ---- types ----
    def element(self, elem: int, what: str) -> ElementType:
        if elem not in ELEMENTS:
            known = elem in TensorProto.DataType.values()
            name = TensorProto.DataType.Name(elem) if known else elem
            valid = ", ".join(map(TensorProto.DataType.Name, ELEMENTS))
            raise UnsupportedOnnxOp(f"{self.source}: {what} has element type {name}, which pimc "
                                    f"lacks; supported: {valid}")
        return ELEMENT_TYPES[ELEMENTS[elem]]

    def parse_dim_param(self, text: str) -> sympy.Expr:
        local = {n: sympy.Symbol(f"onnx:{n}", integer=True, positive=True)
                 for n in _IDENT.findall(text)}
        try:
            return sympy.parsing.sympy_parser.parse_expr(text, local_dict=local)
        except (SyntaxError, TypeError, ValueError, AttributeError, sympy.SympifyError,
                tokenize.TokenError) as e:  # what sympy's parser raises on malformed text
            raise OnnxError(f"{self.source}: cannot read the symbolic dim '{text}' "
                            f"({type(e).__name__}: {e})") from None

    def dim(self, d: onnx.TensorShapeProto.Dimension, what: str) -> Dim:
        if d.HasField("dim_value"):
            return int(d.dim_value)
        if not d.HasField("dim_param"):
            raise OnnxError(f"{self.source}: {what} has a dim with neither a size nor a name")
        renamed = self.parse_dim_param(d.dim_param).xreplace(self.symbols)
        unknown = sorted(s.name[5:] for s in renamed.free_symbols if s.name.startswith("onnx:"))
        if unknown:
            raise PimcError(f"{self.source}: shape symbol(s) {unknown} of {what} are not tied "
                            "to a named input dim; name every dynamic dim of the inputs")
        return as_dim(renamed)

    def value_type(self, vi: onnx.ValueInfoProto, what: str) -> TensorType:
        t = vi.type.tensor_type
        if not vi.type.HasField("tensor_type") or not t.HasField("shape"):
            raise OnnxError(f"{self.source}: {what} is not a tensor of known rank")
        return TensorType(tuple(self.dim(d, what) for d in t.shape.dim),
                          self.element(t.elem_type, what))

    def known_type(self, k: Known | Lazy, what: str) -> TensorType:
        return TensorType(tuple(as_dim(d) for d in k.shape), self.element(k.elem, what))

    def bind_symbols(self, inputs: list[onnx.ValueInfoProto]) -> None:
        by_name = {i.name: i for i in inputs}
        for name in self.dim_names or {}:
            if name not in by_name:
                raise PimcError(f"dim names given for '{name}', which is not an input of "
                                f"{self.source}; inputs: {', '.join(by_name)}")
        past = any(PAST_INPUT.fullmatch(i.name) for i in inputs)
        for inp in inputs:
            for axis, d in enumerate(inp.type.tensor_type.shape.dim):
                if not d.HasField("dim_param"):
                    continue
                expr = self.parse_dim_param(d.dim_param)
                if not isinstance(expr, sympy.Symbol):
                    continue
                if self.dim_names is None:  # one dim_param is one dim, named where first seen
                    self.symbols.setdefault(expr, default_dim(inp.name, axis, d.dim_param,
                                                              past))
                    continue
                name = (self.dim_names.get(inp.name) or {}).get(axis)
                if name is None:
                    continue
                if self.symbols.setdefault(expr, sym(name)) != sym(name):
                    raise PimcError(f"{self.source}: input '{inp.name}' axis {axis} is "
                                    f"'{d.dim_param}', named both {self.symbols[expr]} and {name}")

    # ---- locations ----
    def location(self, node: onnx.NodeProto):
        meta = {p.key: p.value for p in node.metadata_props}
        path = ""
        try:
            scopes = ast.literal_eval(meta.get("pkg.torch.onnx.name_scopes", "[]"))
            path = scopes[-2] if len(scopes) >= 2 else ""  # the last one names the FX node
        except (ValueError, SyntaxError):
            pass
        path = path.removeprefix(self.weight_prefix)
        frames = _FRAME.findall(meta.get("pkg.torch.onnx.stack_trace", ""))
        file_loc = FileLineColLoc(frames[-1][0], int(frames[-1][1]), 0) if frames else None
        name = path or node.name
        return NameLoc(name, file_loc) if name else file_loc

    def where(self, node: onnx.NodeProto) -> str:
        """`node 'name' (module path (file:line)) in file` for messages."""
        loc = self.location(node)
        described = loc.describe() if loc is not None else node.name
        name = node.name or f"#{list(self.graph.node).index(node)}"
        context = f" ({described})" if described != node.name else ""
        return f"node '{name}'{context} in {self.source}"

    # ---- values ----
    def entry(self, name: str):
        if name not in self.env:
            raise OnnxError(f"{self.source}: value '{name}' is used before it is defined")
        entry = self.env[name]
        if entry is None:
            raise UnsupportedOnnxOp(f"{self.source}: value '{name}' is an optional output pimc "
                                    "does not produce")
        return entry

    def known(self, name: str, node: onnx.NodeProto) -> Known:
        """An input that must be a compile-time value (a shape, axes, a scalar)."""
        entry = self.entry(name)
        if not isinstance(entry, Known):
            raise UnsupportedOnnxOp(f"{node.op_type} at {self.where(node)}: input '{name}' must "
                                    "be a compile-time constant or shape computation for pimc")
        return entry

    def constant(self, name: str, node: onnx.NodeProto) -> np.ndarray:
        """An input's data that must be known now: a constant, or an initializer's data."""
        entry = self.entry(name)
        if isinstance(entry, _Weight) and entry.tensor is not None:
            return numpy_helper.to_array(entry.tensor)
        return self.known(name, node).numpy()

    def value(self, name: str) -> Value:
        entry = self.entry(name)
        if isinstance(entry, Value):
            return entry
        if isinstance(entry, _Weight):  # one llm.weight per parameter, as torch.export has
            if id(entry) not in self.weights:
                self.weights[id(entry)] = self.weight(entry)
            return self.weights[id(entry)]
        # constants are made at each use, so each layer's ops read only their own (replication)
        return self._materialise(entry, name)

    def _materialise(self, entry, name: str) -> Value:
        if isinstance(entry, Seq):
            raise UnsupportedOnnxOp(f"{self.source}: sequence '{name}' used as a tensor")
        t = self.known_type(entry, f"value '{name}'")
        if isinstance(entry, Known) and not entry.concrete:
            return shape_data(self, entry, t)
        if isinstance(entry, Lazy) and entry.node.op_type == "Range":
            return _arange(self, entry, t)
        if isinstance(entry, Known):
            arrays = [entry.numpy()]
        else:
            arrays = [evaluate(entry, b, self.eval_cache) for b in probe_bindings(entry.symbols())]
        splat = is_splat(arrays) if all(a.size for a in arrays) else None
        if splat is not None:
            return self.b.op("llm.constant", result_type=t, value=splat)
        fill = causal_fill(arrays)
        if fill is not None:
            return _causal_mask(self, t, fill)
        if isinstance(entry, Known):  # a constant tensor: kept in the store, like a weight
            handle = f"onnx.constant.{self.func_name}.{name}"
            if handle not in self.store:
                self.store.add(handle, arrays[0])
            return self.b.op("llm.weight", result_type=t, handle=WeightAttr(handle))
        from pimc.frontend.onnx_ops import lookup
        rule = lookup(entry.node)
        if rule is not None:  # import the computation as ops (positions from a Range, ...)
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in entry.node.attribute}
            try:
                out = rule(self, entry.node, attrs)[0]
            except UnsupportedOnnxOp:
                out = None
            if isinstance(out, Value):
                return out
        raise UnsupportedOnnxOp(
            f"{self.source}: value '{name}' ({entry.node.op_type} of node '{entry.node.name}') "
            "is computed from shapes alone and is neither a splat nor a causal mask, the only "
            "shape-dependent tensors pimc imports")

    def weight(self, w: _Weight) -> Value:
        name = w.name.removeprefix(self.weight_prefix)
        t = TensorType(w.shape, self.element(w.elem, f"initializer '{w.name}'"))
        if name not in self.store:
            if w.tensor is None:
                self.store.declare(name, w.shape, t.element)
            else:
                self.store.add(name, numpy_helper.to_array(w.tensor))
        return self.b.op("llm.weight", result_type=t, handle=WeightAttr(name))

    def initializer(self, tensor: onnx.TensorProto):
        if tensor.data_type in ELEMENTS and ELEMENTS[tensor.data_type][0] == "f" and \
                int(np.prod(tensor.dims, dtype=np.int64)) > 1:
            shape = tuple(int(d) for d in tensor.dims)
            return _Weight(tensor.name, shape, tensor.data_type, tensor)
        return Known.of(numpy_helper.to_array(tensor), tensor.data_type)

    def declared_weight(self, vi: onnx.ValueInfoProto) -> _Weight:
        t = self.value_type(vi, f"parameter input '{vi.name}'")
        if not all(isinstance(d, int) for d in t.shape):
            raise OnnxError(f"{self.source}: parameter input '{vi.name}' has a symbolic shape")
        return _Weight(vi.name, t.shape, vi.type.tensor_type.elem_type)

    # ---- the walk ----
    def fold(self, node: onnx.NodeProto, attrs: dict, inputs: list) -> list | None:
        """The node's results as compile-time values, or None if it must be imported as ops."""
        if all(i is None or isinstance(i, Known) and i.concrete for i in inputs):
            try:
                arrays = [i if i is None else i.numpy() for i in inputs]
                outs = run_node(node, arrays, self.opset, self.eval_cache)
            except Exception:  # no reference kernel for it: the rule table decides
                return None
            return [Known.of(a, onnx.helper.np_dtype_to_tensor_dtype(a.dtype)) for a in outs]
        if not any(isinstance(i, Lazy) for i in inputs):
            try:
                return [fold_symbolic(node, attrs, inputs)]
            except NeedsLazy:
                pass
        lazy = make_lazy(node, attrs, inputs, self.opset)
        return None if lazy is None else [lazy]

    def convert(self, node: onnx.NodeProto) -> list:
        from pimc.frontend.onnx_ops import lookup, unsupported
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        inputs = [self.entry(n) if n else None for n in node.input]
        if node.op_type == "Constant":
            return [_constant(attrs, self.where(node))]
        if node.op_type == "Shape":
            shape = _shape(inputs[0])[attrs.get("start", 0):attrs.get("end")]
            return [Known.of(np.array(shape, dtype=object), TensorProto.INT64)]
        if inputs and node.domain in ("", "ai.onnx") and \
                all(i is None or isinstance(i, (Known, Lazy)) for i in inputs):
            folded = self.fold(node, attrs, inputs)
            if folded is not None:
                return folded
        rule = lookup(node)
        if rule is None:
            raise unsupported(self, node)
        return rule(self, node, attrs)

    def run(self, module: ModuleOp) -> FuncOp:
        inits = {t.name for t in self.graph.initializer}
        inputs = [i for i in self.graph.input if i.name not in inits | self.declared]
        self.bind_symbols(inputs)
        func = self.arguments(module, inputs)
        self.env.update({t.name: self.initializer(t) for t in self.graph.initializer})
        self.env.update({i.name: self.declared_weight(i) for i in self.graph.input
                         if i.name in self.declared})
        for node in self.graph.node:
            self.b.loc = self.location(node)
            outs = self.convert(node)
            for name, out in zip(node.output, list(outs) + [None] * len(node.output)):
                if name:
                    self.env[name] = out
        self.b.loc = None
        results = [self.value(o.name) for o in self.graph.output]
        for out, v in zip(self.graph.output, results):
            self.check_output(out, v)
        self.b.insert(ReturnOp(results))
        func.update_type()
        return func

    def arguments(self, module: ModuleOp, inputs: list[onnx.ValueInfoProto]) -> FuncOp:
        """The function, one argument per graph input, each bound to its input's name (a
        subclass deriving generation steps from the graph binds them otherwise)."""
        types = [self.value_type(i, f"input '{i.name}'") for i in inputs]
        func = FuncOp.create(self.func_name, types, [], [_arg_name(i.name) for i in inputs])
        module.body.append(func)
        self.b = Builder.at_end(func.body)
        self.env.update({i.name: arg for i, arg in zip(inputs, func.args)})
        return func

    def check_output(self, out: onnx.ValueInfoProto, v: Value) -> None:
        """pimc's shapes against the ones the exporter declared (a frontend self-check)."""
        try:
            declared = self.value_type(out, f"output '{out.name}'")
        except PimcError:  # dims pimc cannot name (unk__0, ...): nothing to compare
            return
        if declared.element != v.type.element or not dims_equal_tuple(declared.shape,
                                                                        v.type.shape):
            raise PimcError(f"{self.source}: output '{out.name}' is declared {declared}, but "
                            f"pimc computed {v.type}")


def _shape(entry) -> tuple[Dim, ...]:
    if isinstance(entry, Value):
        return entry.type.shape
    return tuple(entry.shape)


def _arg_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _constant(attrs: dict, where: str) -> Known:
    if "value" in attrs:
        t = attrs["value"]
        return Known.of(numpy_helper.to_array(t), t.data_type)
    for key, elem in (("value_float", TensorProto.FLOAT), ("value_floats", TensorProto.FLOAT),
                      ("value_int", TensorProto.INT64), ("value_ints", TensorProto.INT64)):
        if key in attrs:
            dtype = np.float32 if elem == TensorProto.FLOAT else np.int64
            return Known.of(np.array(attrs[key], dtype=dtype), elem)
    raise UnsupportedOnnxOp(f"Constant at {where}: only tensor, float and int values are "
                            f"supported, found {', '.join(attrs)}")


def _arange(im: OnnxImporter, lazy: Lazy, t: TensorType) -> Value:
    start = lazy.inputs[0].dims()[0]
    return im.b.op("llm.arange", result_type=t, start=start, step=1)


def shape_data(im: OnnxImporter, known: Known, t: TensorType) -> Value:
    """Shape arithmetic used as tensor data (a length S+T multiplied into gather indices): each
    element as a one-long llm.arange starting at its dim, joined and viewed as `t`."""
    b, one = im.b, TensorType((1,), t.element)
    parts = [b.op("llm.arange", result_type=one, start=d, step=1) for d in known.dims()]
    flat = parts[0] if len(parts) == 1 else b.op("llm.concat", *parts, axis=0)
    return flat if flat.type == t else b.op("llm.reshape", flat, result_type=t)


def _causal_mask(im: OnnxImporter, t: TensorType, fill: float) -> Value:
    """pimc's canonical causal mask over [.., T, S]: `fill` where key j > i + S - T, else 0,
    built as min(relu(j - (i + S - T)), 1) * fill from existing llm ops. raise-llm-ops
    recognises exactly this form (raise_patterns_onnx.py) and folds it into llm.attention's
    `causal`; run as is, it computes the mask."""
    b, (tq, sk) = im.b, t.shape[-2:]
    q = b.op("llm.arange", result_type=TensorType((tq,), i64), start=as_dim(sk - tq), step=1)
    k = b.op("llm.arange", result_type=TensorType((sk,), i64), start=0, step=1)
    after = b.op("llm.sub", k, b.op("llm.reshape", q, result_type=TensorType((tq, 1), i64)))
    after = b.op("llm.cast", after, result_type=TensorType((tq, sk), t.element))
    scalar = TensorType((), t.element)
    one = b.op("llm.constant", result_type=scalar, value=1.0)
    masked = b.op("llm.minimum", b.op("llm.relu", after), one)
    mask = b.op("llm.mul", masked, b.op("llm.constant", result_type=scalar, value=fill))
    return mask if mask.type == t else b.op("llm.reshape", mask, result_type=t)
