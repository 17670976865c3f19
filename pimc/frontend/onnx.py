"""The ONNX frontend: an .onnx file or ModelProto (opsets 17-20, as `torch.onnx.export(...,
dynamo=True)` writes them) -> a pimc `func.func` plus a weights store.

The model must pass `onnx.checker.check_model(full_check=True)`. Graph inputs become function
arguments; their `dim_param`s are renamed to pimc's symbols through the input axes the caller
names (`{"input_ids": {0: "B", 1: "T"}}`), as the torch.export frontend does with FX symbols.
Every other shape is computed here, not read from `value_info`: shape arithmetic (Shape, Gather,
Concat, ...) is folded at import time over symbolic dims (`onnx_values.py`), and each op goes
through the rule table in `onnx_ops.py` to the fine-grained llm ops the torch.export path emits.
Initializers become `llm.weight` handles named like the HF parameters (export with
`optimize=False`, which keeps torch's names); integer and one-element initializers are
compile-time constants. Each op keeps its nn.Module path (from `pkg.torch.onnx.name_scopes`) and
Python frame, or else the ONNX node name, as its location.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
import sympy
from onnx import TensorProto, numpy_helper

from pimc.errors import PimcError
from pimc.frontend.onnx_values import (Known, Lazy, NeedsLazy, Seq, causal_fill, evaluate,
                                       fold_symbolic, is_splat, make_lazy, probe_bindings,
                                       run_node)
from pimc.ir import Builder, FuncOp, ModuleOp, TensorType
from pimc.ir.attrs import WeightAttr
from pimc.ir.core import Value
from pimc.ir.dialects.builtin import ReturnOp
from pimc.ir.location import FileLineColLoc, NameLoc
from pimc.ir.shapes import dims_equal_tuple
from pimc.ir.symbolic import SYMBOL_RE, Dim, as_dim, sym
from pimc.ir.types import ELEMENT_TYPES, ElementType
from pimc.ir.weights import WeightsStore

OPSETS = range(17, 21)
ELEMENTS = {TensorProto.FLOAT: "f32", TensorProto.FLOAT16: "f16", TensorProto.BFLOAT16: "bf16",
            TensorProto.DOUBLE: "f64", TensorProto.BOOL: "i1", TensorProto.INT8: "i8",
            TensorProto.INT16: "i16", TensorProto.INT32: "i32", TensorProto.INT64: "i64"}
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class OnnxError(PimcError):
    """A file pimc cannot read as an ONNX model, or a model onnx.checker rejects."""


class UnsupportedOnnxOp(PimcError):
    """An ONNX op (or use of one) the frontend has no rule for."""


def load(source: str | Path | onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """The checked model and a name for it in messages (its path)."""
    if isinstance(source, onnx.ModelProto):
        model, name = source, f"<ONNX model {source.graph.name or 'unnamed'}>"
    else:
        path = Path(source)
        name = str(path)
        if not path.is_file():
            raise OnnxError(f"cannot read '{path}': no such file")
        try:
            model = onnx.load(path)
        except Exception as e:  # protobuf's DecodeError, external-data errors, ...
            raise OnnxError(f"{name}: not a readable ONNX model ({type(e).__name__}: "
                            f"{_first_line(e)})") from None
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # ValidationError and shape-inference errors
        raise OnnxError(f"{name}: onnx.checker rejects the model: {_first_line(e)}") from None
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset not in OPSETS:
        raise OnnxError(f"{name}: opset {opset} is not supported; the ONNX frontend reads "
                        f"opsets {OPSETS.start}-{OPSETS.stop - 1} (re-export with "
                        "opset_version=18)")
    if model.functions:
        model = onnx.inliner.inline_local_functions(model)
    return model, name


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


class _Weight:
    __slots__ = ("tensor",)

    def __init__(self, tensor: onnx.TensorProto):
        self.tensor = tensor


class OnnxImporter:
    def __init__(self, model: onnx.ModelProto, source: str, func_name: str,
                 dim_names: Mapping[str, Mapping[int, str]] | None, store: WeightsStore,
                 weight_prefix: str = ""):
        self.model, self.graph, self.source = model, model.graph, source
        self.opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        self.func_name, self.dim_names, self.store = func_name, dim_names, store
        self.weight_prefix = weight_prefix
        self.symbols: dict[sympy.Symbol, Dim] = {}  # dim_param symbols -> pimc's
        self.env: dict[str, object] = {}
        self.materialised: dict[int, Value] = {}
        self.eval_cache: dict = {}
        self.b: Builder | None = None

    # ---- types ----
    def element(self, elem: int, what: str) -> ElementType:
        if elem not in ELEMENTS:
            name = TensorProto.DataType.Name(elem) if elem in TensorProto.DataType.values() else elem
            raise UnsupportedOnnxOp(f"{self.source}: {what} has element type {name}, which pimc "
                                    f"lacks; supported: {', '.join(map(TensorProto.DataType.Name, ELEMENTS))}")
        return ELEMENT_TYPES[ELEMENTS[elem]]

    def parse_dim_param(self, text: str) -> sympy.Expr:
        local = {n: sympy.Symbol(f"onnx:{n}", integer=True, positive=True)
                 for n in _IDENT.findall(text)}
        try:
            return sympy.parsing.sympy_parser.parse_expr(text, local_dict=local)
        except Exception:
            raise OnnxError(f"{self.source}: cannot read the symbolic dim '{text}'") from None

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
        for inp in inputs:
            for axis, d in enumerate(inp.type.tensor_type.shape.dim):
                if not d.HasField("dim_param"):
                    continue
                if self.dim_names is None:
                    name = _auto_name(d.dim_param)
                else:
                    name = (self.dim_names.get(inp.name) or {}).get(axis)
                expr = self.parse_dim_param(d.dim_param)
                if name is None or not isinstance(expr, sympy.Symbol):
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
        if path.startswith(self.weight_prefix):
            path = path[len(self.weight_prefix):]
        frames = _FRAME.findall(meta.get("pkg.torch.onnx.stack_trace", ""))
        file_loc = FileLineColLoc(frames[-1][0], int(frames[-1][1]), 0) if frames else None
        name = path or node.name
        return NameLoc(name, file_loc) if name else file_loc

    def where(self, node: onnx.NodeProto) -> str:
        loc = self.location(node)
        described = loc.describe() if loc is not None else ""
        node_name = node.name or f"#{list(self.graph.node).index(node)}"
        return f"node '{node_name}'" + (f" ({described})" if described != node.name and
                                        described else "") + f" in {self.source}"

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

    def value(self, name: str) -> Value:
        entry = self.entry(name)
        if isinstance(entry, Value):
            return entry
        cached = self.materialised.get(id(entry))
        if cached is None:
            cached = self.materialised[id(entry)] = self._materialise(entry, name)
        return cached

    def _materialise(self, entry, name: str) -> Value:
        if isinstance(entry, _Weight):
            return self.weight(entry.tensor)
        if isinstance(entry, Seq):
            raise UnsupportedOnnxOp(f"{self.source}: sequence '{name}' used as a tensor")
        t = self.known_type(entry, f"value '{name}'")
        if isinstance(entry, Known) and not entry.concrete:
            raise UnsupportedOnnxOp(f"{self.source}: value '{name}' is shape arithmetic "
                                    f"({entry.dims()}) used as tensor data; pimc keeps shapes "
                                    "symbolic and cannot import it")
        from pimc.frontend.onnx_ops import arange, causal_mask
        if isinstance(entry, Lazy) and entry.node.op_type == "Range":
            return arange(self, entry, t)
        if isinstance(entry, Known):
            arrays = [entry.numpy()]
        else:
            arrays = [evaluate(entry, b, self.eval_cache) for b in probe_bindings(entry.symbols())]
        splat = is_splat(arrays) if all(a.size for a in arrays) else None
        if splat is not None:
            return self.b.op("llm.constant", result_type=t, value=splat)
        fill = causal_fill(arrays)
        if fill is not None:
            return causal_mask(self, t, fill)
        if isinstance(entry, Known):  # a constant tensor: kept in the store, like a weight
            handle = f"onnx.constant.{name}"
            if handle not in self.store:
                self.store.add(handle, arrays[0])
            return self.b.op("llm.weight", result_type=t, handle=WeightAttr(handle))
        raise UnsupportedOnnxOp(
            f"{self.source}: value '{name}' ({entry.node.op_type} of node '{entry.node.name}') "
            "is computed from shapes alone and is neither a splat nor a causal mask, the only "
            "shape-dependent tensors pimc imports")

    def weight(self, tensor: onnx.TensorProto) -> Value:
        name = tensor.name
        name = name[len(self.weight_prefix):] if name.startswith(self.weight_prefix) else name
        t = TensorType(tuple(int(d) for d in tensor.dims),
                       self.element(tensor.data_type, f"initializer '{tensor.name}'"))
        if name not in self.store:
            self.store.add(name, numpy_helper.to_array(tensor))
        return self.b.op("llm.weight", result_type=t, handle=WeightAttr(name))

    def initializer(self, tensor: onnx.TensorProto):
        if tensor.data_type in ELEMENTS and ELEMENTS[tensor.data_type][0] == "f" and \
                int(np.prod(tensor.dims, dtype=np.int64)) > 1:
            return _Weight(tensor)
        return Known.of(numpy_helper.to_array(tensor), tensor.data_type)

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
        from pimc.frontend.onnx_ops import RULES, unsupported
        if node.domain not in ("", "ai.onnx"):
            raise unsupported(self, node)
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        inputs = [self.entry(n) if n else None for n in node.input]
        if node.op_type == "Constant":
            return [_constant(attrs, self.where(node))]
        if node.op_type == "Shape":
            shape = _shape(inputs[0])[attrs.get("start", 0):attrs.get("end")]
            return [Known.of(np.array(shape, dtype=object), TensorProto.INT64)]
        if inputs and all(i is None or isinstance(i, (Known, Lazy)) for i in inputs):
            folded = self.fold(node, attrs, inputs)
            if folded is not None:
                return folded
        rule = RULES.get(node.op_type)
        if rule is None:
            raise unsupported(self, node)
        return rule(self, node, attrs)

    def run(self, module: ModuleOp) -> FuncOp:
        inits = {t.name for t in self.graph.initializer}
        inputs = [i for i in self.graph.input if i.name not in inits]
        self.bind_symbols(inputs)
        types = [self.value_type(i, f"input '{i.name}'") for i in inputs]
        func = FuncOp.create(self.func_name, types, [], [_arg_name(i.name) for i in inputs])
        module.body.append(func)
        self.b = Builder.at_end(func.body)
        self.env.update({i.name: arg for i, arg in zip(inputs, func.args)})
        self.env.update({t.name: self.initializer(t) for t in self.graph.initializer})
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


def _auto_name(param: str) -> str:
    """A pimc symbol for an ONNX dim_param nobody named ("batch" -> BATCH, "s44" -> S44)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", param).upper()
    return name if SYMBOL_RE.fullmatch(name) else f"D_{name}"


