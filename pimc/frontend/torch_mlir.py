"""The torch-mlir frontend: a `torch`-dialect MLIR module -> pimc IR plus a weights store.

A program goes through `torch_mlir.fx.export_and_import` and the resulting MLIR module is walked
with the `torch_mlir.ir` Python API (ops, operands, attributes, affine maps, locations; no text
parsing except the `!torch.vtensor<[...],dtype>` type spelling, which the API does not expose).
Each `torch.aten.*` op goes through the rule table in `torch_mlir_ops.py`.

Import choices, each from a measured problem with torch-mlir 20261001 / torch 2.13:
  * the ExportedProgram is decomposed by pimc (`torch_export.decompose`: core ATen with SDPA
    whole) and handed over with `decomposition_table={}`: torch-mlir's own table decomposes SDPA,
    which breaks GPT-2's Conv1D `.view`, and the torch backend pipeline (output_type="torch")
    splits softmax/mean/layer_norm; so we import `output_type="raw"`, the same core-ATen ops the
    torch.export path sees, and raise-llm-ops gives both paths the same ops;
  * `import_program` (experimental_support_mutation=True) rather than the frozen import: it
    reads non-persistent buffers (rotary `inv_freq`) from `ep.constants`, so HF models need no
    persistent-buffer patch and stay untouched, and it tells our literal hook which parameter
    each literal is;
  * the hook names every literal `pimc.weight = "<HF name>"` (the handles the torch.export path
    uses, so one WeightsStore serves both) and takes the data from the ExportedProgram; meta
    tensors (full-size zoo models) become splat literals, so nothing is materialised;
  * `import_symbolic_shape_expressions=True`: every dynamic value gets `torch.bind_symbolic_shape`,
    whose affine map gives its dims over torch's symbols; input dims name the symbols B/T/S;
  * locations: the node's innermost Python frame, wrapped in its nn.Module path (torch-mlir's
    own locations carry only the stack trace, so the importer's ContextCache adds the path).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from pimc.errors import PimcError
from pimc.frontend.fx_import import UnsupportedOp
from pimc.frontend.torch_mlir_import import MlirImporter
from pimc.ir import ModuleOp
from pimc.ir.weights import WeightsStore

__all__ = ["MlirImporter", "UnsupportedOp", "capture_hf", "export", "import_exported",
           "import_mlir", "to_mlir"]


def _hooks_and_importer(prefix: str):
    from torch_mlir import ir
    from torch_mlir.dialects import torch as torch_d
    from torch_mlir.extras.fx_importer import ContextCache, FxImporter, FxImporterHooks

    class Locations(ContextCache):
        """torch-mlir's location (the stack trace) inside a NameLoc of the nn.Module path."""

        def get_node_location(self, node):
            loc = super().get_node_location(node)
            stack = node.meta.get("nn_module_stack") or {}
            path = next(reversed(stack.values()))[0] if stack else ""
            path = path[len(prefix):] if path.startswith(prefix) else path  # as fx_import
            if not path:
                return loc
            return ir.Location.name(path, childLoc=loc, context=self._c) if loc else \
                ir.Location.name(path, context=self._c)

    class Hooks(FxImporterHooks):
        """Names each tensor literal by its parameter/buffer/constant name and keeps its data."""

        def __init__(self):
            self.tensors: dict[str, torch.Tensor] = {}
            self.by_id: dict[int, str] = {}
            self.count = 0

        def resolve_literal(self, gni, literal, info):
            if not isinstance(literal, torch.Tensor):
                return None
            target = info.input_spec.target if info is not None else self.by_id.get(id(literal))
            if target is None:
                target = f"torch_mlir.literal_{self.count}"
                self.count += 1
            name = target[len(prefix):] if target.startswith(prefix) else target
            self.tensors[name] = literal
            vtype = gni._cc.tensor_to_vtensor_type(literal)
            dtype = _mlir_element(literal.dtype)
            if dtype is None:
                return None  # torch-mlir's default literal; the walker reports the dtype
            ttype = ir.RankedTensorType.get(list(literal.shape), dtype)
            if literal.device.type == "meta" or literal.numel() == 0:
                zero = ir.FloatAttr.get(dtype, 0.0) if literal.is_floating_point() else \
                    ir.IntegerAttr.get(dtype, 0)
                value = ir.DenseElementsAttr.get_splat(ttype, zero)
            else:  # the blob shares the tensor's memory (no copy)
                data = literal.detach().cpu().contiguous()
                array = (data.view(torch.int16) if data.dtype == torch.bfloat16 else data).numpy()
                value = ir.DenseResourceElementsAttr.get_from_buffer(array, name, ttype)
            op = ir.Operation.create("torch.vtensor.literal", results=[vtype],
                                     attributes={"value": value,
                                                 "pimc.weight": ir.StringAttr.get(name)})
            return op.result

    context = ir.Context()
    torch_d.register_dialect(context)
    importer = FxImporter(context=context, hooks=Hooks())
    importer._cc = Locations(context, py_attr_tracker=importer._py_attr_tracker)
    return importer


