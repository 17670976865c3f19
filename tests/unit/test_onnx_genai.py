"""onnxruntime-genai builder outputs (tests/fixtures/onnx/genai, made by the real builder from
tiny random-weight HF configs) imported by pimc and run against onnxruntime on the same file.

For every fixture, fp32 and int4 alike: a prefill (empty past, batch 2, 5 tokens) and a decode
step from the prefill's presents, on the reference interpreter and on numba-cpu, equal
onnxruntime's logits and present KV within 1e-4; the program takes the graph's inputs and
returns its outputs in the graph's order. The contrib ops' one-line errors are tested on a
builder graph with one attribute or input changed. RotaryEmbedding, which no CPU build emits,
is tested op by op on one-node graphs against onnxruntime's kernel.
"""
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import pimc
from pimc.frontend.onnx import UnsupportedOnnxOp, import_onnx
from pimc.frontend.onnx_contrib import dequantize
from pimc.ir import verify
from pimc.runtime.interpreter import run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "onnx" / "genai"
FAMILIES = sorted(p.parent.name for p in FIXTURES.glob("*/model.onnx"))
TOLERANCE = 1e-4
BATCH, PROMPT = 2, 5


def _session(model) -> ort.InferenceSession:
    source = model if isinstance(model, str) else model.SerializeToString()
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module", params=FAMILIES)
def imported(request):
    path = str(FIXTURES / request.param / "model.onnx")
    module, store = import_onnx(path)
    return request.param, path, module, store, _session(path)


def _prefill_inputs(session, func, mask=None) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    inputs = []
    for graph_input, arg in zip(session.get_inputs(), func.args):
        if graph_input.name == "input_ids":
            inputs.append(rng.integers(0, 256, (BATCH, PROMPT)).astype(np.int64))
        elif graph_input.name == "attention_mask":
            inputs.append(np.ones((BATCH, PROMPT), np.int64) if mask is None else mask)
        else:  # an empty past: [batch, kv_heads, 0, head]
            _, heads, _, head = arg.type.shape
            inputs.append(np.zeros((BATCH, heads, 0, head), np.float32))
    return inputs


def _decode_inputs(session, presents: list[np.ndarray]) -> list[np.ndarray]:
    outputs = [o.name for o in session.get_outputs()]
    inputs = []
    for graph_input in session.get_inputs():
        if graph_input.name == "input_ids":
            inputs.append(np.array([[7], [11]], np.int64))
        elif graph_input.name == "attention_mask":
            inputs.append(np.ones((BATCH, PROMPT + 1), np.int64))
        else:
            present = graph_input.name.replace("past_key_values", "present")
            inputs.append(presents[outputs.index(present)])
    return inputs


def _ort(session, inputs):
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})


def _max_error(ours, theirs) -> float:
    assert [a.shape for a in ours] == [b.shape for b in theirs]
    return max(float(np.max(np.abs(a - b))) for a, b in zip(ours, theirs))


def test_signature_mirrors_the_file(imported):
    family, _, module, _, session = imported
    verify(module)
    func = module.func(module.attributes["pimc.entry"].value)
    assert [a.name_hint for a in func.args] == [i.name.replace(".", "_")
                                               for i in session.get_inputs()]
    assert len(func.function_type.results) == len(session.get_outputs())
    attention = [op for op in func.body.ops if op.name == "llm.attention"]
    assert len(attention) == 2 and all(op.attr("causal") for op in attention)
    windows = [op.attr("window") for op in attention]
    assert windows == {"mistral": [2, 2], "gemma2": [None, 4]}.get(family, [None, None])
    assert {op.attr("softcap") for op in attention} == ({50.0} if family == "gemma2" else {None})


def test_interpreter_equals_onnxruntime(imported):
    _, _, module, store, session = imported
    func = module.func("main")
    prefill = _prefill_inputs(session, func)
    theirs = _ort(session, prefill)
    assert _max_error(run(module, "main", prefill, store), theirs) < TOLERANCE
    decode = _decode_inputs(session, theirs)
    assert _max_error(run(module, "main", decode, store), _ort(session, decode)) < TOLERANCE


def test_numba_cpu_equals_onnxruntime(imported):
    _, path, _, _, session = imported
    prog = pimc.compile(path, backend="numba-cpu")
    prefill = _prefill_inputs(session, prog.ir.func("main"))
    theirs = _ort(session, prefill)
    assert _max_error(prog(*prefill), theirs) < TOLERANCE
    decode = _decode_inputs(session, theirs)
    assert _max_error(prog(*decode), _ort(session, decode)) < TOLERANCE


def test_right_padded_prompt_equals_onnxruntime():
    """Rows of different lengths in one prefill (genai pads on the right): the real tokens'
    logits and every present equal onnxruntime's."""
    path = str(FIXTURES / "llama" / "model.onnx")
    module, store = import_onnx(path)
    session = _session(path)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], np.int64)
    inputs = _prefill_inputs(session, module.func("main"), mask)
    ours, theirs = run(module, "main", inputs, store), _ort(session, inputs)
    for row, length in enumerate(mask.sum(1)):
        assert np.max(np.abs(ours[0][row, :length] - theirs[0][row, :length])) < TOLERANCE
    assert _max_error(ours[1:], theirs[1:]) < TOLERANCE


