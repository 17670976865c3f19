"""torch.compile(model, backend="pimc"): Dynamo's graphs run through pimc and numba-cpu, equal to
eager PyTorch; what pimc cannot run falls back to eager with a warning that says why."""
from __future__ import annotations

import warnings

import pytest
import torch

from pimc.errors import PimcError
from pimc.frontend import zoo
from pimc.torch_backend import PimcFallbackWarning, pimc_backend


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def recording(options=None):
    """pimc's own Dynamo backend, keeping the compiled graphs so a test can look inside."""
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(pimc_backend(gm, example_inputs, options=options))
        return graphs[-1]
    return backend, graphs


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.up, self.down = torch.nn.Linear(16, 32), torch.nn.Linear(32, 8)

    def forward(self, x):
        return self.down(torch.nn.functional.silu(self.up(x)))


class WithCumprod(Mlp):
    def forward(self, x):
        return torch.cumprod(self.down(self.up(x)), dim=-1) * 2


class WithGraphBreak(Mlp):
    def forward(self, x):
        h = torch.relu(self.up(x))
        torch._dynamo.graph_break()
        return torch.cumprod(self.down(h), dim=-1)


def test_pimc_is_a_registered_dynamo_backend():
    from torch._dynamo.backends.registry import lookup_backend
    assert "pimc" in torch._dynamo.list_backends()
    assert lookup_backend("pimc") is pimc_backend


@pytest.mark.parametrize("name", ["llama-tiny", "gpt2-tiny"])
def test_zoo_model_forward_equals_eager(name):
    model = zoo.get(name).build()
    ids = torch.randint(0, model.config.vocab_size, (2, 7), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        eager = model(ids)
        compiled = torch.compile(model, backend="pimc")
        with warnings.catch_warnings():
            warnings.simplefilter("error", PimcFallbackWarning)  # every graph ran in pimc
            out = compiled(ids)
    torch.testing.assert_close(out.logits, eager.logits, atol=1e-4, rtol=0)
    for got, want in zip(out.past_key_values.layers, eager.past_key_values.layers):
        torch.testing.assert_close(got.keys, want.keys, atol=1e-4, rtol=0)
        torch.testing.assert_close(got.values, want.values, atol=1e-4, rtol=0)


def test_options_choose_target_and_pipeline():
    model, x = Mlp().eval(), torch.randn(4, 16)
    backend, graphs = recording({"target": "neupims", "pipeline": "canonicalize,dce"})
    with torch.no_grad():
        out = torch.compile(model, backend=backend)(x)
        torch.testing.assert_close(out, model(x), atol=1e-5, rtol=0)
    [program] = graphs[0].programs
    assert program.ir.attributes["pimc.target"].value == "neupims"
    assert program.pipeline == "canonicalize,dce"
    # parameters become weights under the model's own names, numbers copied from the model
    assert len(program.weights) == 4 and "up.weight" in program.weights
    assert (program.weights["down.bias"] == model.down.bias.detach().numpy()).all()
    # canonicalize,dce raises nothing: the linears stay matmul + add, silu stays x * sigmoid(x)
    assert program.op_histogram() == {"llm.weight": 4, "llm.transpose": 2, "llm.matmul": 2,
                                      "llm.add": 2, "llm.sigmoid": 1, "llm.mul": 1}
    devices = {op.attributes["device"].device for op in program.ir.walk()
               if op.name == "llm.matmul"}
    assert devices and devices <= {"npu", "pim", "logic_pim"}  # placed for neupims


def test_options_reach_the_backend_through_torch_compile():
    model, x = Mlp().eval(), torch.randn(4, 16)
    with torch.no_grad(), pytest.raises(Exception, match="unknown option.*targte.*valid: target"):
        torch.compile(model, backend="pimc", options={"targte": "neupims"})(x)


def test_a_backend_that_does_not_execute_is_refused():
    with pytest.raises(PimcError, match="backend 'null' does not execute code; backends that do: "
                                        ".*numba-cpu"):
        pimc_backend(None, [], options={"backend": "null"})


def test_unsupported_op_runs_eagerly_with_a_warning_naming_it():
    model, x = WithCumprod().eval(), torch.randn(4, 16)
    backend, graphs = recording()
    with torch.no_grad():
        with pytest.warns(PimcFallbackWarning, match=r"no rule for aten\.cumprod\.default"):
            out = torch.compile(model, backend=backend)(x)
        torch.testing.assert_close(out, model(x), atol=0, rtol=0)
    assert graphs[0].programs == []


def test_graph_break_compiles_one_side_and_falls_back_on_the_other():
    model, x = WithGraphBreak().eval(), torch.randn(4, 16)
    backend, graphs = recording()
    with torch.no_grad():
        with pytest.warns(PimcFallbackWarning, match=r"aten\.cumprod") as caught:
            out = torch.compile(model, backend=backend)(x)
        want = torch.cumprod(model.down(torch.relu(model.up(x))), dim=-1)
    torch.testing.assert_close(out, want, atol=1e-5, rtol=0)
    assert len(graphs) == 2 and [len(g.programs) for g in graphs] == [1, 0]
    assert len([w for w in caught if w.category is PimcFallbackWarning]) == 1


def test_recording_autograd_runs_eagerly_and_keeps_gradients():
    model, x = Mlp(), torch.randn(4, 16)
    backend, graphs = recording()
    with pytest.warns(PimcFallbackWarning, match="autograd is recording"):
        out = torch.compile(model, backend=backend)(x)
    out.sum().backward()
    assert model.up.weight.grad is not None and graphs[0].programs == []


def test_weights_changed_in_place_are_seen_on_the_next_call():
    model, x = Mlp().eval(), torch.randn(4, 16)
    backend, graphs = recording()
    compiled = torch.compile(model, backend=backend)
    with torch.no_grad():
        compiled(x)
        model.down.weight.mul_(-2.0)  # an in-place update, as an optimizer step makes
        out = compiled(x)
        want = model(x)
    torch.testing.assert_close(out, want, atol=1e-5, rtol=0)
    assert len(graphs[0].programs) == 1  # recompiled in place of the stale one


def test_a_dim_dynamo_makes_dynamic_compiles_once_per_shape():
    """After a new batch size Dynamo passes the size as an int input; pimc fixes it per call
    signature and keeps one program per shape."""
    model = Mlp().eval()
    backend, graphs = recording()
    compiled = torch.compile(model, backend=backend)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error", PimcFallbackWarning)
        for rows in (4, 5, 6, 5):
            x = torch.randn(rows, 16)
            torch.testing.assert_close(compiled(x), model(x), atol=1e-5, rtol=0)
    assert [len(g.programs) for g in graphs] == [1, 2]  # static 4; dynamic graph: 5 and 6