def _mlir_element(dtype: torch.dtype):
    from torch_mlir import ir
    table = {torch.float32: ir.F32Type.get, torch.float16: ir.F16Type.get,
             torch.bfloat16: ir.BF16Type.get, torch.float64: ir.F64Type.get,
             torch.int64: lambda: ir.IntegerType.get_signed(64),
             torch.int32: lambda: ir.IntegerType.get_signed(32)}
    return table[dtype]() if dtype in table else None


def to_mlir(eps: Mapping[str, torch.export.ExportedProgram], weight_prefix: str = ""):
    """Import ExportedPrograms (already in core ATen) as functions of one torch-dialect MLIR
    module. Returns the module and the tensors its literals name."""
    from torch_mlir import fx
    importer = _hooks_and_importer(weight_prefix)
    hooks = importer._hooks
    for func_name, ep in eps.items():
        hooks.by_id = {id(t): name for name, t in ep.constants.items()
                       if isinstance(t, torch.Tensor)}
        with importer._c:
            fx.export_and_import(ep, output_type="raw", fx_importer=importer,
                                 decomposition_table={}, experimental_support_mutation=True,
                                 import_symbolic_shape_expressions=True, func_name=func_name)
    return importer.module, hooks.tensors


def import_mlir(mlir_module, arg_names: Mapping[str, Sequence[str]],
                dim_names: Mapping[str, Mapping[str, Mapping[int, str]]], store: WeightsStore,
                tensors: Mapping[str, torch.Tensor], module: ModuleOp | None = None) -> ModuleOp:
    """Walk every `func.func` of a torch-dialect MLIR module into `module`.

    `arg_names[func]` names the arguments; `dim_names[func]` names their dynamic dims
    (`{"input_ids": {0: "B", 1: "T"}}`); `tensors` holds the data of named literals."""
    from torch_mlir import ir
    module = ModuleOp() if module is None else module
    for op in mlir_module.body.operations:
        op = op.operation
        if op.name != "func.func":
            continue
        name = ir.StringAttr(op.attributes["sym_name"]).value
        MlirImporter(op, name, list(arg_names.get(name, ())), dim_names.get(name, {}), store,
                     tensors).run(module)
    from pimc.frontend.torch_export import weight_handles
    store.retain(weight_handles(module))
    return module


def import_exported(eps: Mapping[str, torch.export.ExportedProgram],
                    dim_names: Mapping[str, Mapping[str, Mapping[int, str]]],
                    store: WeightsStore, module: ModuleOp, weight_prefix: str = "") -> ModuleOp:
    """Add one function per ExportedProgram (`{"prefill": ep, ...}`) to `module` via torch-mlir;
    the counterpart of `torch_export.import_exported`."""
    from pimc.frontend.torch_export import decompose
    eps = {name: decompose(ep) for name, ep in eps.items()}
    arg_names = {name: [s.arg.name for s in ep.graph_signature.input_specs
                        if s.kind == torch.export.graph_signature.InputKind.USER_INPUT]
                 for name, ep in eps.items()}
    try:
        mlir_module, tensors = to_mlir(eps, weight_prefix)
    except Exception as e:  # torch-mlir raises many types; keep its message
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise PimcError(f"torch-mlir could not import the program: {type(e).__name__}: {first}",
                        str(e)) from e
    return import_mlir(mlir_module, arg_names, dim_names, store, tensors, module)


def export(model: torch.nn.Module, example_inputs: Sequence[torch.Tensor], dynamic_shapes=None,
           func_name: str = "forward",
           dim_names: Mapping[str, Mapping[int, str]] | None = None) -> tuple[ModuleOp, WeightsStore]:
    """Export an nn.Module with torch.export (under no_grad) and import it through torch-mlir."""
    from pimc.frontend.torch_export import trace
    ep = trace(model, example_inputs, dynamic_shapes)
    store, module = WeightsStore(), ModuleOp()
    import_exported({func_name: ep}, {func_name: dim_names or {}}, store, module)
    return module, store


def capture_hf(model: torch.nn.Module, store: WeightsStore | None = None,
               module: ModuleOp | None = None) -> tuple[ModuleOp, WeightsStore]:
    """@prefill and @decode of an HF *ForCausalLM through torch-mlir, with the same arguments,
    symbolic dims and weight handles as `pimc.frontend.hf.capture` (torch.export)."""
    from pimc.frontend import hf
    store = WeightsStore() if store is None else store
    module = ModuleOp() if module is None else module
    with hf.prepared(model), hf.quiet_export():
        programs = hf.export_programs(model)
        import_exported({sig.func: ep for sig, ep in programs},
                        {sig.func: sig.dim_names for sig, _ in programs}, store, module,
                        weight_prefix="model.")
    hf.record_max_seq_len(module, model.config)
    return module, store
