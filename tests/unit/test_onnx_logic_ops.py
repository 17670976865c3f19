"""One ONNX node at a time on runtime tensors (so nothing folds): the comparison, logic,
selection and index ops HF's mask code exports to, on pimc's interpreter and numba-cpu against
onnxruntime; and the one-line errors for ops pimc refuses."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import pimc
from pimc.frontend.onnx import UnsupportedOnnxOp, import_onnx
from pimc.runtime.interpreter import run

F, I, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4)).astype(np.float32)
Y = RNG.standard_normal((1, 4)).astype(np.float32)
N = RNG.integers(0, 3, (3, 4))
M = RNG.integers(1, 4, (3, 4))
P = X > 0
Q = RNG.standard_normal((3, 4)) > 0


def _c(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


# case -> (node, inputs {name: array}, initializers, output element type)
CASES = {
    **{op: (helper.make_node(op, ["x", "y"], ["out"]), {"x": X, "y": Y}, [], B)
       for op in ("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual")},
    **{op: (helper.make_node(op, ["p", "q"], ["out"]), {"p": P, "q": Q}, [], B)
       for op in ("And", "Or", "Xor")},
    "Not": (helper.make_node("Not", ["p"], ["out"]), {"p": P}, [], B),
    "IsNaN": (helper.make_node("IsNaN", ["x"], ["out"]),
              {"x": np.where(P, np.nan, X).astype(np.float32)}, [], B),
    **{f"IsInf-{name}": (helper.make_node("IsInf", ["x"], ["out"], **attrs),
                         {"x": np.where(P, np.inf, np.where(Q, -np.inf, X)).astype(np.float32)}, [], B)
       for name, attrs in (("both", {}), ("positive", {"detect_negative": 0}),
                           ("negative", {"detect_positive": 0}))},
    "Where": (helper.make_node("Where", ["p", "x", "y"], ["out"]), {"p": P, "x": X, "y": Y}, [], F),
    "Erf": (helper.make_node("Erf", ["x"], ["out"]), {"x": X}, [], F),
    "Mod": (helper.make_node("Mod", ["n", "m"], ["out"]), {"n": N - 1, "m": M}, [], I),
    "CumSum": (helper.make_node("CumSum", ["n", "axis"], ["out"]), {"n": N},
               [_c("axis", np.int64(1))], I),
    "CumSum-exclusive-reverse": (
        helper.make_node("CumSum", ["x", "axis"], ["out"], exclusive=1, reverse=1), {"x": X},
        [_c("axis", np.int64(0))], F),
    "Trilu-upper": (helper.make_node("Trilu", ["x", "k"], ["out"]), {"x": X},
                    [_c("k", np.int64(1))], F),
    "Trilu-lower": (helper.make_node("Trilu", ["x"], ["out"], upper=0), {"x": X}, [], F),
    "ScatterND": (helper.make_node("ScatterND", ["x", "idx", "y"], ["out"]),
                  {"x": X, "y": Y}, [_c("idx", np.array([[2]], np.int64))], F),
    "GatherND": (helper.make_node("GatherND", ["x", "idx"], ["out"]), {"x": X},
                 [_c("idx", np.array([[[0, 1], [2, 3]]], np.int64))], F),
    "OneHot": (helper.make_node("OneHot", ["n", "depth", "values"], ["out"], axis=1), {"n": N},
               [_c("depth", np.int64(3)), _c("values", np.array([-1.0, 2.0], np.float32))], F),
}


def _model(node, inputs: dict, inits: list, out_elem: int):
    infos = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
             for n, a in inputs.items()]
    graph = helper.make_graph([node], "g", infos,
                              [helper.make_tensor_value_info("out", out_elem, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    return onnx.shape_inference.infer_shapes(model)  # the output's shape, as exporters declare it


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_equals_onnxruntime(case):
    node, inputs, inits, elem = CASES[case]
    model = _model(node, inputs, inits, elem)
    (want,) = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"]).run(None, inputs)
    module, store = import_onnx(model)
    (got,) = run(module, "main", list(inputs.values()), store)
    (compiled,) = pimc.compile(model, target=None, backend="numba-cpu")(*inputs.values())
    for result in (got, compiled):
        assert result.shape == want.shape
        np.testing.assert_allclose(np.asarray(result, np.float64), want, atol=1e-6)


def test_unsupported_op_names_the_node():
    node = helper.make_node("Hardmax", ["x"], ["out"], name="my_hardmax")
    with pytest.raises(UnsupportedOnnxOp) as err:
        import_onnx(_model(node, {"x": X}, [], F))
    message = str(err.value)
    assert "unsupported ONNX op 'Hardmax' at node 'my_hardmax'" in message
    assert "Where" in message and "\n" not in message  # the ops it does support


def test_nonzero_says_why():
    node = helper.make_node("NonZero", ["x"], ["out"], name="route")
    with pytest.raises(UnsupportedOnnxOp, match="NonZero at node 'route'.*depends on the "
                                                "tensor's values"):
        import_onnx(_model(node, {"x": X}, [], I))
