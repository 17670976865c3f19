"""The ONNX frontend against PyTorch and onnxruntime, on the tiny zoo models.

Each model is exported once (torch.onnx.export, dynamo=True, opset 18) as @prefill and @decode;
pimc imports those ModelProtos and onnxruntime runs the very same ones. For each model: the
module verifies and round-trips; after the default pipeline it has one llm.attention per layer
and the op histogram, weight handles and attention locations of the torch.export capture; and
the reference interpreter's logits and KV caches equal PyTorch's and onnxruntime's for a
13-token prefill and 8 greedy decode steps.
"""
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import pimc
from pimc.cli import main
from pimc.frontend import zoo
from pimc.frontend import onnx_capture
from pimc.frontend.hf import capture as capture_torch_export
from pimc.frontend.onnx import UnsupportedOnnxOp, import_onnx
from pimc.ir import parse, print_module, verify
from pimc.ir.location import NameLoc
from pimc.passes import PassManager
from pimc.passes.pipelines import build
from pimc.runtime.interpreter import run
from pimc.testing import compare_with_hf

TINY = ["llama-tiny", "qwen2-tiny", "gpt2-tiny", "mixtral-tiny"]
GRAPH_OPS = {"llm.attention", "llm.linear", "llm.matmul", "llm.rmsnorm", "llm.layernorm",
             "llm.rope", "llm.embedding", "llm.moe", "llm.silu", "llm.gelu", "llm.softmax"}


@pytest.fixture(scope="module", params=TINY)
def captured(request):
    entry = zoo.get(request.param)
    model = entry.build()
    exports = onnx_capture.export_hf(model)
    module, store = onnx_capture.import_exports(exports)
    sessions = {f: ort.InferenceSession(proto.SerializeToString(),
                                        providers=["CPUExecutionProvider"])
                for f, (proto, _, _) in exports.items()}
    return entry, model, exports, module, store, sessions


def _raised(module):
    raised = parse(print_module(module))
    PassManager(build("default")).run(raised)
    return raised


def _ort(session, inputs):
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})


def _compare(model, module, store, sessions=None, steps=8):
    """(max |pimc - torch|, max |pimc - onnxruntime|) over prefill and decode steps."""
    runners = {"ort": lambda func, inputs: _ort(sessions[func], inputs)} if sessions else {}
    errors = compare_with_hf(model, module, store, steps=steps, references=runners)
    return errors["torch"], errors.get("ort", 0.0)


def test_verifies_and_round_trips(captured):
    module = captured[3]
    verify(module)
    text = print_module(module)
    assert print_module(parse(text)) == text
    assert [a.name_hint for a in module.func("decode").args][:3] == \
        ["input_ids", "position_ids", "attention_mask"]


def test_same_ops_weights_and_locations_as_torch_export(captured):
    entry, model, _, module, store, _ = captured
    reference, ref_store = capture_torch_export(model)
    raised, reference = _raised(module), _raised(reference)
    for name in ("prefill", "decode"):
        ours, theirs = raised.func(name), reference.func(name)
        assert str(ours.function_type) == str(theirs.function_type)
        hist = Counter(op.name for op in ours.body.ops if op.name in GRAPH_OPS)
        assert hist["llm.attention"] == entry.layers()
        # the graph-level ops only: ONNX spells the padding mask out as comparisons feeding
        # attention's mask operand, where torch.export has one op for it
        assert hist == Counter(op.name for op in theirs.body.ops if op.name in GRAPH_OPS), name
        locs = [[op.loc.name for op in f.body.ops if op.name == "llm.attention"]
                for f in (ours, theirs)]
        assert locs[0] == locs[1] and all(isinstance(op.loc, NameLoc) for op in ours.body.ops
                                          if op.name != "func.return")
    assert set(store.specs) == set(ref_store.specs)


