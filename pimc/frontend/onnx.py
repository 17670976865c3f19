"""The ONNX frontend: an .onnx file or ModelProto (opsets 17-20, as `torch.onnx.export(...,
dynamo=True)` writes them) -> a pimc `func.func` plus a weights store; and HF capture via ONNX.

The model must pass `onnx.checker.check_model(full_check=True)`. The caller names the dynamic
input axes (`{"input_ids": {0: "B", 1: "T"}}`), as with the torch.export frontend; weights keep
their initializer names, which are the HF parameter names when the model was exported with
`optimize=False`. The importer is `onnx_import.py`, its rule table `onnx_ops.py`, compile-time
values (shape arithmetic, shape-only tensors such as causal masks) `onnx_values.py`, and the HF
export `onnx_capture.py`.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

import onnx

from pimc.frontend.onnx_import import OnnxError, OnnxImporter, UnsupportedOnnxOp
from pimc.ir import ModuleOp
from pimc.ir.attrs import StrAttr
from pimc.ir.weights import WeightsStore

__all__ = ["OnnxError", "UnsupportedOnnxOp", "capture_hf", "import_onnx", "load"]

# 14-18: optimum (TorchScript exporter) and torch.onnx dynamo; 21: onnxruntime-genai
OPSETS = range(14, 22)


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
                            f"{_one_line(e)})") from None
    from pimc.frontend import onnx_contrib  # noqa: F401  schemas of onnxruntime's contrib ops
    hints = list(model.graph.value_info)  # pimc computes shapes itself; the genai builder's
    del model.graph.value_info[:]  # hints contradict its own Constants, so they go unchecked
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # ValidationError and shape-inference errors
        raise OnnxError(f"{name}: onnx.checker rejects the model: {_one_line(e)}") from None
    finally:
        model.graph.value_info.extend(hints)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset not in OPSETS:
        raise OnnxError(f"{name}: opset {opset} is not supported; the ONNX frontend reads "
                        f"opsets {OPSETS.start}-{OPSETS.stop - 1} (re-export with "
                        "opset_version=18)")
    if model.functions:
        model = onnx.inliner.inline_local_functions(model)
    return model, name


def _one_line(e: Exception, limit: int = 300) -> str:
    """The message on one line (onnx's span several), cut to `limit` characters."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def import_onnx(model: str | Path | onnx.ModelProto, func_name: str = "main",
                dim_names: Mapping[str, Mapping[int, str]] | None = None,
                store: WeightsStore | None = None, module: ModuleOp | None = None,
                weight_prefix: str = "", declared: Collection[str] = ()
                ) -> tuple[ModuleOp, WeightsStore]:
    """Add `@func_name` imported from `model` to `module`.

    `dim_names` names each dynamic input dim (`{"input_ids": {0: "B", 1: "T"}}`); without it,
    input_ids/position_ids/past_keys_i/past_values_i get B, T and S as in pimc's HF capture and
    any other dim_param becomes its own name in upper case ("batch" -> BATCH). `weight_prefix`
    is stripped from weight names and locations; `declared` names graph inputs that stand for
    parameters without data (shape-only capture), which become declared weights.

    Into a new module, the function is the module's entry (`pimc.entry`): `Program(*inputs)`
    runs it with the graph's inputs in the graph's order and returns the graph's outputs in
    order, as onnxruntime's `InferenceSession.run` does. A decoder step graph (optimum's
    text-generation-with-past, onnxruntime-genai's) also gets @prefill and @decode, which
    `Program.generate` runs (onnx_steps.py)."""
    proto, source = load(model)
    from pimc.frontend.onnx_moe import raise_routed_experts
    proto = raise_routed_experts(proto, source)
    store = WeightsStore() if store is None else store
    new = module is None
    if new:
        module = ModuleOp()
        module.attributes["pimc.entry"] = StrAttr(func_name)
    importer = OnnxImporter(proto, source, func_name, dim_names, store, weight_prefix, declared)
    importer.run(module)
    if new:  # a decoder step file: @prefill and @decode too, for Program.generate
        from pimc.frontend.onnx_steps import derive_steps
        derive_steps(proto, source, importer, store, module)
    store.retain({op.attr("handle") for op in module.walk() if op.name == "llm.weight"})
    return module, store


def capture_hf(model, store: WeightsStore | None = None,
               module: ModuleOp | None = None) -> tuple[ModuleOp, WeightsStore]:
    """@prefill and @decode of an HF causal LM through `torch.onnx.export(dynamo=True)`, with
    the arguments, argument order and symbols of the torch.export capture (`hf.capture`)."""
    from pimc.frontend.onnx_capture import capture
    return capture(model, store, module)
