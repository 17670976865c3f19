"""Capture a Hugging Face causal LM as @prefill and @decode through ONNX.

The same wrappers, capture settings (`hf.prepared`) and example sizes as the torch.export
capture in `hf.py`, exported with `torch.onnx.export(dynamo=True, opset_version=18,
optimize=False)` to in-memory ModelProtos and imported by the ONNX frontend into one module, so
both paths give functions with the same arguments, argument order and symbols (B, T, S).
`optimize=False` because onnxscript's optimizer renames initializers (`val_152`) and merges
equal ones, which would break the HF names of the weight handles.
"""
from __future__ import annotations

from pimc.errors import PimcError
from pimc.frontend.onnx import import_onnx
from pimc.ir import ModuleOp
from pimc.ir.weights import WeightsStore

OPSET = 18


class OnnxExportError(PimcError):
    """torch.onnx.export could not export the model; torch's own message is kept."""


def export(module, args: tuple, dynamic_shapes: dict):
    """`module` as an ONNX ModelProto, exported in memory."""
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
    return program.model_proto


def capture(model, store: WeightsStore | None = None,
            module: ModuleOp | None = None) -> tuple[ModuleOp, WeightsStore]:
    from pimc.frontend.hf import prepared
    with prepared(model):
        return _capture(model, store, module)


def _capture(model, store, module) -> tuple[ModuleOp, WeightsStore]:
    import torch
    from torch.export import Dim

    from pimc.frontend.hf import _Decode, _Prefill, _state, kv_shape

    store = WeightsStore() if store is None else store
    module = ModuleOp() if module is None else module
    layers, device = model.config.num_hidden_layers, next(model.parameters()).device
    b, t, s = 2, 3, 3  # >= 2: export specialises dims of size 0 and 1
    ids = torch.zeros((b, t), dtype=torch.long, device=device)
    pos = torch.arange(t, device=device).repeat(b, 1)
    dyn = {0: Dim.DYNAMIC, 1: Dim.DYNAMIC}
    _state["causal"] = True
    proto = export(_Prefill(model), (ids, pos), {"input_ids": dyn, "position_ids": dyn})
    import_onnx(proto, "prefill", {"input_ids": {0: "B", 1: "T"}, "position_ids": {0: "B", 1: "T"}},
                store, module, weight_prefix="model.")
    keys, values = (tuple(torch.zeros(kv_shape(model.config, b, s), device=device)
                          for _ in range(layers)) for _ in range(2))
    kv = {0: Dim.DYNAMIC, 2: Dim.DYNAMIC}
    one = {0: Dim.DYNAMIC, 1: Dim.STATIC}
    names = {"input_ids": {0: "B"}, "position_ids": {0: "B"}}
    for i in range(layers):
        names[f"past_keys_{i}"] = names[f"past_values_{i}"] = {0: "B", 2: "S"}
    _state["causal"] = False
    try:
        proto = export(_Decode(model), (ids[:, :1], pos[:, :1] + s, keys, values),
                       {"input_ids": one, "position_ids": one, "past_keys": (kv,) * layers,
                        "past_values": (kv,) * layers})
    finally:
        _state["causal"] = True
    import_onnx(proto, "decode", names, store, module, weight_prefix="model.")
    return module, store