def test_interpreter_matches_pytorch_and_onnxruntime(captured):
    _, model, _, module, store, sessions = captured
    torch_err, ort_err = _compare(model, module, store, sessions)
    assert torch_err < 1e-4 and ort_err < 1e-4, (torch_err, ort_err)


def test_raised_module_matches_pytorch(captured):
    _, model, _, module, store, _ = captured
    torch_err, _ = _compare(model, _raised(module), store, steps=2)
    assert torch_err < 1e-4


def test_zoo_capture_through_onnx(captured, monkeypatch):
    """zoo.capture(frontend="onnx") imports what export_hf gives (stubbed with the fixture's)."""
    entry, _, exports, module, _, _ = captured
    monkeypatch.setattr(onnx_capture, "export_hf", lambda model: exports)
    zoo_module, _ = zoo.capture(entry.name, frontend="onnx")
    assert zoo_module.attributes["pimc.max_seq_len"].value == 128
    assert [print_module(f) for f in zoo_module.funcs] == [print_module(f) for f in module.funcs]


def test_unknown_frontend_lists_the_valid_ones():
    with pytest.raises(pimc.PimcError, match="unknown frontend 'tflite'.*onnx.*torch-export"):
        zoo.capture("llama-tiny", frontend="tflite")


@pytest.mark.parametrize("captured", ["llama-tiny"], indirect=True)
def test_onnx_file_compiles_with_hf_dim_names(captured, tmp_path, capsys):
    """A saved prefill export through `pimc compile`: B and T from the HF input names, the
    module paths as locations, one attention per layer."""
    _, _, exports, _, _, _ = captured
    path, out = tmp_path / "prefill.onnx", tmp_path / "prefill.mlir"
    onnx.save(exports["prefill"][0], path)
    assert main(["compile", str(path), "-o", str(out)]) == 0
    assert "@main: " in capsys.readouterr().err
    fn = pimc.load(out).ir.func("main")
    assert str(fn.function_type).startswith(
        "(tensor<BxTxi64>, tensor<BxTxi64>, tensor<BxTxi64>) -> ")
    attn = [op for op in fn.body.ops if op.name == "llm.attention"]
    assert [op.loc.name for op in attn] == ["model.model.layers.0.self_attn",
                                            "model.model.layers.1.self_attn"]


# ---- causal masks built from shapes (hand-written SDPA graphs) ----------------------------------

