"""@prefill and @decode derived from an imported ONNX decoder, so `Program.generate` runs it.

optimum's `text-generation-with-past` and onnxruntime-genai's builder write one graph for both
steps: `past_key_values.N.key/value` in (empty for the prompt), `present.N.key/value` out.
`runtime/generate.py` calls two functions instead, in pimc's capture convention:

    @prefill(input_ids, position_ids[, attention_mask]) -> (logits, *state)
    @decode(input_ids [B, 1], position_ids [B, 1][, attention_mask], *state) -> (logits, *state)

where the state is the presents, in the order of the graph's past inputs. Each step is the graph
imported once more with one dim fixed: the past length to 0 (@prefill, whose past inputs become
empty constants) or the new-token count to 1 (@decode). Importing again rather than cloning
@main's IR lets every compile-time computation (shape arithmetic, the masks raise-masks reads)
fold with the fixed dim, as it would for a graph exported with it. The roles are read from
@main's types (the new-token dim is input_ids' axis 1, the past length a past input's axis 2),
whatever the file names them, and the steps reuse @main's dim bindings, so dims the graph ties
only inside (genai's `kv_cache_dim`, `total_sequence_length`) come out as in @main.

A graph without position_ids (gemma's, gpt2's) still gets that argument, unused, as generate
passes it; one without attention_mask gets none, so generate runs ragged prompts one length
at a time. So does a graph with GroupQueryAttention (genai's): onnxruntime's kernel reads the
mask as right padding (a row's keys are 0..seqlens_k, its new keys written at its own length),
not the left padding generate batches with, so its steps take no mask and fill the graph's
with ones. A graph with other inputs, or without a present for each past, gets no steps.
"""
from __future__ import annotations

import onnx
import sympy

from pimc.frontend.onnx_import import OnnxImporter, _arg_name
from pimc.ir import Builder, FuncOp, ModuleOp, TensorType
from pimc.ir.dialects.builtin import ReturnOp
from pimc.ir.symbolic import Dim
from pimc.ir.types import i64
from pimc.ir.weights import WeightsStore

STEP_INPUTS = ("input_ids", "position_ids", "attention_mask")
PAST, PRESENT = "past_key_values", "present"


def state_names(graph: onnx.GraphProto) -> list[str] | None:
    """The past inputs, in the graph's order, when the graph is a decoder step generate can
    drive: input_ids, optional positions and mask, a present output for each past, logits
    first; else None."""
    inputs = [i.name for i in graph.input]
    outputs = [o.name for o in graph.output]
    pasts = [n for n in inputs if n.startswith(PAST)]
    if "input_ids" not in inputs or not pasts or not outputs or outputs[0] != "logits" or \
            any(n not in STEP_INPUTS and n not in pasts for n in inputs) or \
            any(p.replace(PAST, PRESENT, 1) not in outputs for p in pasts):
        return None
    return pasts


def derive_steps(model: onnx.ModelProto, source: str, main: OnnxImporter, store: WeightsStore,
                 module: ModuleOp) -> None:
    """Add @prefill and @decode to `module`, beside @main that `main` imported, if the graph is
    a decoder step (`state_names`)."""
    pasts = state_names(model.graph)
    if pasts is None:
        return
    args = {a.name_hint: a.type for a in module.func(main.func_name).args}
    new, past = args["input_ids"].shape[1], args[_arg_name(pasts[0])].shape[2]
    for step, fixed in (("prefill", {past: 0}), ("decode", {new: 1})):
        symbols = {k: _fix(v, fixed) for k, v in main.symbols.items()}
        StepImporter(model, source, step, symbols, store, pasts).run(module)


def _fix(d: Dim, fixed: dict) -> sympy.Expr:
    return sympy.sympify(d).xreplace({k: sympy.Integer(v) for k, v in fixed.items()
                                      if isinstance(k, sympy.Symbol)})


class StepImporter(OnnxImporter):
    """The graph as @prefill or @decode: `symbols` are @main's bindings with one dim fixed."""

    def __init__(self, model: onnx.ModelProto, source: str, step: str,
                 symbols: dict[sympy.Symbol, sympy.Expr], store: WeightsStore, pasts: list[str]):
        super().__init__(model, source, step, None, store)
        self.fixed, self.pasts = symbols, pasts

    def bind_symbols(self, inputs: list[onnx.ValueInfoProto]) -> None:
        self.symbols = dict(self.fixed)

    def arguments(self, module: ModuleOp, inputs: list[onnx.ValueInfoProto]) -> FuncOp:
        by_name = {i.name: i for i in inputs}
        ids = self.value_type(by_name["input_ids"], "input 'input_ids'")
        right_padded = any(n.op_type == "GroupQueryAttention" for n in self.graph.node)
        names = [n for n in STEP_INPUTS if n in by_name and not (
            right_padded and n == "attention_mask") or n == "position_ids"]
        names += self.pasts if self.func_name == "decode" else []
        types = [self.value_type(by_name[n], f"input '{n}'") if n in by_name
                 else TensorType(ids.shape, i64) for n in names]
        func = FuncOp.create(self.func_name, types, [], [_arg_name(n) for n in names])
        module.body.append(func)
        self.b = Builder.at_end(func.body)
        self.env.update({n: arg for n, arg in zip(names, func.args) if n in by_name})
        for n in self.pasts if self.func_name == "prefill" else ():  # an empty past
            t = self.value_type(by_name[n], f"input '{n}'")
            self.env[n] = self.b.op("llm.constant", result_type=t, value=0.0)
        if right_padded and "attention_mask" in by_name:
            t = self.value_type(by_name["attention_mask"], "input 'attention_mask'")
            self.env["attention_mask"] = self.b.op("llm.constant", result_type=t, value=1.0)
        return func

    def run(self, module: ModuleOp) -> FuncOp:
        func = super().run(module)
        ret = list(func.body.ops)[-1]
        outputs = dict(zip((o.name for o in self.graph.output), ret.operands))
        state = [outputs[p.replace(PAST, PRESENT, 1)] for p in self.pasts]
        ret.erase()
        self.b.insert(ReturnOp([outputs["logits"], *state]))
        func.update_type()
        return func
