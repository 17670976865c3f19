"""The torch.export frontend: nn.Module or ExportedProgram -> pimc IR plus a weights store."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from pimc.errors import PimcError
from pimc.frontend.fx_import import FxImporter
from pimc.ir import ModuleOp
from pimc.ir.weights import WeightsStore


class ExportError(PimcError):
    """torch.export could not trace the model; torch's own message is kept."""


def decompose(ep: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """Core ATen, but with scaled_dot_product_attention and the HF capture's attention
    (hf_attention.py) kept whole: each becomes one llm.attention."""
    from pimc.frontend.hf_attention import OP as HF_ATTENTION
    table = torch.export.default_decompositions()
    table.pop(torch.ops.aten.scaled_dot_product_attention.default, None)
    table.pop(HF_ATTENTION, None)
    return ep.run_decompositions(table)


def import_exported(ep: torch.export.ExportedProgram, func_name: str,
                    dim_names: Mapping[str, Mapping[int, str]], store: WeightsStore,
                    module: ModuleOp, weight_prefix: str = "") -> ModuleOp:
    """Add `@func_name` to `module`; `dim_names` names each dynamic input dim
    (`{"input_ids": {0: "B", 1: "T"}}`), which fixes the IR's symbols."""
    FxImporter(decompose(ep), func_name, dim_names, store, weight_prefix).run(module)
    store.retain(weight_handles(module))
    return module


def weight_handles(module: ModuleOp) -> set[str]:
    return {op.attr("handle") for op in module.walk() if op.name == "llm.weight"}


def export(model: torch.nn.Module, example_inputs: Sequence[torch.Tensor],
           dynamic_shapes=None, func_name: str = "forward",
           dim_names: Mapping[str, Mapping[int, str]] | None = None) -> tuple[ModuleOp, WeightsStore]:
    """Export an nn.Module with torch.export (under no_grad) and import it."""
    store, module = WeightsStore(), ModuleOp()
    import_exported(trace(model, example_inputs, dynamic_shapes), func_name, dim_names or {},
                    store, module)
    return module, store


def trace(model: torch.nn.Module, example_inputs: Sequence[torch.Tensor],
          dynamic_shapes=None) -> torch.export.ExportedProgram:
    """torch.export under no_grad; a failure is an ExportError that keeps torch's message."""
    try:
        with torch.no_grad():
            return torch.export.export(model.eval(), tuple(example_inputs),
                                       dynamic_shapes=dynamic_shapes)
    except Exception as e:  # torch raises many types here; keep its message whole
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(f"torch.export could not trace {type(model).__name__}: "
                          f"{type(e).__name__}: {first}", str(e)) from e