def _sdpa_graph(bottom_right: bool) -> onnx.ModelProto:
    """softmax(q k^T / sqrt(8) + mask) v with the mask from Trilu over [T, S]: bottom-right (k =
    S - T, pimc's causal) or top-left (k = 0, PyTorch's is_causal)."""
    c = helper.make_tensor
    nodes = [
        helper.make_node("Shape", ["q"], ["t"], start=2, end=3),
        helper.make_node("Shape", ["k"], ["s"], start=2, end=3),
        helper.make_node("Concat", ["t", "s"], ["ts"], axis=0),
        helper.make_node("Expand", ["one", "ts"], ["ones"]),
        helper.make_node("Sub", ["s", "t"], ["diff"]),
        helper.make_node("Squeeze", ["diff"], ["offset"]),
        helper.make_node("Trilu", ["ones", "offset"] if bottom_right else ["ones"], ["tri"],
                         upper=0),
        helper.make_node("Equal", ["tri", "zero"], ["masked"]),
        helper.make_node("Where", ["masked", "lowest", "zero"], ["mask"]),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["q", "kt"], ["scores"]),
        helper.make_node("Mul", ["scores", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "mask"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
        helper.make_node("MatMul", ["probs", "v"], ["out"], name="pv"),
    ]
    f = TensorProto.FLOAT
    tensor = lambda name, *dims: helper.make_tensor_value_info(name, f, ["B", 2, *dims, 8])
    graph = helper.make_graph(
        nodes, "sdpa", [tensor("q", "T"), tensor("k", "S"), tensor("v", "S")], [tensor("out", "T")],
        [c("one", f, [], [1.0]), c("zero", f, [], [0.0]), c("lowest", f, [], [-3.4e38]),
         c("scale", f, [], [8 ** -0.5])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize("bottom_right", [True, False])
def test_trilu_masks_match_onnxruntime(bottom_right):
    """The bottom-right Trilu mask becomes the causal flag; PyTorch's top-left one (Trilu
    without k over [T, S]) is not pimc's causal once the lengths differ: it imports as ops and
    stays attention's mask operand."""
    model = _sdpa_graph(bottom_right)
    names = {"q": {0: "B", 2: "T"}, "k": {0: "B", 2: "S"}, "v": {0: "B", 2: "S"}}
    module, store = import_onnx(model, "sdpa", names)
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((3, 2, n, 8)).astype(np.float32) for n in (4, 9, 9))
    (want,) = ort.InferenceSession(model.SerializeToString()).run(None, {"q": q, "k": k, "v": v})
    raised = _raised(module)
    (attn,) = [op for op in raised.func("sdpa").body.ops if op.name == "llm.attention"]
    assert attn.attr("causal") == bottom_right and len(attn.operands) == 4 - bottom_right
    assert abs(attn.attr("scale") - 8 ** -0.5) < 1e-7
    for m in (module, raised):
        (got,) = run(m, "sdpa", [q, k, v], store)
        assert np.abs(got - want).max() < 1e-5


def test_opset17_rmsnorm_raises_and_matches_onnxruntime():
    """Opset 17 (ReduceMean's axes an attribute): x * 1/sqrt(mean(x^2) + eps) * w."""
    f = TensorProto.FLOAT
    nodes = [helper.make_node("Pow", ["x", "two"], ["sq"]),
             helper.make_node("ReduceMean", ["sq"], ["mean"], axes=[-1], keepdims=1),
             helper.make_node("Add", ["mean", "eps"], ["var"]),
             helper.make_node("Sqrt", ["var"], ["std"]),
             helper.make_node("Reciprocal", ["std"], ["inv"]),
             helper.make_node("Mul", ["x", "inv"], ["normed"]),
             helper.make_node("Mul", ["normed", "norm.weight"], ["y"])]
    w = np.linspace(0.5, 1.5, 16, dtype=np.float32)
    graph = helper.make_graph(
        nodes, "rms", [helper.make_tensor_value_info("x", f, ["batch", "seq", 16])],
        [helper.make_tensor_value_info("y", f, ["batch", "seq", 16])],
        [helper.make_tensor("two", f, [], [2.0]), helper.make_tensor("eps", f, [], [1e-6]),
         onnx.numpy_helper.from_array(w, "norm.weight")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    module, store = import_onnx(model)
    fn = module.func("main")
    assert str(fn.function_type) == "(tensor<BxSEQx16xf32>) -> tensor<BxSEQx16xf32>"
    x = np.random.default_rng(0).standard_normal((2, 5, 16)).astype(np.float32)
    (want,) = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})
    raised = _raised(module)
    assert [op.name for op in raised.func("main").body.ops] == \
        ["llm.weight", "llm.rmsnorm", "func.return"]
    for m in (module, raised):
        assert np.abs(run(m, "main", [x], store)[0] - want).max() < 1e-5


@pytest.mark.slow
def test_full_size_capture_through_onnx_declares_the_weights():
    """Meta-device parameters travel as declared graph inputs; layers are replicated as for
    torch.export, with the same ops."""
    module, store = zoo.capture("llama2-7b", frontend="onnx")
    reference, ref_store = zoo.capture("llama2-7b")
    assert not store.has_data and store.num_params == ref_store.num_params
    raised, reference = _raised(module), _raised(reference)
    for name in ("prefill", "decode"):
        assert Counter(op.name for op in raised.func(name).body.ops) == \
            Counter(op.name for op in reference.func(name).body.ops)