def test_dequantize_equals_the_int4_file():
    """MatMulNBits' weight as pimc dequantises it times the identity is onnxruntime's output."""
    model = onnx.load(str(FIXTURES / "qwen2-int4" / "model.onnx"))
    node = next(n for n in model.graph.node if n.op_type == "MatMulNBits")
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    k, n = attrs["K"], attrs["N"]
    graph = helper.make_graph(
        [helper.make_node("MatMulNBits", ["a", *node.input[1:]], ["y"], domain="com.microsoft",
                          **attrs)], "dequantize",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [k, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [k, n])],
        [numpy_helper.from_array(inits[name], name) for name in node.input[1:]])
    single = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21),
                                                     helper.make_opsetid("com.microsoft", 1)])
    expected = _session(single).run(None, {"a": np.eye(k, dtype=np.float32)})[0]
    w = dequantize(*(inits[name] for name in node.input[1:4]), bits=attrs["bits"],
                   block=attrs["block_size"], k=k, n=n)
    np.testing.assert_allclose(w, expected, atol=1e-6)


# ---- one-line errors, on a builder graph with one thing changed ----
def _edited(family: str, op_type: str, edit) -> tuple[onnx.ModelProto, str]:
    model = onnx.load(str(FIXTURES / family / "model.onnx"))
    node = next(n for n in model.graph.node if n.op_type == op_type)
    edit(node)
    return model, node.name


def _set(name: str, value):
    def edit(node):
        kept = [a for a in node.attribute if a.name != name]
        del node.attribute[:]
        node.attribute.extend(kept + [helper.make_attribute(name, value)])
    return edit


@pytest.mark.parametrize("family, op_type, edit, message", [
    ("llama", "GroupQueryAttention", _set("smooth_softmax", 1),
     "attribute 'smooth_softmax' = 1 is not supported; pimc supports -1, 0"),
    ("llama", "GroupQueryAttention", _set("k_quant_type", "PER_CHANNEL"),
     "attribute 'k_quant_type' = PER_CHANNEL is not supported; pimc supports NONE"),
    ("llama", "GroupQueryAttention", _set("new_knob", 1),
     "attribute 'new_knob' is unknown to pimc; it knows causal, do_rotary"),
    ("llama", "GroupQueryAttention", lambda node: node.input.__setitem__(9, "input_ids"),
     "input 'position_ids' is not supported; pimc implements query, key, value"),
    ("llama", "SimplifiedLayerNormalization", _set("axis", 1),
     "attribute 'axis' = 1 is not supported; pimc supports -1"),
    ("llama-int4", "MatMulNBits", _set("bits", 3),
     "attribute 'bits' = 3 is not supported; pimc supports 2, 4, 8"),
])
def test_unsupported_contrib_use_is_one_line(family, op_type, edit, message):
    model, node_name = _edited(family, op_type, edit)
    with pytest.raises(UnsupportedOnnxOp) as raised:
        import_onnx(model)
    text = str(raised.value)
    assert "\n" not in text and message in text and f"node '{node_name}'" in text


# ---- RotaryEmbedding, op by op against onnxruntime ----
@pytest.mark.parametrize("rank, interleaved, heads, rotary, offset", [
    (3, 0, 0, 0, False), (3, 1, 0, 0, False), (4, 0, 0, 0, False), (4, 1, 0, 0, True),
    (3, 0, 2, 16, False), (3, 1, 2, 16, True)])
def test_rotary_embedding_equals_onnxruntime(rank, interleaved, heads, rotary, offset):
    rng = np.random.default_rng(1)
    batch, tokens, head, n = 2, 3, 32 if rotary else 16, 2
    half = (rotary or head) // 2
    shape = [batch, tokens, n * head] if rank == 3 else [batch, n, tokens, head]
    x = rng.standard_normal(shape).astype(np.float32)
    positions = (np.array([4], np.int64) if offset
                 else rng.integers(0, 16, (batch, tokens)).astype(np.int64))
    caches = [numpy_helper.from_array(rng.standard_normal((16, half)).astype(np.float32), name)
              for name in ("cos_cache", "sin_cache")]
    attrs = {"interleaved": interleaved}
    if rotary:
        attrs.update(num_heads=heads, rotary_embedding_dim=rotary)
    node = helper.make_node("RotaryEmbedding", ["x", "positions", "cos_cache", "sin_cache"],
                            ["y"], domain="com.microsoft", name="rope", **attrs)
    graph = helper.make_graph(
        [node], "rope", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape),
                         helper.make_tensor_value_info("positions", TensorProto.INT64,
                                                       list(positions.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], caches)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21),
                                                    helper.make_opsetid("com.microsoft", 1)])
    expected = _session(model).run(None, {"x": x, "positions": positions})[0]
    module, store = import_onnx(model)
    got = run(module, "main", [x, positions], store)[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