def _shape(entry) -> tuple[Dim, ...]:
    if isinstance(entry, Value):
        return entry.type.shape
    if isinstance(entry, _Weight):
        return tuple(int(d) for d in entry.tensor.dims)
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


def import_onnx(model: str | Path | onnx.ModelProto, func_name: str = "forward",
                dim_names: Mapping[str, Mapping[int, str]] | None = None,
                store: WeightsStore | None = None, module: ModuleOp | None = None,
                weight_prefix: str = "") -> tuple[ModuleOp, WeightsStore]:
    """Add `@func_name` imported from `model` to `module`. `dim_names` names each dynamic input
    dim (`{"input_ids": {0: "B", 1: "T"}}`); without it, each dim_param becomes a symbol of its
    own name in upper case ("batch" -> BATCH)."""
    proto, source = load(model)
    store = WeightsStore() if store is None else store
    module = ModuleOp() if module is None else module
    OnnxImporter(proto, source, func_name, dim_names, store, weight_prefix).run(module)
    store.retain({op.attr("handle") for op in module.walk() if op.name == "llm.weight"})
    return module, store


def capture_hf(model, store: WeightsStore | None = None,
               module: ModuleOp | None = None) -> tuple[ModuleOp, WeightsStore]:
    """@prefill and @decode of an HF causal LM through `torch.onnx.export(dynamo=True)`, with
    the arguments, argument order and symbols of the torch.export capture (`hf.capture`)."""
    from pimc.frontend.onnx_capture import capture
    return capture(model, store, module)
