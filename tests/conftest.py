"""Fixtures shared by several test files."""
import pytest
import torch


class Cumsum(torch.nn.Module):
    """A linear layer followed by torch.cumsum, an op no pimc frontend has a rule for."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(4, 4)

    def forward(self, x):
        return torch.cumsum(self.proj(x), dim=-1)


@pytest.fixture
def unsupported_module() -> torch.nn.Module:
    return Cumsum()
