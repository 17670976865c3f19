"""Capture a Hugging Face causal LM as @prefill and @decode through ONNX.

The same wrappers, capture settings (`hf.prepared`) and example sizes as the torch.export
capture in `hf.py`, exported with `torch.onnx.export(dynamo=True, opset_version=18,
optimize=False)` to in-memory ModelProtos and imported by the ONNX frontend into one module, so
both paths give functions with the same arguments, argument order and symbols (B, T, S).
`optimize=False` because onnxscript's optimizer renames initializers (`val_152`) and merges
equal ones, which would break the HF names of the weight handles.
"""
from __future__ import annotations

import onnx

from pimc.errors import PimcError
from pimc.frontend.onnx import import_onnx
from pimc.ir import ModuleOp
from pimc.ir.weights import WeightsStore

OPSET = 18


class OnnxExportError(PimcError):
    """torch.onnx.export could not export the model; torch's own message is kept."""


def export(module, args: tuple, dynamic_shapes: dict) -> tuple[onnx.ModelProto, list[str]]:
    """`module` as an ONNX ModelProto, exported in memory, and the names of the graph inputs that
    stand for parameters on the meta device (they have no data to serialise)."""
    import torch
    try:
        with torch.no_grad():
            program = torch.onnx.export(module.eval(), args, dynamo=True, opset_version=OPSET,
                                        dynamic_shapes=dynamic_shapes, optimize=False,
                                        verbose=False)
    except Exception as e:  # torch raises many types here; keep its message whole
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise OnnxExportError(f"torch.onnx.export could not export {type(module).__name__}: "
                              f"{type(e).__name__}: {first}", str(e)) from e
    graph, declared = program.model.graph, []
    for name, value in list(graph.initializers.items()):
        raw = getattr(value.const_value, "raw", None)
        if isinstance(raw, torch.Tensor) and raw.device.type == "meta":
            graph.initializers.pop(name)
            value.const_value = None
            graph.inputs.append(value)
            declared.append(name)
    return program.model_proto, declared


def capture(model, store: WeightsStore | None = None,
            module: ModuleOp | None = None) -> tuple[ModuleOp, WeightsStore]:
    from pimc.frontend.hf import record_max_seq_len
    module, store = import_exports(export_hf(model), store, module)
    record_max_seq_len(module, model.config)
    return module, store


def import_exports(exports: dict, store: WeightsStore | None = None,
                   module: ModuleOp | None = None) -> tuple[ModuleOp, WeightsStore]:
    """Import `export_hf`'s ModelProtos as one function each into one module."""
    store = WeightsStore() if store is None else store
    module = ModuleOp() if module is None else module
    for func, (proto, dim_names, declared) in exports.items():
        import_onnx(proto, func, dim_names, store, module, "model.", declared)
    return module, store


def export_hf(model) -> dict[str, tuple[onnx.ModelProto, dict, list[str]]]:
    """{"prefill": (ModelProto, dim names, declared parameter inputs), "decode": (...)}: the
    signatures every frontend captures (hf.signatures), exported to ONNX."""
    from pimc.frontend.hf import prepared, quiet_export, signatures
    exports = {}
    with prepared(model), quiet_export():
        for sig in signatures(model):
            with sig.attention_mode():
                proto, declared = export(sig.wrapper, sig.args, sig.dynamic_shapes)
            exports[sig.func] = (proto, sig.dim_names, declared)
    return exports
