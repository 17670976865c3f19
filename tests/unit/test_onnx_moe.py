"""HF's eager expert loop (per-expert NonZero, gather, gated MLP, scatter-add), as optimum
exports Qwen3-MoE, raised to one RoutedExperts node and imported as llm.moe.

The numerical check against onnxruntime for the whole model is test_onnx_exporters'
`optimum/qwen3_moe` case; here: what the rewrite finds (checked against the HF config the
fixture was made from), and the one-line refusals for loops that are not llm.moe.
"""
from pathlib import Path

import numpy as np
import onnx
import pytest
import transformers
from onnx import helper, numpy_helper

from pimc.frontend.onnx import UnsupportedOnnxOp, import_onnx
from pimc.frontend.onnx_moe import DOMAIN, OP, raise_routed_experts

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "onnx" / "optimum" / "qwen3_moe.onnx"
EXPERTS, TOP_K, HIDDEN, FFN = 4, 2, 32, 32  # make_fixtures.py's Qwen3MoeConfig overrides


def _model() -> onnx.ModelProto:
    return onnx.load(FIXTURE)


def test_each_layers_loop_becomes_one_routed_experts_node():
    before = _model()
    after = raise_routed_experts(before, str(FIXTURE))
    ops = [n.op_type for n in after.graph.node]
    assert "NonZero" not in ops and "ScatterElements" not in ops and "OneHot" not in ops
    nodes = [n for n in after.graph.node if n.domain == DOMAIN]
    assert [n.op_type for n in nodes] == [OP, OP]  # one per decoder layer
    inits = {t.name: numpy_helper.to_array(t) for t in after.graph.initializer}
    normalize = transformers.Qwen3MoeConfig().norm_topk_prob
    for layer, node in enumerate(nodes):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        assert attrs == {"top_k": TOP_K, "normalize": int(normalize)}
        assert node.input[0] == f"/model/layers.{layer}/mlp/Reshape_output_0"
        shapes = [inits[name].shape for name in node.input[1:]]
        assert shapes == [(EXPERTS, HIDDEN), (EXPERTS, FFN, HIDDEN), (EXPERTS, FFN, HIDDEN),
                          (EXPERTS, HIDDEN, FFN)]
    # the stacked experts are the loop's own weights: expert 1's up projection, transposed
    up = next(n for n in before.graph.node
              if n.name == "/model/layers.0/mlp/experts.1/up_proj/MatMul")
    want = numpy_helper.to_array(next(t for t in before.graph.initializer if t.name == up.input[1]))
    np.testing.assert_array_equal(inits[nodes[0].input[3]][1], want.T)


def test_imported_as_llm_moe_in_every_step():
    module, _ = import_onnx(FIXTURE)
    per_func = {f.sym_name: [op.name for op in f.walk()].count("llm.moe") for f in module.funcs}
    assert per_func == {"main": 2, "prefill": 2, "decode": 2}


def _edited(edit) -> onnx.ModelProto:
    model = _model()
    edit(model.graph)
    return model


def _expert_node(graph, name: str) -> onnx.NodeProto:
    return next(n for n in graph.node if n.name == f"/model/layers.0/mlp/experts.2/{name}")


def test_a_loop_whose_experts_are_not_silu_gated_is_refused_naming_the_nonzero():
    def tanh_gate(graph):
        _expert_node(graph, "act_fn/Sigmoid").op_type = "Tanh"
    with pytest.raises(UnsupportedOnnxOp, match=r"'NonZero' at node '/model/layers\.0/mlp/"
                       r"NonZero': .* expert bodies are not one gated MLP per expert of 4"):
        import_onnx(_edited(tanh_gate))


def test_a_loop_that_computes_something_else_is_refused_by_evaluation():
    def doubled_expert(graph):  # expert 2's output scaled by 2 before it is weighted
        down = _expert_node(graph, "down_proj/MatMul")
        graph.initializer.append(numpy_helper.from_array(np.float32(2.0), "two"))
        doubled = helper.make_node("Mul", [down.output[0], "two"], ["doubled"], name="double")
        for n in graph.node:
            n.input[:] = ["doubled" if i == down.output[0] else i for i in n.input]
        graph.node.insert(list(graph.node).index(down) + 1, doubled)
    with pytest.raises(UnsupportedOnnxOp, match=r"'NonZero' at node '/model/layers\.0/mlp/"
                       r"NonZero': .* does not compute llm\.moe on onnxruntime"):
        import_onnx(_edited(doubled_expert))
