"""The torch.export rules for mask, position and index arithmetic (pimc/frontend/aten_mask_ops.py)
against PyTorch, and the one-line errors for the forms they refuse."""
import numpy as np
import pytest
import torch

from pimc.frontend.fx_import import UnsupportedOp
from pimc.frontend.torch_export import export
from pimc.runtime.interpreter import run


class Masks(torch.nn.Module):
    """A causal + padding mask as HF's eager mask builds it, ALiBi-style positions, and GPT-J's
    position lookup by repeat + gather."""

    def __init__(self):
        super().__init__()
        self.register_buffer("table", torch.randn(16, 4))

    def forward(self, x, pad):  # x [B, T, 4], pad [B, T] of 0/1
        t = x.shape[1]
        keys, queries = torch.arange(t)[None, :], torch.arange(t)[:, None]
        allowed = (keys <= queries)[None, None] & pad.bool()[torch.arange(x.shape[0])[:, None, None,
                                                                                         None], keys[None, None]]
        bias = torch.where(allowed, torch.tensor(0.0), torch.tensor(-1e9))
        slopes = torch.pow(torch.full((), 0.5), torch.arange(1, 3, dtype=torch.int32))
        positions = (pad.cumsum(-1) - 1) * pad
        rows = self.table.repeat(x.shape[0], 1, 1)
        picked = torch.gather(rows, 1, positions[:, :, None].repeat(1, 1, 4))
        return bias, slopes[:, None] * positions[:, None, :], picked + x, ~allowed


def test_mask_arithmetic_matches_pytorch():
    x, pad = torch.randn(2, 5, 4), torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]])
    model = Masks()
    module, store = export(model, (x, pad))
    got = run(module, "forward", [x.numpy(), pad.numpy()], store)
    for g, w in zip(got, model(x, pad)):  # pow runs as exp(x ln base): equal to rounding
        np.testing.assert_allclose(g.astype(np.float64), w.numpy().astype(np.float64), rtol=1e-6)


class IntAnd(torch.nn.Module):
    def forward(self, x):
        return x & (x + 1)


class IntNot(torch.nn.Module):
    def forward(self, x):
        return ~x


class ComputedBase(torch.nn.Module):
    def forward(self, x):
        return torch.pow(x, x)


class DiagonalIndex(torch.nn.Module):
    def forward(self, x, i):  # both indices vary along the same axis: x[i, i] is a diagonal
        return x[i, i]


@pytest.mark.parametrize("model, inputs, message", [
    (IntAnd(), (torch.arange(4),), r"node bitwise_and: aten.bitwise_and.Tensor on integers; "
                                   r"pimc supports it on booleans only"),
    (IntNot(), (torch.arange(4),), r"node bitwise_not: aten.bitwise_not.default on i64; pimc "
                                   r"supports it on booleans only"),
    (ComputedBase(), (torch.rand(4),), r"node pow_?\d*: aten.pow.Tensor_Tensor with base x; pimc "
                                       r"supports a positive constant base"),
    (DiagonalIndex(), (torch.randn(4, 4), torch.tensor([0, 2])),
     r"aten.index.Tensor at node index: 2 index tensors that do not index leading axes as an "
     r"outer product"),
])
def test_refused_forms_name_the_node_and_what_is_supported(model, inputs, message):
    with pytest.raises(UnsupportedOp, match=message) as err:
        export(model, inputs)
    assert "\n" not in err.value.message


class RepeatBySymbol(torch.nn.Module):
    def forward(self, x, y):
        return x.repeat(y.shape[0], 1)


def test_repeat_by_a_symbolic_count_is_refused_on_a_real_axis():
    from torch.export import Dim
    with pytest.raises(UnsupportedOp, match=r"node repeat: aten.repeat of an axis of size 2 by the "
                                            r"symbolic count N; pimc repeats those by constant "
                                            r"counts only"):
        export(RepeatBySymbol(), (torch.randn(2, 4), torch.randn(3)),
               dynamic_shapes={"x": None, "y": {0: Dim.DYNAMIC}}, dim_names={"y": {0: "N"}})
