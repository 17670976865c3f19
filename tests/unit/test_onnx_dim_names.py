"""Dims an ONNX file names its own way: the importer gives each the role its input shows
(input_ids [batch, new tokens], a past [batch, heads, past length, head], attention_mask
[batch, past + new]) as pimc's B, T and S, so placement can size the program; a dim with no
known role fails placement with one line naming it and how to bind it. The graphs are made by
torch.onnx.export from tiny modules with dynamic dims named N, L, M and P, and the compiled
program must equal onnxruntime on them.
"""
import io

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import pimc
from pimc.passes.place_devices import UnboundDimError

VOCAB, HIDDEN = 32, 8


class CachedStep(torch.nn.Module):
    """One attention step over a KV cache: keys and values appended to the past, a padding
    mask over past + new keys."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, HIDDEN)
        self.kv = torch.nn.Linear(HIDDEN, 2 * HIDDEN)
        self.head = torch.nn.Linear(HIDDEN, VOCAB)

    def forward(self, input_ids, attention_mask, past_key, past_value):
        x = self.embed(input_ids)
        k, v = self.kv(x).unsqueeze(1).chunk(2, dim=-1)
        keys, values = torch.cat([past_key, k], 2), torch.cat([past_value, v], 2)
        scores = x.unsqueeze(1) @ keys.transpose(-1, -2)
        scores = scores + (1 - attention_mask[:, None, None, :].float()) * -1e9
        return self.head((scores.softmax(-1) @ values).squeeze(1)), keys, values


def _export(model, args, names: dict) -> onnx.ModelProto:
    f = io.BytesIO()
    torch.onnx.export(model, args, f, input_names=list(names)[:len(args)],
                      output_names=list(names)[len(args):], dynamic_axes=names, dynamo=False,
                      opset_version=17)
    return onnx.load_from_string(f.getvalue())


def _cached_graph() -> onnx.ModelProto:
    torch.manual_seed(0)
    past = torch.zeros(2, 1, 3, HIDDEN)
    args = (torch.zeros(2, 2, dtype=torch.long), torch.ones(2, 5, dtype=torch.long), past, past)
    names = {"input_ids": {0: "N", 1: "L"}, "attention_mask": {0: "N", 1: "M"},
             "past_key_values.0.key": {0: "N", 2: "P"},
             "past_key_values.0.value": {0: "N", 2: "P"}, "logits": {0: "N", 1: "L"},
             "present.0.key": {0: "N", 2: "M"}, "present.0.value": {0: "N", 2: "M"}}
    return _export(CachedStep().eval(), args, names)


def test_roles_become_pimc_dims_and_the_program_places():
    graph = _cached_graph()
    prog = pimc.compile(graph, backend="numba-cpu")  # placed for the default target
    types = [str(a.type) for a in prog.ir.func("main").args]
    assert types == ["tensor<BxTxi64>", "tensor<Bx(S+T)xi64>", "tensor<Bx1xSx8xf32>",
                     "tensor<Bx1xSx8xf32>"]
    rng = np.random.default_rng(0)
    mask = np.ones((2, 7), np.int64)
    mask[1, :2] = 0
    inputs = [rng.integers(0, VOCAB, (2, 3)), mask,
              *rng.standard_normal((2, 2, 1, 4, HIDDEN)).astype(np.float32)]
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    want = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})
    for got, ref in zip(prog(*inputs), want):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_a_dim_without_a_role_fails_placement_in_one_line():
    model = torch.nn.Sequential(torch.nn.Embedding(VOCAB, HIDDEN), torch.nn.Linear(HIDDEN, 4))
    graph = _export(model.eval(), (torch.zeros(2, 3, dtype=torch.long),),
                    {"tokens": {0: "N", 1: "L"}, "out": {0: "N", 1: "L"}})
    with pytest.raises(UnboundDimError) as err:
        pimc.compile(graph, backend="numba-cpu")
    message = str(err.value)
    assert "input %tokens axis 0 has dim N" in message and "dim_names" in message
    assert "\n" not in message
    assert pimc.compile(graph, target=None, backend="numba-cpu") is not None
